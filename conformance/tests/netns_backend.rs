//! The netns backend of the topology runner (issue #8): what it does without root (says so,
//! exit 2), and, as root, that its user-space path really delays and drops the datagrams of
//! the stacks it carries, that a real-socket run agrees with the simulator, and that libnice
//! scripts are skipped where the harness cannot impair their datagrams.
//!
//! The root tests are ignored in a plain `cargo test`; `cargo xtask ci` runs them in its netns
//! step with `--ignored`, where they fail loudly without root, nftables or libnice-dev.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use ice_netsim::Topology;
use ice_netsim::netns::is_root;
use jingle_ice_conformance::runner::config::RunOptions;
use jingle_ice_conformance::suite::Backend;

/// Two of our agents on one LAN, with `link` as the `[link]` table and `expect` as the
/// `[expect]` table.
fn same_lan(link: &str, expect: &str) -> Topology {
    let text = format!(
        r#"
format = 1
name = "same LAN"
seed = 5
duration_ms = 20000
[link]
{link}
[[network]]
name = "lan"
cidr = "10.0.0.0/24"
[[host]]
name = "romeo"
network = "lan"
ip = "10.0.0.1"
[[host]]
name = "juliet"
network = "lan"
ip = "10.0.0.2"
[[agent]]
host = "romeo"
impl = "ice-sans-io"
role = "initiator"
[[agent]]
host = "juliet"
impl = "ice-sans-io"
role = "responder"
[expect]
{expect}
"#
    );
    Topology::parse("same-lan-test.toml", &text).unwrap()
}

#[test]
fn without_root_it_says_so_and_exits_2() {
    let bin = env!("CARGO_BIN_EXE_jingle-ice-conformance");
    let args = ["run", "--backend", "netns", "--no-listings"];
    // As root, the same binary as the `nobody` user.
    let output = if is_root() {
        Command::new("setpriv")
            .args([
                "--reuid",
                "65534",
                "--regid",
                "65534",
                "--clear-groups",
                bin,
            ])
            .args(args)
            .output()
            .expect("setpriv (util-linux) runs the binary as nobody")
    } else {
        Command::new(bin).args(args).output().unwrap()
    };
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("needs root"), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing ran: {output:?}");
}

#[test]
fn libnice_with_impairments_is_skipped_with_a_reason() {
    let text = include_str!("../topologies/libnice-initiator-nat.toml")
        .replace("loss = 0.0", "loss = 0.1");
    let t = Topology::parse("libnice-lossy.toml", &text).unwrap();
    let why = Backend::Netns.skip_reason(&t).expect("skipped");
    assert!(why.contains("libnice") && why.contains("loss"), "{why}");
    assert!(Backend::Sim.skip_reason(&t).unwrap().contains("netns only"));
    // Without impairments it runs on netns, and still not on the simulator.
    let t = Topology::parse(
        "libnice.toml",
        include_str!("../topologies/libnice-initiator-nat.toml"),
    )
    .unwrap();
    assert_eq!(Backend::Netns.skip_reason(&t), None);
    assert!(Backend::Sim.skip_reason(&t).is_some());
}

#[test]
#[ignore = "needs root and nftables: run by `cargo xtask ci` (netns step)"]
fn the_user_space_path_delays_as_the_script_says() {
    let expect = "outcome = \"connected\"\ndata = true";
    let fast = same_lan("latency_ms = 1", expect);
    let slow = same_lan("latency_ms = 150", expect);
    let options = RunOptions::default();
    let fast_netns = Backend::Netns.run(&fast, &options).unwrap();
    let slow_netns = Backend::Netns.run(&slow, &options).unwrap();
    let slow_sim = Backend::Sim.run(&slow, &options).unwrap();
    for r in [&fast_netns, &slow_netns, &slow_sim] {
        assert!(r.passed(), "{:?}", r.failures);
    }
    let (f, s, sim) = (
        fast_netns.connect.unwrap(),
        slow_netns.connect.unwrap(),
        slow_sim.connect.unwrap(),
    );
    // A check and its answer cross the path at least once each way after the stanzas.
    assert!(
        s >= Duration::from_millis(300),
        "150 ms hops, connected in {s:?}"
    );
    assert!(f < s, "1 ms hops {f:?} are faster than 150 ms hops {s:?}");
    // Real time lands near virtual time (scheduling adds a little; never much less).
    assert!(
        s + Duration::from_millis(50) >= sim,
        "netns {s:?}, sim {sim:?}"
    );
    assert!(
        s <= sim + Duration::from_millis(1000),
        "netns {s:?}, sim {sim:?}"
    );
}

#[test]
#[ignore = "needs root and nftables: run by `cargo xtask ci` (netns step)"]
fn the_user_space_path_drops_as_the_script_says() {
    let lossy = same_lan("loss = 1.0", "outcome = \"failed\"");
    let r = Backend::Netns.run(&lossy, &RunOptions::default()).unwrap();
    assert!(r.passed(), "{:?}", r.failures);
    assert_eq!(r.outcome, "failed");
    assert_eq!(r.datagrams.0, 0, "nothing arrived");
    assert!(r.datagrams.1 > 0, "every datagram was dropped and counted");
}

/// A script that asks for ICE-TCP candidates runs on the simulator; the netns backend skips it
/// with the reason until it carries TCP connections on real sockets (issue #18): never run as
/// a UDP script, never passed.
#[test]
fn ice_tcp_scripts_are_skipped_on_netns_with_a_reason_until_it_carries_tcp() {
    let text = include_str!("../topologies/same-lan.toml").replacen(
        "role = \"initiator\"",
        "role = \"initiator\"\ntcp = [\"active\", \"passive\"]",
        1,
    );
    let t = Topology::parse("same-lan-tcp.toml", &text).unwrap();
    assert_eq!(Backend::Sim.skip_reason(&t), None);
    let why = Backend::Netns.skip_reason(&t).expect("skipped");
    assert!(why.contains("ICE-TCP"), "{why}");
    // A foreign stack is given no TCP candidates: skipped on both.
    let t = Topology::parse(
        "tcp.toml",
        &text.replacen("impl = \"ice-sans-io\"", "impl = \"str0m\"", 1),
    )
    .unwrap();
    for backend in [Backend::Sim, Backend::Netns] {
        let why = backend.skip_reason(&t).expect("skipped");
        assert!(why.contains("ICE-TCP"), "{why}");
    }
}

/// TURN over TCP: both backends' servers serve it, so a script whose turn service names tcp
/// runs; a script whose agents are asked for TURN over TCP runs on sim (our agent uses it) and
/// is skipped on netns with the reason (its runner does not carry TCP yet), and skipped on both
/// for a foreign stack; TLS is skipped where no server serves it (netns, until the lab gives
/// coturn a certificate).
#[test]
fn turn_over_tcp_is_skipped_only_for_the_agents_and_tls_for_the_servers() {
    let base = include_str!("../topologies/turn-one-side.toml");
    let served = base.replacen(
        r#"realm = "example" }"#,
        r#"realm = "example", transports = ["udp", "tcp"] }"#,
        1,
    );
    let t = Topology::parse("turn-tcp-served.toml", &served).unwrap();
    for backend in [Backend::Sim, Backend::Netns] {
        assert_eq!(backend.skip_reason(&t), None, "{}", backend.as_str());
    }
    let asked = served.replacen(
        r#"turn = ["turn1:3478"]"#,
        r#"turn = ["turn:turn1:3478?transport=tcp"]"#,
        1,
    );
    let t = Topology::parse("turn-tcp-asked.toml", &asked).unwrap();
    assert_eq!(Backend::Sim.skip_reason(&t), None);
    let why = Backend::Netns.skip_reason(&t).expect("skipped");
    assert!(
        why.contains("TURN over TCP or TLS on real sockets")
            && why.contains("agent on romeo: turn over tcp to turn1"),
        "{why}"
    );
    let foreign = asked.replacen(r#"impl = "ice-sans-io""#, r#"impl = "rice""#, 1);
    let t = Topology::parse("turn-tcp-rice.toml", &foreign).unwrap();
    let why = Backend::Sim.skip_reason(&t).expect("skipped");
    assert!(
        why.contains("the rice side is given no TURN over TCP or TLS"),
        "{why}"
    );
    let tls = base.replacen(
        r#"realm = "example" }"#,
        r#"realm = "example", transports = ["udp", "tls"] }"#,
        1,
    );
    let t = Topology::parse("turn-tls.toml", &tls).unwrap();
    // The simulator serves TLS (the runner builds it with its deterministic TLS); the netns
    // lab gives coturn no certificate yet.
    assert_eq!(Backend::Sim.skip_reason(&t), None);
    let why = Backend::Netns.skip_reason(&t).expect("skipped");
    assert!(
        why.contains("TURN over TLS") && why.contains(r#"turn1: transports "tls""#),
        "{why}"
    );
}
