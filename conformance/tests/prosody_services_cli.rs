//! The `services` command (XEP-0215 External Service Discovery) against a real Prosody 0.12
//! with `mod_turn_external`: the command a user runs to see which STUN and TURN servers, and
//! which credentials, their server hands out.
//!
//! `#[ignore]`d because it needs Debian's `prosody`; `cargo xtask ci` runs it with
//! `--ignored` (step "interop: Prosody"). Without Prosody it fails naming the package.

mod prosody_support;

use std::process::Command;

use prosody_support::{HOST, Prosody, Setup, TURN_EXTERNAL};

const ALICE: (&str, &str) = ("alice", "alice-secret");
const PACKAGES: &str = "this test needs Debian's prosody 0.12 (mod_turn_external ships with \
     it): `apt-get install prosody`; `bash .ci/run` installs it before `cargo xtask ci`";

/// Runs the command with `extra` arguments; returns its exit code, stdout and stderr.
fn services(prosody: &Prosody, extra: &[&str]) -> (Option<i32>, String, String) {
    let jid = format!("{}@{HOST}", ALICE.0);
    let out = Command::new(env!("CARGO_BIN_EXE_jingle-ice-conformance"))
        .args([
            "services",
            "--server",
            &prosody.addr().to_string(),
            "--jid",
            &jid,
        ])
        .args(["--password", ALICE.1])
        .args(extra)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("running jingle-ice-conformance");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// XEP-0215 §3.1, §3.2: the list as text and as JSON (one object per service with at least
/// type, host, port, transport, username, password, expires, restricted), filtered by type,
/// and in `urn:xmpp:extdisco:1`.
#[test]
#[ignore = "needs Debian's prosody; runs in every cargo xtask ci (step interop: Prosody, after .ci/run installs it), locally with -- --ignored"]
fn services_lists_what_prosody_hands_out() {
    let setup = Setup {
        template: prosody_support::config(&["turn_external"], TURN_EXTERNAL),
        required: &["turn_external", "external_services"],
        packages: PACKAGES,
    };
    let prosody = Prosody::start("services-cli", &[ALICE], &setup);

    let (code, stdout, stderr) = services(&prosody, &["--json"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let all: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let types: Vec<&str> = all.iter().filter_map(|s| s["type"].as_str()).collect();
    for t in ["stun", "turn", "turns"] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
    for s in &all {
        assert_eq!(s["host"], "turn.example.org", "{s}");
        for key in [
            "port",
            "transport",
            "username",
            "password",
            "expires",
            "restricted",
        ] {
            assert!(s.get(key).is_some(), "{key} in {s}");
        }
    }
    // TURN over UDP with TURN REST credentials: username EXPIRY, a password, an expiry, and
    // restricted (XEP-0215 §2).
    let turn_udp = all
        .iter()
        .find(|s| s["type"] == "turn" && s["transport"] == "udp")
        .expect("TURN over UDP");
    assert_eq!(turn_udp["port"], 3478);
    let user = turn_udp["username"].as_str().expect("a username");
    assert!(user.chars().all(|c| c.is_ascii_digit()), "{user}");
    assert!(turn_udp["password"].is_string());
    assert!(turn_udp["expires"].is_string());
    assert_eq!(turn_udp["restricted"], true);

    let (code, stdout, stderr) = services(&prosody, &["--json", "--service-type", "turn"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.lines().count() >= 2, "{stdout}");
    assert!(
        stdout.lines().all(|l| l.contains(r#""type":"turn""#)),
        "{stdout}"
    );

    let (code, stdout, stderr) = services(&prosody, &["--namespace", "extdisco:1"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("urn:xmpp:extdisco:1"), "{stdout}");
    assert!(
        stdout.contains("turn turn.example.org:3478 udp"),
        "{stdout}"
    );
    // Prosody's :1 answer carries restricted and expires, which :1's schema has not.
    assert!(stdout.contains("forgiven:"), "{stdout}");
}
