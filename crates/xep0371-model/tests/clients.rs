//! Stanzas shaped as deployed clients send them in `urn:xmpp:jingle:transports:ice-udp:1`, and
//! broken or hostile ones.
//!
//! Every client stanza here is a reconstruction from memory of what the named client sends
//! (attribute sets, candidate styles, foreign children), not a capture: addresses are
//! documentation ranges (RFC 5737, RFC 3849) and private ranges, credentials and ids are made
//! up. Each test states what the lenient reading forgives (exact count, attribute or child, rule)
//! and what the strict reading says.

use xep0371_model::{
    Action, Candidate, CandidateType, Error, FromXml, IceNamespace, IceTransport, Iq, IqPayload,
    Jingle, Parsed, Protocol, Reader, Reading, TcpType, parse_element,
};

/// Reads an IQ-set carrying a `<jingle/>`, collecting the diagnostics of both in one reader.
fn read_jingle(xml: &str, reading: Reading) -> Result<Parsed<Jingle>, Error> {
    let el = parse_element(xml, 1 << 16)?;
    let mut reader = Reader::new(reading);
    let iq = Iq::read_with(&el, &mut reader)?;
    let IqPayload::Set(payload) = &iq.payload else {
        panic!("not an IQ-set: {iq:?}");
    };
    let value = Jingle::read_with(payload, &mut reader)?;
    Ok(Parsed {
        value,
        diagnostics: reader.take_diagnostics(),
    })
}

/// Reads a bare `<transport/>`.
fn read_transport(xml: &str, reading: Reading) -> Result<Parsed<IceTransport>, Error> {
    IceTransport::read(&parse_element(xml, 1 << 16)?, reading)
}

/// `(element, attribute or child, rule id)` of each diagnostic, in document order.
fn summary(p: &[xep0371_model::Diagnostic]) -> Vec<(String, String, &'static str)> {
    p.iter()
        .map(|d| {
            let what = match &d.error {
                Error::UnexpectedChild { child, .. } => child.clone(),
                e => e.attribute().unwrap_or("-").to_owned(),
            };
            let element = d.error.element().unwrap_or("-").to_owned();
            (
                element,
                what,
                d.error.rule().expect("every diagnostic cites a rule").id,
            )
        })
        .collect()
}

fn owned(v: &[(&str, &str, &'static str)]) -> Vec<(String, String, &'static str)> {
    v.iter()
        .map(|(e, a, r)| ((*e).to_owned(), (*a).to_owned(), *r))
        .collect()
}

/// The single ICE transport of a Jingle with one content.
fn only_transport(j: &Jingle) -> &IceTransport {
    let mut it = j.ice_transports();
    let (_, t) = it.next().expect("an ICE transport");
    assert!(it.next().is_none(), "more than one ICE transport");
    t
}

/// Asserts that `e` is about `element` and `attribute` and that its Display names both.
fn assert_names(e: &Error, element: &str, attribute: &str) {
    assert_eq!(e.element(), Some(element), "{e}");
    assert_eq!(e.attribute(), Some(attribute), "{e}");
    let shown = e.to_string();
    assert!(shown.contains(&format!("<{element}")), "{shown}");
    assert!(shown.contains(attribute), "{shown}");
}

// ---------------------------------------------------------------------------------------------
// Conversations (Android, libwebrtc underneath)
// ---------------------------------------------------------------------------------------------

/// Reconstruction of a Conversations audio call offer: an RTP description (opus, transport-cc,
/// the audio level header extension, rtcp-mux), a transport with the libwebrtc ufrag (4 chars)
/// and pwd (24 chars), a XEP-0320 fingerprint in `urn:xmpp:jingle:apps:dtls:0`, the candidates
/// libwebrtc gathered (numeric foundations, its priorities, `generation='0'`, `network='0'`, a
/// random id per candidate), and a BUNDLE group.
const CONVERSATIONS_SESSION_INITIATE: &str = "\
<iq xmlns='jabber:client' from='romeo@montague.example/Conversations.Ab3d' to='juliet@capulet.example/Conversations.Zq8F' id='Jz3kQpN7a1Xc' type='set'>\
<jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' sid='gB6U4aRkzNq1M0Xe' initiator='romeo@montague.example/Conversations.Ab3d'>\
<content creator='initiator' name='0' senders='both'>\
<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>\
<payload-type id='111' name='opus' clockrate='48000' channels='2'>\
<parameter name='minptime' value='10'/><parameter name='useinbandfec' value='1'/>\
<rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='transport-cc'/>\
</payload-type>\
<payload-type id='0' name='PCMU' clockrate='8000'/>\
<rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='1' uri='urn:ietf:params:rtp-hdrext:ssrc-audio-level'/>\
<rtcp-mux/>\
</description>\
<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='Zk9e' pwd='q0Yk7vD3Jm2uN4pW1cR8tF5h'>\
<fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>4A:1B:6C:0D:7E:2F:90:A1:B2:C3:D4:E5:F6:07:18:29:3A:4B:5C:6D:7E:8F:90:A1:B2:C3:D4:E5:F6:07:18:29</fingerprint>\
<candidate component='1' foundation='2395300738' generation='0' id='Nw2aXk9QpZ' ip='192.168.1.23' network='0' port='51378' priority='2122260223' protocol='udp' type='host'/>\
<candidate component='1' foundation='1606451574' generation='0' id='Pr7bVt3KdL' ip='2001:db8:85a3::8a2e:370:7334' network='0' port='43105' priority='2122194687' protocol='udp' type='host'/>\
<candidate component='1' foundation='842163049' generation='0' id='Qs8cWu4LeM' ip='203.0.113.45' network='0' port='51378' priority='1686052607' protocol='udp' rel-addr='192.168.1.23' rel-port='51378' type='srflx'/>\
</transport>\
</content>\
<group xmlns='urn:xmpp:jingle:apps:grouping:0' semantics='BUNDLE'><content name='0'/></group>\
</jingle>\
</iq>";

#[test]
fn conversations_session_initiate() {
    let lenient = read_jingle(CONVERSATIONS_SESSION_INITIATE, Reading::Lenient).unwrap();
    assert_eq!(summary(&lenient.diagnostics), owned(&[]));
    let strict = read_jingle(CONVERSATIONS_SESSION_INITIATE, Reading::Strict).unwrap();
    assert_eq!(strict.value, lenient.value);

    let j = &strict.value;
    assert_eq!(j.action, Action::SessionInitiate);
    assert_eq!(j.others.len(), 1, "the BUNDLE group is kept");
    assert_eq!(j.others[0].name(), "group");
    let t = only_transport(j);
    assert_eq!(t.namespace, IceNamespace::IceUdp1);
    assert_eq!(t.ufrag.as_deref(), Some("Zk9e"));
    assert_eq!(t.others.len(), 1);
    assert!(t.others[0].is("fingerprint", "urn:xmpp:jingle:apps:dtls:0"));
    assert_eq!(t.others[0].attr("setup"), Some("actpass"));
    assert_eq!(t.candidates.len(), 3);
    assert!(t.candidates[1].ip.is_ipv6());
    let srflx = &t.candidates[2];
    assert_eq!(srflx.type_, CandidateType::Srflx);
    assert_eq!(
        srflx.related_addr(),
        Some("192.168.1.23:51378".parse().unwrap())
    );
    assert_eq!(
        srflx.to_sdp_line(),
        "a=candidate:842163049 1 UDP 1686052607 203.0.113.45 51378 typ srflx raddr 192.168.1.23 rport 51378 generation 0 network-id 0"
    );
}

/// Reconstruction of a Conversations ICE restart: a transport-info whose transport carries a new
/// ufrag and pwd, the fingerprint again, and no candidates (they follow in later transport-infos).
const CONVERSATIONS_RESTART: &str = "\
<iq xmlns='jabber:client' from='romeo@montague.example/Conversations.Ab3d' to='juliet@capulet.example/Conversations.Zq8F' id='r3St4Rt9aQ2w' type='set'>\
<jingle xmlns='urn:xmpp:jingle:1' action='transport-info' sid='gB6U4aRkzNq1M0Xe'>\
<content creator='initiator' name='0'>\
<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='p8Rt' pwd='Hn2cW5xJ0vL7yB3kQ9mZ4sT1'>\
<fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>4A:1B:6C:0D:7E:2F:90:A1:B2:C3:D4:E5:F6:07:18:29:3A:4B:5C:6D:7E:8F:90:A1:B2:C3:D4:E5:F6:07:18:29</fingerprint>\
</transport>\
</content>\
</jingle>\
</iq>";

#[test]
fn conversations_restart() {
    let lenient = read_jingle(CONVERSATIONS_RESTART, Reading::Lenient).unwrap();
    assert_eq!(summary(&lenient.diagnostics), owned(&[]));
    let strict = read_jingle(CONVERSATIONS_RESTART, Reading::Strict).unwrap();
    assert_eq!(strict.value, lenient.value);

    let before = read_jingle(CONVERSATIONS_SESSION_INITIATE, Reading::Strict)
        .unwrap()
        .value;
    let before = only_transport(&before);
    let t = only_transport(&strict.value);
    assert_eq!(strict.value.action, Action::TransportInfo);
    assert!(t.candidates.is_empty() && t.remote_candidates.is_empty() && !t.gathering_complete);
    assert_ne!(t.ufrag, before.ufrag, "a restart changes the ufrag");
    assert_ne!(t.pwd, before.pwd, "a restart changes the pwd");
    assert_eq!(t.others, before.others, "same DTLS fingerprint");
}

// ---------------------------------------------------------------------------------------------
// Dino (libnice underneath)
// ---------------------------------------------------------------------------------------------

/// Reconstruction of a Dino session-accept: libnice's small numeric foundations and its
/// priorities, `generation` and a random `id` on every candidate, no `network`; host, srflx and
/// relay candidates. Dino writes rel-addr/rel-port only when libnice's base address differs from
/// the candidate's address, and the base of a relayed candidate is the candidate itself (RFC 8445
/// §5.1.1.2), so the relay candidate comes without them.
const DINO_SESSION_ACCEPT: &str = "\
<iq xmlns='jabber:client' type='set' to='romeo@montague.example/Conversations.Ab3d' id='a1b2c3d4-e5f6-4789-abcd-0123456789ab'>\
<jingle xmlns='urn:xmpp:jingle:1' action='session-accept' sid='gB6U4aRkzNq1M0Xe' responder='juliet@capulet.example/Dino.x7Kq'>\
<content creator='initiator' name='0' senders='both'>\
<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>\
<payload-type id='111' name='opus' clockrate='48000' channels='2'><parameter name='useinbandfec' value='1'/></payload-type>\
<rtcp-mux/>\
</description>\
<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='N3hv' pwd='fjw0QzB4Ys9p2Ka7d1Lx6TGe'>\
<fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='active'>9C:8B:7A:69:58:47:36:25:14:03:F2:E1:D0:CF:BE:AD:9C:8B:7A:69:58:47:36:25:14:03:F2:E1:D0:CF:BE:AD</fingerprint>\
<candidate component='1' foundation='1' generation='0' id='dKb3a2f1c0' ip='192.168.178.20' port='46019' priority='2013266431' protocol='udp' type='host'/>\
<candidate component='1' foundation='2' generation='0' id='eLc4b3a2d1' ip='198.51.100.17' port='46019' priority='1677721855' protocol='udp' rel-addr='192.168.178.20' rel-port='46019' type='srflx'/>\
<candidate component='1' foundation='3' generation='0' id='fMd5c4b3e2' ip='198.51.100.200' port='49170' priority='16777215' protocol='udp' type='relay'/>\
</transport>\
</content>\
</jingle>\
</iq>";

#[test]
fn dino_session_accept() {
    let lenient = read_jingle(DINO_SESSION_ACCEPT, Reading::Lenient).unwrap();
    assert_eq!(
        summary(&lenient.diagnostics),
        owned(&[("candidate", "rel-addr", "candidate.related-address")])
    );
    assert_eq!(lenient.diagnostics[0].action, "kept");
    let t = only_transport(&lenient.value);
    assert_eq!(t.candidates.len(), 3);
    assert!(
        t.candidates
            .iter()
            .all(|c| c.network.is_none() && c.generation == Some(0) && c.id.is_some())
    );
    let relay = &t.candidates[2];
    assert_eq!(relay.type_, CandidateType::Relay);
    assert_eq!(relay.related_addr(), None);
    assert_eq!(
        relay.to_sdp_line(),
        "a=candidate:3 1 UDP 16777215 198.51.100.200 49170 typ relay generation 0"
    );

    let e = read_jingle(DINO_SESSION_ACCEPT, Reading::Strict).unwrap_err();
    assert!(matches!(e, Error::MissingAttribute { .. }), "{e:?}");
    assert_names(&e, "candidate", "rel-addr");
}

// ---------------------------------------------------------------------------------------------
// Gajim (Farstream underneath)
// ---------------------------------------------------------------------------------------------

/// Reconstruction of a Gajim (1.x, Farstream) session-initiate: Gajim writes `foundation='1'`
/// on every candidate (a hack in its `make_candidate`), `generation='0'`, `network='0'`, a UUID as
/// `id` (which may start with a digit), Farstream's priority, and no rel-addr/rel-port at all,
/// not even on server-reflexive candidates. RTP and RTCP are separate components.
const GAJIM_SESSION_INITIATE: &str = "\
<iq xmlns='jabber:client' to='juliet@capulet.example/gajim.QX1RZ8' type='set' id='5d6e3f91-7c2b-4d0a-8e1f-2a3b4c5d6e7f'>\
<jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' initiator='romeo@montague.example/gajim.LK3M0P' sid='75f3b1c2-9a8e-4d7f-b6a5-c4d3e2f1a0b9'>\
<content name='audio' creator='initiator'>\
<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>\
<payload-type id='96' name='speex' clockrate='16000'/><payload-type id='97' name='speex' clockrate='8000'/>\
<payload-type id='0' name='PCMU' clockrate='8000'/>\
</description>\
<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='GvZk' pwd='DuX0NR5aWHF9eyv7UA2mLs'>\
<candidate component='1' foundation='1' generation='0' id='c4a1e6f2-5b7d-4e3a-9f81-2d6b0c7e9a14' ip='192.168.0.12' network='0' port='40022' priority='2013266431' protocol='udp' type='host'/>\
<candidate component='2' foundation='1' generation='0' id='7e2b9d40-1c3f-4a58-b6e7-9d0a2c4e6f81' ip='192.168.0.12' network='0' port='40023' priority='2013266430' protocol='udp' type='host'/>\
<candidate component='1' foundation='1' generation='0' id='e9d35c17-8a2b-4f60-a3c4-5b6d7e8f9012' ip='203.0.113.9' network='0' port='40022' priority='1677721855' protocol='udp' type='srflx'/>\
<candidate component='2' foundation='1' generation='0' id='0a6f4b28-3e1d-4c97-8b5a-6c7d8e9f0a1b' ip='203.0.113.9' network='0' port='40023' priority='1677721854' protocol='udp' type='srflx'/>\
</transport>\
</content>\
</jingle>\
</iq>";

#[test]
fn gajim_farstream_session_initiate() {
    let lenient = read_jingle(GAJIM_SESSION_INITIATE, Reading::Lenient).unwrap();
    assert_eq!(
        summary(&lenient.diagnostics),
        owned(&[
            ("candidate", "id", "xsd.ncname"),
            ("candidate", "rel-addr", "candidate.related-address"),
            ("candidate", "id", "xsd.ncname"),
            ("candidate", "rel-addr", "candidate.related-address"),
        ])
    );
    let t = only_transport(&lenient.value);
    assert_eq!(t.candidates.len(), 4);
    assert!(
        t.candidates
            .iter()
            .all(|c| c.foundation == "1" && c.network == Some(0))
    );
    assert_eq!(
        t.candidates[1].id.as_deref(),
        Some("7e2b9d40-1c3f-4a58-b6e7-9d0a2c4e6f81"),
        "kept as sent"
    );
    assert_eq!(
        t.candidates.iter().map(|c| c.component).collect::<Vec<_>>(),
        [1, 2, 1, 2]
    );

    // The strict reading stops at the first deviation in document order: the id of the second
    // candidate.
    let e = read_jingle(GAJIM_SESSION_INITIATE, Reading::Strict).unwrap_err();
    assert!(matches!(e, Error::InvalidAttribute { .. }), "{e:?}");
    assert_names(&e, "candidate", "id");
    assert!(e.to_string().contains("7e2b9d40"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Jitsi Meet (jicofo and jitsi-videobridge, ice4j underneath)
// ---------------------------------------------------------------------------------------------

/// Reconstruction of a jicofo session-initiate to a Jitsi Meet participant: two contents, each
/// with `<rtcp-mux/>` in the RTP description and a transport holding a colibri `<web-socket/>`,
/// an `<rtcp-mux/>` without its own namespace (so in ice-udp:1, where the schema has no such
/// element), a fingerprint with `required='false'`, and the bridge's candidates with
/// `network='0'`, `generation='0'` and hex ids as ice4j makes them (some start with a digit).
const JITSI_SESSION_INITIATE: &str = "\
<iq xmlns='jabber:client' to='romeo@montague.example/b1e7' from='room@conference.meet.example/focus' id='amlib2ZvY3VzQG1lZXQ' type='set'>\
<jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' initiator='focus@auth.meet.example/focus' sid='4ckt2m0u0e9i1'>\
<content creator='initiator' name='audio' senders='both'>\
<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio' maxptime='60'>\
<payload-type id='111' name='opus' clockrate='48000' channels='2'><parameter name='minptime' value='10'/><parameter name='useinbandfec' value='1'/></payload-type>\
<rtcp-mux/>\
</description>\
<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='1mb6v1fmv8qnh9' pwd='6pgp3nu59fbbgnrsukal4s1i8g'>\
<web-socket xmlns='http://jitsi.org/protocol/colibri' url='wss://jvb.meet.example/colibri-ws/default-id/2b1/b1e7?pwd=6pgp3nu59fbbgnrsukal4s1i8g'/>\
<rtcp-mux/>\
<fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' required='false' setup='actpass'>1F:2E:3D:4C:5B:6A:79:88:97:A6:B5:C4:D3:E2:F1:00:1F:2E:3D:4C:5B:6A:79:88:97:A6:B5:C4:D3:E2:F1:00</fingerprint>\
<candidate component='1' foundation='1' generation='0' id='653aa1ba295b62480ffffffffdc52c0' network='0' priority='2130706431' protocol='udp' type='host' ip='10.0.0.1' port='10000'/>\
<candidate component='1' foundation='2' generation='0' id='a54fbb0d2c1ef6780ffffffffdc52c1' network='0' priority='1694498815' protocol='udp' type='srflx' ip='198.51.100.30' port='10000' rel-addr='10.0.0.1' rel-port='10000'/>\
</transport>\
</content>\
<content creator='initiator' name='video' senders='both'>\
<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='video'>\
<payload-type id='100' name='VP8' clockrate='90000'><rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='nack'/></payload-type>\
<rtcp-mux/>\
</description>\
<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='1mb6v1fmv8qnh9' pwd='6pgp3nu59fbbgnrsukal4s1i8g'>\
<web-socket xmlns='http://jitsi.org/protocol/colibri' url='wss://jvb.meet.example/colibri-ws/default-id/2b1/b1e7?pwd=6pgp3nu59fbbgnrsukal4s1i8g'/>\
<rtcp-mux/>\
<fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' required='false' setup='actpass'>1F:2E:3D:4C:5B:6A:79:88:97:A6:B5:C4:D3:E2:F1:00:1F:2E:3D:4C:5B:6A:79:88:97:A6:B5:C4:D3:E2:F1:00</fingerprint>\
<candidate component='1' foundation='1' generation='0' id='653aa1ba295b62480ffffffffdc52c0' network='0' priority='2130706431' protocol='udp' type='host' ip='10.0.0.1' port='10000'/>\
<candidate component='1' foundation='2' generation='0' id='a54fbb0d2c1ef6780ffffffffdc52c1' network='0' priority='1694498815' protocol='udp' type='srflx' ip='198.51.100.30' port='10000' rel-addr='10.0.0.1' rel-port='10000'/>\
</transport>\
</content>\
</jingle>\
</iq>";

#[test]
fn jitsi_meet_session_initiate() {
    let lenient = read_jingle(JITSI_SESSION_INITIATE, Reading::Lenient).unwrap();
    let per_content = [
        ("transport", "rtcp-mux", "schema.unknown-child"),
        ("candidate", "id", "xsd.ncname"),
    ];
    assert_eq!(
        summary(&lenient.diagnostics),
        owned(&[per_content, per_content].concat())
    );
    assert!(lenient.diagnostics.iter().all(|d| d.action == "kept"));

    let transports: Vec<_> = lenient.value.ice_transports().collect();
    assert_eq!(transports.len(), 2);
    for (content, t) in transports {
        assert_eq!(t.candidates.len(), 2, "{}", content.name);
        let names: Vec<&str> = t.others.iter().map(|e| e.name()).collect();
        assert_eq!(
            names,
            ["web-socket", "rtcp-mux", "fingerprint"],
            "children kept in order"
        );
        assert_eq!(t.others[0].ns(), "http://jitsi.org/protocol/colibri");
        assert!(
            t.candidates
                .iter()
                .all(|c| c.network == Some(0) && c.generation == Some(0))
        );
    }

    let e = read_jingle(JITSI_SESSION_INITIATE, Reading::Strict).unwrap_err();
    match &e {
        Error::UnexpectedChild {
            element,
            child,
            child_ns,
            ..
        } => {
            assert_eq!(
                (*element, child.as_str(), child_ns.as_str()),
                ("transport", "rtcp-mux", IceNamespace::IceUdp1.as_str())
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        e.to_string().contains("<transport/>") && e.to_string().contains("<rtcp-mux"),
        "{e}"
    );

    // Without the misplaced <rtcp-mux/>, the strict reading stops at the hex id.
    let without = JITSI_SESSION_INITIATE.replace("'/><rtcp-mux/><fingerprint", "'/><fingerprint");
    let e = read_jingle(&without, Reading::Strict).unwrap_err();
    assert_names(&e, "candidate", "id");
}

/// Reconstruction of a jitsi-videobridge transport-info carrying its ICE-TCP candidate (the TCP
/// harvester on port 4443) next to a UDP one: ice4j writes `protocol='tcp' tcptype='passive'`
/// inside ice-udp:1, whose schema has no `tcptype`.
const JVB_TCP_TRANSPORT: &str = "\
<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='1mb6v1fmv8qnh9' pwd='6pgp3nu59fbbgnrsukal4s1i8g'>\
<candidate component='1' foundation='2' generation='0' id='a54fbb0d2c1ef6780ffffffffdc52c1' network='0' priority='1694498815' protocol='udp' type='srflx' ip='198.51.100.30' port='10000' rel-addr='10.0.0.1' rel-port='10000'/>\
<candidate component='1' foundation='3' generation='0' id='b7c1d0e2f3a4b5c60ffffffffdc52c2' network='0' priority='1677724415' protocol='tcp' tcptype='passive' type='srflx' ip='198.51.100.30' port='4443' rel-addr='10.0.0.1' rel-port='4443'/>\
</transport>";

#[test]
fn tcptype_candidate_in_ice_udp() {
    let lenient = read_transport(JVB_TCP_TRANSPORT, Reading::Lenient).unwrap();
    assert_eq!(
        summary(&lenient.diagnostics),
        owned(&[("candidate", "tcptype", "ice-udp.no-tcptype")])
    );
    let tcp = &lenient.value.candidates[1];
    assert_eq!(
        (tcp.protocol, tcp.tcptype),
        (Protocol::Tcp, Some(TcpType::Passive))
    );
    assert_eq!(
        tcp.to_sdp_line(),
        "a=candidate:3 1 TCP 1677724415 198.51.100.30 4443 typ srflx raddr 10.0.0.1 rport 4443 tcptype passive generation 0 network-id 0"
    );

    let e = read_transport(JVB_TCP_TRANSPORT, Reading::Strict).unwrap_err();
    assert!(matches!(e, Error::UnknownAttribute { .. }), "{e:?}");
    assert_names(&e, "candidate", "tcptype");

    // Converting to ice:0 makes it valid there (network is present already).
    let (ice0, dropped) = lenient.value.clone().convert(IceNamespace::Ice0);
    assert!(dropped.is_empty());
    let back = IceTransport::read(
        &xep0371_model::minidom::Element::from(&ice0),
        Reading::Strict,
    )
    .unwrap();
    assert_eq!(back.value, ice0);
}

// ---------------------------------------------------------------------------------------------
// Broken and hostile input
// ---------------------------------------------------------------------------------------------

/// One Dino-shaped host candidate in a transport, with `attr` replaced by `value` (or removed
/// when `value` is `None`).
fn transport_with(attr: &str, value: Option<&str>) -> String {
    let attrs = [
        ("component", "1"),
        ("foundation", "1"),
        ("generation", "0"),
        ("id", "dKb3a2f1c0"),
        ("ip", "192.168.178.20"),
        ("port", "46019"),
        ("priority", "2013266431"),
        ("protocol", "udp"),
        ("type", "host"),
    ];
    let mut cand = String::from("<candidate");
    for (k, v) in attrs {
        let v = if k == attr { value } else { Some(v) };
        if let Some(v) = v {
            cand.push_str(&format!(" {k}='{v}'"));
        }
    }
    cand.push_str("/>");
    format!(
        "<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='N3hv' pwd='fjw0QzB4Ys9p2Ka7d1Lx6TGe'>{cand}</transport>"
    )
}

#[test]
fn the_unbroken_base_stanza_is_valid() {
    let p = read_transport(&transport_with("none", None), Reading::Strict).unwrap();
    assert_eq!(p.value.candidates.len(), 1);
}

/// `(attribute, value, or None for absent)`: none of these is forgiven. An absent attribute is a
/// `MissingAttribute`, a bad value an `InvalidAttribute`.
#[test]
fn broken_candidates_are_refused_in_both_readings() {
    let cases = [
        ("priority", Some("abc")),
        ("port", Some("70000")),
        ("ip", Some("not-an-ip")),
        ("foundation", None),
        ("component", Some("0")),
        ("type", Some("cloud")),
    ];
    for (attr, value) in cases {
        let xml = transport_with(attr, value);
        for reading in [Reading::Lenient, Reading::Strict] {
            let e = read_transport(&xml, reading).unwrap_err();
            match (&e, value) {
                (Error::InvalidAttribute { value: got, .. }, Some(v)) => assert_eq!(got, v),
                (Error::MissingAttribute { .. }, None) => {}
                _ => panic!("{attr}={value:?} {reading:?}: {e:?}"),
            }
            assert_names(&e, "candidate", attr);
            assert!(e.rule().is_some(), "{e}");
            if let Some(v) = value {
                assert!(e.to_string().contains(&format!("{attr}='{v}'")), "{e}");
            }
        }
        // A candidate read on its own says the same.
        let el = parse_element(&xml, 1 << 16).unwrap();
        let cand = el.children().next().unwrap().clone();
        assert_names(&Candidate::try_from(cand).unwrap_err(), "candidate", attr);
    }
}

#[test]
fn broken_candidate_inside_a_whole_stanza() {
    let xml = DINO_SESSION_ACCEPT.replace("priority='16777215'", "priority='abc'");
    for reading in [Reading::Lenient, Reading::Strict] {
        let e = read_jingle(&xml, reading).unwrap_err();
        assert_names(&e, "candidate", "priority");
        assert_eq!(
            e.to_string(),
            format!(
                "<candidate priority='abc'/> is invalid ({})",
                e.rule().unwrap()
            )
        );
    }
}

#[test]
fn ten_thousand_candidates_fail_fast() {
    let mut xml = String::from(
        "<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='N3hv' pwd='fjw0QzB4Ys9p2Ka7d1Lx6TGe'>",
    );
    for i in 0..10_000u32 {
        // Candidate 300 is broken: an error about it would show that the reading went past the
        // limit (256 by default) before stopping.
        let priority = if i == 300 {
            "abc".to_owned()
        } else {
            (2_013_266_431 - i).to_string()
        };
        xml.push_str(&format!(
            "<candidate component='1' foundation='1' generation='0' id='c{i}' ip='192.0.2.1' port='{}' priority='{priority}' protocol='udp' type='host'/>",
            1024 + i
        ));
    }
    xml.push_str("</transport>");
    assert!(xml.len() > 1 << 20);
    let el = parse_element(&xml, 1 << 22).unwrap();
    for reading in [Reading::Lenient, Reading::Strict] {
        let e = IceTransport::read(&el, reading).unwrap_err();
        match &e {
            Error::TooMany {
                element: "transport",
                child: "candidate",
                limit: 256,
                rule,
            } => {
                assert_eq!(rule.id, "limit");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            e.to_string()
                .starts_with("<transport/> has more than 256 <candidate/> children"),
            "{e}"
        );
    }
    // A larger limit reaches the broken candidate.
    let limits = xep0371_model::Limits {
        max_candidates: 20_000,
        ..Default::default()
    };
    let mut reader = Reader::new(Reading::Lenient).with_limits(limits);
    let e = IceTransport::read_with(&el, &mut reader).unwrap_err();
    assert_names(&e, "candidate", "priority");
}

#[test]
fn doctype_with_entities_is_refused() {
    let xml = "<?xml version='1.0'?>\n\
<!DOCTYPE iq [\n\
  <!ENTITY lol 'lol'>\n\
  <!ENTITY lol1 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>\n\
  <!ENTITY lol2 '&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;'>\n\
  <!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>\n\
]>\n\
<iq xmlns='jabber:client' id='x' type='set'><jingle xmlns='urn:xmpp:jingle:1' action='transport-info' sid='&lol3;'/></iq>";
    let e = parse_element(xml, 1 << 16).unwrap_err();
    match &e {
        Error::Xml(msg) => assert!(msg.contains("DTD") && msg.contains("RFC 6120"), "{msg}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(e.rule().map(|r| r.id), Some("xml.well-formed"));
    assert!(e.to_string().contains("document type declaration"), "{e}");

    // An external entity is refused the same way.
    let xxe = "<!DOCTYPE iq [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><iq xmlns='jabber:client' id='&x;' type='get'/>";
    assert!(matches!(parse_element(xxe, 1 << 16), Err(Error::Xml(_))));
}

#[test]
fn ten_megabytes_are_refused_before_parsing() {
    // Not even well-formed: the length check must come first.
    let xml = format!(
        "<iq xmlns='jabber:client' id='x' type='set'>{}",
        "<a>".repeat(10 * 1024 * 1024 / 3 + 1)
    );
    assert!(xml.len() > 10 * 1024 * 1024);
    let e = parse_element(&xml, 1 << 20).unwrap_err();
    match &e {
        Error::TooMany {
            element: "document",
            child: "byte",
            limit,
            ..
        } => assert_eq!(*limit, 1 << 20),
        other => panic!("{other:?}"),
    }
    assert!(
        e.to_string().contains("document") && e.to_string().contains("1048576"),
        "{e}"
    );
}

#[test]
fn not_our_element_is_handed_back() {
    let el = parse_element(
        "<transport xmlns='urn:xmpp:jingle:transports:raw-udp:1'/>",
        1 << 16,
    )
    .unwrap();
    match IceTransport::try_from(el.clone()) {
        Err(Error::Mismatch { element, .. }) => assert_eq!(*element, el),
        other => panic!("{other:?}"),
    }
}
