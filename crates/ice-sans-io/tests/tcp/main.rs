//! ICE-TCP (RFC 6544) between two agents in virtual time, over an in-memory network that
//! carries TCP connections (`net.rs`).
#![allow(clippy::unwrap_used)]

mod net;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_sans_io::{
    AcceptError, CandidateKind, Config, ConnectionId, Datagram, DropReason, Event, IceAgent,
    Protocol, Received, Role, SendError, State, TcpType,
};
use net::{Chunking, Net, Side};

use TcpType::{Active, Passive, SimultaneousOpen as So};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn controlling(seed: u8) -> Side {
    Side::new(Config::new(Role::Controlling), seed)
}

fn controlled(seed: u8) -> Side {
    Side::new(Config::new(Role::Controlled), seed)
}

fn completed(n: &Net) -> bool {
    n.both(State::Completed)
}

/// The frame header of RFC 4571 §2 says the length of what follows.
fn assert_framed(writes: &[Vec<u8>]) {
    assert!(!writes.is_empty());
    for w in writes {
        assert!(w.len() >= 2);
        let len = usize::from(u16::from_be_bytes([w[0], w[1]]));
        assert_eq!(len, w.len() - 2, "one RFC 4571 frame per write");
    }
}

/// Both agents selected a nominated TCP pair of these local types; data crosses both ways,
/// framed.
fn assert_tcp_session(n: &mut Net, a_type: TcpType, b_type: TcpType) {
    for (s, t) in [(&n.a, a_type), (&n.b, b_type)] {
        let p = s.agent.selected_pair(1).expect("a selected pair");
        assert!(p.nominated);
        assert_eq!(p.remote.protocol, Protocol::Tcp);
        assert_eq!(p.local.protocol, Protocol::Tcp);
        assert_eq!(p.local.tcp_type, Some(t), "{p:?}");
    }
    n.send(true, b"over tcp from a").unwrap();
    n.send(false, b"over tcp from b").unwrap();
    let big = vec![0x42; 3000];
    n.send(true, &big).unwrap();
    n.run_for(Duration::from_millis(100));
    assert_eq!(n.b.received, vec![b"over tcp from a".to_vec(), big]);
    assert_eq!(n.a.received, vec![b"over tcp from b".to_vec()]);
    assert_framed(&n.a.tcp_writes);
    assert_framed(&n.b.tcp_writes);
}

/// RFC 6544 §6.2, §7.1: an active candidate connects to a passive one (from its IP, any
/// port), the checks and then the data go over that one connection, framed.
#[test]
fn rfc6544_active_connects_to_passive_and_carries_data() {
    let a = controlling(1).tcp("10.0.0.1:7000", Active);
    let b = controlled(2).tcp("10.0.0.2:8000", Passive);
    let mut n = Net::new(a, b);
    n.start();
    // The active candidate is signalled with port 9 (RFC 6544 §4.5).
    let active = n.b.agent.remote_candidates()[0].clone();
    assert_eq!(active.addr, addr("10.0.0.1:9"));
    assert_eq!(active.tcp_type, Some(Active));
    n.run_until(Duration::from_secs(10), completed)
        .expect("connects");
    // One connection, asked for from the active candidate's IP with port 0.
    assert_eq!(
        n.a.connects()
            .iter()
            .map(|c| (c.1, c.2))
            .collect::<Vec<_>>(),
        [(addr("10.0.0.1:0"), addr("10.0.0.2:8000"))]
    );
    assert!(
        n.b.connects().is_empty(),
        "a passive candidate never connects"
    );
    assert_eq!(n.b.agent.stats().tcp_accepted, 1);
    // The passive side learned the active end as a peer-reflexive candidate of type active
    // (RFC 6544 §7.2.2), at its real port.
    let sel_b = n.b.agent.selected_pair(1).unwrap();
    assert_eq!(sel_b.remote.tcp_type, Some(Active));
    assert_ne!(sel_b.remote.addr.port(), 9);
    assert_eq!(n.links.len(), 1);
    // The passive side's check list is empty until the connection comes (RFC 6544 §6.2): the
    // peer's end-of-candidates, which comes first, is no failure while the peer's active
    // candidate may still connect.
    assert!(
        !n.b.saw(|e| matches!(e, Event::StateChanged(State::Failed))),
        "{:?}",
        n.b.events
    );
    assert_tcp_session(&mut n, Active, Passive);
}

/// The same with the roles the other way: the controlled agent is the active one.
#[test]
fn rfc6544_passive_controlling_active_controlled() {
    let a = controlling(3).tcp("10.0.0.1:7000", Passive);
    let b = controlled(4).tcp("10.0.0.2:8000", Active);
    let mut n = Net::new(a, b);
    n.start();
    n.run_until(Duration::from_secs(10), completed)
        .expect("connects");
    assert!(n.a.connects().is_empty());
    assert_eq!(n.b.connects().len(), 1);
    assert_tcp_session(&mut n, Passive, Active);
}

/// RFC 6544 §6.2: so pairs with so, both ends connect; at the same time they make one
/// connection (TCP simultaneous open), else the later one finds the peer's listener.
#[test]
fn rfc6544_simultaneous_open_connects() {
    let a = controlling(5).tcp("10.0.0.1:7000", So);
    let b = controlled(6).tcp("10.0.0.2:8000", So);
    let mut n = Net::new(a, b);
    n.start();
    n.run_until(Duration::from_secs(10), completed)
        .expect("connects");
    // An so candidate connects from its own address.
    for (_, from, to) in n.a.connects() {
        assert_eq!((from, to), (addr("10.0.0.1:7000"), addr("10.0.0.2:8000")));
    }
    assert_tcp_session(&mut n, So, So);
    // Both connected at once: one connection (TCP simultaneous open), nothing accepted.
    assert_eq!((n.a.connects().len(), n.b.connects().len()), (1, 1));
    assert_eq!(
        n.a.agent.stats().tcp_accepted + n.b.agent.stats().tcp_accepted,
        0
    );
    assert_eq!(n.links.len(), 1, "{:?}", n.links);
}

/// RFC 6544 §6.2: a passive-only side whose peer has an active candidate waits for the
/// peer's connection after its end-of-candidates (its check list is empty until then), and
/// fails only after `no_end_of_candidates_timeout` when none comes.
#[test]
fn rfc6544_passive_side_waits_for_the_peers_connection_then_fails() {
    let mut agent = IceAgent::new(Config::new(Role::Controlled), [30; 32]);
    agent
        .add_local_tcp_host(1, addr("10.0.0.2:8000"), Passive)
        .unwrap();
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now(); // a base for the agent's virtual time
    agent
        .set_remote_credentials(now, "peer", "peerpasswordpeerpassword")
        .unwrap();
    let mut active = ice_sans_io::Candidate::host(1, addr("10.0.0.1:9"), "1");
    active.protocol = Protocol::Tcp;
    active.tcp_type = Some(Active);
    agent.add_remote_candidate(now, active).unwrap();
    agent.gather(now);
    agent.end_of_remote_candidates(now);
    let failed = |agent: &mut IceAgent| {
        let mut failed = false;
        while let Some(e) = agent.poll_event() {
            failed |= matches!(e, Event::StateChanged(State::Failed));
        }
        failed
    };
    assert!(!failed(&mut agent), "no failure while the peer may connect");
    assert_eq!(agent.state(), State::Checking);
    let wait = Config::new(Role::Controlled).no_end_of_candidates_timeout;
    let deadline = agent.poll_timeout().expect("the wait's deadline");
    assert_eq!(deadline, now + wait);
    agent.handle_timeout(deadline);
    assert!(failed(&mut agent));
}

/// RFC 6544 §6.2: two passive candidates never pair (nobody connects).
#[test]
fn rfc6544_passive_with_passive_never_pairs() {
    let a = controlling(7).tcp("10.0.0.1:7000", Passive);
    let b = controlled(8).tcp("10.0.0.2:8000", Passive);
    let mut n = Net::new(a, b);
    n.start();
    n.run_until(Duration::from_secs(30), |n| n.both(State::Failed))
        .expect("fails: nothing to check");
    assert_eq!(n.a.agent.pair_count(), 0);
    assert_eq!(n.b.agent.pair_count(), 0);
    assert!(n.a.connects().is_empty() && n.b.connects().is_empty());
    // And active with active, so with active: no pair either.
    let a = controlling(7)
        .tcp("10.0.0.1:7000", Active)
        .tcp("10.0.0.1:7001", So);
    let b = controlled(8).tcp("10.0.0.2:8000", Active);
    let mut n = Net::new(a, b);
    n.start();
    n.run_for(Duration::from_secs(1));
    assert_eq!(n.a.agent.pair_count(), 0);
}

/// The UDP-first policy: with UDP and TCP both offered and both working, UDP is selected,
/// and the TCP connections that were opened meanwhile are closed.
#[test]
fn udp_and_tcp_offered_udp_is_selected() {
    let a = controlling(9)
        .udp("10.0.0.1:5000")
        .tcp("10.0.0.1:7000", Active)
        .tcp("10.0.0.1:7001", Passive);
    let b = controlled(10)
        .udp("10.0.0.2:6000")
        .tcp("10.0.0.2:8000", Active)
        .tcp("10.0.0.2:8001", Passive);
    let mut n = Net::new(a, b);
    // A long path: the TCP pairs' checks start before the UDP pair is nominated.
    n.latency = Duration::from_millis(80);
    n.start();
    n.run_until(Duration::from_secs(10), completed)
        .expect("connects");
    n.run_for(Duration::from_secs(2));
    for s in [&n.a, &n.b] {
        let p = s.agent.selected_pair(1).unwrap();
        assert_eq!(p.local.protocol, Protocol::Udp, "{p:?}");
        assert!(p.nominated);
    }
    // TCP was tried, and every connection opened is closed again: none left.
    assert!(!n.a.connects().is_empty());
    assert!(n.links.is_empty(), "open connections left: {:?}", n.links);
    let a_stats = n.a.agent.stats();
    // Opened and accepted, each closed (by us or the peer) or failed.
    assert!(a_stats.tcp_accepted >= 1);
    assert_eq!(
        a_stats.tcp_connects + a_stats.tcp_accepted,
        a_stats.tcp_closed + a_stats.tcp_closed_by_peer + a_stats.tcp_connect_failed
    );
    n.send(true, b"udp").unwrap();
    n.run_for(Duration::from_millis(200));
    assert_eq!(n.b.received.last().unwrap(), b"udp");
}

/// UDP blocked (the network drops every datagram): the TCP pair is selected.
#[test]
fn udp_blocked_tcp_is_selected() {
    let a = controlling(11)
        .udp("10.0.0.1:5000")
        .tcp("10.0.0.1:7000", Active)
        .tcp("10.0.0.1:7001", Passive);
    let b = controlled(12)
        .udp("10.0.0.2:6000")
        .tcp("10.0.0.2:8000", Active)
        .tcp("10.0.0.2:8001", Passive);
    let mut n = Net::new(a, b);
    n.block_udp = true;
    n.start();
    n.run_until(Duration::from_secs(30), completed)
        .expect("connects over TCP");
    let p = n.a.agent.selected_pair(1).unwrap();
    assert_eq!(p.local.protocol, Protocol::Tcp);
    n.run_for(Duration::from_secs(1));
    // The losing TCP pair's connection is closed: one left.
    assert_eq!(n.links.len(), 1, "{:?}", n.links);
    n.send(true, b"tcp").unwrap();
    n.run_for(Duration::from_millis(100));
    assert_eq!(n.b.received, vec![b"tcp".to_vec()]);
    // Consent runs over the connection and keeps the session.
    n.run_for(Duration::from_secs(60));
    assert!(completed(&n));
    assert!(n.a.agent.stats().consent_checks_sent >= 10);
}

/// RFC 6544 §7.1: a refused connection fails its pair; the other pair works.
#[test]
fn refused_connection_fails_its_pair_and_another_works() {
    let a = controlling(13).tcp("10.0.0.1:7000", Active);
    let b = controlled(14)
        .tcp("10.0.0.2:8000", Passive)
        .tcp("10.0.0.3:8000", Passive);
    let mut n = Net::new(a, b);
    // The first address (higher priority: added first) refuses.
    n.refuse.push(addr("10.0.0.2:8000"));
    n.start();
    n.run_until(Duration::from_secs(20), completed)
        .expect("connects");
    assert_eq!(n.a.agent.stats().tcp_connect_failed, 1);
    assert_eq!(
        n.a.agent.selected_pair(1).unwrap().remote.addr,
        addr("10.0.0.3:8000")
    );
    assert_tcp_session(&mut n, Active, Passive);
}

/// Stream bytes one at a time, or everything due at once in one piece, give the same
/// outcomes: the same events on both sides, the same data, the same frames handled.
#[test]
fn byte_at_a_time_and_one_chunk_give_the_same_run() {
    let run = |chunking: Chunking| {
        let a = controlling(15).tcp("10.0.0.1:7000", Active);
        let b = controlled(16).tcp("10.0.0.2:8000", Passive);
        let mut n = Net::new(a, b);
        n.chunking = chunking;
        n.start();
        n.run_until(Duration::from_secs(10), completed)
            .expect("connects");
        for i in 0..5u8 {
            n.send(true, &[0x80 + i; 700]).unwrap();
            n.send(false, &[0x90 + i; 3]).unwrap();
        }
        n.run_for(Duration::from_secs(20));
        (
            format!("{:?}", n.a.events),
            format!("{:?}", n.b.events),
            n.a.received.clone(),
            n.b.received.clone(),
            n.a.stream_log.clone(),
            n.b.stream_log.clone(),
        )
    };
    let bytes = run(Chunking::Bytes);
    assert_eq!(bytes.3.len(), 5);
    assert_eq!(bytes, run(Chunking::Coalesced));
    assert_eq!(bytes, run(Chunking::Writes));
}

/// Garbage on a connection: an oversized frame is skipped and counted, a frame that is
/// neither STUN nor data of a valid pair is dropped and counted, bytes for an unknown
/// connection are dropped once and counted, a TCP datagram given to `handle_receive` is
/// dropped; nothing panics and the connection keeps working.
#[test]
fn garbage_and_oversized_frames_are_dropped_and_counted() {
    let mut cfg = Config::new(Role::Controlled);
    cfg.max_tcp_frame = 1500;
    let a = controlling(17).tcp("10.0.0.1:7000", Active);
    let b = Side::new(cfg, 18).tcp("10.0.0.2:8000", Passive);
    let mut n = Net::new(a, b);
    n.start();
    n.run_until(Duration::from_secs(10), completed)
        .expect("connects");
    let (_, bid) = n.links[0];
    let now = n.now;
    // An oversized frame (4000 > 1500), then a frame of STUN-looking garbage, then a
    // truncated STUN header, each as its own frame, then real data from the peer.
    let mut stream = Vec::new();
    stream.extend_from_slice(&4000u16.to_be_bytes());
    stream.extend(std::iter::repeat_n(0xAB, 4000));
    stream.extend_from_slice(&5u16.to_be_bytes());
    stream.extend_from_slice(&[0x00, 0x01, 0xff, 0xff, 0x00]);
    stream.extend_from_slice(&0u16.to_be_bytes()); // a null packet (RFC 4571 §2)
    let mut rest = &stream[..];
    let mut got = Vec::new();
    while let Some(r) = n.b.agent.handle_stream(now, bid, &mut rest) {
        got.push(format!("{r:?}"));
    }
    assert!(rest.is_empty());
    assert_eq!(
        got,
        [format!("{:?}", Received::Dropped(DropReason::Malformed))]
    );
    let st = n.b.agent.stats();
    assert_eq!(st.tcp_frames_dropped, 1);
    assert!(st.dropped_malformed >= 1);
    // Unknown connection: all bytes taken, one drop.
    let mut rest: &[u8] = &[1, 2, 3];
    let fake = fake_id(&mut n.b.agent, now);
    assert_eq!(
        n.b.agent.handle_stream(now, fake, &mut rest),
        Some(Received::Dropped(DropReason::UnknownConnection))
    );
    assert!(rest.is_empty());
    assert_eq!(n.b.agent.handle_stream(now, fake, &mut rest), None);
    assert_eq!(n.b.agent.stats().dropped_unknown_connection, 1);
    assert_eq!(n.b.agent.stats().dropped_unknown_connection_bytes, 3);
    // A TCP datagram to handle_receive.
    let d = Datagram {
        local: addr("10.0.0.2:8000"),
        remote: addr("10.0.0.1:40001"),
        protocol: Protocol::Tcp,
        data: &[0, 1, 0, 0],
    };
    assert_eq!(
        n.b.agent.handle_receive(now, d),
        Received::Dropped(DropReason::TcpDatagram)
    );
    assert_eq!(n.b.agent.stats().dropped_tcp_datagrams, 1);
    // The connection still carries data, framing in step.
    n.send(true, b"still here").unwrap();
    n.run_for(Duration::from_millis(100));
    assert_eq!(n.b.received, vec![b"still here".to_vec()]);
    // An oversized send is refused.
    assert_eq!(
        n.a.agent.send(n.now, 1, &vec![0; 70_000]).err(),
        Some(SendError::FrameTooLarge { len: 70_000 })
    );
    assert!(completed(&n));
}

/// An id the agent does not know: it accepts one connection and the test closes it.
fn fake_id(agent: &mut IceAgent, now: Instant) -> ConnectionId {
    let id = agent
        .handle_accepted(now, addr("10.0.0.2:8000"), addr("10.0.0.9:1234"))
        .unwrap();
    agent.handle_closed(now, id);
    id
}

/// `handle_accepted` refuses an address no passive or so candidate listens on, and more
/// connections than `max_tcp_connections`; an accepted connection that carries no check is
/// closed after `tcp_connect_timeout`.
#[test]
fn accepts_are_checked_and_bounded() {
    let mut cfg = Config::new(Role::Controlled);
    cfg.max_tcp_connections = 2;
    let mut agent = IceAgent::new(cfg, [3; 32]);
    agent
        .add_local_tcp_host(1, addr("10.0.0.2:8000"), Passive)
        .unwrap();
    agent
        .add_local_tcp_host(1, addr("10.0.0.2:1"), Active)
        .unwrap();
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let peer = addr("10.0.0.1:40000");
    assert_eq!(
        agent.handle_accepted(now, addr("10.0.0.2:9"), peer),
        Err(AcceptError::UnknownLocalAddress(addr("10.0.0.2:9")))
    );
    let id = agent
        .handle_accepted(now, addr("10.0.0.2:8000"), peer)
        .unwrap();
    agent
        .handle_accepted(now, addr("10.0.0.2:8000"), addr("10.0.0.1:40001"))
        .unwrap();
    assert_eq!(
        agent.handle_accepted(now, addr("10.0.0.2:8000"), addr("10.0.0.1:40002")),
        Err(AcceptError::Limit)
    );
    assert_eq!(agent.stats().tcp_refused, 2);
    while agent.poll_event().is_some() {}
    // Nobody checks on them: closed at the deadline.
    let due = agent.poll_timeout().unwrap();
    assert_eq!(due, now + Duration::from_secs(10));
    agent.handle_timeout(due);
    let mut closed = Vec::new();
    while let Some(e) = agent.poll_event() {
        if let Event::Close { id } = e {
            closed.push(id);
        }
    }
    assert_eq!(closed.len(), 2);
    assert!(closed.contains(&id));
    assert_eq!(agent.poll_timeout(), None);
    // The candidates: active on port 9, passive on its port, both with TCP priorities below
    // any UDP host candidate's.
    let c: Vec<_> = agent.local_candidates().cloned().collect();
    assert_eq!(c.len(), 2);
    assert_eq!(c[1].addr, addr("10.0.0.2:9"));
    for c in &c {
        assert!(c.priority < (100 << 24), "{c}");
        assert_eq!(c.kind, CandidateKind::Host);
    }
    assert!(c[0].to_string().ends_with("tcptype passive"));
    assert_ne!(c[0].foundation, "", "TCP foundations");
}

/// The selected pair's connection closes (the peer reset it): consent is lost on both
/// sides, data is refused.
#[test]
fn closed_selected_connection_loses_consent() {
    let a = controlling(19).tcp("10.0.0.1:7000", Active);
    let b = controlled(20).tcp("10.0.0.2:8000", Passive);
    let mut n = Net::new(a, b);
    n.start();
    n.run_until(Duration::from_secs(10), completed)
        .expect("connects");
    let (aid, _) = n.links[0];
    n.reset(true, aid);
    for s in [&n.a, &n.b] {
        assert!(s.saw(|e| matches!(e, Event::ConsentLost { component: 1 })));
        assert!(matches!(
            s.agent.state(),
            State::Disconnected | State::Failed
        ));
    }
    assert_eq!(n.a.agent.send(n.now, 1, b"x"), Err(SendError::ConsentLost));
    // Nothing spins afterwards.
    n.run_for(Duration::from_secs(30));
}

/// A restart drops the new generation's pairs' connections but keeps the old selected
/// pair's until the new generation selects; `close` closes every connection.
#[test]
fn restart_and_close_release_connections() {
    let a = controlling(21).tcp("10.0.0.1:7000", Active);
    let b = controlled(22).tcp("10.0.0.2:8000", Passive);
    let mut n = Net::new(a, b);
    n.start();
    n.run_until(Duration::from_secs(10), completed)
        .expect("connects");
    let now = n.now;
    n.a.agent.restart(now);
    // Signalling of the restart: the credentials go across in drain; the old pair carries data.
    let (u, p) = n.a.agent.local_credentials();
    let (u, p) = (u.to_owned(), p.to_owned());
    n.b.agent.set_remote_credentials(now, &u, &p).unwrap();
    let (u, p) = n.b.agent.local_credentials();
    let (u, p) = (u.to_owned(), p.to_owned());
    n.a.agent.set_remote_credentials(now, &u, &p).unwrap();
    n.drain();
    assert_eq!(n.links.len(), 1, "the old selected pair's connection stays");
    n.send(true, b"during").unwrap();
    n.run_until(Duration::from_secs(20), |n| {
        n.b.agent.generation() == 1 && completed(n) && n.links.len() == 1
    })
    .expect("reconnects");
    n.run_for(Duration::from_secs(1));
    assert_eq!(
        n.links.len(),
        1,
        "the old connection is closed once the new is selected"
    );
    assert_eq!(n.b.received.first().unwrap(), b"during");
    let now = n.now;
    n.a.agent.close(now);
    n.drain();
    n.run_for(Duration::from_millis(100));
    assert!(n.links.is_empty());
    assert!(!n.b.closed_by_peer.is_empty());
}

/// The same seeds replay the same run, event for event.
#[test]
fn the_same_seed_replays_the_same_run() {
    let run = |seed: u8| {
        let a = controlling(seed)
            .udp("10.0.0.1:5000")
            .tcp("10.0.0.1:7000", Active)
            .tcp("10.0.0.1:7001", So);
        let b = controlled(seed.wrapping_add(1))
            .udp("10.0.0.2:6000")
            .tcp("10.0.0.2:8000", Passive)
            .tcp("10.0.0.2:8001", So);
        let mut n = Net::new(a, b);
        n.block_udp = true;
        n.start();
        n.run_for(Duration::from_secs(15));
        (
            format!("{:?}", n.a.events),
            format!("{:?}", n.b.events),
            n.a.tcp_writes.clone(),
        )
    };
    assert_eq!(run(23), run(23));
    assert_ne!(
        run(23).2,
        run(24).2,
        "the seeds reach the wire (transaction ids)"
    );
}

/// so with so when one side is late (it has not the peer's credentials yet, so it checks
/// nothing): the early side's connection reaches the late side's listener, which accepts it;
/// the check on it waits for the credentials (RFC 8445 §7.3.1), then the late side's pair
/// takes that connection instead of opening its own.
#[test]
fn rfc6544_simultaneous_open_late_side_accepts() {
    let a = controlling(25).tcp("10.0.0.1:7000", So);
    let b = controlled(26).tcp("10.0.0.2:8000", So);
    let mut n = Net::new(a, b);
    n.withhold_from_b = true;
    n.start();
    n.run_for(Duration::from_millis(300));
    assert_eq!(n.b.agent.stats().tcp_accepted, 1);
    assert!(n.b.connects().is_empty());
    n.give_b_credentials();
    n.run_until(Duration::from_secs(10), completed)
        .expect("connects");
    assert_eq!(n.a.connects().len(), 1);
    assert!(
        n.b.connects().is_empty(),
        "the pair took the accepted connection"
    );
    assert_tcp_session(&mut n, So, So);
    assert_eq!(n.links.len(), 1);
}
