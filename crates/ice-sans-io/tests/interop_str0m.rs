//! Interop with str0m's STUN code (the `is` crate, `is::stun`): what str0m builds, ours decodes
//! and verifies; what ours builds, str0m parses and verifies; attribute values compared both ways.
//!
//! What `is` 0.12 makes public, and so what these tests can reach:
//! - building: `StunMessage::binding_request`, `binding_reply` (XOR-MAPPED-ADDRESS),
//!   `binding_role_conflict_reply` (487), and `to_bytes`, which adds MESSAGE-INTEGRITY and
//!   FINGERPRINT (always) with the HMAC given as a closure (`is::DefaultSha1HmacProvider` here);
//! - parsing: `StunMessage::parse`, `verify(password, hmac)` and the attribute getters.
//!
//! Not public in `is`: a FINGERPRINT check on receipt (`parse` stores the value, nothing reads
//! it), so str0m cannot verify our FINGERPRINT and no test asks it to; the transaction ID's
//! bytes (`TransId` has no constructor from bytes and no accessor), so IDs are compared through
//! `TransId`'s `PartialEq` after a round trip (ours → str0m → ours).

use std::net::SocketAddr;

use ice_sans_io::stun::{
    Attribute, Class, ErrorCode, Fingerprint, Integrity, IntegrityKey, Message, MessageBuilder,
    Method, TransactionId,
};
use is::Sha1HmacProvider as _;
use is::stun::{StunMessage, TransId};

const PASSWORD: &str = "asd88fgpdd777uzjYhagZg";
const USERNAME: &str = "9uB6:8hhy";
const PRIORITY: u32 = 0x6e7f_1eff;
const TIE_BREAKER: u64 = 0x932f_f9b1_5126_3b36;
const TID: TransactionId = TransactionId::new([
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
]);

/// XOR-MAPPED-ADDRESS values both ways: IPv4, IPv6, the extreme ports, IPv4-mapped IPv6.
const MAPPED_ADDRESSES: [&str; 4] = [
    "192.0.2.1:32853",
    "[2001:db8:1234:5678:11:2233:4455:6677]:32853",
    "203.0.113.250:1",
    "[::ffff:198.51.100.7]:65535",
];

fn key() -> IntegrityKey {
    IntegrityKey::short_term(PASSWORD)
}

fn str0m_hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    is::DefaultSha1HmacProvider.sha1_hmac(key, parts)
}

/// Serializes a str0m message with MESSAGE-INTEGRITY (short-term `PASSWORD`) and FINGERPRINT.
fn str0m_bytes(msg: StunMessage<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; 512];
    let n = msg
        .to_bytes(Some(PASSWORD.as_bytes()), &mut buf, str0m_hmac)
        .expect("str0m serializes");
    buf.truncate(n);
    buf
}

/// Builds with ours: `attrs`, then MESSAGE-INTEGRITY and FINGERPRINT.
fn ours_bytes(class: Class, tid: TransactionId, attrs: &[Attribute<'_>]) -> Vec<u8> {
    let mut buf = vec![0u8; 512];
    let mut b = MessageBuilder::new(&mut buf, class, Method::BINDING, tid).expect("header");
    for a in attrs {
        b.add(a).expect("attribute");
    }
    b.add_integrity(&key()).expect("MESSAGE-INTEGRITY");
    b.add_fingerprint().expect("FINGERPRINT");
    let n = b.finish();
    buf.truncate(n);
    buf
}

/// str0m's `TransId` for our `TID`: str0m parses a request of ours carrying it.
fn str0m_tid() -> TransId {
    let req = ours_bytes(
        Class::Request,
        TID,
        &[Attribute::Username(USERNAME), Attribute::Priority(PRIORITY)],
    );
    StunMessage::parse(&req)
        .expect("str0m parses our request")
        .trans_id()
}

/// Ours decodes `bytes`, and MESSAGE-INTEGRITY and FINGERPRINT check out; a wrong password and a
/// flipped bit are caught.
fn decode_verified(bytes: &[u8]) -> Message<'_> {
    let m = Message::decode(bytes).expect("ours decodes");
    assert!(!m.is_rfc3489());
    assert_eq!(m.verify_integrity(&key()), Integrity::Ok);
    assert_eq!(m.fingerprint(), Fingerprint::Ok);
    assert_eq!(
        m.verify_integrity(&IntegrityKey::short_term("not the password")),
        Integrity::Bad
    );
    // A bit flipped in the header's transaction ID breaks both.
    let mut damaged = bytes.to_vec();
    damaged[10] ^= 0x40;
    let d = Message::decode(&damaged).expect("ours decodes the damaged copy");
    assert_eq!(d.verify_integrity(&key()), Integrity::Bad);
    assert!(!d.fingerprint().is_ok());
    m
}

/// str0m parses `bytes` and verifies MESSAGE-INTEGRITY; a wrong password and a flipped bit fail.
fn str0m_verified(bytes: &[u8]) -> StunMessage<'_> {
    let m = StunMessage::parse(bytes).expect("str0m parses");
    assert!(m.verify(PASSWORD.as_bytes(), str0m_hmac));
    assert!(!m.verify(b"not the password", str0m_hmac));
    let mut damaged = bytes.to_vec();
    damaged[10] ^= 0x40;
    let d = StunMessage::parse(&damaged).expect("str0m parses the damaged copy");
    assert!(!d.verify(PASSWORD.as_bytes(), str0m_hmac));
    m
}

#[test]
fn str0m_binding_request_decodes_and_verifies_in_ours() {
    let tid = str0m_tid();
    let bytes = str0m_bytes(StunMessage::binding_request(
        USERNAME,
        tid,
        true,
        TIE_BREAKER,
        PRIORITY,
        true,
    ));
    let m = decode_verified(&bytes);
    assert_eq!(m.class(), Class::Request);
    assert_eq!(m.method(), Method::BINDING);
    assert_eq!(m.transaction_id(), TID);
    assert_eq!(m.username(), Some(USERNAME));
    assert_eq!(m.priority(), Some(PRIORITY));
    assert_eq!(m.ice_controlling(), Some(TIE_BREAKER));
    assert_eq!(m.ice_controlled(), None);
    assert!(m.use_candidate());
    assert_eq!(m.ignored_attributes().count(), 0);
    assert_eq!(m.unknown_comprehension_required().count(), 0);
}

#[test]
fn str0m_controlled_binding_request_without_use_candidate_decodes_in_ours() {
    let bytes = str0m_bytes(StunMessage::binding_request(
        "evtj:h6vY",
        str0m_tid(),
        false,
        7,
        1,
        false,
    ));
    let m = decode_verified(&bytes);
    assert_eq!(m.username(), Some("evtj:h6vY"));
    assert_eq!(m.priority(), Some(1));
    assert_eq!(m.ice_controlled(), Some(7));
    assert_eq!(m.ice_controlling(), None);
    assert!(!m.use_candidate());
}

#[test]
fn str0m_success_responses_v4_and_v6_decode_and_verify_in_ours() {
    let tid = str0m_tid();
    for addr in MAPPED_ADDRESSES {
        let addr: SocketAddr = addr.parse().unwrap();
        let bytes = str0m_bytes(StunMessage::binding_reply(tid, addr));
        let m = decode_verified(&bytes);
        assert_eq!(m.class(), Class::Success, "{addr}");
        assert_eq!(m.method(), Method::BINDING);
        assert_eq!(m.transaction_id(), TID);
        assert_eq!(m.mapped_address(), Some(addr), "{addr}");
        assert_eq!(
            m.get(ice_sans_io::stun::AttributeType::MAPPED_ADDRESS),
            None
        );
    }
}

#[test]
fn str0m_role_conflict_decodes_and_verifies_in_ours() {
    let bytes = str0m_bytes(StunMessage::binding_role_conflict_reply(str0m_tid()));
    let m = decode_verified(&bytes);
    assert_eq!(m.class(), Class::Error);
    assert_eq!(m.transaction_id(), TID);
    assert_eq!(m.error_code(), Some(ErrorCode::ROLE_CONFLICT));
}

#[test]
fn ours_binding_request_parses_and_verifies_in_str0m() {
    let bytes = ours_bytes(
        Class::Request,
        TID,
        &[
            Attribute::Username(USERNAME),
            Attribute::Priority(PRIORITY),
            Attribute::IceControlling(TIE_BREAKER),
            Attribute::UseCandidate,
        ],
    );
    let m = str0m_verified(&bytes);
    assert!(m.is_binding_request());
    assert_eq!(m.trans_id(), str0m_tid());
    assert_eq!(m.username(), Some(USERNAME));
    assert_eq!(m.split_username(), Some(("9uB6", "8hhy")));
    assert_eq!(m.prio(), Some(PRIORITY));
    assert_eq!(m.ice_controlling(), Some(TIE_BREAKER));
    assert_eq!(m.ice_controlled(), None);
    assert!(m.use_candidate());
}

#[test]
fn ours_controlled_binding_request_parses_in_str0m() {
    let bytes = ours_bytes(
        Class::Request,
        TID,
        &[
            Attribute::Username("evtj:h6vY"),
            Attribute::Priority(1),
            Attribute::IceControlled(u64::MAX),
        ],
    );
    let m = str0m_verified(&bytes);
    assert_eq!(m.username(), Some("evtj:h6vY"));
    assert_eq!(m.prio(), Some(1));
    assert_eq!(m.ice_controlled(), Some(u64::MAX));
    assert_eq!(m.ice_controlling(), None);
    assert!(!m.use_candidate());
}

#[test]
fn ours_success_responses_v4_and_v6_parse_and_verify_in_str0m() {
    let tid = str0m_tid();
    for addr in MAPPED_ADDRESSES {
        let addr: SocketAddr = addr.parse().unwrap();
        let bytes = ours_bytes(Class::Success, TID, &[Attribute::XorMappedAddress(addr)]);
        let m = str0m_verified(&bytes);
        assert!(m.is_successful_binding_response(), "{addr}");
        assert_eq!(m.trans_id(), tid);
        assert_eq!(m.mapped_address(), Some(addr), "{addr}");
    }
}

#[test]
fn ours_role_conflict_parses_and_verifies_in_str0m() {
    let bytes = ours_bytes(
        Class::Error,
        TID,
        &[Attribute::ErrorCode(ErrorCode::ROLE_CONFLICT)],
    );
    let m = str0m_verified(&bytes);
    assert!(m.is_failed_binding_response());
    assert_eq!(m.trans_id(), str0m_tid());
    assert_eq!(m.error_code(), Some((487, "Role Conflict")));
}

/// Both builders write the same bytes for a success response: same attribute, same XOR, same
/// MESSAGE-INTEGRITY and FINGERPRINT.
#[test]
fn success_responses_are_byte_identical() {
    let tid = str0m_tid();
    for addr in ["192.0.2.1:32853", "[2001:db8::1]:3478"] {
        let addr: SocketAddr = addr.parse().unwrap();
        assert_eq!(
            str0m_bytes(StunMessage::binding_reply(tid, addr)),
            ours_bytes(Class::Success, TID, &[Attribute::XorMappedAddress(addr)]),
            "{addr}"
        );
    }
}
