//! TCP in the simulator: the hosts' stacks (RFC 9293), their segments through links and the
//! NATs' RFC 5382 tables, the node interface, captures and determinism.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_netsim::tcp_stack::{MAX_SEND_BUFFER, SYN_RETRIES, TcpState};
use ice_netsim::{
    HostId, Node, Sim, TcpCommand, TcpConnId, TcpEvent, TcpFailure, Topology, Transmit,
};

/// Two LANs behind two NATs (`nat_a`, `nat_b`, configured by their keys), public hosts `s`
/// and `s2`, and per-network link keys for `lan_a` (`lan_a_link`).
fn topology(seed: u64, nat_a: &str, nat_b: &str, lan_a_link: &str) -> Topology {
    let script = format!(
        r#"
format = 1
name = "tcp under test"
seed = {seed}
[link]
latency_ms = 10
[[network]]
name = "internet"
cidr = "198.51.100.0/24"
[[network]]
name = "lan_a"
cidr = "10.0.1.0/24"
{lan_a_link}
[[network]]
name = "lan_b"
cidr = "10.0.2.0/24"
[[nat]]
name = "nat_a"
inside = "lan_a"
outside = "internet"
public_ip = "198.51.100.10"
{nat_a}
[[nat]]
name = "nat_b"
inside = "lan_b"
outside = "internet"
public_ip = "198.51.100.20"
{nat_b}
[[host]]
name = "a"
network = "lan_a"
ip = "10.0.1.1"
[[host]]
name = "a2"
network = "lan_a"
ip = "10.0.1.2"
[[host]]
name = "b"
network = "lan_b"
ip = "10.0.2.1"
[[host]]
name = "s"
network = "internet"
ip = "198.51.100.1"
[[host]]
name = "s2"
network = "internet"
ip = "198.51.100.2"
[[agent]]
host = "a"
impl = "none"
role = "initiator"
[[agent]]
host = "b"
impl = "none"
role = "responder"
[expect]
outcome = "connected"
"#
    );
    Topology::parse("sim_tcp.toml", &script).expect("test topology parses")
}

const EIM_EIF: &str = r#"mapping = "endpoint-independent"
filtering = "endpoint-independent"
port_preservation = true"#;
const EIM_APDF: &str = r#"mapping = "endpoint-independent"
filtering = "address-and-port-dependent"
port_preservation = true"#;

fn a(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

/// An event, when and where it happened.
type Logged = (Duration, HostId, TcpEvent);

/// A simulated network driven by hand: commands in, events logged.
struct Net {
    sim: Sim,
    now: Instant,
    events: Vec<Logged>,
    /// Events already returned by [`Net::run_until`].
    claimed: Vec<usize>,
}

impl Net {
    fn new(t: &Topology) -> Net {
        // The base of virtual time: any instant will do.
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        Net {
            sim: Sim::new(t, now),
            now,
            events: Vec::new(),
            claimed: Vec::new(),
        }
    }

    fn with(nat_a: &str, nat_b: &str) -> Net {
        Net::new(&topology(1, nat_a, nat_b, ""))
    }

    fn h(&self, name: &str) -> HostId {
        self.sim.host(name).expect("host exists")
    }

    fn elapsed(&self) -> Duration {
        self.now.saturating_duration_since(self.sim.base())
    }

    fn drain(&mut self) {
        while let Some((h, e)) = self.sim.poll_tcp_event() {
            self.events.push((self.elapsed(), h, e));
        }
    }

    fn cmd(&mut self, host: &str, cmd: TcpCommand) {
        let h = self.h(host);
        self.sim.tcp_command(self.now, h, cmd);
        self.drain();
    }

    fn listen(&mut self, host: &str, addr: &str) {
        self.cmd(host, TcpCommand::Listen { addr: a(addr) });
    }

    fn connect(&mut self, host: &str, token: u64, from: &str, to: &str) {
        self.cmd(
            host,
            TcpCommand::Connect {
                token,
                from: a(from),
                to: a(to),
            },
        );
    }

    /// Runs the network for `d` of virtual time.
    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.sim.poll_timeout().filter(|t| *t <= end) {
            self.now = self.now.max(t);
            self.sim.handle_timeout(t);
            self.drain();
        }
        self.now = end;
    }

    /// Runs until an event not yet returned matches `pred` (or `limit` passes); the first.
    fn run_until(
        &mut self,
        limit: Duration,
        pred: impl Fn(HostId, &TcpEvent) -> bool,
    ) -> Option<(Duration, HostId, TcpEvent)> {
        let end = self.now + limit;
        loop {
            let found = (0..self.events.len()).find(|i| {
                let (_, h, e) = &self.events[*i];
                !self.claimed.contains(i) && pred(*h, e)
            });
            if let Some(i) = found {
                self.claimed.push(i);
                return Some(self.events[i].clone());
            }
            match self.sim.poll_timeout().filter(|t| *t <= end) {
                Some(t) => {
                    self.now = self.now.max(t);
                    self.sim.handle_timeout(t);
                    self.drain();
                }
                None => {
                    self.now = end;
                    return None;
                }
            }
        }
    }

    fn connected(&mut self, host: &str, token: u64) -> (TcpConnId, SocketAddr) {
        let h = self.h(host);
        match self.run_until(Duration::from_secs(300), |eh, e| {
            eh == h && matches!(e, TcpEvent::Connected { token: t, .. } | TcpEvent::ConnectFailed { token: t, .. } if *t == token)
        }) {
            Some((_, _, TcpEvent::Connected { conn, local, .. })) => (conn, local),
            other => panic!("{host} token {token}: {other:?}"),
        }
    }

    fn accepted(&mut self, host: &str) -> (TcpConnId, SocketAddr) {
        let h = self.h(host);
        match self.run_until(Duration::from_secs(300), |eh, e| {
            eh == h && matches!(e, TcpEvent::Accepted { .. })
        }) {
            Some((_, _, TcpEvent::Accepted { conn, remote, .. })) => (conn, remote),
            other => panic!("{host}: nothing accepted: {other:?}"),
        }
    }

    fn failed(&mut self, host: &str, token: u64) -> (Duration, TcpFailure) {
        let h = self.h(host);
        match self.run_until(Duration::from_secs(600), |eh, e| {
            eh == h && matches!(e, TcpEvent::Connected { token: t, .. } | TcpEvent::ConnectFailed { token: t, .. } if *t == token)
        }) {
            Some((at, _, TcpEvent::ConnectFailed { reason, .. })) => (at, reason),
            other => panic!("{host} token {token}: expected a failure, got {other:?}"),
        }
    }

    /// Every byte of `conn`'s Data events so far.
    fn received(&self, conn: TcpConnId) -> Vec<u8> {
        self.events
            .iter()
            .filter_map(|(_, _, e)| match e {
                TcpEvent::Data { conn: c, data } if *c == conn => Some(data.as_slice()),
                _ => None,
            })
            .flatten()
            .copied()
            .collect()
    }

    fn send(&mut self, host: &str, conn: TcpConnId, data: &[u8]) {
        self.cmd(
            host,
            TcpCommand::Send {
                conn,
                data: data.to_vec(),
            },
        );
    }
}

#[test]
fn a_handshake_on_one_lan_carries_data_both_ways() {
    let mut n = Net::with(EIM_EIF, EIM_EIF);
    n.listen("a2", "10.0.1.2:5000");
    n.connect("a", 1, "10.0.1.1:0", "10.0.1.2:5000");
    let (ca, local) = n.connected("a", 1);
    let (cb, remote) = n.accepted("a2");
    assert_eq!(local, remote, "the acceptor sees the connector's endpoint");
    assert!(local.port() >= 49_152, "an ephemeral port: {local}");
    // One round trip (two hops of 10 ms) for the handshake.
    let connected_at = n.events[0].0;
    assert_eq!(connected_at, Duration::from_millis(20));
    n.send("a", ca, b"hello");
    n.send("a2", cb, b"world");
    n.run_for(Duration::from_secs(1));
    assert_eq!(n.received(cb), b"hello");
    assert_eq!(n.received(ca), b"world");
    let info = n.sim.tcp_connection(n.h("a"), ca).expect("live");
    assert_eq!(info.state, TcpState::Established);
    assert_eq!(info.queued, 0, "everything acknowledged");
    assert_eq!(n.sim.stats().sent, 0, "no UDP");
    assert_eq!(n.sim.stats().tcp.lost, 0);
}

#[test]
fn a_connection_through_an_endpoint_independent_nat_reaches_a_public_listener() {
    let mut n = Net::with(EIM_APDF, EIM_APDF);
    n.listen("s", "198.51.100.1:443");
    n.connect("a", 1, "10.0.1.1:40000", "198.51.100.1:443");
    let (ca, _) = n.connected("a", 1);
    let (cs, remote) = n.accepted("s");
    assert_eq!(
        remote,
        a("198.51.100.10:40000"),
        "the NAT's mapping, port kept"
    );
    n.send("s", cs, b"from the server");
    n.send("a", ca, b"from inside");
    n.run_for(Duration::from_secs(1));
    assert_eq!(n.received(ca), b"from the server");
    assert_eq!(n.received(cs), b"from inside");
    let nat = n.sim.tcp_nat_stats("nat_a").expect("nat");
    assert_eq!(nat.mappings_created, 1);
    assert!(nat.outbound >= 3 && nat.inbound >= 2, "{nat:?}");
    assert_eq!(
        n.sim.nat_stats("nat_a").expect("nat").outbound,
        0,
        "the UDP table saw nothing"
    );
}

/// `a` holds a mapping on port 7000 (a connection to `s`) and listens there; `s2`, which `a`
/// never contacted, connects to the mapping.
fn unsolicited(nat_a: &str) -> (Net, Option<TcpFailure>) {
    let mut n = Net::with(nat_a, EIM_EIF);
    n.listen("s", "198.51.100.1:443");
    n.listen("a", "10.0.1.1:7000");
    n.connect("a", 1, "10.0.1.1:7000", "198.51.100.1:443");
    n.connected("a", 1);
    n.connect("s2", 2, "198.51.100.2:0", "198.51.100.10:7000");
    let h = n.h("s2");
    let outcome = n.run_until(Duration::from_secs(600), |eh, e| {
        eh == h
            && matches!(
                e,
                TcpEvent::Connected { .. } | TcpEvent::ConnectFailed { .. }
            )
    });
    let failure = match outcome {
        Some((_, _, TcpEvent::ConnectFailed { reason, .. })) => Some(reason),
        Some((_, _, TcpEvent::Connected { .. })) => None,
        other => panic!("{other:?}"),
    };
    (n, failure)
}

#[test]
fn an_unsolicited_syn_is_dropped_by_port_dependent_filtering_and_passes_a_full_cone() {
    // RFC 5382 REQ-3/REQ-4: address-and-port-dependent filtering drops the stranger's SYN;
    // the SYN and its retransmissions all die at the NAT, so the connect times out.
    let (n, failure) = unsolicited(EIM_APDF);
    assert_eq!(failure, Some(TcpFailure::TimedOut));
    let nat = n.sim.tcp_nat_stats("nat_a").expect("nat");
    assert_eq!(nat.dropped_filtered, u64::from(SYN_RETRIES) + 1, "{nat:?}");

    // Endpoint-independent filtering (a "full cone"): the SYN reaches a's listener.
    let (mut n, failure) = unsolicited(EIM_EIF);
    assert_eq!(failure, None);
    let (_, remote) = n.accepted("a");
    assert_eq!(remote.ip(), a("198.51.100.2:1").ip(), "s2, untranslated");
    assert_eq!(
        n.sim.tcp_nat_stats("nat_a").expect("nat").dropped_filtered,
        0
    );
}

/// Each side holds port 6000 open to `s` (so each NAT has a mapping, learned by `s` as a STUN
/// server would tell it), then both connect from 6000 to the other's public mapping, `b`
/// `delay` after `a`. Returns the net and both public mappings.
fn simultaneous_open(filtering: &str, delay: Duration) -> (Net, TcpConnId, TcpConnId) {
    let nat = format!(
        "mapping = \"endpoint-independent\"\nfiltering = \"{filtering}\"\nport_preservation = true"
    );
    let mut n = Net::with(&nat, &nat);
    n.listen("s", "198.51.100.1:3478");
    n.listen("a", "10.0.1.1:6000");
    n.listen("b", "10.0.2.1:6000");
    n.connect("a", 1, "10.0.1.1:6000", "198.51.100.1:3478");
    let (_, pub_a) = n.accepted("s");
    n.connect("b", 1, "10.0.2.1:6000", "198.51.100.1:3478");
    let (_, pub_b) = n.accepted("s");
    assert_eq!(
        (pub_a, pub_b),
        (a("198.51.100.10:6000"), a("198.51.100.20:6000"))
    );
    n.connect("a", 2, "10.0.1.1:6000", &pub_b.to_string());
    n.run_for(delay);
    n.connect("b", 2, "10.0.2.1:6000", &pub_a.to_string());
    let (ca, _) = n.connected("a", 2);
    let (cb, _) = n.connected("b", 2);
    assert!(
        !n.events.iter().any(
            |(_, _, e)| matches!(e, TcpEvent::Accepted { conn, .. } if *conn == ca || *conn == cb)
        ),
        "both ends opened actively: no listener took the SYN"
    );
    n.send("a", ca, b"ping");
    n.send("b", cb, b"pong");
    n.run_for(Duration::from_secs(2));
    assert_eq!(n.received(cb), b"ping");
    assert_eq!(n.received(ca), b"pong");
    (n, ca, cb)
}

#[test]
fn simultaneous_open_through_two_endpoint_independent_nats() {
    // The SYNs cross in the internet: each NAT sees its host's SYN go out before the
    // peer's comes in (RFC 5382 REQ-2), whatever the filtering.
    for filtering in ["endpoint-independent", "address-and-port-dependent"] {
        let (n, _, _) = simultaneous_open(filtering, Duration::ZERO);
        for nat in ["nat_a", "nat_b"] {
            let s = n.sim.tcp_nat_stats(nat).expect("nat");
            assert_eq!(s.dropped_filtered, 0, "{filtering} {nat}: {s:?}");
        }
        for h in ["a", "b"] {
            assert!(n.sim.tcp_stats(n.h(h)).expect("host").established >= 2);
        }
    }
}

#[test]
fn simultaneous_open_with_port_dependent_filtering_survives_the_first_syn_being_dropped() {
    // a's SYN reaches nat_b before b sent anything to a: filtered (REQ-3). b's own SYN then
    // passes nat_a (a's SYN opened the way there) and a, in SYN-SENT, answers it with a
    // SYN-ACK: both ends report Connected.
    let (n, _, _) = simultaneous_open("address-and-port-dependent", Duration::from_millis(500));
    let b = n.sim.tcp_nat_stats("nat_b").expect("nat");
    assert_eq!(b.dropped_filtered, 1, "{b:?}");
    let a = n.sim.tcp_nat_stats("nat_a").expect("nat");
    assert_eq!(a.dropped_filtered, 0, "{a:?}");
}

#[test]
fn a_mebibyte_over_a_lossy_link_arrives_intact_and_in_order() {
    let t = topology(7, EIM_EIF, EIM_EIF, "loss = 0.1\njitter_ms = 5");
    let mut n = Net::new(&t);
    n.sim.enable_capture();
    n.listen("a2", "10.0.1.2:5000");
    n.connect("a", 1, "10.0.1.1:0", "10.0.1.2:5000");
    let (ca, _) = n.connected("a", 1);
    let (cb, _) = n.accepted("a2");
    let mut x: u32 = 12_345;
    let data: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        })
        .collect();
    n.send("a", ca, &data);
    n.cmd("a", TcpCommand::Close { conn: ca });
    let h = n.h("a2");
    let closed = n.run_until(Duration::from_secs(3600), |eh, e| {
        eh == h && matches!(e, TcpEvent::Closed { conn } if *conn == cb)
    });
    assert!(
        closed.is_some(),
        "the FIN arrived after all the data: {} of {} bytes, {:?} {:?} {:?}",
        n.received(cb).len(),
        data.len(),
        n.sim.tcp_stats(n.h("a")),
        n.sim.tcp_stats(n.h("a2")),
        n.sim.tcp_connection(n.h("a"), ca)
    );
    eprintln!(
        "1 MiB in {:?} of virtual time: {:?}",
        n.elapsed(),
        n.sim.tcp_stats(n.h("a"))
    );
    let got = n.received(cb);
    assert_eq!(got.len(), data.len());
    assert!(got == data, "the bytes arrived in order, unchanged");
    let stats = n.sim.tcp_stats(n.h("a")).expect("host");
    assert!(stats.retransmitted > 0 && stats.timeouts > 0, "{stats:?}");
    assert!(n.sim.stats().tcp.lost > 0);
    let receiver = n.sim.tcp_stats(n.h("a2")).expect("host");
    assert!(receiver.out_of_order > 0, "{receiver:?}");
}

/// A node that speaks TCP only, scripted: its first commands, and a reply to the peer's FIN.
struct Hand {
    start: Option<Instant>,
    commands: Vec<TcpCommand>,
    on_connect: Vec<u8>,
    on_close: Vec<u8>,
    events: Vec<TcpEvent>,
}

impl Hand {
    fn new(start: Instant, commands: Vec<TcpCommand>, on_connect: &[u8], on_close: &[u8]) -> Hand {
        Hand {
            start: Some(start),
            commands,
            on_connect: on_connect.to_vec(),
            on_close: on_close.to_vec(),
            events: Vec::new(),
        }
    }

    fn data(&self) -> Vec<u8> {
        self.events
            .iter()
            .filter_map(|e| match e {
                TcpEvent::Data { data, .. } => Some(data.as_slice()),
                _ => None,
            })
            .flatten()
            .copied()
            .collect()
    }

    fn closed(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, TcpEvent::Closed { .. }))
    }
}

impl Node for Hand {
    fn handle_datagram(&mut self, _: Instant, _: SocketAddr, _: SocketAddr, _: &[u8]) {}
    fn handle_timeout(&mut self, _: Instant) {
        self.start = None;
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.start
    }
    fn poll_tcp(&mut self) -> Option<TcpCommand> {
        (!self.commands.is_empty()).then(|| self.commands.remove(0))
    }
    fn handle_tcp(&mut self, _: Instant, event: TcpEvent) {
        match &event {
            TcpEvent::Connected { conn, .. } if !self.on_connect.is_empty() => {
                let data = std::mem::take(&mut self.on_connect);
                self.commands.push(TcpCommand::Send { conn: *conn, data });
                self.commands.push(TcpCommand::Close { conn: *conn });
            }
            TcpEvent::Closed { conn } => {
                let data = std::mem::take(&mut self.on_close);
                if !data.is_empty() {
                    self.commands.push(TcpCommand::Send { conn: *conn, data });
                }
                self.commands.push(TcpCommand::Close { conn: *conn });
            }
            _ => {}
        }
        self.events.push(event);
    }
}

#[test]
fn fin_both_ways_through_the_node_interface() {
    let t = topology(3, EIM_APDF, EIM_APDF, "");
    #[allow(clippy::disallowed_methods)]
    let t0 = Instant::now();
    let mut sim = Sim::new(&t, t0);
    let (ha, hs) = (sim.host("a").expect("a"), sim.host("s").expect("s"));
    let mut client = Hand::new(
        t0,
        vec![TcpCommand::Connect {
            token: 9,
            from: a("10.0.1.1:0"),
            to: a("198.51.100.1:80"),
        }],
        b"GET /",
        b"",
    );
    let mut server = Hand::new(
        t0,
        vec![TcpCommand::Listen {
            addr: a("198.51.100.1:80"),
        }],
        b"",
        b"200 OK",
    );
    let end = sim
        .run_until(
            t0 + Duration::from_secs(120),
            &mut [(ha, &mut client), (hs, &mut server)],
            |_| false,
        )
        .expect("no stall");
    assert_eq!(end, t0 + Duration::from_secs(120));
    assert_eq!(server.data(), b"GET /");
    assert!(server.closed(), "the client's FIN, after its data");
    assert_eq!(client.data(), b"200 OK");
    assert!(client.closed(), "the server's FIN, after its data");
    // Both connections are gone: the server's at the ACK of its FIN (LAST-ACK), the client's
    // after TIME-WAIT.
    for (h, e) in [(ha, &client.events), (hs, &server.events)] {
        let conn = e
            .iter()
            .find_map(|e| match e {
                TcpEvent::Connected { conn, .. } | TcpEvent::Accepted { conn, .. } => Some(*conn),
                _ => None,
            })
            .expect("opened");
        assert_eq!(sim.tcp_connection(h, conn), None);
    }
    assert_eq!(sim.stats().tcp.unclaimed_events, 0);
}

#[test]
fn a_syn_to_a_closed_port_is_refused_by_an_rst() {
    let mut n = Net::with(EIM_APDF, EIM_APDF);
    n.connect("a", 5, "10.0.1.1:0", "198.51.100.1:444");
    let (at, reason) = n.failed("a", 5);
    assert_eq!(reason, TcpFailure::Refused);
    assert_eq!(
        at,
        Duration::from_millis(40),
        "one round trip through the NAT"
    );
    assert_eq!(n.sim.tcp_stats(n.h("s")).expect("s").resets_sent, 1);
    // An RST to an established connection: Reset on the other side.
    n.listen("s", "198.51.100.1:443");
    n.connect("a", 6, "10.0.1.1:0", "198.51.100.1:443");
    let (ca, _) = n.connected("a", 6);
    let (cs, _) = n.accepted("s");
    n.cmd("s", TcpCommand::Abort { conn: cs });
    let ha = n.h("a");
    let reset = n.run_until(Duration::from_secs(1), |h, e| {
        h == ha && matches!(e, TcpEvent::Reset { conn, reason: TcpFailure::Reset } if *conn == ca)
    });
    assert!(reset.is_some());
    assert_eq!(n.sim.tcp_connection(ha, ca), None);
}

#[test]
fn block_tcp_makes_a_connect_time_out() {
    let blocked = format!("{EIM_EIF}\nblock_tcp = true");
    let mut n = Net::with(&blocked, EIM_EIF);
    n.listen("s", "198.51.100.1:443");
    n.connect("a", 1, "10.0.1.1:0", "198.51.100.1:443");
    let (at, reason) = n.failed("a", 1);
    assert_eq!(reason, TcpFailure::TimedOut);
    // 1 + 2 + 4 + 8 + 16 + 32 s between the SYNs, then 60 s (the RTO's cap) for the last.
    assert_eq!(at, Duration::from_secs(123));
    let nat = n.sim.tcp_nat_stats("nat_a").expect("nat");
    assert_eq!(nat.dropped_blocked, u64::from(SYN_RETRIES) + 1);
    assert_eq!(n.sim.stats().tcp.nat_dropped, u64::from(SYN_RETRIES) + 1);
}

#[test]
fn an_idle_connection_outlives_tcp_timeout_s_and_loses_its_mapping() {
    let short = format!("{EIM_APDF}\ntcp_timeout_s = 60");
    let mut n = Net::with(&short, EIM_EIF);
    n.listen("s", "198.51.100.1:443");
    n.connect("a", 1, "10.0.1.1:0", "198.51.100.1:443");
    let (ca, _) = n.connected("a", 1);
    let (cs, _) = n.accepted("s");
    n.send("s", cs, b"still there?");
    n.run_for(Duration::from_secs(1));
    assert_eq!(n.received(ca), b"still there?", "within the timeout");
    n.run_for(Duration::from_secs(61));
    n.send("s", cs, b"and now?");
    n.run_for(Duration::from_secs(5));
    assert_eq!(
        n.received(ca),
        b"still there?",
        "the segment died at the NAT"
    );
    let nat = n.sim.tcp_nat_stats("nat_a").expect("nat");
    assert!(nat.dropped_no_mapping >= 1, "{nat:?}");
    assert_eq!(nat.mappings_expired, 1);
}

#[test]
fn hairpinned_tcp_reaches_a_neighbour_through_its_public_mapping() {
    let hairpin = format!("{EIM_EIF}\nhairpinning = true");
    let mut n = Net::with(&hairpin, EIM_EIF);
    n.listen("s", "198.51.100.1:443");
    n.listen("a2", "10.0.1.2:5000");
    n.connect("a2", 1, "10.0.1.2:5000", "198.51.100.1:443");
    n.connected("a2", 1);
    n.connect("a", 2, "10.0.1.1:41000", "198.51.100.10:5000");
    let (ca, _) = n.connected("a", 2);
    let (c2, remote) = n.accepted("a2");
    assert_eq!(
        remote,
        a("198.51.100.10:41000"),
        "a's public mapping (RFC 5382 REQ-8)"
    );
    n.send("a", ca, b"over the hairpin");
    n.run_for(Duration::from_secs(1));
    assert_eq!(n.received(c2), b"over the hairpin");
    assert!(n.sim.tcp_nat_stats("nat_a").expect("nat").hairpinned >= 3);
}

#[test]
fn a_send_over_the_buffer_is_refused_and_counted() {
    let mut n = Net::with(EIM_EIF, EIM_EIF);
    n.listen("a2", "10.0.1.2:5000");
    n.connect("a", 1, "10.0.1.1:0", "10.0.1.2:5000");
    let (ca, _) = n.connected("a", 1);
    n.send("a", ca, &vec![0; MAX_SEND_BUFFER + 1]);
    let stats = n.sim.tcp_stats(n.h("a")).expect("a");
    assert_eq!(stats.send_refused, 1);
    assert_eq!(n.sim.tcp_connection(n.h("a"), ca).expect("live").queued, 0);
    // A command naming no connection is counted, not a panic.
    n.cmd(
        "a",
        TcpCommand::Close {
            conn: TcpConnId(12_345),
        },
    );
    assert_eq!(n.sim.tcp_stats(n.h("a")).expect("a").bad_commands, 1);
}

/// A lossy, jittery transfer with a capture: the event log and every network's pcap bytes.
fn replay(seed: u64) -> (Vec<Logged>, Vec<Vec<u8>>) {
    let t = topology(seed, EIM_APDF, EIM_APDF, "loss = 0.05\njitter_ms = 20");
    let mut n = Net::new(&t);
    n.sim.enable_capture();
    n.listen("s", "198.51.100.1:443");
    n.connect("a", 1, "10.0.1.1:0", "198.51.100.1:443");
    let (ca, _) = n.connected("a", 1);
    let (cs, _) = n.accepted("s");
    n.send("a", ca, &vec![7; 100_000]);
    n.send("s", cs, &vec![9; 30_000]);
    n.cmd("a", TcpCommand::Close { conn: ca });
    n.run_for(Duration::from_secs(120));
    let captures = n.sim.captures().map(|(_, c)| c.bytes().to_vec()).collect();
    (n.events, captures)
}

#[test]
fn the_same_seed_replays_the_same_events_and_the_same_capture_bytes() {
    let (events, captures) = replay(11);
    assert!(events.len() > 10);
    assert!(captures.iter().filter(|c| c.len() > 24).count() >= 2);
    assert_eq!(replay(11), (events.clone(), captures.clone()));
    let (other, _) = replay(12);
    assert_ne!(other, events, "another seed, another run");
}

#[test]
#[ignore = "needs tshark (Debian): run by `cargo xtask ci`'s pcap step; locally \
            `cargo test -p ice-netsim --test sim_tcp -- --ignored`"]
fn captures_decode_as_tcp_in_tshark() {
    let out = std::process::Command::new("tshark")
        .arg("--version")
        .output()
        .expect("tshark is missing: .ci/run installs it (apt-get install tshark)");
    assert!(out.status.success());
    let (_, captures) = replay(5);
    let dir = std::env::temp_dir().join(format!("ice-netsim-tcp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (i, bytes) in captures.iter().enumerate() {
        let path = dir.join(format!("net{i}.pcap"));
        std::fs::write(&path, bytes).expect("write pcap");
        let out = std::process::Command::new("tshark")
            .args(["-n", "-r"])
            .arg(&path)
            .args([
                "-T",
                "fields",
                "-e",
                "frame.protocols",
                "-e",
                "_ws.malformed",
                "-e",
                "tcp.checksum.status",
                "-o",
                "tcp.check_checksum:TRUE",
            ])
            .output()
            .expect("tshark runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in text.lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            assert!(fields[0].starts_with("raw:ip:tcp"), "{line}");
            assert_eq!(
                fields.get(1).copied().unwrap_or(""),
                "",
                "malformed: {line}"
            );
            assert_eq!(
                fields.get(2).copied().unwrap_or(""),
                "1",
                "checksum good: {line}"
            );
        }
        assert_eq!(
            text.lines().count() > 0,
            bytes.len() > 24,
            "every packet decoded"
        );
        if bytes.len() > 24 {
            // tshark follows the first stream: both directions, the payload bytes counted.
            let out = std::process::Command::new("tshark")
                .args(["-n", "-q", "-r"])
                .arg(&path)
                .args(["-z", "follow,tcp,raw,0"])
                .output()
                .expect("tshark runs");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("Follow: tcp,raw"), "{text}");
            assert!(
                text.contains("Node 0:") && text.contains("Node 1:"),
                "{text}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
