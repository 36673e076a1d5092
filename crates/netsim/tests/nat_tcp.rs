//! RFC 5382 behaviour of the NAT's TCP table, with crafted segments in virtual time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_netsim::nat::{Behaviour, NatConfig, NatDrop, NatTable, TCP_ESTABLISHED_TIMEOUT};
use ice_netsim::nat_tcp::{TCP_TRANSITORY_TIMEOUT, TcpConnState, TcpNatTable};
use ice_netsim::tcp::{TcpFlags, TcpSegment};

use Behaviour::{
    AddressAndPortDependent as Apd, AddressDependent as Ad, EndpointIndependent as Ei,
};

const PUBLIC: &str = "198.51.100.10";
const INSIDE: &str = "10.0.1.1:5000";
const PEER: &str = "203.0.113.7:443";

fn cfg(mapping: Behaviour, filtering: Behaviour) -> NatConfig {
    NatConfig {
        public_ip: PUBLIC.parse().expect("ip"),
        mapping,
        filtering,
        port_preservation: true,
        hairpinning: false,
        udp_timeout: Duration::from_secs(120),
        block_udp: false,
        block_tcp: false,
        tcp_timeout: TCP_ESTABLISHED_TIMEOUT,
    }
}

fn a(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

fn seg(src: &str, dst: &str, flags: TcpFlags) -> TcpSegment {
    TcpSegment::new(a(src), a(dst), flags)
}

const SYN: TcpFlags = TcpFlags::SYN;
fn syn_ack() -> TcpFlags {
    TcpFlags::SYN | TcpFlags::ACK
}

/// The base of virtual time: any instant will do.
fn t0() -> Instant {
    #[allow(clippy::disallowed_methods)]
    Instant::now()
}

/// An outbound SYN from INSIDE to `remote`; the external address it left with.
fn open(nat: &mut TcpNatTable, now: Instant, remote: &str) -> SocketAddr {
    nat.outbound(now, seg(INSIDE, remote, SYN))
        .expect("outbound SYN passes")
        .src
}

/// A full three-way handshake INSIDE -> PEER; the external address.
fn handshake(nat: &mut TcpNatTable, now: Instant) -> SocketAddr {
    let ext = open(nat, now, PEER);
    let back = nat
        .inbound(now, TcpSegment::new(a(PEER), ext, syn_ack()))
        .expect("the SYN-ACK of our SYN gets in");
    assert_eq!(back.dst, a(INSIDE));
    nat.outbound(now, seg(INSIDE, PEER, TcpFlags::ACK))
        .expect("the final ACK");
    ext
}

#[test]
fn an_outbound_syn_creates_a_mapping_and_a_handshake_establishes_it() {
    let t = t0();
    let mut nat = TcpNatTable::new(cfg(Ei, Apd), [1; 32]);
    let ext = open(&mut nat, t, PEER);
    assert_eq!(ext, a(&format!("{PUBLIC}:5000")), "port preserved");
    assert_eq!(nat.mapping_of(t, a(INSIDE), a(PEER)), Some(ext));
    assert_eq!(
        nat.connection_state(t, a(INSIDE), a(PEER)),
        Some(TcpConnState::Opening)
    );
    nat.inbound(t, TcpSegment::new(a(PEER), ext, syn_ack()))
        .expect("reply");
    nat.outbound(t, seg(INSIDE, PEER, TcpFlags::ACK))
        .expect("ack");
    assert_eq!(
        nat.connection_state(t, a(INSIDE), a(PEER)),
        Some(TcpConnState::Established)
    );
    let s = nat.stats();
    assert_eq!((s.mappings_created, s.connections_created), (1, 1));
    assert_eq!((s.outbound, s.inbound), (2, 1));
}

#[test]
fn only_a_syn_creates_state() {
    let t = t0();
    let mut nat = TcpNatTable::new(cfg(Ei, Ei), [1; 32]);
    assert_eq!(
        nat.outbound(t, seg(INSIDE, PEER, TcpFlags::ACK)),
        Err(NatDrop::NoConnection)
    );
    assert_eq!(
        nat.outbound(t, seg(INSIDE, PEER, syn_ack())),
        Err(NatDrop::NoConnection),
        "a SYN-ACK answers a SYN the NAT never let in"
    );
    assert_eq!(nat.mapping_count(t), 0);
    let ext = open(&mut nat, t, PEER);
    // A stranger's non-SYN segment to the mapping: no connection, even under EIF.
    let stray = TcpSegment::new(a("192.0.2.9:80"), ext, TcpFlags::ACK);
    assert_eq!(nat.inbound(t, stray), Err(NatDrop::NoConnection));
    assert_eq!(nat.stats().dropped_no_connection, 3);
}

#[test]
fn an_unsolicited_syn_is_dropped_unless_filtering_is_endpoint_independent() {
    let t = t0();
    let stranger = "192.0.2.9:6000";
    let same_ip_other_port = "203.0.113.7:8080";
    for (filtering, stranger_ok, same_ip_ok) in
        [(Ei, true, true), (Ad, false, true), (Apd, false, false)]
    {
        let mut nat = TcpNatTable::new(cfg(Ei, filtering), [1; 32]);
        let ext = a(&format!("{PUBLIC}:5000"));
        // No mapping at all: dropped whatever the filtering.
        assert_eq!(
            nat.inbound(t, TcpSegment::new(a(stranger), ext, SYN)),
            Err(NatDrop::NoMapping),
            "{filtering}"
        );
        assert_eq!(open(&mut nat, t, PEER), ext);
        for (from, ok) in [(stranger, stranger_ok), (same_ip_other_port, same_ip_ok)] {
            let r = nat.inbound(t, TcpSegment::new(a(from), ext, SYN));
            if ok {
                assert_eq!(r.map(|s| s.dst), Ok(a(INSIDE)), "{filtering} from {from}");
                assert_eq!(
                    nat.connection_state(t, a(INSIDE), a(from)),
                    Some(TcpConnState::Opening)
                );
            } else {
                assert_eq!(r, Err(NatDrop::Filtered), "{filtering} from {from}");
            }
        }
        // The inside host answers an admitted SYN; a refused one left nothing to answer.
        let answer = nat.outbound(t, seg(INSIDE, stranger, syn_ack()));
        assert_eq!(answer.is_ok(), stranger_ok, "{filtering}");
    }
}

#[test]
fn simultaneous_open_works_under_every_filtering() {
    // RFC 5382 REQ-2. Two hosts behind two NATs, each SYN crossing its own NAT before the
    // other's arrives (the order ICE-TCP's simultaneous-open candidates produce).
    let t = t0();
    for filtering in [Ei, Ad, Apd] {
        let mut left = TcpNatTable::new(cfg(Ei, filtering), [1; 32]);
        let mut right = TcpNatTable::new(
            NatConfig {
                public_ip: "203.0.113.20".parse().expect("ip"),
                ..cfg(Ei, filtering)
            },
            [2; 32],
        );
        let l_in = a("10.0.1.1:5000");
        let r_in = a("10.0.2.1:6000");
        let l_ext = a(&format!("{PUBLIC}:5000"));
        let r_ext = a("203.0.113.20:6000");
        // Left's SYN leaves and is dropped at right: right has no mapping yet, whatever its
        // filtering.
        let l_syn = left
            .outbound(t, TcpSegment::new(l_in, r_ext, SYN))
            .expect("left SYN out");
        assert_eq!(right.inbound(t, l_syn), Err(NatDrop::NoMapping));
        // Right's SYN leaves towards left's external address and gets in: it belongs to the
        // connection left's SYN created.
        let r_syn = right
            .outbound(t, TcpSegment::new(r_in, l_ext, SYN))
            .expect("right SYN out");
        assert_eq!(r_syn.src, r_ext);
        let at_left = left.inbound(t, r_syn).expect("simultaneous open");
        assert_eq!(at_left.dst, l_in, "{filtering}");
        // Left retransmits its SYN (now SYN-ACK); right admits it: right sent to left.
        let l_synack = left
            .outbound(t, TcpSegment::new(l_in, r_ext, syn_ack()))
            .expect("left SYN-ACK out");
        assert_eq!(right.inbound(t, l_synack).map(|s| s.dst), Ok(r_in));
        let r_synack = right
            .outbound(t, TcpSegment::new(r_in, l_ext, syn_ack()))
            .expect("right SYN-ACK out");
        left.inbound(t, r_synack).expect("right SYN-ACK in");
        assert_eq!(
            left.connection_state(t, l_in, r_ext),
            Some(TcpConnState::Established)
        );
        assert_eq!(
            right.connection_state(t, r_in, l_ext),
            Some(TcpConnState::Established)
        );
    }
}

#[test]
fn block_tcp_drops_everything_tcp_and_nothing_udp() {
    let t = t0();
    let config = NatConfig {
        block_tcp: true,
        ..cfg(Ei, Ei)
    };
    let mut tcp = TcpNatTable::new(config, [1; 32]);
    assert_eq!(
        tcp.outbound(t, seg(INSIDE, PEER, SYN)),
        Err(NatDrop::Blocked)
    );
    let ext = a(&format!("{PUBLIC}:5000"));
    assert_eq!(
        tcp.inbound(t, TcpSegment::new(a(PEER), ext, SYN)),
        Err(NatDrop::Blocked)
    );
    assert_eq!(tcp.stats().dropped_blocked, 2);
    assert_eq!(tcp.mapping_count(t), 0);
    let mut udp = NatTable::new(config, [1; 32]);
    assert_eq!(
        udp.outbound(t, a(INSIDE), a(PEER)),
        Ok(ext),
        "UDP unaffected"
    );
}

#[test]
fn connections_expire_after_their_idle_timeout() {
    let t = t0();
    let config = NatConfig {
        tcp_timeout: Duration::from_secs(600),
        ..cfg(Ei, Apd)
    };
    let mut nat = TcpNatTable::new(config, [1; 32]);
    // Established: lives tcp_timeout after its last segment, either direction refreshing it.
    let ext = handshake(&mut nat, t);
    assert_eq!(
        nat.next_expiry(t),
        Some(t + Duration::from_secs(600)),
        "established lifetime"
    );
    let t1 = t + Duration::from_secs(500);
    nat.inbound(t1, TcpSegment::new(a(PEER), ext, TcpFlags::ACK))
        .expect("still live at 500 s");
    let t2 = t1 + Duration::from_secs(599);
    assert_eq!(nat.mapping_of(t2, a(INSIDE), a(PEER)), Some(ext));
    let t3 = t1 + Duration::from_secs(600);
    assert_eq!(nat.mapping_of(t3, a(INSIDE), a(PEER)), None);
    assert_eq!(
        nat.inbound(t3, TcpSegment::new(a(PEER), ext, TcpFlags::ACK)),
        Err(NatDrop::NoMapping)
    );
    let s = nat.stats();
    assert_eq!((s.connections_expired, s.mappings_expired), (1, 1));

    // Half-open: the transitory 4 minutes (RFC 5382 REQ-5), shorter than tcp_timeout here.
    let mut nat = TcpNatTable::new(config, [1; 32]);
    open(&mut nat, t, PEER);
    assert_eq!(nat.next_expiry(t), Some(t + TCP_TRANSITORY_TIMEOUT));
    assert_eq!(nat.mapping_count(t + TCP_TRANSITORY_TIMEOUT), 0);

    // Closing (a FIN crossed): transitory again.
    let mut nat = TcpNatTable::new(config, [1; 32]);
    handshake(&mut nat, t);
    nat.outbound(t, seg(INSIDE, PEER, TcpFlags::FIN | TcpFlags::ACK))
        .expect("FIN");
    assert_eq!(
        nat.connection_state(t, a(INSIDE), a(PEER)),
        Some(TcpConnState::Closing)
    );
    assert_eq!(nat.next_expiry(t), Some(t + TCP_TRANSITORY_TIMEOUT));

    // A tcp_timeout shorter than 4 minutes shortens the transitory timeout too.
    let short = NatConfig {
        tcp_timeout: Duration::from_secs(5),
        ..cfg(Ei, Apd)
    };
    let mut nat = TcpNatTable::new(short, [1; 32]);
    open(&mut nat, t, PEER);
    assert_eq!(nat.next_expiry(t), Some(t + Duration::from_secs(5)));
    nat.expire(t + Duration::from_secs(5));
    assert_eq!(nat.mapping_count(t), 0, "removed, not just expired");
}

#[test]
fn a_mapping_lives_while_one_of_its_connections_does_and_keys_follow_mapping() {
    let t = t0();
    let other = "192.0.2.50:443";
    // Endpoint-independent mapping: one external port for both remotes.
    let mut nat = TcpNatTable::new(cfg(Ei, Apd), [1; 32]);
    let e1 = open(&mut nat, t, PEER);
    let e2 = open(&mut nat, t + Duration::from_secs(200), other);
    assert_eq!(e1, e2);
    assert_eq!(
        nat.mapping_of(t + TCP_TRANSITORY_TIMEOUT, a(INSIDE), a(PEER)),
        Some(e1),
        "the second connection keeps the mapping"
    );
    assert_eq!(
        nat.connection_state(t + TCP_TRANSITORY_TIMEOUT, a(INSIDE), a(PEER)),
        None
    );
    // Address-and-port-dependent mapping: one per remote endpoint.
    let mut nat = TcpNatTable::new(cfg(Apd, Apd), [1; 32]);
    let e1 = open(&mut nat, t, PEER);
    let e2 = open(&mut nat, t, other);
    assert_ne!(e1.port(), e2.port());
    assert_eq!(nat.mapping_count(t), 2);
}

#[test]
fn udp_and_tcp_mappings_are_independent() {
    let t = t0();
    let config = cfg(Ei, Ei);
    let mut udp = NatTable::new(config, [1; 32]);
    let mut tcp = TcpNatTable::new(config, [1; 32]);
    let u = udp.outbound(t, a(INSIDE), a(PEER)).expect("udp");
    // The UDP mapping of port 5000 serves no TCP: no TCP mapping exists for that port.
    assert_eq!(
        tcp.inbound(t, TcpSegment::new(a(PEER), u, SYN)),
        Err(NatDrop::NoMapping)
    );
    // TCP ports are a space of their own: the same port is preserved in both.
    let tc = open(&mut tcp, t, PEER);
    assert_eq!(tc, u);
    // A TCP mapping serves no UDP, and the UDP one expires on its own clock.
    let later = t + Duration::from_secs(120);
    assert_eq!(udp.mapping_of(later, a(INSIDE), a(PEER)), None);
    assert_eq!(
        udp.inbound(later, a(PEER), u),
        Err(NatDrop::NoMapping),
        "the live TCP mapping keeps no UDP one alive"
    );
    assert_eq!(tcp.mapping_of(later, a(INSIDE), a(PEER)), Some(tc));
}

#[test]
fn hairpinning_follows_the_script() {
    let t = t0();
    let b_in = "10.0.1.2:7000";
    for hairpinning in [false, true] {
        let mut nat = TcpNatTable::new(
            NatConfig {
                hairpinning,
                ..cfg(Ei, Ei)
            },
            [1; 32],
        );
        // B has a mapping (it opened towards PEER); A's SYN goes to B's external address.
        let b_ext = nat.outbound(t, seg(b_in, PEER, SYN)).expect("B out").src;
        let r = nat.hairpin(t, TcpSegment::new(a(INSIDE), b_ext, SYN));
        if hairpinning {
            let got = r.expect("hairpinned");
            assert_eq!(got.dst, a(b_in));
            assert_eq!(got.src, a(&format!("{PUBLIC}:5000")), "from A's mapping");
            assert_eq!(nat.stats().hairpinned, 1);
        } else {
            assert_eq!(r, Err(NatDrop::NoHairpin));
        }
    }
}

#[test]
fn the_same_segments_give_the_same_ports() {
    let t = t0();
    let run = || {
        let mut nat = TcpNatTable::new(cfg(Apd, Apd), [9; 32]);
        (0..50u16)
            .map(|i| {
                let remote = format!("203.0.113.1:{}", 1000 + i);
                open(&mut nat, t, &remote).port()
            })
            .collect::<Vec<_>>()
    };
    let ports = run();
    assert_eq!(ports, run(), "seeded port choice");
    let mut unique = ports.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ports.len(), "no port handed out twice");
}

#[test]
fn connections_per_mapping_are_bounded() {
    let t = t0();
    let mut nat = TcpNatTable::new(cfg(Ei, Ei), [1; 32]);
    let limit = ice_netsim::nat_tcp::MAX_TCP_CONNECTIONS;
    for i in 0..limit {
        open(&mut nat, t, &format!("203.0.113.1:{}", 1000 + i));
    }
    assert_eq!(
        nat.outbound(t, seg(INSIDE, "203.0.113.2:1", SYN)),
        Err(NatDrop::PortsExhausted)
    );
    assert_eq!(nat.stats().dropped_exhausted, 1);
}
