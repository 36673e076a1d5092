//! One Jingle ICE session (jingle-ice-glue) driven by the fuzzer. The input is read as lines:
//! a line starting with `<` is a stanza from the peer (fed as text, then again with its `sid`
//! made the session's and, for results and errors, its `id` made one of our pending
//! requests'); any other line is a command byte and its arguments (verbs, time passing,
//! answers to our requests, garbage datagrams). The seeds in `corpus/session/` are small
//! stanza scripts.
//!
//! Properties asserted after every line:
//! - no panic;
//! - bounded state: pending requests within `max_pending_iqs`, held candidates within
//!   the limits, queues drained;
//! - every stanza the session sends is an IQ that the model's strict reading takes back, and
//!   every Jingle payload it sends reads back (leniently, since a transport-reject echoes the
//!   peer's transport);
//! - every refusal's reply is an IQ error that the strict reading takes back.
#![no_main]

use std::time::{Duration, Instant};

use jingle_ice_glue::ice_sans_io::{Datagram, Protocol};
use jingle_ice_glue::xep0371_model::minidom::Element;
use jingle_ice_glue::xep0371_model::{FromXml, IceFeatures, Iq, IqPayload, Jingle, Reading};
use jingle_ice_glue::{Allowance, Config, Role, Session};
use libfuzzer_sys::fuzz_target;

const SID: &str = "a73sjjvkla37jfea";
const ROMEO: &str = "romeo@montague.example/orchard";
const JULIET: &str = "juliet@capulet.example/balcony";

fn check_out(s: &mut Session, ids: &mut Vec<String>) {
    while let Some(iq) = s.poll_iq() {
        let el = Element::from(&iq);
        let back = Iq::try_from(el).expect("our stanza reads back strictly");
        assert_eq!(back.id, iq.id);
        if let IqPayload::Set(p) = &iq.payload {
            Jingle::read(p, Reading::Lenient).expect("our jingle reads back");
            if ids.len() >= 16 {
                ids.remove(0);
            }
            ids.push(iq.id.clone());
        }
    }
    while s.poll_transmit().is_some() {}
    while s.poll_event().is_some() {}
}

/// `xml` with the first value of attribute `name` replaced by `value` (a textual mutation:
/// minidom has no namespace-free attribute setter).
fn replace_attr(xml: &str, name: &str, value: &str) -> String {
    for q in ['\'', '"'] {
        let pat = format!(" {name}={q}");
        if let Some(start) = xml.find(&pat) {
            let from = start + pat.len();
            if let Some(len) = xml[from..].find(q) {
                return format!("{}{value}{}", &xml[..from], &xml[from + len..]);
            }
        }
    }
    xml.to_owned()
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.lines();
    let first = lines.clone().next().unwrap_or_default();
    let role = if first.starts_with('I') {
        Role::Initiator
    } else {
        Role::Responder
    };
    let (local, peer) = match role {
        Role::Initiator => (ROMEO, JULIET),
        Role::Responder => (JULIET, ROMEO),
    };
    let mut cfg = Config::default();
    cfg.max_pending_iqs = 8;
    cfg.max_queued_candidates = 8;
    cfg.max_outgoing = 64;
    cfg.max_events = 64;
    if first.contains('P') {
        cfg.allowance = Some(Allowance::PresenceSubscription);
    }
    #[allow(clippy::disallowed_methods)]
    let start = Instant::now();
    let mut now = start;
    let mut s = Session::new(
        cfg.clone(),
        role,
        SID,
        local.parse().expect("a JID"),
        peer.parse().expect("a JID"),
        [data.len() as u8; 32],
    );
    if first.contains('4') {
        s.set_peer_features(IceFeatures {
            ice0: true,
            rfc3264: first.contains('3'),
            ..IceFeatures::default()
        });
    }
    let _ = s.add_local_host(now, 1, "192.0.2.1:5000".parse().expect("an address"));
    let mut ids: Vec<String> = Vec::new();
    for (n, line) in lines.by_ref().enumerate() {
        if n > 200 {
            break;
        }
        let b = line.as_bytes();
        if b.first() == Some(&b'<') {
            for variant in 0..2 {
                let r = if variant == 0 {
                    s.handle_xml(now, line)
                } else {
                    let mut xml = replace_attr(line, "sid", SID);
                    if let Some(id) = ids.get(b.len() % ids.len().max(1)) {
                        if xml.contains("type='result'")
                            || xml.contains("type='error'")
                            || xml.contains("type=\"result\"")
                            || xml.contains("type=\"error\"")
                        {
                            xml = replace_attr(&xml, "id", id);
                        }
                    }
                    let Ok(el) = jingle_ice_glue::xep0371_model::parse_element(&xml, 1 << 16)
                    else {
                        break;
                    };
                    s.handle_stanza(now, &el)
                };
                if let Err(e) = &r {
                    let reply = e.reply();
                    assert!(matches!(reply.payload, IqPayload::Error { .. }));
                    Iq::try_from(Element::from(reply)).expect("our error reads back");
                }
                check_out(&mut s, &mut ids);
            }
        } else {
            let arg = b.get(1).copied().unwrap_or(0);
            match b.first().copied().unwrap_or(b't') {
                b'i' => {
                    let _ = s.initiate(now, None);
                }
                b'A' => {
                    let _ = s.accept(now, None);
                }
                b'r' => {
                    let _ = s.restart(now);
                }
                b'a' => s.allow_candidates(now, Allowance::UserAccepted),
                b'u' => {
                    let _ =
                        s.replace_with_raw_udp(now, "192.0.2.1:7000".parse().expect("an address"));
                }
                b'x' => {
                    let _ = s.terminate(now, "success");
                }
                b'h' => {
                    let _ = s.add_local_host(
                        now,
                        1,
                        format!("198.51.100.{}:5000", arg % 200 + 1)
                            .parse()
                            .expect("an address"),
                    );
                }
                b'd' => {
                    let d = Datagram {
                        local: "192.0.2.1:5000".parse().expect("an address"),
                        remote: "192.0.2.2:6000".parse().expect("an address"),
                        protocol: Protocol::Udp,
                        data: &b[1..],
                    };
                    let _ = s.handle_receive(now, d);
                }
                b'R' | b'E' => {
                    if let Some(id) = ids.get(usize::from(arg) % ids.len().max(1)) {
                        let xml = if b[0] == b'R' {
                            format!("<iq from='{peer}' id='{id}' type='result'/>")
                        } else {
                            format!(
                                "<iq from='{peer}' id='{id}' type='error'><error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><tie-break xmlns='urn:xmpp:jingle:errors:1'/></error></iq>"
                            )
                        };
                        let _ = s.handle_xml(now, &xml);
                    }
                }
                _ => {
                    now += Duration::from_millis(u64::from(arg) * 50);
                    if s.poll_timeout().is_some_and(|t| t <= now) {
                        s.handle_timeout(now);
                    }
                }
            }
            check_out(&mut s, &mut ids);
        }
        assert!(s.pending_requests() <= cfg.max_pending_iqs);
        assert!(s.queued_candidates() <= 2 * cfg.max_queued_candidates);
    }
});
