//! Whole sessions with str0m in either role.

use super::*;

#[test]
fn ours_controlling_str0m_controlled() {
    let mut n = Net::new(Role::Controlling, false, larger());
    let t = n.run_until(Duration::from_secs(10), Net::connected);
    assert!(t < Duration::from_secs(2), "took {t:?}");
    n.assert_same_nominated_5_tuple();
    assert_eq!(n.ours.role(), Role::Controlling);
    assert!(!n.str0m.controlling());
    assert!(n.our_role_changes().is_empty());
    assert_eq!(
        n.our_state_changes()
            .into_iter()
            .map(|(_, s)| s)
            .collect::<Vec<_>>(),
        vec![State::Checking, State::Connected, State::Completed]
    );

    // Our nomination reached str0m and was taken.
    assert!(
        n.from_ours
            .iter()
            .any(|m| m.class == Class::Request && m.use_candidate && m.accepted)
    );
    n.assert_str0m_took_all_of_ours();

    // str0m checked us too, as controlled, and we took every check in.
    n.assert_str0m_messages_well_formed();
    let requests: Vec<_> = n
        .from_str0m
        .iter()
        .filter(|m| m.class == Class::Request)
        .collect();
    assert!(!requests.is_empty());
    for m in &requests {
        assert_eq!(m.dropped, None, "{m:?}");
        assert!(!m.use_candidate, "RFC 8445 §7.1.2: {m:?}");
        assert_eq!(
            (m.ice_controlling, m.ice_controlled),
            (None, Some(larger()))
        );
    }
    assert!(n.ours.stats().checks_received > 0);
    // str0m's answers to our checks were taken in too.
    assert!(n.ours.stats().responses_received > 0);
    assert_eq!(n.ours.stats().dropped_unauthenticated, 0);
    assert_eq!(n.ours.stats().dropped_malformed, 0);

    n.exchange_data();
}

#[test]
fn str0m_controlling_ours_controlled() {
    let mut n = Net::new(Role::Controlled, true, smaller());
    let t = n.run_until(Duration::from_secs(10), Net::connected);
    assert!(t < Duration::from_secs(3), "took {t:?}");
    n.assert_same_nominated_5_tuple();
    assert_eq!(n.ours.role(), Role::Controlled);
    assert!(n.str0m.controlling());
    assert!(n.our_role_changes().is_empty());

    // str0m nominated with USE-CANDIDATE; we took it, and completed only after it arrived.
    n.assert_str0m_messages_well_formed();
    let nomination = n
        .from_str0m
        .iter()
        .find(|m| m.class == Class::Request && m.use_candidate)
        .cloned()
        .expect("str0m nominated");
    assert_eq!(nomination.dropped, None);
    assert_eq!(nomination.our_role, Role::Controlled);
    assert_eq!(nomination.ice_controlling, Some(smaller()));
    // str0m's order, unlike ours (USERNAME, PRIORITY, ICE-CONTROLLING, ...).
    assert_eq!(
        nomination.attrs,
        [
            AttributeType::USERNAME,
            AttributeType::ICE_CONTROLLING,
            AttributeType::PRIORITY,
            AttributeType::USE_CANDIDATE,
            AttributeType::MESSAGE_INTEGRITY,
            AttributeType::FINGERPRINT,
        ]
    );
    let completed_at = n
        .our_state_changes()
        .into_iter()
        .find(|(_, s)| *s == State::Completed)
        .unwrap()
        .0;
    assert!(
        completed_at >= nomination.at,
        "completed before the nomination"
    );
    for m in &n.from_str0m {
        assert_eq!(m.dropped, None, "{m:?}");
    }

    // We never nominated.
    assert!(n.from_ours.iter().all(|m| !m.use_candidate));
    n.assert_str0m_took_all_of_ours();

    n.exchange_data();
}
