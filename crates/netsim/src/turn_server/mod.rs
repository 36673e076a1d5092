//! A TURN server node (RFC 8656, the subset ICE needs: clients over UDP and TCP, relayed
//! addresses over UDP), for `kind = "turn"` hosts.
//!
//! What it serves, on its listening port:
//!
//! - Binding requests, answered as [`StunServer`] answers them (a TURN server is a STUN
//!   server too);
//! - Allocate with the long-term credential mechanism (RFC 8489 §9.2: 401 with REALM and
//!   NONCE, then the signed request), from a user name and password or from a TURN REST secret
//!   ([`TurnAuth`]); REQUESTED-TRANSPORT UDP only (else 442), REQUESTED-ADDRESS-FAMILY (440 when
//!   the host has no address of that family); 437 for a second allocation on one 5-tuple (a
//!   retransmitted Allocate gets its first success again); 300 Try Alternate with
//!   ALTERNATE-SERVER for every Allocate when an alternate is configured, unsigned for one
//!   without MESSAGE-INTEGRITY (RFC 8489 §10 allows it; coturn 4.6.1 does the same, without a
//!   401 first) and signed after the credential checks for a signed one;
//! - Refresh (LIFETIME 0 deletes), CreatePermission (one or more XOR-PEER-ADDRESS),
//!   ChannelBind (0x4000..=0x4FFF; a channel or a peer bound to something else is 400);
//! - Send indications and ChannelData from the client, relayed as plain UDP from the
//!   allocation's relayed address, only to peers with a permission (RFC 8656 §9);
//! - on the relayed addresses: datagrams from peers with a permission go to the client as
//!   ChannelData when a channel is bound to the peer, else as a Data indication; from any
//!   other peer they are dropped and counted.
//!
//! **Transports to the server** (RFC 8656 §3.1; [`TurnServerConfig::transports`]): UDP, and
//! TCP on the same port. Over TCP the server asks its host's stack to listen
//! ([`Node::poll_tcp`] gives the [`TcpCommand::Listen`]s at once) and owns the connections
//! accepted there ([`Node::handle_tcp`]); the stream is cut into STUN messages (by their
//! length, RFC 8489 §6.2.2) and ChannelData (padded to a multiple of 4, RFC 8656 §12.5) by the
//! crate's `stream_framing` (shared with the STUN server's TCP), and each goes through the same handling as a datagram. What differs is
//! only where a 5-tuple's state lives and how bytes leave: an allocation made over a
//! connection is that connection's (RFC 8656 §2: the connection is the 5-tuple), its
//! responses, Data indications and ChannelData (padded) go back on it, and it is deleted when
//! the connection closes or resets (RFC 8656 §3.1; coturn does the same). Bytes that are
//! neither STUN nor ChannelData break the stream: the server aborts the connection (an RST),
//! deletes its allocation and counts it ([`TurnTcpStats::broken`]). Over TCP nothing is
//! retransmitted, so a request that arrives twice is answered as over UDP (a repeated Allocate
//! gets its first answer again).
//!
//! Lifetimes run in virtual time: an allocation for the lifetime it granted (the requested one,
//! at most [`TurnServerConfig::max_lifetime`]; the default 600 s, also capped by it),
//! permissions [`PERMISSION_LIFETIME`], channels [`CHANNEL_LIFETIME`] (RFC 8656 §7, §9, §12).
//! Expired state is removed at [`Node::handle_timeout`] and before every datagram or TCP event
//! is handled, so a server that is only fed datagrams and events (as the simulator's built-in
//! services are) behaves the same. An allocation over TCP that expires leaves its connection
//! open (RFC 8656 does not ask to close it).
//!
//! Deterministic: nonces are derived from the seed given to [`TurnServer::new`] and the
//! client's address, relayed ports are taken in order from [`TurnServerConfig::relay_ports`].
//! Memory is bounded by [`MAX_ALLOCATIONS`], [`MAX_PERMISSIONS`], [`MAX_CHANNELS`],
//! [`MAX_STREAMS`], the queues' [`MAX_QUEUED`] and, per connection, less than one frame of
//! bytes held; every refusal is counted in [`TurnServerStats`].
//!
//! Not served (answered 420 Unknown Attribute or 400): DONT-FRAGMENT, EVEN-PORT,
//! RESERVATION-TOKEN, PASSWORD-ALGORITHM(S), USERHASH and MESSAGE-INTEGRITY-SHA256 (RFC 8489's
//! SHA-256 mechanisms), TCP allocations (RFC 6062: REQUESTED-TRANSPORT TCP gets 442), TLS to
//! the server (`tls` in [`TurnServerConfig::transports`] opens no port: a TLS layer would wrap
//! the stream of a connection before its framing), ICMP. Nonces do not go stale.

mod allocation;
mod auth;
mod relay;
mod requests;
mod stream;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use self::allocation::Allocation;
use self::stream::Stream;
use crate::node::{Node, TcpCommand, TcpConnId, TcpEvent, Transmit};
use crate::stun_server::StunServer;

pub use crate::stun_wire::rest_password;
use crate::stun_wire::{self as wire, Builder, Message};

/// Allocations at once; more get 486 Allocation Quota Reached.
pub const MAX_ALLOCATIONS: usize = 1024;
/// Permissions per allocation; more get 508 Insufficient Capacity.
pub const MAX_PERMISSIONS: usize = 64;
/// Channels per allocation; more get 508 Insufficient Capacity.
pub const MAX_CHANNELS: usize = 64;
/// Datagrams waiting to go out, and apart from them TCP commands; more are dropped and
/// counted.
pub const MAX_QUEUED: usize = 4096;
/// TCP connections of clients at once; more are aborted as they are accepted and counted.
pub const MAX_STREAMS: usize = 256;
/// A permission's lifetime (RFC 8656 §9).
pub const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
/// A channel binding's lifetime (RFC 8656 §12).
pub const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);
/// The default allocation lifetime (RFC 8656 §7.2), capped by the configured maximum.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(600);
/// The Unix time (seconds) that the virtual clock's start stands for, against which TURN REST
/// user names (`EXPIRY:NAME`) are checked: 2026-01-01T00:00:00Z. A runner that makes REST
/// credentials for a script computes `EXPIRY` from it (`REST_EPOCH + seconds valid`).
pub const REST_EPOCH: u64 = 1_767_225_600;

/// How clients authenticate (the long-term credential mechanism in both cases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnAuth {
    /// One user with a password.
    LongTerm {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// The TURN REST scheme: any user name `EXPIRY` or `EXPIRY:NAME` whose expiry (Unix
    /// seconds, against [`REST_EPOCH`] plus the virtual time elapsed) has not passed, with the
    /// password [`rest_password`]`(secret, username)`.
    Secret(String),
}

/// How a client reaches a TURN server (RFC 8656 §3.1; RFC 7065's `transport` and `turns`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TurnTransport {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
}

impl TurnTransport {
    /// Its name in scripts: `udp`, `tcp`, `tls`.
    pub fn as_str(self) -> &'static str {
        match self {
            TurnTransport::Udp => "udp",
            TurnTransport::Tcp => "tcp",
            TurnTransport::Tls => "tls",
        }
    }
}

impl std::str::FromStr for TurnTransport {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "udp" => Ok(TurnTransport::Udp),
            "tcp" => Ok(TurnTransport::Tcp),
            "tls" => Ok(TurnTransport::Tls),
            _ => Err(format!("unknown transport `{s}` (udp | tcp | tls)")),
        }
    }
}

impl fmt::Display for TurnTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A TURN server's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnServerConfig {
    /// The port it listens on (on each of the host's addresses).
    pub port: u16,
    /// REALM.
    pub realm: String,
    /// Credentials it accepts.
    pub auth: TurnAuth,
    /// The longest allocation lifetime it grants.
    pub max_lifetime: Duration,
    /// When set, every Allocate gets 300 Try Alternate naming this server.
    pub alternate: Option<SocketAddr>,
    /// The host's addresses: relayed addresses are taken on them, one per family.
    pub relay_ips: Vec<IpAddr>,
    /// Ports of relayed addresses.
    pub relay_ports: RangeInclusive<u16>,
    /// How clients may reach it (RFC 8656 §3.1): UDP and TCP on `port`, TLS over TCP on
    /// `tls_port` (with the feature `tls`, and a [`TlsIdentity`]).
    pub transports: Vec<TurnTransport>,
    /// The TLS port, when `transports` has TLS.
    pub tls_port: Option<u16>,
    /// Who it is over TLS: the certificate it presents comes from the run's simulated
    /// certificate authority. `None`: TLS is not served.
    pub tls_identity: Option<TlsIdentity>,
}

/// A simulated server's TLS identity: the seed of the run's certificate authority
/// (`ice_netsim::tls::SimCa`, feature `tls`) and the name its certificate carries (what
/// clients put in `turns:NAME:PORT` and check, RFC 6125).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsIdentity {
    /// The certificate authority's seed.
    pub ca_seed: [u8; 32],
    /// The DNS name (or IP address) in the certificate.
    pub name: String,
}

impl TurnServerConfig {
    /// A server on `port` of a host with addresses `relay_ips`, with the defaults of the
    /// topology format (realm, 600 s, no alternate, relayed ports 49152..=65535, UDP only).
    pub fn new(port: u16, auth: TurnAuth, relay_ips: Vec<IpAddr>) -> Self {
        TurnServerConfig {
            port,
            realm: "example".to_owned(),
            auth,
            max_lifetime: DEFAULT_LIFETIME,
            alternate: None,
            relay_ips,
            relay_ports: 49152..=65535,
            transports: vec![TurnTransport::Udp],
            tls_port: None,
            tls_identity: None,
        }
    }
}

/// Counters of a TURN server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TurnServerStats {
    /// Binding requests answered.
    pub bindings: u64,
    /// Allocations made.
    pub allocations: u64,
    /// Allocations that expired (or were deleted by a Refresh with LIFETIME 0).
    pub allocations_ended: u64,
    /// Refreshes granted.
    pub refreshes: u64,
    /// Permissions installed or refreshed.
    pub permissions: u64,
    /// Channels bound or refreshed.
    pub channel_binds: u64,
    /// Requests answered 401 (no credentials, or wrong ones) or 438.
    pub unauthenticated: u64,
    /// Allocates answered 300 Try Alternate.
    pub redirected: u64,
    /// Other error responses (400, 420, 437, 440, 441, 442, 486, 508).
    pub errors: u64,
    /// Datagrams relayed from a client to a peer (Send indications and ChannelData).
    pub relayed_to_peer: u64,
    /// Datagrams relayed from a peer to a client (Data indications and ChannelData).
    pub relayed_to_client: u64,
    /// Datagrams dropped for want of a permission (either direction) or of a channel.
    pub no_permission: u64,
    /// Datagrams (and frames of a stream) dropped: malformed, not for this server, no
    /// allocation, or the queue full.
    pub dropped: u64,
    /// Clients over TCP.
    pub tcp: TurnTcpStats,
}

/// Counters of a TURN server's clients over TCP ([`TurnServerStats::tcp`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TurnTcpStats {
    /// Connections accepted on the listening ports (TLS ones included).
    pub accepted: u64,
    /// Of those, the ones on the TLS port.
    pub tls_accepted: u64,
    /// Connections the client ended (its FIN, or an RST, or its stack gave up).
    pub closed: u64,
    /// Connections the server aborted because their bytes were neither STUN nor ChannelData.
    pub broken: u64,
    /// Connections aborted as they were accepted: [`MAX_STREAMS`] were open.
    pub refused: u64,
    /// Allocations made over a TCP connection (also counted in
    /// [`TurnServerStats::allocations`]).
    pub allocations: u64,
    /// Allocations deleted because their connection ended (also counted in
    /// [`TurnServerStats::allocations_ended`]).
    pub allocations_closed: u64,
}

/// How a client's messages reach the server and its answers leave: the transport half of RFC
/// 8656 §2's 5-tuple. The transport decides nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Via {
    /// Datagrams.
    Udp,
    /// A stream: the TCP connection (TLS will wrap the same stream).
    Stream(TcpConnId),
}

/// RFC 8656 §2's 5-tuple of a client: its address, the server's address it reached, and the
/// transport (over TCP the connection, whose ends are those two addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct FiveTuple {
    client: SocketAddr,
    server: SocketAddr,
    via: Via,
}

/// A TURN server on one host. See the [module docs](self).
#[derive(Debug)]
pub struct TurnServer {
    config: TurnServerConfig,
    base: Instant,
    nonce_key: [u8; 32],
    stun: StunServer,
    /// By the client's 5-tuple.
    allocations: BTreeMap<FiveTuple, Allocation>,
    /// Relayed address to the allocation's key.
    relays: BTreeMap<SocketAddr, FiveTuple>,
    /// The clients' TCP connections.
    streams: BTreeMap<TcpConnId, Stream>,
    /// The certificate and key it presents over TLS.
    #[cfg(feature = "tls")]
    tls_cert: Option<stream::TlsCert>,
    next_port: u16,
    queue: VecDeque<Transmit>,
    tcp_queue: VecDeque<TcpCommand>,
    stats: TurnServerStats,
}

impl TurnServer {
    /// A server with `config`, whose virtual clock started at `base` (for REST expiries) and
    /// whose nonces derive from `seed`.
    pub fn new(config: TurnServerConfig, base: Instant, seed: [u8; 32]) -> Self {
        let next_port = *config.relay_ports.start();
        #[cfg(feature = "tls")]
        let tls_cert = stream::TlsCert::new(&config, seed);
        let mut tcp_queue = VecDeque::new();
        let mut listen = |port: u16| {
            for ip in &config.relay_ips {
                tcp_queue.push_back(TcpCommand::Listen {
                    addr: SocketAddr::new(*ip, port),
                });
            }
        };
        if config.transports.contains(&TurnTransport::Tcp) {
            listen(config.port);
        }
        #[cfg(feature = "tls")]
        if let (Some(port), Some(_)) = (config.tls_port, &tls_cert) {
            listen(port);
        }
        TurnServer {
            config,
            base,
            nonce_key: seed,
            stun: StunServer::new(),
            allocations: BTreeMap::new(),
            relays: BTreeMap::new(),
            streams: BTreeMap::new(),
            #[cfg(feature = "tls")]
            tls_cert,
            next_port,
            queue: VecDeque::new(),
            tcp_queue,
            stats: TurnServerStats::default(),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &TurnServerConfig {
        &self.config
    }

    /// Its counters.
    pub fn stats(&self) -> TurnServerStats {
        let mut s = self.stats;
        s.bindings = self.stun.stats().answered + self.stun.stats().answered_classic;
        s
    }

    /// Allocations alive.
    pub fn allocation_count(&self) -> usize {
        self.allocations.len()
    }

    /// The relayed addresses of live allocations, in order.
    pub fn relayed_addresses(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.relays.keys().copied()
    }

    /// Clients' TCP connections open.
    pub fn connection_count(&self) -> usize {
        self.streams.len()
    }

    /// Whether it serves clients over `transport` (TLS only with the feature `tls`, a
    /// [`TurnServerConfig::tls_identity`] and a `tls_port`).
    pub fn serves_transport(&self, transport: TurnTransport) -> bool {
        let tls_ready = cfg!(feature = "tls")
            && self.config.tls_port.is_some()
            && self.config.tls_identity.is_some();
        (transport != TurnTransport::Tls || tls_ready)
            && self.config.transports.contains(&transport)
    }

    /// Whether a datagram to `to` is this server's: its listening port (when it serves UDP) or
    /// a relayed address.
    pub fn serves(&self, to: SocketAddr) -> bool {
        (to.port() == self.config.port && self.serves_transport(TurnTransport::Udp))
            || self.relays.contains_key(&to)
    }

    /// Whether its host's TCP stack's `event` is this server's: a connection accepted on its
    /// listening port, or an event of a connection it owns. (The simulator hands a built-in
    /// server these events and leaves the others to the host's node.)
    pub fn claims(&self, event: &TcpEvent) -> bool {
        match event {
            TcpEvent::Accepted { listener, .. } => {
                self.config.relay_ips.contains(&listener.ip())
                    && self.transport_of(*listener).is_some()
            }
            TcpEvent::Data { conn, .. }
            | TcpEvent::Closed { conn }
            | TcpEvent::Reset { conn, .. } => self.streams.contains_key(conn),
            _ => false,
        }
    }

    /// The transport clients use on `listener`, when the server listens there.
    fn transport_of(&self, listener: SocketAddr) -> Option<TurnTransport> {
        if listener.port() == self.config.port && self.serves_transport(TurnTransport::Tcp) {
            Some(TurnTransport::Tcp)
        } else if Some(listener.port()) == self.config.tls_port
            && self.serves_transport(TurnTransport::Tls)
        {
            Some(TurnTransport::Tls)
        } else {
            None
        }
    }

    /// Queues a datagram.
    fn push(&mut self, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        if self.queue.len() >= MAX_QUEUED {
            self.stats.dropped += 1;
        } else {
            self.queue.push_back(Transmit { from, to, data });
        }
    }

    /// Queues a command for the host's TCP stack.
    fn push_tcp(&mut self, cmd: TcpCommand) {
        if self.tcp_queue.len() >= MAX_QUEUED {
            self.stats.dropped += 1;
        } else {
            self.tcp_queue.push_back(cmd);
        }
    }

    /// Sends `data` to the client of `five` the way it came: a datagram from the address it
    /// reached, or bytes on its connection.
    fn reply(&mut self, five: FiveTuple, data: Vec<u8>) {
        match five.via {
            Via::Udp => self.push(five.server, five.client, data),
            Via::Stream(conn) => self.stream_send(conn, data),
        }
    }

    fn error(&mut self, m: &Message<'_>, key: &[u8], code: u16, reason: &str) -> Vec<u8> {
        self.stats.errors += 1;
        Builder::new(m.method, wire::ERROR, m.txid)
            .error(code, reason)
            .finish(Some(key))
    }

    /// A datagram from a client, or a frame of its stream: the one path both transports take.
    fn handle_client(&mut self, now: Instant, five: FiveTuple, data: &[u8]) {
        let FiveTuple { client, server, .. } = five;
        // ChannelData (RFC 8656 §12.4): the first two bits 01.
        if data.first().is_some_and(|b| b & 0xC0 == 0x40) {
            if data.len() < 4 {
                self.stats.dropped += 1;
                return;
            }
            let number = u16::from_be_bytes([data[0], data[1]]);
            if !(0x4000..=0x4FFF).contains(&number) {
                // 0x5000..=0x7FFF are reserved (RFC 8656 §12).
                self.stats.dropped += 1;
                return;
            }
            let len = usize::from(u16::from_be_bytes([data[2], data[3]]));
            let peer = self
                .allocations
                .get(&five)
                .and_then(|a| a.channels.get(&number))
                .map(|(p, _)| *p);
            match (data.get(4..4 + len), peer) {
                (Some(payload), Some(peer)) => self.relay_out(now, five, Some(peer), payload),
                (None, _) => self.stats.dropped += 1,
                (Some(_), None) => self.stats.no_permission += 1,
            }
            return;
        }
        let Some(m) = Message::parse(data) else {
            // Classic RFC 3489 Binding requests and anything else go to the STUN half.
            self.stun.handle_datagram(now, client, server, data);
            self.drain_stun(five);
            return;
        };
        match (m.method, m.class) {
            (wire::BINDING, _) => {
                self.stun.handle_datagram(now, client, server, data);
                self.drain_stun(five);
            }
            (wire::SEND, wire::INDICATION) => {
                let peer = m
                    .attr(wire::ATTR_XOR_PEER_ADDRESS)
                    .and_then(|v| Message::xor_address(v, &m.txid));
                match (m.attr(wire::ATTR_DATA), peer) {
                    (Some(payload), Some(peer)) => self.relay_out(now, five, Some(peer), payload),
                    _ => self.stats.dropped += 1,
                }
            }
            (_, wire::REQUEST) => self.handle_request(now, &m, five),
            _ => self.stats.dropped += 1,
        }
    }

    /// The STUN half's answers, sent back the way the request came.
    fn drain_stun(&mut self, five: FiveTuple) {
        while let Some(t) = self.stun.poll_transmit() {
            self.reply(five, t.data);
        }
    }
}

/// Seconds, as LIFETIME carries them.
fn secs(d: Duration) -> [u8; 4] {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX).to_be_bytes()
}

impl Node for TurnServer {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        self.expire(now);
        if self.relays.contains_key(&to) {
            self.relay_in(now, from, to, data);
        } else if self.serves(to) {
            let five = FiveTuple {
                client: from,
                server: to,
                via: Via::Udp,
            };
            self.handle_client(now, five, data);
        } else {
            self.stats.dropped += 1;
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.queue.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next_expiry()
    }

    fn poll_tcp(&mut self) -> Option<TcpCommand> {
        self.tcp_queue.pop_front()
    }

    fn handle_tcp(&mut self, now: Instant, event: TcpEvent) {
        self.expire(now);
        self.stream_event(now, event);
    }
}
