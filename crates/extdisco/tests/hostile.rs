//! Hostile and malformed input: every size bounded, a typed error or a diagnostic, no panic;
//! and a proptest round trip of the types.
#![allow(clippy::unwrap_used)]

mod support;

use minidom::Element;
use proptest::prelude::*;
use support::el;
use xmpp_extdisco::{
    Action, DateTime, Error, Limits, Payload, Reading, Service, ServiceType, Services, Transport,
    Version, XsBoolean,
};

fn strict_err(s: &str) -> Error {
    Services::read(&el(s), Reading::Strict).unwrap_err()
}

#[test]
fn too_many_services() {
    let one = "<service host='h' type='stun'/>";
    let xml = format!(
        "<services xmlns='urn:xmpp:extdisco:2'>{}</services>",
        one.repeat(65)
    );
    assert!(matches!(
        Services::read(&el(&xml), Reading::Lenient).unwrap_err(),
        Error::Limit { limit: 64, .. }
    ));
}

#[test]
fn long_attribute() {
    let xml = format!(
        "<services xmlns='urn:xmpp:extdisco:2'><service host='{}' type='stun'/></services>",
        "h".repeat(1025)
    );
    assert!(matches!(
        Services::read(&el(&xml), Reading::Lenient).unwrap_err(),
        Error::Limit { limit: 1024, .. }
    ));
}

#[test]
fn big_extended_information() {
    let fields = "<field var='v'><value>1</value></field>".repeat(100);
    let xml = format!(
        "<services xmlns='urn:xmpp:extdisco:2'><service host='h' type='stun'>\
         <x xmlns='jabber:x:data' type='result'>{fields}</x></service></services>"
    );
    assert!(matches!(
        Services::read(&el(&xml), Reading::Lenient).unwrap_err(),
        Error::Limit { limit: 256, .. }
    ));
    let small = Limits {
        max_extended_nodes: 1000,
        ..Limits::default()
    };
    let read = Services::read_with(&el(&xml), Reading::Strict, &small).unwrap();
    assert_eq!(Element::from(&read.value), el(&xml));
}

#[test]
fn invalid_values() {
    for (attr, value) in [
        ("port", "65536"),
        ("port", "-1"),
        ("port", ""),
        ("restricted", "yes"),
        ("expires", "tomorrow"),
        ("action", "replace"),
        ("transport", "u d p"),
        ("type", "1stun"),
    ] {
        let xml = format!(
            "<services xmlns='urn:xmpp:extdisco:2'><service host='h' type='stun' {attr}='{value}'/></services>"
        );
        for reading in [Reading::Strict, Reading::Lenient] {
            assert!(
                matches!(
                    Services::read(&el(&xml), reading).unwrap_err(),
                    Error::InvalidAttribute { .. }
                ),
                "{attr}={value}"
            );
        }
    }
    assert_eq!(
        strict_err("<services xmlns='urn:xmpp:extdisco:2'><service type='stun'/></services>"),
        Error::MissingAttribute {
            element: "service",
            name: "host"
        }
    );
}

/// XEP-0215 §2: `expires` "MUST be expressed in UTC"; XEP-0082 §3.2 requires a zone.
#[test]
fn expires_outside_utc_is_lenient_only() {
    for (value, utc) in [
        ("2026-12-07T11:00:00+01:00", false),
        ("2026-12-07T10:00:00", false),
        ("2026-12-07T10:00:00+00:00", true),
        ("2026-12-07T10:00:00.5Z", true),
    ] {
        let xml = format!(
            "<services xmlns='urn:xmpp:extdisco:2'><service host='h' type='turn' expires='{value}'/></services>"
        );
        let strict = Services::read(&el(&xml), Reading::Strict);
        assert_eq!(strict.is_ok(), utc, "{value}");
        let lenient = Services::read(&el(&xml), Reading::Lenient).unwrap();
        assert_eq!(lenient.diagnostics.len(), usize::from(!utc));
        let expires = lenient.value.services[0].expires.clone().unwrap();
        assert_eq!(expires.unix_seconds(), 1_796_637_600);
        assert_eq!(Element::from(&lenient.value), el(&xml));
    }
}

#[test]
fn unknown_children_and_attributes_are_lenient_only() {
    let xml = "<services xmlns='urn:xmpp:extdisco:2' foo='1'><service host='h' type='stun' bar='2'>\
               <x xmlns='urn:example'/>text</service><other/></services>";
    assert!(Services::read(&el(xml), Reading::Strict).is_err());
    let l = Services::read(&el(xml), Reading::Lenient).unwrap();
    assert_eq!(l.diagnostics.len(), 5);
    assert_eq!(
        Element::from(&l.value),
        el("<services xmlns='urn:xmpp:extdisco:2'><service host='h' type='stun'/></services>")
    );
}

#[test]
fn not_ours_is_handed_back() {
    let other = el("<query xmlns='http://jabber.org/protocol/disco#info'/>");
    match Payload::try_from(other.clone()).unwrap_err() {
        Error::Mismatch(e) => assert_eq!(*e, other),
        e => panic!("{e}"),
    }
}

fn ncname() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9._-]{0,12}"
}

fn service() -> impl Strategy<Value = Service> {
    let type_ = prop_oneof![
        Just(ServiceType::Stun),
        Just(ServiceType::Stuns),
        Just(ServiceType::Turn),
        Just(ServiceType::Turns),
        ncname().prop_map(|s| ServiceType::parse(&s).unwrap()),
    ];
    let action = prop::option::of(prop_oneof![
        Just(Action::Add),
        Just(Action::Remove),
        Just(Action::Delete),
        Just(Action::Modify),
    ]);
    let expires = prop::option::of(
        (0i64..253_402_300_799).prop_map(|s| DateTime::from_unix_seconds(s).unwrap()),
    );
    let text = || prop::option::of("[ -~]{0,20}");
    (
        (type_, "[ -~]{1,30}", action, expires),
        (text(), text(), text(), prop::option::of(any::<u16>())),
        (
            prop::option::of((any::<bool>(), any::<bool>())),
            prop::option::of(ncname().prop_map(|t| Transport::parse(&t).unwrap())),
        ),
    )
        .prop_map(
            |((type_, host, action, expires), (name, password, username, port), (r, transport))| {
                let mut s = Service::new(type_, host);
                s.action = action;
                s.expires = expires;
                s.name = name;
                s.password = password;
                s.username = username;
                s.port = port;
                s.restricted = r.map(|(value, numeric)| XsBoolean { value, numeric });
                s.transport = transport;
                s
            },
        )
}

proptest! {
    /// decode(encode(x)) == x, through the serialized text as well.
    #[test]
    fn services_round_trip(services in prop::collection::vec(service(), 0..5), typed in any::<bool>()) {
        let value = Services {
            version: Version::V2,
            type_: typed.then_some(ServiceType::Turn),
            services,
        };
        let element = Element::from(&value);
        let mut text = Vec::new();
        element.write_to(&mut text).unwrap();
        let reparsed = el(std::str::from_utf8(&text).unwrap());
        let read = Services::read(&reparsed, Reading::Strict).unwrap();
        prop_assert!(read.diagnostics.is_empty());
        prop_assert_eq!(read.value, value);
    }
}
