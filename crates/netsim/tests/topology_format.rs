//! The topology script format (docs/TOPOLOGY-FORMAT.md): the documented example parses to what
//! the page says, defaults apply, and every mistake is an error naming file, line and key.

use std::time::Duration;

use ice_netsim::Topology;
use ice_netsim::topology::{Behaviour, JingleRole, Outcome, Service};

/// The ```toml block of the format page.
fn documented_example() -> String {
    let page = include_str!("../../../docs/TOPOLOGY-FORMAT.md");
    let start = page.find("```toml\n").expect("the page has a toml example") + 8;
    let end = start + page[start..].find("```").expect("closed");
    page[start..end].to_owned()
}

#[test]
fn the_documented_example_parses_as_documented() {
    let t = Topology::parse("example.toml", &documented_example()).expect("the example is valid");
    assert_eq!(t.seed, 7);
    assert_eq!(t.duration, Duration::from_secs(30));
    assert_eq!(t.networks.len(), 3);
    assert_eq!(
        t.networks[2].link.latency,
        Duration::from_millis(2),
        "per-network override"
    );
    assert_eq!(t.networks[0].link.latency, Duration::from_millis(20));
    let nat_b = &t.nats[1];
    assert_eq!(nat_b.config.mapping, Behaviour::AddressAndPortDependent);
    assert!(
        !nat_b.config.port_preservation && !nat_b.config.hairpinning && !nat_b.config.block_udp,
        "defaults false"
    );
    assert_eq!(
        nat_b.config.udp_timeout,
        Duration::from_secs(120),
        "default mapping lifetime"
    );
    assert_eq!(t.hosts[2].service, Some(Service::Stun { port: 3478 }));
    let init = t.agent(JingleRole::Initiator);
    assert_eq!(
        init.stun,
        vec!["198.51.100.100:3478".parse().expect("addr")]
    );
    assert_eq!(init.components, 1);
    assert!(init.trickle);
    assert_eq!(t.signalling.latency, Duration::from_millis(50));
    assert_eq!(t.expect.outcome, Outcome::Connected);
    assert_eq!(t.expect.local_type, ["srflx", "prflx"]);
    assert_eq!(t.expect.max_connect, Some(Duration::from_secs(2)));
}

/// The example with `from` replaced by `to` (once).
fn example_with(from: &str, to: &str) -> String {
    let e = documented_example();
    assert!(e.contains(from), "the example contains {from:?}");
    e.replacen(from, to, 1)
}

fn error(text: &str) -> ice_netsim::TopologyError {
    Topology::parse("t.toml", text).expect_err("the script is refused")
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle present")
        + 1
}

#[test]
fn unknown_keys_are_errors_with_file_line_and_key() {
    let text = example_with(
        "port_preservation = true",
        "port_preservation = true\nport_preserving = true",
    );
    let e = error(&text);
    assert_eq!(e.file, "t.toml");
    assert_eq!(e.key, "nat[1].port_preserving");
    assert_eq!(e.line, line_of(&text, "port_preserving"));
    assert!(
        e.to_string()
            .starts_with(&format!("t.toml:{}: nat[1].port_preserving:", e.line)),
        "{e}"
    );

    let text = example_with("seed = 7", "seed = 7\ncolour = \"blue\"");
    let e = error(&text);
    assert_eq!(e.key, "colour");
    assert_eq!(e.line, line_of(&text, "colour"));
}

#[test]
fn bad_values_name_their_key() {
    let text = example_with(
        "mapping = \"endpoint-independent\"",
        "mapping = \"full-cone\"",
    );
    let e = error(&text);
    assert_eq!(e.key, "nat[1].mapping");
    assert_eq!(e.line, line_of(&text, "full-cone"));

    let text = example_with("loss = 0.0", "loss = 1.5");
    let e = error(&text);
    assert_eq!(e.key, "link.loss");
    assert!(e.message.contains("probability"), "{e}");
}

#[test]
fn references_and_addresses_are_checked() {
    let cases = [
        (
            "inside = \"lan-a\"",
            "inside = \"lan-c\"",
            "nat[1].inside",
            "no network is named `lan-c`",
        ),
        (
            "ip = \"10.0.1.1\"",
            "ip = \"10.0.9.1\"",
            "host[1].ip",
            "is in none of the host's networks",
        ),
        (
            "public_ip = \"198.51.100.10\"",
            "public_ip = \"203.0.113.10\"",
            "nat[1].public_ip",
            "not inside the outside network",
        ),
        (
            "stun = [\"stun1:3478\"]",
            "stun = [\"juliet:3478\"]",
            "agent[1].stun",
            "runs no stun service",
        ),
        (
            "role = \"responder\"",
            "role = \"initiator\"",
            "agent[1].role",
            "exactly two agents",
        ),
        (
            "format = 1",
            "format = 2",
            "format",
            "format 2 is not known",
        ),
        (
            "cidr = \"10.0.2.0/24\"",
            "cidr = \"10.0.2.0/33\"",
            "network[3].cidr",
            "longer than 32",
        ),
        (
            "ip = \"10.0.2.1\"",
            "ip = \"10.0.1.1\"\nnetwork = \"lan-a\"",
            "host[2].network",
            "duplicate key",
        ),
    ];
    for (from, to, key, message) in cases {
        let text = example_with(from, to);
        let e = error(&text);
        assert!(e.message.contains(message), "{from} -> {to}: {e}");
        if !message.contains("duplicate") {
            assert_eq!(e.key, key, "{from} -> {to}: {e}");
        }
        let first = to.lines().next().expect("one line");
        let expected = if key.starts_with("agent[1].role") {
            // The count of roles is checked on the first agent's role.
            line_of(&text, "role = ")
        } else {
            line_of(&text, first)
        };
        if !message.contains("duplicate") {
            assert_eq!(e.line, expected, "{from} -> {to}: {e}");
        }
    }
}

#[test]
fn a_missing_expect_table_is_named() {
    let text = documented_example();
    let cut = text.find("[expect]").expect("has expect");
    let e = error(&text[..cut]);
    assert!(e.message.contains("expect"), "{e}");
}

#[test]
fn oversized_scripts_are_refused_before_parsing() {
    let text = format!(
        "{}\n#{}",
        documented_example(),
        "x".repeat(ice_netsim::topology::MAX_SCRIPT_BYTES)
    );
    let e = error(&text);
    assert!(e.message.contains("bytes"), "{e}");
}

#[test]
fn hostile_text_never_panics() {
    // Truncations of the example at every byte: each parses or is refused with an error.
    let text = documented_example();
    for end in (0..text.len()).filter(|&i| text.is_char_boundary(i)) {
        let _ = Topology::parse("t.toml", &text[..end]);
    }
}

#[test]
fn paths_cross_one_network_per_hop() {
    let t = Topology::parse("example.toml", &documented_example()).expect("valid");
    let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("address");
    let (internet, lan_a, lan_b) = (0, 1, 2);
    // Same network: one hop.
    assert_eq!(t.path(ip("10.0.1.1"), ip("10.0.1.7")), vec![lan_a]);
    // Out through nat-a to the STUN server.
    assert_eq!(
        t.path(ip("10.0.1.1"), ip("198.51.100.100")),
        vec![lan_a, internet]
    );
    // To nat-b's public address: into lan-b behind it.
    assert_eq!(
        t.path(ip("10.0.1.1"), ip("198.51.100.20")),
        vec![lan_a, internet, lan_b]
    );
    // Hairpin: out to nat-a's own public address and back in.
    assert_eq!(
        t.path(ip("10.0.1.1"), ip("198.51.100.10")),
        vec![lan_a, internet, lan_a]
    );
    // A private address of another LAN: a path exists (the NAT decides what passes).
    assert_eq!(
        t.path(ip("10.0.1.1"), ip("10.0.2.1")),
        vec![lan_a, internet, lan_b]
    );
    // No network holds the address.
    assert!(t.path(ip("192.0.2.1"), ip("10.0.1.1")).is_empty());
    assert!(t.path(ip("10.0.1.1"), ip("2001:db8::1")).is_empty());
}

#[test]
fn a_hop_draws_loss_and_jitter_as_documented() {
    use ice_netsim::topology::LinkParams;
    let link = LinkParams {
        latency: Duration::from_millis(20),
        jitter: Duration::from_millis(10),
        loss: 0.25,
    };
    // The loss draw is a uniform number in [0, 1) from its top 53 bits.
    assert_eq!(link.hop(u64::MAX / 8, 0), None, "0.125 <= 0.25: lost");
    assert_eq!(
        link.hop(u64::MAX / 2, 0),
        Some(Duration::from_millis(20)),
        "0.5 > 0.25: delivered, no jitter drawn"
    );
    // Jitter is uniform in [0, jitter] microseconds.
    assert_eq!(
        link.hop(u64::MAX, 10_000),
        Some(Duration::from_millis(30)),
        "the largest jitter"
    );
    assert_eq!(link.hop(u64::MAX, 10_001), Some(Duration::from_millis(20)));
    let perfect = LinkParams {
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        loss: 0.0,
    };
    assert_eq!(perfect.hop(0, u64::MAX), Some(Duration::ZERO), "never lost");
    let dead = LinkParams {
        loss: 1.0,
        ..perfect
    };
    assert_eq!(dead.hop(u64::MAX, 0), None, "always lost");
}

/// A script with two TURN hosts, for the TURN keys (docs/TOPOLOGY-FORMAT.md, "Additions for
/// relays"); `SERVICE`, `TURN`, `SHARE` and `EXPECT` are replaced by the cases.
const TURN_SCRIPT: &str = r#"format = 1
name = "turn keys"
[[network]]
name = "internet"
cidr = "198.51.100.0/24"
[[host]]
name = "romeo"
network = "internet"
ip = "198.51.100.1"
[[host]]
name = "juliet"
network = "internet"
ip = "198.51.100.2"
[[host]]
name = "turn1"
network = "internet"
ip = "198.51.100.200"
service = SERVICE
[[host]]
name = "turn2"
network = "internet"
ip = "198.51.100.201"
service = { kind = "turn", port = 3479, username = "u", password = "p" }
[[agent]]
host = "romeo"
impl = "ice-sans-io"
role = "initiator"
turn = TURN
share = SHARE
[[agent]]
host = "juliet"
impl = "ice-sans-io"
role = "responder"
[expect]
outcome = "connected"
local_type = "relay"
relay_transport = EXPECT
"#;

fn turn_script(service: &str, turn: &str, share: &str, expect: &str) -> String {
    TURN_SCRIPT
        .replace("SERVICE", service)
        .replace("TURN", turn)
        .replace("SHARE", share)
        .replace("EXPECT", expect)
}

const SECRET_SERVICE: &str = r#"{ kind = "turn", port = 3478, realm = "r", secret = "s3cret", transports = ["udp", "tcp", "tls"], tls_port = 5350, lifetime_s = 60, alternate = "turn2:3479" }"#;

#[test]
fn turn_keys_parse_with_their_defaults() {
    use ice_netsim::topology::{Share, TurnTransport};
    use ice_netsim::turn_server::TurnAuth;

    let text = turn_script(
        SECRET_SERVICE,
        r#"["turn1:3478", "turn:turn1?transport=tcp", "turns:turn1:5350", "turn:turn1:3478?transport=udp"]"#,
        r#""relay-only""#,
        r#""tls""#,
    );
    let t = Topology::parse("t.toml", &text).expect("valid");
    let Some(Service::Turn {
        port,
        realm,
        auth,
        transports,
        tls_port,
        lifetime,
        alternate,
    }) = &t.hosts[2].service
    else {
        panic!("a turn service: {:?}", t.hosts[2].service);
    };
    assert_eq!((*port, realm.as_str()), (3478, "r"));
    assert_eq!(auth, &TurnAuth::Secret("s3cret".into()));
    assert_eq!(
        transports,
        &[TurnTransport::Udp, TurnTransport::Tcp, TurnTransport::Tls]
    );
    assert_eq!(*tls_port, Some(5350));
    assert_eq!(*lifetime, Duration::from_secs(60));
    assert_eq!(
        alternate.map(|a| a.to_string()).as_deref(),
        Some("198.51.100.201:3479")
    );
    let romeo = t.agent(JingleRole::Initiator);
    let turn: Vec<(String, TurnTransport)> = romeo
        .turn
        .iter()
        .map(|r| (r.addr.to_string(), r.transport))
        .collect();
    assert_eq!(
        turn,
        [
            ("198.51.100.200:3478".to_owned(), TurnTransport::Udp),
            ("198.51.100.200:3478".to_owned(), TurnTransport::Tcp),
            ("198.51.100.200:5350".to_owned(), TurnTransport::Tls),
            ("198.51.100.200:3478".to_owned(), TurnTransport::Udp),
        ]
    );
    assert_eq!(romeo.share, Share::RelayOnly);
    assert_eq!(t.agent(JingleRole::Responder).share, Share::All, "default");
    assert_eq!(t.expect.relay_transport, Some(TurnTransport::Tls));
    assert_eq!(t.expect.local_type, ["relay"]);
    // TLS is listed wherever it is named, for the skip reasons of a backend whose TURN server
    // serves none; TCP is served by the simulator's server, and TLS too with its `tls` feature.
    assert_eq!(
        t.turn_unsupported(),
        [
            "turn1: transports \"tls\"",
            "agent on romeo: turn over tls to turn1",
            "expect: relay_transport \"tls\"",
        ]
    );
    if cfg!(feature = "tls") {
        assert!(ice_netsim::Sim::unsupported(&t).is_empty());
    } else {
        assert_eq!(ice_netsim::Sim::unsupported(&t), t.turn_unsupported());
    }
    // What the agents are asked to use beyond UDP, for a runner whose agents lack it.
    assert_eq!(
        t.agent_turn_transports(),
        [
            (
                TurnTransport::Tcp,
                "agent on romeo: turn over tcp to turn1".to_owned()
            ),
            (
                TurnTransport::Tls,
                "agent on romeo: turn over tls to turn1".to_owned()
            ),
            (
                TurnTransport::Tls,
                "expect: relay_transport \"tls\"".to_owned()
            ),
        ]
    );

    // Defaults: udp only, 600 s, realm "example", no alternate; nothing beyond UDP.
    let text = turn_script(
        r#"{ kind = "turn", username = "u", password = "p" }"#,
        r#"["turn1:3478"]"#,
        r#""all""#,
        r#""udp""#,
    );
    let t = Topology::parse("t.toml", &text).expect("valid");
    assert_eq!(
        t.hosts[2].service,
        Some(Service::Turn {
            port: 3478,
            realm: "example".into(),
            auth: TurnAuth::LongTerm {
                username: "u".into(),
                password: "p".into()
            },
            transports: vec![TurnTransport::Udp],
            tls_port: None,
            lifetime: Duration::from_secs(600),
            alternate: None,
        })
    );
    assert!(t.turn_unsupported().is_empty());
    assert!(t.agent_turn_transports().is_empty());
}

#[test]
fn turn_key_mistakes_name_file_line_and_key() {
    let ok_turn = r#"["turn1:3478"]"#;
    let cases: [(&str, &str, &str, &str, &str, &str); 14] = [
        (
            r#"{ kind = "turn", username = "u", password = "p", secret = "s" }"#,
            ok_turn,
            r#""all""#,
            r#""udp""#,
            "host[3].service",
            "or secret, not both",
        ),
        (
            r#"{ kind = "turn", username = "u" }"#,
            ok_turn,
            r#""all""#,
            r#""udp""#,
            "host[3].service",
            "needs username and password, or secret",
        ),
        (
            r#"{ kind = "turn", secret = "s", transports = ["udp", "sctp"] }"#,
            ok_turn,
            r#""all""#,
            r#""udp""#,
            "host[3].service.transports",
            "unknown transport `sctp`",
        ),
        (
            r#"{ kind = "turn", secret = "s", transports = ["udp", "udp"] }"#,
            ok_turn,
            r#""all""#,
            r#""udp""#,
            "host[3].service.transports",
            "given twice",
        ),
        (
            r#"{ kind = "turn", secret = "s", transports = [] }"#,
            ok_turn,
            r#""all""#,
            r#""udp""#,
            "host[3].service.transports",
            "transports is empty",
        ),
        (
            r#"{ kind = "turn", secret = "s", tls_port = 5349 }"#,
            ok_turn,
            r#""all""#,
            r#""udp""#,
            "host[3].service.tls_port",
            "needs \"tls\"",
        ),
        (
            r#"{ kind = "turn", secret = "s", lifetime_s = 0 }"#,
            ok_turn,
            r#""all""#,
            r#""udp""#,
            "host[3].service.lifetime_s",
            "lifetime_s must be",
        ),
        (
            r#"{ kind = "turn", secret = "s", alternate = "turn9:3478" }"#,
            ok_turn,
            r#""all""#,
            r#""udp""#,
            "host[3].service.alternate",
            "no host `turn9`",
        ),
        (
            r#"{ kind = "turn", secret = "s", alternate = "turn2:3478" }"#,
            ok_turn,
            r#""all""#,
            r#""udp""#,
            "host[3].service.alternate",
            "runs no turn service on port 3478",
        ),
        (
            r#"{ kind = "stun", secret = "s" }"#,
            r#"[]"#,
            r#""all""#,
            r#""udp""#,
            "host[3].service",
            "takes only `port`",
        ),
        (
            r#"{ kind = "turn", secret = "s" }"#,
            r#"["turn:turn1:3478?transport=tcp"]"#,
            r#""all""#,
            r#""udp""#,
            "agent[1].turn",
            "no turn service over tcp on port 3478",
        ),
        (
            r#"{ kind = "turn", secret = "s" }"#,
            r#"["turns:turn1:3478?transport=udp"]"#,
            r#""all""#,
            r#""udp""#,
            "agent[1].turn",
            "the query must be",
        ),
        (
            r#"{ kind = "turn", secret = "s" }"#,
            ok_turn,
            r#""some""#,
            r#""udp""#,
            "agent[1].share",
            "unknown share `some`",
        ),
        (
            r#"{ kind = "turn", secret = "s" }"#,
            ok_turn,
            r#""all""#,
            r#""quic""#,
            "expect.relay_transport",
            "unknown transport `quic`",
        ),
    ];
    for (service, turn, share, expect, key, message) in cases {
        let text = turn_script(service, turn, share, expect);
        let e = error(&text);
        assert_eq!(e.file, "t.toml");
        assert!(e.message.contains(message), "{service} {turn}: {e}");
        assert_eq!(e.key, key, "{service} {turn}: {e}");
        let needle = if key.starts_with("host") {
            service
        } else if key.ends_with("turn") {
            turn
        } else if key.ends_with("share") {
            "share ="
        } else {
            "relay_transport ="
        };
        assert_eq!(e.line, line_of(&text, needle), "{service} {turn}: {e}");
    }
}
