//! `jingle-ice-conformance check FILE`: read any Jingle IQ or bare transport, leniently and
//! strictly, and say what it holds.

use std::io::Read;

use serde_json::json;
use xep0371_model::{IceTransport, Reading, parse_element};

use crate::render::Payload;
use crate::stanza::{self, ReadFailure, Stanza};

/// Largest input read (bytes); larger inputs are refused without being read whole.
pub const MAX_INPUT: usize = 1 << 20;

/// What `check` concluded; the caller prints `text` (or `json`) and exits with `code`.
#[derive(Debug, Clone)]
pub struct Report {
    /// Exit status: 0 when the lenient reading accepts, 1 otherwise.
    pub code: i32,
    /// Human-readable report.
    pub text: String,
    /// The JSON object.
    pub json: serde_json::Value,
}

/// Reads at most [`MAX_INPUT`] + 1 bytes from `input`.
pub fn read_bounded(input: impl Read) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    input.take(MAX_INPUT as u64 + 1).read_to_end(&mut buf)?;
    Ok(buf)
}

fn transports(stanza: &Stanza) -> Vec<&IceTransport> {
    match &stanza.payload {
        Payload::Jingle(j) => j.ice_transports().map(|(_, t)| t).collect(),
        Payload::Transport(t) => vec![t],
        _ => Vec::new(),
    }
}

fn failure(message: String, element: Option<&str>, attribute: Option<&str>) -> Report {
    Report {
        code: 1,
        text: format!("error: {message}\n"),
        json: json!({ "ok": false, "error": message, "element": element, "attribute": attribute }),
    }
}

/// Checks `bytes`.
pub fn check(bytes: &[u8]) -> Report {
    if bytes.len() > MAX_INPUT {
        return failure(
            format!("input is larger than {MAX_INPUT} bytes"),
            None,
            None,
        );
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return failure("input is not UTF-8".into(), None, None);
    };
    let el = match parse_element(text, MAX_INPUT) {
        Ok(el) => el,
        Err(e) => return failure(e.to_string(), None, None),
    };
    let parsed = match stanza::read(&el, Reading::Lenient) {
        Ok(p) => p,
        Err(e) => {
            let (element, attribute) = match &e {
                ReadFailure::Model(m) => (
                    m.element().map(str::to_owned),
                    m.attribute().map(str::to_owned),
                ),
                ReadFailure::Sic(_) => (None, None),
            };
            return failure(e.to_string(), element.as_deref(), attribute.as_deref());
        }
    };
    let strict = stanza::read(&el, Reading::Strict)
        .err()
        .map(|e| e.to_string());
    let ts = transports(&parsed.value);
    let mut text = String::new();
    for t in &ts {
        text.push_str(&format!(
            "transport {} ufrag={} pwd={}{}\n",
            t.namespace,
            t.ufrag.as_deref().unwrap_or("-"),
            t.pwd.as_deref().unwrap_or("-"),
            if t.gathering_complete {
                " gathering-complete"
            } else {
                ""
            }
        ));
        for c in &t.candidates {
            text.push_str(&c.to_sdp_line());
            text.push('\n');
        }
    }
    if ts.is_empty() {
        text.push_str("no ICE transport\n");
    }
    for d in &parsed.diagnostics {
        text.push_str(&format!("diagnostic: {d}\n"));
    }
    match &strict {
        None => text.push_str("strict reading: accepted\n"),
        Some(e) => text.push_str(&format!("strict reading: rejected: {e}\n")),
    }
    let first = ts.first();
    let json = json!({
        "ok": true,
        "namespace": first.map(|t| t.namespace.as_str()),
        "ufrag": first.and_then(|t| t.ufrag.as_deref()),
        "pwd": first.and_then(|t| t.pwd.as_deref()),
        "candidates": ts.iter().flat_map(|t| t.candidates.iter().map(|c| c.to_sdp_line())).collect::<Vec<_>>(),
        "gathering_complete": first.is_some_and(|t| t.gathering_complete),
        "transports": ts.iter().map(|t| json!({
            "namespace": t.namespace.as_str(),
            "ufrag": t.ufrag,
            "pwd": t.pwd,
            "candidates": t.candidates.iter().map(|c| c.to_sdp_line()).collect::<Vec<_>>(),
            "remote_candidates": t.remote_candidates.iter().map(|r| format!("{} {}", r.component, r.addr())).collect::<Vec<_>>(),
            "gathering_complete": t.gathering_complete,
        })).collect::<Vec<_>>(),
        "diagnostics": parsed.diagnostics.iter().map(|d| json!({
            "message": d.to_string(),
            "rule": d.error.rule().map(|r| r.id),
            "element": d.error.element(),
            "attribute": d.error.attribute(),
            "action": d.action,
        })).collect::<Vec<_>>(),
        "strict": { "accepted": strict.is_none(), "error": strict },
    });
    Report {
        code: 0,
        text,
        json,
    }
}
