//! What the sides share: STUN Binding requests as the adapters that gather by themselves
//! send and recognise them, the model candidates they signal, hex for credentials, and the
//! bounded queue of errors the Jingle endpoints report.

use std::collections::VecDeque;
use std::net::SocketAddr;

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
