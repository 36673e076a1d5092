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

/// A script that asks for ICE-TCP candidates runs on both backends (on netns the runner
/// carries our agent's connections on real sockets, `netns_tcp.rs`); a foreign stack the
/// runner gives no TCP candidates is skipped on both, never run as a UDP script.
#[test]
fn ice_tcp_scripts_run_on_netns_and_foreign_stacks_without_tcp_are_skipped() {
    let text = include_str!("../topologies/same-lan.toml").replacen(
        "role = \"initiator\"",
        "role = \"initiator\"\ntcp = [\"active\", \"passive\"]",
        1,
    );
    let t = Topology::parse("same-lan-tcp.toml", &text).unwrap();
    assert_eq!(Backend::Sim.skip_reason(&t), None);
    assert_eq!(Backend::Netns.skip_reason(&t), None);
    for script in [
        include_str!("../topologies/tcp-udp-blocked-public-passive.toml"),
        include_str!("../topologies/tcp-udp-blocked-so.toml"),
        include_str!("../topologies/tcp-long-hold.toml"),
    ] {
        let t = Topology::parse("tcp.toml", script).unwrap();
        assert_eq!(Backend::Netns.skip_reason(&t), None, "{}", t.name);
    }
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

/// TURN over TCP and TLS: both backends' servers serve them, so a script whose turn service
/// names tcp or tls runs, and so does one whose agents (ours) are asked for TURN over TCP; a
/// foreign stack is given none, so its script is skipped with the reason.
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
    for backend in [Backend::Sim, Backend::Netns] {
        assert_eq!(backend.skip_reason(&t), None, "{}", backend.as_str());
    }
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
    // Both serve TLS: the runner builds the simulator and the lab with ice-netsim's `tls`
    // (coturn gets a certificate of the run's simulated authority).
    for backend in [Backend::Sim, Backend::Netns] {
        assert_eq!(backend.skip_reason(&t), None, "{}", backend.as_str());
    }
}

/// TCP segments go straight through the kernel: a script that gives an ICE-TCP side's path
/// jitter or loss is skipped on netns with that reason (the simulator runs it), while latency
/// alone runs (it only shifts times).
#[test]
fn a_lossy_ice_tcp_script_is_skipped_on_netns_with_the_reason() {
    let lossy = include_str!("../topologies/tcp-data-bytes-lossy.toml");
    let t = Topology::parse("tcp-data-bytes-lossy.toml", lossy).unwrap();
    assert_eq!(Backend::Sim.skip_reason(&t), None);
    let why = Backend::Netns.skip_reason(&t).expect("skipped");
    assert!(
        why.contains("ICE-TCP") && why.contains("jitter or loss") && why.contains("UDP only"),
        "{why}"
    );
    let calm = lossy
        .replace("jitter_ms = 5", "jitter_ms = 0")
        .replace("loss = 0.05", "loss = 0.0");
    let t = Topology::parse("tcp-data-bytes.toml", &calm).unwrap();
    assert_eq!(Backend::Netns.skip_reason(&t), None, "latency alone runs");
    // Loss on a network no TCP connection crosses is not a reason: a lossy LAN of its own.
    let aside = calm.replacen(
        "[[network]]\nname = \"lan-a\"",
        "[[network]]\nname = \"elsewhere\"\ncidr = \"10.9.0.0/24\"\nloss = 0.5\n\n[[network]]\nname = \"lan-a\"",
        1,
    );
    assert_ne!(aside, calm);
    let t = Topology::parse("tcp-elsewhere.toml", &aside).unwrap();
    assert_eq!(Backend::Netns.skip_reason(&t), None);
}

/// What the lab cannot build for ICE-TCP (`Lab::unsupported`: conntrack filters TCP
/// address-and-port-dependently and never hairpins it) is a netns skip with the reason; the
/// simulator follows `filtering` for TCP and runs it.
#[test]
fn ice_tcp_behind_an_endpoint_independent_filter_is_skipped_on_netns() {
    let text = include_str!("../topologies/tcp-udp-blocked-public-passive.toml").replace(
        "filtering = \"address-and-port-dependent\"",
        "filtering = \"endpoint-independent\"",
    );
    let t = Topology::parse("tcp-eif.toml", &text).unwrap();
    assert_eq!(Backend::Sim.skip_reason(&t), None);
    let why = Backend::Netns.skip_reason(&t).expect("skipped");
    assert!(
        why.contains("nat-a: filtering") && why.contains("conntrack"),
        "{why}"
    );
}

/// libnice's ICE-TCP: the scripts run on netns only; libnice gathers no simultaneous-open
/// candidates, so a script asking it for some is skipped with that reason.
#[test]
fn libnice_ice_tcp_runs_on_netns_only_and_never_with_so() {
    for script in [
        include_str!("../topologies/libnice-initiator-tcp.toml"),
        include_str!("../topologies/libnice-responder-tcp.toml"),
        include_str!("../topologies/libnice-initiator-tcp-public.toml"),
        include_str!("../topologies/libnice-responder-tcp-nat.toml"),
    ] {
        let t = Topology::parse("libnice-tcp.toml", script).unwrap();
        assert_eq!(Backend::Netns.skip_reason(&t), None, "{}", t.name);
        assert!(Backend::Sim.skip_reason(&t).unwrap().contains("netns only"));
    }
    let so = include_str!("../topologies/libnice-responder-tcp.toml")
        .replace("tcp = [\"passive\"]", "tcp = [\"so\"]");
    let t = Topology::parse("libnice-so.toml", &so).unwrap();
    let why = Backend::Netns.skip_reason(&t).expect("skipped");
    assert!(why.contains("libnice") && why.contains("\"so\""), "{why}");
}

/// Our agent's ICE-TCP on real sockets: 1 MiB each way over the TCP pair (tcp-data-bytes-lossy
/// without its jitter and loss), every socket closed after the run (the runner checks
/// `/proc/self/fd` and fails the run otherwise).
#[test]
#[ignore = "needs root and nftables: run by `cargo xtask ci` (netns step)"]
fn ice_tcp_carries_a_mebibyte_each_way_on_real_sockets() {
    let calm = include_str!("../topologies/tcp-data-bytes-lossy.toml")
        .replace("jitter_ms = 5", "jitter_ms = 0")
        .replace("loss = 0.05", "loss = 0.0");
    let t = Topology::parse("tcp-data-bytes.toml", &calm).unwrap();
    let r = Backend::Netns.run(&t, &RunOptions::default()).unwrap();
    assert!(r.passed(), "{:?}", r.failures);
    let pair = r.initiator_pair.expect("connected");
    assert_eq!(pair.protocol, "tcp");
    let bytes = r.data_bytes.expect("data_bytes ran");
    for t in &bytes.transfers {
        assert_eq!(t.delivered, 1 << 20);
        assert_eq!(t.retransmissions, 0, "TCP repairs below the framing");
    }
}
