//! Our STUN codec against two Rust peers and against HMAC-SHA1 alone, on the message an ICE
//! agent handles most: a connectivity check (RFC 8445 §7.1), a Binding request with USERNAME,
//! PRIORITY, ICE-CONTROLLING, USE-CANDIDATE, MESSAGE-INTEGRITY (short-term) and FINGERPRINT.
//!
//! `decode_verify/*`: decode, check MESSAGE-INTEGRITY and FINGERPRINT, read USERNAME and PRIORITY
//! (what an agent does with a received check). `build_sign/*`: build the same request and sign
//! it with MESSAGE-INTEGRITY and FINGERPRINT into a reused buffer.
//!
//! Peers:
//! - `str0m_is`: str0m's ICE crate `is` 0.12 (`is::stun`). `StunMessage::parse` +
//!   `StunMessage::verify`; `StunMessage::binding_request` + `StunMessage::to_bytes` into the
//!   reused buffer. Both take the HMAC as a closure `(key, parts) -> [u8; 20]`; here it clones
//!   an HMAC keyed once with the same `hmac` 0.12 / `sha1` 0.10 as ours, so the key policy and
//!   the crypto are ours and the case measures the codec. `is` never checks FINGERPRINT on
//!   receipt (it only stores the value, and has no getter for it), so the bench checks it after
//!   `parse` with the same CRC crate as ours (`crc32fast`), knowing FINGERPRINT is last.
//!   `to_bytes` computes FINGERPRINT itself with the `crc` crate, and builds that crate's CRC
//!   table on every call (`Crc::<u32>::new` at run time); the API offers no way around it.
//!   `str0m_is_as_shipped`: the same with `is::DefaultSha1HmacProvider`, as str0m's agent runs:
//!   it keys HMAC per message (`hmac` 0.13 / `sha1` 0.11), and checks no FINGERPRINT.
//! - `stun_types`: rice-proto's `stun-types` 2.0.4, with rice's ICE attributes from
//!   `rice-stun-types` 0.4.3. `Message::from_bytes` (which checks FINGERPRINT) +
//!   `validate_integrity_with_key` with an `IntegrityKey` made once (it caches the keyed HMAC
//!   behind an `Arc<Mutex<_>>` and `finalize_reset`s it); USERNAME read through `raw_attribute`
//!   (zero-copy: the typed `attribute::<Username>()` copies into a `String`), PRIORITY through
//!   `attribute::<Priority>()`. Building goes through `MessageWriteMutSlice` into the reused
//!   buffer; `Username::new` copies the username into a `String`, one allocation per message
//!   that its API does not let us avoid when the username is given per message, as ours is.
//!   `stun_types_as_rice`: as rice-proto's agent drives it (`conncheck.rs`): integrity checked
//!   and signed with `MessageIntegrityCredentials` (a fresh key, HMAC keyed per message), USERNAME
//!   read as a typed `Username` (a `String`), and built into a `MessageWriteVec` (allocated).
//! - `hmac_sha1_only`: HMAC-SHA1 over exactly the bytes ours feeds to it (the 60 bytes before
//!   MESSAGE-INTEGRITY, length field adjusted), from an HMAC keyed once and cloned per message,
//!   as our `IntegrityKey` does; `hmac_sha1_rekey`: the same, keyed per message.
//!
//! `ours_parts/*`: each step of `decode_verify/ours` alone, to show where its time goes.
//!
//! str0m writes the attributes in its own fixed order (USERNAME, ICE-CONTROLLING, PRIORITY,
//! USE-CANDIDATE); the message has the same attributes, values and length (the setup checks).

use std::hint::black_box;

use criterion::Criterion;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use ice_sans_io::stun::{
    Attribute, Class, Integrity, IntegrityKey, Message, MessageBuilder, Method, TransactionId,
};
use is::Sha1HmacProvider as _;
use is::stun::{StunMessage, TransId};
use rice_stun_types::attribute::{IceControlling, Priority, UseCandidate};
use stun_types::attribute::{AttributeStaticType as _, Username};
use stun_types::message::{
    self as st, IntegrityAlgorithm, MessageClass, MessageIntegrityCredentials, MessageType,
    MessageWriteExt as _, MessageWriteMutSlice, MessageWriteVec, ShortTermCredentials,
};
use stun_types::prelude::MessageWrite as _;

/// RFC 8445 §7.2.2: `remote-ufrag:local-ufrag`.
const USERNAME: &str = "9uB6:8hhy";
/// The remote agent's password: the short-term key.
const PASSWORD: &str = "asd88fgpdd777uzjYhagZg";
/// A peer-reflexive priority (RFC 8445 §7.1.1): type preference 110, local preference 0x7f1e,
/// component 1.
const PRIORITY: u32 = (110 << 24) | (0x7f1e << 8) | (256 - 1);
const TIE_BREAKER: u64 = 0x932f_f9b1_5126_3b36;
const TID: [u8; 12] = [
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
];
/// Header + USERNAME (4 + 12) + PRIORITY (8) + ICE-CONTROLLING (12) + USE-CANDIDATE (4).
const MI_OFFSET: usize = 60;
const FINGERPRINT_XOR: u32 = 0x5354_554E;

type HmacSha1 = Hmac<Sha1>;

fn build_ours(buf: &mut [u8], key: &IntegrityKey) -> usize {
    let build = |buf: &mut [u8]| {
        let mut b = MessageBuilder::new(
            buf,
            Class::Request,
            Method::BINDING,
            TransactionId::new(TID),
        )?;
        b.add(&Attribute::Username(USERNAME))?;
        b.add(&Attribute::Priority(PRIORITY))?;
        b.add(&Attribute::IceControlling(TIE_BREAKER))?;
        b.add(&Attribute::UseCandidate)?;
        b.add_integrity(key)?;
        b.add_fingerprint()?;
        Ok::<_, ice_sans_io::stun::BuildError>(b.finish())
    };
    match build(buf) {
        Ok(n) => n,
        Err(e) => panic!("building the check: {e}"),
    }
}

/// An HMAC keyed once; the closure `is` takes clones it per message.
fn keyed_hmac() -> HmacSha1 {
    match HmacSha1::new_from_slice(PASSWORD.as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of every length"),
    }
}

fn sign_cloned(mac: &HmacSha1, parts: &[&[u8]]) -> [u8; 20] {
    let mut mac = mac.clone();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

fn sign_rekeyed(parts: &[&[u8]]) -> [u8; 20] {
    sign_cloned(&keyed_hmac(), parts)
}

/// FINGERPRINT of a message whose last attribute is FINGERPRINT, checked with the CRC ours uses.
fn fingerprint_is_last_and_ok(bytes: &[u8]) -> bool {
    let Some(at) = bytes.len().checked_sub(8) else {
        return false;
    };
    if at < 20 || bytes[at..at + 4] != [0x80, 0x28, 0x00, 0x04] {
        return false;
    }
    let received = u32::from_be_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]);
    crc32fast::hash(&bytes[..at]) ^ FINGERPRINT_XOR == received
}

fn stun_types_tid() -> st::TransactionId {
    let mut b = [0u8; 16];
    b[4..].copy_from_slice(&TID);
    u128::from_be_bytes(b).into()
}

fn binding_request_type() -> MessageType {
    MessageType::from_class_method(MessageClass::Request, st::BINDING)
}

fn stun_types_username(m: &st::Message<'_>) -> Option<usize> {
    // The length stands for the string: `RawAttribute` borrows from `m`.
    let a = m.raw_attribute(Username::TYPE)?;
    std::str::from_utf8(&a.value).ok().map(str::len)
}

/// What each decoder returns: integrity and fingerprint both OK, USERNAME, PRIORITY.
type Check<'a> = (bool, Option<&'a str>, Option<u32>);

fn decode_ours<'a>(bytes: &'a [u8], key: &IntegrityKey) -> Check<'a> {
    match Message::decode(bytes) {
        Ok(m) => (
            m.verify_integrity(key) == Integrity::Ok && m.fingerprint().is_ok(),
            m.username(),
            m.priority(),
        ),
        Err(_) => (false, None, None),
    }
}

fn decode_is<'a>(bytes: &'a [u8], mac: &HmacSha1) -> Check<'a> {
    match StunMessage::parse(bytes) {
        Ok(m) => (
            m.verify(PASSWORD.as_bytes(), |_, parts| sign_cloned(mac, parts))
                && fingerprint_is_last_and_ok(bytes),
            m.username(),
            m.prio(),
        ),
        Err(_) => (false, None, None),
    }
}

fn decode_is_as_shipped(bytes: &[u8]) -> Check<'_> {
    match StunMessage::parse(bytes) {
        Ok(m) => (
            m.verify(PASSWORD.as_bytes(), |k, parts| {
                is::DefaultSha1HmacProvider.sha1_hmac(k, parts)
            }),
            m.username(),
            m.prio(),
        ),
        Err(_) => (false, None, None),
    }
}

fn decode_stun_types(bytes: &[u8], key: &st::IntegrityKey) -> (bool, Option<usize>, Option<u32>) {
    // `from_bytes` fails on a wrong FINGERPRINT.
    match st::Message::from_bytes(bytes) {
        Ok(m) => (
            m.validate_integrity_with_key(key).is_ok(),
            stun_types_username(&m),
            m.attribute::<Priority>().ok().map(|p| p.priority()),
        ),
        Err(_) => (false, None, None),
    }
}

fn decode_stun_types_as_rice(
    bytes: &[u8],
    creds: &MessageIntegrityCredentials,
) -> (bool, Option<Username>, Option<u32>) {
    match st::Message::from_bytes(bytes) {
        Ok(m) => (
            m.validate_integrity(creds).is_ok(),
            m.attribute::<Username>().ok(),
            m.attribute::<Priority>().ok().map(|p| p.priority()),
        ),
        Err(_) => (false, None, None),
    }
}

fn build_is(buf: &mut [u8], tid: TransId, mac: &HmacSha1) -> usize {
    let msg = StunMessage::binding_request(USERNAME, tid, true, TIE_BREAKER, PRIORITY, true);
    match msg.to_bytes(Some(PASSWORD.as_bytes()), buf, |_, parts| {
        sign_cloned(mac, parts)
    }) {
        Ok(n) => n,
        Err(e) => panic!("is: {e}"),
    }
}

fn build_is_as_shipped(buf: &mut [u8], tid: TransId) -> usize {
    let msg = StunMessage::binding_request(USERNAME, tid, true, TIE_BREAKER, PRIORITY, true);
    match msg.to_bytes(Some(PASSWORD.as_bytes()), buf, |k, parts| {
        is::DefaultSha1HmacProvider.sha1_hmac(k, parts)
    }) {
        Ok(n) => n,
        Err(e) => panic!("is: {e}"),
    }
}

fn build_stun_types(buf: &mut [u8], key: &st::IntegrityKey) -> usize {
    let build = |buf: &mut [u8]| {
        let mut w = st::Message::builder(
            binding_request_type(),
            stun_types_tid(),
            MessageWriteMutSlice::new(buf),
        );
        // Allocates: `Username` owns a `String`.
        w.add_attribute(&Username::new(USERNAME)?)?;
        w.add_attribute(&Priority::new(PRIORITY))?;
        w.add_attribute(&IceControlling::new(TIE_BREAKER))?;
        w.add_attribute(&UseCandidate::new())?;
        w.add_message_integrity_with_key(key, IntegrityAlgorithm::Sha1)?;
        w.add_fingerprint()?;
        Ok::<_, st::StunWriteError>(w.finish())
    };
    match build(buf) {
        Ok(n) => n,
        Err(e) => panic!("stun-types: {e}"),
    }
}

fn build_stun_types_as_rice(creds: &MessageIntegrityCredentials) -> Vec<u8> {
    let build = || {
        let mut w = st::Message::builder(
            binding_request_type(),
            stun_types_tid(),
            MessageWriteVec::new(),
        );
        w.add_attribute(&Username::new(USERNAME)?)?;
        w.add_attribute(&Priority::new(PRIORITY))?;
        w.add_attribute(&IceControlling::new(TIE_BREAKER))?;
        w.add_attribute(&UseCandidate::new())?;
        w.add_message_integrity(creds, IntegrityAlgorithm::Sha1)?;
        w.add_fingerprint()?;
        Ok::<_, st::StunWriteError>(w.finish())
    };
    match build() {
        Ok(v) => v,
        Err(e) => panic!("stun-types: {e}"),
    }
}

/// The bytes HMAC-SHA1 covers for MESSAGE-INTEGRITY: up to the attribute, with the length field
/// covering it (RFC 8489 §14.5).
fn hmac_input(bytes: &[u8]) -> [u8; MI_OFFSET] {
    let mut input = [0u8; MI_OFFSET];
    input.copy_from_slice(&bytes[..MI_OFFSET]);
    input[2..4].copy_from_slice(&((MI_OFFSET + 24 - 20) as u16).to_be_bytes());
    input
}

/// Checks, outside any timed loop, that every peer reads our message and that every builder
/// writes the same message.
fn check_setup(msg: &[u8], key: &IntegrityKey, mac: &HmacSha1) -> TransId {
    let want = (true, Some(USERNAME), Some(PRIORITY));
    assert_eq!(msg.len(), 92, "header + 60 bytes of attributes + MI + FP");
    assert_eq!(
        &msg[MI_OFFSET..MI_OFFSET + 4],
        &[0x00, 0x08, 0x00, 0x14],
        "MESSAGE-INTEGRITY"
    );
    assert_eq!(decode_ours(msg, key), want, "ours");
    let m = match Message::decode(msg) {
        Ok(m) => m,
        Err(e) => panic!("ours: {e}"),
    };
    assert_eq!(m.ice_controlling(), Some(TIE_BREAKER));
    assert!(m.use_candidate());

    // str0m: integrity through both HMAC closures; FINGERPRINT through our check (it has none).
    assert_eq!(decode_is(msg, mac), want, "is");
    assert_eq!(decode_is_as_shipped(msg), want, "is as shipped");
    let parsed = match StunMessage::parse(msg) {
        Ok(p) => p,
        Err(e) => panic!("is: {e}"),
    };
    assert_eq!(parsed.ice_controlling(), Some(TIE_BREAKER));
    assert!(parsed.use_candidate());
    assert!(!parsed.verify(b"wrong password", |k, p| {
        is::DefaultSha1HmacProvider.sha1_hmac(k, p)
    }));
    let mut damaged = msg.to_vec();
    damaged[25] ^= 1;
    assert!(!fingerprint_is_last_and_ok(&damaged));

    // stun-types: `from_bytes` checks FINGERPRINT; reject a damaged one to prove it.
    let st_key = ShortTermCredentials::new(PASSWORD.to_owned()).make_key();
    assert_eq!(
        decode_stun_types(msg, &st_key),
        (true, Some(USERNAME.len()), Some(PRIORITY)),
        "stun-types"
    );
    let creds =
        MessageIntegrityCredentials::ShortTerm(ShortTermCredentials::new(PASSWORD.to_owned()));
    let (ok, user, prio) = decode_stun_types_as_rice(msg, &creds);
    assert!(ok && prio == Some(PRIORITY));
    assert_eq!(user.as_ref().map(Username::username), Some(USERNAME));
    let mut bad_fp = msg.to_vec();
    let last = bad_fp.len() - 1;
    bad_fp[last] ^= 1;
    assert!(st::Message::from_bytes(&bad_fp).is_err(), "stun-types FP");
    let wrong = ShortTermCredentials::new("wrong".to_owned()).make_key();
    assert!(
        match st::Message::from_bytes(msg) {
            Ok(m) => m.validate_integrity_with_key(&wrong).is_err(),
            Err(_) => false,
        },
        "stun-types MI"
    );

    // HMAC baselines produce the MAC in the message.
    let input = hmac_input(msg);
    let mac_in_msg = &msg[MI_OFFSET + 4..MI_OFFSET + 24];
    assert_eq!(&sign_cloned(mac, &[&input])[..], mac_in_msg);
    assert_eq!(&sign_rekeyed(&[&input])[..], mac_in_msg);

    // The builders: stun-types writes our bytes exactly; str0m the same attributes in its order.
    let mut buf = [0u8; 256];
    let n = build_stun_types(&mut buf, &st_key);
    assert_eq!(&buf[..n], msg, "stun-types builds the same bytes");
    assert_eq!(build_stun_types_as_rice(&creds), msg);
    let tid = parsed.trans_id();
    for n in [build_is(&mut buf, tid, mac), {
        buf.fill(0);
        build_is_as_shipped(&mut buf, tid)
    }] {
        let b = &buf[..n];
        assert_eq!(n, msg.len(), "is builds a message of the same length");
        let m = match Message::decode(b) {
            Ok(m) => m,
            Err(e) => panic!("ours on is's message: {e}"),
        };
        assert_eq!(m.verify_integrity(key), Integrity::Ok);
        assert!(m.fingerprint().is_ok());
        assert_eq!(m.transaction_id(), TransactionId::new(TID));
        assert_eq!(m.username(), Some(USERNAME));
        assert_eq!(m.priority(), Some(PRIORITY));
        assert_eq!(m.ice_controlling(), Some(TIE_BREAKER));
        assert!(m.use_candidate());
    }
    tid
}

fn benches(c: &mut Criterion) {
    let key = IntegrityKey::short_term(PASSWORD);
    let mac = keyed_hmac();
    let mut storage = [0u8; 256];
    let n = build_ours(&mut storage, &key);
    let msg = storage[..n].to_vec();
    let tid = check_setup(&msg, &key, &mac);
    let st_key = ShortTermCredentials::new(PASSWORD.to_owned()).make_key();
    let creds =
        MessageIntegrityCredentials::ShortTerm(ShortTermCredentials::new(PASSWORD.to_owned()));
    let input = hmac_input(&msg);

    let mut g = c.benchmark_group("decode_verify");
    g.bench_function("ours", |b| {
        b.iter(|| black_box(decode_ours(black_box(&msg), &key)))
    });
    g.bench_function("str0m_is", |b| {
        b.iter(|| black_box(decode_is(black_box(&msg), &mac)))
    });
    g.bench_function("str0m_is_as_shipped", |b| {
        b.iter(|| black_box(decode_is_as_shipped(black_box(&msg))))
    });
    g.bench_function("stun_types", |b| {
        b.iter(|| black_box(decode_stun_types(black_box(&msg), &st_key)))
    });
    g.bench_function("stun_types_as_rice", |b| {
        b.iter(|| black_box(decode_stun_types_as_rice(black_box(&msg), &creds)))
    });
    g.bench_function("hmac_sha1_only", |b| {
        b.iter(|| black_box(sign_cloned(&mac, &[black_box(&input)])))
    });
    g.bench_function("hmac_sha1_rekey", |b| {
        b.iter(|| black_box(sign_rekeyed(&[black_box(&input)])))
    });
    g.finish();

    let mut g = c.benchmark_group("build_sign");
    let mut buf = [0u8; 256];
    g.bench_function("ours", |b| {
        b.iter(|| black_box(build_ours(black_box(&mut buf), black_box(&key))))
    });
    g.bench_function("str0m_is", |b| {
        b.iter(|| black_box(build_is(black_box(&mut buf), black_box(tid), &mac)))
    });
    g.bench_function("str0m_is_as_shipped", |b| {
        b.iter(|| black_box(build_is_as_shipped(black_box(&mut buf), black_box(tid))))
    });
    g.bench_function("stun_types", |b| {
        b.iter(|| black_box(build_stun_types(black_box(&mut buf), black_box(&st_key))))
    });
    g.bench_function("stun_types_as_rice", |b| {
        b.iter(|| black_box(build_stun_types_as_rice(black_box(&creds))))
    });
    g.bench_function("hmac_sha1_only", |b| {
        b.iter(|| black_box(sign_cloned(&mac, &[black_box(&input)])))
    });
    g.bench_function("hmac_sha1_rekey", |b| {
        b.iter(|| black_box(sign_rekeyed(&[black_box(&input)])))
    });
    g.finish();

    // Where ours spends `decode_verify/ours`: each step alone, on a message decoded once.
    let mut g = c.benchmark_group("ours_parts");
    let decoded = match Message::decode(&msg) {
        Ok(m) => m,
        Err(e) => panic!("ours: {e}"),
    };
    g.bench_function("decode", |b| {
        b.iter(|| black_box(Message::decode(black_box(&msg)).is_ok()))
    });
    g.bench_function("verify_integrity", |b| {
        b.iter(|| black_box(black_box(&decoded).verify_integrity(&key)))
    });
    g.bench_function("fingerprint", |b| {
        b.iter(|| black_box(black_box(&decoded).fingerprint()))
    });
    g.bench_function("username_priority", |b| {
        b.iter(|| {
            let m = black_box(&decoded);
            black_box((m.username(), m.priority()))
        })
    });
    g.bench_function("crc32_only", |b| {
        b.iter(|| black_box(crc32fast::hash(black_box(&msg[..msg.len() - 8]))))
    });
    g.finish();
}

// What `criterion_group!`/`criterion_main!` expand to, without the undocumented `pub fn` the
// first one generates.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
