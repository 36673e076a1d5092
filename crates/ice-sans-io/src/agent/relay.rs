//! Relayed candidates (RFC 8445 §5.1.1.2, RFC 8656): one [`TurnClient`] per host candidate
//! and TURN server of its address family, driven by the agent.
//!
//! - The allocations are gathered like server-reflexive candidates: paced by Ta among the
//!   gathering requests once [`IceAgent::gather`](super::IceAgent::gather) was called, and
//!   counted for [`Event::GatheringComplete`].
//! - An allocation gives a relayed local candidate (type preference 0, RFC 8445 §5.1.1.2; its
//!   related address is the mapped address the server saw, XEP-0371 `rel-addr`), whose base is
//!   itself: it pairs with every remote candidate of its family, and its pairs are pruned only
//!   against pairs of the same base (RFC 8445 §6.1.2.4), that is never against a host pair.
//!   The XOR-MAPPED-ADDRESS of the Allocate also gives a server-reflexive candidate, as a
//!   Binding response from a STUN server would (RFC 8445 §5.1.1.2).
//! - Each pair on a relayed candidate asks for a permission for the remote IP (RFC 8656 §9);
//!   its checks wait until the permission is installed, so the first check is not lost to the
//!   server's filter. The selected pair gets a channel (RFC 8656 §12): its data travels as
//!   ChannelData, four bytes of overhead instead of a Send indication's 36.
//! - Everything that arrives from a TURN server on the base the client sends from goes through
//!   the client first: responses are its own, Data indications and ChannelData are unwrapped
//!   and taken as datagrams that arrived on the relayed candidate, and what is not for the
//!   client (a Binding response when one server does STUN and TURN) goes on to the agent.
//! - A failed allocation is an [`Event::RelayFailed`] and gathering goes on without it; a lost
//!   one fails its pairs (the agent selects another valid pair if it has one). A restart keeps
//!   the allocations (new pairs ask for the permissions they need), [`IceAgent::close`]
//!   releases them (RFC 8656 §8: a Refresh with LIFETIME 0).
//! - **Over TCP or TLS** (RFC 8656 §3.1; [`IceAgent::add_turn_server_over`]): the relay's
//!   start is an [`Event::Connect`] from the host candidate's IP (port 0) to the server, with
//!   the TLS server name when it is TLS; once the connection is open
//!   (`relay_connected`) the client is made with the connection's local address and the
//!   Allocate goes out on it. Everything the client sends leaves on the connection unframed
//!   (`out.rs`'s `Route::Stream` for its requests, `Route::Relay` with the connection for
//!   wrapped data); what arrives is cut by the connection's STUN-stream reader (RFC 8656
//!   §12.5, `tcp.rs`) and each message handed to the client (`receive_relay_stream`). The
//!   allocation lives on the connection's 5-tuple: a connection that fails to open fails the
//!   relay, one that closes or breaks loses the allocation (its pairs fail), and a relay that
//!   fails or is closed closes its connection. A 300 Try Alternate is not followed over a
//!   stream (it would need another connection): the relay fails. The XOR-MAPPED-ADDRESS of an
//!   Allocate over TCP is a TCP mapping, so it gives no server-reflexive (UDP) candidate.
//! - **Priorities** (RFC 8445 §5.1.2.1: the local preference may reflect how the server is
//!   reached): the local preference of a relayed candidate is `rank << 13` plus the host
//!   candidate's local preference divided by 8, with `rank` 2 for a server reached over UDP,
//!   1 over TCP and 0 over TLS: relay-over-UDP ranks above relay-over-TCP above
//!   relay-over-TLS, whatever the host address; within one transport the host's order holds
//!   (IPv6 first with the default policy).

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::time::Instant;

use rand_chacha::rand_core::RngCore;

use crate::candidate::{CandidateKind, ComponentId, Protocol, priority};
use crate::event::{Datagram, DropReason, Event, Received};
use crate::transmit::ConnectionId;
use crate::turn::{
    TurnClient, TurnCredentials, TurnError, TurnEvent, TurnFailure, TurnReceived, TurnState,
    TurnTransport,
};

use super::IceAgent;
use super::out::{Route, Via};

/// A TURN server the application gave, with its credentials and how to reach it.
#[derive(Debug, Clone)]
pub(super) struct TurnServer {
    pub(super) addr: SocketAddr,
    pub(super) credentials: TurnCredentials,
    pub(super) transport: TurnTransport,
}

/// The allocation of one host candidate on one TURN server.
#[derive(Debug)]
pub(super) struct Relay {
    /// The server as the application gave it (the client may follow a 300 to another, over
    /// UDP).
    pub(super) server: SocketAddr,
    /// The host candidate's address: over UDP the socket the client sends from; over a
    /// stream the candidate whose IP the connection is opened from.
    pub(super) base: SocketAddr,
    /// Over a stream, until the connection is open, a stand-in that never sends (Idle).
    pub(super) client: TurnClient,
    /// The Allocate (or, over a stream, the connection) went out.
    pub(super) started: bool,
    /// Allocated or failed: done for gathering.
    pub(super) done: bool,
    /// Over TCP or TLS: the connection and what makes the client once it is open.
    pub(super) stream: Option<Stream>,
}

/// The connection of a relay whose server is reached over TCP or TLS.
#[derive(Debug)]
pub(super) struct Stream {
    /// The TLS server name, for TLS.
    tls: Option<String>,
    /// The connection, from [`Event::Connect`] until it closes.
    conn: Option<ConnectionId>,
    seed: [u8; 32],
    credentials: TurnCredentials,
}

/// RFC 8445 §5.1.2.1: the local preference of a relayed candidate, from the rank of the
/// transport to its server (UDP 2, TCP 1, TLS 0) in the top three bits and the host
/// candidate's local preference scaled to the 13 bits below.
fn relay_local_preference(transport: &TurnTransport, host: u16) -> u16 {
    let rank: u16 = match transport {
        TurnTransport::Udp => 2,
        TurnTransport::Tcp => 1,
        TurnTransport::Tls { .. } => 0,
    };
    (rank << 13) | (host >> 3)
}

/// Where `inner`, a slice of `outer`, lies in it.
fn range_in(outer: &[u8], inner: &[u8]) -> Option<Range<usize>> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    let end = start.checked_add(inner.len())?;
    (end <= outer.len()).then_some(start..end)
}

impl Relay {
    /// How its server is reached.
    fn transport(&self) -> TurnTransport {
        match &self.stream {
            None => TurnTransport::Udp,
            Some(Stream { tls: None, .. }) => TurnTransport::Tcp,
            Some(Stream {
                tls: Some(name), ..
            }) => TurnTransport::Tls {
                server_name: name.clone(),
            },
        }
    }

    /// The connection to its server, over a stream.
    fn conn(&self) -> Option<ConnectionId> {
        self.stream.as_ref().and_then(|s| s.conn)
    }
}

impl IceAgent {
    /// [`Self::add_turn_server`] reaching the server over `transport` (RFC 8656 §3.1): UDP as
    /// `add_turn_server`, or a TCP connection, or TLS over one, which the caller holds. The
    /// relayed transport is UDP in every case (the relayed candidates are UDP candidates).
    /// The same server address may be added once per transport (a server often listens for
    /// UDP and TCP on one port); adding it again with the same transport replaces the
    /// credentials for allocations made afterwards.
    ///
    /// Over TCP or TLS, for each UDP host candidate of the server's family, once gathering
    /// started (paced by Ta with the other gathering requests): [`Event::Connect`] `{ from:
    /// host IP with port 0, to: server, tls }` (`tls` is `Some(server_name)` for
    /// [`TurnTransport::Tls`]: the caller runs the TLS client, see [`Event::Connect`]). On
    /// [`Self::handle_connected`] the Allocate goes out on the connection (RFC 8656 §7.1, 401
    /// then the signed retry, RFC 8489 §9.2); requests are not retransmitted (RFC 8489
    /// §6.2.2, Ti = 39.5 s); every message is written unframed ([`crate::Transmit`] with
    /// `connection: Some(id)`, ChannelData padded to 4 bytes, RFC 8656 §12.5) and what the
    /// server sends comes in through [`Self::handle_stream`]. A connection that cannot be
    /// opened is an [`Event::RelayFailed`] with [`TurnFailure::ConnectFailed`]; one that
    /// closes ([`Self::handle_closed`]) or whose stream breaks loses the allocation
    /// ([`Event::RelayFailed`], the relayed candidate's pairs fail). [`Self::close`] writes
    /// the release (Refresh with LIFETIME 0) on the connection and closes it at once
    /// ([`Event::Close`] after the release's [`crate::Transmit`]).
    ///
    /// Relayed candidates rank by the transport to their server: over UDP above over TCP
    /// above over TLS (RFC 8445 §5.1.2.1; [`Self::relay_transport`] tells which a relayed
    /// candidate uses).
    ///
    /// ```
    /// use std::time::Instant;
    /// use ice_sans_io::turn::{TurnCredentials, TurnTransport};
    /// use ice_sans_io::{Config, Event, IceAgent, Protocol, Role};
    ///
    /// let mut agent = IceAgent::new(Config::new(Role::Controlling), [1; 32]);
    /// agent.add_local_host(1, "10.0.0.1:5000".parse()?)?;
    /// let tls = TurnTransport::Tls { server_name: "turn.example.org".into() };
    /// let server = "192.0.2.1:5349".parse()?;
    /// agent.add_turn_server_over(server, TurnCredentials::new("romeo", "secret"), tls)?;
    /// # #[allow(clippy::disallowed_methods)]
    /// let now = Instant::now(); // the caller's clock
    /// agent.gather(now);
    /// agent.handle_timeout(agent.poll_timeout().unwrap_or(now));
    /// // The agent asks for a connection to the server, with TLS to `turn.example.org`.
    /// let mut connect = None;
    /// while let Some(e) = agent.poll_event() {
    ///     if let Event::Connect { id, from, to, tls } = e {
    ///         connect = Some((id, from, to, tls));
    ///     }
    /// }
    /// let (id, from, to, tls) = connect.expect("a connection to the server");
    /// assert_eq!((from, to), ("10.0.0.1:0".parse()?, server));
    /// assert_eq!(tls.as_deref(), Some("turn.example.org"));
    /// // Connected and the TLS handshake done: the Allocate goes out on it, unframed.
    /// agent.handle_connected(now, id, "10.0.0.1:40000".parse()?);
    /// let t = agent.poll_transmit().expect("the Allocate");
    /// assert_eq!((t.connection, t.protocol), (Some(id), Protocol::Tcp));
    /// assert_eq!(&t.data[..2], &[0x00, 0x03]); // a STUN Allocate request, no RFC 4571 header
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_turn_server_over(
        &mut self,
        server: SocketAddr,
        credentials: TurnCredentials,
        transport: TurnTransport,
    ) -> Result<(), TurnError> {
        credentials.check()?;
        if let Some(known) = self
            .turn_servers
            .iter_mut()
            .find(|t| t.addr == server && t.transport == transport)
        {
            known.credentials = credentials;
            return Ok(());
        }
        self.turn_servers.push(TurnServer {
            addr: server,
            credentials,
            transport,
        });
        let s = self.turn_servers.len() - 1;
        for h in 0..self.locals.len() {
            if self.locals[h].is_udp_host() {
                self.add_relay(h, s);
            }
        }
        Ok(())
    }

    /// How the TURN server of the relayed local candidate at `relayed` is reached (UDP, TCP
    /// or TLS), or `None` when no relayed local candidate has that address. Also for the
    /// local candidate of a [`crate::PairInfo`] or an [`Event::SelectedPair`].
    pub fn relay_transport(&self, relayed: SocketAddr) -> Option<TurnTransport> {
        let l = self
            .locals
            .iter()
            .find(|l| l.cand.kind == CandidateKind::Relayed && l.cand.addr == relayed)?;
        self.relays.get(l.relay?).map(Relay::transport)
    }
}

impl IceAgent {
    /// A relay from host candidate `host` through `server`, unless the families differ or it
    /// exists. Not started before gathering is.
    pub(super) fn add_relay(&mut self, host: usize, server: usize) {
        let base = self.locals[host].base;
        let TurnServer {
            addr,
            credentials,
            transport,
        } = self.turn_servers[server].clone();
        if base.is_ipv4() != addr.is_ipv4()
            || self
                .relays
                .iter()
                .any(|r| r.base == base && r.server == addr && r.transport() == transport)
        {
            return;
        }
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        let mut cfg = self.cfg.turn.clone();
        let stream = match transport {
            TurnTransport::Udp => None,
            TurnTransport::Tcp => Some(None),
            TurnTransport::Tls { server_name } => Some(Some(server_name)),
        }
        .map(|tls| {
            // RFC 8489 §6.2.2: no retransmissions on a stream; RFC 8656 §12.5: padding.
            cfg.protocol = Protocol::Tcp;
            Stream {
                tls,
                conn: None,
                seed,
                credentials: credentials.clone(),
            }
        });
        // The username was checked by `add_turn_server_over`, the families just now.
        let Ok(client) = TurnClient::new(cfg, addr, base, credentials, seed) else {
            return;
        };
        self.relays.push(Relay {
            server: addr,
            base,
            client,
            started: false,
            done: false,
            stream,
        });
        self.gathering_complete_sent = false;
    }

    /// Starts the next relay not started yet (paced with the gathering requests, RFC 8445
    /// §5.1.1.2): its Allocate, or over a stream its connection. Returns whether one started.
    pub(super) fn start_relay(&mut self, now: Instant) -> bool {
        if !self.gather_requested {
            return false;
        }
        // Relays closed before they started (`close`) have nothing to gather: each is done at
        // once, and the next one is tried in the same pace, so that no relay that cannot start
        // is left as work for a timer that would then be due again at once.
        while let Some(i) = self.relays.iter().position(|r| !r.started) {
            self.relays[i].started = true;
            let started = if self.relays[i].stream.is_some() {
                self.relay_connect(now, i)
            } else {
                self.relays[i].client.allocate(now).is_ok()
            };
            if !started {
                self.relays[i].done = true;
                self.maybe_gathering_complete();
                continue;
            }
            self.stats.relay_allocations += 1;
            return true;
        }
        false
    }

    /// RFC 8656 §3.1: asks for the connection to relay `i`'s server, from its host
    /// candidate's IP. At the connection limit the relay fails. Returns whether it was asked.
    fn relay_connect(&mut self, now: Instant, i: usize) -> bool {
        let r = &self.relays[i];
        let Some(s) = &r.stream else { return false };
        if r.client.state() != TurnState::Idle {
            return false; // closed before it started
        }
        let (from, to, tls) = (SocketAddr::new(r.base.ip(), 0), r.server, s.tls.clone());
        match self.tcp_open_turn(now, i, from, to, tls) {
            Some(id) => {
                if let Some(s) = &mut self.relays[i].stream {
                    s.conn = Some(id);
                }
                true
            }
            None => {
                self.relay_failed(i, TurnFailure::ConnectFailed);
                false
            }
        }
    }

    /// The connection of relay `i` is open at `local`: its client, on the connection, and
    /// the Allocate (RFC 8656 §7.1).
    pub(super) fn relay_connected(
        &mut self,
        now: Instant,
        i: usize,
        id: ConnectionId,
        local: SocketAddr,
    ) {
        let Some(r) = self.relays.get_mut(i) else {
            return;
        };
        let Some(s) = &r.stream else { return };
        let mut cfg = self.cfg.turn.clone();
        cfg.protocol = Protocol::Tcp;
        let idle = r.client.state() == TurnState::Idle;
        let made = TurnClient::new(cfg, r.server, local, s.credentials.clone(), s.seed);
        match made {
            Ok(client) if idle => {
                r.client = client;
                // Idle, so the Allocate starts.
                let _ = r.client.allocate(now);
            }
            // Closed meanwhile, or a local address of the wrong family: no use for it.
            _ => {
                if idle {
                    self.relay_failed(i, TurnFailure::ConnectFailed);
                }
                self.tcp_close_id(now, id);
            }
        }
    }

    /// The connection of relay `i` is gone (failed to open, closed, broken, or closed by the
    /// agent): so is an allocation on it (RFC 8656 §2.2: it lives on the 5-tuple).
    pub(super) fn relay_connection_lost(&mut self, now: Instant, i: usize, reason: TurnFailure) {
        let Some(r) = self.relays.get_mut(i) else {
            return;
        };
        if let Some(s) = &mut r.stream {
            s.conn = None;
        }
        if r.client.state() == TurnState::Idle {
            // Never connected: the stand-in client is closed so that it never starts.
            r.client.close(now);
            self.relay_failed(i, reason);
        } else {
            r.client.handle_connection_lost(reason);
        }
    }

    /// Relay `i` failed before it was allocated: [`Event::RelayFailed`], done for gathering.
    fn relay_failed(&mut self, i: usize, reason: TurnFailure) {
        let r = &mut self.relays[i];
        if r.done {
            return;
        }
        r.done = true;
        self.events.push_back(Event::RelayFailed {
            server: r.server,
            base: r.base,
            reason,
        });
        self.maybe_gathering_complete();
    }

    /// Moves what the TURN clients have to send into the agent's queue and takes their
    /// events, until none of them has anything left (an event may make another client send).
    pub(super) fn drain_relays(&mut self, now: Instant) {
        loop {
            let mut any = false;
            for i in 0..self.relays.len() {
                let r = &mut self.relays[i];
                let (server, stream) = (r.server, r.stream.as_ref().map(|s| s.conn));
                while let Some(t) = r.client.poll_transmit() {
                    any = true;
                    let route = match stream {
                        None => Route::udp(t.local, t.remote),
                        // RFC 8656 §3.1: on the connection to the server, unframed. Nothing
                        // else can be reached on it (a redirected Allocate, say).
                        Some(Some(conn)) if t.remote == server => Route::Stream {
                            conn,
                            local: t.local,
                            remote: t.remote,
                        },
                        Some(_) => {
                            self.stats.relay_unsent += 1;
                            continue;
                        }
                    };
                    self.out.push_bytes(route, t.data);
                }
                while let Some(e) = self.relays[i].client.poll_event() {
                    any = true;
                    self.relay_event(now, i, e);
                }
            }
            if !any {
                break;
            }
        }
    }

    fn relay_event(&mut self, now: Instant, i: usize, e: TurnEvent) {
        let (server, base) = (self.relays[i].server, self.relays[i].base);
        // Over a stream, a relay that failed, was lost or closed has no use for its
        // connection; a redirect would need another one (RFC 8489 §10), which the agent does
        // not open: the relay fails.
        if let Some(conn) = self.relays[i].conn() {
            match e {
                TurnEvent::Redirected { .. } => {
                    self.relays[i].client.close(now);
                    self.relay_failed(i, TurnFailure::TryAlternate);
                    self.tcp_close_id(now, conn);
                    return;
                }
                TurnEvent::AllocationFailed(_)
                | TurnEvent::AllocationLost(_)
                | TurnEvent::Closed => {
                    self.tcp_close_id(now, conn);
                }
                _ => {}
            }
        }
        match e {
            TurnEvent::Allocated {
                relayed, mapped, ..
            } => {
                self.relays[i].done = true;
                self.events.push_back(Event::RelayAllocated {
                    server,
                    base,
                    relayed,
                });
                self.add_relayed(i, relayed, mapped);
                self.maybe_gathering_complete();
            }
            TurnEvent::AllocationFailed(reason) => {
                self.relays[i].done = true;
                self.events.push_back(Event::RelayFailed {
                    server,
                    base,
                    reason,
                });
                self.maybe_gathering_complete();
            }
            TurnEvent::AllocationLost(reason) => {
                self.events.push_back(Event::RelayFailed {
                    server,
                    base,
                    reason,
                });
                self.fail_relay_pairs(now, i, None);
            }
            TurnEvent::PermissionFailed { peer, .. } => {
                self.fail_relay_pairs(now, i, Some(peer));
            }
            // Closed while allocating (`close`): done for gathering, without a candidate.
            TurnEvent::Closed if !self.relays[i].done => {
                self.relays[i].done = true;
                self.maybe_gathering_complete();
            }
            _ => {}
        }
    }

    /// The relayed candidate of relay `i` (RFC 8445 §5.1.1.2), and the server-reflexive one
    /// its mapped address gives, paired with the remote candidates.
    fn add_relayed(&mut self, i: usize, relayed: SocketAddr, mapped: Option<SocketAddr>) {
        let (server, base) = (self.relays[i].server, self.relays[i].base);
        let transport = self.relays[i].transport();
        let Some(host) = self
            .locals
            .iter()
            .position(|l| l.is_udp_host() && l.base == base)
        else {
            return;
        };
        // Over a stream the mapped address is a TCP mapping: no UDP candidate of it.
        if let Some(m) = mapped
            && !transport.is_stream()
        {
            self.add_server_reflexive(host, m, server);
        }
        if self.locals.iter().any(|l| l.cand.addr == relayed) {
            return;
        }
        // XEP-0371 `rel-addr`: the mapped address (RFC 8445 §5.1.1.2), else the base.
        let related = mapped.unwrap_or(base);
        let host_pref = self.locals[host].cand.local_preference();
        let kind = CandidateKind::Relayed;
        let mut cand = self.derived_candidate(host, kind, relayed, server, related);
        let pref = relay_local_preference(&transport, host_pref);
        cand.priority = priority(kind.type_preference(), pref, cand.component);
        if transport.is_stream() {
            // RFC 8445 §5.1.1.3: obtained with another transport protocol, another foundation.
            let ip = self.locals[host].cand.addr.ip();
            cand.foundation = self.foundation(kind, ip, Some(server.ip()), Protocol::Tcp);
        }
        let l = self.add_local(cand, relayed, Some(i));
        for r in 0..self.remotes.len() {
            self.form_pair(l, r);
        }
    }

    /// The pairs on relay `i` (to `peer` only, when given) fail: the allocation or the
    /// permission is gone.
    fn fail_relay_pairs(&mut self, now: Instant, i: usize, peer: Option<IpAddr>) {
        let ids: Vec<u32> = self
            .pairs
            .iter()
            .filter(|p| {
                self.locals[p.local].relay == Some(i)
                    && peer.is_none_or(|ip| self.remotes[p.remote].addr.ip() == ip)
            })
            .map(|p| p.id)
            .collect();
        for id in ids {
            self.pair_failed(now, id);
        }
    }

    /// A pair on relay `i` to `peer` was formed: RFC 8656 §9, a permission before anything is
    /// sent to it through the relay.
    pub(super) fn relay_permit(&mut self, i: usize, peer: IpAddr) {
        let Some(now) = self.last_now else { return };
        if let Some(r) = self.relays.get_mut(i)
            && r.client.create_permission(now, peer).is_err()
        {
            self.stats.relay_permissions_refused += 1;
        }
    }

    /// The selected pair goes through relay `i` to `peer`: a channel (RFC 8656 §12).
    pub(super) fn relay_bind(&mut self, now: Instant, i: usize, peer: SocketAddr) {
        if let Some(r) = self.relays.get_mut(i) {
            // Over the channel limit the data keeps going in Send indications.
            let _ = r.client.bind_channel(now, peer);
        }
    }

    /// Whether a datagram on `route` can leave now: through a relay, only to a peer with an
    /// installed permission (RFC 8656 §9).
    pub(super) fn route_ready(&self, route: Route) -> bool {
        match route {
            Route::Direct { .. } | Route::Tcp { .. } | Route::Stream { .. } => true,
            Route::Relay { relay, peer, .. } => self.last_now.is_some_and(|now| {
                self.relays
                    .get(relay)
                    .is_some_and(|r| r.client.has_permission(now, peer.ip()))
            }),
        }
    }

    /// A datagram from a TURN server on the base its client sends from goes through the
    /// client: `None` when it is not the client's (the agent takes it as any other).
    pub(super) fn receive_from_relay<'a>(
        &mut self,
        now: Instant,
        d: &Datagram<'a>,
    ) -> Option<Received<'a>> {
        let i = self.relays.iter().position(|r| {
            r.stream.is_none() && r.base == d.local && r.client.server() == d.remote
        })?;
        match self.relays[i].client.handle_receive(now, d.remote, d.data) {
            TurnReceived::NotForUs => None,
            TurnReceived::Consumed => Some(Received::Stun),
            TurnReceived::Dropped(why) => Some(Received::Dropped(DropReason::Relay(why))),
            TurnReceived::Data { peer, data } => {
                self.stats.relayed_received += 1;
                let relayed = self.relays[i].client.relayed_address()?;
                // Taken as arriving on the relayed candidate; never through a relay again.
                Some(self.receive_direct(
                    now,
                    Datagram {
                        local: relayed,
                        remote: peer,
                        protocol: Protocol::Udp,
                        data,
                    },
                    None,
                ))
            }
        }
    }

    /// A message from the server of relay `i` on its connection (RFC 8656 §12.5: one STUN
    /// message or one ChannelData, cut by the connection's reader): the client's. Peer data
    /// is taken as a datagram on the relayed candidate: `Ok` with its component and where
    /// the application data lies in `frame`; `None` for a message the agent consumed.
    pub(super) fn receive_relay_stream(
        &mut self,
        now: Instant,
        i: usize,
        frame: &[u8],
    ) -> Option<Result<(ComponentId, Range<usize>), DropReason>> {
        let r = self.relays.get_mut(i)?;
        let server = r.client.server();
        match r.client.handle_receive(now, server, frame) {
            TurnReceived::Consumed => None,
            TurnReceived::Dropped(why) => Some(Err(DropReason::Relay(why))),
            TurnReceived::Data { peer, data } => {
                self.stats.relayed_received += 1;
                let relayed = self.relays[i].client.relayed_address()?;
                let range = range_in(frame, data)?;
                let d = Datagram {
                    local: relayed,
                    remote: peer,
                    protocol: Protocol::Udp,
                    data,
                };
                match self.receive_direct(now, d, None) {
                    Received::Stun => None,
                    Received::Data { component, .. } => Some(Ok((component, range))),
                    Received::Dropped(why) => Some(Err(why)),
                }
            }
            // A Binding response, say: nothing of the agent's goes on this connection.
            _ => Some(Err(DropReason::Unhandled)),
        }
    }

    /// Releases every allocation (RFC 8656 §8).
    pub(super) fn close_relays(&mut self, now: Instant) {
        for r in &mut self.relays {
            r.client.close(now);
        }
        self.drain_relays(now);
    }
}

/// The relay a datagram on `route` leaves through, if it is relayed: its TURN client and,
/// over a stream, its connection (`None` when a stream relay has no connection left).
pub(super) fn client(relays: &mut [Relay], route: Route) -> Option<Via<'_>> {
    match route {
        Route::Relay { relay, .. } => {
            let r = relays.get_mut(relay)?;
            let conn = match &r.stream {
                None => None,
                Some(s) => Some(s.conn?),
            };
            Some(Via {
                client: &mut r.client,
                conn,
            })
        }
        Route::Direct { .. } | Route::Tcp { .. } | Route::Stream { .. } => None,
    }
}
