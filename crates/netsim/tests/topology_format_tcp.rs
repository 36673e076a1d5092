//! The `[[nat]]` keys for TCP (`block_tcp`, `tcp_timeout_s`): defaults, values, and errors that
//! name file, line and key.

use std::time::Duration;

use ice_netsim::Topology;
use ice_netsim::nat::TCP_ESTABLISHED_TIMEOUT;

/// The ```toml block of the format page.
fn documented_example() -> String {
    let page = include_str!("../../../docs/TOPOLOGY-FORMAT.md");
    let start = page.find("```toml\n").expect("the page has a toml example") + 8;
    let end = start + page[start..].find("```").expect("closed");
    page[start..end].to_owned()
}

/// The example with `from` replaced by `to` (once).
fn example_with(from: &str, to: &str) -> String {
    let e = documented_example();
    assert!(e.contains(from), "the example contains {from:?}");
    e.replacen(from, to, 1)
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle present")
        + 1
}

#[test]
fn the_example_and_the_defaults() {
    let t = Topology::parse("t.toml", &documented_example()).expect("valid");
    let (a, b) = (&t.nats[0].config, &t.nats[1].config);
    assert!(!a.block_tcp, "written false in the example");
    assert_eq!(a.tcp_timeout, Duration::from_secs(7440));
    assert!(!b.block_tcp, "default false");
    assert_eq!(b.tcp_timeout, TCP_ESTABLISHED_TIMEOUT, "default 7440 s");
    assert_eq!(
        TCP_ESTABLISHED_TIMEOUT,
        Duration::from_secs(2 * 3600 + 4 * 60)
    );
}

#[test]
fn values_are_read_and_leave_udp_alone() {
    let text = example_with("block_tcp = false", "block_tcp = true");
    let text = text.replacen("tcp_timeout_s = 7440", "tcp_timeout_s = 5", 1);
    let t = Topology::parse("t.toml", &text).expect("valid");
    let plain = Topology::parse("t.toml", &documented_example()).expect("valid");
    let (c, p) = (&t.nats[0].config, &plain.nats[0].config);
    assert!(c.block_tcp);
    assert_eq!(
        c.tcp_timeout,
        Duration::from_secs(5),
        "short values are allowed on purpose (under RFC 5382 REQ-5's 7440)"
    );
    assert_eq!(
        (c.block_udp, c.udp_timeout, c.mapping, c.filtering),
        (p.block_udp, p.udp_timeout, p.mapping, p.filtering),
        "the UDP behaviour is the same"
    );
}

#[test]
fn bad_values_name_file_line_and_key() {
    for (value, message) in [
        ("0", "between 1 and 86400"),
        ("86401", "between 1 and 86400"),
        ("-5", ""),
        ("\"2h\"", ""),
    ] {
        let text = example_with("tcp_timeout_s = 7440", &format!("tcp_timeout_s = {value}"));
        let e = Topology::parse("t.toml", &text).expect_err("refused");
        assert_eq!(e.file, "t.toml");
        assert_eq!(e.key, "nat[1].tcp_timeout_s", "{value}: {e}");
        assert_eq!(e.line, line_of(&text, "tcp_timeout_s"), "{value}");
        assert!(e.message.contains(message), "{value}: {e}");
    }
    let text = example_with("block_tcp = false", "block_tcp = \"yes\"");
    let e = Topology::parse("t.toml", &text).expect_err("refused");
    assert_eq!(e.key, "nat[1].block_tcp", "{e}");
    assert_eq!(e.line, line_of(&text, "block_tcp"));
    let text = example_with("block_tcp = false", "block_tcp = false\ntcp_timeout = 60");
    let e = Topology::parse("t.toml", &text).expect_err("refused");
    assert_eq!(e.key, "nat[1].tcp_timeout", "unknown key: {e}");
}

/// The agent's `tcp` list (RFC 6544 §4.5 types): read in order, empty by default, and each
/// error names the line and the key.
#[test]
fn agent_tcp_types() {
    use ice_netsim::topology::{IceTcpType, JingleRole};
    let plain = Topology::parse("t.toml", &documented_example()).expect("valid");
    assert!(
        plain.agent(JingleRole::Initiator).tcp.is_empty(),
        "written []"
    );
    assert!(
        plain.agent(JingleRole::Responder).tcp.is_empty(),
        "default []"
    );

    let text = example_with("tcp = []", r#"tcp = ["so", "active", "passive"]"#);
    let t = Topology::parse("t.toml", &text).expect("valid");
    assert_eq!(
        t.agent(JingleRole::Initiator).tcp,
        [IceTcpType::So, IceTcpType::Active, IceTcpType::Passive]
    );
    assert_eq!(IceTcpType::So.to_string(), "so");

    for (bad, says) in [
        (
            r#"tcp = ["active", "ssltcp"]"#,
            "unknown tcp candidate type `ssltcp`",
        ),
        (
            r#"tcp = ["passive", "passive"]"#,
            "tcp lists `passive` twice",
        ),
    ] {
        let text = example_with("tcp = []", bad);
        let e = Topology::parse("t.toml", &text).expect_err(bad);
        assert_eq!(e.line, line_of(&text, bad), "{bad}");
        assert_eq!(e.key, "agent[1].tcp", "{bad}");
        assert!(e.message.contains(says), "{bad}: {}", e.message);
    }
}
