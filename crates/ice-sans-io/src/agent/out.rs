//! The outgoing path: how a datagram leaves the agent ([`Route`]) and the queue of datagrams
//! to send ([`OutQueue`]).
//!
//! Every datagram the agent sends carries its route, from the transaction or the pair it
//! belongs to down to the queue, and [`Route::transmit`] is the one place where a route turns
//! into the public [`Transmit`]. There are four ways out:
//!
//! - [`Route::Direct`]: from a base (a host candidate's socket) straight to the remote address;
//! - [`Route::Relay`]: through a TURN allocation (RFC 8656): the datagram wrapped in a Send
//!   indication or, once the pair's channel is bound, ChannelData (§11, §12), from the host
//!   base of the allocation to the TURN server, or on the connection to the server when the
//!   allocation is reached over TCP or TLS (§3.1; the caller runs the TLS). The wrapping is
//!   the TURN client's, into its own reused buffer, when the datagram leaves the queue;
//! - [`Route::Tcp`]: on a TCP connection the caller holds (RFC 6544), each message framed with
//!   its length (RFC 4571 §2). The queue keeps [`HEADER_LEN`] bytes free in front of every
//!   message, so the frame header is written in place when it leaves: nothing is copied;
//! - [`Route::Stream`]: a STUN message to a server on a connection the caller holds (a TURN
//!   client's request over TCP or TLS, a Binding request for a server-reflexive TCP
//!   candidate), as it is: STUN and ChannelData delimit themselves on a stream to a server
//!   (RFC 8489 §6.2.2, RFC 8656 §12.5), so no RFC 4571 header is written.
//!
//! [`Transmit`] keeps its shape (local address, remote address, protocol, connection, bytes):
//! it is the wire view the caller's socket needs, and that view does not change with the route
//! (a relayed datagram is still bytes from a local socket to an address, the server's).
//! `Route` itself stays internal: no public method takes or returns one.

use std::net::SocketAddr;
use std::time::Instant;

use crate::candidate::Protocol;
use crate::framing::{HEADER_LEN, frame, frame_in_place};
use crate::transmit::{ConnectionId, Transmit};
use crate::turn::TurnClient;

use super::error::SendError;

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
    /// On TCP connection `conn`, from its local address `local` (an active candidate's is an
    /// ephemeral port) to `remote`, framed (RFC 4571).
    Tcp {
        conn: ConnectionId,
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// On connection `conn` to a TURN or STUN server at `remote`, from `local`, unframed.
    Stream {
        conn: ConnectionId,
        local: SocketAddr,
        remote: SocketAddr,
    },
}

/// The relay a datagram on [`Route::Relay`] leaves through: its TURN client, and the
/// connection to its server when the server is reached over TCP or TLS.
pub(super) struct Via<'a> {
    pub(super) client: &'a mut TurnClient,
    pub(super) conn: Option<ConnectionId>,
}

/// The bytes of one datagram, as [`Route::transmit`] takes them.
pub(super) enum Bytes<'a> {
    /// From the out queue: [`HEADER_LEN`] free bytes, then the message.
    Queued(&'a mut [u8]),
    /// The caller's data ([`super::IceAgent::send`]), borrowed; framed into `scratch` when it
    /// leaves on a TCP connection.
    Borrowed {
        data: &'a [u8],
        scratch: &'a mut Vec<u8>,
    },
}

impl Route {
    /// Directly over UDP.
    pub(super) fn udp(base: SocketAddr, remote: SocketAddr) -> Route {
        Route::Direct {
            base,
            remote,
            protocol: Protocol::Udp,
        }
    }

    /// Whether a datagram that arrived on `local` from `remote` (on TCP connection `conn`,
    /// `None` for UDP) came back along this route (RFC 8445 §7.2.5.2.1 wants responses on the
    /// symmetric 5-tuple; data is taken from the remote end of a valid pair). On TCP the
    /// connection is the 5-tuple.
    pub(super) fn is_reverse_of(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        conn: Option<ConnectionId>,
    ) -> bool {
        match *self {
            Route::Direct {
                base, remote: to, ..
            } => conn.is_none() && base == local && to == remote,
            Route::Relay { relayed, peer, .. } => {
                conn.is_none() && relayed == local && peer == remote
            }
            Route::Tcp { conn: c, .. } => conn == Some(c),
            Route::Stream { .. } => false,
        }
    }

    /// The TCP connection of this route, if it is one.
    pub(super) fn connection(&self) -> Option<ConnectionId> {
        match *self {
            Route::Tcp { conn, .. } | Route::Stream { conn, .. } => Some(conn),
            Route::Direct { .. } | Route::Relay { .. } => None,
        }
    }

    /// The datagram `bytes` as the caller's socket sends it on this route: the one place a
    /// route becomes a [`Transmit`]. Through a relay it is wrapped by `via`'s TURN client
    /// (into its buffer, which the result then borrows), which needs a permission for the peer
    /// (RFC 8656 §9), and goes on `via`'s connection when the server is reached over a stream.
    /// On a TCP connection to a peer it is framed (RFC 4571 §2): in place for a queued
    /// message, into `scratch` for the caller's data; on a connection to a server it is not.
    pub(super) fn transmit<'a>(
        self,
        via: Option<Via<'a>>,
        now: Instant,
        bytes: Bytes<'a>,
    ) -> Result<Transmit<'a>, SendError> {
        match self {
            Route::Direct {
                base,
                remote,
                protocol,
            } => Ok(Transmit {
                local: base,
                remote,
                protocol,
                connection: None,
                data: bytes.unframed(),
            }),
            Route::Relay { peer, .. } => {
                let via = via.ok_or(SendError::Relay(crate::turn::TurnError::NotAllocated))?;
                let t = via
                    .client
                    .send_to(now, peer, bytes.unframed())
                    .map_err(SendError::Relay)?;
                // RFC 8656 §3.1: over TCP or TLS, on the connection to the server, unframed
                // (the client pads ChannelData on a stream, §12.5).
                Ok(Transmit {
                    connection: via.conn,
                    ..t
                })
            }
            Route::Stream {
                conn,
                local,
                remote,
            } => Ok(Transmit {
                local,
                remote,
                protocol: Protocol::Tcp,
                connection: Some(conn),
                data: bytes.unframed(),
            }),
            Route::Tcp {
                conn,
                local,
                remote,
            } => {
                // RFC 6544 §3: every message on the connection is framed per RFC 4571.
                let data = match bytes {
                    Bytes::Queued(room) => {
                        let len = room.len().saturating_sub(HEADER_LEN);
                        frame_in_place(room, len).map_err(|_| SendError::FrameTooLarge { len })?
                    }
                    Bytes::Borrowed { data, scratch } => {
                        scratch.clear();
                        frame(data, scratch)
                            .map_err(|_| SendError::FrameTooLarge { len: data.len() })?;
                        &scratch[..]
                    }
                };
                Ok(Transmit {
                    local,
                    remote,
                    protocol: Protocol::Tcp,
                    connection: Some(conn),
                    data,
                })
            }
        }
    }
}

impl<'a> Bytes<'a> {
    /// The message alone, without room for a frame header.
    fn unframed(self) -> &'a [u8] {
        match self {
            Bytes::Queued(room) => room.get(HEADER_LEN..).unwrap_or_default(),
            Bytes::Borrowed { data, .. } => data,
        }
    }
}

/// Queue of datagrams to send, each with its route, all in one reused buffer, each with room
/// for an RFC 4571 frame header in front.
pub(super) type OutQueue = crate::outqueue::OutQueue<Route, MAX_OUT, HEADER_LEN>;
