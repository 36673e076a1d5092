//! A datagram to send, as the caller's socket sends it: the output of the agent and of the
//! TURN client alike.

use std::net::SocketAddr;

use crate::candidate::Protocol;

/// A datagram to send. `data` borrows the agent's buffer (or, from
/// [`crate::IceAgent::send`], the caller's or a TURN client's): send it before the next call
/// on the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit<'a> {
    /// The local address to send from (a host candidate's address).
    pub local: SocketAddr,
    /// The destination.
    pub remote: SocketAddr,
    /// The transport.
    pub protocol: Protocol,
    /// The bytes.
    pub data: &'a [u8],
}
