//! The sans-IO trait through which endpoints meet the simulator.

use std::net::SocketAddr;
use std::time::Instant;

/// A datagram a node sends: from one of its host's addresses, to anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Source address: an address of the node's host and the port it sends from.
    pub from: SocketAddr,
    /// Destination.
    pub to: SocketAddr,
    /// UDP payload.
    pub data: Vec<u8>,
}

/// An endpoint on a simulated host: an ICE agent's adapter, a STUN server, a test's hand.
///
/// The simulator calls [`Node::handle_datagram`] and [`Node::handle_timeout`], then drains
/// [`Node::poll_transmit`] until `None` and reads [`Node::poll_timeout`]. Nodes never read a
/// clock: `now` is virtual.
pub trait Node {
    /// A datagram arrived at `to`, one of the host's addresses.
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]);
    /// The time given by [`Node::poll_timeout`] has come (an early call does nothing).
    fn handle_timeout(&mut self, now: Instant);
    /// The next datagram to send.
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// When [`Node::handle_timeout`] is due next.
    fn poll_timeout(&self) -> Option<Instant>;
}
