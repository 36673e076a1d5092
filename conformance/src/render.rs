//! A stable, readable rendering of typed values: what the snapshots record and what `check`
//! prints. Every field of the model appears; opaque elements appear as compact XML.

use std::fmt::Write as _;

use xep0371_model::minidom::Element;
use xep0371_model::{
    Candidate, Content, DiscoInfo, IceTransport, Iq, IqPayload, Jingle, RawUdpTransport,
    StanzaError, Transport,
};

use crate::sic::Sic;

/// A typed IQ payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// `<jingle/>`.
    Jingle(Jingle),
    /// A disco#info `<query/>`.
    Disco(DiscoInfo),
    /// A Server IP Check element.
    Sic(Sic),
    /// A bare ICE transport (the `check` command accepts one).
    Transport(IceTransport),
    /// Anything else, kept.
    Other(Element),
    /// No payload (an empty result).
    None,
}

/// Serialises `el` with the whitespace between elements removed.
pub fn compact_xml(el: &Element) -> String {
    let s = String::from(el);
    let mut out = String::with_capacity(s.len());
    let mut pending_ws = String::new();
    let mut after_tag = false;
    for ch in s.chars() {
        if ch.is_whitespace() && after_tag {
            pending_ws.push(ch);
            continue;
        }
        if ch != '<' {
            out.push_str(&pending_ws);
        }
        pending_ws.clear();
        after_tag = ch == '>';
        out.push(ch);
    }
    out
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "-".to_owned(), ToString::to_string)
}

/// Renders an IQ and its typed payload.
pub fn iq(iq: &Iq, payload: &Payload) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "iq type={} id={} from={} to={}",
        iq.payload.type_str(),
        iq.id,
        opt(&iq.from),
        opt(&iq.to)
    );
    if let IqPayload::Error { error, .. } = &iq.payload {
        stanza_error(&mut s, error);
    }
    s.push_str(&self::payload(payload, 1));
    s
}

fn stanza_error(s: &mut String, e: &StanzaError) {
    let _ = writeln!(
        s,
        "  error type={} condition={} jingle={} text={}",
        e.type_,
        e.condition,
        opt(&e.jingle),
        opt(&e.text)
    );
}

/// Renders a typed payload at `depth` (two spaces a level).
pub fn payload(p: &Payload, depth: usize) -> String {
    let mut s = String::new();
    let pad = "  ".repeat(depth);
    match p {
        Payload::Jingle(j) => jingle(&mut s, j, depth),
        Payload::Disco(d) => {
            let _ = writeln!(s, "{pad}disco#info node={}", opt(&d.node));
            for (c, t, n) in &d.identities {
                let _ = writeln!(s, "{pad}  identity category={c} type={t} name={}", opt(n));
            }
            for f in &d.features {
                let _ = writeln!(s, "{pad}  feature {f}");
            }
            let f = d.ice_features();
            let _ = writeln!(
                s,
                "{pad}  => ice:0={} ice-udp:1={} rfc3264={} raw-udp:1={} speak={}",
                f.ice0,
                f.ice_udp1,
                f.rfc3264,
                f.raw_udp1,
                f.preferred_namespace().map_or("-", |n| n.as_str())
            );
            others(&mut s, &d.others, depth + 1);
        }
        Payload::Sic(Sic::Request(r)) => {
            let _ = writeln!(s, "{pad}sic request ns={}", r.version.namespace());
        }
        Payload::Sic(Sic::Address(a)) => {
            let _ = writeln!(
                s,
                "{pad}sic response ns={} ip={} port={}",
                a.version.namespace(),
                a.ip,
                opt(&a.port)
            );
        }
        Payload::Transport(t) => ice(&mut s, t, depth),
        Payload::Other(e) => {
            let _ = writeln!(s, "{pad}other {}", compact_xml(e));
        }
        Payload::None => {}
    }
    s
}

fn jingle(s: &mut String, j: &Jingle, depth: usize) {
    let pad = "  ".repeat(depth);
    let _ = writeln!(
        s,
        "{pad}jingle action={} sid={} initiator={} responder={}",
        j.action,
        j.sid,
        opt(&j.initiator),
        opt(&j.responder)
    );
    extra(s, &j.extra, depth + 1);
    for c in &j.contents {
        content(s, c, depth + 1);
    }
    if let Some(r) = &j.reason {
        let _ = writeln!(s, "{pad}  reason {}", compact_xml(r));
    }
    others(s, &j.others, depth + 1);
}

fn content(s: &mut String, c: &Content, depth: usize) {
    let pad = "  ".repeat(depth);
    let _ = writeln!(
        s,
        "{pad}content creator={} name={} senders={} disposition={}",
        c.creator,
        c.name,
        opt(&c.senders),
        opt(&c.disposition)
    );
    extra(s, &c.extra, depth + 1);
    if let Some(d) = &c.description {
        let _ = writeln!(s, "{pad}  description (opaque) {}", compact_xml(d));
    }
    match &c.transport {
        Some(Transport::Ice(t)) => ice(s, t, depth + 1),
        Some(Transport::RawUdp(t)) => raw_udp(s, t, depth + 1),
        Some(Transport::Other(e)) => {
            let _ = writeln!(s, "{pad}  transport (opaque) {}", compact_xml(e));
        }
        None => {}
    }
    others(s, &c.others, depth + 1);
}

/// Renders an ICE transport, each candidate as its `a=candidate` line.
pub fn ice(s: &mut String, t: &IceTransport, depth: usize) {
    let pad = "  ".repeat(depth);
    let _ = writeln!(
        s,
        "{pad}transport ns={} ufrag={} pwd={} ice2={} gathering-complete={}",
        t.namespace,
        opt(&t.ufrag),
        opt(&t.pwd),
        opt(&t.ice2),
        t.gathering_complete
    );
    extra(s, &t.extra, depth + 1);
    for c in &t.candidates {
        candidate(s, c, depth + 1);
    }
    for r in &t.remote_candidates {
        let _ = writeln!(
            s,
            "{pad}  remote-candidate component={} {}",
            r.component,
            r.addr()
        );
    }
    others(s, &t.others, depth + 1);
}

fn candidate(s: &mut String, c: &Candidate, depth: usize) {
    let pad = "  ".repeat(depth);
    let _ = writeln!(s, "{pad}{}  [id={}]", c.to_sdp_line(), opt(&c.id));
    extra(s, &c.extra, depth + 1);
}

fn raw_udp(s: &mut String, t: &RawUdpTransport, depth: usize) {
    let pad = "  ".repeat(depth);
    let _ = writeln!(s, "{pad}transport ns=urn:xmpp:jingle:transports:raw-udp:1");
    for c in &t.candidates {
        let _ = writeln!(
            s,
            "{pad}  candidate component={} generation={} id={} {} type={}",
            opt(&c.component),
            c.generation,
            c.id,
            c.addr(),
            opt(&c.type_)
        );
        extra(s, &c.extra, depth + 2);
    }
}

fn extra(s: &mut String, extra: &[(String, String)], depth: usize) {
    for (k, v) in extra {
        let _ = writeln!(s, "{}unknown attribute {k}='{v}'", "  ".repeat(depth));
    }
}

fn others(s: &mut String, others: &[Element], depth: usize) {
    for e in others {
        let _ = writeln!(s, "{}child (kept) {}", "  ".repeat(depth), compact_xml(e));
    }
}
