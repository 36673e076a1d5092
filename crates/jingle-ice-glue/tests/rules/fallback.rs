//! XEP-0371 §6: fallback to raw UDP, accepted, refused by policy, and ours.

use super::*;

#[test]
fn xep0371_6_fallback_to_raw_udp_accepted() {
    let now = t0();
    let mut s = romeo(Config::default(), 9);
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
    let mut s = romeo(cfg, 10);
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
    let mut s = romeo(Config::default(), 33);
    s.initiate(now, None).unwrap();
    assert_eq!(
        s.replace_with_raw_udp(now, "192.0.2.1:7000".parse().unwrap()),
        Err(jingle_ice_glue::Error::SharingNotAllowed)
    );
}
