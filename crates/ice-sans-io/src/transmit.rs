//! A datagram to send, as the caller's socket sends it: the output of the agent and of the
//! TURN client alike; and the id of a TCP connection the caller holds for the agent.

use std::fmt;
use std::net::SocketAddr;

use crate::candidate::Protocol;

/// A TCP connection the caller holds for the agent (RFC 6544): opened on the agent's
/// [`crate::Event::Connect`], or accepted and reported to
/// [`crate::IceAgent::handle_accepted`]. The agent allocates the ids and never reuses one
/// within its lifetime (until 2^32 connections).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(pub(crate) u32);

impl ConnectionId {
    /// The id as a number (for logs and the caller's tables).
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tcp#{}", self.0)
    }
}

/// A datagram to send. `data` borrows the agent's buffer (or, from
/// [`crate::IceAgent::send`], the caller's or a TURN client's): send it before the next call
/// on the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit<'a> {
    /// The local address to send from (a host candidate's address; for TCP the connection's
    /// local address).
    pub local: SocketAddr,
    /// The destination (for TCP the connection's remote address).
    pub remote: SocketAddr,
    /// The transport.
    pub protocol: Protocol,
    /// For TCP, the connection to write `data` to; `None` for UDP.
    pub connection: Option<ConnectionId>,
    /// The bytes. On a TCP connection they are already framed (RFC 4571 §2: a 16-bit length,
    /// then the message): write them to the stream as they are.
    pub data: &'a [u8],
}
