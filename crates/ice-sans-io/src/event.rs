//! What the agent reports: events, states, statistics, and the datagrams it asks to send.

use std::net::SocketAddr;
use std::time::Duration;

use crate::candidate::{Candidate, ComponentId, Protocol};
use crate::role::Role;
use crate::transmit::ConnectionId;
use crate::turn::{TurnDrop, TurnFailure};

/// The state of the agent or of one component. The names follow the W3C RTCIceConnectionState
/// that RFC 8445 §6.1.3 and §8 describe in prose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// No check sent yet.
    New,
    /// Checks under way; no pair to send data on yet.
    Checking,
    /// Each component has a valid pair to send data on, not every one nominated yet.
    Connected,
    /// Each component has a nominated pair (RFC 8445 §8.1.2: the check list is Completed).
    Completed,
    /// A component has no valid pair and none can still appear (RFC 8445 §8.1.2: the check
    /// list is Failed; RFC 8838 §8 for trickle).
    Failed,
    /// Consent on a selected pair was lost (RFC 7675 §5.1): no application data can be sent.
    /// Recover with an ICE restart.
    Disconnected,
}

impl State {
    /// The state's name in lower case.
    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Checking => "checking",
            State::Connected => "connected",
            State::Completed => "completed",
            State::Failed => "failed",
            State::Disconnected => "disconnected",
        }
    }
}

/// Why a component failed.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// Every pair failed after the peer's end-of-candidates (RFC 8838 §8).
    AllPairsFailed,
    /// Every pair failed and the peer sent no new candidate and no end-of-candidates within
    /// [`crate::Config::no_end_of_candidates_timeout`].
    NoEndOfCandidates,
}

/// Something the caller should know. Drain with [`crate::IceAgent::poll_event`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A local candidate to signal to the peer (host candidates as added, server-reflexive
    /// ones as gathered; after a restart, all of them again).
    LocalCandidate(Candidate),
    /// Gathering of local candidates has finished for this generation: signal
    /// end-of-candidates (XEP-0371 `gathering-complete`, RFC 8838 §4.4).
    GatheringComplete,
    /// New local credentials after a restart (RFC 8445 §9): signal them with the generation.
    LocalCredentials {
        /// The new username fragment.
        ufrag: String,
        /// The new password.
        pwd: String,
        /// The new generation (0 for the first credentials, which produce no event).
        generation: u32,
    },
    /// The state of the agent changed.
    StateChanged(State),
    /// The state of one component changed.
    ComponentStateChanged {
        /// The component.
        component: ComponentId,
        /// Its new state.
        state: State,
    },
    /// The pair that carries a component's data changed (a valid pair, then the nominated
    /// one).
    SelectedPair {
        /// The component.
        component: ComponentId,
        /// The local candidate as the peer sees it (host, server- or peer-reflexive).
        local: Candidate,
        /// The remote candidate.
        remote: Candidate,
        /// Whether the pair is nominated (RFC 8445 §8). When it is, a controlling Jingle agent
        /// may send the remote-candidate notification of XEP-0371 §5.7.
        nominated: bool,
    },
    /// The agent switched role after a role conflict (RFC 8445 §7.3.1.1, §7.2.5.1).
    RoleChanged(Role),
    /// A component failed.
    ComponentFailed {
        /// The component.
        component: ComponentId,
        /// Why.
        reason: FailReason,
    },
    /// A TURN allocation succeeded (RFC 8656 §7.3): its relayed candidate follows as an
    /// [`Event::LocalCandidate`] (and, over UDP, when its mapped address is new, a
    /// server-reflexive one). [`crate::IceAgent::relay_transport`] tells how the server is
    /// reached.
    RelayAllocated {
        /// The TURN server, as given to [`crate::IceAgent::add_turn_server`].
        server: SocketAddr,
        /// The host candidate's address the allocation was made from (over TCP or TLS, the
        /// UDP host candidate whose IP the connection to the server was opened from).
        base: SocketAddr,
        /// The relayed address (XOR-RELAYED-ADDRESS).
        relayed: SocketAddr,
    },
    /// A TURN allocation failed (gathering goes on without it) or was lost (a Refresh failed,
    /// it expired, or over TCP or TLS its connection closed or broke: its pairs failed).
    RelayFailed {
        /// The TURN server, as given to [`crate::IceAgent::add_turn_server`].
        server: SocketAddr,
        /// The host candidate's address the allocation was made from (over TCP or TLS, the
        /// UDP host candidate whose IP the connection to the server was opened from).
        base: SocketAddr,
        /// Why: the error the server answered, or its silence.
        reason: TurnFailure,
    },
    /// No response to consent checks for [`crate::Config::consent_timeout`] (RFC 7675 §5.1),
    /// or the TCP connection of the selected pair closed: the agent stops sending application
    /// data on the component.
    ConsentLost {
        /// The component.
        component: ComponentId,
    },
    /// Open a TCP connection from `from` to `to`, and report the outcome with
    /// [`crate::IceAgent::handle_connected`] (with the connection's real local address) or
    /// [`crate::IceAgent::handle_connect_failed`] (refused, unreachable, timed out). Until
    /// then the agent waits; after [`crate::Config::tcp_connect_timeout`] without either it
    /// gives up and asks for an [`Event::Close`]. Two kinds of connection are asked for:
    ///
    /// - to a peer, for a TCP pair (RFC 6544 §7.1: its check begins with its connection),
    ///   always with `tls: None`; every message on it is framed (RFC 4571);
    /// - to a TURN server added with [`crate::IceAgent::add_turn_server_over`] over TCP or TLS
    ///   (RFC 8656 §3.1), `from` a UDP host candidate's IP with port 0; the messages on it are
    ///   STUN and ChannelData as they are (RFC 8656 §12.5), unframed;
    /// - to a STUN server added with [`crate::IceAgent::add_stun_server`], for a passive or
    ///   simultaneous-open TCP host candidate's server-reflexive candidate (RFC 6544 §5.2),
    ///   `from` that candidate's exact address: the caller binds the port its listener has
    ///   (`SO_REUSEADDR`, and `SO_REUSEPORT` where the system wants it for a listening port)
    ///   so that the NAT maps the port the peer is told; one Binding request and its answer,
    ///   unframed (RFC 8489 §6.2.2), then [`Event::Close`].
    ///
    /// Whatever the kind, the caller writes each [`crate::Transmit`] with
    /// `connection: Some(id)` to the connection as it is, and hands every byte read from it
    /// to [`crate::IceAgent::handle_stream`].
    Connect {
        /// The connection's id, for every later call about it.
        id: ConnectionId,
        /// The local address to bind: for an active candidate its IP with port 0 (any
        /// ephemeral port); for a simultaneous-open candidate its exact address (the port the
        /// caller reserved, and listens on too).
        from: SocketAddr,
        /// The remote address to connect to.
        to: SocketAddr,
        /// `None`: the agent reads and writes the TCP stream itself. `Some(name)` (a TURN
        /// server over [`crate::turn::TurnTransport::Tls`]): the caller runs a TLS client on
        /// the connection and the agent sees only plaintext, both ways. The caller:
        ///
        /// - opens the TCP connection, then does the TLS handshake as a client, TLS 1.2 or
        ///   later (RFC 8656 §3.1), sending `name` as the server name (SNI, RFC 6066 §3);
        /// - checks the server's certificate chain against its trusted roots and `name`
        ///   (RFC 6125), and refuses the connection if either fails;
        /// - only then reports [`crate::IceAgent::handle_connected`] (a failed TCP connect, a
        ///   failed handshake or a refused certificate is
        ///   [`crate::IceAgent::handle_connect_failed`]);
        /// - hands the decrypted bytes to [`crate::IceAgent::handle_stream`] and writes the
        ///   data of each [`crate::Transmit`] on the connection through TLS;
        /// - reports a TLS alert, a failed record or the end of the stream (with or without
        ///   `close_notify`) as [`crate::IceAgent::handle_closed`], and on [`Event::Close`]
        ///   sends `close_notify` and closes.
        tls: Option<String>,
    },
    /// Close this TCP connection (its pair lost: another pair was selected, it failed, a
    /// restart or [`crate::IceAgent::close`]; RFC 6544 §7.1, RFC 8445 §8.3). The agent has
    /// already forgotten the id: nothing more is reported about it.
    Close {
        /// The connection.
        id: ConnectionId,
    },
}

/// A datagram received by the caller, for [`crate::IceAgent::handle_receive`].
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    /// The local address it arrived on (a host candidate's address).
    pub local: SocketAddr,
    /// The address it came from.
    pub remote: SocketAddr,
    /// The transport.
    pub protocol: Protocol,
    /// The bytes.
    pub data: &'a [u8],
}

/// What became of a received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received<'a> {
    /// A STUN message for the agent, taken in (answers and events may follow).
    Stun,
    /// Application data (RFC 7983: not STUN) from a valid pair, for the application.
    Data {
        /// The component it belongs to.
        component: ComponentId,
        /// The bytes, as received.
        data: &'a [u8],
    },
    /// Dropped, and counted in [`Stats`].
    Dropped(DropReason),
}

/// Why a datagram was dropped. (Limits never drop a datagram: a check over a limit is still
/// answered, and what it would have added is dropped and counted in [`Stats`].)
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Not a valid STUN message (RFC 8489 §6.3).
    Malformed,
    /// A bad FINGERPRINT (RFC 8489 §14.7).
    BadFingerprint,
    /// Failed or missing MESSAGE-INTEGRITY, or an unknown username (answered with 400 or 401
    /// when it was a request).
    Unauthenticated,
    /// A request refused with an error response (400, 420, 487).
    Refused,
    /// A response to no transaction in flight.
    UnknownTransaction,
    /// Arrived on a local address that is no host candidate.
    UnknownLocalAddress,
    /// Application data from an address that is not on a valid pair.
    UnknownPeer,
    /// A STUN message the agent does not handle (other methods, RFC 3489 requests).
    Unhandled,
    /// From a TURN server, dropped by the TURN client (an unknown channel, data from a peer
    /// without a permission, a response to no request, ...).
    Relay(TurnDrop),
    /// Stream bytes for a TCP connection the agent does not know (never opened, not yet
    /// reported open, or already closed or forgotten): [`crate::IceAgent::handle_stream`] took
    /// them all.
    UnknownConnection,
    /// A datagram given to [`crate::IceAgent::handle_receive`] with protocol TCP: TCP bytes
    /// come in through [`crate::IceAgent::handle_stream`], on their connection.
    TcpDatagram,
    /// Stream bytes from a TURN or STUN server (over TCP or TLS) that are no STUN message and
    /// no ChannelData (RFC 8656 §12.5): the stream cannot be followed past them, so
    /// [`crate::IceAgent::handle_stream`] took all the bytes given and the agent closed the
    /// connection ([`Event::Close`]); counted in [`Stats::tcp_streams_broken`].
    BadStream,
}

/// Counters. Everything dropped is counted here.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connectivity-check requests sent (first transmissions, consent checks included).
    pub checks_sent: u64,
    /// Retransmissions of requests (checks and gathering).
    pub retransmissions: u64,
    /// Connectivity-check requests received and answered with success.
    pub checks_received: u64,
    /// Responses received that matched a transaction.
    pub responses_received: u64,
    /// Consent checks sent (a subset of `checks_sent`).
    pub consent_checks_sent: u64,
    /// Binding indications sent as keepalives.
    pub keepalives_sent: u64,
    /// Binding requests sent to STUN servers (first transmissions).
    pub gathering_requests_sent: u64,
    /// Datagrams dropped: malformed.
    pub dropped_malformed: u64,
    /// Datagrams dropped: integrity or username.
    pub dropped_unauthenticated: u64,
    /// Requests answered with an error (400, 420, 487).
    pub refused: u64,
    /// Responses that matched no transaction.
    pub dropped_unknown_transaction: u64,
    /// Datagrams on an unknown local address, or data from an unknown peer.
    pub dropped_unknown_address: u64,
    /// STUN messages the agent does not handle.
    pub dropped_unhandled: u64,
    /// Remote candidates (signalled or peer-reflexive) dropped at a limit.
    pub dropped_candidates: u64,
    /// Pairs pruned or not formed at the check-list limit.
    pub dropped_pairs: u64,
    /// Early checks (before remote credentials) not remembered at the limit.
    pub dropped_early_checks: u64,
    /// New transactions delayed because [`crate::Config::max_transactions`] were in flight.
    pub transactions_delayed: u64,
    /// TURN allocations started (one per host candidate and TURN server; the TURN clients'
    /// own counters are in [`crate::IceAgent::turn_clients`]).
    pub relay_allocations: u64,
    /// Datagrams sent through a relay (checks, answers, keepalives, application data).
    pub relayed_sent: u64,
    /// Datagrams received through a relay, unwrapped.
    pub relayed_received: u64,
    /// Datagrams from a TURN server dropped by its client.
    pub dropped_relay: u64,
    /// Datagrams for a relay that could not leave: no permission for the peer (yet, or any
    /// more; RFC 8656 §9).
    pub relay_unsent: u64,
    /// Permissions a relay refused to ask for (`TurnConfig::max_permissions`): pairs on it
    /// to that peer never become ready.
    pub relay_permissions_refused: u64,
    /// TCP connections the agent asked for ([`Event::Connect`]).
    pub tcp_connects: u64,
    /// TCP connections accepted ([`crate::IceAgent::handle_accepted`] returned an id).
    pub tcp_accepted: u64,
    /// TCP connections refused at [`crate::IceAgent::handle_accepted`] (unknown local address,
    /// or [`crate::Config::max_tcp_connections`]), or not asked for at that limit (the pair
    /// failed instead).
    pub tcp_refused: u64,
    /// TCP connections that failed to open: [`crate::IceAgent::handle_connect_failed`], or no
    /// answer within [`crate::Config::tcp_connect_timeout`].
    pub tcp_connect_failed: u64,
    /// TCP connections the agent asked to close ([`Event::Close`]).
    pub tcp_closed: u64,
    /// TCP connections the caller reported closed ([`crate::IceAgent::handle_closed`]).
    pub tcp_closed_by_peer: u64,
    /// RFC 4571 frames dropped by a connection's reader: longer than
    /// [`crate::Config::max_tcp_frame`].
    pub tcp_frames_dropped: u64,
    /// Calls of [`crate::IceAgent::handle_stream`] for a connection the agent does not know.
    pub dropped_unknown_connection: u64,
    /// The bytes of those calls.
    pub dropped_unknown_connection_bytes: u64,
    /// Datagrams given to [`crate::IceAgent::handle_receive`] with protocol TCP.
    pub dropped_tcp_datagrams: u64,
    /// Connections to a TURN or STUN server closed because the server's stream held bytes
    /// that are no STUN message and no ChannelData ([`DropReason::BadStream`]).
    pub tcp_streams_broken: u64,
}

/// A component's selected pair, from [`crate::IceAgent::selected_pair`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairInfo {
    /// The local candidate as the peer sees it.
    pub local: Candidate,
    /// The base the agent sends from.
    pub base: SocketAddr,
    /// The remote candidate.
    pub remote: Candidate,
    /// Whether it is nominated.
    pub nominated: bool,
    /// The round-trip time of the latest check or consent check answered on the pair
    /// (not measured on retransmitted requests, after Karn's algorithm).
    pub rtt: Option<Duration>,
}
