//! Session set-up and refusals: XEP-0371 §5.2, §5.4, §5.5 and the errors of XEP-0166; requests tracked and bounded.

use super::*;

#[test]
fn xep0371_5_2_session_initiate_with_candidates_and_ice2() {
    let now = t0();
    let mut s = romeo(Config::allowing(Allowance::AllowList), 1);
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

#[test]
fn iq_results_errors_and_timeouts_tracked_per_request() {
    let now = t0();
    let mut s = romeo(Config::default(), 3);
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
    let mut s = romeo(Config::default(), 4);
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
    let mut s = romeo(cfg, 5);
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
