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
//!
//! **Over TCP** (RFC 8489 §6.2.2; RFC 6544 §5.2 gathers server-reflexive TCP candidates this
//! way): with [`StunServer::listen_tcp`] it asks its host's stack to listen on its port
//! ([`Node::poll_tcp`]) and owns the connections accepted there (the simulator hands it their
//! events: [`StunServer::claims`]). Each connection's stream is cut into STUN messages by
//! their length (the crate's stream deframer, the one the TURN server uses) and each Binding
//! request is answered on the connection, as it is (no framing), with the XOR-MAPPED-ADDRESS
//! of the connection's remote address: the mapping a NAT made for it. Other STUN messages are
//! dropped and counted; bytes that are not STUN (ChannelData included: this server has no
//! channels) break the stream: the connection is aborted (an RST) and counted. The server
//! closes its half when the client closes its own. coturn, the netns lab's server, does the
//! same: its `stun-only` configuration listens on TCP on the same port (no `no-tcp`).
//!
//! Bounds: at most [`MAX_TCP_STREAMS`] connections (more are aborted) and
//! [`MAX_QUEUED`] answers waiting, each connection holding less than one message.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use crate::node::{Node, TcpCommand, TcpConnId, TcpEvent, Transmit};
use crate::stream_framing::Deframer;
use crate::stun_wire::{self, Builder};

const MAGIC_COOKIE: u32 = 0x2112_A442;
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const ATTR_MAPPED_ADDRESS: u16 = 0x0001;
const ATTR_FINGERPRINT: u16 = 0x8028;

/// Responses waiting to go out; more are dropped (a server under a flood answers what it can).
pub const MAX_QUEUED: usize = 1024;

/// TCP connections a STUN server holds at once; more are aborted as they are accepted.
pub const MAX_TCP_STREAMS: usize = 64;

/// Counters of a STUN server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StunServerStats {
    /// RFC 8489/5389 Binding requests answered.
    pub answered: u64,
    /// RFC 3489 Binding requests answered.
    pub answered_classic: u64,
    /// Datagrams dropped (not a Binding request, malformed, or the queue full), and STUN
    /// messages on connections that are no Binding request.
    pub dropped: u64,
    /// Binding requests answered over TCP (counted in `answered` or `answered_classic` too).
    pub tcp_answered: u64,
    /// TCP connections accepted.
    pub tcp_accepted: u64,
    /// TCP connections aborted at once ([`MAX_TCP_STREAMS`]).
    pub tcp_refused: u64,
    /// TCP connections aborted for bytes that are not STUN.
    pub tcp_broken: u64,
    /// TCP connections the client closed or reset.
    pub tcp_closed: u64,
}

/// A client's connection.
#[derive(Debug)]
struct Stream {
    client: SocketAddr,
    deframer: Deframer,
}

/// A STUN server on one address. See the [module docs](self).
#[derive(Debug, Default)]
pub struct StunServer {
    queue: VecDeque<Transmit>,
    stats: StunServerStats,
    /// The addresses it listens on over TCP.
    listeners: Vec<SocketAddr>,
    tcp_queue: VecDeque<TcpCommand>,
    streams: BTreeMap<TcpConnId, Stream>,
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

    /// Serves Binding requests over TCP on `addr` too (an address of its host): the listen
    /// command comes out of [`Node::poll_tcp`]. Listening twice on one address does nothing.
    pub fn listen_tcp(&mut self, addr: SocketAddr) {
        if !self.listeners.contains(&addr) {
            self.listeners.push(addr);
            self.tcp_queue.push_back(TcpCommand::Listen { addr });
        }
    }

    /// Whether its host's TCP stack's `event` is this server's: a connection accepted on one
    /// of its listening addresses, or an event of a connection it holds.
    pub fn claims(&self, event: &TcpEvent) -> bool {
        match event {
            TcpEvent::Accepted { listener, .. } => self.listeners.contains(listener),
            TcpEvent::Data { conn, .. }
            | TcpEvent::Closed { conn }
            | TcpEvent::Reset { conn, .. } => self.streams.contains_key(conn),
            _ => false,
        }
    }

    /// Bytes of clients' streams held for messages not yet whole.
    pub fn stream_bytes_held(&self) -> usize {
        self.streams.values().map(|s| s.deframer.buffered()).sum()
    }

    fn push_tcp(&mut self, cmd: TcpCommand) {
        if self.tcp_queue.len() >= MAX_QUEUED {
            self.stats.dropped += 1;
        } else {
            self.tcp_queue.push_back(cmd);
        }
    }

    /// Bytes of a client's stream: each whole STUN message answered on the connection.
    fn stream_data(&mut self, conn: TcpConnId, data: &[u8]) {
        let Some(stream) = self.streams.get_mut(&conn) else {
            self.stats.dropped += 1;
            return;
        };
        stream.deframer.push(data);
        loop {
            let Some(stream) = self.streams.get_mut(&conn) else {
                return;
            };
            let client = stream.client;
            let frame = match stream.deframer.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => return,
                Err(_) => return self.break_stream(conn),
            };
            // RFC 8489 §5: a STUN message's first two bits are 00; ChannelData (01) is a TURN
            // server's, not this one's.
            if frame.first().is_none_or(|b| b & 0xC0 != 0) {
                return self.break_stream(conn);
            }
            match Self::answer(&frame, client) {
                Some(response) => {
                    let classic = frame.get(4..8) != Some(&MAGIC_COOKIE.to_be_bytes()[..]);
                    if classic {
                        self.stats.answered_classic += 1;
                    } else {
                        self.stats.answered += 1;
                    }
                    self.stats.tcp_answered += 1;
                    self.push_tcp(TcpCommand::Send {
                        conn,
                        data: response,
                    });
                }
                None => self.stats.dropped += 1,
            }
        }
    }

    /// A stream that can no longer be followed: an RST, and the connection forgotten.
    fn break_stream(&mut self, conn: TcpConnId) {
        self.streams.remove(&conn);
        self.stats.tcp_broken += 1;
        self.push_tcp(TcpCommand::Abort { conn });
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

    fn poll_tcp(&mut self) -> Option<TcpCommand> {
        self.tcp_queue.pop_front()
    }

    fn handle_tcp(&mut self, _now: Instant, event: TcpEvent) {
        match event {
            TcpEvent::Accepted { conn, remote, .. } => {
                if self.streams.len() >= MAX_TCP_STREAMS {
                    self.stats.tcp_refused += 1;
                    self.push_tcp(TcpCommand::Abort { conn });
                    return;
                }
                self.stats.tcp_accepted += 1;
                self.streams.insert(
                    conn,
                    Stream {
                        client: remote,
                        deframer: Deframer::default(),
                    },
                );
            }
            TcpEvent::Data { conn, data } => self.stream_data(conn, &data),
            // The client's FIN: it sends nothing more; the server closes its half too (RFC
            // 9293 §3.6).
            TcpEvent::Closed { conn } if self.streams.remove(&conn).is_some() => {
                self.stats.tcp_closed += 1;
                self.push_tcp(TcpCommand::Close { conn });
            }
            TcpEvent::Reset { conn, .. } if self.streams.remove(&conn).is_some() => {
                self.stats.tcp_closed += 1;
            }
            _ => {}
        }
    }
}
