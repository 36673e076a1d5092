//! A TURN server node (RFC 8656, the subset ICE needs over UDP), for `kind = "turn"` hosts.
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
//! Lifetimes run in virtual time: an allocation for the lifetime it granted (the requested one,
//! at most [`TurnServerConfig::max_lifetime`]; the default 600 s, also capped by it),
//! permissions [`PERMISSION_LIFETIME`], channels [`CHANNEL_LIFETIME`] (RFC 8656 §7, §9, §12).
//! Expired state is removed at [`Node::handle_timeout`] and before every datagram is handled,
//! so a server that is only fed datagrams (as the simulator's built-in services are) behaves
//! the same.
//!
//! Deterministic: nonces are derived from the seed given to [`TurnServer::new`] and the
//! client's address, relayed ports are taken in order from [`TurnServerConfig::relay_ports`].
//! Memory is bounded by [`MAX_ALLOCATIONS`], [`MAX_PERMISSIONS`], [`MAX_CHANNELS`] and the
//! queue's [`MAX_QUEUED`]; every refusal is counted in [`TurnServerStats`].
//!
//! Not served (answered 420 Unknown Attribute or 400): DONT-FRAGMENT, EVEN-PORT,
//! RESERVATION-TOKEN, PASSWORD-ALGORITHM(S), USERHASH and MESSAGE-INTEGRITY-SHA256 (RFC 8489's
//! SHA-256 mechanisms), TCP allocations (RFC 6062), TCP and TLS transports to the server, ICMP.
//! Nonces do not go stale.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::node::{Node, Transmit};
use crate::stun_server::StunServer;

pub use crate::stun_wire::rest_password;
use crate::stun_wire::{self as wire, Builder, Message};

/// Allocations at once; more get 486 Allocation Quota Reached.
pub const MAX_ALLOCATIONS: usize = 1024;
/// Permissions per allocation; more get 508 Insufficient Capacity.
pub const MAX_PERMISSIONS: usize = 64;
/// Channels per allocation; more get 508 Insufficient Capacity.
pub const MAX_CHANNELS: usize = 64;
/// Datagrams waiting to go out; more are dropped and counted.
pub const MAX_QUEUED: usize = 4096;
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
}

impl TurnServerConfig {
    /// A server on `port` of a host with addresses `relay_ips`, with the defaults of the
    /// topology format (realm, 600 s, no alternate, relayed ports 49152..=65535).
    pub fn new(port: u16, auth: TurnAuth, relay_ips: Vec<IpAddr>) -> Self {
        TurnServerConfig {
            port,
            realm: "example".to_owned(),
            auth,
            max_lifetime: DEFAULT_LIFETIME,
            alternate: None,
            relay_ips,
            relay_ports: 49152..=65535,
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
    /// Datagrams dropped: malformed, not for this server, no allocation, or the queue full.
    pub dropped: u64,
}

#[derive(Debug)]
struct Allocation {
    relayed: SocketAddr,
    expires: Instant,
    username: String,
    allocate_txid: [u8; 12],
    allocate_response: Vec<u8>,
    permissions: BTreeMap<IpAddr, Instant>,
    /// Channel number to (peer, expiry).
    channels: BTreeMap<u16, (SocketAddr, Instant)>,
}

impl Allocation {
    fn permitted(&self, now: Instant, peer: IpAddr) -> bool {
        self.permissions.get(&peer).is_some_and(|&t| t > now)
    }
}

/// Who answered a request that failed authentication.
enum Auth {
    Ok { username: String, key: [u8; 16] },
    Refused(Vec<u8>),
}

/// A TURN server on one host. See the [module docs](self).
#[derive(Debug)]
pub struct TurnServer {
    config: TurnServerConfig,
    base: Instant,
    nonce_key: [u8; 32],
    stun: StunServer,
    /// By the client's address and the server address it reached (the 5-tuple over UDP).
    allocations: BTreeMap<(SocketAddr, SocketAddr), Allocation>,
    /// Relayed address to the allocation's key.
    relays: BTreeMap<SocketAddr, (SocketAddr, SocketAddr)>,
    next_port: u16,
    queue: VecDeque<Transmit>,
    stats: TurnServerStats,
}

impl TurnServer {
    /// A server with `config`, whose virtual clock started at `base` (for REST expiries) and
    /// whose nonces derive from `seed`.
    pub fn new(config: TurnServerConfig, base: Instant, seed: [u8; 32]) -> Self {
        let next_port = *config.relay_ports.start();
        TurnServer {
            config,
            base,
            nonce_key: seed,
            stun: StunServer::new(),
            allocations: BTreeMap::new(),
            relays: BTreeMap::new(),
            next_port,
            queue: VecDeque::new(),
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

    /// Whether a datagram to `to` is this server's: its listening port or a relayed address.
    pub fn serves(&self, to: SocketAddr) -> bool {
        to.port() == self.config.port || self.relays.contains_key(&to)
    }

    /// Removes what expired by `now`.
    fn expire(&mut self, now: Instant) {
        let ended: Vec<_> = self
            .allocations
            .iter()
            .filter(|(_, a)| a.expires <= now)
            .map(|(k, _)| *k)
            .collect();
        for k in ended {
            self.end(k);
        }
        for a in self.allocations.values_mut() {
            a.permissions.retain(|_, t| *t > now);
            a.channels.retain(|_, (_, t)| *t > now);
        }
    }

    /// Removes the allocation of `five` (expired, or deleted by a Refresh with LIFETIME 0).
    fn end(&mut self, five: (SocketAddr, SocketAddr)) {
        if let Some(a) = self.allocations.remove(&five) {
            self.relays.remove(&a.relayed);
            self.stats.allocations_ended += 1;
        }
    }

    fn push(&mut self, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        if self.queue.len() >= MAX_QUEUED {
            self.stats.dropped += 1;
        } else {
            self.queue.push_back(Transmit { from, to, data });
        }
    }

    /// The nonce of a client: deterministic, stateless (an HMAC of its address under a key
    /// from the seed), never stale.
    fn nonce(&self, client: SocketAddr) -> String {
        let tag = Hmac::<Sha1>::new_from_slice(&self.nonce_key)
            .map(|mut m| {
                m.update(client.to_string().as_bytes());
                m.finalize().into_bytes().to_vec()
            })
            .unwrap_or_default();
        tag[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The password of `username`, if the server knows it at `now`.
    fn password(&self, now: Instant, username: &str) -> Option<String> {
        match &self.config.auth {
            TurnAuth::LongTerm {
                username: u,
                password,
            } => (u == username).then(|| password.clone()),
            TurnAuth::Secret(secret) => {
                let expiry: u64 = username.split(':').next()?.parse().ok()?;
                let unix = REST_EPOCH + now.saturating_duration_since(self.base).as_secs();
                (expiry >= unix).then(|| rest_password(secret, username))
            }
        }
    }

    /// RFC 8489 §9.2.4: the long-term credential checks of a request.
    fn authenticate(&mut self, now: Instant, m: &Message<'_>, client: SocketAddr) -> Auth {
        let challenge = |s: &mut Self, code: u16, reason: &str| {
            s.stats.unauthenticated += 1;
            let nonce = s.nonce(client);
            Auth::Refused(
                Builder::new(m.method, wire::ERROR, m.txid)
                    .error(code, reason)
                    .attr(wire::ATTR_REALM, s.config.realm.as_bytes())
                    .attr(wire::ATTR_NONCE, nonce.as_bytes())
                    .finish(None),
            )
        };
        if m.attr(wire::ATTR_MESSAGE_INTEGRITY).is_none() {
            return challenge(self, 401, "Unauthorized");
        }
        let (Some(username), Some(realm), Some(nonce)) = (
            m.text(wire::ATTR_USERNAME),
            m.text(wire::ATTR_REALM),
            m.text(wire::ATTR_NONCE),
        ) else {
            self.stats.errors += 1;
            return Auth::Refused(
                Builder::new(m.method, wire::ERROR, m.txid)
                    .error(400, "Bad Request")
                    .finish(None),
            );
        };
        if nonce != self.nonce(client) {
            return challenge(self, 438, "Stale Nonce");
        }
        if realm != self.config.realm {
            return challenge(self, 401, "Unauthorized");
        }
        let Some(password) = self.password(now, username) else {
            return challenge(self, 401, "Unauthorized");
        };
        let key = wire::long_term_key(username, &self.config.realm, &password);
        if !m.integrity_ok(&key) {
            return challenge(self, 401, "Unauthorized");
        }
        Auth::Ok {
            username: username.to_owned(),
            key,
        }
    }

    fn error(&mut self, m: &Message<'_>, key: &[u8], code: u16, reason: &str) -> Vec<u8> {
        self.stats.errors += 1;
        Builder::new(m.method, wire::ERROR, m.txid)
            .error(code, reason)
            .finish(Some(key))
    }

    /// The lifetime granted for a request's LIFETIME (RFC 8656 §7.2, capped by the maximum).
    fn lifetime(&self, requested: Option<u32>) -> Duration {
        let max = self.config.max_lifetime;
        let default = DEFAULT_LIFETIME.min(max);
        requested.map_or(default, |s| {
            Duration::from_secs(u64::from(s)).min(max).max(default)
        })
    }

    /// A free relayed port, taken in order from the range.
    fn relay_port(&mut self, ip: IpAddr) -> Option<u16> {
        let range = self.config.relay_ports.clone();
        let span = usize::from(range.end() - range.start()) + 1;
        for _ in 0..span.min(MAX_ALLOCATIONS + 1) {
            let port = self.next_port;
            self.next_port = if port >= *range.end() {
                *range.start()
            } else {
                port + 1
            };
            if port != self.config.port && !self.relays.contains_key(&SocketAddr::new(ip, port)) {
                return Some(port);
            }
        }
        None
    }

    fn handle_request(
        &mut self,
        now: Instant,
        m: &Message<'_>,
        client: SocketAddr,
        server: SocketAddr,
    ) {
        let unknown = m.unknown_required();
        if let (wire::ALLOCATE, Some(alternate), None) = (
            m.method,
            self.config.alternate,
            m.attr(wire::ATTR_MESSAGE_INTEGRITY),
        ) {
            // RFC 8489 §10 lets the 300 go unauthenticated; coturn 4.6.1 answers the first,
            // unsigned Allocate so, and so does this server (a signed one gets a signed 300).
            self.stats.redirected += 1;
            let r = Builder::new(m.method, wire::ERROR, m.txid)
                .error(300, "Try Alternate")
                .address(wire::ATTR_ALTERNATE_SERVER, alternate)
                .finish(None);
            return self.push(server, client, r);
        }
        let auth = self.authenticate(now, m, client);
        let (username, key) = match auth {
            Auth::Ok { username, key } => (username, key),
            Auth::Refused(r) => return self.push(server, client, r),
        };
        if !unknown.is_empty() {
            let list: Vec<u8> = unknown.iter().flat_map(|t| t.to_be_bytes()).collect();
            self.stats.errors += 1;
            let r = Builder::new(m.method, wire::ERROR, m.txid)
                .error(420, "Unknown Attribute")
                .attr(wire::ATTR_UNKNOWN_ATTRIBUTES, &list)
                .finish(Some(&key));
            return self.push(server, client, r);
        }
        let five = (client, server);
        // RFC 8656 §5: requests on an existing allocation must come from its user (441).
        if let Some(a) = self.allocations.get(&five) {
            if a.username != username {
                let r = self.error(m, &key, 441, "Wrong Credentials");
                return self.push(server, client, r);
            }
        }
        let response = match m.method {
            wire::ALLOCATE => self.allocate(now, m, five, username, key),
            wire::REFRESH => self.refresh(now, m, five, &key),
            wire::CREATE_PERMISSION | wire::CHANNEL_BIND => self.permit(now, m, five, &key),
            _ => self.error(m, &key, 400, "Bad Request"),
        };
        self.push(server, client, response);
    }

    fn allocate(
        &mut self,
        now: Instant,
        m: &Message<'_>,
        five: (SocketAddr, SocketAddr),
        username: String,
        key: [u8; 16],
    ) -> Vec<u8> {
        if let Some(a) = self.allocations.get(&five) {
            // RFC 8656 §7.2: a retransmission gets the same answer; anything else is 437.
            if a.allocate_txid == m.txid {
                return a.allocate_response.clone();
            }
            return self.error(m, &key, 437, "Allocation Mismatch");
        }
        match m.attr(wire::ATTR_REQUESTED_TRANSPORT) {
            None => return self.error(m, &key, 400, "Bad Request"),
            Some(v) if v.first() != Some(&17) => {
                return self.error(m, &key, 442, "Unsupported Transport Protocol");
            }
            Some(_) => {}
        }
        if let Some(alternate) = self.config.alternate {
            self.stats.redirected += 1;
            return Builder::new(m.method, wire::ERROR, m.txid)
                .error(300, "Try Alternate")
                .address(wire::ATTR_ALTERNATE_SERVER, alternate)
                .finish(Some(&key));
        }
        let v6 = match m.attr(wire::ATTR_REQUESTED_ADDRESS_FAMILY) {
            None => false,
            Some([0x01, ..]) => false,
            Some([0x02, ..]) => true,
            Some(_) => return self.error(m, &key, 440, "Address Family not Supported"),
        };
        let Some(ip) = self
            .config
            .relay_ips
            .iter()
            .copied()
            .find(|ip| ip.is_ipv6() == v6)
        else {
            return self.error(m, &key, 440, "Address Family not Supported");
        };
        if self.allocations.len() >= MAX_ALLOCATIONS {
            return self.error(m, &key, 486, "Allocation Quota Reached");
        }
        let Some(port) = self.relay_port(ip) else {
            return self.error(m, &key, 508, "Insufficient Capacity");
        };
        let relayed = SocketAddr::new(ip, port);
        let lifetime = self.lifetime(m.u32(wire::ATTR_LIFETIME));
        let response = Builder::new(m.method, wire::SUCCESS, m.txid)
            .xor_address(wire::ATTR_XOR_RELAYED_ADDRESS, relayed)
            .attr(wire::ATTR_LIFETIME, &secs(lifetime))
            .xor_address(wire::ATTR_XOR_MAPPED_ADDRESS, five.0)
            .finish(Some(&key));
        self.stats.allocations += 1;
        self.relays.insert(relayed, five);
        self.allocations.insert(
            five,
            Allocation {
                relayed,
                expires: now + lifetime,
                username,
                allocate_txid: m.txid,
                allocate_response: response.clone(),
                permissions: BTreeMap::new(),
                channels: BTreeMap::new(),
            },
        );
        response
    }

    fn refresh(
        &mut self,
        now: Instant,
        m: &Message<'_>,
        five: (SocketAddr, SocketAddr),
        key: &[u8],
    ) -> Vec<u8> {
        let requested = m.u32(wire::ATTR_LIFETIME);
        let lifetime = if requested == Some(0) {
            Duration::ZERO
        } else {
            self.lifetime(requested)
        };
        let Some(a) = self.allocations.get_mut(&five) else {
            return self.error(m, key, 437, "Allocation Mismatch");
        };
        if lifetime.is_zero() {
            self.end(five);
        } else {
            a.expires = now + lifetime;
            self.stats.refreshes += 1;
        }
        Builder::new(m.method, wire::SUCCESS, m.txid)
            .attr(wire::ATTR_LIFETIME, &secs(lifetime))
            .finish(Some(key))
    }

    /// CreatePermission (RFC 8656 §10) and ChannelBind (§12.2), which installs a permission too.
    fn permit(
        &mut self,
        now: Instant,
        m: &Message<'_>,
        five: (SocketAddr, SocketAddr),
        key: &[u8],
    ) -> Vec<u8> {
        let peers: Option<Vec<SocketAddr>> = m
            .attrs(wire::ATTR_XOR_PEER_ADDRESS)
            .map(|v| Message::xor_address(v, &m.txid))
            .collect();
        let Some(a) = self.allocations.get(&five) else {
            return self.error(m, key, 437, "Allocation Mismatch");
        };
        let Some(peers) = peers.filter(|p| !p.is_empty() && p.len() <= MAX_PERMISSIONS) else {
            return self.error(m, key, 400, "Bad Request");
        };
        if peers.iter().any(|p| p.is_ipv4() != a.relayed.is_ipv4()) {
            return self.error(m, key, 443, "Peer Address Family Mismatch");
        }
        let fresh = peers
            .iter()
            .filter(|p| !a.permissions.contains_key(&p.ip()))
            .count();
        if a.permissions.len() + fresh > MAX_PERMISSIONS {
            return self.error(m, key, 508, "Insufficient Capacity");
        }
        let mut bind = None;
        if m.method == wire::CHANNEL_BIND {
            let number = m
                .attr(wire::ATTR_CHANNEL_NUMBER)
                .and_then(|v| Some(u16::from_be_bytes([*v.first()?, *v.get(1)?])));
            let peer = peers[0];
            let ok = number
                .filter(|n| (0x4000..=0x4FFF).contains(n))
                .filter(|n| {
                    // The channel is free or bound to this peer; the peer has no other channel.
                    a.channels.get(n).is_none_or(|(p, _)| *p == peer)
                        && a.channels.iter().all(|(c, (p, _))| c == n || *p != peer)
                });
            let Some(number) = ok.filter(|_| peers.len() == 1) else {
                return self.error(m, key, 400, "Bad Request");
            };
            if !a.channels.contains_key(&number) && a.channels.len() >= MAX_CHANNELS {
                return self.error(m, key, 508, "Insufficient Capacity");
            }
            bind = Some((number, peer));
        }
        // Looked up above; `get` and `self.error` borrowed it shared until here.
        let Some(a) = self.allocations.get_mut(&five) else {
            return self.error(m, key, 437, "Allocation Mismatch");
        };
        if let Some((number, peer)) = bind {
            a.channels.insert(number, (peer, now + CHANNEL_LIFETIME));
            self.stats.channel_binds += 1;
        }
        for p in &peers {
            a.permissions.insert(p.ip(), now + PERMISSION_LIFETIME);
            self.stats.permissions += 1;
        }
        Builder::new(m.method, wire::SUCCESS, m.txid).finish(Some(key))
    }

    /// A Send indication (RFC 8656 §11.2) or ChannelData (§12.4) from a client.
    fn relay_out(
        &mut self,
        now: Instant,
        five: (SocketAddr, SocketAddr),
        peer: Option<SocketAddr>,
        data: &[u8],
    ) {
        let Some(a) = self.allocations.get(&five) else {
            self.stats.dropped += 1;
            return;
        };
        match peer {
            Some(peer) if a.permitted(now, peer.ip()) => {
                let from = a.relayed;
                self.stats.relayed_to_peer += 1;
                self.push(from, peer, data.to_vec());
            }
            _ => self.stats.no_permission += 1,
        }
    }

    /// A datagram from a peer to a relayed address (RFC 8656 §11.3, §12.5).
    fn relay_in(&mut self, now: Instant, peer: SocketAddr, relayed: SocketAddr, data: &[u8]) {
        let Some(five) = self.relays.get(&relayed).copied() else {
            self.stats.dropped += 1;
            return;
        };
        let Some(a) = self.allocations.get(&five) else {
            self.stats.dropped += 1;
            return;
        };
        if !a.permitted(now, peer.ip()) {
            self.stats.no_permission += 1;
            return;
        }
        let out = match a.channels.iter().find(|(_, (p, _))| *p == peer) {
            Some((number, _)) => {
                let Ok(len) = u16::try_from(data.len()) else {
                    self.stats.dropped += 1;
                    return;
                };
                let mut out = Vec::with_capacity(4 + data.len());
                out.extend_from_slice(&number.to_be_bytes());
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(data);
                out
            }
            None => wire::finish_plain(
                Builder::new(wire::DATA, wire::INDICATION, self.txid_for(peer, data))
                    .xor_address(wire::ATTR_XOR_PEER_ADDRESS, peer)
                    .attr(wire::ATTR_DATA, data),
            ),
        };
        self.stats.relayed_to_client += 1;
        self.push(five.1, five.0, out);
    }

    /// A Data indication's transaction id: deterministic (a hash of what it carries under the
    /// seed's key); RFC 8489 §6 asks only that it be unlikely to repeat.
    fn txid_for(&self, peer: SocketAddr, data: &[u8]) -> [u8; 12] {
        let mut txid = [0u8; 12];
        if let Ok(mut m) = Hmac::<Sha1>::new_from_slice(&self.nonce_key) {
            m.update(b"data");
            m.update(peer.to_string().as_bytes());
            m.update(data);
            txid.copy_from_slice(&m.finalize().into_bytes()[..12]);
        }
        txid
    }

    fn handle_client(&mut self, now: Instant, client: SocketAddr, server: SocketAddr, data: &[u8]) {
        let five = (client, server);
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
            self.drain_stun();
            return;
        };
        match (m.method, m.class) {
            (wire::BINDING, _) => {
                self.stun.handle_datagram(now, client, server, data);
                self.drain_stun();
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
            (_, wire::REQUEST) => self.handle_request(now, &m, client, server),
            _ => self.stats.dropped += 1,
        }
    }

    fn drain_stun(&mut self) {
        while let Some(t) = self.stun.poll_transmit() {
            self.push(t.from, t.to, t.data);
        }
    }

    /// The next expiry, if anything is alive.
    fn next_expiry(&self) -> Option<Instant> {
        self.allocations
            .values()
            .flat_map(|a| {
                std::iter::once(a.expires)
                    .chain(a.permissions.values().copied())
                    .chain(a.channels.values().map(|(_, t)| *t))
            })
            .min()
    }
}

/// Seconds, as LIFETIME carries them.
fn secs(d: Duration) -> [u8; 4] {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX).to_be_bytes()
}

impl Node for TurnServer {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        self.expire(now);
        if to.port() == self.config.port {
            self.handle_client(now, from, to, data);
        } else {
            self.relay_in(now, from, to, data);
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
}
