//! The sans-IO trait through which endpoints meet the simulator, and the words of its TCP part.
//!
//! A node sends UDP datagrams itself ([`Transmit`]); TCP it asks of its host's stack
//! ([`crate::tcp_stack`]) with [`TcpCommand`]s and hears about with [`TcpEvent`]s, as an
//! application uses the sockets of its operating system: the stack owns sequence numbers,
//! retransmission and the handshake, the node owns the decisions.

use std::fmt;
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

/// A TCP connection of a simulated host, named by the simulator (unique in the run; the
/// number means nothing else).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TcpConnId(pub u64);

impl fmt::Display for TcpConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tcp#{}", self.0)
    }
}

/// What a node asks of its host's TCP stack.
///
/// A command the stack cannot carry out is counted
/// ([`TcpStackStats::bad_commands`](crate::tcp_stack::TcpStackStats::bad_commands), or
/// `send_refused` for a [`TcpCommand::Send`] over the buffer); a `Connect` that fails at once
/// is answered by [`TcpEvent::ConnectFailed`] with its token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TcpCommand {
    /// Accept connections to `addr` (an address of the host, port not 0): a SYN to it that
    /// belongs to no connection opens one, reported by [`TcpEvent::Accepted`] once established.
    Listen {
        /// The address and port listened on.
        addr: SocketAddr,
    },
    /// Stop accepting connections to `addr` (connections already accepted go on).
    Unlisten {
        /// The address given to [`TcpCommand::Listen`].
        addr: SocketAddr,
    },
    /// Open a connection (active open, RFC 9293 §3.5), reported by [`TcpEvent::Connected`] or
    /// [`TcpEvent::ConnectFailed`] with `token`.
    Connect {
        /// The caller's name for this attempt, given back in the event.
        token: u64,
        /// An address of the host; port 0 takes an ephemeral port (49152–65535, RFC 6335),
        /// any other port is bound exactly, also while a listener has it (the crossing SYNs of
        /// a simultaneous open, RFC 6544's `so` candidates, need that).
        from: SocketAddr,
        /// The remote endpoint.
        to: SocketAddr,
    },
    /// Appends `data` to the connection's outgoing stream. Refused whole (and counted) when
    /// the send buffer ([`MAX_SEND_BUFFER`](crate::tcp_stack::MAX_SEND_BUFFER)) has no room
    /// for it, or after [`TcpCommand::Close`].
    Send {
        /// The connection.
        conn: TcpConnId,
        /// Bytes to send.
        data: Vec<u8>,
    },
    /// Orderly close of the sending direction: a FIN after the bytes already queued (RFC 9293
    /// §3.6). The peer's data still arrives until its own FIN ([`TcpEvent::Closed`]).
    Close {
        /// The connection.
        conn: TcpConnId,
    },
    /// Abort: an RST to the peer and the connection forgotten at once (RFC 9293 §3.10.5). No
    /// event follows.
    Abort {
        /// The connection.
        conn: TcpConnId,
    },
}

/// Why a connection could not be opened, or ended abnormally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum TcpFailure {
    /// The peer answered with an RST (no listener there: RFC 9293 §3.10.7.1).
    Refused,
    /// The peer reset an established connection.
    Reset,
    /// Retransmissions exhausted: of the SYN while connecting (also what a blocked or
    /// unroutable destination looks like: the simulator sends no ICMP), of data later.
    TimedOut,
    /// `from` is not an address of the host, or the addresses are of different families, or
    /// the remote port is 0.
    BadAddress,
    /// A connection with the same local and remote endpoints exists, or no ephemeral port is
    /// free.
    AddressInUse,
    /// The host has [`MAX_CONNECTIONS`](crate::tcp_stack::MAX_CONNECTIONS) connections.
    TooManyConnections,
    /// An ICMP destination or network unreachable, or no neighbour answering ARP (real sockets
    /// only: the simulator sends no ICMP, so there the same open times out).
    Unreachable,
}

impl fmt::Display for TcpFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TcpFailure::Refused => "refused",
            TcpFailure::Reset => "reset by the peer",
            TcpFailure::TimedOut => "timed out",
            TcpFailure::BadAddress => "bad address",
            TcpFailure::AddressInUse => "address in use",
            TcpFailure::TooManyConnections => "too many connections",
            TcpFailure::Unreachable => "unreachable",
        })
    }
}

/// What the TCP stack tells the node of its host.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TcpEvent {
    /// A [`TcpCommand::Connect`] reached ESTABLISHED (by a three-way handshake or a
    /// simultaneous open).
    Connected {
        /// The token of the `Connect`.
        token: u64,
        /// The connection.
        conn: TcpConnId,
        /// Its local endpoint (the ephemeral port chosen, if any).
        local: SocketAddr,
        /// Its remote endpoint.
        remote: SocketAddr,
    },
    /// A [`TcpCommand::Connect`] failed.
    ConnectFailed {
        /// The token of the `Connect`.
        token: u64,
        /// Why.
        reason: TcpFailure,
    },
    /// A connection to a listener reached ESTABLISHED.
    Accepted {
        /// The address listened on.
        listener: SocketAddr,
        /// The connection.
        conn: TcpConnId,
        /// Its local endpoint.
        local: SocketAddr,
        /// Its remote endpoint.
        remote: SocketAddr,
    },
    /// Bytes of the peer's stream, in order, as they arrive.
    Data {
        /// The connection.
        conn: TcpConnId,
        /// The bytes.
        data: Vec<u8>,
    },
    /// The peer's FIN, after all its data: it sends no more (this side may still send).
    Closed {
        /// The connection.
        conn: TcpConnId,
    },
    /// The connection ended abnormally: an RST arrived, or retransmissions were exhausted.
    Reset {
        /// The connection.
        conn: TcpConnId,
        /// Why.
        reason: TcpFailure,
    },
}

/// An endpoint on a simulated host: an ICE agent's adapter, a STUN server, a test's hand.
///
/// The simulator calls [`Node::handle_datagram`], [`Node::handle_tcp`] and
/// [`Node::handle_timeout`], then drains [`Node::poll_transmit`] and [`Node::poll_tcp`] until
/// `None` and reads [`Node::poll_timeout`]. Nodes never read a clock: `now` is virtual. The
/// TCP methods have defaults (no TCP), so a node that only speaks UDP implements four methods.
pub trait Node {
    /// A datagram arrived at `to`, one of the host's addresses.
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]);
    /// The time given by [`Node::poll_timeout`] has come (an early call does nothing).
    fn handle_timeout(&mut self, now: Instant);
    /// The next datagram to send.
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// When [`Node::handle_timeout`] is due next.
    fn poll_timeout(&self) -> Option<Instant>;
    /// The next command for the host's TCP stack.
    fn poll_tcp(&mut self) -> Option<TcpCommand> {
        None
    }
    /// The host's TCP stack reports `event`.
    fn handle_tcp(&mut self, now: Instant, event: TcpEvent) {
        let _ = (now, event);
    }
}
