//! The server side against Prosody 0.12's answers (fixtures in `tests/listings/`), and each
//! refusal.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, SystemTime};

use minidom::Element;
use support::{compact, el, payload};
use xmpp_extdisco::answer::rest_password;
use xmpp_extdisco::{
    Answer, Auth, ConfiguredService, Reading, RestUser, ServiceType, Services, Transport, answer,
};

fn session() -> jid::FullJid {
    "juliet@example.org/balcony".parse().unwrap()
}

/// The time of the fixtures: their expiry (2026-12-07T10:00:00Z) less Prosody's default TTL.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_637_600 - 86_400)
}

fn rest(user: RestUser) -> Auth {
    Auth::Rest {
        secret: b"turnsecret".to_vec(),
        ttl: Duration::from_secs(86_400),
        user,
    }
}

/// What mod_turn_external is configured with in the fixtures.
fn configured(user: RestUser) -> Vec<ConfiguredService> {
    let svc = |type_, port, transport, auth| ConfiguredService {
        type_,
        host: "turn.example.org".into(),
        port,
        transport,
        name: None,
        auth,
    };
    vec![
        svc(ServiceType::Stun, 3478, Transport::Udp, Auth::None),
        svc(ServiceType::Stun, 3478, Transport::Tcp, Auth::None),
        svc(ServiceType::Turn, 3478, Transport::Udp, rest(user.clone())),
        svc(ServiceType::Turn, 3478, Transport::Tcp, rest(user)),
        svc(ServiceType::Turns, 5349, Transport::Tcp, Auth::None),
    ]
}

fn reply(iq: &str, user: RestUser) -> Element {
    match answer(&el(iq), &session(), &configured(user), now()) {
        Answer::Reply(r) => r,
        Answer::NotExtdisco => panic!("not answered"),
    }
}

fn condition(reply: &Element) -> String {
    assert_eq!(reply.attr("type"), Some("error"));
    let error = reply.get_child("error", "jabber:client").unwrap();
    error.children().next().unwrap().name().to_owned()
}

/// TURN REST password: base64(HMAC-SHA1(secret, username)), checked against Python's
/// `hmac`/`base64` of the same inputs.
#[test]
fn rest_password_vector() {
    assert_eq!(
        rest_password(b"turnsecret", "1796637600"),
        "56HBbsNgw+KPUVbi5RROnxyknz4="
    );
}

/// Our answer to a `:2` services request is Prosody's, attribute for attribute.
#[test]
fn services_request_answers_as_prosody() {
    let r = reply(
        "<iq id='ed1' to='example.org' type='get'><services xmlns='urn:xmpp:extdisco:2'/></iq>",
        RestUser::None,
    );
    let prosody = compact(include_str!("listings/prosody-0.12-services-extdisco2.xml"));
    assert_eq!(r, prosody);
}

/// In `:1` ours leaves out `restricted` and `expires`, which the `:1` schema lacks and Prosody
/// sends: the one difference, pinned.
#[test]
fn extdisco1_answer_differs_from_prosody_by_v2_attributes_only() {
    let r = reply(
        "<iq id='ed1' type='get'><services xmlns='urn:xmpp:extdisco:1'/></iq>",
        RestUser::None,
    );
    let ours = Services::read(&payload(&r), Reading::Strict).unwrap().value;
    let prosody = compact(include_str!("listings/prosody-0.12-services-extdisco1.xml"));
    let mut theirs = Services::read(&payload(&prosody), Reading::Lenient)
        .unwrap()
        .value;
    for s in &mut theirs.services {
        s.restricted = None;
        s.expires = None;
    }
    assert_eq!(ours, theirs);
}

/// XEP-0215 §3.2: `type` filters, and is echoed as in Example 4.
#[test]
fn type_filters() {
    let r = reply(
        "<iq id='ed2' type='get'><services xmlns='urn:xmpp:extdisco:2' type='turns'/></iq>",
        RestUser::None,
    );
    let s = Services::try_from(payload(&r)).unwrap();
    assert_eq!(s.type_, Some(ServiceType::Turns));
    assert_eq!(s.services.len(), 1);
    assert_eq!(s.services[0].port, Some(5349));
}

/// XEP-0215 §3.3: the credentials of the named host, type and port: both TURN transports on
/// that port, as Prosody answered (the fixture is its captured answer, normalised, and
/// `conformance/tests/prosody_extdisco.rs` checks it against a running Prosody).
#[test]
fn credentials_request_answers_as_prosody() {
    let r = reply(
        "<iq id='ed3' to='example.org' type='get'><credentials xmlns='urn:xmpp:extdisco:2'>\
         <service host='turn.example.org' type='turn' port='3478'/></credentials></iq>",
        RestUser::None,
    );
    let prosody = compact(include_str!("listings/prosody-0.12-credentials.xml"));
    assert_eq!(r, prosody);
}

/// With `RestUser::Account` the username names the asking account (a setting Prosody does not
/// have: its `turn_external_user` is one fixed name).
#[test]
fn credentials_naming_the_account() {
    let r = reply(
        "<iq id='ed3' to='example.org' type='get'><credentials xmlns='urn:xmpp:extdisco:2'>\
         <service host='turn.example.org' type='turn' port='3478'/></credentials></iq>",
        RestUser::Account,
    );
    let c = r.get_child("credentials", "urn:xmpp:extdisco:2").unwrap();
    let first = c.children().next().unwrap();
    assert_eq!(
        first.attr("username"),
        Some("1796637600:juliet@example.org")
    );
    assert_eq!(
        first.attr("password"),
        Some(rest_password(b"turnsecret", "1796637600:juliet@example.org").as_str())
    );
}

#[test]
fn refusals() {
    let none = RestUser::None;
    let unknown = "<iq id='x' type='get'><credentials xmlns='urn:xmpp:extdisco:2'>\
                   <service host='elsewhere.example' type='turn'/></credentials></iq>";
    assert_eq!(condition(&reply(unknown, none.clone())), "item-not-found");
    let empty = "<iq id='x' type='get'><credentials xmlns='urn:xmpp:extdisco:2'/></iq>";
    assert_eq!(condition(&reply(empty, none.clone())), "bad-request");
    let set = "<iq id='x' type='set'><services xmlns='urn:xmpp:extdisco:2'/></iq>";
    assert_eq!(condition(&reply(set, none.clone())), "bad-request");
    let bad = "<iq id='x' type='get'><services xmlns='urn:xmpp:extdisco:2' type='a b'/></iq>";
    assert_eq!(condition(&reply(bad, none.clone())), "bad-request");
    let listed = "<iq id='x' type='get'><services xmlns='urn:xmpp:extdisco:2'>\
                  <service host='h' type='stun'/></services></iq>";
    assert_eq!(condition(&reply(listed, none)), "bad-request");
    // Not for the server: another address, another payload.
    let c = configured(RestUser::None);
    for iq in [
        "<iq id='x' to='romeo@example.org' type='get'><services xmlns='urn:xmpp:extdisco:2'/></iq>",
        "<iq id='x' type='get'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
    ] {
        assert_eq!(answer(&el(iq), &session(), &c, now()), Answer::NotExtdisco);
    }
}
