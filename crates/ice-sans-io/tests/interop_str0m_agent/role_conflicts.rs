//! Role conflicts with str0m (RFC 8445 §7.3.1.1): USE-CANDIDATE while we control, both controlling, both controlled.

use super::*;

#[test]
fn str0m_use_candidate_while_we_are_controlling_ours_wins() {
    let (mut n, m) = flip_str0m_to_controlling(smaller());
    // RFC 8445 §7.3.1.1: our tie-breaker is larger: 487, the request (and its USE-CANDIDATE)
    // is not processed, we stay controlling.
    assert_eq!(m.dropped, Some(DropReason::Refused));
    n.run_for(Duration::from_secs(10));
    // RFC 8445 §7.2.5.1: str0m took our 487 and switched back to controlled.
    assert!(
        n.from_ours
            .iter()
            .any(|o| o.at > m.at && o.error == Some(487) && o.accepted),
        "str0m took our 487"
    );
    assert!(!n.str0m.controlling());
    assert_eq!(n.ours.role(), Role::Controlling);
    assert!(n.our_role_changes().is_empty());
    assert_eq!(n.ours.state(), State::Completed);
    n.assert_same_nominated_5_tuple();
    assert!(n.str0m_connected());
    n.assert_str0m_took_all_of_ours();
    n.exchange_data();
}

#[test]
fn str0m_use_candidate_while_we_are_controlling_str0m_wins() {
    let (mut n, m) = flip_str0m_to_controlling(larger());
    // RFC 8445 §7.3.1.1: str0m's tie-breaker is larger: we switch to controlled and process
    // the request, USE-CANDIDATE included (§7.3.1.5), on the pair already nominated.
    assert_eq!(m.dropped, None);
    assert_eq!(n.ours.role(), Role::Controlled);
    assert_eq!(n.our_role_changes(), vec![Role::Controlled]);
    n.run_for(Duration::from_secs(10));
    assert!(n.str0m.controlling());
    assert_eq!(n.ours.role(), Role::Controlled);
    assert_eq!(n.ours.state(), State::Completed);
    n.assert_same_nominated_5_tuple();
    assert!(n.str0m_connected());
    n.exchange_data();
}

#[test]
fn both_controlling_ours_wins() {
    let mut n = Net::new(Role::Controlling, true, smaller());
    let t = n.run_until(Duration::from_secs(10), Net::connected);
    assert!(t < Duration::from_secs(3), "took {t:?}");
    // RFC 8445 §7.3.1.1: str0m's ICE-CONTROLLING check got our 487, and str0m switched to
    // controlled on it (§7.2.5.1).
    assert!(n.from_str0m.iter().any(|m| m.class == Class::Request
        && m.ice_controlling == Some(smaller())
        && m.dropped == Some(DropReason::Refused)));
    assert!(
        n.from_ours
            .iter()
            .any(|m| m.error == Some(487) && m.accepted)
    );
    assert!(!n.str0m.controlling());
    assert_eq!(n.ours.role(), Role::Controlling);
    assert!(n.our_role_changes().is_empty());
    n.assert_same_nominated_5_tuple();
    n.assert_str0m_took_all_of_ours();
    n.exchange_data();
}

#[test]
fn both_controlling_str0m_wins() {
    let mut n = Net::new(Role::Controlling, true, larger());
    let t = n.run_until(Duration::from_secs(10), Net::connected);
    assert!(t < Duration::from_secs(3), "took {t:?}");
    // RFC 8445 §7.3.1.1: str0m's ICE-CONTROLLING check made us switch to controlled and was
    // answered; str0m's 487 to our own first check, which crossed it, came when we had
    // switched already and switched nothing back (§7.2.5.1).
    let first = n.from_str0m[0].clone();
    assert_eq!(
        (first.class, first.our_role, first.dropped),
        (Class::Request, Role::Controlling, None)
    );
    assert!(
        n.from_str0m
            .iter()
            .any(|m| m.class == Class::Error && m.our_role == Role::Controlled)
    );
    assert_eq!(n.our_role_changes(), vec![Role::Controlled]);
    assert!(n.str0m.controlling());
    n.assert_same_nominated_5_tuple();
    n.assert_str0m_took_all_of_ours();
    n.exchange_data();
}

/// Both start controlled. RFC 8445 §7.3.1.1 for a controlled agent that receives
/// ICE-CONTROLLED: the larger (or equal) tie-breaker switches to controlling, the smaller
/// answers 487. str0m does the reverse (`stun_server_handle_request`: `if
/// self.control_tie_breaker >= peer_tb` answers 487 whatever its role); both sides then pass
/// through both-controlling, which str0m resolves like the RFC, so the larger tie-breaker
/// still ends controlling.
#[test]
fn both_controlled_ours_larger() {
    let mut n = Net::new(Role::Controlled, false, smaller());
    n.run_until(Duration::from_secs(10), Net::connected);
    // We switched to controlling on str0m's ICE-CONTROLLED check, as the RFC says; str0m,
    // smaller, answered our ICE-CONTROLLED check with success instead of 487 (it switched to
    // controlling), and went back to controlled on our ICE-CONTROLLING checks.
    assert_eq!(n.our_role_changes(), vec![Role::Controlling]);
    assert!(n.from_str0m.iter().all(|m| m.class != Class::Error));
    assert_eq!(n.ours.role(), Role::Controlling);
    assert!(!n.str0m.controlling());
    n.assert_same_nominated_5_tuple();
    n.assert_str0m_took_all_of_ours();
    n.exchange_data();
}

#[test]
fn both_controlled_str0m_larger() {
    let mut n = Net::new(Role::Controlled, false, larger());
    n.run_until(Duration::from_secs(10), Net::connected);
    // We answered str0m's ICE-CONTROLLED check with 487 and stayed controlled, as the RFC
    // says; str0m, larger, answered our ICE-CONTROLLED check with 487 too (the RFC would have
    // it switch to controlling), so on that 487 we switched to controlling, and back to
    // controlled on str0m's 487 to our ICE-CONTROLLING check.
    assert!(n.from_str0m.iter().any(|m| m.class == Class::Request
        && m.ice_controlled == Some(larger())
        && m.dropped == Some(DropReason::Refused)));
    assert!(
        n.from_str0m
            .iter()
            .any(|m| m.class == Class::Error && m.our_role == Role::Controlled)
    );
    assert_eq!(
        n.our_role_changes(),
        vec![Role::Controlling, Role::Controlled]
    );
    assert_eq!(n.ours.role(), Role::Controlled);
    assert!(n.str0m.controlling());
    n.assert_same_nominated_5_tuple();
    n.assert_str0m_took_all_of_ours();
    n.exchange_data();
}
