//! `jingle-ice-conformance stun decode HEX`: what a STUN message holds, and whether its
//! integrity and fingerprint hold.

use std::fmt::Write as _;

use ice_sans_io::stun::{
    Attribute, DecodeError, Fingerprint, Integrity, IntegrityKey, MAX_MESSAGE_LEN, Message,
};
use serde_json::json;

use crate::check::Report;

/// Reads hex, ignoring whitespace, colons and a leading `0x`.
pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim();
    let s = s.strip_prefix("0x").unwrap_or(s);
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b':')
        .collect();
    if digits.len() > 2 * MAX_MESSAGE_LEN {
        return Err(format!("more than {MAX_MESSAGE_LEN} bytes of hex"));
    }
    if digits.len() % 2 != 0 {
        return Err("an odd number of hex digits".into());
    }
    digits
        .chunks_exact(2)
        .map(|p| {
            let hi = (p[0] as char).to_digit(16);
            let lo = (p[1] as char).to_digit(16);
            match (hi, lo) {
                (Some(h), Some(l)) => Ok((h * 16 + l) as u8),
                _ => Err(format!("'{}{}' is not hex", p[0] as char, p[1] as char)),
            }
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of an attribute as text.
pub fn value(a: &Attribute<'_>) -> String {
    match a {
        Attribute::MappedAddress(x)
        | Attribute::XorMappedAddress(x)
        | Attribute::XorRelayedAddress(x)
        | Attribute::XorPeerAddress(x) => x.to_string(),
        Attribute::Username(s)
        | Attribute::Realm(s)
        | Attribute::Nonce(s)
        | Attribute::Software(s) => format!("{s:?}"),
        Attribute::MessageIntegrity(m) => hex(&m[..]),
        Attribute::Fingerprint(f) => format!("0x{f:08x}"),
        Attribute::ErrorCode(e) => format!("{} {:?}", e.code, e.reason),
        Attribute::UnknownAttributes(u) => u
            .iter()
            .map(|t| format!("0x{:04x}", t.0))
            .collect::<Vec<_>>()
            .join(" "),
        Attribute::Priority(p) | Attribute::Lifetime(p) => p.to_string(),
        Attribute::UseCandidate => String::new(),
        Attribute::IceControlled(t) | Attribute::IceControlling(t) => format!("0x{t:016x}"),
        Attribute::Data(d) => hex(d),
        Attribute::RequestedTransport(p) => p.to_string(),
        Attribute::ChannelNumber(c) => format!("0x{c:04x}"),
        Attribute::Other { value, .. } => hex(value),
        _ => String::from("?"),
    }
}

/// The key given on the command line.
#[derive(Debug, Clone)]
pub enum KeyArg {
    /// `--password PWD`: short-term.
    ShortTerm(String),
    /// `--long-term USER:REALM:PWD`.
    LongTerm(String, String, String),
}

impl KeyArg {
    /// Reads `USER:REALM:PWD` (the password may contain colons).
    pub fn long_term(s: &str) -> Result<Self, String> {
        let mut it = s.splitn(3, ':');
        match (it.next(), it.next(), it.next()) {
            (Some(u), Some(r), Some(p)) => Ok(KeyArg::LongTerm(u.into(), r.into(), p.into())),
            _ => Err("--long-term takes USER:REALM:PWD".into()),
        }
    }

    fn key(&self) -> IntegrityKey {
        match self {
            KeyArg::ShortTerm(p) => IntegrityKey::short_term(p),
            KeyArg::LongTerm(u, r, p) => IntegrityKey::long_term(u, r, p),
        }
    }
}

fn failure(message: String) -> Report {
    Report {
        code: 1,
        text: format!("error: {message}\n"),
        json: json!({ "ok": false, "error": message }),
    }
}

/// Decodes `hex_input` and checks it with `key`.
pub fn decode(hex_input: &str, key: Option<&KeyArg>) -> Report {
    let bytes = match parse_hex(hex_input) {
        Ok(b) => b,
        Err(e) => return failure(format!("not hex: {e}")),
    };
    let msg = match Message::decode(&bytes) {
        Ok(m) => m,
        Err(e @ DecodeError::NotStun) | Err(e @ DecodeError::TooShort { .. }) => {
            return failure(e.to_string());
        }
        Err(e) => {
            let header = Message::peek_header(&bytes)
                .map(|(c, m, t)| format!(" ({c} {m}, transaction {t})"))
                .unwrap_or_default();
            return failure(format!("{e}{header}"));
        }
    };
    let integrity = match (key, msg.has_integrity()) {
        (_, false) => Integrity::Absent.as_str(),
        (Some(k), true) => msg.verify_integrity(&k.key()).as_str(),
        (None, true) => "unverified",
    };
    let fingerprint = msg.fingerprint();
    let mut text = String::new();
    let _ = writeln!(text, "class: {}", msg.class());
    let _ = writeln!(
        text,
        "method: {} (0x{:03x})",
        msg.method(),
        msg.method().value()
    );
    let _ = writeln!(text, "transaction id: {}", msg.transaction_id());
    if msg.is_rfc3489() {
        let _ = writeln!(
            text,
            "rfc3489: no magic cookie; 128-bit transaction id {}",
            hex(&msg.legacy_transaction_id())
        );
    }
    let _ = writeln!(text, "attributes:");
    let mut attributes = Vec::new();
    for a in msg.attributes() {
        let t = a.attr_type();
        let name = t.name().unwrap_or("unknown");
        let v = value(&a);
        let _ = writeln!(text, "  {t}: {v}");
        attributes.push(json!({ "name": name, "type": t.0, "value": v }));
    }
    let ignored: Vec<_> = msg
        .ignored_attributes()
        .map(|a| {
            let _ = writeln!(text, "  ignored (after MESSAGE-INTEGRITY, not authenticated): {} ({} bytes)", a.attr_type, a.value.len());
            json!({ "name": a.attr_type.name().unwrap_or("unknown"), "type": a.attr_type.0, "length": a.value.len() })
        })
        .collect();
    let unknown: Vec<u16> = msg.unknown_comprehension_required().map(|t| t.0).collect();
    if !unknown.is_empty() {
        let list: Vec<String> = unknown.iter().map(|t| format!("0x{t:04x}")).collect();
        let _ = writeln!(
            text,
            "unknown comprehension-required attributes (answer 420): {}",
            list.join(" ")
        );
    }
    let _ = writeln!(text, "integrity: {integrity}");
    match fingerprint {
        Fingerprint::Bad { received, computed } => {
            let _ = writeln!(
                text,
                "fingerprint: bad (received 0x{received:08x}, computed 0x{computed:08x})"
            );
        }
        f => {
            let _ = writeln!(text, "fingerprint: {}", f.as_str());
        }
    }
    let failed = integrity == "bad" || matches!(fingerprint, Fingerprint::Bad { .. });
    let json = json!({
        "ok": !failed,
        "class": msg.class().as_str(),
        "method": msg.method().to_string(),
        "method_value": msg.method().value(),
        "transaction_id": msg.transaction_id().to_string(),
        "rfc3489": msg.is_rfc3489(),
        "attributes": attributes,
        "ignored": ignored,
        "unknown_comprehension_required": unknown,
        "integrity": integrity,
        "fingerprint": fingerprint.as_str(),
    });
    Report {
        code: i32::from(failed),
        text,
        json,
    }
}
