//! One test (or a few) per rule of XEP-0371 §5 to §8 and §11, named after the section, with
//! hand-written stanzas fed to one session.
#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
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

/// Romeo, initiator, configured by `cfg`, seeded by `seed(n)`.
fn romeo(cfg: Config, n: u8) -> Session {
    Session::new(cfg, Role::Initiator, SID, jid(ROMEO), jid(JULIET), seed(n))
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

fn gateway_replace(id: &str) -> String {
    // Listing 11's shape (the content name as in our session-initiate).
    format!(
        "<iq from='{JULIET}' id='{id}' to='{ROMEO}' type='set'><jingle xmlns='urn:xmpp:jingle:1' action='transport-replace' initiator='{ROMEO}' sid='{SID}'><content creator='initiator' name='0'><transport xmlns='urn:xmpp:jingle:transports:raw-udp:1'><candidate generation='0' id='a9j3mnbtu1' ip='10.1.1.104' port='13540'/></transport></content></jingle></iq>"
    )
}

mod chosen;
mod fallback;
mod lifecycle;
mod namespaces;
mod restarts;
mod sharing;
mod signalling;
