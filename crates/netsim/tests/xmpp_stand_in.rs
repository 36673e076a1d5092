//! An xmpp host on the simulator: what stands for the server's socket records the source
//! address each client's datagram arrived from (behind a NAT: the NAT's public mapping), which
//! is what the runner answers XEP-0279 with.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_netsim::{Sim, Topology, Transmit};

const SCRIPT: &str = r#"
format = 1
name = "clients reach an XMPP server"
[[network]]
name = "internet"
cidr = "198.51.100.0/24"
[[network]]
name = "lan"
cidr = "10.0.1.0/24"
[[nat]]
name = "home"
inside = "lan"
outside = "internet"
public_ip = "198.51.100.10"
mapping = "address-and-port-dependent"
filtering = "address-and-port-dependent"
[[host]]
name = "romeo"
network = "lan"
ip = "10.0.1.1"
[[host]]
name = "juliet"
network = "internet"
ip = "198.51.100.2"
[[host]]
name = "xmpp1"
network = "internet"
ip = "198.51.100.5"
service = { kind = "xmpp", domain = "example.org", ipcheck = true }
[[agent]]
host = "romeo"
impl = "ice-sans-io"
role = "initiator"
[[agent]]
host = "juliet"
impl = "ice-sans-io"
role = "responder"
[expect]
outcome = "connected"
"#;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("a literal address")
}

/// Each client sends its JID to the server; returns what the server saw and the NAT's mapping.
fn run(
    seed: u64,
) -> (
    Vec<ice_netsim::xmpp_stand_in::Seen>,
    Option<SocketAddr>,
    Sim,
) {
    let mut topology = Topology::parse("xmpp.toml", SCRIPT).expect("valid");
    topology.seed = seed;
    #[allow(clippy::disallowed_methods)] // the base of virtual time
    let t0 = Instant::now();
    let mut sim = Sim::new(&topology, t0);
    let server = addr("198.51.100.5:5222");
    for (host, from, jid) in [
        ("romeo", "10.0.1.1:40000", "romeo@example.org"),
        ("juliet", "198.51.100.2:40000", "juliet@example.org"),
        // Another port of the server's host: not the server's.
        ("juliet", "198.51.100.2:40001", "to port 5223"),
    ] {
        let to = if jid.starts_with("to port") {
            addr("198.51.100.5:5223")
        } else {
            server
        };
        let host = sim.host(host).expect("declared");
        sim.send(
            t0,
            host,
            Transmit {
                from: addr(from),
                to,
                data: jid.as_bytes().to_vec(),
            },
        );
    }
    while let Some(t) = sim.poll_timeout() {
        sim.handle_timeout(t);
    }
    let mapping = sim
        .nat_table("home")
        .and_then(|n| n.mapping_of(t0 + Duration::from_secs(1), addr("10.0.1.1:40000"), server));
    let seen = sim
        .xmpp_server("xmpp1")
        .expect("an xmpp host")
        .seen()
        .to_vec();
    (seen, mapping, sim)
}

#[test]
fn the_server_sees_the_nat_s_public_mapping() {
    let (seen, mapping, mut sim) = run(7);
    let x = sim.xmpp_server("xmpp1").expect("an xmpp host");
    let romeo = x.seen_from(b"romeo@example.org").expect("romeo's datagram");
    assert_eq!(romeo.ip().to_string(), "198.51.100.10", "the NAT's address");
    assert_eq!(Some(romeo), mapping, "the NAT's mapping towards the server");
    assert_eq!(
        x.seen_from(b"juliet@example.org"),
        Some(addr("198.51.100.2:40000")),
        "no NAT: the host's own address"
    );
    assert_eq!(seen.len(), 2);
    assert_eq!(x.stats().received, 2);
    // Not the server's port: an ordinary delivery to the host.
    let d = sim.poll_delivery().expect("delivered to the host");
    assert_eq!(d.to, addr("198.51.100.5:5223"));
    assert!(sim.poll_delivery().is_none());
    assert!(sim.xmpp_server("romeo").is_none(), "no service");
    assert!(sim.turn_server("xmpp1").is_none());

    // Deterministic: the same seed, the same mapping.
    assert_eq!(run(7).0, seen);
}
