//! What a [`TurnClient`](super::TurnClient) reports: its state, events, what received bytes
//! were, counters, and the errors of its verbs.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::stun::AttributeType;

/// Where the allocation stands.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TurnState {
    /// Created; [`allocate`](super::TurnClient::allocate) not called yet.
    Idle,
    /// An Allocate transaction is in flight (authentication and redirects included).
    Allocating,
    /// The server holds an allocation: data can be relayed.
    Allocated,
    /// A Refresh with LIFETIME 0 is in flight (RFC 8656 §8).
    Closing,
    /// Closed by [`close`](super::TurnClient::close).
    Closed,
    /// The allocation failed or was lost; [`TurnEvent::AllocationFailed`] or
    /// [`TurnEvent::AllocationLost`] said why. `allocate` may be called again.
    Failed,
}

/// Why a request failed: one variant per error code RFC 8656 and RFC 8489 name, and the
/// client's own reasons.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TurnFailure {
    /// No response after `Rc` requests and `Rm` times the RTO (RFC 8489 §6.2.1), or Ti over a
    /// stream (RFC 8489 §6.2.2).
    Timeout,
    /// 401 to a signed request: the server refuses the credentials (RFC 8489 §9.2.5).
    Unauthenticated,
    /// 401 without REALM or NONCE: the long-term mechanism cannot proceed (RFC 8489 §9.2.5).
    NoRealmOrNonce,
    /// 438 Stale Nonce more often than the bound allows (RFC 8489 §9.2.5).
    StaleNonceLoop,
    /// 300 Try Alternate a second time, or without a usable ALTERNATE-SERVER (RFC 8489 §10).
    TryAlternate,
    /// 400 Bad Request.
    BadRequest,
    /// 403 Forbidden (RFC 8656 §7.2, §9.2, §12.2).
    Forbidden,
    /// 420 Unknown Attribute.
    UnknownAttribute,
    /// 437 Allocation Mismatch (RFC 8656 §7.2, §8.1).
    AllocationMismatch,
    /// 440 Address Family not Supported (RFC 8656 §7.2).
    AddressFamilyNotSupported,
    /// 441 Wrong Credentials (RFC 8656 §7.2).
    WrongCredentials,
    /// 442 Unsupported Transport Protocol (RFC 8656 §7.2).
    UnsupportedTransport,
    /// 443 Peer Address Family Mismatch (RFC 8656 §9.2, §12.2).
    PeerAddressFamilyMismatch,
    /// 486 Allocation Quota Reached (RFC 8656 §7.2).
    AllocationQuotaReached,
    /// 500 Server Error.
    ServerError,
    /// 508 Insufficient Capacity (RFC 8656 §7.2, §9.2, §12.2).
    InsufficientCapacity,
    /// Any other error code.
    Error {
        /// The code.
        code: u16,
    },
    /// A response without an attribute it must carry (ERROR-CODE in an error response,
    /// XOR-RELAYED-ADDRESS in an Allocate success, ALTERNATE-SERVER in a 300).
    MissingAttribute(AttributeType),
    /// The allocation ran out before a Refresh succeeded (RFC 8656 §8).
    Expired,
    /// The TCP or TLS connection to the server could not be opened (refused, unreachable,
    /// timed out, or the TLS handshake or certificate check failed), or no more connections
    /// could be asked for.
    ConnectFailed,
    /// The TCP or TLS connection to the server closed: an allocation made over a stream lives
    /// on that connection's 5-tuple (RFC 8656 §2.2, §3.1), so it is gone with it.
    ConnectionClosed,
    /// The stream from the server held bytes that are no STUN message and no ChannelData
    /// (RFC 8656 §12.5): it cannot be followed any further, and the connection was closed.
    BadStream,
}

impl TurnFailure {
    /// The failure an error code stands for (RFC 8656 §19, RFC 8489 §14.8).
    pub fn from_code(code: u16) -> TurnFailure {
        match code {
            300 => TurnFailure::TryAlternate,
            400 => TurnFailure::BadRequest,
            401 => TurnFailure::Unauthenticated,
            403 => TurnFailure::Forbidden,
            420 => TurnFailure::UnknownAttribute,
            437 => TurnFailure::AllocationMismatch,
            438 => TurnFailure::StaleNonceLoop,
            440 => TurnFailure::AddressFamilyNotSupported,
            441 => TurnFailure::WrongCredentials,
            442 => TurnFailure::UnsupportedTransport,
            443 => TurnFailure::PeerAddressFamilyMismatch,
            486 => TurnFailure::AllocationQuotaReached,
            500 => TurnFailure::ServerError,
            508 => TurnFailure::InsufficientCapacity,
            code => TurnFailure::Error { code },
        }
    }

    /// The error code behind the failure, when a server sent one.
    pub fn code(&self) -> Option<u16> {
        Some(match self {
            TurnFailure::TryAlternate => 300,
            TurnFailure::BadRequest => 400,
            TurnFailure::Unauthenticated | TurnFailure::NoRealmOrNonce => 401,
            TurnFailure::Forbidden => 403,
            TurnFailure::UnknownAttribute => 420,
            TurnFailure::AllocationMismatch => 437,
            TurnFailure::StaleNonceLoop => 438,
            TurnFailure::AddressFamilyNotSupported => 440,
            TurnFailure::WrongCredentials => 441,
            TurnFailure::UnsupportedTransport => 442,
            TurnFailure::PeerAddressFamilyMismatch => 443,
            TurnFailure::AllocationQuotaReached => 486,
            TurnFailure::ServerError => 500,
            TurnFailure::InsufficientCapacity => 508,
            TurnFailure::Error { code } => *code,
            TurnFailure::Timeout
            | TurnFailure::MissingAttribute(_)
            | TurnFailure::Expired
            | TurnFailure::ConnectFailed
            | TurnFailure::ConnectionClosed
            | TurnFailure::BadStream => {
                return None;
            }
        })
    }
}

impl fmt::Display for TurnFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TurnFailure::Timeout => f.write_str("the server did not answer (RFC 8489 §6.2.1)"),
            TurnFailure::NoRealmOrNonce => f.write_str("401 without REALM or NONCE"),
            TurnFailure::MissingAttribute(t) => write!(f, "the response has no {t}"),
            TurnFailure::Expired => f.write_str("the allocation expired (RFC 8656 §8)"),
            TurnFailure::StaleNonceLoop => f.write_str("438 Stale Nonce too many times"),
            TurnFailure::TryAlternate => f.write_str("300 Try Alternate not followed"),
            TurnFailure::ConnectFailed => f.write_str("the connection to the server failed"),
            TurnFailure::ConnectionClosed => f.write_str("the connection to the server closed"),
            TurnFailure::BadStream => {
                f.write_str("the server's stream held no STUN or ChannelData (RFC 8656 §12.5)")
            }
            other => write!(f, "error {}", other.code().unwrap_or(0)),
        }
    }
}

/// What happened, in order. Drain with [`poll_event`](super::TurnClient::poll_event).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnEvent {
    /// The Allocate succeeded (RFC 8656 §7.3).
    Allocated {
        /// XOR-RELAYED-ADDRESS: the address peers send to.
        relayed: SocketAddr,
        /// XOR-MAPPED-ADDRESS: the client's address as the server saw it (a server-reflexive
        /// address, RFC 8445 §5.1.1.2's `rel-addr` of the relayed candidate).
        mapped: Option<SocketAddr>,
        /// The lifetime the server granted.
        lifetime: Duration,
    },
    /// The Allocate failed; the state is [`TurnState::Failed`].
    AllocationFailed(TurnFailure),
    /// A Refresh failed or the allocation expired; the state is [`TurnState::Failed`].
    AllocationLost(TurnFailure),
    /// 300 Try Alternate: the client now talks to `to` (RFC 8489 §10).
    Redirected {
        /// The server that redirected.
        from: SocketAddr,
        /// ALTERNATE-SERVER.
        to: SocketAddr,
    },
    /// A Refresh succeeded (RFC 8656 §8).
    Refreshed {
        /// The new lifetime.
        lifetime: Duration,
    },
    /// The first CreatePermission for `peer` succeeded (RFC 8656 §9); refreshes are silent.
    PermissionCreated {
        /// The peer's IP address.
        peer: IpAddr,
    },
    /// A CreatePermission failed; the permission is gone.
    PermissionFailed {
        /// The peer's IP address.
        peer: IpAddr,
        /// Why.
        reason: TurnFailure,
    },
    /// The first ChannelBind for `peer` succeeded (RFC 8656 §12): data to and from it now
    /// travels as ChannelData.
    ChannelBound {
        /// The peer.
        peer: SocketAddr,
        /// The channel number.
        channel: u16,
    },
    /// A ChannelBind failed; the channel is gone (Send indications carry the data again).
    ChannelFailed {
        /// The peer.
        peer: SocketAddr,
        /// The channel number.
        channel: u16,
        /// Why.
        reason: TurnFailure,
    },
    /// The allocation is released (Refresh with LIFETIME 0 answered, or not needed).
    Closed,
}

/// What [`handle_receive`](super::TurnClient::handle_receive) found in a datagram.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnReceived<'a> {
    /// A response (or a retransmitted one) the client consumed; see [`TurnEvent`]s.
    Consumed,
    /// Data from a peer, from a Data indication (RFC 8656 §11.4) or ChannelData (§12.5),
    /// borrowing the caller's bytes.
    Data {
        /// The peer that sent it to the relayed address.
        peer: SocketAddr,
        /// The data.
        data: &'a [u8],
    },
    /// Not the client's: from another address, or a STUN message of another method (a
    /// Binding response when STUN and TURN share the server). Hand it to whoever else reads
    /// the socket.
    NotForUs,
    /// Dropped and counted in [`TurnStats`].
    Dropped(TurnDrop),
}

/// Why received bytes were dropped.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TurnDrop {
    /// Neither STUN nor ChannelData that decodes, or a Data indication without XOR-PEER-ADDRESS
    /// or DATA.
    Malformed,
    /// Data from a peer without a permission (RFC 8656 §9: the client drops it too).
    NoPermission,
    /// ChannelData on a channel not bound (RFC 8656 §12.5).
    UnknownChannel,
    /// A response to no transaction in flight (late, or forged).
    UnknownTransaction,
    /// A response whose MESSAGE-INTEGRITY is wrong, or absent from a success to a signed
    /// request (RFC 8489 §9.2.5); the transaction goes on.
    BadIntegrity,
    /// A request or an indication the client does not take.
    Unexpected,
}

/// Counters. Everything dropped or refused is counted here.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TurnStats {
    /// Requests sent, retransmissions excluded.
    pub requests_sent: u64,
    /// Retransmissions (RFC 8489 §6.2.1).
    pub retransmissions: u64,
    /// Responses taken.
    pub responses: u64,
    /// Datagrams sent to peers in Send indications.
    pub send_indications: u64,
    /// Datagrams sent to peers in ChannelData.
    pub channel_data_sent: u64,
    /// Datagrams received from peers in Data indications.
    pub data_indications: u64,
    /// Datagrams received from peers in ChannelData.
    pub channel_data_received: u64,
    /// Dropped: malformed.
    pub dropped_malformed: u64,
    /// Dropped: from a peer without a permission.
    pub dropped_no_permission: u64,
    /// Dropped: on an unbound channel.
    pub dropped_unknown_channel: u64,
    /// Dropped: a response to no transaction.
    pub dropped_unknown_transaction: u64,
    /// Dropped: integrity wrong or missing.
    pub dropped_bad_integrity: u64,
    /// Dropped: a request or indication not taken.
    pub dropped_unexpected: u64,
    /// Permissions refused by `max_permissions`.
    pub permissions_refused: u64,
    /// Channels refused by `max_channels` or the channel-number space.
    pub channels_refused: u64,
    /// CreatePermission or ChannelBind requests that waited for a transaction slot.
    pub requests_deferred: u64,
    /// 438 Stale Nonce answers taken (the nonce renewed and the request retried).
    pub stale_nonces: u64,
}

/// Misuse of the API (outcomes from the network are [`TurnEvent`]s, never errors).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnError {
    /// The username is longer than 512 bytes (RFC 8489 §14.3).
    UsernameTooLong,
    /// The base and the server are not of one address family.
    FamilyMismatch,
    /// `allocate` while allocating, allocated or closing.
    AlreadyStarted,
    /// Needs an allocation, or one being made, and there is none.
    NotAllocated,
    /// `send_to` a peer without an installed permission (call `create_permission` and wait
    /// for [`TurnEvent::PermissionCreated`]).
    NoPermission(IpAddr),
    /// `max_permissions` reached.
    TooManyPermissions,
    /// `max_channels` reached, or all 4096 channel numbers used.
    TooManyChannels,
    /// The data does not fit one datagram (65535 bytes of ChannelData or STUN).
    TooLarge,
}

impl fmt::Display for TurnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TurnError::UsernameTooLong => {
                f.write_str("the username is longer than 512 bytes (RFC 8489 §14.3)")
            }
            TurnError::FamilyMismatch => f.write_str("base and server differ in address family"),
            TurnError::AlreadyStarted => f.write_str("an allocation is already under way"),
            TurnError::NotAllocated => f.write_str("there is no allocation"),
            TurnError::NoPermission(ip) => write!(f, "no permission for {ip} (RFC 8656 §9)"),
            TurnError::TooManyPermissions => f.write_str("max_permissions reached"),
            TurnError::TooManyChannels => f.write_str("no channel left"),
            TurnError::TooLarge => f.write_str("the data does not fit one datagram"),
        }
    }
}

impl std::error::Error for TurnError {}
