//! XEP-0166 session-terminate, transports in either namespace, errors to our requests.

use super::*;

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
