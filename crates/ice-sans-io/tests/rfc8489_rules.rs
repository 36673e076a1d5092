//! Each RFC 8489 rule the codec implements, with a test of its own.
#![allow(clippy::unwrap_used, clippy::type_complexity)] // test helpers and a table of cases

use std::net::SocketAddr;

use ice_sans_io::stun::{
    Attribute, AttributeType, BuildError, Class, DecodeError, ErrorCode, Fingerprint, Integrity,
    IntegrityKey, Message, MessageBuilder, Method, TransactionId,
};
use proptest::prelude::*;

const TID: TransactionId = TransactionId::new([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);

fn key() -> IntegrityKey {
    IntegrityKey::short_term("asd88fgpdd777uzjYhagZg")
}

/// A connectivity check as RFC 8445 §7.1 builds it.
fn check(buf: &mut [u8]) -> usize {
    let mut b = MessageBuilder::new(buf, Class::Request, Method::BINDING, TID).unwrap();
    b.add(&Attribute::Username("9uB6:8hhy")).unwrap();
    b.add(&Attribute::Priority(1_853_824_767)).unwrap();
    b.add(&Attribute::IceControlling(0x0102_0304_0506_0708))
        .unwrap();
    b.add(&Attribute::UseCandidate).unwrap();
    b.add_integrity(&key()).unwrap();
    b.add_fingerprint().unwrap();
    b.finish()
}

fn set_length(msg: &mut [u8]) {
    let len = (msg.len() - 20) as u16;
    msg[2..4].copy_from_slice(&len.to_be_bytes());
}

fn append_fingerprint(msg: &mut Vec<u8>) {
    msg.extend_from_slice(&[0x80, 0x28, 0, 4, 0, 0, 0, 0]);
    set_length(msg);
    let n = msg.len();
    let crc = crc32fast::hash(&msg[..n - 8]) ^ 0x5354_554E;
    msg[n - 4..].copy_from_slice(&crc.to_be_bytes());
}

/// RFC 8489 §14.5: the HMAC covers the message up to MESSAGE-INTEGRITY, with the length field
/// set as if MESSAGE-INTEGRITY were last; a FINGERPRINT after it does not change the MAC.
#[test]
fn integrity_covers_the_message_up_to_it_with_the_length_adjusted() {
    let mut buf = [0u8; 200];
    let n = check(&mut buf);
    let msg = Message::decode(&buf[..n]).unwrap();
    assert_eq!(msg.verify_integrity(&key()), Integrity::Ok);
    // The same message without FINGERPRINT (length adjusted) carries the same MAC.
    let mut without = buf[..n - 8].to_vec();
    set_length(&mut without);
    assert_eq!(
        Message::decode(&without).unwrap().verify_integrity(&key()),
        Integrity::Ok
    );
    // Any byte before MESSAGE-INTEGRITY counts.
    for i in [0usize, 1, 8, 19, 24, 30] {
        let mut bad = buf[..n].to_vec();
        bad[i] ^= 0x01;
        if let Ok(m) = Message::decode(&bad) {
            assert_eq!(m.verify_integrity(&key()), Integrity::Bad, "byte {i}");
        }
    }
    // A changed FINGERPRINT breaks the fingerprint, not the integrity.
    let mut bad = buf[..n].to_vec();
    bad[n - 1] ^= 0x01;
    let m = Message::decode(&bad).unwrap();
    assert_eq!(m.verify_integrity(&key()), Integrity::Ok);
    assert!(matches!(m.fingerprint(), Fingerprint::Bad { .. }));
}

/// RFC 8489 §14.5: "Agents MUST ignore all other attributes that follow MESSAGE-INTEGRITY, with
/// the exception of the FINGERPRINT attribute."
#[test]
fn attributes_after_integrity_are_ignored_and_never_authenticated() {
    let mut buf = [0u8; 200];
    let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::BINDING, TID).unwrap();
    b.add(&Attribute::Username("9uB6:8hhy")).unwrap();
    b.add_integrity(&key()).unwrap();
    let n = b.finish();
    // An attacker appends USE-CANDIDATE, an ICE-CONTROLLED and a PRIORITY after the MAC.
    let mut msg = buf[..n].to_vec();
    msg.extend_from_slice(&[0x00, 0x25, 0, 0]);
    msg.extend_from_slice(&[0x80, 0x29, 0, 8, 9, 9, 9, 9, 9, 9, 9, 9]);
    msg.extend_from_slice(&[0x00, 0x24, 0, 4, 0, 0, 0, 1]);
    append_fingerprint(&mut msg);
    let m = Message::decode(&msg).unwrap();
    assert_eq!(m.verify_integrity(&key()), Integrity::Ok);
    assert_eq!(m.fingerprint(), Fingerprint::Ok);
    assert!(!m.use_candidate());
    assert_eq!(m.ice_controlled(), None);
    assert_eq!(m.priority(), None);
    assert_eq!(m.get(AttributeType::USE_CANDIDATE), None);
    let ignored: Vec<_> = m.ignored_attributes().map(|a| a.attr_type).collect();
    assert_eq!(
        ignored,
        [
            AttributeType::USE_CANDIDATE,
            AttributeType::ICE_CONTROLLED,
            AttributeType::PRIORITY
        ]
    );
    assert!(
        m.attributes()
            .all(|a| !matches!(a, Attribute::UseCandidate | Attribute::Priority(_)))
    );
    // An ignored attribute is not even validated: a malformed one does not fail the message.
    let mut msg2 = buf[..n].to_vec();
    msg2.extend_from_slice(&[0x00, 0x24, 0, 1, 7, 0, 0, 0]);
    set_length(&mut msg2);
    assert!(Message::decode(&msg2).is_ok());
    // The builder refuses to write such a message.
    let mut buf = [0u8; 200];
    let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::BINDING, TID).unwrap();
    b.add_integrity(&key()).unwrap();
    assert_eq!(
        b.add(&Attribute::UseCandidate),
        Err(BuildError::AfterIntegrity(AttributeType::USE_CANDIDATE))
    );
}

/// RFC 8489 §14: padding is zero on send, ignored on receive, and covered by MESSAGE-INTEGRITY
/// as received.
#[test]
fn padding_is_zero_on_send_ignored_on_receive_and_covered_by_integrity() {
    let mut buf = [0xAAu8; 200];
    let n = check(&mut buf);
    // USERNAME "9uB6:8hhy" is 9 bytes: 3 bytes of padding at 20 + 4 + 9.
    assert_eq!(&buf[33..36], &[0, 0, 0]);
    let mut padded = buf[..n].to_vec();
    padded[33] = b' ';
    let m = Message::decode(&padded).unwrap();
    assert_eq!(m.username(), Some("9uB6:8hhy"));
    assert_eq!(m.verify_integrity(&key()), Integrity::Bad);
}

/// Constant-time comparison: a MAC that differs only in its last byte is as wrong as one that
/// differs in its first (the timing itself is the comparison's construction, not a test).
#[test]
fn any_differing_mac_byte_fails() {
    let mut buf = [0u8; 200];
    let n = check(&mut buf);
    let mi = Message::decode(&buf[..n])
        .unwrap()
        .raw_attributes()
        .find(|a| a.attr_type == AttributeType::MESSAGE_INTEGRITY)
        .unwrap()
        .offset;
    for i in 0..20 {
        let mut bad = buf[..n].to_vec();
        bad[mi + 4 + i] ^= 0x80;
        assert_eq!(
            Message::decode(&bad).unwrap().verify_integrity(&key()),
            Integrity::Bad,
            "byte {i}"
        );
    }
}

/// RFC 8489 §6.3.1: unknown comprehension-required attributes are reported (to answer 420
/// with UNKNOWN-ATTRIBUTES); unknown comprehension-optional ones are not.
#[test]
fn unknown_comprehension_required_attributes_are_reported() {
    let mut buf = [0u8; 200];
    let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::BINDING, TID).unwrap();
    b.add(&Attribute::Other {
        attr_type: AttributeType(0x7777),
        value: b"abc",
    })
    .unwrap();
    b.add(&Attribute::Other {
        attr_type: AttributeType(0xC001),
        value: b"",
    })
    .unwrap();
    b.add(&Attribute::Other {
        attr_type: AttributeType(0x001C),
        value: &[0; 32],
    })
    .unwrap();
    let n = b.finish();
    let m = Message::decode(&buf[..n]).unwrap();
    let unknown: Vec<_> = m.unknown_comprehension_required().collect();
    assert_eq!(unknown, [AttributeType(0x7777), AttributeType(0x001C)]);
    assert_eq!(
        m.get(AttributeType(0x7777)),
        Some(Attribute::Other {
            attr_type: AttributeType(0x7777),
            value: b"abc"
        })
    );
    // The 420 answer.
    let list: Vec<u8> = unknown.iter().flat_map(|t| t.0.to_be_bytes()).collect();
    let mut out = [0u8; 200];
    let mut b = MessageBuilder::new(&mut out, Class::Error, Method::BINDING, TID).unwrap();
    b.add(&Attribute::ErrorCode(ErrorCode::UNKNOWN_ATTRIBUTE))
        .unwrap();
    b.add(&Attribute::UnknownAttributes(
        ice_sans_io::stun::UnknownAttributes::from_bytes(&list).unwrap(),
    ))
    .unwrap();
    let n = b.finish();
    let r = Message::decode(&out[..n]).unwrap();
    assert_eq!(r.error_code().map(|e| e.code), Some(420));
    assert_eq!(
        r.unknown_attributes().unwrap().iter().collect::<Vec<_>>(),
        unknown
    );
}

/// RFC 5389 §12 / RFC 3489: a message without the magic cookie is recognised, with its 128-bit
/// transaction ID, so that a server can answer it (libnice's server-reflexive discovery).
#[test]
fn rfc3489_binding_request_is_recognised() {
    let mut req = vec![0x00, 0x01, 0x00, 0x00];
    req.extend_from_slice(&[
        0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ]);
    let m = Message::decode(&req).unwrap();
    assert!(m.is_rfc3489());
    assert_eq!((m.class(), m.method()), (Class::Request, Method::BINDING));
    assert_eq!(&m.legacy_transaction_id()[..4], &[0xDE, 0xAD, 0xBE, 0xEF]);
    // A MAPPED-ADDRESS answer reads back on the client side.
    let mut buf = [0u8; 64];
    let mut b = MessageBuilder::new(
        &mut buf,
        Class::Success,
        Method::BINDING,
        m.transaction_id(),
    )
    .unwrap();
    let addr: SocketAddr = "198.51.100.7:3478".parse().unwrap();
    b.add(&Attribute::MappedAddress(addr)).unwrap();
    let n = b.finish();
    assert_eq!(
        Message::decode(&buf[..n]).unwrap().mapped_address(),
        Some(addr)
    );
}

/// RFC 8489 §5, §14: what is not a well-formed message is a typed error, never a panic.
#[test]
fn malformed_messages_are_typed_errors() {
    let mut buf = [0u8; 200];
    let n = check(&mut buf);
    let ok = buf[..n].to_vec();
    let cases: Vec<(Vec<u8>, fn(&DecodeError) -> bool)> = vec![
        (ok[..19].to_vec(), |e| {
            matches!(e, DecodeError::TooShort { len: 19 })
        }),
        (
            {
                let mut m = ok.clone();
                m[0] |= 0x80;
                m
            },
            |e| matches!(e, DecodeError::NotStun),
        ),
        (
            {
                let mut m = ok.clone();
                m[3] += 1;
                m
            },
            |e| matches!(e, DecodeError::UnalignedLength { .. }),
        ),
        (ok[..n - 4].to_vec(), |e| {
            matches!(e, DecodeError::LengthMismatch { .. })
        }),
        // USERNAME claiming 200 bytes.
        (
            {
                let mut m = ok.clone();
                m[22] = 0;
                m[23] = 200;
                m
            },
            |e| {
                matches!(
                    e,
                    DecodeError::AttributeOverflow {
                        attr_type: 0x0006,
                        ..
                    }
                )
            },
        ),
        // FINGERPRINT moved before MESSAGE-INTEGRITY.
        (
            {
                let mut m = ok[..20].to_vec();
                m.extend_from_slice(&[0x80, 0x28, 0, 4, 0, 0, 0, 0, 0x00, 0x25, 0, 0]);
                set_length(&mut m);
                m
            },
            |e| matches!(e, DecodeError::FingerprintNotLast { .. }),
        ),
        // PRIORITY of 3 bytes.
        (
            {
                let mut m = ok[..20].to_vec();
                m.extend_from_slice(&[0x00, 0x24, 0, 3, 1, 2, 3, 0]);
                set_length(&mut m);
                m
            },
            |e| {
                matches!(
                    e,
                    DecodeError::BadAttribute {
                        attr_type: 0x0024,
                        ..
                    }
                )
            },
        ),
        // XOR-MAPPED-ADDRESS with family 3.
        (
            {
                let mut m = ok[..20].to_vec();
                m.extend_from_slice(&[0x00, 0x20, 0, 8, 0, 3, 0, 1, 1, 2, 3, 4]);
                set_length(&mut m);
                m
            },
            |e| {
                matches!(
                    e,
                    DecodeError::BadAttribute {
                        attr_type: 0x0020,
                        ..
                    }
                )
            },
        ),
        // USERNAME that is not UTF-8.
        (
            {
                let mut m = ok[..20].to_vec();
                m.extend_from_slice(&[0x00, 0x06, 0, 2, 0xff, 0xfe, 0, 0]);
                set_length(&mut m);
                m
            },
            |e| {
                matches!(
                    e,
                    DecodeError::BadAttribute {
                        attr_type: 0x0006,
                        ..
                    }
                )
            },
        ),
    ];
    for (i, (bytes, expect)) in cases.into_iter().enumerate() {
        let e = Message::decode(&bytes).unwrap_err();
        assert!(expect(&e), "case {i}: {e:?}");
        assert!(!e.to_string().is_empty());
    }
    // The header is still readable to answer 400.
    let (class, method, tid) = Message::peek_header(&ok[..n - 4]).unwrap();
    assert_eq!((class, method, tid), (Class::Request, Method::BINDING, TID));
}

#[test]
fn builder_reports_a_short_buffer_and_computed_attributes() {
    let mut small = [0u8; 30];
    let mut b = MessageBuilder::new(&mut small, Class::Request, Method::BINDING, TID).unwrap();
    assert!(matches!(
        b.add(&Attribute::Username("9uB6:8hhy")),
        Err(BuildError::BufferTooSmall {
            needed: 36,
            available: 30
        })
    ));
    assert_eq!(b.len(), 20, "a failed add leaves the message as it was");
    assert_eq!(
        b.add(&Attribute::Fingerprint(0)),
        Err(BuildError::Computed(AttributeType::FINGERPRINT))
    );
    assert!(MessageBuilder::new(&mut [0u8; 10], Class::Request, Method::BINDING, TID).is_err());
    let mut buf = [0u8; 100];
    let mut b = MessageBuilder::new(&mut buf, Class::Error, Method::BINDING, TID).unwrap();
    assert!(matches!(
        b.add(&Attribute::ErrorCode(ErrorCode {
            code: 200,
            reason: ""
        })),
        Err(BuildError::BadValue { .. })
    ));
    assert!(b.is_empty());
}

#[test]
fn method_and_class_bits() {
    // RFC 8489 §5: a Binding success response is 0x0101, an error 0x0111, an indication 0x0011.
    for (class, t) in [
        (Class::Request, 0x0001),
        (Class::Indication, 0x0011),
        (Class::Success, 0x0101),
        (Class::Error, 0x0111),
    ] {
        let mut buf = [0u8; 20];
        let _ = MessageBuilder::new(&mut buf, class, Method::BINDING, TID)
            .unwrap()
            .finish();
        assert_eq!(u16::from_be_bytes([buf[0], buf[1]]), t);
    }
    // Every 12-bit method round-trips through the interleaved bits.
    for v in 0..=0xFFFu16 {
        let m = Method::new(v).unwrap();
        let mut buf = [0u8; 20];
        let _ = MessageBuilder::new(&mut buf, Class::Error, m, TID)
            .unwrap()
            .finish();
        let d = Message::decode(&buf).unwrap();
        assert_eq!((d.method(), d.class()), (m, Class::Error));
    }
    assert_eq!(Method::new(0x1000), None);
}

/// RFC 8489 §14.15 and RFC 8656 §18.8, bytes written by hand: ALTERNATE-SERVER is encoded as
/// MAPPED-ADDRESS is (no XOR), REQUESTED-ADDRESS-FAMILY is the family in the first byte and
/// three RFFU zero bytes.
#[test]
fn rfc8489_14_15_alternate_server_and_rfc8656_18_8_requested_address_family() {
    let tid = TransactionId::new([9; 12]);
    let mut buf = [0u8; 64];
    let mut b = MessageBuilder::new(&mut buf, Class::Error, Method::ALLOCATE, tid).unwrap();
    b.add(&Attribute::AlternateServer(
        "192.0.2.7:3479".parse().unwrap(),
    ))
    .unwrap();
    b.add(&Attribute::RequestedAddressFamily(0x02)).unwrap();
    let n = b.finish();
    assert_eq!(
        &buf[20..n],
        &[
            0x80, 0x23, 0x00, 0x08, 0x00, 0x01, 0x0d, 0x97, 192, 0, 2, 7, // ALTERNATE-SERVER
            0x00, 0x17, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00, // REQUESTED-ADDRESS-FAMILY
        ][..]
    );
    let m = Message::decode(&buf[..n]).unwrap();
    assert_eq!(
        m.get(AttributeType::ALTERNATE_SERVER),
        Some(Attribute::AlternateServer(
            "192.0.2.7:3479".parse().unwrap()
        ))
    );
    assert_eq!(
        m.get(AttributeType::REQUESTED_ADDRESS_FAMILY),
        Some(Attribute::RequestedAddressFamily(2))
    );
    assert_eq!(
        AttributeType::ALTERNATE_SERVER.name(),
        Some("ALTERNATE-SERVER")
    );
    assert!(!AttributeType::ALTERNATE_SERVER.is_comprehension_required());
    assert!(AttributeType::REQUESTED_ADDRESS_FAMILY.is_comprehension_required());
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(a, p)| SocketAddr::from((a, p))),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(a, p)| SocketAddr::from((a, p))),
    ]
}

#[derive(Debug, Clone)]
enum Owned {
    Mapped(SocketAddr),
    XorMapped(SocketAddr),
    XorPeer(SocketAddr),
    XorRelayed(SocketAddr),
    Username(String),
    Realm(String),
    Nonce(String),
    Software(String),
    Error(u16, String),
    Priority(u32),
    UseCandidate,
    Controlled(u64),
    Controlling(u64),
    Lifetime(u32),
    Data(Vec<u8>),
    Transport(u8),
    Channel(u16),
    Family(u8),
    Alternate(SocketAddr),
    Other(u16, Vec<u8>),
}

impl Owned {
    fn attr(&self) -> Attribute<'_> {
        match self {
            Owned::Mapped(a) => Attribute::MappedAddress(*a),
            Owned::XorMapped(a) => Attribute::XorMappedAddress(*a),
            Owned::XorPeer(a) => Attribute::XorPeerAddress(*a),
            Owned::XorRelayed(a) => Attribute::XorRelayedAddress(*a),
            Owned::Username(s) => Attribute::Username(s),
            Owned::Realm(s) => Attribute::Realm(s),
            Owned::Nonce(s) => Attribute::Nonce(s),
            Owned::Software(s) => Attribute::Software(s),
            Owned::Error(c, r) => Attribute::ErrorCode(ErrorCode {
                code: *c,
                reason: r,
            }),
            Owned::Priority(p) => Attribute::Priority(*p),
            Owned::UseCandidate => Attribute::UseCandidate,
            Owned::Controlled(t) => Attribute::IceControlled(*t),
            Owned::Controlling(t) => Attribute::IceControlling(*t),
            Owned::Lifetime(t) => Attribute::Lifetime(*t),
            Owned::Data(d) => Attribute::Data(d),
            Owned::Transport(p) => Attribute::RequestedTransport(*p),
            Owned::Channel(c) => Attribute::ChannelNumber(*c),
            Owned::Family(f) => Attribute::RequestedAddressFamily(*f),
            Owned::Alternate(a) => Attribute::AlternateServer(*a),
            Owned::Other(t, v) => Attribute::Other {
                attr_type: AttributeType(*t),
                value: v,
            },
        }
    }
}

fn attribute() -> impl Strategy<Value = Owned> {
    let text = "[a-zA-Z0-9:+/ ]{0,40}";
    prop_oneof![
        socket_addr().prop_map(Owned::Mapped),
        socket_addr().prop_map(Owned::XorMapped),
        socket_addr().prop_map(Owned::XorPeer),
        socket_addr().prop_map(Owned::XorRelayed),
        text.prop_map(Owned::Username),
        text.prop_map(Owned::Realm),
        text.prop_map(Owned::Nonce),
        "\\PC{0,20}".prop_map(Owned::Software),
        (300u16..700, text).prop_map(|(c, r)| Owned::Error(c, r)),
        any::<u32>().prop_map(Owned::Priority),
        Just(Owned::UseCandidate),
        any::<u64>().prop_map(Owned::Controlled),
        any::<u64>().prop_map(Owned::Controlling),
        any::<u32>().prop_map(Owned::Lifetime),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Owned::Data),
        any::<u8>().prop_map(Owned::Transport),
        (0x4000u16..0x5000).prop_map(Owned::Channel),
        prop_oneof![Just(1u8), Just(2u8)].prop_map(Owned::Family),
        socket_addr().prop_map(Owned::Alternate),
        (
            (0x7000u16..0x7fff).prop_union(0xC000u16..0xffff),
            proptest::collection::vec(any::<u8>(), 0..32)
        )
            .prop_map(|(t, v)| Owned::Other(t, v)),
    ]
}

proptest! {
    /// decode(build(attributes)) gives the attributes back, with integrity and fingerprint.
    #[test]
    fn build_then_decode_round_trips(
        attrs in proptest::collection::vec(attribute(), 0..12),
        tid in any::<[u8; 12]>(),
        class in prop_oneof![Just(Class::Request), Just(Class::Indication), Just(Class::Success), Just(Class::Error)],
        method in 0u16..0x1000,
        integrity in any::<bool>(),
        fingerprint in any::<bool>(),
    ) {
        let mut buf = vec![0u8; 4096];
        let tid = TransactionId::new(tid);
        let mut b = MessageBuilder::new(&mut buf, class, Method::new(method).unwrap(), tid).unwrap();
        for a in &attrs {
            b.add(&a.attr()).unwrap();
        }
        if integrity { b.add_integrity(&key()).unwrap(); }
        if fingerprint { b.add_fingerprint().unwrap(); }
        let n = b.finish();
        let m = Message::decode(&buf[..n]).unwrap();
        prop_assert_eq!(m.class(), class);
        prop_assert_eq!(m.method().value(), method);
        prop_assert_eq!(m.transaction_id(), tid);
        let got: Vec<Attribute<'_>> = m.attributes().filter(|a| !matches!(a, Attribute::MessageIntegrity(_) | Attribute::Fingerprint(_))).collect();
        let want: Vec<Attribute<'_>> = attrs.iter().map(Owned::attr).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(m.verify_integrity(&key()), if integrity { Integrity::Ok } else { Integrity::Absent });
        prop_assert_eq!(m.fingerprint(), if fingerprint { Fingerprint::Ok } else { Fingerprint::Absent });
    }

    /// Arbitrary bytes: a message or a typed error, never a panic (the fuzz target `stun`
    /// also re-encodes what decodes).
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(m) = Message::decode(&bytes) {
            let _ = m.verify_integrity(&key());
            let _ = m.fingerprint();
            let _ = m.unknown_comprehension_required().count();
            let _ = format!("{m:?}");
        }
        let _ = Message::peek_header(&bytes);
    }
}
