//! Two agents in virtual time over an in-memory network (tests/common).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Pair, Side};
use ice_sans_io::{Config, CredentialsError, Event, FailReason, Role, State};

fn pair(a: Config, b: Config, seed: u8) -> Pair {
    let a = Side::new(a, seed, &["10.0.0.1:5000"]);
    let b = Side::new(b, seed.wrapping_add(100), &["10.0.0.2:6000"]);
    let mut p = Pair::new(a, b, u64::from(seed));
    p.start();
    p
}

fn completed(p: &Pair) -> bool {
    p.both(State::Completed)
}

#[test]
fn host_to_host_connects_and_carries_data_both_ways() {
    let mut p = pair(
        Config::new(Role::Controlling),
        Config::new(Role::Controlled),
        1,
    );
    let t = p
        .run_until(Duration::from_secs(10), completed)
        .expect("connects");
    assert!(t < Duration::from_secs(2), "took {t:?}");
    let sel_a = p.a.agent.selected_pair(1).unwrap();
    let sel_b = p.b.agent.selected_pair(1).unwrap();
    assert!(sel_a.nominated && sel_b.nominated);
    assert_eq!(sel_a.base, "10.0.0.1:5000".parse().unwrap());
    assert_eq!(sel_a.remote.addr, "10.0.0.2:6000".parse().unwrap());
    assert_eq!(sel_b.remote.addr, "10.0.0.1:5000".parse().unwrap());
    assert!(sel_a.rtt.is_some());
    p.send(true, b"hello from a").unwrap();
    p.send(false, b"hello from b").unwrap();
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.b.received, vec![(1, b"hello from a".to_vec())]);
    assert_eq!(p.a.received, vec![(1, b"hello from b".to_vec())]);
    // States went through in order.
    assert_eq!(
        p.a.state_changes(),
        vec![State::Checking, State::Connected, State::Completed]
    );
    // SelectedPair: once for the valid pair, once more when nominated, never repeated.
    for side in [&p.a, &p.b] {
        let reported: Vec<bool> = side
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::SelectedPair { nominated, .. } => Some(*nominated),
                _ => None,
            })
            .collect();
        assert!(
            reported == vec![false, true] || reported == vec![true],
            "{reported:?}"
        );
    }
    // RFC 8445 §7.1.2: the controlled agent never sends USE-CANDIDATE; only the controlling
    // one nominated (one pair).
    assert_eq!(p.a.agent.role(), Role::Controlling);
    assert_eq!(p.b.agent.role(), Role::Controlled);
}

#[test]
fn both_controlling_resolve_by_tie_breaker() {
    let mut p = pair(
        Config::new(Role::Controlling),
        Config::new(Role::Controlling),
        2,
    );
    p.run_until(Duration::from_secs(10), completed)
        .expect("connects");
    let roles = [p.a.agent.role(), p.b.agent.role()];
    assert!(roles.contains(&Role::Controlling) && roles.contains(&Role::Controlled));
    // The one with the larger tie-breaker stays controlling (RFC 8445 §7.3.1.1).
    let a_wins = p.a.agent.tie_breaker() >= p.b.agent.tie_breaker();
    assert_eq!(p.a.agent.role() == Role::Controlling, a_wins);
    let switched = if a_wins { &p.b } else { &p.a };
    assert!(switched.saw(|e| matches!(e, Event::RoleChanged(Role::Controlled))));
}

#[test]
fn both_controlled_resolve_by_tie_breaker() {
    let mut p = pair(
        Config::new(Role::Controlled),
        Config::new(Role::Controlled),
        3,
    );
    p.run_until(Duration::from_secs(10), completed)
        .expect("connects");
    let a_wins = p.a.agent.tie_breaker() >= p.b.agent.tie_breaker();
    assert_eq!(p.a.agent.role() == Role::Controlling, a_wins);
    assert_ne!(p.a.agent.role(), p.b.agent.role());
}

#[test]
fn thirty_percent_loss_still_connects() {
    let (mut ok, mut lost, mut sent) = (0, 0, 0);
    for seed in 0..20u8 {
        let mut p = pair(
            Config::new(Role::Controlling),
            Config::new(Role::Controlled),
            seed,
        );
        p.loss = 0.3;
        if p.run_until(Duration::from_secs(30), completed).is_some() {
            ok += 1;
        }
        lost += p.lost;
        sent += p.lost + p.delivered;
    }
    let rate = lost as f64 / sent as f64;
    assert!(
        (0.2..0.4).contains(&rate),
        "the link lost {rate:.2} of {sent}"
    );
    assert!(ok >= 19, "{ok}/20 seeds connected under 30% loss");
}

#[test]
fn consent_lost_when_the_peer_goes_silent() {
    let mut p = pair(
        Config::new(Role::Controlling),
        Config::new(Role::Controlled),
        4,
    );
    p.run_until(Duration::from_secs(10), completed).unwrap();
    let silent_from = p.now - p.start;
    // Everything b sends is lost from now on.
    let b_host: std::net::SocketAddr = "10.0.0.2:6000".parse().unwrap();
    p.blackhole = Some(Box::new(move |from, _, _| from == b_host));
    let lost_at = p
        .run_until(Duration::from_secs(60), |p| {
            p.a.saw(|e| matches!(e, Event::ConsentLost { component: 1 }))
        })
        .expect("consent lost");
    let after = lost_at - silent_from;
    // RFC 7675 §5.1: 30 s after the last response (plus at most one consent interval).
    assert!(
        after >= Duration::from_secs(24) && after <= Duration::from_secs(31),
        "lost after {after:?}"
    );
    assert_eq!(p.a.agent.state(), State::Disconnected);
    assert_eq!(
        p.a.agent.send(p.now, 1, b"x"),
        Err(ice_sans_io::SendError::ConsentLost)
    );
    // Consent checks went out about every 5 s (0.8 to 1.2 times).
    let sent = p.a.agent.stats().consent_checks_sent;
    assert!((5..=9).contains(&sent), "{sent} consent checks");
}

#[test]
fn consent_keeps_a_quiet_session_alive() {
    let mut p = pair(
        Config::new(Role::Controlling),
        Config::new(Role::Controlled),
        5,
    );
    p.run_until(Duration::from_secs(10), completed).unwrap();
    p.run_for(Duration::from_secs(120));
    assert!(p.both(State::Completed));
    assert!(p.a.agent.stats().consent_checks_sent >= 20);
    assert!(p.b.agent.stats().consent_checks_sent >= 20);
}

#[test]
fn fails_after_end_of_candidates_when_nothing_is_reachable() {
    let mut p = pair(
        Config::new(Role::Controlling),
        Config::new(Role::Controlled),
        6,
    );
    p.blackhole = Some(Box::new(|_, _, _| true));
    let t = p
        .run_until(Duration::from_secs(60), |p| p.both(State::Failed))
        .expect("fails");
    // Seven requests, RTO from 500 ms doubling to a 3 s cap: 0.5+1+2+3+3+3+3 = 15.5 s.
    assert!(t < Duration::from_secs(17), "failed after {t:?}");
    assert!(p.a.saw(|e| matches!(
        e,
        Event::ComponentFailed {
            component: 1,
            reason: FailReason::AllPairsFailed
        }
    )));
    p.run_for(Duration::from_secs(30));
    assert!(p.both(State::Failed));
}

#[test]
fn fails_after_the_timeout_when_the_peer_never_sends_end_of_candidates() {
    let mut p = pair(
        Config::new(Role::Controlling),
        Config::new(Role::Controlled),
        7,
    );
    // Like deployed Jingle clients: no gathering-complete from either side.
    p.a.signal_end_of_candidates = false;
    p.b.signal_end_of_candidates = false;
    p.blackhole = Some(Box::new(|_, _, _| true));
    let t = p
        .run_until(Duration::from_secs(60), |p| p.both(State::Failed))
        .expect("fails");
    // 15.5 s of checks, then 10 s without a new candidate.
    assert!(
        t > Duration::from_secs(25) && t < Duration::from_secs(27),
        "{t:?}"
    );
    assert!(p.a.saw(|e| matches!(
        e,
        Event::ComponentFailed {
            reason: FailReason::NoEndOfCandidates,
            ..
        }
    )));
    // Failed is quiet: no deadline left that handling does not move (the harness checks).
    p.run_for(Duration::from_secs(30));
    assert!(p.both(State::Failed));
}

#[test]
fn a_peer_that_never_sends_end_of_candidates_still_connects() {
    let mut p = pair(
        Config::new(Role::Controlling),
        Config::new(Role::Controlled),
        8,
    );
    p.a.signal_end_of_candidates = false;
    p.b.signal_end_of_candidates = false;
    p.run_until(Duration::from_secs(10), completed)
        .expect("connects");
    assert!(!p.a.agent.remote_end_of_candidates());
}

#[test]
fn restart_in_mid_session_keeps_data_flowing_and_selects_anew() {
    let mut p = pair(
        Config::new(Role::Controlling),
        Config::new(Role::Controlled),
        9,
    );
    p.run_until(Duration::from_secs(10), completed).unwrap();
    let (old_ufrag, _) = p.a.agent.local_credentials();
    let old_ufrag = old_ufrag.to_owned();
    let events_before = p.a.events.len();
    p.restart(true);
    assert_eq!(p.a.agent.generation(), 1);
    assert_ne!(p.a.agent.local_credentials().0, old_ufrag);
    // Data still flows over the old pair before the new generation connects.
    p.send(true, b"during restart").unwrap();
    p.run_for(Duration::from_millis(15));
    assert_eq!(p.b.received.last().unwrap().1, b"during restart");
    p.run_until(Duration::from_secs(10), |p| {
        p.a.events[events_before..].iter().any(|(_, e)| {
            matches!(
                e,
                Event::SelectedPair {
                    nominated: true,
                    ..
                }
            )
        }) && p.b.agent.generation() == 1
            && p.both(State::Completed)
    })
    .expect("reconnects");
    assert_eq!(
        p.b.agent.generation(),
        1,
        "the peer restarted on new credentials"
    );
    p.send(false, b"after restart").unwrap();
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.a.received.last().unwrap().1, b"after restart");
    // Consent runs on the new pair and keeps the session.
    p.run_for(Duration::from_secs(40));
    assert!(p.both(State::Completed));
}

#[test]
fn two_components_each_get_a_pair() {
    let a = Side::new(
        Config::new(Role::Controlling).with_components(2),
        10,
        &["10.0.0.1:5000"],
    );
    let b = Side::new(
        Config::new(Role::Controlled).with_components(2),
        11,
        &["10.0.0.2:6000"],
    );
    let mut p = Pair::new(a, b, 10);
    p.start();
    p.run_until(Duration::from_secs(10), completed)
        .expect("connects");
    for c in [1, 2] {
        let s = p.a.agent.selected_pair(c).unwrap();
        assert_eq!(s.remote.component, c);
        assert_eq!(s.base.port(), 5000 + c - 1);
    }
}

#[test]
fn dual_stack_prefers_ipv6_and_connects() {
    let a = Side::new(
        Config::new(Role::Controlling),
        12,
        &["10.0.0.1:5000", "[2001:db8::1]:5000"],
    );
    let b = Side::new(
        Config::new(Role::Controlled),
        13,
        &["10.0.0.2:6000", "[2001:db8::2]:6000"],
    );
    let mut p = Pair::new(a, b, 12);
    p.start();
    p.run_until(Duration::from_secs(10), completed)
        .expect("connects");
    let s = p.a.agent.selected_pair(1).unwrap();
    assert!(s.base.is_ipv6(), "{s:?}");
}

#[test]
fn the_same_seed_replays_the_same_run() {
    let run = |seed| {
        let mut p = pair(
            Config::new(Role::Controlling),
            Config::new(Role::Controlling),
            seed,
        );
        p.loss = 0.2;
        p.run_for(Duration::from_secs(20));
        (
            format!("{:?}", p.a.events),
            format!("{:?}", p.b.events),
            p.a.agent.stats().clone(),
        )
    };
    assert_eq!(run(21), run(21));
    assert_ne!(run(21).0, run(22).0);
}

#[test]
fn without_consent_checks_keepalives_flow_and_nothing_spins() {
    let mut cfg = Config::new(Role::Controlling);
    cfg.consent_interval = None;
    let mut cfg_b = Config::new(Role::Controlled);
    cfg_b.consent_interval = None;
    let mut p = pair(cfg, cfg_b, 14);
    p.run_until(Duration::from_secs(10), completed).unwrap();
    // The harness asserts progress at every step: a deadline that handling does not move
    // would stop the run.
    p.run_for(Duration::from_secs(100));
    assert!(p.both(State::Completed));
    assert_eq!(p.a.agent.stats().consent_checks_sent, 0);
    // RFC 8445 §11: a Binding indication every 15 s on the idle selected pair.
    let k = p.a.agent.stats().keepalives_sent;
    assert!((6..=7).contains(&k), "{k} keepalives in 100 s");
}

#[test]
fn chosen_credentials_are_used_and_guarded() {
    // RFC 8445 §5.3: the application may choose the credentials (to replay a signalled
    // exchange, say), within the lengths and characters the RFC sets.
    let a = Side::new(Config::new(Role::Controlling), 14, &["10.0.0.1:5000"]);
    let b = Side::new(Config::new(Role::Controlled), 15, &["10.0.0.2:6000"]);
    let mut p = Pair::new(a, b, 14);
    let bad = [
        ("abc", "asd88fgpdd777uzjYhagZg", CredentialsError::BadUfrag),
        ("8hhy", "asd88fgpdd777uzjYhagZ", CredentialsError::BadPwd),
        ("8h:y", "asd88fgpdd777uzjYhagZg", CredentialsError::BadUfrag),
        ("8hhy", "asd88fgpdd777uzjYhagZg=", CredentialsError::BadPwd),
    ];
    for (u, pw, e) in bad {
        assert_eq!(p.a.agent.set_local_credentials(u, pw), Err(e), "{u} {pw}");
    }
    p.a.agent
        .set_local_credentials("8hhy", "asd88fgpdd777uzjYhagZg")
        .unwrap();
    p.b.agent
        .set_local_credentials("9uB6", "YH75Fviy6338Vbrhrlp8Yh")
        .unwrap();
    p.start();
    p.run_until(Duration::from_secs(10), completed)
        .expect("connects with the chosen credentials");
    assert_eq!(
        p.b.agent.remote_credentials(),
        Some(("8hhy", "asd88fgpdd777uzjYhagZg"))
    );
    // Used: only a restart changes them now, and to a new ufrag.
    assert_eq!(
        p.a.agent
            .set_local_credentials("g7qs", "bv71hdn38hgb39hf6xlk33"),
        Err(CredentialsError::InUse)
    );
    let now = p.now;
    assert_eq!(
        p.a.agent
            .restart_with_credentials(now, "8hhy", "bv71hdn38hgb39hf6xlk33"),
        Err(CredentialsError::InUse)
    );
    p.a.agent
        .restart_with_credentials(now, "g7qs", "bv71hdn38hgb39hf6xlk33")
        .unwrap();
    assert_eq!(p.a.agent.generation(), 1);
    assert_eq!(
        p.a.agent.local_credentials(),
        ("g7qs", "bv71hdn38hgb39hf6xlk33")
    );
    p.run_until(Duration::from_secs(10), |p| {
        p.b.agent.generation() == 1 && p.both(State::Completed)
    })
    .expect("reconnects after the restart");
    assert_eq!(
        p.b.agent.remote_credentials(),
        Some(("g7qs", "bv71hdn38hgb39hf6xlk33"))
    );
}
