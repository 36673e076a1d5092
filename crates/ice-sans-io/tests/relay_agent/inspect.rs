//! Reading the datagrams on the wire: TURN requests and indications, ChannelData.

use std::net::SocketAddr;

use ice_sans_io::stun::{Attribute, AttributeType, Class, Message, Method};
use ice_sans_io::turn::decode_channel_data;

use crate::net::{SERVER, Wire};

/// The STUN message in `data`, if it is one.
pub(crate) fn stun(data: &[u8]) -> Option<Message<'_>> {
    Message::decode(data).ok()
}

/// Whether `data` is a STUN message of this class and method.
pub(crate) fn is(data: &[u8], class: Class, method: Method) -> bool {
    stun(data).is_some_and(|m| m.class() == class && m.method() == method)
}

/// XOR-PEER-ADDRESS.
pub(crate) fn peer_address(m: &Message<'_>) -> Option<SocketAddr> {
    m.attributes().find_map(|a| match a {
        Attribute::XorPeerAddress(p) => Some(p),
        _ => None,
    })
}

/// CHANNEL-NUMBER.
pub(crate) fn channel_number(m: &Message<'_>) -> Option<u16> {
    m.attributes().find_map(|a| match a {
        Attribute::ChannelNumber(n) => Some(n),
        _ => None,
    })
}

/// LIFETIME.
pub(crate) fn lifetime(m: &Message<'_>) -> Option<u32> {
    m.attributes().find_map(|a| match a {
        Attribute::Lifetime(s) => Some(s),
        _ => None,
    })
}

/// The Allocate requests among `sent` (to the server).
pub(crate) fn allocates(sent: &[Wire]) -> usize {
    sent.iter()
        .filter(|w| w.to == SERVER && is(&w.data, Class::Request, Method::ALLOCATE))
        .count()
}

/// ChannelData (RFC 8656 §12.4): channel number and payload.
pub(crate) fn channel_data(data: &[u8]) -> Option<(u16, &[u8])> {
    decode_channel_data(data)
}

/// `data` with the values of NONCE, MESSAGE-INTEGRITY and FINGERPRINT zeroed when it is a STUN
/// message that carries a NONCE: the server draws its nonces from the OS, and the requests
/// that echo one (and their HMAC and CRC over it) differ from run to run for that reason
/// alone. Everything else is kept byte for byte.
pub(crate) fn mask_nonce(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    let Some(m) = stun(data) else { return out };
    if !m.attributes().any(|a| matches!(a, Attribute::Nonce(_))) {
        return out;
    }
    // Walk the attributes by hand (type, length, value padded to 4).
    let mut o = 20;
    while o + 4 <= out.len() {
        let t = AttributeType(u16::from_be_bytes([out[o], out[o + 1]]));
        let len = usize::from(u16::from_be_bytes([out[o + 2], out[o + 3]]));
        let end = (o + 4 + len).min(out.len());
        if [
            AttributeType::NONCE,
            AttributeType::MESSAGE_INTEGRITY,
            AttributeType::FINGERPRINT,
        ]
        .contains(&t)
        {
            out[o + 4..end].fill(0);
        }
        o += 4 + ((len + 3) & !3);
    }
    out
}
