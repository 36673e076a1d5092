//! Each RFC 4787 behaviour on its own, with datagrams crafted by the test and sent through a
//! whole simulated network (routing, links and NAT together), plus the NAT table alone.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_netsim::{Delivery, Sim, Topology, Transmit};

/// Two hosts behind `nat` (configured by `nat_keys`), three on the internet.
fn topology(nat_keys: &str) -> Topology {
    let script = format!(
        r#"
format = 1
name = "nat under test"
[link]
latency_ms = 10
[[network]]
name = "internet"
cidr = "198.51.100.0/24"
[[network]]
name = "lan"
cidr = "10.0.1.0/24"
[[nat]]
name = "nat"
inside = "lan"
outside = "internet"
public_ip = "198.51.100.10"
{nat_keys}
[[host]]
name = "a1"
network = "lan"
ip = "10.0.1.1"
[[host]]
name = "a2"
network = "lan"
ip = "10.0.1.2"
[[host]]
name = "x"
network = "internet"
ip = "198.51.100.1"
[[host]]
name = "y"
network = "internet"
ip = "198.51.100.2"
[[host]]
name = "stun"
network = "internet"
ip = "198.51.100.100"
service = {{ kind = "stun" }}
[[agent]]
host = "a1"
impl = "none"
role = "initiator"
[[agent]]
host = "x"
impl = "none"
role = "responder"
[expect]
outcome = "connected"
"#
    );
    Topology::parse("nat_behaviours.toml", &script).expect("test topology parses")
}

fn a(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

struct Net {
    sim: Sim,
    now: Instant,
}

impl Net {
    fn new(nat_keys: &str) -> Net {
        // The base of virtual time: any instant will do.
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        Net {
            sim: Sim::new(&topology(nat_keys), now),
            now,
        }
    }

    /// Sends from `host` and runs the network until idle; returns every delivery.
    fn send(&mut self, host: &str, from: &str, to: &str, payload: &[u8]) -> Vec<Delivery> {
        let h = self.sim.host(host).expect("host exists");
        self.sim.send(
            self.now,
            h,
            Transmit {
                from: a(from),
                to: a(to),
                data: payload.to_vec(),
            },
        );
        self.settle()
    }

    fn settle(&mut self) -> Vec<Delivery> {
        while let Some(t) = self.sim.poll_timeout() {
            self.now = t;
            self.sim.handle_timeout(t);
        }
        std::iter::from_fn(|| self.sim.poll_delivery()).collect()
    }

    fn wait(&mut self, d: Duration) {
        self.now += d;
    }

    /// The source address `to`'s host sees for a datagram from `host`/`from`.
    fn seen_from(&mut self, host: &str, from: &str, to: &str) -> Option<SocketAddr> {
        let d = self.send(host, from, to, b"probe");
        assert!(d.len() <= 1, "one datagram sent, {} delivered", d.len());
        d.first().map(|d| d.from)
    }

    fn nat_dropped(&self) -> u64 {
        self.sim.stats().nat_dropped
    }
}

const EIM_EIF: &str = "mapping = \"endpoint-independent\"\nfiltering = \"endpoint-independent\"";
const EIM_ADF: &str = "mapping = \"endpoint-independent\"\nfiltering = \"address-dependent\"";
const EIM_APDF: &str =
    "mapping = \"endpoint-independent\"\nfiltering = \"address-and-port-dependent\"";
const ADM_APDF: &str =
    "mapping = \"address-dependent\"\nfiltering = \"address-and-port-dependent\"";
const APDM_APDF: &str =
    "mapping = \"address-and-port-dependent\"\nfiltering = \"address-and-port-dependent\"";

// ---- Mapping (RFC 4787 §4.1) -----------------------------------------------------------------

#[test]
fn rfc4787_4_1_endpoint_independent_mapping_reuses_the_port_for_every_remote() {
    let mut n = Net::new(EIM_APDF);
    let m1 = n
        .seen_from("a1", "10.0.1.1:5000", "198.51.100.1:7000")
        .expect("delivered");
    let m2 = n
        .seen_from("a1", "10.0.1.1:5000", "198.51.100.1:7001")
        .expect("delivered");
    let m3 = n
        .seen_from("a1", "10.0.1.1:5000", "198.51.100.2:7000")
        .expect("delivered");
    assert_eq!(
        m1.ip().to_string(),
        "198.51.100.10",
        "the private address never leaks"
    );
    assert_eq!(m1, m2);
    assert_eq!(m1, m3);
}

#[test]
fn rfc4787_4_1_address_dependent_mapping_is_per_remote_ip() {
    let mut n = Net::new(ADM_APDF);
    let m1 = n
        .seen_from("a1", "10.0.1.1:5000", "198.51.100.1:7000")
        .expect("delivered");
    let m2 = n
        .seen_from("a1", "10.0.1.1:5000", "198.51.100.1:7001")
        .expect("delivered");
    let m3 = n
        .seen_from("a1", "10.0.1.1:5000", "198.51.100.2:7000")
        .expect("delivered");
    assert_eq!(m1, m2, "same remote IP, other port: same mapping");
    assert_ne!(m1, m3, "other remote IP: a new mapping");
}

#[test]
fn rfc4787_4_1_address_and_port_dependent_mapping_is_per_remote_endpoint() {
    let mut n = Net::new(APDM_APDF);
    let m1 = n
        .seen_from("a1", "10.0.1.1:5000", "198.51.100.1:7000")
        .expect("delivered");
    let m1_again = n
        .seen_from("a1", "10.0.1.1:5000", "198.51.100.1:7000")
        .expect("delivered");
    let m2 = n
        .seen_from("a1", "10.0.1.1:5000", "198.51.100.1:7001")
        .expect("delivered");
    assert_eq!(m1, m1_again, "the same remote endpoint keeps its mapping");
    assert_ne!(m1, m2, "another remote port: a new mapping");
}

#[test]
fn rfc4787_4_2_1_port_preservation_keeps_the_port_until_it_is_taken() {
    let mut n = Net::new(&format!("{EIM_APDF}\nport_preservation = true"));
    let m1 = n
        .seen_from("a1", "10.0.1.1:5000", "198.51.100.1:7000")
        .expect("delivered");
    assert_eq!(m1, a("198.51.100.10:5000"));
    // a2 uses the same internal port: the external one is taken, so another is chosen.
    let m2 = n
        .seen_from("a2", "10.0.1.2:5000", "198.51.100.1:7000")
        .expect("delivered");
    assert_eq!(m2.ip(), m1.ip());
    assert_ne!(m2.port(), 5000);

    let mut n = Net::new(EIM_APDF);
    let m = n
        .seen_from("a1", "10.0.1.1:5000", "198.51.100.1:7000")
        .expect("delivered");
    assert_ne!(
        m.port(),
        5000,
        "without preservation the NAT picks (seeded, so this is stable)"
    );
}

// ---- Filtering (RFC 4787 §5) -----------------------------------------------------------------

/// a1 sends to x:7000; then x:7000, x:7001 and y:7000 each try to reach the mapping.
fn filtering_outcome(nat: &str) -> [bool; 3] {
    let mut n = Net::new(nat);
    let mapped = n
        .seen_from("a1", "10.0.1.1:5000", "198.51.100.1:7000")
        .expect("delivered");
    let m = mapped.to_string();
    let tries = [
        ("x", "198.51.100.1:7000"),
        ("x", "198.51.100.1:7001"),
        ("y", "198.51.100.2:7000"),
    ]
    .map(|(host, from)| {
        let d = n.send(host, from, &m, b"inbound");
        if let Some(d) = d.first() {
            assert_eq!(d.to, a("10.0.1.1:5000"), "delivered to the mapping's owner");
            assert_eq!(d.from, a(from), "the source is not rewritten inbound");
        }
        !d.is_empty()
    });
    // Unsolicited traffic to a port with no mapping never gets in.
    let before = n.nat_dropped();
    assert!(
        n.send("y", "198.51.100.2:7000", "198.51.100.10:1", b"x")
            .is_empty()
    );
    assert_eq!(n.nat_dropped(), before + 1);
    tries
}

#[test]
fn rfc4787_5_endpoint_independent_filtering_admits_anyone() {
    assert_eq!(filtering_outcome(EIM_EIF), [true, true, true]);
}

#[test]
fn rfc4787_5_address_dependent_filtering_admits_the_contacted_ip_from_any_port() {
    assert_eq!(filtering_outcome(EIM_ADF), [true, true, false]);
}

#[test]
fn rfc4787_5_address_and_port_dependent_filtering_admits_only_the_contacted_endpoint() {
    assert_eq!(filtering_outcome(EIM_APDF), [true, false, false]);
}

// ---- Mapping refresh and timeout (RFC 4787 §4.3) ---------------------------------------------

#[test]
fn rfc4787_4_3_mapping_expires_after_the_timeout_and_only_outbound_refreshes_it() {
    let mut n = Net::new(&format!("{EIM_EIF}\nudp_timeout_s = 30"));
    let m = n
        .seen_from("a1", "10.0.1.1:5000", "198.51.100.1:7000")
        .expect("delivered")
        .to_string();
    // Inbound traffic every 10 s does not refresh (REQ-6 asks only for outbound refresh).
    for _ in 0..2 {
        n.wait(Duration::from_secs(10));
        assert_eq!(n.send("x", "198.51.100.1:7000", &m, b"in").len(), 1);
    }
    n.wait(Duration::from_secs(10));
    assert!(
        n.send("x", "198.51.100.1:7000", &m, b"in").is_empty(),
        "30 s after the last outbound datagram the mapping is gone"
    );
    assert_eq!(n.sim.nat_stats("nat").expect("nat").dropped_no_mapping, 1);

    // Outbound every 20 s keeps it for a minute and more, on the same port.
    let mut n = Net::new(&format!("{EIM_EIF}\nudp_timeout_s = 30"));
    let first = n
        .seen_from("a1", "10.0.1.1:5000", "198.51.100.1:7000")
        .expect("delivered");
    for _ in 0..4 {
        n.wait(Duration::from_secs(20));
        assert_eq!(
            n.seen_from("a1", "10.0.1.1:5000", "198.51.100.1:7000"),
            Some(first)
        );
    }
    n.wait(Duration::from_secs(29));
    assert_eq!(
        n.send("x", "198.51.100.1:7000", &first.to_string(), b"in")
            .len(),
        1
    );
}

// ---- Hairpinning (RFC 4787 §6) ---------------------------------------------------------------

#[test]
fn rfc4787_6_hairpinning_delivers_inside_with_the_external_source() {
    let mut n = Net::new(&format!("{EIM_EIF}\nhairpinning = true"));
    let m1 = n
        .seen_from("a1", "10.0.1.1:5000", "198.51.100.1:7000")
        .expect("delivered");
    let m2 = n
        .seen_from("a2", "10.0.1.2:6000", "198.51.100.1:7000")
        .expect("delivered");
    let d = n.send("a1", "10.0.1.1:5000", &m2.to_string(), b"hairpin");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].to, a("10.0.1.2:6000"));
    // REQ-9: the receiver sees the sender's external mapping, not its private address.
    assert_eq!(d[0].from, m1);
    assert_eq!(n.sim.nat_stats("nat").expect("nat").hairpinned, 1);
}

#[test]
fn rfc4787_6_without_hairpinning_the_public_address_is_unreachable_from_inside() {
    let mut n = Net::new(EIM_EIF);
    n.seen_from("a1", "10.0.1.1:5000", "198.51.100.1:7000")
        .expect("delivered");
    let m2 = n
        .seen_from("a2", "10.0.1.2:6000", "198.51.100.1:7000")
        .expect("delivered");
    assert!(
        n.send("a1", "10.0.1.1:5000", &m2.to_string(), b"hairpin")
            .is_empty()
    );
    assert_eq!(n.sim.nat_stats("nat").expect("nat").dropped_no_hairpin, 1);
}

// ---- UDP blocking, routing -------------------------------------------------------------------

#[test]
fn block_udp_drops_everything_both_ways() {
    let mut n = Net::new(&format!("{EIM_EIF}\nblock_udp = true"));
    assert_eq!(
        n.seen_from("a1", "10.0.1.1:5000", "198.51.100.1:7000"),
        None
    );
    assert!(
        n.send("x", "198.51.100.1:7000", "198.51.100.10:5000", b"in")
            .is_empty()
    );
    assert_eq!(n.sim.nat_stats("nat").expect("nat").dropped_blocked, 2);
    // The LAN itself still works.
    assert_eq!(
        n.send("a1", "10.0.1.1:5000", "10.0.1.2:6000", b"lan").len(),
        1
    );
}

#[test]
fn private_addresses_are_reachable_only_on_their_own_network() {
    let mut n = Net::new(EIM_EIF);
    assert!(
        n.send("x", "198.51.100.1:7000", "10.0.1.1:5000", b"leak?")
            .is_empty()
    );
    assert_eq!(n.sim.stats().no_route, 1);
    // A source address the host does not have is refused.
    assert!(
        n.send("x", "198.51.100.9:7000", "198.51.100.2:7000", b"spoof")
            .is_empty()
    );
    assert_eq!(n.sim.stats().bad_source, 1);
    // Same network: direct, one hop, no translation.
    let d = n.send("a1", "10.0.1.1:5000", "10.0.1.2:6000", b"lan");
    assert_eq!(d[0].from, a("10.0.1.1:5000"));
}

#[test]
fn a_hop_takes_the_network_latency_and_a_nat_adds_one_hop() {
    let mut n = Net::new(EIM_EIF);
    let t0 = n.now;
    n.send("a1", "10.0.1.1:5000", "10.0.1.2:6000", b"lan");
    assert_eq!(n.now - t0, Duration::from_millis(10));
    let t1 = n.now;
    n.send("a1", "10.0.1.1:5000", "198.51.100.1:7000", b"out");
    assert_eq!(
        n.now - t1,
        Duration::from_millis(20),
        "lan hop + internet hop"
    );
}

// ---- The table alone -------------------------------------------------------------------------

#[test]
fn nat_table_alone_filters_and_expires() {
    use ice_netsim::nat::{NatConfig, NatDrop, NatTable};
    use ice_netsim::topology::Behaviour;
    // The base of virtual time: any instant will do.
    #[allow(clippy::disallowed_methods)]
    let t0 = Instant::now();
    let mut nat = NatTable::new(
        NatConfig {
            public_ip: "203.0.113.1".parse().expect("ip"),
            mapping: Behaviour::EndpointIndependent,
            filtering: Behaviour::AddressDependent,
            port_preservation: true,
            hairpinning: false,
            udp_timeout: Duration::from_secs(5),
            block_udp: false,
            block_tcp: false,
            tcp_timeout: Duration::from_secs(7440),
        },
        [0; 32],
    );
    let ext = nat
        .outbound(t0, a("10.0.0.1:4000"), a("192.0.2.1:3478"))
        .expect("mapped");
    assert_eq!(ext, a("203.0.113.1:4000"));
    assert_eq!(
        nat.inbound(t0, a("192.0.2.1:9999"), ext),
        Ok(a("10.0.0.1:4000"))
    );
    assert_eq!(
        nat.inbound(t0, a("192.0.2.2:3478"), ext),
        Err(NatDrop::Filtered)
    );
    assert_eq!(
        nat.inbound(t0, a("192.0.2.1:3478"), a("203.0.113.1:4001")),
        Err(NatDrop::NoMapping)
    );
    assert_eq!(nat.mapping_count(t0), 1);
    assert_eq!(nat.next_expiry(t0), Some(t0 + Duration::from_secs(5)));
    let later = t0 + Duration::from_secs(5);
    assert_eq!(
        nat.inbound(later, a("192.0.2.1:3478"), ext),
        Err(NatDrop::NoMapping)
    );
    assert_eq!(nat.mapping_count(later), 0);
}
