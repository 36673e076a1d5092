//! Answering checks (RFC 8445 §7.3, RFC 8489 §6.3 and §9.1.3): success, errors, role conflicts.

use super::*;

#[test]
fn rfc8445_7_3_1_2_success_carries_xor_mapped_address_signed_with_our_password() {
    let mut rig = Rig::with_peer(Role::Controlling);
    rig.take_sent();
    let req = controlled_check(&rig, 1);
    assert_eq!(rig.receive(addr(PEER), &req), "Stun");
    let sent = rig.take_sent();
    let (from, to, ..) = sent[0];
    assert_eq!((from, to), (addr(LOCAL), addr(PEER)));
    let m = reply(&sent, 1);
    assert_eq!(m.class(), Class::Success);
    assert_eq!(
        m.get(AttributeType::XOR_MAPPED_ADDRESS),
        Some(Attribute::XorMappedAddress(addr(PEER)))
    );
    assert_eq!(m.verify_integrity(&rig.our_key()), Integrity::Ok);
    assert_eq!(rig.agent.stats().checks_received, 1);
}

#[test]
fn rfc8489_9_1_3_missing_username_or_integrity_is_400() {
    let mut rig = Rig::with_peer(Role::Controlling);
    rig.take_sent();
    let key = rig.our_key();
    for (tid, req) in [
        (
            1,
            request(1, None, Some(&key), |b| {
                b.add(&Attribute::Priority(1)).unwrap()
            }),
        ),
        (
            2,
            request(
                2,
                Some(&format!("{}:{PEER_UFRAG}", rig.our_ufrag())),
                None,
                |_| {},
            ),
        ),
    ] {
        assert!(rig.receive(addr(PEER), &req).contains("Refused"));
        let sent = rig.take_sent();
        let m = reply(&sent, tid);
        assert_eq!(m.class(), Class::Error);
        assert_eq!(m.error_code().unwrap().code, 400);
    }
}

#[test]
fn rfc8489_9_1_3_wrong_username_or_password_is_401_unsigned() {
    let mut rig = Rig::with_peer(Role::Controlling);
    rig.take_sent();
    let wrong_user = request(1, Some("nobody:peer"), Some(&rig.our_key()), |b| {
        b.add(&Attribute::Priority(1)).unwrap();
        b.add(&Attribute::IceControlled(1)).unwrap();
    });
    let wrong_key = request(
        2,
        Some(&format!("{}:{PEER_UFRAG}", rig.our_ufrag())),
        Some(&IntegrityKey::short_term("not-the-password-at-all")),
        |b| {
            b.add(&Attribute::Priority(1)).unwrap();
            b.add(&Attribute::IceControlled(1)).unwrap();
        },
    );
    for (tid, req) in [(1, wrong_user), (2, wrong_key)] {
        assert!(rig.receive(addr(PEER), &req).contains("Unauthenticated"));
        let sent = rig.take_sent();
        let m = reply(&sent, tid);
        assert_eq!(m.error_code().unwrap().code, 401);
        assert!(!m.has_integrity());
    }
    assert_eq!(rig.agent.stats().dropped_unauthenticated, 2);
    assert_eq!(rig.agent.stats().checks_received, 0);
}

#[test]
fn rfc8489_6_3_1_unknown_comprehension_required_attribute_is_420_with_the_list() {
    let mut rig = Rig::with_peer(Role::Controlling);
    rig.take_sent();
    let req = check(&rig, 3, |b| {
        b.add(&Attribute::Priority(1)).unwrap();
        b.add(&Attribute::IceControlled(1)).unwrap();
        b.add(&Attribute::Other {
            attr_type: AttributeType(0x7f01),
            value: &[1, 2, 3, 4],
        })
        .unwrap();
    });
    rig.receive(addr(PEER), &req);
    let sent = rig.take_sent();
    let m = reply(&sent, 3);
    assert_eq!(m.error_code().unwrap().code, 420);
    let unknown: Vec<_> = m.unknown_attributes().unwrap().iter().collect();
    assert_eq!(unknown, vec![AttributeType(0x7f01)]);
    assert_eq!(m.verify_integrity(&rig.our_key()), Integrity::Ok);
}

#[test]
fn rfc8445_7_1_1_a_check_without_priority_or_role_is_400() {
    let mut rig = Rig::with_peer(Role::Controlling);
    rig.take_sent();
    let no_priority = check(&rig, 4, |b| b.add(&Attribute::IceControlled(1)).unwrap());
    let no_role = check(&rig, 5, |b| b.add(&Attribute::Priority(1)).unwrap());
    for (tid, req) in [(4, no_priority), (5, no_role)] {
        rig.receive(addr(PEER), &req);
        let sent = rig.take_sent();
        assert_eq!(reply(&sent, tid).error_code().unwrap().code, 400);
    }
}

#[test]
fn rfc8489_6_3_a_malformed_binding_request_gets_400_and_garbage_is_counted() {
    let mut rig = Rig::with_peer(Role::Controlling);
    rig.take_sent();
    let mut req = controlled_check(&rig, 6);
    req.truncate(req.len() - 4); // length field no longer matches
    assert!(rig.receive(addr(PEER), &req).contains("Malformed"));
    let sent = rig.take_sent();
    let m = reply(&sent, 6);
    assert_eq!(m.error_code().unwrap().code, 400);
    // RFC 7983: not STUN, from no valid pair: dropped.
    assert_eq!(
        rig.receive(addr(PEER), &[0x80, 1, 2, 3]),
        "Dropped(UnknownPeer)"
    );
    assert_eq!(rig.receive(addr(PEER), &[]), "Dropped(Malformed)");
    assert_eq!(rig.agent.stats().dropped_malformed, 2);
    assert_eq!(rig.agent.stats().dropped_unknown_address, 1);
}

#[test]
fn rfc8445_7_3_1_1_role_conflict_when_both_controlling() {
    // Our tie-breaker from seed [7; 32]; the peer's either side of it.
    let mut rig = Rig::with_peer(Role::Controlling);
    let ours = rig.agent.tie_breaker();
    rig.take_sent();
    // Ours is larger or equal: 487, we stay controlling.
    let req = controlling_check(&rig, 8, ours, false);
    rig.receive(addr(PEER), &req);
    let sent = rig.take_sent();
    assert_eq!(reply(&sent, 8).error_code().unwrap().code, 487);
    assert_eq!(rig.agent.role(), Role::Controlling);
    // Theirs is larger: we switch to controlled and answer.
    let req = controlling_check(&rig, 9, ours.saturating_add(1), false);
    rig.receive(addr(PEER), &req);
    let sent = rig.take_sent();
    assert_eq!(reply(&sent, 9).class(), Class::Success);
    assert_eq!(rig.agent.role(), Role::Controlled);
    assert!(rig.events.contains(&Event::RoleChanged(Role::Controlled)));
}

#[test]
fn rfc8445_7_3_1_1_role_conflict_when_both_controlled() {
    let mut rig = Rig::with_peer(Role::Controlled);
    let ours = rig.agent.tie_breaker();
    rig.take_sent();
    let smaller = check(&rig, 10, |b| {
        b.add(&Attribute::Priority(1)).unwrap();
        b.add(&Attribute::IceControlled(ours - 1)).unwrap();
    });
    rig.receive(addr(PEER), &smaller);
    let sent = rig.take_sent();
    // Ours is larger: we switch to controlling and answer.
    assert_eq!(reply(&sent, 10).class(), Class::Success);
    assert_eq!(rig.agent.role(), Role::Controlling);

    let mut rig = Rig::with_peer(Role::Controlled);
    rig.take_sent();
    let larger = check(&rig, 11, |b| {
        b.add(&Attribute::Priority(1)).unwrap();
        b.add(&Attribute::IceControlled(u64::MAX)).unwrap();
    });
    rig.receive(addr(PEER), &larger);
    let sent = rig.take_sent();
    assert_eq!(reply(&sent, 11).error_code().unwrap().code, 487);
    assert_eq!(rig.agent.role(), Role::Controlled);
}
