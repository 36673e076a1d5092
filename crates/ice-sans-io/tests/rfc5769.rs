//! The test vectors of RFC 5769, byte for byte, both ways. The vectors are copied from
//! RFC 5769 §2.1-2.4 into `tests/vectors/rfc5769.txt` (with the facts each must decode to).
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap fixtures too

use std::collections::BTreeMap;
use std::net::SocketAddr;

use ice_sans_io::stun::{
    Attribute, AttributeType, Class, Fingerprint, Integrity, IntegrityKey, Message, MessageBuilder,
    Method,
};

fn vectors() -> BTreeMap<String, BTreeMap<String, String>> {
    let text = include_str!("vectors/rfc5769.txt");
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.to_owned());
            out.entry(name.to_owned()).or_default();
        } else if let (Some(c), Some((k, v))) = (&current, line.split_once(" = ")) {
            out.get_mut(c).unwrap().insert(k.to_owned(), v.to_owned());
        }
    }
    out
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn vector(name: &str) -> (Vec<u8>, BTreeMap<String, String>) {
    let v = vectors()
        .remove(name)
        .unwrap_or_else(|| panic!("vector {name}"));
    (hex(&v["hex"]), v)
}

const SHORT_TERM: &str = "VOkJxbRl1RmTxUk/WvJxBt";

/// Positions of padding bytes and of the MESSAGE-INTEGRITY and FINGERPRINT values: the bytes
/// a rebuild with zero padding may legitimately change.
fn mask(msg: &Message<'_>) -> Vec<bool> {
    let mut m = vec![false; msg.as_bytes().len()];
    for a in msg.raw_attributes() {
        let start = a.offset + 4 + a.value.len();
        let end = a.offset + 4 + ((a.value.len() + 3) & !3);
        m[start..end].iter_mut().for_each(|x| *x = true);
        if a.attr_type == AttributeType::MESSAGE_INTEGRITY
            || a.attr_type == AttributeType::FINGERPRINT
        {
            m[a.offset + 4..end].iter_mut().for_each(|x| *x = true);
        }
    }
    m
}

/// Rebuilds `msg` from its decoded attributes with `key`, and compares.
fn rebuild(msg: &Message<'_>, key: Option<&IntegrityKey>) -> Vec<u8> {
    let mut buf = vec![0u8; 1024];
    let mut b =
        MessageBuilder::new(&mut buf, msg.class(), msg.method(), msg.transaction_id()).unwrap();
    for a in msg.attributes() {
        match a {
            Attribute::MessageIntegrity(_) => b.add_integrity(key.unwrap()).unwrap(),
            Attribute::Fingerprint(_) => b.add_fingerprint().unwrap(),
            other => b.add(&other).unwrap(),
        }
    }
    let n = b.finish();
    buf.truncate(n);
    buf
}

fn assert_same_but_padding(original: &[u8], rebuilt: &[u8]) {
    let msg = Message::decode(original).unwrap();
    assert_eq!(original.len(), rebuilt.len());
    for (i, skip) in mask(&msg).into_iter().enumerate() {
        if !skip {
            assert_eq!(original[i], rebuilt[i], "byte {i}");
        }
    }
}

#[test]
fn rfc5769_2_1_sample_request() {
    let (bytes, v) = vector("rfc5769-2.1-sample-request");
    let msg = Message::decode(&bytes).unwrap();
    assert_eq!(
        (msg.class(), msg.method()),
        (Class::Request, Method::BINDING)
    );
    assert!(!msg.is_rfc3489());
    assert_eq!(msg.username(), Some(v["username"].as_str()));
    assert_eq!(
        msg.get(AttributeType::SOFTWARE),
        Some(Attribute::Software(v["software"].as_str()))
    );
    assert_eq!(
        msg.priority(),
        Some(u32::from_str_radix(&v["priority"][2..], 16).unwrap())
    );
    assert_eq!(
        msg.ice_controlled(),
        Some(u64::from_str_radix(&v["ice-controlled"][2..], 16).unwrap())
    );
    assert_eq!(msg.ice_controlling(), None);
    assert!(!msg.use_candidate());
    let mi = hex(&v["message-integrity"]);
    assert_eq!(
        msg.get(AttributeType::MESSAGE_INTEGRITY),
        Some(Attribute::MessageIntegrity(
            mi.as_slice().try_into().unwrap()
        ))
    );
    assert_eq!(
        msg.get(AttributeType::FINGERPRINT),
        Some(Attribute::Fingerprint(
            u32::from_str_radix(&v["fingerprint"][2..], 16).unwrap()
        ))
    );
    let key = IntegrityKey::short_term(SHORT_TERM);
    assert_eq!(msg.verify_integrity(&key), Integrity::Ok);
    assert_eq!(
        msg.verify_integrity(&IntegrityKey::short_term("wrong")),
        Integrity::Bad
    );
    assert_eq!(msg.fingerprint(), Fingerprint::Ok);

    let rebuilt = rebuild(&msg, Some(&key));
    assert_same_but_padding(&bytes, &rebuilt);
    let again = Message::decode(&rebuilt).unwrap();
    assert_eq!(again.verify_integrity(&key), Integrity::Ok);
    assert_eq!(again.fingerprint(), Fingerprint::Ok);
    assert_eq!(again.attributes().count(), msg.attributes().count());
}

fn check_response(name: &str) {
    let (bytes, v) = vector(name);
    let msg = Message::decode(&bytes).unwrap();
    assert_eq!(
        (msg.class(), msg.method()),
        (Class::Success, Method::BINDING)
    );
    let addr: SocketAddr = v["xor-mapped-address"].parse().unwrap();
    assert_eq!(msg.mapped_address(), Some(addr));
    assert_eq!(
        msg.get(AttributeType::SOFTWARE),
        Some(Attribute::Software(v["software"].as_str()))
    );
    let key = IntegrityKey::short_term(SHORT_TERM);
    assert_eq!(msg.verify_integrity(&key), Integrity::Ok);
    assert_eq!(msg.fingerprint(), Fingerprint::Ok);
    let rebuilt = rebuild(&msg, Some(&key));
    assert_same_but_padding(&bytes, &rebuilt);
    assert_eq!(
        Message::decode(&rebuilt).unwrap().mapped_address(),
        Some(addr)
    );
}

#[test]
fn rfc5769_2_2_sample_ipv4_response() {
    check_response("rfc5769-2.2-sample-ipv4-response");
}

#[test]
fn rfc5769_2_3_sample_ipv6_response() {
    check_response("rfc5769-2.3-sample-ipv6-response");
}

#[test]
fn rfc5769_2_4_long_term_request() {
    let (bytes, v) = vector("rfc5769-2.4-long-term-request");
    let msg = Message::decode(&bytes).unwrap();
    let username = "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}";
    assert_eq!(v["username"].split(' ').next(), Some(username));
    assert_eq!(msg.username(), Some(username));
    assert_eq!(
        msg.get(AttributeType::REALM),
        Some(Attribute::Realm(v["realm"].as_str()))
    );
    assert_eq!(
        msg.get(AttributeType::NONCE),
        Some(Attribute::Nonce(v["nonce"].as_str()))
    );
    assert_eq!(msg.fingerprint(), Fingerprint::Absent);
    // The password after SASLprep (RFC 5769 §2.4).
    let key = IntegrityKey::long_term(username, "example.org", "TheMatrIX");
    assert_eq!(msg.verify_integrity(&key), Integrity::Ok);
    // This vector's padding is zero: the rebuild is byte for byte.
    assert_eq!(rebuild(&msg, Some(&key)), bytes);
}
