//! Gathering, foundations, restarts and the API's limits (RFC 8445 §5.1, §9; misuse and floods).

use super::*;

#[test]
fn rfc8445_5_1_1_2_server_reflexive_gathering_with_retransmissions() {
    let mut agent = IceAgent::new(Config::default(), [1; 32]);
    agent.add_local_host(1, addr(LOCAL)).unwrap();
    let stun = addr("203.0.113.9:3478");
    agent.add_stun_server(stun);
    let mut rig = Rig {
        agent,
        now: t0(),
        sent: Vec::new(),
        events: Vec::new(),
        start: t0(),
    };
    rig.start = rig.now;
    let now = rig.now;
    rig.agent.gather(now);
    rig.drain();
    assert!(!rig.events.contains(&Event::GatheringComplete));
    // No answer for a while: RFC 8489 §6.2.1 retransmissions at 0, 500, 1500 ms.
    rig.advance(Duration::from_millis(1600));
    let sent = rig.take_sent();
    assert_eq!(
        sent.iter().map(|s| s.3.as_millis()).collect::<Vec<_>>(),
        vec![0, 500, 1500]
    );
    assert!(sent.iter().all(|s| s.1 == stun));
    // The server answers the last one with the NAT's address.
    let m = Message::decode(&sent[2].2).unwrap();
    let mapped = addr("203.0.113.50:61000");
    let answer = success(m.transaction_id(), mapped, None, true);
    let r = rig.agent.handle_receive(
        rig.now,
        Datagram {
            local: addr(LOCAL),
            remote: stun,
            protocol: Protocol::Udp,
            data: &answer,
        },
    );
    assert_eq!(r, Received::Stun);
    rig.drain();
    let srflx = rig
        .events
        .iter()
        .find_map(|e| match e {
            Event::LocalCandidate(c) if c.kind == CandidateKind::ServerReflexive => Some(c.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(srflx.addr, mapped);
    assert_eq!(srflx.related, Some(addr(LOCAL)));
    assert_eq!(
        srflx.priority >> 24,
        100,
        "XEP-0371 §5.3: srflx type preference 100"
    );
    assert_eq!(rig.events.last(), Some(&Event::GatheringComplete));
    // A host candidate's foundation differs from the server-reflexive one (§5.1.1.3).
    let host = rig.agent.local_candidates().next().unwrap().clone();
    assert_ne!(host.foundation, srflx.foundation);
    assert_eq!(host.priority >> 24, 126);
}

#[test]
fn rfc8445_5_1_3_a_server_reflexive_candidate_equal_to_its_host_is_redundant() {
    let mut agent = IceAgent::new(Config::default(), [1; 32]);
    agent.add_local_host(1, addr(LOCAL)).unwrap();
    let stun = addr("203.0.113.9:3478");
    agent.add_stun_server(stun);
    let now = t0();
    agent.gather(now);
    agent.handle_timeout(now);
    let t = agent.poll_transmit().unwrap();
    let m = Message::decode(t.data).unwrap();
    let answer = success(m.transaction_id(), addr(LOCAL), None, false);
    agent.handle_receive(
        now,
        Datagram {
            local: addr(LOCAL),
            remote: stun,
            protocol: Protocol::Udp,
            data: &answer,
        },
    );
    let mut events = Vec::new();
    while let Some(e) = agent.poll_event() {
        events.push(e);
    }
    assert_eq!(
        agent.local_candidates().count(),
        1,
        "no public address: only the host"
    );
    assert!(events.contains(&Event::GatheringComplete));
}

#[test]
fn foundations_follow_rfc8445_5_1_1_3() {
    let mut agent = IceAgent::new(Config::default(), [1; 32]);
    agent.add_local_host(1, addr("192.0.2.1:4000")).unwrap();
    agent.add_local_host(1, addr("192.0.2.1:4001")).unwrap();
    agent.add_local_host(1, addr("192.0.2.2:4000")).unwrap();
    let f: Vec<_> = agent
        .local_candidates()
        .map(|c| c.foundation.clone())
        .collect();
    assert_eq!(f[0], f[1], "same type, base IP and protocol");
    assert_ne!(f[0], f[2]);
    let p: Vec<_> = agent.local_candidates().map(|c| c.priority).collect();
    assert!(
        p[0] > p[1] && p[1] > p[2],
        "unique local preferences: {p:?}"
    );
}

#[test]
fn misuse_is_an_error() {
    let mut agent = IceAgent::new(Config::default(), [1; 32]);
    assert_eq!(
        agent.add_local_host(2, addr(LOCAL)),
        Err(CandidateError::InvalidComponent(2))
    );
    assert!(matches!(
        agent.add_local_host(1, addr("0.0.0.0:1")),
        Err(CandidateError::InvalidAddress(_))
    ));
    let now = t0();
    // RFC 6544 §4.5: a TCP candidate has a tcptype, a UDP one none.
    let mut c = peer_candidate(PEER, 1);
    c.protocol = Protocol::Tcp;
    assert_eq!(
        agent.add_remote_candidate(now, c),
        Err(CandidateError::TcpType)
    );
    let mut c = peer_candidate(PEER, 1);
    c.tcp_type = Some(ice_sans_io::TcpType::Passive);
    assert_eq!(
        agent.add_remote_candidate(now, c),
        Err(CandidateError::TcpType)
    );
    let mut c = peer_candidate(PEER, 1);
    c.foundation = "a b".into();
    assert_eq!(
        agent.add_remote_candidate(now, c),
        Err(CandidateError::InvalidFoundation)
    );
    assert!(agent.set_remote_credentials(now, "a:b", PEER_PWD).is_err());
    assert!(agent.set_remote_credentials(now, PEER_UFRAG, "").is_err());
}

#[test]
fn floods_are_bounded_dropped_and_counted() {
    let mut cfg = Config::new(Role::Controlled);
    cfg.max_remote_candidates = 10;
    cfg.max_peer_reflexive = 3;
    cfg.max_pairs = 8;
    let mut rig = Rig::new(cfg);
    let now = rig.now;
    rig.agent
        .set_remote_credentials(now, PEER_UFRAG, PEER_PWD)
        .unwrap();
    for i in 0..5u16 {
        let a = SocketAddr::new(addr(PEER).ip(), 7000 + i);
        rig.agent
            .add_remote_candidate(now, peer_candidate(&a.to_string(), 1000 + u32::from(i)))
            .unwrap();
    }
    // Checks from 50 unknown addresses: only 3 become peer-reflexive candidates.
    for i in 0..50u16 {
        let from = SocketAddr::new(addr(PEER).ip(), 9000 + i);
        let req = controlling_check(&rig, (i % 200) as u8, 1, false);
        rig.receive(from, &req);
    }
    assert_eq!(rig.agent.remote_candidates().len(), 8);
    assert!(rig.agent.pair_count() <= 8);
    // Signalled candidates beyond the limit.
    let mut refused = 0;
    for i in 0..10u16 {
        let a = SocketAddr::new(addr(PEER).ip(), 8000 + i);
        if rig
            .agent
            .add_remote_candidate(now, peer_candidate(&a.to_string(), 1))
            == Err(CandidateError::Limit)
        {
            refused += 1;
        }
    }
    assert_eq!(refused, 8);
    assert_eq!(rig.agent.remote_candidates().len(), 10);
    let s = rig.agent.stats();
    assert_eq!(s.dropped_candidates, 47 + 8);
    assert!(s.dropped_pairs > 0);
}

#[test]
fn rfc8445_8_1_1_a_nomination_that_times_out_is_retried_then_moves_to_the_next_valid_pair() {
    let mut rig = Rig::with_peer(Role::Controlling);
    let now = rig.now;
    let (p1, p2) = ("198.51.100.7:5000", "198.51.100.8:5000");
    let mut c1 = peer_candidate(p1, 2_130_706_431);
    c1.foundation = "a".into();
    let mut c2 = peer_candidate(p2, 2_130_706_175);
    c2.foundation = "b".into();
    rig.agent.add_remote_candidate(now, c1).unwrap();
    rig.agent.add_remote_candidate(now, c2).unwrap();
    rig.drain();
    // Both pairs are checked and answered.
    rig.advance(Duration::from_millis(60));
    assert_eq!(answer_all(&mut rig, None), 2);
    // The nomination goes to the better pair, and is never answered.
    rig.advance(Duration::from_millis(1));
    let first = rig.take_sent();
    let nomination: Vec<_> = first
        .iter()
        .filter(|(_, _, d, _)| Message::decode(d).unwrap().use_candidate())
        .map(|s| s.1)
        .collect();
    assert_eq!(nomination, vec![addr(p1)]);
    assert_eq!(rig.agent.selected_pair(1).unwrap().remote.addr, addr(p1));
    // The peer may have taken a request whose responses were lost: the same pair is nominated
    // again, three transactions of 7 requests in all (15.5 s each), before giving it up.
    rig.advance(Duration::from_secs(16));
    assert_eq!(rig.agent.selected_pair(1).unwrap().remote.addr, addr(p1));
    let mut all = first.clone();
    all.extend(rig.take_sent());
    rig.advance(Duration::from_secs(32));
    let sent = rig.take_sent();
    all.extend(sent.iter().cloned());
    let to_p1 = all
        .iter()
        .filter(|(_, to, d, _)| *to == addr(p1) && Message::decode(d).unwrap().use_candidate())
        .count();
    assert_eq!(
        to_p1,
        3 * 7,
        "three nomination transactions to the first pair"
    );
    // Then the pair failed: data moves to the other valid pair, which is nominated in turn.
    assert_eq!(rig.agent.selected_pair(1).unwrap().remote.addr, addr(p2));
    let to_p2: Vec<_> = sent
        .iter()
        .filter(|(_, to, d, _)| *to == addr(p2) && Message::decode(d).unwrap().use_candidate())
        .collect();
    assert!(!to_p2.is_empty(), "the second pair is nominated");
    rig.sent = sent;
    answer_all(&mut rig, None);
    assert_eq!(rig.agent.state(), State::Completed);
    assert_eq!(rig.agent.selected_pair(1).unwrap().remote.addr, addr(p2));
}

#[test]
fn rfc8445_9_a_restart_drops_peer_reflexive_local_candidates_and_gathering_keeps_its_hosts() {
    let mut rig = Rig::with_peer(Role::Controlling);
    let now = rig.now;
    rig.agent
        .add_remote_candidate(now, peer_candidate(PEER, 2_130_706_431))
        .unwrap();
    rig.advance(Duration::from_millis(60));
    // The check is answered with an address that is no local candidate: a peer-reflexive
    // local candidate (RFC 8445 §7.2.5.3.1), after the host in the agent's list.
    let sent = rig.take_sent();
    let m = requests(&sent)[0].clone();
    let key = IntegrityKey::short_term(PEER_PWD);
    let answer = success(
        m.transaction_id(),
        addr("203.0.113.1:9999"),
        Some(&key),
        true,
    );
    assert_eq!(rig.receive(addr(PEER), &answer), "Stun");
    // A second host after it, gathering from both, then a restart.
    let second = addr("192.0.2.2:4000");
    rig.agent.add_local_host(1, second).unwrap();
    let stun = addr("203.0.113.9:3478");
    rig.agent.add_stun_server(stun);
    let now = rig.now;
    rig.agent.restart(now);
    rig.agent.gather(now);
    rig.drain();
    rig.take_sent();
    // Gathering goes out from each host (the second one's index moved with the restart).
    rig.advance(Duration::from_millis(200));
    let from: Vec<_> = rig
        .take_sent()
        .iter()
        .filter(|s| s.1 == stun)
        .map(|s| s.0)
        .collect();
    assert!(
        from.contains(&addr(LOCAL)) && from.contains(&second),
        "{from:?}"
    );
}

#[test]
fn rfc8445_7_2_5_3_1_local_peer_reflexive_candidates_are_bounded() {
    let mut cfg = Config::new(Role::Controlled);
    cfg.max_peer_reflexive = 2;
    let mut rig = Rig::new(cfg);
    let now = rig.now;
    rig.agent
        .set_remote_credentials(now, PEER_UFRAG, PEER_PWD)
        .unwrap();
    for i in 0..5u8 {
        let mut c = peer_candidate(&format!("198.51.100.{}:5000", 10 + i), 2_000_000_000);
        c.foundation = format!("f{i}");
        rig.agent.add_remote_candidate(now, c).unwrap();
    }
    rig.drain();
    rig.advance(Duration::from_millis(300));
    // Each check answered with a mapped address of its own: a NAT that maps every
    // destination apart, or a peer that lies.
    let answered = answer_with(&mut rig, |i, _| {
        Ok(SocketAddr::new(
            addr("203.0.113.1:1").ip(),
            40000 + i as u16,
        ))
    });
    assert_eq!(answered, 5);
    assert_eq!(rig.agent.peer_reflexive_local_candidates().count(), 2);
    assert_eq!(rig.agent.stats().dropped_candidates, 3);
    // The pairs over the limit are valid all the same.
    assert_eq!(rig.agent.state(), State::Connected);
}
