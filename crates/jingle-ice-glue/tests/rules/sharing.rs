//! XEP-0371 §11.1: no candidate leaves before the policy allows it; held candidates are bounded.

use super::*;

#[test]
fn xep0371_11_1_no_candidate_before_the_policy_allows() {
    let now = t0();
    let mut s = romeo(Config::default(), 12);
    s.add_local_host(now, 1, "192.0.2.1:5000".parse().unwrap())
        .unwrap();
    s.initiate(now, None).unwrap();
    let (out, _) = drain(&mut s);
    // Credentials only: no candidate in any stanza.
    let init = &sets(&out, Action::SessionInitiate)[0];
    let (_, t) = init.ice_transports().next().unwrap();
    assert!(t.ufrag.is_some() && t.candidates.is_empty());
    assert!(
        sets(&out, Action::TransportInfo).is_empty(),
        "no gathering-complete either while held"
    );
    assert_eq!(s.queued_candidates(), 1);
    // The peer's candidates are held too: no connectivity check leaves from our addresses.
    let accept = iq(
        "a1",
        "session-accept",
        SID,
        &transport(
            IceNamespace::IceUdp1,
            Some(("9uB6", "YH75Fviy6338Vbrhr1p8Yh")),
            &cand("", "j1", "192.0.2.2", 6000),
            "",
        ),
    )
    .replace(
        &format!("from='{ROMEO}' to='{JULIET}'"),
        &format!("from='{JULIET}' to='{ROMEO}'"),
    );
    assert!(s.handle_xml(now, &accept).is_ok());
    s.handle_timeout(now + Duration::from_secs(1));
    assert!(s.poll_transmit().is_none());
    assert!(s.agent().remote_candidates().is_empty());
    // Allowed: the candidate goes out, the peer's reach the agent, checks start.
    s.allow_candidates(now + Duration::from_secs(1), Allowance::DirectedPresence);
    let (out, ev) = drain(&mut s);
    assert!(ev.contains(&Event::SharingAllowed(Allowance::DirectedPresence)));
    let ti = sets(&out, Action::TransportInfo);
    assert_eq!(
        ti.iter()
            .flat_map(|j| j
                .ice_transports()
                .map(|(_, t)| t.candidates.len())
                .collect::<Vec<_>>())
            .sum::<usize>(),
        1
    );
    assert_eq!(s.agent().remote_candidates().len(), 1);
    assert_eq!(s.queued_candidates(), 0);
    s.handle_timeout(now + Duration::from_secs(2));
    assert!(s.poll_transmit().is_some());
}

#[test]
fn xep0371_11_1_two_sessions_connect_once_allowed() {
    // Romeo waits for the policy; Juliet's user accepts (which allows her side).
    let mut n = Net::new([Config::default(), Config::default()], [41, 42]);
    n.initiate();
    assert!(!n.run_until(Duration::from_secs(2), |n| {
        n.both(jingle_ice_glue::ice_sans_io::State::Completed)
    }));
    assert!(
        n.jingles(0, Action::TransportInfo)
            .iter()
            .all(|j| j.ice_transports().all(|(_, t)| t.candidates.is_empty()))
    );
    n.s[0].allow_candidates(n.now, Allowance::PresenceSubscription);
    n.drain();
    assert!(n.run_until(Duration::from_secs(5), |n| {
        n.both(jingle_ice_glue::ice_sans_io::State::Completed)
    }));
}

#[test]
fn held_candidates_are_bounded() {
    let (mut s, now) = juliet(Config::default(), IceNamespace::Ice0);
    // Juliet has not accepted: Romeo's candidates are held, up to the limit.
    let many: String = (0..200)
        .map(|i| {
            cand(
                "",
                &format!("m{i}"),
                &format!("10.0.{}.{}", i / 250, i % 250 + 1),
                5000,
            )
        })
        .collect();
    let x = iq(
        "f1",
        "transport-info",
        SID,
        &transport(IceNamespace::Ice0, Some((R_UFRAG, R_PWD)), &many, ""),
    );
    assert!(s.handle_xml(now, &x).is_ok());
    assert!(s.queued_candidates() <= 64 + 1);
    assert!(s.stats().candidates_over_limit > 0);
}
