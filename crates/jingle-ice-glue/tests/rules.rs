//! One test (or a few) per rule of XEP-0371 §5 to §8 and §11, named after the section, with
//! hand-written stanzas fed to one session.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use jingle_ice_glue::xep0371_model::minidom::Element;
use jingle_ice_glue::xep0371_model::{
    Action, DefinedCondition, FromXml, IceFeatures, IceNamespace, Iq, IqPayload, Jingle,
    JingleCondition, Reading, Transport,
};
use jingle_ice_glue::{Allowance, Config, Event, Handled, Phase, Refused, Role, Session};

const R_UFRAG: &str = "8hhy";
const R_PWD: &str = "asd88fgpdd777uzjYhagZg";

#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

fn cand(ns: &str, id: &str, ip: &str, port: u16) -> String {
    let _ = ns;
    format!(
        "<candidate component='1' foundation='1' generation='0' id='{id}' ip='{ip}' network='0' port='{port}' priority='2130706431' protocol='udp' type='host'/>"
    )
}

fn transport(ns: IceNamespace, creds: Option<(&str, &str)>, inner: &str, attrs: &str) -> String {
    let c = creds
        .map(|(u, p)| format!(" ufrag='{u}' pwd='{p}'"))
        .unwrap_or_default();
    format!(
        "<transport xmlns='{}'{c}{attrs}>{inner}</transport>",
        ns.as_str()
    )
}

fn iq(id: &str, action: &str, sid: &str, transport: &str) -> String {
    format!(
        "<iq from='{ROMEO}' to='{JULIET}' id='{id}' type='set'><jingle xmlns='urn:xmpp:jingle:1' action='{action}' initiator='{ROMEO}' sid='{sid}'><content creator='initiator' name='0'>{transport}</content></jingle></iq>"
    )
}

fn initiate_xml(ns: IceNamespace, cands: &str) -> String {
    iq(
        "i1",
        "session-initiate",
        SID,
        &transport(ns, Some((R_UFRAG, R_PWD)), cands, ""),
    )
}

/// Juliet, responder, fed Romeo's session-initiate.
fn juliet(cfg: Config, ns: IceNamespace) -> (Session, Instant) {
    let now = t0();
    let mut s = Session::new(cfg, Role::Responder, SID, jid(JULIET), jid(ROMEO), seed(7));
    s.add_local_host(now, 1, "192.0.2.2:6000".parse().unwrap())
        .unwrap();
    let h = s
        .handle_xml(now, &initiate_xml(ns, &cand("", "a1", "192.0.2.1", 5000)))
        .unwrap();
    assert_eq!(h, Handled::Acknowledged(Action::SessionInitiate));
    (s, now)
}

fn drain(s: &mut Session) -> (Vec<Iq>, Vec<Event>) {
    let mut out = Vec::new();
    while let Some(i) = s.poll_iq() {
        out.push(i);
    }
    while s.poll_transmit().is_some() {}
    let mut ev = Vec::new();
    while let Some(e) = s.poll_event() {
        ev.push(e);
    }
    (out, ev)
}

fn jingle_of(iq: &Iq) -> Option<Jingle> {
    match &iq.payload {
        IqPayload::Set(el) => Jingle::read(el, Reading::Lenient).ok().map(|p| p.value),
        _ => None,
    }
}

fn sets(out: &[Iq], action: Action) -> Vec<Jingle> {
    out.iter()
        .filter_map(jingle_of)
        .filter(|j| j.action == action)
        .collect()
}

fn is_result(iq: &Iq, id: &str) -> bool {
    iq.id == id && matches!(iq.payload, IqPayload::Result(None))
}

fn jingle_condition(r: &Refused) -> Option<JingleCondition> {
    match &r.reply().payload {
        IqPayload::Error { error, .. } => error.jingle,
        _ => None,
    }
}

// ------------------------------------------------------------------ §5.2 and §5.4

#[test]
fn xep0371_5_2_session_initiate_with_candidates_and_ice2() {
    let now = t0();
    let mut s = Session::new(
        Config::allowing(Allowance::AllowList),
        Role::Initiator,
        SID,
        jid(ROMEO),
        jid(JULIET),
        seed(1),
    );
    s.set_peer_features(IceFeatures {
        ice0: true,
        ..IceFeatures::default()
    });
    s.add_local_host(now, 1, "192.0.2.1:5000".parse().unwrap())
        .unwrap();
    s.add_local_host(now, 1, "198.51.100.1:5000".parse().unwrap())
        .unwrap();
    s.initiate(
        now,
        Some(Element::bare("description", "urn:xmpp:jingle:apps:rtp:1")),
    )
    .unwrap();
    assert_eq!(s.phase(), Phase::Pending);
    let (out, _) = drain(&mut s);
    let init = &sets(&out, Action::SessionInitiate)[0];
    assert_eq!(init.initiator, Some(jid(ROMEO)));
    let c = &init.contents[0];
    assert!(c.description.is_some());
    let Some(Transport::Ice(t)) = &c.transport else {
        panic!()
    };
    assert_eq!(t.namespace, IceNamespace::Ice0);
    assert_eq!(t.ice2, Some(true));
    assert_eq!(t.candidates.len(), 2);
    assert!(
        t.candidates
            .iter()
            .all(|c| c.generation == Some(0) && c.network == Some(0) && c.id.is_some())
    );
    // The strict reading takes what we write.
    for iq in &out {
        Iq::try_from(Element::from(iq)).unwrap();
        if let IqPayload::Set(el) = &iq.payload {
            Jingle::try_from(el.clone()).unwrap();
        }
    }
    // XEP-0371 §5.7: gathering-complete is standalone, in a transport-info after the offer.
    assert!(!t.gathering_complete);
    let ti = sets(&out, Action::TransportInfo);
    assert_eq!(ti.len(), 1);
    assert!(
        ti[0]
            .ice_transports()
            .all(|(_, t)| t.gathering_complete && t.candidates.is_empty())
    );
    // Verbs out of place are API errors, not panics.
    assert!(s.initiate(now, None).is_err());
    assert!(s.accept(now, None).is_err());
}

#[test]
fn xep0371_5_4_session_accept_in_the_initiators_namespace() {
    for ns in [IceNamespace::Ice0, IceNamespace::IceUdp1] {
        let (mut s, now) = juliet(Config::default(), ns);
        let (out, ev) = drain(&mut s);
        assert!(is_result(&out[0], "i1"));
        assert!(ev.iter().any(|e| matches!(e, Event::Initiated { .. })));
        assert_eq!(s.namespace(), ns);
        s.accept(now, None).unwrap();
        let (out, ev) = drain(&mut s);
        // Accepting is the user's approval of IP sharing (XEP-0371 §11.1).
        assert!(ev.contains(&Event::SharingAllowed(Allowance::UserAccepted)));
        let acc = &sets(&out, Action::SessionAccept)[0];
        assert_eq!(acc.responder, Some(jid(JULIET)));
        assert_eq!(acc.initiator, Some(jid(ROMEO)));
        let (_, t) = acc.ice_transports().next().unwrap();
        assert_eq!(t.namespace, ns);
        assert_eq!(t.candidates.len(), 1);
        // ice2 only exists in ice:0 (XEP-0371 §5.3).
        assert_eq!(t.ice2.is_some(), ns == IceNamespace::Ice0);
        let gc = sets(&out, Action::TransportInfo)
            .iter()
            .any(|j| j.ice_transports().any(|(_, t)| t.gathering_complete));
        assert_eq!(gc, ns == IceNamespace::Ice0, "XEP-0371 §7: ice:0 only");
        assert_eq!(s.agent().remote_candidates().len(), 1);
    }
}

// ------------------------------------------------------------------ §5.5 and XEP-0166 errors

#[test]
fn xep0371_5_5_unknown_session() {
    let (mut s, now) = juliet(Config::default(), IceNamespace::Ice0);
    let _ = drain(&mut s);
    let ti = iq(
        "t9",
        "transport-info",
        "another-sid",
        &transport(IceNamespace::Ice0, None, "", ""),
    );
    let r = s.handle_xml(now, &ti).unwrap_err();
    assert!(matches!(r, Refused::UnknownSession { .. }));
    assert_eq!(jingle_condition(&r), Some(JingleCondition::UnknownSession));
    let reply = r.reply();
    assert_eq!(
        (reply.id.as_str(), reply.to.clone()),
        ("t9", Some(jid(ROMEO)))
    );
    let IqPayload::Error { error, .. } = &reply.payload else {
        panic!()
    };
    assert_eq!(error.condition, DefinedCondition::ItemNotFound);
    // From another sender: unknown too.
    let other = iq("t8", "transport-info", SID, "").replace(ROMEO, "mallory@evil.example/x");
    assert!(matches!(
        s.handle_xml(now, &other),
        Err(Refused::UnknownSession { .. })
    ));
    // Footnote 21: a transport-info before the session-initiate.
    let mut fresh = Session::new(
        Config::default(),
        Role::Responder,
        SID,
        jid(JULIET),
        jid(ROMEO),
        seed(2),
    );
    let ti = iq(
        "t7",
        "transport-info",
        SID,
        &transport(
            IceNamespace::Ice0,
            Some((R_UFRAG, R_PWD)),
            &cand("", "a", "192.0.2.1", 5000),
            "",
        ),
    );
    assert!(matches!(
        fresh.handle_xml(now, &ti),
        Err(Refused::UnknownSession { .. })
    ));
    assert_eq!(s.stats().refused, 2);
    assert_eq!(fresh.stats().refused, 1);
    // Nothing was queued: the caller sends the reply.
    assert!(s.poll_iq().is_none());
}

#[test]
fn xep0166_out_of_order() {
    let (mut s, now) = juliet(Config::default(), IceNamespace::Ice0);
    let _ = drain(&mut s);
    for (id, action) in [
        ("o1", "session-initiate"),
        ("o2", "session-accept"),
        ("o3", "transport-accept"),
        ("o4", "transport-reject"),
    ] {
        let x = iq(
            id,
            action,
            SID,
            &transport(IceNamespace::Ice0, Some((R_UFRAG, R_PWD)), "", ""),
        );
        let r = s.handle_xml(now, &x).unwrap_err();
        assert!(matches!(r, Refused::OutOfOrder { .. }), "{action}: {r:?}");
        assert_eq!(jingle_condition(&r), Some(JingleCondition::OutOfOrder));
        let IqPayload::Error { error, .. } = &r.reply().payload else {
            panic!()
        };
        assert_eq!(error.condition, DefinedCondition::UnexpectedRequest);
    }
}

#[test]
fn xep0371_5_5_bad_request() {
    let (mut s, now) = juliet(Config::allowing(Allowance::AllowList), IceNamespace::Ice0);
    let _ = drain(&mut s);
    let bad = |inner: &str, creds: Option<(&str, &str)>, attrs: &str| {
        iq(
            "b1",
            "transport-info",
            SID,
            &transport(IceNamespace::Ice0, creds, inner, attrs),
        )
    };
    let cases = [
        // XEP-0371 §5.3: candidates without ufrag and pwd.
        bad(&cand("", "x", "192.0.2.9", 9), None, ""),
        // Not an IP address.
        bad(&cand("", "x", "not-an-ip", 9), Some((R_UFRAG, R_PWD)), ""),
        // A port out of range.
        bad(
            &cand("", "x", "192.0.2.9", 9).replace("port='9'", "port='70000'"),
            Some((R_UFRAG, R_PWD)),
            "",
        ),
        // A pwd that is no ice-char string.
        bad("", Some((R_UFRAG, "pass word with spaces!!")), ""),
        // §5.3: ice2 may not change (it was absent; true now, then false).
        bad("", Some((R_UFRAG, R_PWD)), " ice2='true'"),
        bad("", Some((R_UFRAG, R_PWD)), " ice2='false'"),
        // No transport at all.
        iq("b1", "transport-info", SID, ""),
    ];
    let mut refusals = 0;
    for (i, x) in cases.iter().enumerate() {
        match s.handle_xml(now, x) {
            Err(Refused::BadRequest { reply, .. }) => {
                refusals += 1;
                assert_eq!(reply.id, "b1");
                let IqPayload::Error { error, .. } = &reply.payload else {
                    panic!()
                };
                assert_eq!(error.condition, DefinedCondition::BadRequest);
            }
            // Case 4 sets ice2 for the first time: accepted.
            Ok(_) if i == 4 => {}
            other => panic!("case {i}: {other:?}"),
        }
    }
    assert_eq!(refusals, 6);
    assert_eq!(s.agent().remote_candidates().len(), 1);
    // Not well-formed, or no id: dropped and counted, nothing to answer.
    assert!(matches!(
        s.handle_xml(now, "<iq type='set'><jingle"),
        Ok(Handled::Dropped(_))
    ));
    assert!(matches!(
        s.handle_xml(now, "<iq type='set'><jingle xmlns='urn:xmpp:jingle:1' action='transport-info' sid='x'/></iq>"),
        Ok(Handled::Dropped(_))
    ));
    assert_eq!(s.stats().dropped_malformed, 2);
    // Other payloads, other stanzas, results to nothing: not ours.
    assert_eq!(
        s.handle_xml(now, "<message from='a@b/c'/>"),
        Ok(Handled::NotOurs)
    );
    assert_eq!(
        s.handle_xml(now, "<iq id='q' type='get' from='romeo@montague.example/orchard'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"),
        Ok(Handled::NotOurs)
    );
    assert_eq!(
        s.handle_xml(now, &format!("<iq id='zz' type='result' from='{ROMEO}'/>")),
        Ok(Handled::NotOurs)
    );
    assert_eq!(s.stats().unmatched_responses, 1);
}

#[test]
fn xep0166_application_actions_go_to_the_caller() {
    let (mut s, now) = juliet(Config::default(), IceNamespace::Ice0);
    let x = format!(
        "<iq from='{ROMEO}' id='s1' type='set'><jingle xmlns='urn:xmpp:jingle:1' action='session-info' sid='{SID}'><ringing xmlns='urn:xmpp:jingle:apps:rtp:info:1'/></jingle></iq>"
    );
    let Ok(Handled::Application(j)) = s.handle_xml(now, &x) else {
        panic!()
    };
    assert_eq!(j.action, Action::SessionInfo);
}

// ------------------------------------------------------------------ requests tracked

#[test]
fn iq_results_errors_and_timeouts_tracked_per_request() {
    let now = t0();
    let mut s = Session::new(
        Config::default(),
        Role::Initiator,
        SID,
        jid(ROMEO),
        jid(JULIET),
        seed(3),
    );
    s.initiate(now, None).unwrap();
    let (out, _) = drain(&mut s);
    let id = out[0].id.clone();
    assert_eq!(s.pending_requests(), 1);
    // The IQ timeout is a deadline of the session.
    let deadline = s.poll_timeout().unwrap();
    assert!(deadline <= now + Duration::from_secs(30));
    s.handle_timeout(now + Duration::from_secs(31));
    let (_, ev) = drain(&mut s);
    assert!(ev.contains(&Event::IqTimeout {
        id: id.clone(),
        action: Action::SessionInitiate
    }));
    assert_eq!(s.pending_requests(), 0);
    // A late answer matches nothing.
    let late = format!("<iq from='{JULIET}' id='{id}' type='result'/>");
    assert_eq!(s.handle_xml(now, &late), Ok(Handled::NotOurs));

    // An error answer to session-initiate ends the session.
    let mut s = Session::new(
        Config::default(),
        Role::Initiator,
        SID,
        jid(ROMEO),
        jid(JULIET),
        seed(4),
    );
    s.initiate(now, None).unwrap();
    let (out, _) = drain(&mut s);
    let err = format!(
        "<iq from='{JULIET}' id='{}' type='error'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
        out[0].id
    );
    assert_eq!(s.handle_xml(now, &err), Ok(Handled::Response));
    let (_, ev) = drain(&mut s);
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::PeerError {
            action: Action::SessionInitiate,
            ..
        }
    )));
    assert_eq!(s.phase(), Phase::Ended);
}

#[test]
fn pending_requests_are_bounded() {
    let now = t0();
    let mut cfg = Config::allowing(Allowance::AllowList);
    cfg.max_pending_iqs = 3;
    let mut s = Session::new(cfg, Role::Initiator, SID, jid(ROMEO), jid(JULIET), seed(5));
    for p in 0..10 {
        s.add_local_host(now, 1, format!("192.0.2.{}:5000", p + 1).parse().unwrap())
            .unwrap();
    }
    s.initiate(now, None).unwrap();
    for p in 0..10 {
        s.add_local_host(
            now,
            1,
            format!("198.51.100.{}:5000", p + 1).parse().unwrap(),
        )
        .unwrap();
    }
    assert_eq!(s.pending_requests(), 3);
    assert!(s.stats().pending_evicted >= 8);
}

// ------------------------------------------------------------------ §5.8 and §8.2

#[test]
fn xep0371_8_1_namespace_from_disco_features() {
    let now = t0();
    for (features, ns) in [
        (
            vec![
                "urn:xmpp:jingle:1",
                "urn:xmpp:jingle:transports:ice:0",
                "urn:xmpp:jingle:transports:ice-udp:1",
            ],
            IceNamespace::Ice0,
        ),
        (
            vec!["urn:xmpp:jingle:1", "urn:xmpp:jingle:transports:ice:0"],
            IceNamespace::Ice0,
        ),
        (
            vec!["urn:xmpp:jingle:1", "urn:xmpp:jingle:transports:ice-udp:1"],
            IceNamespace::IceUdp1,
        ),
        (vec![], IceNamespace::IceUdp1),
    ] {
        let mut s = Session::new(
            Config::default(),
            Role::Initiator,
            SID,
            jid(ROMEO),
            jid(JULIET),
            seed(6),
        );
        s.set_peer_features(IceFeatures::from_features(&features));
        s.initiate(now, None).unwrap();
        assert_eq!(s.namespace(), ns, "{features:?}");
        let (out, _) = drain(&mut s);
        let (_, t) = sets(&out, Action::SessionInitiate)[0]
            .ice_transports()
            .next()
            .map(|(c, t)| (c.clone(), t.clone()))
            .unwrap();
        assert_eq!(t.namespace, ns);
    }
}

/// XEP-0371 §5.5 and §8.2: a peer advertising urn:ietf:rfc:3264 gets the candidates together;
/// §5.8: and the remote-candidate notification (MUST). Without it: one transport-info per
/// candidate and no notification (MAY, off by default).
#[test]
fn xep0371_8_2_rfc3264_batches_and_5_8_notification() {
    for rfc3264 in [false, true] {
        let mut cfg = [
            Config::allowing(Allowance::AllowList),
            Config::allowing(Allowance::AllowList),
        ];
        cfg[0].candidates_in_offer = false;
        let mut n = Net::new(cfg, [11, 12]);
        n.hosts[0] = vec![
            "192.0.2.1:5000".parse().unwrap(),
            "192.0.2.11:5000".parse().unwrap(),
            "192.0.2.21:5000".parse().unwrap(),
        ];
        n.s[0].set_peer_features(IceFeatures {
            ice0: true,
            rfc3264,
            ..IceFeatures::default()
        });
        n.connect();
        let _ = n.run_until(Duration::from_millis(500), |_| false);
        let ti = n.jingles(0, Action::TransportInfo);
        let with_cands: Vec<usize> = ti
            .iter()
            .flat_map(|j| {
                j.ice_transports()
                    .map(|(_, t)| t.candidates.len())
                    .collect::<Vec<_>>()
            })
            .filter(|n| *n > 0)
            .collect();
        if rfc3264 {
            assert_eq!(with_cands, vec![3]);
        } else {
            assert_eq!(with_cands, vec![1, 1, 1]);
        }
        let notified = ti.iter().any(|j| {
            j.ice_transports()
                .any(|(_, t)| !t.remote_candidates.is_empty())
        });
        assert_eq!(notified, rfc3264);
        assert_eq!(
            n.saw(1, |e| matches!(e, Event::RemoteCandidates { .. })),
            rfc3264
        );
        if rfc3264 {
            let (_, t) = ti
                .iter()
                .flat_map(|j| {
                    j.ice_transports()
                        .map(|(c, t)| (c.clone(), t.clone()))
                        .collect::<Vec<_>>()
                })
                .find(|(_, t)| !t.remote_candidates.is_empty())
                .unwrap();
            assert_eq!(
                t.remote_candidates[0].addr(),
                "192.0.2.2:6000".parse().unwrap()
            );
        }
    }
    // §5.8 MAY: on request.
    let mut cfg = [
        Config::allowing(Allowance::AllowList),
        Config::allowing(Allowance::AllowList),
    ];
    cfg[0].always_notify_remote_candidates = true;
    let mut n = Net::new(cfg, [13, 14]);
    n.connect();
    let _ = n.run_until(Duration::from_millis(500), |_| false);
    assert!(n.saw(1, |e| matches!(e, Event::RemoteCandidates { .. })));
}

// ------------------------------------------------------------------ §5.10

#[test]
fn xep0371_5_10_transport_info_during_unacknowledged_restart_is_acked_and_dropped() {
    let mut n = Net::new(
        [
            Config::allowing(Allowance::AllowList),
            Config::allowing(Allowance::AllowList),
        ],
        [21, 22],
    );
    n.connect();
    let before = n.s[0].agent().remote_candidates().len();
    n.hold = [true, false];
    n.s[0].restart(n.now).unwrap();
    n.drain();
    // Juliet's candidate of the old generation arrives before Romeo's restart reached her.
    let (u, p) = n.s[1].agent().local_credentials();
    let x = format!(
        "<iq from='{JULIET}' to='{ROMEO}' id='late1' type='set'><jingle xmlns='urn:xmpp:jingle:1' action='transport-info' sid='{SID}'><content creator='initiator' name='0'><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='{u}' pwd='{p}'><candidate component='1' foundation='9' generation='0' id='x9' ip='192.0.2.99' network='0' port='9999' priority='2130706431' protocol='udp' type='host'/></transport></content></jingle></iq>"
    );
    let now = n.now;
    assert_eq!(
        n.s[0].handle_xml(now, &x),
        Ok(Handled::Acknowledged(Action::TransportInfo))
    );
    assert!(n.s[0].poll_iq().is_some_and(|r| is_result(&r, "late1")));
    assert_eq!(n.s[0].stats().dropped_during_restart, 1);
    assert!(n.s[0].agent().remote_candidates().len() <= before);
    assert!(
        n.s[0]
            .agent()
            .remote_candidates()
            .iter()
            .all(|c| c.addr.port() != 9999)
    );
    // And after the restart, a stale generation's stanza is dropped too.
    n.release(0);
    let _ = n.run_until(Duration::from_secs(2), |n| !n.s[0].restart_pending());
    assert_eq!(
        n.s[0].handle_xml(n.now, &x.replace("late1", "late2")),
        Ok(Handled::Acknowledged(Action::TransportInfo))
    );
    assert_eq!(n.s[0].stats().dropped_during_restart, 2);
}

#[test]
fn xep0371_5_10_restart_needs_a_live_session() {
    let now = t0();
    let mut s = Session::new(
        Config::default(),
        Role::Initiator,
        SID,
        jid(ROMEO),
        jid(JULIET),
        seed(8),
    );
    assert!(s.restart(now).is_err());
    s.initiate(now, None).unwrap();
    s.restart(now).unwrap();
    assert!(matches!(
        s.restart(now),
        Err(jingle_ice_glue::Error::RestartPending)
    ));
}

// ------------------------------------------------------------------ §6

fn gateway_replace(id: &str) -> String {
    // Listing 11's shape (the content name as in our session-initiate).
    format!(
        "<iq from='{JULIET}' id='{id}' to='{ROMEO}' type='set'><jingle xmlns='urn:xmpp:jingle:1' action='transport-replace' initiator='{ROMEO}' sid='{SID}'><content creator='initiator' name='0'><transport xmlns='urn:xmpp:jingle:transports:raw-udp:1'><candidate generation='0' id='a9j3mnbtu1' ip='10.1.1.104' port='13540'/></transport></content></jingle></iq>"
    )
}

#[test]
fn xep0371_6_fallback_to_raw_udp_accepted() {
    let now = t0();
    let mut s = Session::new(
        Config::default(),
        Role::Initiator,
        SID,
        jid(ROMEO),
        jid(JULIET),
        seed(9),
    );
    s.add_local_host(now, 1, "192.0.2.1:5000".parse().unwrap())
        .unwrap();
    s.initiate(now, None).unwrap();
    let (out, _) = drain(&mut s);
    let _ = s.handle_xml(
        now,
        &format!("<iq from='{JULIET}' id='{}' type='result'/>", out[0].id),
    );
    // Listings 11 to 13: acknowledge, then transport-accept with the raw UDP candidate.
    assert_eq!(
        s.handle_xml(now, &gateway_replace("hy2gd714")),
        Ok(Handled::Acknowledged(Action::TransportReplace))
    );
    let (out, ev) = drain(&mut s);
    assert!(is_result(&out[0], "hy2gd714"));
    let acc = &sets(&out, Action::TransportAccept)[0];
    let Some(Transport::RawUdp(t)) = &acc.contents[0].transport else {
        panic!("{acc:?}")
    };
    assert_eq!(t.candidates[0].addr(), "10.1.1.104:13540".parse().unwrap());
    let remote = Some("10.1.1.104:13540".parse().unwrap());
    assert!(ev.contains(&Event::FellBackToRawUdp { remote }));
    assert!(s.is_raw_udp());
    assert_eq!(s.raw_udp_remote(), remote);
    // Listing 15: session-accept with an empty raw-udp transport.
    let accept = format!(
        "<iq from='{JULIET}' id='ijf61d43' to='{ROMEO}' type='set'><jingle xmlns='urn:xmpp:jingle:1' action='session-accept' initiator='{ROMEO}' responder='{JULIET}' sid='{SID}'><content creator='initiator' name='0'><transport xmlns='urn:xmpp:jingle:transports:raw-udp:1'/></content></jingle></iq>"
    );
    assert_eq!(
        s.handle_xml(now, &accept),
        Ok(Handled::Acknowledged(Action::SessionAccept))
    );
    assert_eq!(s.phase(), Phase::Active);
    // ICE signalling is over: no restart, transport-info out of order.
    assert!(s.restart(now).is_err());
    let ti = iq(
        "t1",
        "transport-info",
        SID,
        &transport(IceNamespace::Ice0, Some((R_UFRAG, R_PWD)), "", ""),
    )
    .replace(ROMEO, "x@y/z")
    .replace("from='x@y/z'", &format!("from='{JULIET}'"));
    assert!(matches!(
        s.handle_xml(now, &ti),
        Err(Refused::OutOfOrder { .. })
    ));
}

#[test]
fn xep0371_6_fallback_refused_by_policy() {
    let now = t0();
    let mut cfg = Config::default();
    cfg.accept_raw_udp_fallback = false;
    let mut s = Session::new(cfg, Role::Initiator, SID, jid(ROMEO), jid(JULIET), seed(10));
    s.initiate(now, None).unwrap();
    let _ = drain(&mut s);
    assert!(s.handle_xml(now, &gateway_replace("r1")).is_ok());
    let (out, _) = drain(&mut s);
    assert!(is_result(&out[0], "r1"));
    assert_eq!(sets(&out, Action::TransportReject).len(), 1);
    assert!(!s.is_raw_udp());
}

#[test]
fn xep0371_6_our_transport_replace() {
    for accept in [true, false] {
        let mut n = Net::new(
            [
                Config::allowing(Allowance::AllowList),
                Config::allowing(Allowance::AllowList),
            ],
            [31, 32],
        );
        n.s[1] = {
            let mut c = Config::allowing(Allowance::AllowList);
            c.accept_raw_udp_fallback = accept;
            Session::new(c, Role::Responder, SID, jid(JULIET), jid(ROMEO), seed(32))
        };
        n.connect();
        n.s[0]
            .replace_with_raw_udp(n.now, "192.0.2.1:7000".parse().unwrap())
            .unwrap();
        n.drain();
        let _ = n.run_until(Duration::from_secs(1), |_| false);
        assert_eq!(n.s[0].is_raw_udp(), accept);
        assert_eq!(n.s[1].is_raw_udp(), accept);
        if accept {
            assert_eq!(
                n.s[1].raw_udp_remote(),
                Some("192.0.2.1:7000".parse().unwrap())
            );
            assert!(n.saw(0, |e| matches!(e, Event::FellBackToRawUdp { .. })));
        } else {
            assert!(n.saw(0, |e| *e == Event::FallbackRejected));
        }
        assert!(n.refused.iter().all(Vec::is_empty), "{:?}", n.refused);
    }
    // §11.1: the raw UDP address is an IP address too.
    let now = t0();
    let mut s = Session::new(
        Config::default(),
        Role::Initiator,
        SID,
        jid(ROMEO),
        jid(JULIET),
        seed(33),
    );
    s.initiate(now, None).unwrap();
    assert_eq!(
        s.replace_with_raw_udp(now, "192.0.2.1:7000".parse().unwrap()),
        Err(jingle_ice_glue::Error::SharingNotAllowed)
    );
}

// ------------------------------------------------------------------ §11.1

#[test]
fn xep0371_11_1_no_candidate_before_the_policy_allows() {
    let now = t0();
    let mut s = Session::new(
        Config::default(),
        Role::Initiator,
        SID,
        jid(ROMEO),
        jid(JULIET),
        seed(12),
    );
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

// ------------------------------------------------------------------ XEP-0166 terminate

#[test]
fn xep0166_session_terminate() {
    let (mut s, now) = juliet(Config::default(), IceNamespace::Ice0);
    let x = format!(
        "<iq from='{ROMEO}' id='e1' type='set'><jingle xmlns='urn:xmpp:jingle:1' action='session-terminate' sid='{SID}'><reason><success/></reason></jingle></iq>"
    );
    assert_eq!(
        s.handle_xml(now, &x),
        Ok(Handled::Acknowledged(Action::SessionTerminate))
    );
    assert_eq!(s.phase(), Phase::Ended);
    let (_, ev) = drain(&mut s);
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::Terminated { reason: Some(_) }))
    );
    let ti = iq(
        "t1",
        "transport-info",
        SID,
        &transport(IceNamespace::Ice0, Some((R_UFRAG, R_PWD)), "", ""),
    );
    assert!(matches!(
        s.handle_xml(now, &ti),
        Err(Refused::UnknownSession { .. })
    ));
    // Our own terminate.
    let (mut s, now) = juliet(Config::default(), IceNamespace::Ice0);
    s.accept(now, None).unwrap();
    s.terminate(now, "success").unwrap();
    let (out, _) = drain(&mut s);
    assert_eq!(sets(&out, Action::SessionTerminate).len(), 1);
    assert!(s.terminate(now, "success").is_err());
}

/// XEP-0371 §8.1 with XEP-0176: an ice:0 session takes a transport in ice-udp:1 and the
/// reverse (a peer may change its mind or mix both), and answers in its own namespace.
#[test]
fn xep0371_8_1_incoming_transports_in_either_namespace() {
    for (ours, theirs) in [
        (IceNamespace::Ice0, IceNamespace::IceUdp1),
        (IceNamespace::IceUdp1, IceNamespace::Ice0),
    ] {
        let (mut s, now) = juliet(Config::allowing(Allowance::AllowList), ours);
        s.accept(now, None).unwrap();
        let _ = drain(&mut s);
        let x = iq(
            "n1",
            "transport-info",
            SID,
            &transport(
                theirs,
                Some((R_UFRAG, R_PWD)),
                &cand("", "b2", "192.0.2.11", 5001),
                "",
            ),
        );
        assert_eq!(
            s.handle_xml(now, &x),
            Ok(Handled::Acknowledged(Action::TransportInfo))
        );
        assert_eq!(s.agent().remote_candidates().len(), 2);
        assert_eq!(s.namespace(), ours);
        s.add_local_host(now, 1, "198.51.100.2:6000".parse().unwrap())
            .unwrap();
        let (out, _) = drain(&mut s);
        let ti = sets(&out, Action::TransportInfo);
        assert!(
            ti.iter()
                .all(|j| j.ice_transports().all(|(_, t)| t.namespace == ours))
        );
    }
}

/// XEP-0166: an error answering one of our transport-infos is reported with its id and action.
#[test]
fn peer_error_to_a_transport_info() {
    let (mut s, now) = juliet(Config::allowing(Allowance::AllowList), IceNamespace::Ice0);
    s.accept(now, None).unwrap();
    let (out, _) = drain(&mut s);
    let ti = out
        .iter()
        .find(|i| jingle_of(i).is_some_and(|j| j.action == Action::TransportInfo))
        .unwrap();
    let err = format!(
        "<iq from='{ROMEO}' id='{}' type='error'><error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
        ti.id
    );
    assert_eq!(s.handle_xml(now, &err), Ok(Handled::Response));
    let (_, ev) = drain(&mut s);
    assert!(ev.iter().any(|e| matches!(e, Event::PeerError { id, action: Action::TransportInfo, error } if *id == ti.id && error.condition == DefinedCondition::BadRequest)));
    assert_eq!(s.phase(), Phase::Active);
}

// ------------------------------------------------------------------ chosen values

#[test]
fn chosen_credentials_interface_numbers_and_early_gathering() {
    let now = t0();
    let mut s = Session::new(
        Config::allowing(Allowance::PresenceSubscription),
        Role::Initiator,
        SID,
        jid(ROMEO),
        jid(JULIET),
        seed(40),
    );
    // RFC 8445 §5.3 lengths: refused with the agent's reason, nothing changed.
    assert!(matches!(
        s.set_local_credentials("8hh", R_PWD),
        Err(jingle_ice_glue::Error::Credentials(_))
    ));
    s.set_local_credentials(R_UFRAG, R_PWD).unwrap();
    // XEP-0371 §5.3 `network`: the interface of the candidate's base.
    s.add_local_host_on_network(now, 1, "10.0.1.1:8998".parse().unwrap(), 1)
        .unwrap();
    s.add_local_host(now, 1, "192.0.2.9:9000".parse().unwrap())
        .unwrap();
    // Gathering before the offer: the agent's candidates come out as events.
    s.gather(now);
    let (out, ev) = drain(&mut s);
    assert!(out.is_empty(), "nothing is signalled before initiate");
    let locals = ev
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Ice(jingle_ice_glue::ice_sans_io::Event::LocalCandidate(_))
            )
        })
        .count();
    assert_eq!(locals, 2);
    assert!(ev.contains(&Event::Ice(
        jingle_ice_glue::ice_sans_io::Event::GatheringComplete
    )));
    s.initiate(now, None).unwrap();
    let (out, _) = drain(&mut s);
    let init = &sets(&out, Action::SessionInitiate)[0];
    let Some(Transport::Ice(t)) = &init.contents[0].transport else {
        panic!("{init:?}")
    };
    assert_eq!(
        (t.ufrag.as_deref(), t.pwd.as_deref()),
        (Some(R_UFRAG), Some(R_PWD))
    );
    let networks: Vec<(String, Option<u8>)> = t
        .candidates
        .iter()
        .map(|c| (c.addr().to_string(), c.network))
        .collect();
    assert_eq!(
        networks,
        [
            ("10.0.1.1:8998".to_owned(), Some(1)),
            ("192.0.2.9:9000".to_owned(), Some(0))
        ]
    );
    // Once offered, only a restart changes them.
    assert_eq!(
        s.set_local_credentials("g7qs", "bv71hdn38hgb39hf6xlk33"),
        Err(jingle_ice_glue::Error::WrongPhase(Phase::Pending))
    );
}

#[test]
fn restart_with_chosen_credentials() {
    let mut n = Net::new(
        [
            Config::allowing(Allowance::AllowList),
            Config::allowing(Allowance::AllowList),
        ],
        [41, 42],
    );
    n.connect();
    let now = n.now;
    let (old, _) = n.s[0].agent().local_credentials();
    let old = old.to_owned();
    // The same ufrag is no restart (RFC 8445 §9); a refused restart changes nothing.
    assert!(matches!(
        n.s[0].restart_with_credentials(now, &old, "bv71hdn38hgb39hf6xlk33"),
        Err(jingle_ice_glue::Error::Credentials(_))
    ));
    assert!(!n.s[0].restart_pending());
    n.s[0]
        .restart_with_credentials(now, "g7qs", "bv71hdn38hgb39hf6xlk33")
        .unwrap();
    n.drain();
    assert!(n.run_until(Duration::from_secs(10), |n| {
        n.s.iter().all(|s| s.agent().generation() == 1)
            && n.both(jingle_ice_glue::ice_sans_io::State::Completed)
    }));
    assert_eq!(
        n.s[1].agent().remote_credentials(),
        Some(("g7qs", "bv71hdn38hgb39hf6xlk33"))
    );
    assert!(n.refused.iter().all(Vec::is_empty), "{:?}", n.refused);
}

#[test]
fn xep0371_6_gateway_replaces_before_accepting() {
    // Listings 9 to 16: the responder (a gateway) answers session-initiate with
    // transport-replace, then accepts the session on raw UDP.
    let mut n = Net::new(
        [
            Config::allowing(Allowance::AllowList),
            Config::allowing(Allowance::AllowList),
        ],
        [43, 44],
    );
    n.auto_accept = false;
    n.initiate();
    assert!(n.run_until(Duration::from_secs(1), |n| n.s[1].phase() == Phase::Pending));
    let now = n.now;
    n.s[1]
        .replace_with_raw_udp(now, "10.1.1.104:13540".parse().unwrap())
        .unwrap();
    n.drain();
    assert!(n.run_until(Duration::from_secs(1), |n| n.s[1].is_raw_udp()));
    let now = n.now;
    n.s[1].accept(now, None).unwrap();
    n.drain();
    assert!(n.run_until(Duration::from_secs(1), |n| n.s[0].phase() == Phase::Active));
    assert!(n.s[0].is_raw_udp());
    assert_eq!(
        n.s[0].raw_udp_remote(),
        Some("10.1.1.104:13540".parse().unwrap())
    );
    assert!(n.refused.iter().all(Vec::is_empty), "{:?}", n.refused);
}
