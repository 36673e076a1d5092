//! Consent freshness (RFC 7675) with str0m, and a 487 to our consent check.

use super::*;

#[test]
fn consent_keeps_the_session_with_str0m() {
    let mut n = Net::new(Role::Controlling, false, larger());
    n.run_until(Duration::from_secs(10), Net::connected);
    let checks = n.ours.stats().consent_checks_sent;
    n.run_for(Duration::from_secs(60));
    assert_eq!(n.ours.state(), State::Completed);
    assert!(n.ours.stats().consent_checks_sent >= checks + 9);
    assert!(n.str0m_connected());
    n.assert_same_nominated_5_tuple();
    n.assert_str0m_took_all_of_ours();
    assert_eq!(
        n.str0m_nominations(),
        1,
        "str0m kept its one nominated pair"
    );
    n.exchange_data();
}

#[test]
fn str0m_turns_controlling_and_answers_our_consent_check_with_487() {
    // A session with ours controlling; then str0m flipped to controlling (larger tie-breaker)
    // just as one of our consent checks (RFC 7675) is on its way to it, so that the first to
    // meet the conflict is that consent check: str0m answers it 487 (RFC 8445 §7.3.1.1).
    let mut n = Net::new(Role::Controlling, false, larger());
    n.run_until(Duration::from_secs(10), Net::connected);
    let consent_checks = n.ours.stats().consent_checks_sent;
    n.run_until(Duration::from_secs(20), |n| {
        n.ours.stats().consent_checks_sent > consent_checks
    });
    let in_flight: Vec<_> = n
        .wire
        .iter()
        .filter(|p| p.from == addr(OURS))
        .map(|p| Message::decode(&p.data).unwrap())
        .collect();
    assert_eq!(in_flight.len(), 1);
    assert_eq!(in_flight[0].class(), Class::Request);
    assert_eq!(in_flight[0].ice_controlling(), Some(our_tie_breaker()));
    n.str0m.set_controlling(true);
    let flipped_at = n.elapsed();
    // str0m's application keeps sending while this happens.
    let end = n.now + Duration::from_secs(20);
    while n.now < end {
        let (source, destination) = n.str0m_nominated().unwrap();
        n.push(source, destination, b"media".to_vec());
        n.step();
    }
    n.run_for(Duration::from_millis(100));
    let conflict = n
        .from_str0m
        .iter()
        .find(|m| m.at > flipped_at)
        .cloned()
        .unwrap();
    assert_eq!(
        (conflict.class, conflict.error),
        (Class::Error, Some(487)),
        "{conflict:?}"
    );
    assert_eq!(conflict.our_role, Role::Controlling);
    assert_eq!(conflict.dropped, None, "taken in");
    // RFC 8445 §7.2.5.1: we switched to controlled; str0m's later USE-CANDIDATE checks were
    // taken in that role.
    assert_eq!(n.our_role_changes(), vec![Role::Controlled]);
    assert!(
        n.from_str0m
            .iter()
            .any(|m| m.at > conflict.at && m.use_candidate && m.dropped.is_none())
    );
    // The selected pair stayed valid and nominated: no state change, no data dropped.
    assert_eq!(
        n.our_state_changes().last().unwrap().1,
        State::Completed,
        "{:?}",
        n.our_state_changes()
    );
    assert!(
        n.our_state_changes().iter().all(|(t, _)| *t < flipped_at),
        "{:?}",
        n.our_state_changes()
    );
    assert_eq!(n.our_data_dropped, vec![], "data from str0m dropped");
    assert!(n.our_data.len() > 1000);
    n.assert_same_nominated_5_tuple();
    assert!(n.str0m.controlling());
    assert!(n.str0m_connected());
    n.exchange_data();
}
