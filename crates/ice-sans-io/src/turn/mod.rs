//! A sans-IO TURN client (RFC 8656) on the crate's STUN codec: one allocation on one server,
//! its permissions and channels, and the relaying of data through it. Usable alone; the ICE
//! agent drives one per host candidate and TURN server for its relayed candidates
//! ([`IceAgent::add_turn_server`](crate::IceAgent::add_turn_server)).
//!
//! # The drive loop
//!
//! The caller owns the socket to the server and the clock, as with the agent. Methods come in
//! four families (quinn-proto's): getters (`&self`), inputs (`handle_receive`,
//! `handle_timeout`), verbs (`allocate`, `create_permission`, `bind_channel`, `send_to`,
//! `close`) and outputs (`poll_transmit`, `poll_event`, `poll_timeout`, all `#[must_use]`).
//! **After every input or verb, drain `poll_transmit` until `None`, then `poll_event` until
//! `None`, then read `poll_timeout`** and call `handle_timeout` when it comes (calling early
//! does nothing).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use ice_sans_io::turn::{TurnClient, TurnConfig, TurnCredentials, TurnEvent, TurnReceived};
//!
//! let server = "192.0.2.1:3478".parse()?;
//! let base = "10.0.0.1:5000".parse()?;
//! let creds = TurnCredentials::rest(b"shared secret", 1_900_000_000, "romeo");
//! let mut turn = TurnClient::new(TurnConfig::default(), server, base, creds, [7; 32])?;
//! let mut now = Instant::now(); // the caller's clock; the client reads none
//! turn.allocate(now)?;
//! loop {
//!     while let Some(t) = turn.poll_transmit() {
//!         // socket.send_to(t.data, t.remote), from t.local
//!         # let _ = t;
//!     }
//!     while let Some(e) = turn.poll_event() {
//!         if let TurnEvent::Allocated { relayed, .. } = e {
//!             // signal `relayed` to the peer; create_permission(now, peer_ip); ...
//!             # let _ = relayed;
//!         }
//!     }
//!     let Some(at) = turn.poll_timeout() else { break };
//!     // wait for the socket or `at`; here nothing answers, so the time comes:
//!     now = now.max(at);
//!     turn.handle_timeout(now);
//!     // a datagram `d` from `from`:
//!     // match turn.handle_receive(now, from, d) { TurnReceived::Data { peer, data } => .., _ => .. }
//! }
//! // Nobody answered: RFC 8489 §6.2.1's 7 requests and 39.5 s later the Allocate failed.
//! # use ice_sans_io::turn::{TurnFailure, TurnState};
//! assert_eq!(turn.state(), TurnState::Failed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What it does (RFC 8656)
//!
//! - Allocate with REQUESTED-TRANSPORT UDP (§7.1), REQUESTED-ADDRESS-FAMILY when
//!   [`TurnConfig::family`] asks, LIFETIME when [`TurnConfig::lifetime`] does, SOFTWARE, and
//!   the long-term credential mechanism (RFC 8489 §9.2): the first request unsigned, then on
//!   401 with REALM and NONCE the signed retry; 438 Stale Nonce renews the nonce and retries
//!   (bounded for Allocate, once per request otherwise, for every method); 300 Try Alternate
//!   followed once to ALTERNATE-SERVER (RFC 8489 §10). Every other answer is a typed
//!   [`TurnFailure`]; a server that never answers fails after RFC 8489 §6.2.1's retransmissions.
//! - Refresh before the lifetime runs out (§8), and LIFETIME 0 on [`TurnClient::close`].
//! - CreatePermission per peer IP, refreshed before its 300 s (§9); ChannelBind with channel
//!   numbers from 0x4000 up, refreshed before its 600 s (§12), which also refreshes the
//!   permission (§12.1).
//! - [`TurnClient::send_to`]: a Send indication (§11.1) until the peer's channel is bound,
//!   ChannelData (§12.4) after, written into a reused buffer (no allocation per datagram).
//! - [`TurnClient::handle_receive`]: Data indications (§11.4) and ChannelData (§12.5, padded or
//!   not), borrowed; data from a peer without a permission is dropped and counted.
//!   Datagrams from other addresses, and STUN messages of other methods from the server (a
//!   Binding response when one server does STUN and TURN), are [`TurnReceived::NotForUs`]:
//!   the caller hands them to whoever else reads the socket, such as the ICE agent.
//!
//! # Deviations and limits
//!
//! - Success responses to signed requests must carry a correct MESSAGE-INTEGRITY (RFC 8489
//!   §9.2.5); error responses are taken without one (a 401 or 438 cannot carry it), but one
//!   that is present and wrong drops the response.
//! - A Refresh that fails loses the allocation ([`TurnEvent::AllocationLost`]): the client does
//!   not re-allocate by itself.
//! - [`TurnClient::close`] while the Allocate is still in flight closes at once: an allocation
//!   the server made meanwhile is left to expire (RFC 8656 §8 frees it after its lifetime).
//! - Only the ERROR-CODE of an error response is read with no MESSAGE-INTEGRITY required (RFC
//!   8489 §9.2.5 requires it for most codes); a forged error from an on-path sender can fail a
//!   request. FINGERPRINT is not required of responses.
//! - Over TCP (and TLS, which the caller runs) the caller cuts the stream into messages: one
//!   STUN message or one ChannelData per `handle_receive` call.
//!   [`Deframer::stun_stream`](crate::framing::Deframer::stun_stream) does it (RFC 8656 §12.5:
//!   the messages' own lengths, ChannelData padded to 4), and says when the stream holds
//!   something else and cannot be followed: then close the connection. An allocation over a
//!   stream lives on its connection: when it closes, tell the client
//!   ([`TurnClient::handle_connection_lost`]). The ICE agent does all this itself for servers
//!   added with [`IceAgent::add_turn_server_over`](crate::IceAgent::add_turn_server_over).
//! - Only MESSAGE-INTEGRITY (SHA-1) is used; the SHA-256 variant and USERHASH of RFC 8489 are
//!   not offered (coturn and deployed servers accept SHA-1).

mod channel;
mod config;
mod event;
mod receive;
mod requests;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use crate::stun::{Attribute, Class, IntegrityKey, MessageBuilder, Method};
use crate::transmit::Transmit;

pub use channel::{
    CHANNEL_HEADER_LEN, CHANNEL_MAX, CHANNEL_MIN, channel_data_len, decode_channel_data,
    encode_channel_data, is_channel_number, looks_like_channel_data,
};
pub use config::{AddressFamily, TurnConfig, TurnCredentials, TurnTransport};
pub use event::{TurnDrop, TurnError, TurnEvent, TurnFailure, TurnReceived, TurnState, TurnStats};

use requests::{Tx, TxKind};

/// The lifetime of a permission (RFC 8656 §9).
pub const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
/// The lifetime of a channel binding (RFC 8656 §12).
pub const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);

/// The realm, the current nonce and the long-term key (RFC 8489 §9.2).
#[derive(Debug, Clone)]
struct Auth {
    realm: String,
    nonce: String,
    key: IntegrityKey,
}

/// A permission for one peer IP (RFC 8656 §9).
#[derive(Debug, Clone)]
struct Permission {
    ip: IpAddr,
    /// Installed by a success (CreatePermission or ChannelBind) and not expired.
    expires_at: Option<Instant>,
    /// When the next CreatePermission goes out (first or refresh).
    due: Instant,
    in_flight: bool,
}

/// A channel binding (RFC 8656 §12).
#[derive(Debug, Clone)]
struct Channel {
    peer: SocketAddr,
    number: u16,
    bound: bool,
    /// When the binding the server installed runs out: [`CHANNEL_LIFETIME`] after the last
    /// ChannelBind success (RFC 8656 §12). Past it the server discards the channel's data.
    expires_at: Option<Instant>,
    due: Instant,
    in_flight: bool,
}

/// Room for one request: USERNAME, REALM, NONCE and SOFTWARE at their longest fit.
const MAX_REQUEST: usize = 4096;

/// One TURN allocation and what hangs on it. See the [module docs](self) for the drive loop.
#[derive(Debug)]
pub struct TurnClient {
    cfg: TurnConfig,
    server: SocketAddr,
    base: SocketAddr,
    creds: TurnCredentials,
    rng: ChaCha8Rng,
    state: TurnState,
    auth: Option<Auth>,
    redirected: bool,
    stale_nonces: u32,
    relayed: Option<SocketAddr>,
    mapped: Option<SocketAddr>,
    lifetime: Duration,
    refresh_at: Option<Instant>,
    expires_at: Option<Instant>,
    permissions: Vec<Permission>,
    channels: Vec<Channel>,
    txs: Vec<Tx>,
    out: crate::outqueue::OutQueue<SocketAddr, MAX_REQUEST>,
    events: VecDeque<TurnEvent>,
    stats: TurnStats,
    send_buf: Vec<u8>,
}

impl TurnClient {
    /// A client for `server`, sending from `base` (the caller's socket), with `credentials`;
    /// transaction IDs come from a ChaCha8 RNG seeded with `rng_seed`, so a seed replays a run.
    pub fn new(
        config: TurnConfig,
        server: SocketAddr,
        base: SocketAddr,
        credentials: TurnCredentials,
        rng_seed: [u8; 32],
    ) -> Result<Self, TurnError> {
        credentials.check()?;
        if server.is_ipv4() != base.is_ipv4() {
            return Err(TurnError::FamilyMismatch);
        }
        Ok(TurnClient {
            cfg: config,
            server,
            base,
            creds: credentials,
            rng: ChaCha8Rng::from_seed(rng_seed),
            state: TurnState::Idle,
            auth: None,
            redirected: false,
            stale_nonces: 0,
            relayed: None,
            mapped: None,
            lifetime: Duration::ZERO,
            refresh_at: None,
            expires_at: None,
            permissions: Vec::new(),
            channels: Vec::new(),
            txs: Vec::new(),
            out: Default::default(),
            events: VecDeque::new(),
            stats: TurnStats::default(),
            send_buf: Vec::new(),
        })
    }

    // ---- getters ----

    /// Where the allocation stands.
    pub fn state(&self) -> TurnState {
        self.state
    }

    /// XOR-RELAYED-ADDRESS, while allocated.
    pub fn relayed_address(&self) -> Option<SocketAddr> {
        self.relayed
    }

    /// XOR-MAPPED-ADDRESS of the Allocate success: the base as the server saw it.
    pub fn mapped_address(&self) -> Option<SocketAddr> {
        self.mapped
    }

    /// The server talked to (ALTERNATE-SERVER after a 300).
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// The local address datagrams leave from.
    pub fn base(&self) -> SocketAddr {
        self.base
    }

    /// Whether a permission for `ip` is installed and not expired at `now`.
    pub fn has_permission(&self, now: Instant, ip: IpAddr) -> bool {
        self.permission(ip)
            .is_some_and(|p| p.expires_at.is_some_and(|e| e > now))
    }

    /// The channel bound to `peer`, once the ChannelBind succeeded (and until it fails; a
    /// binding whose refresh has not succeeded within 600 s is not used by [`Self::send_to`]).
    pub fn channel(&self, peer: SocketAddr) -> Option<u16> {
        self.channels
            .iter()
            .find(|c| c.peer == peer && c.bound)
            .map(|c| c.number)
    }

    /// Counters.
    pub fn stats(&self) -> &TurnStats {
        &self.stats
    }

    // ---- verbs ----

    /// Starts the allocation (RFC 8656 §7.1): an Allocate without credentials, which the server
    /// answers 401 with its REALM and NONCE (RFC 8489 §9.2.3). Allowed when idle or failed.
    pub fn allocate(&mut self, now: Instant) -> Result<(), TurnError> {
        if !matches!(self.state, TurnState::Idle | TurnState::Failed) {
            return Err(TurnError::AlreadyStarted);
        }
        self.state = TurnState::Allocating;
        self.auth = None;
        self.redirected = false;
        self.stale_nonces = 0;
        self.start(now, TxKind::Allocate, false);
        Ok(())
    }

    /// Asks for a permission for `peer` (RFC 8656 §9), kept and refreshed until `close`. May be
    /// called while allocating: the request leaves once allocated. Idempotent.
    pub fn create_permission(&mut self, now: Instant, peer: IpAddr) -> Result<(), TurnError> {
        self.check_open()?;
        if self.permission(peer).is_none() {
            self.add_permission(now, peer)?;
        }
        self.pump(now);
        Ok(())
    }

    /// Binds a channel to `peer` (RFC 8656 §12) and returns its number; data goes as
    /// ChannelData once [`TurnEvent::ChannelBound`] came. The binding also installs the
    /// permission for the peer's IP (§12.1). Idempotent.
    pub fn bind_channel(&mut self, now: Instant, peer: SocketAddr) -> Result<u16, TurnError> {
        self.check_open()?;
        if let Some(c) = self.channels.iter().find(|c| c.peer == peer) {
            return Ok(c.number);
        }
        let Some(number) = self.free_channel_number() else {
            self.stats.channels_refused += 1;
            return Err(TurnError::TooManyChannels);
        };
        if self.permission(peer.ip()).is_none() {
            self.add_permission(now, peer.ip())?;
        }
        self.channels.push(Channel {
            peer,
            number,
            bound: false,
            expires_at: None,
            due: now,
            in_flight: false,
        });
        self.pump(now);
        Ok(number)
    }

    /// Wraps `data` for `peer`: ChannelData when its channel is bound and the binding has not
    /// run out (RFC 8656 §12.4, padded over TCP; a refresh that is late, waiting for a
    /// transaction slot or unanswered, does not keep it), else a Send indication (§11.1) when a
    /// permission is installed. The returned
    /// [`Transmit`] borrows a buffer the client reuses: no allocation per datagram once it has
    /// grown to the largest size sent.
    pub fn send_to(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        data: &[u8],
    ) -> Result<Transmit<'_>, TurnError> {
        // RFC 8656 §7: past its lifetime the server holds no allocation, even when the timer
        // that notices it (`handle_timeout`) has not run yet.
        if self.state != TurnState::Allocated || self.expires_at.is_some_and(|e| e <= now) {
            return Err(TurnError::NotAllocated);
        }
        let channel = self
            .channels
            .iter()
            .find(|c| c.peer == peer && c.bound && c.expires_at.is_some_and(|e| e > now))
            .map(|c| c.number);
        let len = if let Some(number) = channel {
            let pad = self.stream();
            let n = channel_data_len(data.len(), pad);
            self.send_buf.resize(n, 0);
            let n = encode_channel_data(number, data, pad, &mut self.send_buf)
                .ok_or(TurnError::TooLarge)?;
            self.stats.channel_data_sent += 1;
            n
        } else {
            if !self.has_permission(now, peer.ip()) {
                return Err(TurnError::NoPermission(peer.ip()));
            }
            // Header, XOR-PEER-ADDRESS (IPv6 at most), DATA padded.
            let need = 20 + 24 + 4 + ((data.len() + 3) & !3);
            self.send_buf.resize(need, 0);
            let tid = crate::retransmit::random_tid(&mut self.rng);
            let build = |buf: &mut [u8]| {
                let mut b = MessageBuilder::new(buf, Class::Indication, Method::SEND, tid)?;
                b.add(&Attribute::XorPeerAddress(peer))?;
                b.add(&Attribute::Data(data))?;
                Ok::<_, crate::stun::BuildError>(b.finish())
            };
            let n = build(&mut self.send_buf).map_err(|_| TurnError::TooLarge)?;
            self.stats.send_indications += 1;
            n
        };
        Ok(Transmit {
            local: self.base,
            remote: self.server,
            protocol: self.cfg.protocol,
            connection: None,
            data: &self.send_buf[..len],
        })
    }

    /// Releases the allocation: a Refresh with LIFETIME 0 (RFC 8656 §8), then
    /// [`TurnEvent::Closed`]. Without an allocation, closes at once.
    pub fn close(&mut self, now: Instant) {
        match self.state {
            TurnState::Allocated => {
                // Nothing but the release goes out from now on.
                self.permissions.clear();
                self.channels.clear();
                self.txs.clear();
                self.refresh_at = None;
                self.state = TurnState::Closing;
                self.start(now, TxKind::Refresh { lifetime: Some(0) }, false);
            }
            TurnState::Closing | TurnState::Closed => {}
            _ => self.closed(),
        }
    }

    /// The stream to the server (TCP or TLS) closed, failed to open or broke: an allocation
    /// made over it is tied to its 5-tuple (RFC 8656 §2.2) and gone with it, and nothing can
    /// be sent any more. Allocating: [`TurnEvent::AllocationFailed`] with `reason`; allocated:
    /// [`TurnEvent::AllocationLost`] with `reason`; closing: [`TurnEvent::Closed`] (the
    /// release is moot). Otherwise nothing happens.
    pub fn handle_connection_lost(&mut self, reason: TurnFailure) {
        match self.state {
            TurnState::Allocating => {
                self.auth = None;
                self.end(TurnState::Failed, TurnEvent::AllocationFailed(reason));
            }
            TurnState::Allocated => self.lost(reason),
            TurnState::Closing => self.closed(),
            TurnState::Idle | TurnState::Closed | TurnState::Failed => {}
        }
        self.out.clear();
    }

    // ---- outputs ----

    /// The next datagram to send to the server.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        let (remote, data) = self.out.pop()?;
        Some(Transmit {
            local: self.base,
            remote,
            protocol: self.cfg.protocol,
            connection: None,
            data,
        })
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<TurnEvent> {
        self.events.pop_front()
    }

    /// When to call [`Self::handle_timeout`] next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut at = self.txs.iter().map(|t| t.next_at).min();
        let mut take = |t: Option<Instant>| {
            if let Some(t) = t {
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        };
        if self.state == TurnState::Allocated {
            if !self
                .txs
                .iter()
                .any(|t| matches!(t.kind, TxKind::Refresh { .. }))
            {
                take(self.refresh_at);
            }
            take(self.expires_at);
            if self.txs.len() < self.cfg.max_transactions {
                take(
                    self.permissions
                        .iter()
                        .filter(|p| !p.in_flight)
                        .map(|p| p.due)
                        .min(),
                );
                take(
                    self.channels
                        .iter()
                        .filter(|c| !c.in_flight)
                        .map(|c| c.due)
                        .min(),
                );
            }
        }
        at
    }

    // ---- inputs ----

    /// Retransmits, times out, refreshes what is due. Early calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.timeout_transactions(now);
        if self.state == TurnState::Allocated {
            if self.expires_at.is_some_and(|e| e <= now) {
                self.lost(TurnFailure::Expired);
                return;
            }
            let refreshing = self
                .txs
                .iter()
                .any(|t| matches!(t.kind, TxKind::Refresh { .. }));
            if !refreshing && self.refresh_at.is_some_and(|r| r <= now) {
                let lifetime = self.requested_lifetime();
                self.start(now, TxKind::Refresh { lifetime }, false);
            }
        }
        self.pump(now);
    }

    // ---- internals shared by the submodules ----

    /// Whether the transport to the server is a stream (TCP): no retransmissions, padded
    /// ChannelData.
    fn stream(&self) -> bool {
        matches!(self.cfg.protocol, crate::candidate::Protocol::Tcp)
    }

    fn check_open(&self) -> Result<(), TurnError> {
        match self.state {
            TurnState::Allocating | TurnState::Allocated => Ok(()),
            _ => Err(TurnError::NotAllocated),
        }
    }

    fn permission(&self, ip: IpAddr) -> Option<&Permission> {
        self.permissions.iter().find(|p| p.ip == ip)
    }

    fn add_permission(&mut self, now: Instant, ip: IpAddr) -> Result<(), TurnError> {
        if self.permissions.len() >= self.cfg.max_permissions {
            self.stats.permissions_refused += 1;
            return Err(TurnError::TooManyPermissions);
        }
        self.permissions.push(Permission {
            ip,
            expires_at: None,
            due: now,
            in_flight: false,
        });
        Ok(())
    }

    fn free_channel_number(&self) -> Option<u16> {
        if self.channels.len() >= self.cfg.max_channels {
            return None;
        }
        (CHANNEL_MIN..=CHANNEL_MAX).find(|n| self.channels.iter().all(|c| c.number != *n))
    }

    fn requested_lifetime(&self) -> Option<u32> {
        self.cfg
            .lifetime
            .map(|l| u32::try_from(l.as_secs()).unwrap_or(u32::MAX))
    }

    /// When to refresh something of `lifetime` installed at `now`: `refresh_margin` before it
    /// runs out, at most half the lifetime early, and never sooner than a second.
    fn refresh_time(&self, now: Instant, lifetime: Duration) -> Instant {
        let margin = self.cfg.refresh_margin.min(lifetime / 2);
        later(
            now,
            lifetime.saturating_sub(margin).max(Duration::from_secs(1)),
        )
    }

    fn closed(&mut self) {
        self.end(TurnState::Closed, TurnEvent::Closed);
    }

    /// The allocation is gone (a Refresh failed, or it expired).
    fn lost(&mut self, reason: TurnFailure) {
        self.end(TurnState::Failed, TurnEvent::AllocationLost(reason));
    }

    /// No allocation any more: nothing hangs on it, nothing is due.
    fn end(&mut self, state: TurnState, event: TurnEvent) {
        self.state = state;
        self.relayed = None;
        self.refresh_at = None;
        self.expires_at = None;
        self.permissions.clear();
        self.channels.clear();
        self.txs.clear();
        self.events.push_back(event);
    }
}

/// `now + d`, saturating far in the future instead of overflowing.
fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(86_400 * 365)))
        .unwrap_or(now)
}
