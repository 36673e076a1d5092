//! A STUN server node: answers Binding requests of RFC 8489 (and RFC 5389) and of the classic
//! RFC 3489, from the address they reached, with the source address it saw.
//!
//! netsim carries no STUN codec of an ICE stack: the response is written with the crate's own
//! few STUN pieces (`stun_wire`), shared with the TURN server.
//! What it answers:
//!
//! - a Binding request with the magic cookie (RFC 8489 §5): a success response with the same
//!   transaction id and XOR-MAPPED-ADDRESS (§14.2), plus FINGERPRINT (§14.7) when the request
//!   carried one;
//! - a Binding request without the cookie (RFC 3489 §11.1, libnice's server-reflexive
//!   discovery): a response with MAPPED-ADDRESS (§11.2.1) and the 128-bit transaction id echoed.
//!   CHANGE-REQUEST is ignored (this server has one address; RFC 3489 §9.1 lets a server
//!   without one answer from where it was reached).
//!
//! Anything else (other methods, indications, responses, malformed headers, MESSAGE-INTEGRITY
//! it cannot check) is dropped and counted.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use crate::node::{Node, Transmit};
use crate::stun_wire::{self, Builder};

const MAGIC_COOKIE: u32 = 0x2112_A442;
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const ATTR_MAPPED_ADDRESS: u16 = 0x0001;
const ATTR_FINGERPRINT: u16 = 0x8028;

/// Responses waiting to go out; more are dropped (a server under a flood answers what it can).
pub const MAX_QUEUED: usize = 1024;

/// Counters of a STUN server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StunServerStats {
    /// RFC 8489/5389 Binding requests answered.
    pub answered: u64,
    /// RFC 3489 Binding requests answered.
    pub answered_classic: u64,
    /// Datagrams dropped (not a Binding request, malformed, or the queue full).
    pub dropped: u64,
}

/// A STUN server on one address. See the [module docs](self).
#[derive(Debug, Default)]
pub struct StunServer {
    queue: VecDeque<Transmit>,
    stats: StunServerStats,
}

impl StunServer {
    /// A server with nothing queued.
    pub fn new() -> Self {
        Self::default()
    }

    /// Its counters.
    pub fn stats(&self) -> StunServerStats {
        self.stats
    }

    /// The response to `request` received from `from`, or `None` when it is not a Binding
    /// request this server answers.
    pub fn answer(request: &[u8], from: SocketAddr) -> Option<Vec<u8>> {
        if request.len() < 20 || request[0] & 0xC0 != 0 {
            return None;
        }
        let ty = u16::from_be_bytes([request[0], request[1]]);
        let len = usize::from(u16::from_be_bytes([request[2], request[3]]));
        if ty != BINDING_REQUEST || len % 4 != 0 || request.len() != 20 + len {
            return None;
        }
        let cookie = u32::from_be_bytes([request[4], request[5], request[6], request[7]]);
        if cookie == MAGIC_COOKIE {
            // Walk the attributes: well-formed, and whether FINGERPRINT is there.
            let mut fingerprint = false;
            let mut at = 20;
            while at < request.len() {
                if at + 4 > request.len() {
                    return None;
                }
                let t = u16::from_be_bytes([request[at], request[at + 1]]);
                let l = usize::from(u16::from_be_bytes([request[at + 2], request[at + 3]]));
                let next = at + 4 + l.div_ceil(4) * 4;
                if next > request.len() {
                    return None;
                }
                fingerprint = t == ATTR_FINGERPRINT;
                at = next;
            }
            // RFC 8489 §14.2: XOR-MAPPED-ADDRESS; §14.7: FINGERPRINT when the request had one.
            let mut txid = [0u8; 12];
            txid.copy_from_slice(&request[8..20]);
            let b = Builder::new(stun_wire::BINDING, stun_wire::SUCCESS, txid)
                .xor_address(stun_wire::ATTR_XOR_MAPPED_ADDRESS, from);
            return Some(if fingerprint {
                b.finish(None)
            } else {
                stun_wire::finish_plain(b)
            });
        }
        // RFC 3489 §11.2.1: the 128-bit transaction id echoed and MAPPED-ADDRESS (IPv4 only in
        // that RFC; IPv6 written the RFC 8489 way for completeness).
        let value = stun_wire::address_value(from);
        let mut out = Vec::with_capacity(24 + value.len());
        out.extend_from_slice(&BINDING_SUCCESS.to_be_bytes());
        out.extend_from_slice(&u16::try_from(4 + value.len()).ok()?.to_be_bytes());
        out.extend_from_slice(&request[4..20]);
        out.extend_from_slice(&ATTR_MAPPED_ADDRESS.to_be_bytes());
        out.extend_from_slice(&u16::try_from(value.len()).ok()?.to_be_bytes());
        out.extend_from_slice(&value);
        Some(out)
    }
}

impl Node for StunServer {
    fn handle_datagram(&mut self, _now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        let classic = data.len() >= 8 && data[4..8] != MAGIC_COOKIE.to_be_bytes();
        match Self::answer(data, from) {
            Some(_) if self.queue.len() >= MAX_QUEUED => self.stats.dropped += 1,
            Some(response) => {
                if classic {
                    self.stats.answered_classic += 1;
                } else {
                    self.stats.answered += 1;
                }
                self.queue.push_back(Transmit {
                    from: to,
                    to: from,
                    data: response,
                });
            }
            None => self.stats.dropped += 1,
        }
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.queue.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}
