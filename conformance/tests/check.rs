//! `jingle-ice-conformance check` on stanzas shaped as deployed clients send them, and on broken
//! and hostile ones.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap fixtures too

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use jingle_ice_conformance::check::{MAX_INPUT, check};

fn clients() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(clients().join(name)).unwrap()
}

/// (file, number of candidates, rules of the lenient reading's diagnostics, strict verdict)
const ACCEPTED: &[(&str, usize, &[&str], bool)] = &[
    ("conversations-session-initiate.xml", 0, &[], true),
    // WebRTC stacks use UUIDs (which may start with a digit) as candidate ids.
    (
        "conversations-transport-info.xml",
        1,
        &["xsd.ncname"],
        false,
    ),
    ("conversations-restart.xml", 0, &[], true),
    ("dino-session-accept.xml", 3, &[], true),
    ("gajim-session-initiate.xml", 4, &[], true),
    // jicofo puts <rtcp-mux/> in the transport's namespace, and hex ids.
    (
        "jitsi-session-initiate.xml",
        2,
        &["schema.unknown-child", "xsd.ncname", "xsd.ncname"],
        false,
    ),
    ("ice0-tcp-candidates.xml", 3, &[], true),
    ("bare-transport.xml", 1, &[], true),
];

#[test]
fn accepts_what_deployed_clients_send() {
    let mut seen = 0;
    for (file, candidates, diagnostics, strict) in ACCEPTED {
        let r = check(&read(file));
        assert_eq!(r.code, 0, "{file}: {}", r.text);
        let j = &r.json;
        assert_eq!(
            j["candidates"].as_array().unwrap().len(),
            *candidates,
            "{file}"
        );
        let rules: Vec<&str> = j["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["rule"].as_str().unwrap())
            .collect();
        assert_eq!(&rules, diagnostics, "{file}");
        assert_eq!(
            j["strict"]["accepted"].as_bool().unwrap(),
            *strict,
            "{file}: {}",
            r.text
        );
        assert!(
            j["namespace"]
                .as_str()
                .unwrap()
                .starts_with("urn:xmpp:jingle:transports:ice"),
            "{file}"
        );
        assert!(j["ufrag"].is_string() && j["pwd"].is_string(), "{file}");
        for line in j["candidates"].as_array().unwrap() {
            assert!(line.as_str().unwrap().starts_with("a=candidate:"), "{file}");
        }
        seen += 1;
    }
    let files = std::fs::read_dir(clients())
        .unwrap()
        .filter(|f| {
            f.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|e| e == "xml")
        })
        .count();
    assert_eq!(seen, files, "every client stanza is listed in ACCEPTED");
}

/// (file, element and attribute the one-line error must name)
const REJECTED: &[(&str, &str)] = &[
    ("priority-not-a-number.xml", "<candidate priority='abc'/>"),
    ("port-out-of-range.xml", "<candidate port='70000'/>"),
    (
        "ip-not-an-address.xml",
        "<candidate ip='3e1f2a9c-6b1d-4b8e-9f2a-7c1d2e3f4a5b.local'/>",
    ),
    (
        "candidate-without-foundation.xml",
        "<candidate/> lacks attribute 'foundation'",
    ),
    ("component-zero.xml", "<candidate component='0'/>"),
    ("unknown-candidate-type.xml", "<candidate type='cloud'/>"),
    (
        "unknown-jingle-action.xml",
        "<jingle action='session-restart'/>",
    ),
    ("not-well-formed.xml", "not well-formed XML"),
    ("entity-expansion.xml", "(DTD) is not allowed"),
];

#[test]
fn rejects_broken_stanzas_with_one_clear_line() {
    for (file, names) in REJECTED {
        let r = check(&read(&format!("broken/{file}")));
        assert_eq!(r.code, 1, "{file}");
        assert_eq!(r.text.lines().count(), 1, "{file}: {}", r.text);
        assert!(
            r.text.starts_with("error: ") && r.text.contains(names),
            "{file}: {}",
            r.text
        );
        assert_eq!(r.json["ok"], false);
    }
    let files = std::fs::read_dir(clients().join("broken")).unwrap().count();
    assert_eq!(
        REJECTED.len(),
        files,
        "every broken stanza is listed in REJECTED"
    );
}

#[test]
fn thousands_of_candidates_are_refused_at_the_limit() {
    let c = "<candidate component='1' foundation='1' generation='0' id='c' ip='192.0.2.1' port='1' priority='1' protocol='udp' type='host'/>";
    let xml = format!(
        "<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='Zk9e' pwd='q0Yk7vD3Jm2uN4pW1cR8tF5h'>{}</transport>",
        c.repeat(5000)
    );
    let r = check(xml.as_bytes());
    assert_eq!(r.code, 1);
    assert!(r.text.contains("more than 256 <candidate/>"), "{}", r.text);
}

#[test]
fn oversized_and_non_utf8_input_is_refused() {
    let r = check(&vec![b' '; MAX_INPUT + 1]);
    assert_eq!(r.code, 1);
    assert!(r.text.contains("larger than"));
    let r = check(&[0xff, 0xfe, b'<']);
    assert!(r.text.contains("not UTF-8"));
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A deterministic sweep of mutated client stanzas; the fuzz target goes further.
    let seed = read("dino-session-accept.xml");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2000 {
        let mut bytes = seed.clone();
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = (x % bytes.len() as u64) as usize;
            bytes[i] = (x >> 32) as u8;
        }
        let r = check(&bytes);
        assert!(r.code == 0 || r.code == 1);
    }
}

#[test]
fn the_binary_reads_stdin_and_sets_its_exit_status() {
    let bin = env!("CARGO_BIN_EXE_jingle-ice-conformance");
    let mut child = Command::new(bin)
        .args(["check", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&read("gajim-session-initiate.xml"))
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["namespace"], "urn:xmpp:jingle:transports:ice-udp:1");
    assert_eq!(j["ufrag"], "GvZk");
    let out = Command::new(bin)
        .args(["check"])
        .arg(clients().join("broken/port-out-of-range.xml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1);
}
