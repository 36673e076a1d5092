//! The XMPP keys of the topology script format (docs/TOPOLOGY-FORMAT.md, "Additions for relays
//! and XMPP servers"): an xmpp service, `[signalling] via`, an agent's `discover`,
//! `expect.data_bytes`; their defaults, and every mistake an error naming file, line and key.
//! (The rest of the format: `topology_format.rs`.)

use ice_netsim::Topology;
use ice_netsim::topology::{JingleRole, Service};

fn error(text: &str) -> ice_netsim::TopologyError {
    Topology::parse("t.toml", text).expect_err("the script is refused")
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle present")
        + 1
}

/// A script with an xmpp host, for the XMPP keys (docs/TOPOLOGY-FORMAT.md, "Additions for
/// relays and XMPP servers"); `SERVICE`, `AGENT`, `SIGNALLING` and `EXPECT` are replaced by the
/// cases.
const XMPP_SCRIPT: &str = r#"format = 1
name = "xmpp keys"
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
name = "stun1"
network = "internet"
ip = "198.51.100.100"
service = { kind = "stun", port = 3478 }
[[host]]
name = "turn1"
network = "internet"
ip = "198.51.100.200"
service = { kind = "turn", port = 3478, secret = "s" }
[[host]]
name = "xmpp1"
network = "internet"
ip = "198.51.100.5"
service = SERVICE
[[agent]]
host = "romeo"
impl = "ice-sans-io"
role = "initiator"
AGENT
[[agent]]
host = "juliet"
impl = "ice-sans-io"
role = "responder"
[signalling]
SIGNALLING
[expect]
EXPECT
"#;

const FULL_XMPP: &str = r#"{ kind = "xmpp", domain = "example.org", port = 5223, external_services = ["stun1:3478", "turn1:3478"], ipcheck = true }"#;

fn xmpp_script(service: &str, agent: &str, signalling: &str, expect: &str) -> String {
    XMPP_SCRIPT
        .replace("SERVICE", service)
        .replace("AGENT", agent)
        .replace("SIGNALLING", signalling)
        .replace("EXPECT", expect)
}

#[test]
fn xmpp_keys_parse_with_their_defaults() {
    let text = xmpp_script(
        FULL_XMPP,
        "discover = true",
        r#"via = "xmpp1""#,
        "outcome = \"connected\"\ndata_bytes = 1048576",
    );
    let t = Topology::parse("t.toml", &text).expect("valid");
    assert_eq!(
        t.hosts[4].service,
        Some(Service::Xmpp {
            domain: "example.org".into(),
            port: 5223,
            external_services: vec![(2, 3478), (3, 3478)],
            ipcheck: true,
        })
    );
    assert_eq!(t.hosts[4].service.as_ref().map(Service::port), Some(5223));
    assert!(t.agent(JingleRole::Initiator).discover);
    assert!(!t.agent(JingleRole::Responder).discover, "default false");
    assert_eq!(t.signalling.via, Some(4));
    assert_eq!(t.expect.data_bytes, 1 << 20);
    // An xmpp service is no reason for either backend to skip a script.
    assert!(ice_netsim::Sim::unsupported(&t).is_empty());

    // Defaults: example.org, 5222, no services, no ipcheck; no via, no discover, no data.
    let text = xmpp_script(
        r#"{ kind = "xmpp" }"#,
        "",
        "",
        "outcome = \"connected\"\ndata_bytes = 1073741824",
    );
    let t = Topology::parse("t.toml", &text).expect("valid");
    assert_eq!(
        t.hosts[4].service,
        Some(Service::Xmpp {
            domain: "example.org".into(),
            port: 5222,
            external_services: Vec::new(),
            ipcheck: false,
        })
    );
    assert_eq!(t.signalling.via, None);
    assert!(!t.agent(JingleRole::Initiator).discover);
    assert_eq!(t.expect.data_bytes, ice_netsim::topology::MAX_DATA_BYTES);
    let text = xmpp_script(r#"{ kind = "xmpp" }"#, "", "", "outcome = \"failed\"");
    let t = Topology::parse("t.toml", &text).expect("valid");
    assert_eq!(t.expect.data_bytes, 0, "default 0");
}

#[test]
fn xmpp_key_mistakes_name_file_line_and_key() {
    let ok = (FULL_XMPP, "", r#"via = "xmpp1""#, "outcome = \"connected\"");
    let svc = |service| (service, ok.1, ok.2, ok.3);
    let cases = [
        (
            svc(r#"{ kind = "xmpp", secret = "s" }"#),
            "host[5].service",
            "an xmpp service takes only `port`, `domain`, `external_services`, `ipcheck`, not `secret`",
        ),
        (
            svc(r#"{ kind = "stun", domain = "example.org" }"#),
            "host[5].service",
            "a stun service takes only `port`, not `domain`",
        ),
        (
            svc(r#"{ kind = "turn", secret = "s", ipcheck = true }"#),
            "host[5].service",
            "not `ipcheck`",
        ),
        (
            svc(r#"{ kind = "jabber" }"#),
            "host[5].service.kind",
            "(stun | turn | xmpp)",
        ),
        (
            svc(r#"{ kind = "xmpp", domain = "exa mple.org" }"#),
            "host[5].service.domain",
            "is not a DNS name",
        ),
        (
            svc(r#"{ kind = "xmpp", domain = "192.0.2.1" }"#),
            "host[5].service.domain",
            "is not a DNS name",
        ),
        (
            svc(r#"{ kind = "xmpp", domain = "a\"b" }"#),
            "host[5].service.domain",
            "is not a DNS name",
        ),
        (
            svc(r#"{ kind = "xmpp", external_services = ["stun9:3478"] }"#),
            "host[5].service.external_services",
            "no host is named `stun9`",
        ),
        (
            svc(r#"{ kind = "xmpp", external_services = ["stun1:3479"] }"#),
            "host[5].service.external_services",
            "host `stun1` runs no stun or turn service on port 3479",
        ),
        (
            svc(r#"{ kind = "xmpp", external_services = ["xmpp1:5222"] }"#),
            "host[5].service.external_services",
            "host `xmpp1` runs no stun or turn service",
        ),
        (
            svc(r#"{ kind = "xmpp", external_services = ["stun1"] }"#),
            "host[5].service.external_services",
            "is not HOST:PORT",
        ),
        (
            svc(r#"{ kind = "xmpp", external_services = ["turn1:3478", "turn1:3478"] }"#),
            "host[5].service.external_services",
            "listed twice",
        ),
        (
            (FULL_XMPP, "", r#"via = "stun1""#, ok.3),
            "signalling.via",
            "host `stun1` runs no xmpp service",
        ),
        (
            (FULL_XMPP, "", r#"via = "xmpp9""#, ok.3),
            "signalling.via",
            "no host is named `xmpp9`",
        ),
        (
            (FULL_XMPP, "discover = true", "", ok.3),
            "agent[1].discover",
            "needs [signalling] via",
        ),
        (
            (
                FULL_XMPP,
                "discover = true\nstun = [\"stun1:3478\"]",
                ok.2,
                ok.3,
            ),
            "agent[1].discover",
            "instead of its `stun` list",
        ),
        (
            (
                FULL_XMPP,
                "discover = true\nturn = [\"turn1:3478\"]",
                ok.2,
                ok.3,
            ),
            "agent[1].discover",
            "instead of its `turn` list",
        ),
        (
            (
                ok.0,
                ok.1,
                ok.2,
                "outcome = \"connected\"\ndata_bytes = 1073741825",
            ),
            "expect.data_bytes",
            "at most 1073741824",
        ),
        (
            (ok.0, ok.1, ok.2, "outcome = \"failed\"\ndata_bytes = 1"),
            "expect.data_bytes",
            "needs outcome = \"connected\"",
        ),
        (
            (ok.0, ok.1, ok.2, "outcome = \"connected\"\ndata_bytes = -1"),
            "expect.data_bytes",
            "",
        ),
    ];
    for ((service, agent, signalling, expect), key, message) in cases {
        let text = xmpp_script(service, agent, signalling, expect);
        let e = error(&text);
        let case = format!("{service} {agent} {signalling} {expect}: {e}");
        assert_eq!(e.file, "t.toml");
        assert!(e.message.contains(message), "{case}");
        assert_eq!(e.key, key, "{case}");
        let needle = match key.split('.').next_back() {
            Some("discover") => "discover =",
            Some("via") => "via =",
            Some("data_bytes") => "data_bytes =",
            _ => service,
        };
        assert_eq!(e.line, line_of(&text, needle), "{case}");
    }

    // With an xmpp service, the other hosts' names are accounts' localparts.
    let text = xmpp_script(FULL_XMPP, "", ok.2, ok.3).replace("\"romeo\"", "\"ro@meo\"");
    let e = error(&text);
    assert_eq!((e.key.as_str(), e.line), ("host[1].name", 7), "{e}");
    assert!(e.message.contains("not a JID localpart"), "{e}");
    let text = xmpp_script(r#"{ kind = "stun" }"#, "", "", ok.3).replace("\"romeo\"", "\"ro@meo\"");
    Topology::parse("t.toml", &text).expect("no xmpp service: any name");
}

#[test]
fn truncated_xmpp_scripts_never_panic() {
    let text = xmpp_script(
        FULL_XMPP,
        "discover = true",
        r#"via = "xmpp1""#,
        "outcome = \"connected\"\ndata_bytes = 1",
    );
    for end in (0..text.len()).filter(|&i| text.is_char_boundary(i)) {
        let _ = Topology::parse("t.toml", &text[..end]);
    }
}
