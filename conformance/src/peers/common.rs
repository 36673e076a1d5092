//! What the sides share: STUN Binding requests as the adapters that gather by themselves
//! send and recognise them (also inside a TURN Send indication), the model candidates they
//! signal, hex for credentials, and the bounded queue of errors the Jingle endpoints report.

use std::collections::VecDeque;
use std::net::SocketAddr;

use ice_sans_io::stun::{Attribute, AttributeType, Class, Message, Method};

/// Errors an [`Errors`] keeps; more are dropped (the first say what went wrong).
const MAX_ERRORS: usize = 64;

/// Errors kept for [`crate::runner::peer::Stack::poll_error`] (the runner drains them after
/// each step), at most 64; more are dropped.
#[derive(Debug, Default)]
pub struct Errors(VecDeque<String>);

impl Errors {
    /// Keeps `e`, if there is room.
    pub fn push(&mut self, e: String) {
        if self.0.len() < MAX_ERRORS {
            self.0.push_back(e);
        }
    }

    /// The oldest error kept.
    pub fn pop(&mut self) -> Option<String> {
        self.0.pop_front()
    }
}

/// STUN's magic cookie (RFC 8489 §5).
const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];

/// Whether `data` is a STUN Binding request (RFC 8489: type 0x0001 and the magic cookie).
pub fn is_binding_request(data: &[u8]) -> bool {
    data.len() >= 20 && data[0..2] == [0x00, 0x01] && data[4..8] == MAGIC_COOKIE
}

/// The peer and the payload of a TURN Send indication (RFC 8656 §11.1: method Send, class
/// indication, XOR-PEER-ADDRESS and DATA), or `None` for anything else: what a stack that
/// relays without channels (RFC 8656 §12) sends a check through its relay in.
pub fn send_indication(data: &[u8]) -> Option<(SocketAddr, &[u8])> {
    let m = Message::decode(data).ok()?;
    if m.class() != Class::Indication || m.method() != Method::SEND {
        return None;
    }
    let Some(Attribute::XorPeerAddress(peer)) = m.get(AttributeType::XOR_PEER_ADDRESS) else {
        return None;
    };
    let Some(Attribute::Data(payload)) = m.get(AttributeType::DATA) else {
        return None;
    };
    Some((peer, payload))
}

/// A Binding request with no attributes and transaction ID `tid` (RFC 8489 §5).
pub fn binding_request(tid: [u8; 12]) -> Vec<u8> {
    let mut m = vec![0x00, 0x01, 0x00, 0x00];
    m.extend_from_slice(&MAGIC_COOKIE);
    m.extend_from_slice(&tid);
    m
}

/// Lowercase hex of `bytes` (ICE characters, for credentials drawn from the seed).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A local candidate `m` of an adapter's stack, made ready to signal: generation and network
/// 0, id `c<id>`, and `related` (its base) as the related address.
pub fn signalled(
    mut m: xep0371_model::Candidate,
    related: Option<SocketAddr>,
    id: usize,
) -> xep0371_model::Candidate {
    m.generation = Some(0);
    m.network = Some(0);
    m.id = Some(format!("c{id}"));
    if let Some(r) = related {
        m.rel_addr = Some(r.ip());
        m.rel_port = Some(r.port());
    }
    m
}

#[cfg(test)]
mod tests {
    use ice_sans_io::stun::{MessageBuilder, TransactionId};

    use super::*;

    /// A message of `class` and `method` with XOR-PEER-ADDRESS `peer` and DATA `data`.
    fn relayed(class: Class, method: Method, peer: SocketAddr, data: &[u8]) -> Vec<u8> {
        let mut buf = vec![0; 128];
        let mut b = MessageBuilder::new(&mut buf, class, method, TransactionId::new([7; 12]))
            .expect("room for the header");
        b.add(&Attribute::XorPeerAddress(peer)).expect("room");
        b.add(&Attribute::Data(data)).expect("room");
        let n = b.finish();
        buf.truncate(n);
        buf
    }

    #[test]
    fn a_check_in_a_send_indication_is_found() {
        let peer: SocketAddr = "198.51.100.20:41660".parse().expect("an address");
        let check = binding_request([1; 12]);
        let send = relayed(Class::Indication, Method::SEND, peer, &check);
        let (to, inner) = send_indication(&send).expect("a Send indication");
        assert_eq!(to, peer);
        assert!(is_binding_request(inner));
        // Not one: the Data indication coming back (RFC 8656 §11.4), the bare check.
        let data = relayed(Class::Indication, Method::DATA, peer, &check);
        assert_eq!(send_indication(&data), None);
        assert_eq!(send_indication(&check), None);
    }
}
