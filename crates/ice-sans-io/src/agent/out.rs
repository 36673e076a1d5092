//! The outgoing path: how a datagram leaves the agent ([`Route`]) and the queue of datagrams
//! to send ([`OutQueue`]).
//!
//! Every datagram the agent sends carries its route, from the transaction or the pair it
//! belongs to down to the queue, and [`Route::transmit`] is the one place where a route turns
//! into the public [`Transmit`]. There are two ways out:
//!
//! - [`Route::Direct`]: from a base (a host candidate's socket) straight to the remote address;
//! - [`Route::Relay`]: through a TURN allocation (RFC 8656): the datagram wrapped in a Send
//!   indication or, once the pair's channel is bound, ChannelData (§11, §12), from the host
//!   base of the allocation to the TURN server. The wrapping is the TURN client's, into its
//!   own reused buffer, when the datagram leaves the queue.
//!
//! TCP (RFC 6544: on a connection the caller holds, each message framed with its length, RFC
//! 4571) will be a third.
//!
//! [`Transmit`] keeps its shape (local address, remote address, protocol, bytes): it is the
//! wire view the caller's socket needs, and that view does not change with the route (a relayed
//! datagram is still bytes from a local socket to an address, the server's). `Route` itself
//! stays internal: no public method takes or returns one.

use std::net::SocketAddr;
use std::time::Instant;

use crate::candidate::Protocol;
use crate::transmit::Transmit;
use crate::turn::{TurnClient, TurnError};

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
    /// Through relay `relay` (an index in the agent's `relays`, which are never removed), from
    /// its relayed address `relayed` to `peer`.
    Relay {
        relay: usize,
        relayed: SocketAddr,
        peer: SocketAddr,
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
            Route::Relay { relayed, peer, .. } => relayed == local && peer == remote,
        }
    }

    /// The datagram `data` as the caller's socket sends it on this route: the one place a
    /// route becomes a [`Transmit`]. Through a relay it is wrapped by `client`, the relay's
    /// TURN client (into its buffer, which the result then borrows), which needs a permission
    /// for the peer (RFC 8656 §9).
    pub(super) fn transmit<'a>(
        self,
        client: Option<&'a mut TurnClient>,
        now: Instant,
        data: &'a [u8],
    ) -> Result<Transmit<'a>, TurnError> {
        match self {
            Route::Direct {
                base,
                remote,
                protocol,
            } => Ok(Transmit {
                local: base,
                remote,
                protocol,
                data,
            }),
            Route::Relay { peer, .. } => client
                .ok_or(TurnError::NotAllocated)?
                .send_to(now, peer, data),
        }
    }
}

/// Queue of datagrams to send, each with its route, all in one reused buffer.
pub(super) type OutQueue = crate::outqueue::OutQueue<Route, MAX_OUT>;
