//! Two sessions in virtual time: session-initiate / session-accept / transport-info both ways,
//! connectivity, data, restarts from each side and the simultaneous-restart tie-break, in
//! ice:0 and ice-udp:1.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use jingle_ice_glue::ice_sans_io::State;
use jingle_ice_glue::xep0371_model::{Action, IceFeatures, IceNamespace, Transport};
use jingle_ice_glue::{Allowance, Config, Event, Phase};

fn allowed() -> [Config; 2] {
    [
        Config::allowing(Allowance::PresenceSubscription),
        Config::allowing(Allowance::PresenceSubscription),
    ]
}

fn net(ns: IceNamespace) -> Net {
    let mut n = Net::new(allowed(), [1, 2]);
    let f = IceFeatures {
        ice0: ns == IceNamespace::Ice0,
        ice_udp1: true,
        ..IceFeatures::default()
    };
    n.s[0].set_peer_features(f);
    n
}

fn transports_ns(n: &Net, i: usize) -> Vec<IceNamespace> {
    n.sent[i]
        .iter()
        .filter_map(|iq| match &iq.payload {
            jingle_ice_glue::xep0371_model::IqPayload::Set(el) => Some(el.clone()),
            _ => None,
        })
        .flat_map(|el| {
            el.children()
                .flat_map(|c| c.children())
                .filter(|t| t.name() == "transport")
                .filter_map(|t| IceNamespace::from_uri(&t.ns()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn connect_and_talk(ns: IceNamespace) -> Net {
    let mut n = net(ns);
    n.connect();
    assert_eq!(n.s[0].phase(), Phase::Active);
    assert_eq!(n.s[1].phase(), Phase::Active);
    assert_eq!(n.s[0].namespace(), ns);
    assert_eq!(n.s[1].namespace(), ns);
    // Every transport either side sent is in the chosen namespace.
    for i in 0..2 {
        let all = transports_ns(&n, i);
        assert!(!all.is_empty());
        assert!(all.iter().all(|x| *x == ns), "{all:?}");
    }
    // session-initiate and session-accept carried the host candidate (XEP-0371 §5.2, §5.4).
    for (i, a) in [(0, Action::SessionInitiate), (1, Action::SessionAccept)] {
        let j = &n.jingles(i, a)[0];
        let Some(Transport::Ice(t)) = &j.contents[0].transport else {
            panic!("{j:?}")
        };
        assert_eq!(t.candidates.len(), 1);
        assert_eq!(t.ice2, (ns == IceNamespace::Ice0).then_some(true));
    }
    // gathering-complete only in ice:0 (XEP-0371 §7).
    let gc = n
        .jingles(0, Action::TransportInfo)
        .iter()
        .any(|j| j.ice_transports().any(|(_, t)| t.gathering_complete));
    assert_eq!(gc, ns == IceNamespace::Ice0);
    // Selected pairs, and data both ways.
    assert!(n.saw(0, |e| matches!(
        e,
        Event::Ice(jingle_ice_glue::ice_sans_io::Event::SelectedPair {
            nominated: true,
            ..
        })
    )));
    n.send_data(0, b"hello juliet");
    n.send_data(1, b"hello romeo");
    assert_eq!(n.data[1], vec![b"hello juliet".to_vec()]);
    assert_eq!(n.data[0], vec![b"hello romeo".to_vec()]);
    // Every request was answered with a result.
    for i in 0..2 {
        assert!(n.refused[i].is_empty(), "{:?}", n.refused[i]);
        assert!(!n.saw(i, |e| matches!(
            e,
            Event::PeerError { .. } | Event::IqTimeout { .. }
        )));
    }
    n
}

#[test]
fn two_sessions_connect_ice0() {
    connect_and_talk(IceNamespace::Ice0);
}

#[test]
fn two_sessions_connect_ice_udp1() {
    connect_and_talk(IceNamespace::IceUdp1);
}

#[test]
fn two_sessions_trickle_only() {
    // XEP-0371 §5.2: the transport "MAY instead be empty (with each candidate to be sent as
    // the payload of a transport-info message)".
    let mut cfg = allowed();
    for c in &mut cfg {
        c.candidates_in_offer = false;
    }
    let mut n = Net::new(cfg, [3, 4]);
    n.connect();
    let j = &n.jingles(0, Action::SessionInitiate)[0];
    assert!(j.ice_transports().all(|(_, t)| t.candidates.is_empty()));
    assert!(
        n.jingles(0, Action::TransportInfo)
            .iter()
            .any(|j| j.ice_transports().any(|(_, t)| t.candidates.len() == 1))
    );
}

/// Both sides in generation 1 with each other's credentials, no restart pending, and a pair
/// nominated again after event index `k` on each side.
fn renegotiated(n: &Net, k: [usize; 2]) -> bool {
    (0..2).all(|i| {
        let s = &n.s[i];
        s.agent().generation() == 1
            && !s.restart_pending()
            && s.agent().remote_credentials() == Some(n.s[1 - i].agent().local_credentials())
            && n.events[i][k[i]..].iter().any(|(_, e)| {
                matches!(
                    e,
                    Event::Ice(jingle_ice_glue::ice_sans_io::Event::SelectedPair {
                        nominated: true,
                        ..
                    })
                )
            })
    })
}

fn restart_from(ns: IceNamespace, who: usize) {
    let mut n = connect_and_talk(ns);
    let k = [n.events[0].len(), n.events[1].len()];
    let gens = [n.s[0].agent().generation(), n.s[1].agent().generation()];
    n.s[who].restart(n.now).unwrap();
    assert!(n.s[who].restart_pending());
    n.drain();
    assert!(
        n.run_until(Duration::from_secs(10), |n| renegotiated(n, k)),
        "restart from {who} did not complete: {:?} {:?}",
        n.s[0].state(),
        n.s[1].state()
    );
    assert_eq!(gens, [0, 0]);
    assert!(n.saw(who, |e| matches!(
        e,
        Event::Restarted {
            by_peer: false,
            generation: 1
        }
    )));
    assert!(n.saw(1 - who, |e| matches!(
        e,
        Event::Restarted {
            by_peer: true,
            generation: 1
        }
    )));
    for i in 0..2 {
        assert!(n.refused[i].is_empty(), "{:?}", n.refused[i]);
    }
    n.send_data(0, b"after restart");
    assert_eq!(n.data[1].last().unwrap(), b"after restart");
}

/// XEP-0371 §5.10: a restart from the initiator, then from the responder, in both namespaces.
#[test]
fn xep0371_5_10_restart_from_initiator_ice0() {
    restart_from(IceNamespace::Ice0, 0);
}

#[test]
fn xep0371_5_10_restart_from_responder_ice0() {
    restart_from(IceNamespace::Ice0, 1);
}

#[test]
fn xep0371_5_10_restart_from_initiator_ice_udp1() {
    restart_from(IceNamespace::IceUdp1, 0);
}

#[test]
fn xep0371_5_10_restart_from_responder_ice_udp1() {
    restart_from(IceNamespace::IceUdp1, 1);
}

/// XEP-0371 §5.10: "both parties will send ICE restart simultaneously. In this case session
/// initiator MUST respond with <tie-break/> error".
fn simultaneous(ns: IceNamespace) {
    let mut n = connect_and_talk(ns);
    let k = [n.events[0].len(), n.events[1].len()];
    // Both restart before either sees the other's stanza.
    n.hold = [true, true];
    n.s[0].restart(n.now).unwrap();
    n.s[1].restart(n.now).unwrap();
    n.drain();
    n.release(0);
    n.release(1);
    assert!(
        n.run_until(Duration::from_secs(10), |n| renegotiated(n, k)),
        "no recovery: {:?} {:?}",
        n.s[0].state(),
        n.s[1].state()
    );
    // Romeo (initiator) refused Juliet's restart with tie-break, and won.
    assert!(
        n.refused[0]
            .iter()
            .any(|r| matches!(r, jingle_ice_glue::Refused::TieBreak { .. }))
    );
    assert!(n.saw(0, |e| matches!(e, Event::TieBreak { won: true })));
    assert!(n.saw(1, |e| matches!(e, Event::TieBreak { won: false })));
    assert!(n.refused[1].is_empty(), "{:?}", n.refused[1]);
    // Both ended on the same credentials for each side.
    let (ru, rp) = n.s[0].agent().local_credentials();
    assert_eq!(n.s[1].agent().remote_credentials(), Some((ru, rp)));
    let (ju, jp) = n.s[1].agent().local_credentials();
    assert_eq!(n.s[0].agent().remote_credentials(), Some((ju, jp)));
    n.send_data(1, b"after tie-break");
    assert_eq!(n.data[0].last().unwrap(), b"after tie-break");
}

#[test]
fn xep0371_5_10_simultaneous_restart_tie_break_ice0() {
    simultaneous(IceNamespace::Ice0);
}

#[test]
fn xep0371_5_10_simultaneous_restart_tie_break_ice_udp1() {
    simultaneous(IceNamespace::IceUdp1);
}

/// The same seeds replay the same run: every stanza identical.
#[test]
fn same_seed_same_stanzas() {
    let a = connect_and_talk(IceNamespace::Ice0);
    let b = connect_and_talk(IceNamespace::Ice0);
    assert_eq!(a.sent, b.sent);
    let c = {
        let mut n = Net::new(allowed(), [9, 2]);
        n.connect();
        n
    };
    assert_ne!(a.sent[0], c.sent[0]);
}

/// A seeded sweep: seeds, stanza delays and network latencies vary; each run connects, restarts
/// from one side (or both at once) and connects again. A failure prints the run to repeat.
#[test]
fn seeded_sweep() {
    for seed in 0..24u8 {
        for ns in [IceNamespace::Ice0, IceNamespace::IceUdp1] {
            let repro = format!("seed {seed}, {ns}");
            let mut n = Net::new(
                allowed(),
                [
                    seed.wrapping_mul(2).wrapping_add(100),
                    seed.wrapping_mul(2).wrapping_add(101),
                ],
            );
            n.stanza_delay = Duration::from_millis(5 + u64::from(seed) * 13 % 200);
            n.latency = Duration::from_millis(1 + u64::from(seed) * 7 % 60);
            n.s[0].set_peer_features(IceFeatures {
                ice0: ns == IceNamespace::Ice0,
                ice_udp1: true,
                rfc3264: seed % 4 == 3,
                ..IceFeatures::default()
            });
            n.initiate();
            assert!(
                n.run_until(Duration::from_secs(15), |n| {
                    n.s.iter()
                        .all(|s| s.state() == jingle_ice_glue::ice_sans_io::State::Completed)
                }),
                "{repro}: no connection"
            );
            let k = [n.events[0].len(), n.events[1].len()];
            if seed % 3 == 0 {
                n.hold = [true, true];
                n.s[0].restart(n.now).unwrap();
                n.s[1].restart(n.now).unwrap();
                n.drain();
                n.release(0);
                n.release(1);
            } else {
                let who = usize::from(seed % 2);
                n.s[who].restart(n.now).unwrap();
                n.drain();
            }
            assert!(
                n.run_until(Duration::from_secs(15), |n| renegotiated(n, k)),
                "{repro}: no renegotiation"
            );
            assert!(n.refused[1].is_empty(), "{repro}: {:?}", n.refused[1]);
        }
    }
}

/// A callee whose user takes 30 s to accept (XEP-0371 §11.1: its candidates wait for the
/// acceptance, and so do the caller's candidates it holds): neither agent gives up meanwhile
/// (the no-end-of-candidates timer of RFC 8838 §8 starts with the peer's first candidate, not
/// with its credentials), and the call connects once accepted.
#[test]
fn a_callee_that_accepts_after_thirty_seconds_still_connects() {
    // The caller allows its candidates at once (it chose the callee: its allow list, as
    // jingle-ice-tokio's calls do); the callee's wait for its user.
    let mut n = Net::new(
        [Config::allowing(Allowance::AllowList), Config::default()],
        [21, 22],
    );
    n.auto_accept = false;
    n.initiate();
    // Thirty seconds of ringing.
    let _ = n.run_until(Duration::from_secs(30), |_| false);
    assert!(
        n.saw(1, |e| matches!(e, Event::Initiated { .. })),
        "the offer did not arrive"
    );
    for i in 0..2 {
        assert_ne!(
            n.s[i].state(),
            State::Failed,
            "side {i} gave up before the accept"
        );
    }
    let now = n.now;
    n.s[1].accept(now, None).unwrap();
    n.drain();
    assert!(
        n.run_until(Duration::from_secs(10), |n| n.both(State::Completed)),
        "not connected after the accept: {:?} {:?}",
        n.s[0].state(),
        n.s[1].state()
    );
    for i in 0..2 {
        assert!(
            !n.saw(i, |e| matches!(
                e,
                Event::Ice(jingle_ice_glue::ice_sans_io::Event::ComponentFailed { .. })
            )),
            "side {i} reported a failed component"
        );
    }
}
