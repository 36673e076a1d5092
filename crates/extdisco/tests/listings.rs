//! Every example of XEP-0215 (1.0.0), transcribed in `tests/listings/`, and what Prosody 0.12
//! answers: read strictly where valid, leniently where not (each deviation a diagnostic), and
//! written back equal.
#![allow(clippy::unwrap_used)]

mod support;

use minidom::Element;
use support::{compact, el, payload};
use xmpp_extdisco::{
    Action, Credentials, Error, Payload, Reading, ServiceType, Services, Transport, Version,
    push_ack, supported_versions,
};

macro_rules! listing {
    ($file:literal) => {
        include_str!(concat!("listings/", $file))
    };
}

/// Reads the payload of a listing strictly, checks that the lenient reading agrees without a
/// diagnostic, and that it writes back equal.
fn strict(listing: &str) -> Payload {
    let p = payload(&compact(listing));
    let s = Payload::read(&p, Reading::Strict).unwrap();
    assert!(s.diagnostics.is_empty());
    let l = Payload::read(&p, Reading::Lenient).unwrap();
    assert_eq!(l.value, s.value);
    assert!(l.diagnostics.is_empty());
    assert_eq!(Element::from(&s.value), p);
    assert_eq!(Payload::try_from(p).unwrap(), s.value);
    s.value
}

fn services(p: Payload) -> Services {
    match p {
        Payload::Services(s) => s,
        Payload::Credentials(c) => panic!("{c:?}"),
    }
}

fn credentials(p: Payload) -> Credentials {
    match p {
        Payload::Credentials(c) => c,
        Payload::Services(s) => panic!("{s:?}"),
    }
}

/// XEP-0215 §3.1, Example 1.
#[test]
fn xep0215_example_01_request_all() {
    let s = services(strict(listing!(
        "xep0215-01-entity-requests-all-external-services.xml"
    )));
    assert_eq!(s, Services::request(Version::V2, None));
}

/// XEP-0215 §3.1, Example 2: two STUN, two TURN and an FTP server.
#[test]
fn xep0215_example_02_result() {
    let s = services(strict(listing!("xep0215-02-xmpp-server-returns-list.xml")));
    let types: Vec<_> = s.services.iter().map(|x| x.type_.as_str()).collect();
    assert_eq!(types, ["stun", "turn", "stun", "turn", "ftp"]);
    let turn = &s.services[1];
    assert_eq!(
        (turn.host.as_str(), turn.port, turn.transport.clone()),
        ("relay.shakespeare.lit", Some(9999), Some(Transport::Udp))
    );
    assert_eq!(turn.username.as_deref(), Some("nb78932lkjlskjfdb7g8"));
    assert_eq!(turn.password.as_deref(), Some("jj929jkj5sadjfj93v3n"));
    assert_eq!(
        s.services[4].name.as_deref(),
        Some("Shakespearean File Server")
    );
    assert_eq!(s.services[4].type_, ServiceType::Other("ftp".into()));
}

/// XEP-0215 §3.2, Example 3.
#[test]
fn xep0215_example_03_request_selected() {
    let s = services(strict(listing!(
        "xep0215-03-entity-requests-selected-services.xml"
    )));
    assert_eq!(s, Services::request(Version::V2, Some(ServiceType::Turn)));
}

/// XEP-0215 §3.2, Example 4.
#[test]
fn xep0215_example_04_selected_result() {
    let s = services(strict(listing!("xep0215-04-xmpp-server-returns-list.xml")));
    assert_eq!(s.type_, Some(ServiceType::Turn));
    assert!(s.services.iter().all(|x| x.type_ == ServiceType::Turn));
    assert_eq!(s.services.len(), 2);
}

/// XEP-0215 §3.2, Example 5, as printed: not well-formed (the first `<service>` is never
/// closed). The corrected copy adds the one `/`; its `action='delete'` follows the schema (§10),
/// where the text of §2 says "remove".
#[test]
fn xep0215_example_05_push() {
    let raw = listing!("xep0215-05-services-push.xml");
    assert!(
        Element::from_reader_with_prefixes(raw.as_bytes(), Some("jabber:client".to_owned()))
            .is_err()
    );
    let corrected = listing!("xep0215-05-services-push.corrected.xml");
    let s = services(strict(corrected));
    let actions: Vec<_> = s.services.iter().map(|x| x.action).collect();
    assert_eq!(
        actions,
        [Some(Action::Add), Some(Action::Add), Some(Action::Delete)]
    );
    assert!(s.services[2].action.unwrap().removes());
    // The client acknowledges it with an empty result (§3.2, RFC 6120 §8.2.3).
    let ack = push_ack(&el(corrected)).unwrap();
    assert_eq!(
        ack,
        el("<iq id='lh3f1vc7' to='shakespeare.lit' type='result'/>")
    );
}

/// XEP-0215 §3.3, Examples 6 and 7.
#[test]
fn xep0215_examples_06_07_credentials() {
    let req = credentials(strict(listing!(
        "xep0215-06-entity-requests-credentials-at-a-service.xml"
    )));
    assert_eq!(
        req,
        Credentials::request(Version::V2, ServiceType::Turn, "turn.shakespeare.lit", None)
    );
    let res = credentials(strict(listing!(
        "xep0215-07-server-returns-credentials.xml"
    )));
    assert_eq!(
        res.services[0].username.as_deref(),
        Some("nb78932lkjlskjfdb7g8")
    );
}

/// XEP-0215 §5, Examples 8 and 9: the disco#info feature.
#[test]
fn xep0215_examples_08_09_disco() {
    let request = el(listing!(
        "xep0215-08-service-discovery-information-request.xml"
    ));
    assert_eq!(request.attr("to"), Some("montague.lit"));
    let response = el(listing!(
        "xep0215-09-service-discovery-information-response.xml"
    ));
    let features: Vec<String> = payload(&response)
        .children()
        .filter_map(|f| f.attr("var").map(str::to_owned))
        .collect();
    assert_eq!(supported_versions(&features), [Version::V2]);
}

/// Prosody 0.12 (mod_turn_external, secret set, TLS port set) to a services request in `:2`:
/// `restricted='1'`, `expires` in UTC, the username the expiry alone, and a `turns` entry
/// without credentials. Captured from Prosody 0.12.3 and normalised (session, domain, id; the
/// credentials remade for a fixed expiry); `conformance/tests/prosody_extdisco.rs` checks the
/// fixture against a running Prosody.
#[test]
fn prosody_services_extdisco2() {
    let s = services(strict(listing!("prosody-0.12-services-extdisco2.xml")));
    let turn = &s.services[2];
    assert!(turn.is_restricted());
    assert!(turn.restricted.unwrap().numeric);
    assert_eq!(
        turn.expires.as_ref().unwrap().to_string(),
        "2026-12-07T10:00:00Z"
    );
    let turns = &s.services[4];
    assert_eq!(turns.type_, ServiceType::Turns);
    assert_eq!((turns.username.as_ref(), turns.restricted), (None, None));
}

/// Prosody answers `:1` with the same list: `restricted` and `expires` are not in the `:1`
/// schema (XEP-0215 0.6), so only the lenient reading takes them, one diagnostic each.
#[test]
fn prosody_services_extdisco1_is_lenient_only() {
    let p = payload(&compact(listing!("prosody-0.12-services-extdisco1.xml")));
    match Services::read(&p, Reading::Strict).unwrap_err() {
        Error::UnknownAttribute { name, .. } => assert!(name == "restricted" || name == "expires"),
        e => panic!("{e}"),
    }
    let l = Services::read(&p, Reading::Lenient).unwrap();
    assert_eq!(l.diagnostics.len(), 4);
    assert_eq!(l.value.version, Version::V1);
    assert_eq!(Element::from(&l.value), p);
}

/// Prosody's answer to a credentials request naming host, type and port: every restricted
/// service that matches (both TURN transports), the username the expiry alone (captured and
/// normalised as above).
#[test]
fn prosody_credentials() {
    let c = credentials(strict(listing!("prosody-0.12-credentials.xml")));
    assert_eq!(c.services.len(), 2);
    assert_eq!(c.services[0].username.as_deref(), Some("1796637600"));
    assert_eq!(c.services[1].transport, Some(Transport::Tcp));
}
