//! MESSAGE-INTEGRITY keys (RFC 8489 §9) and the FINGERPRINT CRC (RFC 8489 §14.7).

use std::fmt;

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;

/// The XOR constant of FINGERPRINT: "STUN" in ASCII (RFC 8489 §14.7).
pub(crate) const FINGERPRINT_XOR: u32 = 0x5354_554E;

/// An HMAC-SHA1 key for MESSAGE-INTEGRITY, keyed once and reused for every message.
///
/// Build one per password (short-term: the ICE `pwd`) or per user, realm and password
/// (long-term, TURN), and keep it: keying HMAC hashes the key pads, which costs as much as
/// signing a small message.
#[derive(Clone)]
pub struct IntegrityKey {
    mac: Hmac<Sha1>,
}

impl fmt::Debug for IntegrityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IntegrityKey(..)")
    }
}

impl IntegrityKey {
    /// The short-term key (RFC 8489 §9.1.1): the password itself. ICE passwords are ice-chars
    /// (RFC 8445 §5.3), which OpaqueString (RFC 8265) leaves unchanged, so no preparation is
    /// applied.
    pub fn short_term(password: &str) -> Self {
        Self::from_bytes(password.as_bytes())
    }

    /// The long-term key (RFC 8489 §9.2.2): `MD5(username ":" realm ":" password)`. The caller
    /// applies OpaqueString/SASLprep to `realm` and `password` when they are not ASCII.
    pub fn long_term(username: &str, realm: &str, password: &str) -> Self {
        let mut md5 = Md5::new();
        md5.update(username.as_bytes());
        md5.update(b":");
        md5.update(realm.as_bytes());
        md5.update(b":");
        md5.update(password.as_bytes());
        Self::from_bytes(&md5.finalize())
    }

    /// A key from its bytes.
    pub fn from_bytes(key: &[u8]) -> Self {
        // HMAC takes keys of any length (RFC 2104 §2); `new_from_slice` cannot fail for it.
        let mac = match Hmac::<Sha1>::new_from_slice(key) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC accepts keys of every length"),
        };
        IntegrityKey { mac }
    }

    /// HMAC-SHA1 over `parts` in order.
    #[inline]
    pub(crate) fn sign(&self, parts: &[&[u8]]) -> [u8; 20] {
        let mut mac = self.mac.clone();
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }
}

/// Compares two MACs in time independent of where they differ.
#[inline]
pub(crate) fn constant_time_eq(a: &[u8; 20], b: &[u8; 20]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // `black_box` keeps the optimiser from turning the fold into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

/// The CRC-32 of `parts` XOR 0x5354554e.
#[inline]
pub(crate) fn fingerprint(parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for p in parts {
        h.update(p);
    }
    h.finalize() ^ FINGERPRINT_XOR
}

/// The state of MESSAGE-INTEGRITY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrity {
    /// Present and correct for the key.
    Ok,
    /// Present and wrong for the key.
    Bad,
    /// Not present.
    Absent,
}

impl Integrity {
    /// `ok`, `bad` or `absent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Integrity::Ok => "ok",
            Integrity::Bad => "bad",
            Integrity::Absent => "absent",
        }
    }
}

/// The state of FINGERPRINT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fingerprint {
    /// Present and correct.
    Ok,
    /// Present and wrong: the bytes are not STUN, or were damaged.
    Bad {
        /// The value received.
        received: u32,
        /// The value computed.
        computed: u32,
    },
    /// Not present.
    Absent,
}

impl Fingerprint {
    /// Whether it is present and correct.
    pub fn is_ok(&self) -> bool {
        matches!(self, Fingerprint::Ok)
    }

    /// `ok`, `bad` or `absent`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Fingerprint::Ok => "ok",
            Fingerprint::Bad { .. } => "bad",
            Fingerprint::Absent => "absent",
        }
    }
}
