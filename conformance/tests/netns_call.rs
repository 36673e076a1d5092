//! The `call` and `answer` commands across real NATs (issue #17): two clients behind symmetric
//! NATs (`conformance/topologies/xmpp-turn-symmetric.toml`), a real Prosody with
//! mod_external_services and mod_ipcheck, a real coturn with `static-auth-secret`. Each command
//! runs in its host's namespace, logs in through its NAT, learns its public address (XEP-0279)
//! and the TURN server with REST credentials (XEP-0215); `call` sends a 1 MiB file of random
//! bytes, `answer` writes it; the pair is relayed (nothing else crosses two symmetric NATs), and
//! the SHA-256 both print match the file's.
//!
//! Ignored in a plain `cargo test` (it needs root, nftables, coturn, prosody and
//! prosody-modules); `cargo xtask ci` runs it in its netns step with `--ignored`, where it fails
//! loudly when any of them is missing.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]
// Real processes on the real clock: the deadlines are wall time.
#![allow(clippy::disallowed_methods)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ice_netsim::Topology;
use ice_netsim::netns::Lab;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

const SCRIPT: &str = include_str!("../topologies/xmpp-turn-symmetric.toml");
const BIN: &str = env!("CARGO_BIN_EXE_jingle-ice-conformance");
const FILE_LEN: usize = 1 << 20;

/// A command in a namespace, its output in files (a pipe nobody reads would block it).
struct Run {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Run {
    fn start(ns: &str, args: &[&str], dir: &Path, label: &str) -> Run {
        let out = dir.join(format!("{label}.out"));
        let err = dir.join(format!("{label}.err"));
        let child = Command::new("ip")
            .args(["netns", "exec", ns, BIN])
            .args(args)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        Run { child, out, err }
    }

    /// Waits until it exits, at most `within`; kills it then.
    fn wait(&mut self, within: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.err).unwrap_or_default()
    }

    fn json(&self) -> serde_json::Value {
        let text = fs::read_to_string(&self.out).unwrap_or_default();
        serde_json::from_str(text.trim()).unwrap_or_else(|e| {
            panic!(
                "not one JSON object ({e}): {text:?}\nstderr:\n{}",
                self.stderr()
            )
        })
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[ignore = "needs root, nftables, coturn, prosody and prosody-modules (.ci/run installs them): runs in the netns step of every cargo xtask ci, locally with -- --ignored"]
fn call_and_answer_move_a_file_through_prosody_and_coturn_across_symmetric_nats() {
    let topology = Topology::parse("xmpp-turn-symmetric.toml", SCRIPT).unwrap();
    let lab = Lab::build(&topology).expect("the lab builds (root, nftables, coturn, prosody?)");
    let (server, domain) = lab.xmpp_server("xmpp1").expect("the xmpp service");
    assert_eq!(domain, "example.org");
    let (romeo, romeo_pw) = lab.xmpp_account("xmpp1", "romeo").unwrap();
    let (juliet, juliet_pw) = lab.xmpp_account("xmpp1", "juliet").unwrap();
    let ns = |h: &str| lab.host(h).unwrap().namespace.clone();

    let dir = lab.scratch().join("call");
    let inbox = dir.join("inbox");
    fs::create_dir_all(&inbox).unwrap();
    let mut data = vec![0u8; FILE_LEN];
    ChaCha8Rng::seed_from_u64(17).fill_bytes(&mut data);
    let file = dir.join("verona.bin");
    fs::write(&file, &data).unwrap();
    let digest: String = Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let server = server.to_string();

    let mut answer = Run::start(
        &ns("juliet"),
        &[
            "answer",
            "--server",
            &server,
            "--jid",
            &juliet,
            "--password",
            &juliet_pw,
            "--dir",
            inbox.to_str().unwrap(),
            "--json",
            "--timeout",
            "30",
        ],
        &dir,
        "answer",
    );
    // The callee is ready once it waits for a call (logged in, services learned).
    let end = Instant::now() + Duration::from_secs(30);
    while !answer.stderr().contains("waiting for a call") {
        assert!(
            Instant::now() < end && answer.child.try_wait().unwrap().is_none(),
            "answer did not get ready:\n{}",
            answer.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut call = Run::start(
        &ns("romeo"),
        &[
            "call",
            "--server",
            &server,
            "--jid",
            &romeo,
            "--password",
            &romeo_pw,
            "--to",
            &juliet,
            file.to_str().unwrap(),
            "--json",
            "--timeout",
            "30",
        ],
        &dir,
        "call",
    );
    let called = call.wait(Duration::from_secs(120));
    let answered = answer.wait(Duration::from_secs(30));
    assert_eq!(
        called.map(|s| s.success()),
        Some(true),
        "call: {called:?}\n{}\nanswer:\n{}",
        call.stderr(),
        answer.stderr()
    );
    assert_eq!(
        answered.map(|s| s.success()),
        Some(true),
        "answer: {answered:?}\n{}",
        answer.stderr()
    );

    let (c, a) = (call.json(), answer.json());
    eprintln!(
        "call: {c}\n{}\nanswer: {a}\n{}",
        call.stderr(),
        answer.stderr()
    );
    for (side, v) in [("call", &c), ("answer", &a)] {
        assert_eq!(v["bytes"], FILE_LEN as u64, "{side}: {v}");
        assert_eq!(v["match"], true, "{side}: {v}");
        assert_eq!(v["sha256"], digest, "{side}: {v}");
        assert_eq!(v["peer_sha256"], digest, "{side}: {v}");
        // Two symmetric NATs: only a relayed candidate crosses them.
        assert!(
            v["local_type"] == "relay" || v["remote_type"] == "relay",
            "{side}: no relay on the selected pair: {v}"
        );
        assert!(
            v["services"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["type"] == "turn")),
            "{side}: no TURN server learned: {v}"
        );
        assert_eq!(v["behind_nat"], true, "{side}: {v}");
    }
    // XEP-0279: each is seen at its NAT's public address.
    assert!(
        c["sic"].as_str().unwrap().starts_with("198.51.100.10:"),
        "{c}"
    );
    assert!(
        a["sic"].as_str().unwrap().starts_with("198.51.100.20:"),
        "{a}"
    );
    let got = fs::read(inbox.join("verona.bin")).expect("the received file");
    assert!(got == data, "the received file differs");
    assert!(!inbox.join("verona.bin.part").exists());
}
