//! Checks we send and nominations (RFC 8445 §6.1.2, §7.1, §7.2.5, §8.1, §14).

use super::*;

#[test]
fn rfc8445_7_2_5_1_a_487_received_switches_role_and_checks_again() {
    let mut rig = Rig::checking_one_pair();
    assert_eq!(answer_all(&mut rig, Some(487)), 1);
    assert_eq!(rig.agent.role(), Role::Controlled);
    rig.advance(Duration::from_millis(60));
    let sent = rig.take_sent();
    let reqs = requests(&sent);
    assert_eq!(reqs.len(), 1, "the pair is checked again");
    assert!(reqs[0].ice_controlled().is_some());
    assert!(!reqs[0].use_candidate());
}

#[test]
fn xep0371_5_6_checks_carry_username_priority_role_integrity_and_fingerprint() {
    let mut rig = Rig::checking_one_pair();
    let sent = rig.take_sent();
    let reqs = requests(&sent);
    assert_eq!(reqs.len(), 1);
    let m = &reqs[0];
    // XEP-0371 §5.6 footnote 33 / RFC 8445 §7.2.2: "peer-ufrag:own-ufrag", the peer's password.
    assert_eq!(
        m.username(),
        Some(format!("{PEER_UFRAG}:{}", rig.our_ufrag()).as_str())
    );
    assert_eq!(
        m.verify_integrity(&IntegrityKey::short_term(PEER_PWD)),
        Integrity::Ok
    );
    assert_eq!(m.fingerprint(), Fingerprint::Ok);
    // RFC 8445 §7.1.1: PRIORITY as a peer-reflexive candidate (type preference 110).
    assert_eq!(m.priority().unwrap() >> 24, 110);
    assert_eq!(m.ice_controlling(), Some(rig.agent.tie_breaker()));
    assert!(
        !m.use_candidate(),
        "regular nomination: not on the first check"
    );
}

#[test]
fn rfc8445_8_1_1_controlling_nominates_once_with_use_candidate() {
    let mut rig = Rig::checking_one_pair();
    answer_all(&mut rig, None);
    assert_eq!(rig.agent.state(), State::Connected);
    rig.advance(Duration::from_millis(1));
    let sent = rig.take_sent();
    let reqs = requests(&sent);
    assert_eq!(reqs.len(), 1);
    assert!(reqs[0].use_candidate());
    // Answer the nomination.
    rig.sent = sent;
    answer_all(&mut rig, None);
    assert_eq!(rig.agent.state(), State::Completed);
    assert!(rig.agent.selected_pair(1).unwrap().nominated);
    // No further nomination.
    rig.advance(Duration::from_secs(2));
    assert!(
        requests(&rig.take_sent())
            .iter()
            .all(|m| !m.use_candidate())
    );
}

#[test]
fn rfc8445_7_1_2_controlled_never_sends_use_candidate() {
    let mut rig = Rig::with_peer(Role::Controlled);
    let now = rig.now;
    for i in 0..4u16 {
        let a = SocketAddr::new(addr(PEER).ip(), 5000 + i);
        let mut c = peer_candidate(&a.to_string(), 2_000_000_000 + u32::from(i));
        c.foundation = format!("f{i}");
        rig.agent.add_remote_candidate(now, c).unwrap();
    }
    rig.drain();
    let mut all = Vec::new();
    for _ in 0..40 {
        rig.advance(Duration::from_millis(50));
        all.extend(rig.take_sent());
    }
    let reqs = requests(&all);
    assert!(reqs.len() >= 4);
    assert!(
        reqs.iter()
            .all(|m| !m.use_candidate() && m.ice_controlled().is_some())
    );
}

#[test]
fn rfc8445_7_3_1_5_controlled_takes_the_nomination_and_an_aggressive_peer_is_accepted() {
    let mut rig = Rig::with_peer(Role::Controlled);
    let now = rig.now;
    let (p1, p2) = ("198.51.100.7:5000", "198.51.100.7:5001");
    rig.agent
        .add_remote_candidate(now, peer_candidate(p1, 2_130_706_431))
        .unwrap();
    rig.agent
        .add_remote_candidate(now, peer_candidate(p2, 2_130_706_175))
        .unwrap();
    rig.drain();
    // RFC 5245 aggressive nomination: USE-CANDIDATE on every check, from both addresses.
    let low = controlling_check(&rig, 20, 1, true);
    rig.receive(addr(p2), &low);
    let high = controlling_check(&rig, 21, 1, true);
    rig.receive(addr(p1), &high);
    // Our own (triggered) checks succeed: both pairs nominated; the higher one is selected.
    for _ in 0..4 {
        rig.advance(Duration::from_millis(50));
        answer_all(&mut rig, None);
    }
    assert_eq!(rig.agent.state(), State::Completed);
    let sel = rig.agent.selected_pair(1).unwrap();
    assert!(sel.nominated);
    assert_eq!(sel.remote.addr, addr(p1));
}

#[test]
fn controlling_ignores_use_candidate_from_the_peer() {
    let mut rig = Rig::with_peer(Role::Controlling);
    rig.take_sent();
    // A controlled peer (wrongly) sends USE-CANDIDATE: answered normally, not a nomination.
    let req = check(&rig, 30, |b| {
        b.add(&Attribute::Priority(1)).unwrap();
        b.add(&Attribute::IceControlled(1)).unwrap();
        b.add(&Attribute::UseCandidate).unwrap();
    });
    rig.receive(addr(PEER), &req);
    let sent = rig.take_sent();
    assert_eq!(reply(&sent, 30).class(), Class::Success);
    rig.advance(Duration::from_millis(60));
    answer_all(&mut rig, None);
    // Connected through our own check, not Completed: nothing nominated yet.
    assert_eq!(rig.agent.state(), State::Connected);
    assert!(!rig.agent.selected_pair(1).unwrap().nominated);
}

#[test]
fn rfc8445_7_3_1_checks_before_the_credentials_are_remembered() {
    let mut rig = Rig::new(Config::new(Role::Controlled));
    // The peer's check arrives before its credentials (trickle, RFC 8838 §7).
    let req = controlling_check(&rig, 40, 1, false);
    rig.receive(addr(PEER), &req);
    let sent = rig.take_sent();
    assert_eq!(reply(&sent, 40).class(), Class::Success);
    assert!(rig.agent.remote_candidates().is_empty());
    let now = rig.now;
    rig.agent
        .set_remote_credentials(now, PEER_UFRAG, PEER_PWD)
        .unwrap();
    rig.drain();
    // RFC 8445 §7.3.1.3: a peer-reflexive remote candidate with the PRIORITY of the check.
    let r = rig.agent.remote_candidates();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].kind, CandidateKind::PeerReflexive);
    assert_eq!(r[0].priority, 1_862_270_975);
    // §7.3.1.4: a triggered check to it.
    rig.advance(Duration::from_millis(1));
    let sent = rig.take_sent();
    let reqs = requests(&sent);
    assert_eq!(reqs.len(), 1);
    assert_eq!(sent[0].1, addr(PEER));
}

#[test]
fn rfc8445_7_3_1_3_a_signalled_candidate_replaces_the_peer_reflexive_one() {
    let mut rig = Rig::with_peer(Role::Controlled);
    let req = controlling_check(&rig, 41, 1, false);
    rig.receive(addr(PEER), &req);
    assert_eq!(
        rig.agent.remote_candidates()[0].kind,
        CandidateKind::PeerReflexive
    );
    let now = rig.now;
    rig.agent
        .add_remote_candidate(now, peer_candidate(PEER, 2_130_706_431))
        .unwrap();
    let r = rig.agent.remote_candidates();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].kind, CandidateKind::Host);
    assert_eq!(r[0].foundation, "7");
    // The signalled priority, not the PRIORITY of the check (RFC 8445 §5.1.1.2: a candidate
    // known from signalling is not peer-reflexive), and still one pair.
    assert_eq!(r[0].priority, 2_130_706_431);
    assert_eq!(rig.agent.pair_count(), 1);
}

#[test]
fn rfc8445_7_3_1_3_the_replaced_peer_reflexive_candidate_pairs_with_every_host_once() {
    let mut rig = Rig::with_peer(Role::Controlled);
    let now = rig.now;
    rig.agent.add_local_host(1, addr("192.0.2.1:4001")).unwrap();
    rig.drain();
    let req = controlling_check(&rig, 42, 1, false);
    rig.receive(addr(PEER), &req);
    // The check came to LOCAL only: one pair with the peer-reflexive candidate.
    assert_eq!(rig.agent.pair_count(), 1);
    rig.agent
        .add_remote_candidate(now, peer_candidate(PEER, 2_130_706_431))
        .unwrap();
    // RFC 8445 §6.1.2.2: the signalled candidate pairs with both hosts, the pair the check
    // formed is kept and not formed twice.
    assert_eq!(rig.agent.pair_count(), 2);
    // Signalled again: nothing changes.
    rig.agent
        .add_remote_candidate(now, peer_candidate(PEER, 2_130_706_431))
        .unwrap();
    assert_eq!(rig.agent.pair_count(), 2);
    assert_eq!(rig.agent.remote_candidates().len(), 1);
}

#[test]
fn rfc8445_7_3_1_3_a_check_before_the_candidate_reports_the_signalled_type_on_the_selected_pair() {
    // The race of issue #16: the peer's nominating check arrives before the candidate it
    // trickles; the pair is selected on a peer-reflexive remote candidate, then the
    // signalled host candidate with that address arrives.
    let mut rig = Rig::with_peer(Role::Controlled);
    let req = controlling_check(&rig, 43, 1, true);
    rig.receive(addr(PEER), &req);
    rig.advance(Duration::from_millis(1));
    assert_eq!(answer_all(&mut rig, None), 1, "the triggered check");
    let selected = |events: &[Event]| {
        events
            .iter()
            .filter_map(|e| match e {
                Event::SelectedPair {
                    remote, nominated, ..
                } => Some((remote.kind, remote.priority, *nominated)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        selected(&rig.events),
        vec![(CandidateKind::PeerReflexive, 1_862_270_975, true)]
    );
    rig.events.clear();
    let now = rig.now;
    rig.agent
        .add_remote_candidate(now, peer_candidate(PEER, 2_130_706_431))
        .unwrap();
    rig.drain();
    // The selected pair is reported again, with the signalled type and priority.
    assert_eq!(
        selected(&rig.events),
        vec![(CandidateKind::Host, 2_130_706_431, true)]
    );
    let p = rig.agent.selected_pair(1).unwrap();
    assert_eq!(p.remote.kind, CandidateKind::Host);
    assert_eq!(p.remote.foundation, "7");
    assert!(p.nominated);
    assert_eq!(rig.agent.pair_count(), 1);
    assert_eq!(rig.agent.state(), State::Completed);
}

#[test]
fn rfc8445_14_2_checks_are_paced_by_ta() {
    let mut rig = Rig::with_peer(Role::Controlling);
    let now = rig.now;
    for i in 0..5u16 {
        let a = SocketAddr::new(addr(PEER).ip(), 6000 + i);
        // Distinct foundations so that all are Waiting (RFC 8445 §6.1.2.6).
        let mut c = peer_candidate(&a.to_string(), 2_000_000_000 - u32::from(i));
        c.foundation = format!("f{i}");
        rig.agent.add_remote_candidate(now, c).unwrap();
    }
    rig.drain();
    rig.advance(Duration::from_millis(300));
    let times: Vec<_> = rig.take_sent().iter().map(|s| s.3).collect();
    assert_eq!(times.len(), 5);
    for w in times.windows(2) {
        assert_eq!(w[1] - w[0], Duration::from_millis(50), "{times:?}");
    }
}

#[test]
fn rfc8445_6_1_2_6_pairs_of_one_foundation_wait_frozen_until_one_succeeds() {
    let mut rig = Rig::with_peer(Role::Controlling);
    let now = rig.now;
    for i in 0..3u16 {
        let a = SocketAddr::new(addr(PEER).ip(), 6000 + i);
        rig.agent
            .add_remote_candidate(
                now,
                peer_candidate(&a.to_string(), 2_000_000_000 - u32::from(i)),
            )
            .unwrap();
    }
    rig.drain();
    // One foundation: only the first pair is Waiting; the others stay Frozen while it is in
    // progress (and unfreeze when nothing else is left to do, RFC 8445 §6.1.4.2).
    rig.advance(Duration::from_millis(120));
    let sent = rig.take_sent();
    assert_eq!(
        requests(&sent).len(),
        1,
        "only one pair of the foundation is checked"
    );
    rig.sent = sent;
    answer_all(&mut rig, None);
    // §7.2.5.3.3: its success unfreezes the others.
    rig.advance(Duration::from_millis(120));
    let reqs = rig.take_sent();
    let to: Vec<_> = requests(&reqs).iter().map(|m| m.use_candidate()).collect();
    assert!(to.len() >= 2, "{to:?}");
}

#[test]
fn rfc8445_14_3_retransmissions_double_to_the_cap_then_the_pair_fails() {
    let mut rig = Rig::with_peer(Role::Controlling);
    let now = rig.now;
    rig.agent
        .add_remote_candidate(now, peer_candidate(PEER, 2_130_706_431))
        .unwrap();
    rig.agent.end_of_remote_candidates(now);
    rig.drain();
    rig.advance(Duration::from_secs(20));
    let times: Vec<_> = rig.take_sent().iter().map(|s| s.3.as_millis()).collect();
    // 7 requests: RTO 500 ms doubling, capped at 3 s (Config::max_rto).
    assert_eq!(times, vec![0, 500, 1500, 3500, 6500, 9500, 12500]);
    assert_eq!(rig.agent.state(), State::Failed);
    assert_eq!(rig.agent.stats().retransmissions, 6);
}
