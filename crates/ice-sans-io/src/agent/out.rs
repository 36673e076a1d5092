//! The outgoing path: how a datagram leaves the agent ([`Route`]) and the queue of datagrams
//! to send ([`OutQueue`]).
//!
//! Every datagram the agent sends carries its route, from the transaction or the pair it
//! belongs to down to the queue, and [`Route::transmit`] is the one place where a route turns
//! into the public [`Transmit`]. Today there is one way out, [`Route::Direct`]: from a base (a
//! host candidate's socket) straight to the remote address. The ways out that issue #15 makes
//! room for are new variants, handled in this file and nowhere else:
//!
//! - through a relay (RFC 8656): from the base to the TURN server, the datagram wrapped in a
//!   Send indication or ChannelData (RFC 8656 §11, §12);
//! - on a TCP connection (RFC 6544): from the base on the connection the caller holds, each
//!   message framed with its length (RFC 4571).
//!
//! [`Transmit`] keeps its shape (local address, remote address, protocol, bytes): it is the
//! wire view the caller's socket needs, and that view does not change with the route (a relayed
//! datagram is still bytes from a local socket to an address, the server's; a framed one is
//! bytes on the connection from `local` to `remote`). Callers therefore keep their send loop
//! when routes are added. `Route` itself stays internal: no public method takes or returns
//! one, and its variants for relays and TCP are not designed yet; made public now, it would
//! freeze them.
//!
//! Two things a wrapping route will need, noted here for whoever adds one: room for the
//! header in front of the message, which [`OutQueue::push`] can reserve since it builds each
//! message in its own slice of the buffer; and application data, which
//! [`IceAgent::send`](super::IceAgent::send) returns borrowed from the caller's slice, with no
//! room for a header, so `send` will have to copy into the agent's buffer for such routes.

use std::net::SocketAddr;

use crate::candidate::Protocol;
use crate::event::Transmit;

/// Room reserved in the output buffer for one STUN message: a USERNAME of two 256-byte
/// fragments and every other attribute the agent writes fit well within it.
const MAX_OUT: usize = 1024;

/// How a datagram leaves the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    /// From `base`, the socket of a host candidate, straight to `remote`.
    Direct {
        base: SocketAddr,
        remote: SocketAddr,
        protocol: Protocol,
    },
}

impl Route {
    /// Directly over UDP, the only transport the agent pairs so far.
    pub(super) fn udp(base: SocketAddr, remote: SocketAddr) -> Route {
        Route::Direct {
            base,
            remote,
            protocol: Protocol::Udp,
        }
    }

    /// Whether a datagram that arrived on `local` from `remote` came back along this route
    /// (RFC 8445 §7.2.5.2.1 wants responses on the symmetric 5-tuple; data is taken from the
    /// remote end of a valid pair).
    pub(super) fn is_reverse_of(&self, local: SocketAddr, remote: SocketAddr) -> bool {
        match *self {
            Route::Direct {
                base, remote: to, ..
            } => base == local && to == remote,
        }
    }

    /// The datagram `data` as the caller's socket sends it on this route: the one place a
    /// route becomes a [`Transmit`].
    pub(super) fn transmit(self, data: &[u8]) -> Transmit<'_> {
        match self {
            Route::Direct {
                base,
                remote,
                protocol,
            } => Transmit {
                local: base,
                remote,
                protocol,
                data,
            },
        }
    }
}

/// Queue of datagrams to send, each with its route, all in one reused buffer.
pub(super) type OutQueue = crate::outqueue::OutQueue<Route, MAX_OUT>;
