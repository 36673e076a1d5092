//! The test bed of the adapters' unit tests (str0m's, rice-proto's): two hosts on the
//! simulator, on one network or each behind a NAT (one that may drop all UDP), two endpoints
//! driven with their stanzas exchanged at once, and the checks every adapter must pass
//! against ours (connect, agree on the pair, carry data both ways; fail when UDP is blocked).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ice_netsim::{HostId, Node, Sim, Topology};

use crate::runner::config::PeerConfig;
use crate::runner::peer::{Endpoint, PeerStatus};

/// Two hosts, `a` and `b`, on one network.
const ONE_NETWORK: &str = r#"
format = 1
name = "two hosts on one network"
[link]
latency_ms = 5
[[network]]
name = "lan"
cidr = "10.0.0.0/24"
[[host]]
name = "a"
network = "lan"
ip = "10.0.0.1"
[[host]]
name = "b"
network = "lan"
ip = "10.0.0.2"
[[agent]]
host = "a"
impl = "any"
role = "initiator"
[[agent]]
host = "b"
impl = "any"
role = "responder"
[expect]
outcome = "connected"
"#;

/// `a` and `b` each behind an endpoint-independent-mapping, port-restricted NAT, a STUN
/// server on the internet; `block` is written into NAT b's section.
fn behind_nats(block: bool) -> String {
    format!(
        r#"
format = 1
name = "both behind port-restricted cone NATs"
[link]
latency_ms = 10
[[network]]
name = "internet"
cidr = "198.51.100.0/24"
[[network]]
name = "lan-a"
cidr = "10.0.1.0/24"
[[network]]
name = "lan-b"
cidr = "10.0.2.0/24"
[[nat]]
name = "nat-a"
inside = "lan-a"
outside = "internet"
public_ip = "198.51.100.10"
mapping = "endpoint-independent"
filtering = "address-and-port-dependent"
port_preservation = true
[[nat]]
name = "nat-b"
inside = "lan-b"
outside = "internet"
public_ip = "198.51.100.20"
mapping = "endpoint-independent"
filtering = "address-and-port-dependent"
block_udp = {block}
[[host]]
name = "a"
network = "lan-a"
ip = "10.0.1.1"
[[host]]
name = "b"
network = "lan-b"
ip = "10.0.2.1"
[[host]]
name = "stun"
network = "internet"
ip = "198.51.100.100"
service = {{ kind = "stun", port = 3478 }}
[[agent]]
host = "a"
impl = "any"
role = "initiator"
stun = ["stun:3478"]
[[agent]]
host = "b"
impl = "any"
role = "responder"
stun = ["stun:3478"]
[expect]
outcome = "connected"
"#
    )
}

/// The STUN server of [`behind_nats`].
pub(super) const STUN: &str = "198.51.100.100:3478";

/// Which topology a test runs on.
#[derive(Debug, Clone, Copy)]
pub(super) enum Net {
    /// [`ONE_NETWORK`].
    OneNetwork,
    /// [`behind_nats`], open.
    BehindNats,
    /// [`behind_nats`], NAT b dropping all UDP.
    Blocked,
}

/// A simulator, its two hosts and the start of virtual time.
pub(super) struct Bed {
    pub(super) sim: Sim,
    pub(super) a: HostId,
    pub(super) b: HostId,
    pub(super) now: Instant,
    stun: bool,
}

impl Bed {
    pub(super) fn new(net: Net) -> Bed {
        let script = match net {
            Net::OneNetwork => ONE_NETWORK.to_owned(),
            Net::BehindNats => behind_nats(false),
            Net::Blocked => behind_nats(true),
        };
        let topology = Topology::parse("unit.toml", &script).expect("test topology parses");
        // The base of virtual time: any instant will do.
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let sim = Sim::new(&topology, now);
        let a = sim.host("a").expect("host a");
        let b = sim.host("b").expect("host b");
        Bed {
            sim,
            a,
            b,
            now,
            stun: !matches!(net, Net::OneNetwork),
        }
    }

    /// The configuration of the peer on `host`.
    pub(super) fn config(&self, host: HostId, controlling: bool, seed: u8) -> PeerConfig {
        let host_ips: Vec<IpAddr> = self.sim.host_ips(host);
        PeerConfig {
            controlling,
            host_ips,
            stun: if self.stun {
                vec![STUN.parse().expect("address")]
            } else {
                vec![]
            },
            turn: vec![],
            turn_streams: vec![],
            share: Default::default(),
            components: 1,
            seed: [seed; 32],
            tls_ca_seed: [seed; 32],
            start: self.now,
            trickle: true,
            tcp: vec![],
            local_jid: crate::runner::signal::default_jids(controlling).0,
            peer_jid: crate::runner::signal::default_jids(controlling).1,
        }
    }

    /// Runs both endpoints, exchanging their stanzas at once (as XML text), until `done`
    /// or `limit` of virtual time from the start; returns whether `done` was reached.
    /// Panics on a signalling error.
    pub(super) fn run<A: Endpoint, B: Endpoint>(
        &mut self,
        a: &mut A,
        b: &mut B,
        limit: Duration,
        mut done: impl FnMut(&mut A, &mut B) -> bool,
    ) -> bool {
        let deadline = self.sim.base() + limit;
        loop {
            let mut moved = true;
            while moved {
                moved = false;
                while let Some(x) = a.poll_stanza() {
                    b.handle_stanza(self.now, &x);
                    moved = true;
                }
                while let Some(x) = b.poll_stanza() {
                    a.handle_stanza(self.now, &x);
                    moved = true;
                }
            }
            if let Some(e) = a.poll_error().or_else(|| b.poll_error()) {
                panic!("signalling error: {e}");
            }
            let (ha, hb) = (self.a, self.b);
            {
                // What the signalling (or a `send_data`) made the peers send goes out now.
                let mut nodes: [(HostId, &mut dyn Node); 2] = [(ha, a), (hb, b)];
                self.sim.step(self.now, &mut nodes).expect("no stall");
            }
            if done(a, b) {
                return true;
            }
            let mut nodes: [(HostId, &mut dyn Node); 2] = [(ha, a), (hb, b)];
            match self.sim.next_time(&nodes) {
                Some(t) if t <= deadline => {
                    self.now = self.now.max(t);
                    self.sim.step(self.now, &mut nodes).expect("no stall");
                }
                _ => return done(a, b),
            }
        }
    }
}

/// Connects `a` and `b`, checks they agree on the pair, and sends a datagram each way.
pub(super) fn connect_and_exchange<A: Endpoint, B: Endpoint>(bed: &mut Bed, a: &mut A, b: &mut B) {
    let connected = |p: &PeerStatus| matches!(p, PeerStatus::Connected(_));
    let ok = bed.run(a, b, Duration::from_secs(30), |a, b| {
        connected(&a.status()) && connected(&b.status())
    });
    assert!(ok, "not connected: a {:?}, b {:?}", a.status(), b.status());
    let (PeerStatus::Connected(pa), PeerStatus::Connected(pb)) = (a.status(), b.status()) else {
        unreachable!("checked above")
    };
    assert_eq!(
        (pa.local, pa.remote),
        (pb.remote, pb.local),
        "a {pa:?}, b {pb:?}"
    );
    assert_eq!((pa.protocol.as_str(), pb.protocol.as_str()), ("udp", "udp"));
    assert!(a.checks_sent() > 0 && b.checks_sent() > 0);

    let limit = bed.now - bed.sim.base() + Duration::from_secs(2);
    a.send_data(bed.now, b"from a").expect("a sends");
    let mut got = None;
    assert!(bed.run(a, b, limit, |_, b| {
        got = got.take().or_else(|| b.poll_data());
        got.is_some()
    }));
    assert_eq!(got.as_deref(), Some(&b"from a"[..]));
    let limit = bed.now - bed.sim.base() + Duration::from_secs(2);
    b.send_data(bed.now, b"from b").expect("b sends");
    let mut got = None;
    assert!(bed.run(a, b, limit, |a, _| {
        got = got.take().or_else(|| a.poll_data());
        got.is_some()
    }));
    assert_eq!(got.as_deref(), Some(&b"from b"[..]));
}

/// Runs `a` and `b` across a NAT that drops all UDP until both report failure.
pub(super) fn both_fail<A: Endpoint, B: Endpoint>(bed: &mut Bed, a: &mut A, b: &mut B) {
    let failed = |p: &PeerStatus| matches!(p, PeerStatus::Failed(_));
    let ok = bed.run(a, b, Duration::from_secs(90), |a, b| {
        failed(&a.status()) && failed(&b.status())
    });
    assert!(ok, "not failed: a {:?}, b {:?}", a.status(), b.status());
}
