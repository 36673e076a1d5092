//! The ICE agent (RFC 8445 full agent, RFC 8838 trickle, RFC 7675 consent), without I/O.
//!
//! This file holds [`IceAgent`] and its public API (getters, verbs, `poll_*`, `handle_*`);
//! the internals live in one module per concept, in the order of a check's life, each adding
//! methods to `IceAgent`:
//!
//! - `error`: the API's error types; `creds`: credentials; `local`: local candidates, bases and
//!   foundations;
//! - `out`: how a datagram leaves (`Route`) and the outgoing queue, the one place a route
//!   becomes a [`Transmit`];
//! - `checklist`: pairs and their state changes, pairing, pruning, the triggered-check queue;
//! - `transaction`: pacing, RTO, retransmissions, timeouts, writing requests;
//! - `receive`: answering checks, early checks, peer-reflexive candidates, responses;
//! - `gather`: server-reflexive gathering; `relay`: relayed candidates, a TURN client per host
//!   candidate and TURN server;
//! - `selection`: selected pairs and regular nomination;
//! - `consent`: consent freshness and keepalives; `restart`: what a restart keeps;
//! - `tcp`: ICE-TCP (RFC 6544): TCP host candidates and the connections the caller holds;
//! - `state`: the component and agent states, derived from the pairs after every input.
//!
//! Types are used one way between these modules (no two import each other); each submodule
//! takes `IceAgent` from here, and this file takes their types.

mod checklist;
mod consent;
mod creds;
mod error;
mod gather;
mod local;
mod out;
mod receive;
mod relay;
mod restart;
mod selection;
mod state;
mod tcp;
mod transaction;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

use crate::turn::{TurnClient, TurnCredentials, TurnError, TurnTransport};

use crate::candidate::{
    Candidate, CandidateKind, ComponentId, LocalPreferenceInput, Protocol, is_valid_credential,
    is_valid_foundation, priority,
};
use crate::config::Config;
use crate::event::{Datagram, DropReason, Event, PairInfo, Received, State, Stats};
use crate::role::Role;
use crate::transmit::Transmit;

use checklist::{Pair, Triggered};
use creds::{Creds, check_local_creds, random_string};
pub use error::{AcceptError, CandidateError, CredentialsError, SendError};
use gather::Gather;
use local::{Local, check_address};
use out::{Bytes, OutQueue, Route};
use receive::EarlyCheck;
use relay::{Relay, TurnServer};
use restart::OldGeneration;
use selection::Component;
use tcp::Tcp;
use transaction::Transaction;

/// A full ICE agent for one data stream (RFC 8445), sans I/O.
///
/// The caller owns sockets, clock and timers. Methods come in four families:
/// - getters (`&self`): [`state`](Self::state), [`role`](Self::role),
///   [`selected_pair`](Self::selected_pair), [`stats`](Self::stats), …;
/// - input: [`handle_receive`](Self::handle_receive) (every datagram that arrives on a host
///   candidate's socket, from peers and from STUN and TURN servers), for TCP
///   [`handle_connected`](Self::handle_connected),
///   [`handle_connect_failed`](Self::handle_connect_failed),
///   [`handle_accepted`](Self::handle_accepted), [`handle_stream`](Self::handle_stream),
///   [`handle_closed`](Self::handle_closed), and [`handle_timeout`](Self::handle_timeout) (when
///   [`poll_timeout`](Self::poll_timeout) says; early calls do nothing);
/// - verbs: [`add_local_host`](Self::add_local_host),
///   [`add_local_tcp_host`](Self::add_local_tcp_host), [`add_stun_server`](Self::add_stun_server),
///   [`add_turn_server`](Self::add_turn_server) (over TCP or TLS
///   [`add_turn_server_over`](Self::add_turn_server_over)), [`gather`](Self::gather), [`set_remote_credentials`](Self::set_remote_credentials),
///   [`add_remote_candidate`](Self::add_remote_candidate),
///   [`end_of_remote_candidates`](Self::end_of_remote_candidates), [`restart`](Self::restart),
///   [`send`](Self::send), [`close`](Self::close);
/// - output: [`poll_transmit`](Self::poll_transmit), [`poll_event`](Self::poll_event),
///   [`poll_timeout`](Self::poll_timeout).
///
/// **Drain rule:** after any input or verb, call `poll_transmit` until `None` (sending each
/// datagram before the next call), then `poll_event` until `None`, then `poll_timeout`.
///
/// Nothing reads a clock or an OS random source: `now` is passed in and randomness (ufrag,
/// password, tie-breaker, transaction ids, consent jitter) comes from the seed given to
/// [`new`](Self::new). The same seed and the same inputs replay a run bit for bit. Garbage
/// from the network is dropped and counted in [`stats`](Self::stats), never a panic.
#[derive(Debug)]
pub struct IceAgent {
    cfg: Config,
    rng: ChaCha8Rng,
    role: Role,
    tie_breaker: u64,
    generation: u32,
    local_creds: Creds,
    remote_creds: Option<Creds>,
    /// `remote_ufrag:local_ufrag`, the USERNAME of our requests (XEP-0371 §5.6 fn. 33).
    username: String,
    old: Option<OldGeneration>,
    locals: Vec<Local>,
    /// Foundation keys (RFC 8445 §5.1.1.3): type, base IP, STUN server IP, protocol.
    foundations: Vec<(CandidateKind, IpAddr, Option<IpAddr>, Protocol)>,
    servers: Vec<SocketAddr>,
    gathers: Vec<Gather>,
    turn_servers: Vec<TurnServer>,
    /// Never removed: routes and local candidates name them by index.
    relays: Vec<Relay>,
    gather_requested: bool,
    gathering_complete_sent: bool,
    remotes: Vec<Candidate>,
    prflx_count: usize,
    remote_end_of_candidates: bool,
    pairs: Vec<Pair>,
    next_pair_id: u32,
    triggered: VecDeque<Triggered>,
    transactions: Vec<Transaction>,
    early: Vec<EarlyCheck>,
    components: Vec<Component>,
    state: State,
    next_pace: Option<Instant>,
    /// The latest `now` any input gave: the deadline of work that is due at once.
    last_now: Option<Instant>,
    out: OutQueue,
    /// Where [`Self::send`] frames data for a TCP connection.
    send_buf: Vec<u8>,
    tcp: Tcp,
    events: VecDeque<Event>,
    stats: Stats,
}

impl IceAgent {
    /// A new agent with fresh local credentials (8-character ufrag, 24-character password:
    /// RFC 8445 §5.3 asks for at least 4 and 22) and tie-breaker, all drawn from `rng_seed`.
    pub fn new(config: Config, rng_seed: [u8; 32]) -> IceAgent {
        let mut rng = ChaCha8Rng::from_seed(rng_seed);
        let tie_breaker = rng.next_u64();
        let local_creds = Creds::new(random_string(&mut rng, 8), random_string(&mut rng, 24));
        let n = config.components.clamp(1, 256);
        let components = (1..=n).map(Component::new).collect();
        IceAgent {
            role: config.role,
            cfg: config,
            rng,
            tie_breaker,
            generation: 0,
            local_creds,
            remote_creds: None,
            username: String::new(),
            old: None,
            locals: Vec::new(),
            foundations: Vec::new(),
            servers: Vec::new(),
            gathers: Vec::new(),
            turn_servers: Vec::new(),
            relays: Vec::new(),
            gather_requested: false,
            gathering_complete_sent: false,
            remotes: Vec::new(),
            prflx_count: 0,
            remote_end_of_candidates: false,
            pairs: Vec::new(),
            next_pair_id: 0,
            triggered: VecDeque::new(),
            transactions: Vec::new(),
            early: Vec::new(),
            components,
            state: State::New,
            next_pace: None,
            last_now: None,
            out: OutQueue::default(),
            send_buf: Vec::new(),
            tcp: Tcp::default(),
            events: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    // ---------------------------------------------------------------- getters

    /// The overall state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The state of one component (`None` for an unknown component).
    pub fn component_state(&self, component: ComponentId) -> Option<State> {
        self.component(component).map(|c| c.state)
    }

    /// The current role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The tie-breaker of role conflicts (RFC 8445 §7.3.1.1), drawn from the seed.
    pub fn tie_breaker(&self) -> u64 {
        self.tie_breaker
    }

    /// The local ufrag and password of the current generation.
    pub fn local_credentials(&self) -> (&str, &str) {
        (&self.local_creds.ufrag, &self.local_creds.pwd)
    }

    /// The remote ufrag and password of the current generation, once set.
    pub fn remote_credentials(&self) -> Option<(&str, &str)> {
        self.remote_creds
            .as_ref()
            .map(|c| (c.ufrag.as_str(), c.pwd.as_str()))
    }

    /// The generation: 0, then one more per restart (XEP-0371 §5.10).
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// The local candidates to signal (host and server-reflexive; peer-reflexive ones are not
    /// signalled, RFC 8445 §7.2.5.3.1).
    pub fn local_candidates(&self) -> impl Iterator<Item = &Candidate> + '_ {
        self.locals
            .iter()
            .map(|l| &l.cand)
            .filter(|c| c.kind != CandidateKind::PeerReflexive)
    }

    /// The peer-reflexive local candidates learned from responses (RFC 8445 §7.2.5.3.1): not
    /// signalled, at most [`Config::max_peer_reflexive`].
    pub fn peer_reflexive_local_candidates(&self) -> impl Iterator<Item = &Candidate> + '_ {
        self.locals
            .iter()
            .map(|l| &l.cand)
            .filter(|c| c.kind == CandidateKind::PeerReflexive)
    }

    /// The remote candidates of this generation, signalled and peer-reflexive.
    pub fn remote_candidates(&self) -> &[Candidate] {
        &self.remotes
    }

    /// The pair that carries a component's data, if any.
    pub fn selected_pair(&self, component: ComponentId) -> Option<PairInfo> {
        let c = self.component(component)?;
        if let Some(id) = c.selected {
            return self.pair(id).map(|p| self.pair_info(p));
        }
        let old = self.old.as_ref()?;
        old.pairs
            .iter()
            .find(|p| p.component == component)
            .map(|p| p.info.clone())
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Whether the peer signalled end-of-candidates in this generation.
    pub fn remote_end_of_candidates(&self) -> bool {
        self.remote_end_of_candidates
    }

    /// Number of candidate pairs in the check list.
    pub fn pair_count(&self) -> usize {
        self.pairs.len()
    }

    /// Number of STUN transactions in flight (the TURN clients' not counted).
    pub fn transactions_in_flight(&self) -> usize {
        self.transactions.len()
    }

    /// The TURN clients, one per host candidate and TURN server of its address family: their
    /// state, relayed and mapped addresses, permissions, channels and counters.
    pub fn turn_clients(&self) -> impl Iterator<Item = &TurnClient> + '_ {
        self.relays.iter().map(|r| &r.client)
    }

    // ---------------------------------------------------------------- verbs

    /// Adds a host candidate (RFC 8445 §5.1.1.1) on `addr`, the address of a socket the caller
    /// owns. Its [`Event::LocalCandidate`] follows. Adding the same address twice does nothing.
    pub fn add_local_host(
        &mut self,
        component: ComponentId,
        addr: SocketAddr,
    ) -> Result<(), CandidateError> {
        self.check_component(component)?;
        check_address(addr)?;
        if self
            .locals
            .iter()
            .any(|l| l.cand.kind == CandidateKind::Host && l.is_udp_base_at(addr))
        {
            return Ok(());
        }
        let index = self
            .locals
            .iter()
            .filter(|l| {
                l.cand.kind == CandidateKind::Host
                    && l.cand.protocol == Protocol::Udp
                    && l.cand.component == component
                    && l.base.is_ipv4() == addr.is_ipv4()
            })
            .count();
        let local_pref = (self.cfg.local_preference)(LocalPreferenceInput {
            ip: addr.ip(),
            index,
        });
        let foundation = self.foundation(CandidateKind::Host, addr.ip(), None, Protocol::Udp);
        let cand = Candidate {
            component,
            foundation,
            protocol: Protocol::Udp,
            priority: priority(CandidateKind::Host.type_preference(), local_pref, component),
            addr,
            kind: CandidateKind::Host,
            related: None,
            tcp_type: None,
        };
        let host = self.locals.len();
        self.locals.push(Local {
            cand: cand.clone(),
            base: addr,
            relay: None,
        });
        self.events.push_back(Event::LocalCandidate(cand));
        for s in 0..self.servers.len() {
            self.add_gather(host, self.servers[s]);
        }
        for s in 0..self.turn_servers.len() {
            self.add_relay(host, s);
        }
        for r in 0..self.remotes.len() {
            self.form_pair(host, r);
        }
        Ok(())
    }

    /// Adds a STUN server for server-reflexive gathering (RFC 8445 §5.1.1.2): each host
    /// candidate of the same address family asks it, paced by Ta, retransmitted per RFC 8489;
    /// each passive and so TCP host candidate over a TCP connection from its own address
    /// (RFC 6544 §5.2, [`Event::Connect`]; see [`Self::add_local_tcp_host`]).
    pub fn add_stun_server(&mut self, server: SocketAddr) {
        if self.servers.contains(&server) {
            return;
        }
        self.servers.push(server);
        for h in 0..self.locals.len() {
            if self.locals[h].gathers() {
                self.add_gather(h, server);
            }
        }
    }

    /// Adds a TURN server (RFC 8656) for relayed candidates (RFC 8445 §5.1.1.2), at any time
    /// like STUN servers: each host candidate of the same address family allocates on it, over
    /// UDP, with `credentials` (long-term, RFC 8489 §9.2; [`TurnCredentials::rest`] makes them
    /// from a TURN REST shared secret), once gathering started, paced by Ta with the gathering
    /// requests. Each allocation is reported by [`Event::RelayAllocated`] and its relayed
    /// candidate by [`Event::LocalCandidate`], or by [`Event::RelayFailed`] with the reason;
    /// either way it counts for [`Event::GatheringComplete`]. The allocation's mapped address
    /// is also a server-reflexive candidate. The clients use [`Config::turn`]. Adding the same
    /// server again replaces its credentials for the allocations made from then on (a new host
    /// candidate's), as when TURN REST credentials are fetched again before they expire
    /// (XEP-0215); an existing allocation keeps the username it was made with, since RFC 8656
    /// §5 has every later request of an allocation use that username (a server answers 441
    /// otherwise). A username over 512 bytes is refused (RFC 8489 §14.3). Over TCP or TLS:
    /// [`Self::add_turn_server_over`].
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use std::time::Instant;
    /// use ice_sans_io::turn::TurnCredentials;
    /// use ice_sans_io::{Config, IceAgent, Role};
    ///
    /// let mut agent = IceAgent::new(Config::new(Role::Controlling), [1; 32]);
    /// let now = Instant::now(); // the caller's clock
    /// let base: SocketAddr = "10.0.0.1:5000".parse()?;
    /// let server: SocketAddr = "192.0.2.1:3478".parse()?;
    /// agent.add_local_host(1, base)?;
    /// // TURN REST credentials, as an XMPP server hands them out (XEP-0215).
    /// agent.add_turn_server(server, TurnCredentials::rest(b"secret", 1_900_000_000, "romeo"))?;
    /// agent.gather(now);
    /// while agent.poll_event().is_some() {} // the host candidate
    /// // The Allocate is paced like a gathering request: due at once.
    /// let due = agent.poll_timeout().expect("the Allocate is due");
    /// agent.handle_timeout(due);
    /// let t = agent.poll_transmit().expect("an Allocate");
    /// assert_eq!((t.local, t.remote), (base, server));
    /// // The server's answers go to `handle_receive` like any datagram on `base`; then
    /// // `Event::RelayAllocated` and the relayed `Event::LocalCandidate` follow.
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_turn_server(
        &mut self,
        server: SocketAddr,
        credentials: TurnCredentials,
    ) -> Result<(), TurnError> {
        self.add_turn_server_over(server, credentials, TurnTransport::Udp)
    }

    /// Starts server-reflexive gathering from the host candidates and STUN servers added so
    /// far (and later ones), and declares the host candidates complete: once gathering
    /// finishes, [`Event::GatheringComplete`] follows (at once without STUN servers).
    pub fn gather(&mut self, now: Instant) {
        self.saw(now);
        self.gather_requested = true;
        self.maybe_gathering_complete();
    }

    /// Sets the peer's ufrag and password (RFC 8445 §5.3). Checks that arrived before them
    /// are now triggered (RFC 8445 §7.3.1). Credentials different from the current ones are the
    /// peer's restart (RFC 8445 §9, XEP-0371 §5.10, even without a generation attribute): the
    /// agent restarts too, unless it restarted first and waits for these.
    ///
    /// Received credentials are checked for characters and length, not for the minimum
    /// lengths of RFC 8445 §5.3 (4 and 22), which some deployed clients do not meet.
    pub fn set_remote_credentials(
        &mut self,
        now: Instant,
        ufrag: &str,
        pwd: &str,
    ) -> Result<(), CredentialsError> {
        self.saw(now);
        if !is_valid_credential(ufrag) {
            return Err(CredentialsError::BadUfrag);
        }
        if !is_valid_credential(pwd) {
            return Err(CredentialsError::BadPwd);
        }
        if let Some(r) = &self.remote_creds {
            if r.ufrag == ufrag && r.pwd == pwd {
                return Ok(());
            }
            // The peer restarted first: restart our side and take its credentials.
            self.restart(now);
        }
        self.remote_creds = Some(Creds::new(ufrag.to_owned(), pwd.to_owned()));
        self.username = format!("{ufrag}:{}", self.local_creds.ufrag);
        let early = std::mem::take(&mut self.early);
        for e in early {
            if e.remote_ufrag == ufrag {
                let (l, r, prio) = (e.local, e.remote, e.priority);
                self.learn_from_check(now, l, r, prio, e.use_candidate, e.conn);
            }
        }
        self.settle(now);
        Ok(())
    }

    /// Adds a remote candidate (RFC 8838 §11: at any time). Pairs are formed with every local
    /// host and relayed candidate of the same component, address family and protocol
    /// (server-reflexive local candidates are replaced by their base, RFC 8445 §6.1.2.4; TCP
    /// types pair per RFC 6544 §6.2). A candidate with the address of a known one updates
    /// nothing. Over [`Config::max_remote_candidates`] it is dropped, counted, and
    /// [`CandidateError::Limit`] returned.
    pub fn add_remote_candidate(
        &mut self,
        now: Instant,
        candidate: Candidate,
    ) -> Result<(), CandidateError> {
        self.saw(now);
        self.check_component(candidate.component)?;
        check_address(candidate.addr)?;
        // RFC 6544 §4.5: TCP candidates, and only they, have a tcptype (an active one's port
        // 9 is fine: it is never connected to).
        if candidate.tcp_type.is_some() != (candidate.protocol == Protocol::Tcp) {
            return Err(CandidateError::TcpType);
        }
        if candidate.kind == CandidateKind::PeerReflexive {
            return Err(CandidateError::UnsupportedKind(candidate.kind));
        }
        if !is_valid_foundation(&candidate.foundation) {
            return Err(CandidateError::InvalidFoundation);
        }
        if let Some(i) = self.remotes.iter().position(|r| {
            r.addr == candidate.addr
                && r.component == candidate.component
                && r.protocol == candidate.protocol
        }) {
            if self.remotes[i].kind == CandidateKind::PeerReflexive {
                self.replace_peer_reflexive(now, i, candidate);
            }
            return Ok(());
        }
        if self.remotes.len() >= self.cfg.max_remote_candidates {
            self.stats.dropped_candidates += 1;
            return Err(CandidateError::Limit);
        }
        let r = self.remotes.len();
        self.remotes.push(candidate);
        for l in 0..self.locals.len() {
            if self.locals[l].is_base() {
                self.form_pair(l, r);
            }
        }
        if let Some(c) = self
            .components
            .iter_mut()
            .find(|c| c.id == self.remotes[r].component)
        {
            c.idle_since = None;
        }
        self.settle(now);
        Ok(())
    }

    /// The peer signalled end-of-candidates (RFC 8838 §13, XEP-0371 `gathering-complete`):
    /// when every pair of a component has failed, the component fails at once.
    pub fn end_of_remote_candidates(&mut self, now: Instant) {
        self.saw(now);
        self.remote_end_of_candidates = true;
        self.settle(now);
    }

    /// ICE restart (RFC 8445 §9, XEP-0371 §5.10): new local credentials and generation;
    /// remote candidates, pairs and checks of the old generation are dropped, except the
    /// selected pairs, which keep carrying data (with consent checks under the old
    /// credentials) until the new generation selects pairs. [`Event::LocalCredentials`] and
    /// the local candidates follow, then [`Event::GatheringComplete`]. The peer's new
    /// credentials come through [`Self::set_remote_credentials`].
    pub fn restart(&mut self, now: Instant) {
        let creds = Creds::new(
            random_string(&mut self.rng, 8),
            random_string(&mut self.rng, 24),
        );
        self.restart_as(now, creds);
    }

    /// [`Self::restart`] with credentials the application chose (RFC 8445 §5.3: a ufrag of 4
    /// to 256 ice-chars, a password of 22 to 256), for example to replay a signalled exchange.
    /// The ufrag must differ from the current one (RFC 8445 §9).
    pub fn restart_with_credentials(
        &mut self,
        now: Instant,
        ufrag: &str,
        pwd: &str,
    ) -> Result<(), CredentialsError> {
        check_local_creds(ufrag, pwd)?;
        if ufrag == self.local_creds.ufrag {
            return Err(CredentialsError::InUse);
        }
        self.restart_as(now, Creds::new(ufrag.to_owned(), pwd.to_owned()));
        Ok(())
    }

    /// Replaces the credentials [`Self::new`] drew with the application's (RFC 8445 §5.3: a
    /// ufrag of 4 to 256 ice-chars, a password of 22 to 256), before they are used: once a
    /// check was sent or answered, only a restart changes them ([`CredentialsError::InUse`]).
    pub fn set_local_credentials(
        &mut self,
        ufrag: &str,
        pwd: &str,
    ) -> Result<(), CredentialsError> {
        check_local_creds(ufrag, pwd)?;
        if self.generation != 0 || self.stats.checks_sent != 0 || self.stats.checks_received != 0 {
            return Err(CredentialsError::InUse);
        }
        self.local_creds = Creds::new(ufrag.to_owned(), pwd.to_owned());
        if let Some(r) = &self.remote_creds {
            self.username = format!("{}:{ufrag}", r.ufrag);
        }
        Ok(())
    }

    /// Application data for `component`, to be sent over its selected pair (or, during a
    /// restart, the previous generation's). The returned [`Transmit`] borrows `data`, or, on a
    /// relayed pair, the TURN client's buffer with `data` wrapped in ChannelData or a Send
    /// indication (RFC 8656 §11, §12), or, on a TCP pair, the agent's buffer with `data`
    /// framed (RFC 4571; over 65,535 bytes, [`SendError::FrameTooLarge`]): send it before the
    /// next call on the agent.
    pub fn send<'a>(
        &'a mut self,
        now: Instant,
        component: ComponentId,
        data: &'a [u8],
    ) -> Result<Transmit<'a>, SendError> {
        self.saw(now);
        let ci = self
            .components
            .iter()
            .position(|c| c.id == component)
            .ok_or(SendError::UnknownComponent(component))?;
        let route = if let Some(id) = self.components[ci].selected {
            if self.components[ci].consent.lost {
                return Err(SendError::ConsentLost);
            }
            let p = self.pair(id).ok_or(SendError::NotConnected)?;
            let route = self.pair_route(p).ok_or(SendError::NotConnected)?;
            self.components[ci].consent.last_sent = Some(now);
            route
        } else if let Some(old) = &mut self.old
            && let Some(p) = old.pairs.iter_mut().find(|p| p.component == component)
        {
            if p.consent.lost {
                return Err(SendError::ConsentLost);
            }
            p.consent.last_sent = Some(now);
            p.route
        } else {
            return Err(SendError::NotConnected);
        };
        let relayed = matches!(route, Route::Relay { .. });
        let scratch = &mut self.send_buf;
        let t = route.transmit(
            relay::client(&mut self.relays, route),
            now,
            Bytes::Borrowed { data, scratch },
        )?;
        if relayed {
            self.stats.relayed_sent += 1;
        }
        Ok(t)
    }

    /// Releases the TURN allocations (RFC 8656 §8: a Refresh with LIFETIME 0 each), when the
    /// session ends: drain [`Self::poll_transmit`] as after any verb, and keep driving the
    /// agent until [`Self::poll_timeout`] has nothing for the TURN clients (their releases
    /// answered or given up) if the allocations should be gone at once rather than expire.
    /// Relayed pairs stop working. Every TCP connection is closed ([`Event::Close`] each) and
    /// its pairs fail.
    pub fn close(&mut self, now: Instant) {
        self.saw(now);
        self.close_relays(now);
        self.tcp_close_all(now);
        self.settle(now);
    }

    // ---------------------------------------------------------------- output

    /// The next datagram to send. Send it before calling the agent again: it borrows the
    /// agent's buffer.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        // A datagram through a relay whose peer lost its permission since it was queued (or
        // never got one: an answer to a check that came through the relay while our
        // CreatePermission was in flight) cannot leave: dropped and counted.
        while let Some(&route) = self.out.front() {
            if self.route_ready(route) {
                break;
            }
            let _ = self.out.pop();
            self.stats.relay_unsent += 1;
        }
        // Every input that queues a datagram gave a `now` first (`saw`).
        let now = self.last_now?;
        let (route, room) = self.out.pop_with_room()?;
        if matches!(route, Route::Relay { .. }) {
            self.stats.relayed_sent += 1;
        }
        // Cannot fail: the route is ready and the message fits (at most `MAX_OUT` bytes).
        let client = relay::client(&mut self.relays, route);
        route.transmit(client, now, Bytes::Queued(room)).ok()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`Self::handle_timeout`] next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut at = |i: Option<Instant>| {
            if let Some(i) = i {
                t = Some(t.map_or(i, |t| t.min(i)));
            }
        };
        for tx in &self.transactions {
            at(Some(tx.next_at));
        }
        // With every transaction slot taken, new work waits for a transaction to end, whose
        // deadline is already counted above.
        if self.has_new_work() && self.transactions.len() < self.cfg.max_transactions {
            // Never paced yet: at once, that is at the latest instant the agent was given.
            at(self.next_pace.or(self.last_now));
        }
        for c in &self.components {
            at(self.nomination_due(c).map(|(t, _)| t));
            if let Some(idle) = c.idle_since.filter(|_| c.state != State::Failed) {
                at(Some(idle + self.cfg.no_end_of_candidates_timeout));
            }
            if c.selected.is_some() && !c.consent.lost {
                at(self.consent_deadline(&c.consent));
            }
        }
        if let Some(old) = &self.old {
            for p in &old.pairs {
                if !p.consent.lost {
                    at(self.consent_deadline(&p.consent));
                }
            }
        }
        for r in &self.relays {
            at(r.client.poll_timeout());
        }
        at(self.tcp_deadline());
        t
    }

    // ---------------------------------------------------------------- input

    /// Takes in a datagram that arrived on a host candidate's UDP socket: a STUN message for
    /// the agent, application data for the caller (RFC 7983 demultiplexing), or garbage,
    /// dropped and counted. TCP bytes go to [`Self::handle_stream`] instead: a datagram with
    /// protocol TCP is dropped ([`DropReason::TcpDatagram`]).
    pub fn handle_receive<'a>(&mut self, now: Instant, d: Datagram<'a>) -> Received<'a> {
        self.saw(now);
        let r = if d.protocol == Protocol::Tcp {
            Received::Dropped(DropReason::TcpDatagram)
        } else {
            self.receive(now, d)
        };
        if let Received::Dropped(why) = r {
            self.count_drop(why);
        }
        self.settle(now);
        r
    }

    /// Advances timers: retransmissions and transaction timeouts, the next paced check (one
    /// per Ta, RFC 8445 §14.2), nomination, consent and keepalives, failure without
    /// end-of-candidates. Calls before the time [`Self::poll_timeout`] gave do nothing
    /// harmful.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.saw(now);
        for r in &mut self.relays {
            r.client.handle_timeout(now);
        }
        self.drain_relays(now);
        self.timeout_transactions(now);
        self.tcp_timeout(now);
        self.pace(now);
        self.nominate(now);
        self.consent(now);
        self.settle(now);
    }
}

// ------------------------------------------------------------------ internals

impl IceAgent {
    fn component(&self, id: ComponentId) -> Option<&Component> {
        self.components.iter().find(|c| c.id == id)
    }

    fn check_component(&self, c: ComponentId) -> Result<(), CandidateError> {
        if c == 0 || usize::from(c) > self.components.len() {
            return Err(CandidateError::InvalidComponent(c));
        }
        Ok(())
    }

    /// After every input and verb: what the TURN clients have to say, the TCP connections no
    /// pair needs any more, then the states.
    fn settle(&mut self, now: Instant) {
        self.drain_relays(now);
        self.tcp_gc(now);
        self.update_states(now);
    }

    fn saw(&mut self, now: Instant) {
        if self.last_now.is_none_or(|t| t < now) {
            self.last_now = Some(now);
        }
    }
}
