//! XEP-0279 both versions: the examples of the text, what deployed servers send, the server's
//! answers and the client's fallback.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap fixtures too

use std::net::SocketAddr;

use minidom::Element;
use xmpp_sic::{
    Address, Answer, Client, Error, NatHint, Outcome, Reading, Request, Version, answer,
    supported_versions,
};

fn el(s: &str) -> Element {
    minidom::Element::from_reader_with_prefixes(s.as_bytes(), Some("jabber:client".to_owned()))
        .unwrap()
}

fn session() -> jid::FullJid {
    "romeo@montague.lit/orchard".parse().unwrap()
}

const SEEN: &str = "203.0.113.7:40123";

/// XEP-0279 (0.2) §2, Example 1.
#[test]
fn xep0279_example_1_request() {
    let iq = el(
        "<iq from='romeo@montague.lit/orchard' id='ik2s7159' type='get'><address xmlns='urn:xmpp:sic:1'/></iq>",
    );
    let payload = iq.children().next().unwrap().clone();
    assert_eq!(
        Request::try_from(payload).unwrap(),
        Request {
            version: Version::Sic1
        }
    );
}

/// XEP-0279 (0.2) §2, Example 3 (Example 2 is not well-formed: its <address> is never closed).
#[test]
fn xep0279_example_3_ipv6_response() {
    let iq = el(
        "<iq id='ik2s7159' to='romeo@montague.lit/orchard' type='result'>
  <address xmlns='urn:xmpp:sic:1'>
    <ip>2001:db8::9:1</ip>
    <port>12345</port>
  </address>
</iq>",
    );
    let a = Address::try_from(iq.children().next().unwrap().clone()).unwrap();
    assert_eq!(
        a.socket_addr(),
        Some("[2001:db8::9:1]:12345".parse().unwrap())
    );
    assert_eq!(Address::try_from(Element::from(a)).unwrap(), a);
}

/// XEP-0279 (0.1) §2: `<ip xmlns='urn:xmpp:sic:0'>` with the address as text.
#[test]
fn version_0_1_response() {
    let a = Address::try_from(el("<ip xmlns='urn:xmpp:sic:0'>192.0.2.7</ip>")).unwrap();
    assert_eq!(
        (a.version, a.ip.to_string(), a.port),
        (Version::Sic0, "192.0.2.7".into(), None)
    );
    assert_eq!(
        Element::from(a),
        el("<ip xmlns='urn:xmpp:sic:0'>192.0.2.7</ip>")
    );
}

/// ejabberd: `<address xmlns='urn:xmpp:sic:0'>` with <port/> before <ip/>.
#[test]
fn ejabberd_shape_is_lenient_only() {
    let e = el("<address xmlns='urn:xmpp:sic:0'><port>5222</port><ip>198.51.100.4</ip></address>");
    assert_eq!(
        Address::read(&e, Reading::Strict).unwrap_err(),
        Error::Sic0Address
    );
    let (a, d) = Address::read(&e, Reading::Lenient).unwrap();
    assert_eq!(a.socket_addr(), Some("198.51.100.4:5222".parse().unwrap()));
    assert_eq!(d.len(), 1);
    // sic:1 in any order, both readings.
    let e = el("<address xmlns='urn:xmpp:sic:1'><port>5222</port><ip>198.51.100.4</ip></address>");
    assert!(Address::read(&e, Reading::Strict).is_ok());
}

#[test]
fn malformed_responses_are_typed_errors() {
    for (xml, expect) in [
        ("<address xmlns='urn:xmpp:sic:1'/>", "no <ip/>"),
        (
            "<address xmlns='urn:xmpp:sic:1'><ip>nope</ip></address>",
            "not an IP address",
        ),
        (
            "<address xmlns='urn:xmpp:sic:1'><ip>192.0.2.1</ip><port>0</port></address>",
            "not a port",
        ),
        (
            "<address xmlns='urn:xmpp:sic:1'><ip>192.0.2.1</ip><port>70000</port></address>",
            "not a port",
        ),
        (
            "<address xmlns='urn:xmpp:sic:1'><ip>192.0.2.1</ip><ip>192.0.2.2</ip></address>",
            "more than one <ip/>",
        ),
        (
            "<address xmlns='urn:xmpp:sic:1'><ip>192.0.2.1</ip><x xmlns='y'/></address>",
            "may not contain",
        ),
        ("<ip xmlns='urn:xmpp:sic:0'>  </ip>", "no <ip/>"),
        (
            "<query xmlns='urn:xmpp:sic:1'/>",
            "not a Server IP Check element",
        ),
    ] {
        let e = Address::read(&el(xml), Reading::Lenient).unwrap_err();
        assert!(e.to_string().contains(expect), "{xml}: {e}");
    }
}

fn reply(iq: &str) -> Element {
    match answer(&el(iq), &session(), Some(SEEN.parse().unwrap())) {
        Answer::Reply(r) => r,
        Answer::NotSic => panic!("{iq}"),
    }
}

fn condition(reply: &Element) -> Option<String> {
    let e = reply.get_child("error", "jabber:client")?;
    e.children().next().map(|c| c.name().to_owned())
}

#[test]
fn server_answers_the_client_itself_in_both_versions() {
    for (req, version) in [
        ("<address xmlns='urn:xmpp:sic:1'/>", Version::Sic1),
        ("<ip xmlns='urn:xmpp:sic:0'/>", Version::Sic0),
    ] {
        for to in [
            "",
            " to='romeo@montague.lit'",
            " to='romeo@montague.lit/orchard'",
        ] {
            let r = reply(&format!("<iq id='a1' type='get'{to}>{req}</iq>"));
            assert_eq!(
                (r.attr("type"), r.attr("id"), r.attr("to")),
                (
                    Some("result"),
                    Some("a1"),
                    Some("romeo@montague.lit/orchard")
                )
            );
            let a = Address::try_from(r.children().next().unwrap().clone()).unwrap();
            assert_eq!(a.version, version);
            let expect: SocketAddr = SEEN.parse().unwrap();
            assert_eq!(a.ip, expect.ip());
            assert_eq!(
                a.port,
                if version == Version::Sic1 {
                    Some(expect.port())
                } else {
                    None
                }
            );
        }
    }
}

#[test]
fn server_refuses_what_xep0279_forbids() {
    let q = "<address xmlns='urn:xmpp:sic:1'/>";
    assert_eq!(
        condition(&reply(&format!(
            "<iq id='1' type='get' to='juliet@capulet.lit'>{q}</iq>"
        )))
        .as_deref(),
        Some("forbidden")
    );
    assert_eq!(
        condition(&reply(&format!(
            "<iq id='1' type='get' to='juliet@capulet.lit/balcony'>{q}</iq>"
        )))
        .as_deref(),
        Some("forbidden")
    );
    assert_eq!(
        condition(&reply(&format!(
            "<iq id='1' type='get' to='romeo@montague.lit/other'>{q}</iq>"
        )))
        .as_deref(),
        Some("forbidden")
    );
    assert_eq!(
        condition(&reply(&format!(
            "<iq id='1' type='get' to='montague.lit'>{q}</iq>"
        )))
        .as_deref(),
        Some("service-unavailable")
    );
    assert_eq!(
        condition(&reply(&format!("<iq id='1' type='set'>{q}</iq>"))).as_deref(),
        Some("bad-request")
    );
    assert_eq!(
        condition(&reply(
            "<iq id='1' type='get'><address xmlns='urn:xmpp:sic:1'><ip>1.2.3.4</ip></address></iq>"
        ))
        .as_deref(),
        Some("bad-request")
    );
    let unknown = answer(
        &el(&format!("<iq id='1' type='get'>{q}</iq>")),
        &session(),
        None,
    );
    match unknown {
        Answer::Reply(r) => assert_eq!(condition(&r).as_deref(), Some("service-unavailable")),
        Answer::NotSic => panic!(),
    }
    assert_eq!(
        answer(
            &el("<iq id='1' type='get'><query xmlns='jabber:iq:version'/></iq>"),
            &session(),
            None
        ),
        Answer::NotSic
    );
}

#[test]
fn client_falls_back_to_version_0_1_and_reads_the_answer() {
    let mut c = Client::default();
    let (v, req) = c.request("s1").unwrap();
    assert_eq!(v, Version::Sic1);
    assert!(req.has_child("address", "urn:xmpp:sic:1"));
    let refused = el(
        "<iq id='s1' type='error'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
    );
    assert_eq!(c.handle_reply(&refused), Outcome::TryNext);
    let (v, _) = c.request("s2").unwrap();
    assert_eq!(v, Version::Sic0);
    match c.handle_reply(&el(
        "<iq id='s2' type='result'><ip xmlns='urn:xmpp:sic:0'>192.168.1.20</ip></iq>",
    )) {
        Outcome::Address(a, d) => {
            assert!(d.is_empty());
            let hint = NatHint::new(a, &["192.168.1.20".parse().unwrap()], None);
            assert!(!hint.behind_nat);
            assert_eq!(hint.port_changed, None);
        }
        other => panic!("{other:?}"),
    }
    // Every version refused: a final failure naming the condition.
    assert!(matches!(
        c.handle_reply(&refused),
        Outcome::Failed(Error::Server { .. })
    ));
    // Server's answer read by the client end to end.
    let mut c = Client::default();
    let (_, req) = c.request("e2e").unwrap();
    let Answer::Reply(r) = answer(&req, &session(), Some(SEEN.parse().unwrap())) else {
        panic!()
    };
    match c.handle_reply(&r) {
        Outcome::Address(a, _) => {
            let hint = NatHint::new(
                a,
                &["10.0.0.2".parse().unwrap()],
                Some("10.0.0.2:5000".parse().unwrap()),
            );
            assert!(hint.behind_nat);
            assert_eq!(hint.port_changed, Some(true));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn disco_features() {
    assert_eq!(
        supported_versions(&["urn:xmpp:sic:0", "http://jabber.org/protocol/disco#info"]),
        [Version::Sic0]
    );
    assert_eq!(
        supported_versions(&xmpp_sic::FEATURES),
        [Version::Sic1, Version::Sic0]
    );
}
