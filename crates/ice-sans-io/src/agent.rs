//! The ICE agent (RFC 8445 full agent, RFC 8838 trickle, RFC 7675 consent), without I/O.

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

use crate::candidate::{
    Candidate, CandidateKind, ComponentId, LocalPreferenceInput, Protocol, is_ice_char,
    is_valid_foundation, priority,
};
use crate::config::{Config, Role};
use crate::event::{
    Datagram, DropReason, Event, FailReason, PairInfo, Received, State, Stats, Transmit,
};
use crate::stun::{
    Attribute, BuildError, Class, ErrorCode, Fingerprint, Integrity, IntegrityKey, Message,
    MessageBuilder, Method, TransactionId, UnknownAttributes,
};

/// Room reserved in the output buffer for one STUN message: a USERNAME of two 256-byte
/// fragments and every other attribute the agent writes fit well within it.
const MAX_OUT: usize = 1024;
/// Longest accepted ufrag or password (RFC 8445 §5.3: 256 characters).
const MAX_CRED_LEN: usize = 256;

/// Misuse of [`IceAgent::add_local_host`] or [`IceAgent::add_remote_candidate`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CandidateError {
    /// The component is 0 or above [`Config::components`].
    InvalidComponent(ComponentId),
    /// The foundation is not 1 to 32 ice-chars (RFC 8445 §5.1.1.3).
    InvalidFoundation,
    /// The address is unspecified (0.0.0.0, ::), multicast, or has port 0.
    InvalidAddress(SocketAddr),
    /// Only UDP is paired so far.
    UnsupportedProtocol(Protocol),
    /// A peer-reflexive candidate cannot be signalled (RFC 8445 §7.3.1.3 learns them from
    /// checks); a relayed local candidate needs a TURN client, which the agent has not.
    UnsupportedKind(CandidateKind),
    /// [`Config::max_remote_candidates`] reached; the candidate was dropped and counted.
    Limit,
}

impl fmt::Display for CandidateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CandidateError::InvalidComponent(c) => {
                write!(f, "component {c} is not one of this agent's components")
            }
            CandidateError::InvalidFoundation => {
                f.write_str("a foundation is 1 to 32 ice-chars (RFC 8445 §5.1.1.3)")
            }
            CandidateError::InvalidAddress(a) => {
                write!(f, "{a} is not a usable unicast transport address")
            }
            CandidateError::UnsupportedProtocol(p) => {
                write!(f, "{} candidates are not supported", p.as_str())
            }
            CandidateError::UnsupportedKind(k) => {
                write!(f, "{} candidates cannot be added", k.as_str())
            }
            CandidateError::Limit => f.write_str("the remote candidate limit is reached"),
        }
    }
}

impl std::error::Error for CandidateError {}

/// Misuse of [`IceAgent::set_remote_credentials`], [`IceAgent::set_local_credentials`] or
/// [`IceAgent::restart_with_credentials`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialsError {
    /// The ufrag is empty, longer than 256, or holds a character that is not an ice-char; for
    /// our own credentials, also shorter than 4 characters (RFC 8445 §5.3).
    BadUfrag,
    /// The password is empty, longer than 256, or holds a character that is not an ice-char;
    /// for our own credentials, also shorter than 22 characters (RFC 8445 §5.3).
    BadPwd,
    /// Our credentials cannot change here: checks were already sent or answered with the
    /// current ones (use [`IceAgent::restart_with_credentials`]), or a restart was asked with
    /// the current ufrag (RFC 8445 §9 needs new ones).
    InUse,
}

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialsError::BadUfrag => {
                f.write_str("the ufrag must be 1 to 256 ice-chars (RFC 8445 §5.3)")
            }
            CredentialsError::BadPwd => {
                f.write_str("the password must be 1 to 256 ice-chars (RFC 8445 §5.3)")
            }
            CredentialsError::InUse => f.write_str(
                "the local credentials are in use: change them with a restart (RFC 8445 §9)",
            ),
        }
    }
}

impl std::error::Error for CredentialsError {}

/// Why [`IceAgent::send`] cannot send.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The component has no valid pair yet.
    NotConnected,
    /// Consent was lost on the component (RFC 7675 §5.1).
    ConsentLost,
    /// No such component.
    UnknownComponent(ComponentId),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotConnected => f.write_str("the component has no valid pair yet"),
            SendError::ConsentLost => f.write_str("consent was lost (RFC 7675)"),
            SendError::UnknownComponent(c) => write!(f, "no component {c}"),
        }
    }
}

impl std::error::Error for SendError {}

/// Credentials of one side in one generation, with the integrity key set up once.
#[derive(Clone)]
struct Creds {
    ufrag: String,
    pwd: String,
    key: IntegrityKey,
}

impl Creds {
    fn new(ufrag: String, pwd: String) -> Creds {
        let key = IntegrityKey::short_term(&pwd);
        Creds { ufrag, pwd, key }
    }
}

impl fmt::Debug for Creds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Creds")
            .field("ufrag", &self.ufrag)
            .finish_non_exhaustive()
    }
}

/// A local candidate with its base (RFC 8445 §5.1.1).
#[derive(Debug, Clone)]
struct Local {
    cand: Candidate,
    base: SocketAddr,
}

/// Server-reflexive gathering from one host address to one STUN server.
#[derive(Debug, Clone)]
struct Gather {
    host: usize,
    server: SocketAddr,
    started: bool,
    done: bool,
}

/// RFC 8445 §6.1.2.6 pair states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PairState {
    Frozen,
    Waiting,
    InProgress,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone)]
struct Pair {
    id: u32,
    component: ComponentId,
    /// Index of the host candidate (the base) in `locals`.
    local: usize,
    /// Index in `remotes`.
    remote: usize,
    priority: u64,
    state: PairState,
    /// The local candidate whose address the peer saw (RFC 8445 §7.2.5.3.2).
    mapped_local: Option<usize>,
    /// Nominated (RFC 8445 §8.1.1 controlling, §7.3.1.5 controlled).
    nominated: bool,
    /// Controlled: the peer sent USE-CANDIDATE on this pair (RFC 8445 §7.3.1.5).
    use_candidate_received: bool,
    rtt: Option<Duration>,
    /// Nomination transactions sent on this pair (controlling agent).
    nominations: u8,
}

/// A nomination whose transaction times out on a valid pair is sent again, up to this many
/// transactions, before the pair is failed and another valid pair nominated: the peer may have
/// taken a request whose responses were all lost, and nominating another pair then would leave
/// the two agents on different pairs (RFC 8445 §8.1.1 allows one nominated pair).
const MAX_NOMINATIONS: u8 = 3;

/// One check queued for sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Triggered {
    pair: u32,
    use_candidate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxKind {
    /// A connectivity check (or a consent check) on a pair of the current generation.
    Check {
        pair: u32,
        use_candidate: bool,
        role: Role,
        consent: bool,
    },
    /// A consent check on the previous generation's selected pair of a component.
    OldConsent { component: ComponentId },
    /// Server-reflexive gathering.
    Gather { gather: usize },
}

#[derive(Debug, Clone)]
struct Transaction {
    tid: TransactionId,
    kind: TxKind,
    local: SocketAddr,
    remote: SocketAddr,
    /// The PRIORITY sent (checks).
    priority: u32,
    first_sent: Instant,
    next_at: Instant,
    rto: Duration,
    sent: u32,
    /// Retransmissions stopped (RFC 8445 §7.3.1.4): a response is still taken, a timeout is
    /// no failure.
    cancelled: bool,
}

/// A check that arrived before the remote credentials it names (RFC 8445 §7.3.1).
#[derive(Debug, Clone)]
struct EarlyCheck {
    local: usize,
    remote: SocketAddr,
    remote_ufrag: String,
    priority: u32,
    use_candidate: bool,
}

/// Per component: selection, consent, keepalive, failure.
#[derive(Debug, Clone)]
struct Component {
    id: ComponentId,
    state: State,
    /// The pair data goes on.
    selected: Option<u32>,
    first_valid_at: Option<Instant>,
    nominating: Option<u32>,
    /// Whether the last [`Event::SelectedPair`] said nominated.
    reported_nominated: bool,
    /// When the component had no live pair left and no end-of-candidates (RFC 8838 §8).
    idle_since: Option<Instant>,
    consent: Consent,
}

/// RFC 7675 consent and RFC 8445 §11 keepalive state of one selected pair.
#[derive(Debug, Clone, Default)]
struct Consent {
    expires: Option<Instant>,
    next_check: Option<Instant>,
    last_sent: Option<Instant>,
    lost: bool,
}

/// What is kept of the previous generation during a restart (RFC 8445 §9: the old pair keeps
/// carrying data until the new generation selects one).
#[derive(Debug, Clone)]
struct OldGeneration {
    local: Creds,
    remote: Creds,
    /// Username for requests: `remote:local`.
    username: String,
    pairs: Vec<OldPair>,
}

#[derive(Debug, Clone)]
struct OldPair {
    component: ComponentId,
    base: SocketAddr,
    remote: SocketAddr,
    priority: u32,
    info: PairInfo,
    consent: Consent,
}

/// Queue of datagrams to send, all in one reused buffer.
#[derive(Debug, Default)]
struct OutQueue {
    buf: Vec<u8>,
    queue: VecDeque<(SocketAddr, SocketAddr, usize, usize)>,
}

/// A full ICE agent for one data stream (RFC 8445), sans I/O.
///
/// The caller owns sockets, clock and timers. Methods come in four families:
/// - getters (`&self`): [`state`](Self::state), [`role`](Self::role),
///   [`selected_pair`](Self::selected_pair), [`stats`](Self::stats), …;
/// - input: [`handle_receive`](Self::handle_receive) (every datagram that arrives on a host
///   candidate's socket), [`handle_timeout`](Self::handle_timeout) (when
///   [`poll_timeout`](Self::poll_timeout) says; early calls do nothing);
/// - verbs: [`add_local_host`](Self::add_local_host), [`add_stun_server`](Self::add_stun_server),
///   [`gather`](Self::gather), [`set_remote_credentials`](Self::set_remote_credentials),
///   [`add_remote_candidate`](Self::add_remote_candidate),
///   [`end_of_remote_candidates`](Self::end_of_remote_candidates), [`restart`](Self::restart),
///   [`send`](Self::send);
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
    events: VecDeque<Event>,
    stats: Stats,
}

fn random_string(rng: &mut ChaCha8Rng, len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| CHARS[(rng.next_u32() as usize) % CHARS.len()] as char)
        .collect()
}

fn valid_cred(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_CRED_LEN && s.bytes().all(is_ice_char)
}

/// RFC 8445 §5.3: our ufrag has at least 4 characters and our password at least 22 (the
/// peer's are taken shorter: some deployed clients send shorter ones).
fn check_local_creds(ufrag: &str, pwd: &str) -> Result<(), CredentialsError> {
    if !valid_cred(ufrag) || ufrag.len() < 4 {
        return Err(CredentialsError::BadUfrag);
    }
    if !valid_cred(pwd) || pwd.len() < 22 {
        return Err(CredentialsError::BadPwd);
    }
    Ok(())
}

/// RFC 8445 §6.1.2.3: `2^32*MIN(G,D) + 2*MAX(G,D) + (G>D?1:0)`.
fn pair_priority(controlling: u32, controlled: u32) -> u64 {
    let (g, d) = (u64::from(controlling), u64::from(controlled));
    (g.min(d) << 32) + 2 * g.max(d) + u64::from(g > d)
}

impl IceAgent {
    /// A new agent with fresh local credentials (8-character ufrag, 24-character password:
    /// RFC 8445 §5.3 asks for at least 4 and 22) and tie-breaker, all drawn from `rng_seed`.
    pub fn new(config: Config, rng_seed: [u8; 32]) -> IceAgent {
        let mut rng = ChaCha8Rng::from_seed(rng_seed);
        let tie_breaker = rng.next_u64();
        let local_creds = Creds::new(random_string(&mut rng, 8), random_string(&mut rng, 24));
        let n = config.components.clamp(1, 256);
        let components = (1..=n)
            .map(|id| Component {
                id,
                state: State::New,
                selected: None,
                first_valid_at: None,
                nominating: None,
                reported_nominated: false,
                idle_since: None,
                consent: Consent::default(),
            })
            .collect();
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

    /// Number of STUN transactions in flight.
    pub fn transactions_in_flight(&self) -> usize {
        self.transactions.len()
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
            .any(|l| l.cand.kind == CandidateKind::Host && l.base == addr)
        {
            return Ok(());
        }
        let index = self
            .locals
            .iter()
            .filter(|l| {
                l.cand.kind == CandidateKind::Host
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
        };
        let host = self.locals.len();
        self.locals.push(Local {
            cand: cand.clone(),
            base: addr,
        });
        self.events.push_back(Event::LocalCandidate(cand));
        for s in 0..self.servers.len() {
            self.add_gather(host, self.servers[s]);
        }
        for r in 0..self.remotes.len() {
            self.form_pair(host, r);
        }
        Ok(())
    }

    /// Adds a STUN server for server-reflexive gathering (RFC 8445 §5.1.1.2): each host
    /// candidate of the same address family asks it, paced by Ta, retransmitted per RFC 8489.
    pub fn add_stun_server(&mut self, server: SocketAddr) {
        if self.servers.contains(&server) {
            return;
        }
        self.servers.push(server);
        for h in 0..self.locals.len() {
            if self.locals[h].cand.kind == CandidateKind::Host {
                self.add_gather(h, server);
            }
        }
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
        if !valid_cred(ufrag) {
            return Err(CredentialsError::BadUfrag);
        }
        if !valid_cred(pwd) {
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
                self.learn_from_check(now, e.local, e.remote, e.priority, e.use_candidate);
            }
        }
        self.update_states(now);
        Ok(())
    }

    /// Adds a remote candidate (RFC 8838 §11: at any time). Pairs are formed with every local
    /// host candidate of the same component and address family (server-reflexive local
    /// candidates are replaced by their base, RFC 8445 §6.1.2.4). A candidate with the address
    /// of a known one updates nothing. Over [`Config::max_remote_candidates`] it is dropped,
    /// counted, and [`CandidateError::Limit`] returned.
    pub fn add_remote_candidate(
        &mut self,
        now: Instant,
        candidate: Candidate,
    ) -> Result<(), CandidateError> {
        self.saw(now);
        self.check_component(candidate.component)?;
        check_address(candidate.addr)?;
        if candidate.protocol != Protocol::Udp {
            return Err(CandidateError::UnsupportedProtocol(candidate.protocol));
        }
        if candidate.kind == CandidateKind::PeerReflexive {
            return Err(CandidateError::UnsupportedKind(candidate.kind));
        }
        if !is_valid_foundation(&candidate.foundation) {
            return Err(CandidateError::InvalidFoundation);
        }
        if let Some(i) = self
            .remotes
            .iter()
            .position(|r| r.addr == candidate.addr && r.component == candidate.component)
        {
            // RFC 8445 §7.3.1.3: a signalled candidate that was learned as peer-reflexive
            // takes the signalled type and foundation; the pairs keep their priority.
            if self.remotes[i].kind == CandidateKind::PeerReflexive {
                self.remotes[i].kind = candidate.kind;
                self.remotes[i].foundation = candidate.foundation;
                self.remotes[i].related = candidate.related;
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
            if self.locals[l].cand.kind == CandidateKind::Host {
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
        self.update_states(now);
        Ok(())
    }

    /// The peer signalled end-of-candidates (RFC 8838 §13, XEP-0371 `gathering-complete`):
    /// when every pair of a component has failed, the component fails at once.
    pub fn end_of_remote_candidates(&mut self, now: Instant) {
        self.saw(now);
        self.remote_end_of_candidates = true;
        self.update_states(now);
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

    fn restart_as(&mut self, now: Instant, creds: Creds) {
        self.saw(now);
        // Keep the selected pairs of the old generation (or those it kept itself).
        let mut pairs = Vec::new();
        for c in &self.components {
            if let Some(p) = c.selected.and_then(|id| self.pair(id)) {
                if !c.consent.lost {
                    pairs.push(OldPair {
                        component: c.id,
                        base: self.locals[p.local].base,
                        remote: self.remotes[p.remote].addr,
                        priority: self.prflx_priority(p.local),
                        info: self.pair_info(p),
                        consent: c.consent.clone(),
                    });
                }
            } else if let Some(old) = &self.old {
                pairs.extend(old.pairs.iter().filter(|p| p.component == c.id).cloned());
            }
        }
        self.old = match self.remote_creds.take() {
            Some(remote) if !pairs.is_empty() => Some(OldGeneration {
                local: self.local_creds.clone(),
                username: self.username.clone(),
                remote,
                pairs,
            }),
            _ => self.old.take().filter(|_| !pairs.is_empty()),
        };
        self.generation += 1;
        self.local_creds = creds;
        self.username.clear();
        self.remotes.clear();
        self.prflx_count = 0;
        self.remote_end_of_candidates = false;
        self.pairs.clear();
        self.triggered.clear();
        self.early.clear();
        self.transactions
            .retain(|t| matches!(t.kind, TxKind::OldConsent { .. } | TxKind::Gather { .. }));
        // Peer-reflexive local candidates go; gatherings keep pointing at their host (an index
        // into `locals`, shifted by the removal: stale, it panicked or named another host).
        let mut kept = 0;
        let shifted: Vec<usize> = self
            .locals
            .iter()
            .map(|l| {
                let i = kept;
                kept += usize::from(l.cand.kind != CandidateKind::PeerReflexive);
                i
            })
            .collect();
        for g in &mut self.gathers {
            g.host = shifted[g.host];
        }
        self.locals
            .retain(|l| l.cand.kind != CandidateKind::PeerReflexive);
        for c in &mut self.components {
            c.selected = None;
            c.first_valid_at = None;
            c.nominating = None;
            c.reported_nominated = false;
            c.idle_since = None;
            c.consent = Consent::default();
        }
        // Old consent transactions keep running under their own kind.
        self.events.push_back(Event::LocalCredentials {
            ufrag: self.local_creds.ufrag.clone(),
            pwd: self.local_creds.pwd.clone(),
            generation: self.generation,
        });
        for l in &self.locals {
            self.events.push_back(Event::LocalCandidate(l.cand.clone()));
        }
        self.gathering_complete_sent = false;
        self.maybe_gathering_complete();
    }

    /// Application data for `component`, to be sent over its selected pair (or, during a
    /// restart, the previous generation's). The returned [`Transmit`] borrows `data`.
    pub fn send<'d>(
        &mut self,
        now: Instant,
        component: ComponentId,
        data: &'d [u8],
    ) -> Result<Transmit<'d>, SendError> {
        let ci = self
            .components
            .iter()
            .position(|c| c.id == component)
            .ok_or(SendError::UnknownComponent(component))?;
        if let Some(id) = self.components[ci].selected {
            if self.components[ci].consent.lost {
                return Err(SendError::ConsentLost);
            }
            let p = self.pair(id).ok_or(SendError::NotConnected)?;
            let (local, remote) = (self.locals[p.local].base, self.remotes[p.remote].addr);
            self.components[ci].consent.last_sent = Some(now);
            return Ok(Transmit {
                local,
                remote,
                protocol: Protocol::Udp,
                data,
            });
        }
        if let Some(old) = &mut self.old
            && let Some(p) = old.pairs.iter_mut().find(|p| p.component == component)
        {
            if p.consent.lost {
                return Err(SendError::ConsentLost);
            }
            p.consent.last_sent = Some(now);
            return Ok(Transmit {
                local: p.base,
                remote: p.remote,
                protocol: Protocol::Udp,
                data,
            });
        }
        Err(SendError::NotConnected)
    }

    // ---------------------------------------------------------------- output

    /// The next datagram to send. Send it before calling the agent again: it borrows the
    /// agent's buffer.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        let Some((local, remote, start, end)) = self.out.queue.pop_front() else {
            self.out.buf.clear();
            return None;
        };
        Some(Transmit {
            local,
            remote,
            protocol: Protocol::Udp,
            data: &self.out.buf[start..end],
        })
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
        t
    }

    // ---------------------------------------------------------------- input

    /// Takes in a datagram that arrived on a host candidate's socket: a STUN message for the
    /// agent, application data for the caller (RFC 7983 demultiplexing), or garbage, dropped
    /// and counted.
    pub fn handle_receive<'a>(&mut self, now: Instant, d: Datagram<'a>) -> Received<'a> {
        self.saw(now);
        let r = self.receive(now, d);
        if let Received::Dropped(why) = r {
            let s = &mut self.stats;
            match why {
                DropReason::Malformed => s.dropped_malformed += 1,
                DropReason::BadFingerprint => s.dropped_malformed += 1,
                DropReason::Unauthenticated => s.dropped_unauthenticated += 1,
                DropReason::Refused => s.refused += 1,
                DropReason::UnknownTransaction => s.dropped_unknown_transaction += 1,
                DropReason::UnknownLocalAddress | DropReason::UnknownPeer => {
                    s.dropped_unknown_address += 1
                }
                DropReason::Unhandled => s.dropped_unhandled += 1,
            }
        }
        self.update_states(now);
        r
    }

    /// Advances timers: retransmissions and transaction timeouts, the next paced check (one
    /// per Ta, RFC 8445 §14.2), nomination, consent and keepalives, failure without
    /// end-of-candidates. Calls before the time [`Self::poll_timeout`] gave do nothing
    /// harmful.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.saw(now);
        self.timeout_transactions(now);
        self.pace(now);
        self.nominate(now);
        self.consent(now);
        self.update_states(now);
    }
}

fn check_address(addr: SocketAddr) -> Result<(), CandidateError> {
    let ip = addr.ip();
    if addr.port() == 0 || ip.is_unspecified() || ip.is_multicast() {
        return Err(CandidateError::InvalidAddress(addr));
    }
    if let IpAddr::V4(v4) = ip
        && v4.is_broadcast()
    {
        return Err(CandidateError::InvalidAddress(addr));
    }
    Ok(())
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

    fn pair(&self, id: u32) -> Option<&Pair> {
        self.pairs.iter().find(|p| p.id == id)
    }

    fn pair_mut(&mut self, id: u32) -> Option<&mut Pair> {
        self.pairs.iter_mut().find(|p| p.id == id)
    }

    fn pair_info(&self, p: &Pair) -> PairInfo {
        let local = &self.locals[p.mapped_local.unwrap_or(p.local)];
        PairInfo {
            local: local.cand.clone(),
            base: self.locals[p.local].base,
            remote: self.remotes[p.remote].clone(),
            nominated: p.nominated,
            rtt: p.rtt,
        }
    }

    /// RFC 8445 §5.1.1.3: one foundation per (type, base IP, STUN server IP, protocol).
    fn foundation(
        &mut self,
        kind: CandidateKind,
        base: IpAddr,
        server: Option<IpAddr>,
        protocol: Protocol,
    ) -> String {
        let key = (kind, base, server, protocol);
        let i = match self.foundations.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                self.foundations.push(key);
                self.foundations.len() - 1
            }
        };
        (i + 1).to_string()
    }

    fn add_gather(&mut self, host: usize, server: SocketAddr) {
        if self.locals[host].base.is_ipv4() != server.is_ipv4() {
            return;
        }
        self.gathers.push(Gather {
            host,
            server,
            started: false,
            done: false,
        });
        self.gathering_complete_sent = false;
    }

    fn maybe_gathering_complete(&mut self) {
        if self.gather_requested
            && !self.gathering_complete_sent
            && self.gathers.iter().all(|g| g.done)
        {
            self.gathering_complete_sent = true;
            self.events.push_back(Event::GatheringComplete);
        }
    }

    /// The priority a peer-reflexive candidate learned from this base would have (the
    /// PRIORITY of our checks, RFC 8445 §7.1.1).
    fn prflx_priority(&self, local: usize) -> u32 {
        let c = &self.locals[local].cand;
        let local_pref = ((c.priority >> 8) & 0xFFFF) as u16;
        priority(
            CandidateKind::PeerReflexive.type_preference(),
            local_pref,
            c.component,
        )
    }

    /// Forms the pair (host `l`, remote `r`) if they match (RFC 8445 §6.1.2.2) and the check
    /// list has room (RFC 8445 §6.1.2.5). Returns its id.
    fn form_pair(&mut self, l: usize, r: usize) -> Option<u32> {
        let (lc, rc) = (&self.locals[l].cand, &self.remotes[r]);
        if lc.component != rc.component || lc.addr.is_ipv4() != rc.addr.is_ipv4() {
            return None;
        }
        if let Some(p) = self.pairs.iter().find(|p| p.local == l && p.remote == r) {
            return Some(p.id);
        }
        let (g, d) = match self.role {
            Role::Controlling => (lc.priority, rc.priority),
            Role::Controlled => (rc.priority, lc.priority),
        };
        let prio = pair_priority(g, d);
        if self.pairs.len() >= self.cfg.max_pairs {
            // Prune the lowest-priority pair not yet checked, if it ranks below this one.
            let victim = self
                .pairs
                .iter()
                .enumerate()
                .filter(|(_, p)| matches!(p.state, PairState::Frozen | PairState::Waiting))
                .min_by_key(|(_, p)| p.priority)
                .map(|(i, p)| (i, p.priority, p.id));
            match victim {
                Some((i, vp, vid)) if vp < prio => {
                    self.pairs.remove(i);
                    self.triggered.retain(|t| t.pair != vid);
                    self.stats.dropped_pairs += 1;
                }
                _ => {
                    self.stats.dropped_pairs += 1;
                    return None;
                }
            }
        }
        let id = self.next_pair_id;
        self.next_pair_id = self.next_pair_id.wrapping_add(1);
        // RFC 8838 §11 / RFC 8445 §6.1.2.6: Waiting when no pair of the same foundation is
        // Waiting or In-Progress, Frozen otherwise.
        let state = if self.pairs.iter().any(|p| {
            matches!(p.state, PairState::Waiting | PairState::InProgress)
                && self.same_foundation(p.local, p.remote, l, r)
        }) {
            PairState::Frozen
        } else {
            PairState::Waiting
        };
        let pair = Pair {
            id,
            component: lc.component,
            local: l,
            remote: r,
            priority: prio,
            state,
            mapped_local: None,
            nominated: false,
            use_candidate_received: false,
            rtt: None,
            nominations: 0,
        };
        let at = self
            .pairs
            .iter()
            .position(|p| p.priority < prio)
            .unwrap_or(self.pairs.len());
        self.pairs.insert(at, pair);
        Some(id)
    }

    fn same_foundation(&self, l1: usize, r1: usize, l2: usize, r2: usize) -> bool {
        self.locals[l1].cand.foundation == self.locals[l2].cand.foundation
            && self.remotes[r1].foundation == self.remotes[r2].foundation
    }

    fn recompute_pair_priorities(&mut self) {
        for i in 0..self.pairs.len() {
            let (lp, rp) = (
                self.locals[self.pairs[i].local].cand.priority,
                self.remotes[self.pairs[i].remote].priority,
            );
            self.pairs[i].priority = match self.role {
                Role::Controlling => pair_priority(lp, rp),
                Role::Controlled => pair_priority(rp, lp),
            };
        }
        self.pairs.sort_by_key(|p| std::cmp::Reverse(p.priority));
    }

    fn switch_role(&mut self) {
        self.role = self.role.flip();
        self.recompute_pair_priorities();
        self.events.push_back(Event::RoleChanged(self.role));
    }

    fn saw(&mut self, now: Instant) {
        if self.last_now.is_none_or(|t| t < now) {
            self.last_now = Some(now);
        }
    }

    fn has_new_work(&self) -> bool {
        (self.gather_requested && self.gathers.iter().any(|g| !g.started))
            || (self.remote_creds.is_some()
                && (self.triggered.iter().any(|t| self.triggered_useful(*t))
                    || self.next_ordinary_check().is_some()))
    }

    fn component_nominated(&self, component: ComponentId) -> bool {
        self.pairs
            .iter()
            .any(|p| p.component == component && p.nominated)
    }

    fn new_tid(&mut self) -> TransactionId {
        let mut b = [0u8; 12];
        self.rng.fill_bytes(&mut b);
        TransactionId::new(b)
    }

    /// Builds one STUN message into the output queue.
    fn push_out(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        build: impl FnOnce(&mut [u8]) -> Result<usize, BuildError>,
    ) {
        if self.out.queue.is_empty() {
            self.out.buf.clear();
        }
        let start = self.out.buf.len();
        self.out.buf.resize(start + MAX_OUT, 0);
        match build(&mut self.out.buf[start..]) {
            Ok(n) => {
                self.out.buf.truncate(start + n);
                self.out.queue.push_back((local, remote, start, start + n));
            }
            Err(_) => {
                // Only reachable with credentials longer than validated: nothing is sent.
                self.out.buf.truncate(start);
            }
        }
    }

    // ------------------------------------------------------------ receiving

    fn receive<'a>(&mut self, now: Instant, d: Datagram<'a>) -> Received<'a> {
        // RFC 7983 §7: first byte 0..=3 is STUN; anything else goes to the application.
        match d.data.first() {
            Some(0..=3) => {}
            Some(_) => return self.app_data(d),
            None => return Received::Dropped(DropReason::Malformed),
        }
        let Some(local) = self
            .locals
            .iter()
            .position(|l| l.cand.kind == CandidateKind::Host && l.base == d.local)
        else {
            return Received::Dropped(DropReason::UnknownLocalAddress);
        };
        let msg = match Message::decode(d.data) {
            Ok(m) => m,
            Err(_) => {
                // RFC 8489 §6.3: a malformed request gets a 400 when its header can be read.
                if let Some((Class::Request, Method::BINDING, tid)) = Message::peek_header(d.data) {
                    self.push_error(d.local, d.remote, tid, ErrorCode::BAD_REQUEST, None, None);
                }
                return Received::Dropped(DropReason::Malformed);
            }
        };
        if let Fingerprint::Bad { .. } = msg.fingerprint() {
            return Received::Dropped(DropReason::BadFingerprint);
        }
        if msg.method() != Method::BINDING || msg.is_rfc3489() {
            return Received::Dropped(DropReason::Unhandled);
        }
        match msg.class() {
            Class::Request => self.answer_check(now, local, d, &msg),
            // RFC 8445 §11: keepalives need no answer.
            Class::Indication => Received::Stun,
            Class::Success | Class::Error => self.handle_response(now, d, &msg),
        }
    }

    fn app_data<'a>(&self, d: Datagram<'a>) -> Received<'a> {
        let on_pair = self.pairs.iter().find(|p| {
            p.state == PairState::Succeeded
                && self.locals[p.local].base == d.local
                && self.remotes[p.remote].addr == d.remote
        });
        if let Some(p) = on_pair {
            return Received::Data {
                component: p.component,
                data: d.data,
            };
        }
        if let Some(old) = &self.old
            && let Some(p) = old
                .pairs
                .iter()
                .find(|p| p.base == d.local && p.remote == d.remote)
        {
            return Received::Data {
                component: p.component,
                data: d.data,
            };
        }
        Received::Dropped(DropReason::UnknownPeer)
    }

    fn push_error(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        tid: TransactionId,
        code: ErrorCode<'static>,
        key: Option<IntegrityKey>,
        unknown: Option<&[u8]>,
    ) {
        self.push_out(local, remote, |buf| {
            let mut b = MessageBuilder::new(buf, Class::Error, Method::BINDING, tid)?;
            b.add(&Attribute::ErrorCode(code))?;
            if let Some(u) = unknown.and_then(UnknownAttributes::from_bytes) {
                b.add(&Attribute::UnknownAttributes(u))?;
            }
            if let Some(k) = &key {
                b.add_integrity(k)?;
            }
            b.add_fingerprint()?;
            Ok(b.finish())
        });
    }

    /// Answers a request with an error (signed with `key` when the request was authenticated)
    /// and drops it.
    fn refuse<'a>(
        &mut self,
        d: &Datagram<'_>,
        tid: TransactionId,
        code: ErrorCode<'static>,
        key: Option<IntegrityKey>,
        unknown: &[u8],
    ) -> Received<'a> {
        let unknown = (!unknown.is_empty()).then_some(unknown);
        self.push_error(d.local, d.remote, tid, code, key, unknown);
        Received::Dropped(if code.code == 401 {
            DropReason::Unauthenticated
        } else {
            DropReason::Refused
        })
    }

    /// RFC 8445 §7.3: answering a connectivity check.
    fn answer_check<'a>(
        &mut self,
        now: Instant,
        local: usize,
        d: Datagram<'a>,
        msg: &Message<'_>,
    ) -> Received<'a> {
        let tid = msg.transaction_id();
        // RFC 8489 §9.1.3: without USERNAME and MESSAGE-INTEGRITY, 400.
        let (Some(username), true) = (msg.username(), msg.has_integrity()) else {
            return self.refuse(&d, tid, ErrorCode::BAD_REQUEST, None, &[]);
        };
        // XEP-0371 §5.6 fn. 33, RFC 8445 §7.2.2: USERNAME is `our-ufrag:their-ufrag`.
        let (ours, theirs) = username.split_once(':').unwrap_or((username, ""));
        let old_gen = ours != self.local_creds.ufrag;
        let key = if !old_gen {
            Some(self.local_creds.key.clone())
        } else {
            let old = self.old.as_ref().filter(|o| o.local.ufrag == ours);
            old.map(|o| o.local.key.clone())
        };
        // RFC 8489 §9.1.3: an unknown username or a bad MESSAGE-INTEGRITY, 401 unsigned.
        let Some(key) = key.filter(|k| msg.verify_integrity(k) == Integrity::Ok) else {
            return self.refuse(&d, tid, ErrorCode::UNAUTHENTICATED, None, &[]);
        };
        // RFC 8489 §6.3.1: unknown comprehension-required attributes, 420.
        let mut unknown = [0u8; 32];
        let mut n = 0;
        for t in msg.unknown_comprehension_required() {
            if n + 2 <= unknown.len() {
                unknown[n..n + 2].copy_from_slice(&t.0.to_be_bytes());
                n += 2;
            }
        }
        if n > 0 {
            return self.refuse(
                &d,
                tid,
                ErrorCode::UNKNOWN_ATTRIBUTE,
                Some(key),
                &unknown[..n],
            );
        }
        // RFC 8445 §7.1.1: PRIORITY and one of ICE-CONTROLLING / ICE-CONTROLLED are required.
        let (Some(prio), controlling, controlled) =
            (msg.priority(), msg.ice_controlling(), msg.ice_controlled())
        else {
            return self.refuse(&d, tid, ErrorCode::BAD_REQUEST, Some(key), &[]);
        };
        if controlling.is_none() && controlled.is_none() {
            return self.refuse(&d, tid, ErrorCode::BAD_REQUEST, Some(key), &[]);
        }
        // RFC 8445 §7.3.1.1: role conflicts. We answer 487 when we keep our role; we switch
        // when the peer's tie-breaker wins (controlling) or ours does (controlled).
        if !old_gen {
            let conflict = match (self.role, controlling, controlled) {
                (Role::Controlling, Some(theirs), _) => Some(self.tie_breaker >= theirs),
                (Role::Controlled, None, Some(theirs)) => Some(self.tie_breaker < theirs),
                _ => None,
            };
            match conflict {
                Some(true) => {
                    return self.refuse(&d, tid, ErrorCode::ROLE_CONFLICT, Some(key), &[]);
                }
                Some(false) => self.switch_role(),
                None => {}
            }
        }
        // RFC 8445 §7.3.1.2: success with XOR-MAPPED-ADDRESS, signed with our password.
        let remote = d.remote;
        self.push_out(d.local, remote, |buf| {
            let mut b = MessageBuilder::new(buf, Class::Success, Method::BINDING, tid)?;
            b.add(&Attribute::XorMappedAddress(remote))?;
            b.add_integrity(&key)?;
            b.add_fingerprint()?;
            Ok(b.finish())
        });
        self.stats.checks_received += 1;
        if old_gen {
            return Received::Stun;
        }
        let use_candidate = msg.use_candidate();
        match &self.remote_creds {
            Some(r) if r.ufrag == theirs => {
                self.learn_from_check(now, local, remote, prio, use_candidate);
            }
            _ => {
                // RFC 8445 §7.3.1 / RFC 8838 §7: remembered until the credentials arrive.
                if let Some(e) = self
                    .early
                    .iter_mut()
                    .find(|e| e.local == local && e.remote == remote && e.remote_ufrag == theirs)
                {
                    // A repeat on the same pair (the controlling peer's nomination, say, sent
                    // once its first check succeeded) must not lose its USE-CANDIDATE: §7.3.1
                    // applies §7.3.1.5 to every check received before the credentials.
                    e.use_candidate |= use_candidate;
                    e.priority = prio;
                } else if self.early.len() < self.cfg.max_early_checks
                    && theirs.len() <= MAX_CRED_LEN
                {
                    self.early.push(EarlyCheck {
                        local,
                        remote,
                        remote_ufrag: theirs.to_owned(),
                        priority: prio,
                        use_candidate,
                    });
                } else {
                    self.stats.dropped_early_checks += 1;
                }
            }
        }
        Received::Stun
    }

    /// RFC 8445 §7.3.1.3 (peer-reflexive remote candidates), §7.3.1.4 (triggered checks) and
    /// §7.3.1.5 (nomination by the controlling peer).
    fn learn_from_check(
        &mut self,
        now: Instant,
        local: usize,
        remote: SocketAddr,
        prio: u32,
        use_candidate: bool,
    ) {
        let component = self.locals[local].cand.component;
        let r = match self
            .remotes
            .iter()
            .position(|c| c.addr == remote && c.component == component)
        {
            Some(r) => r,
            None => {
                if self.prflx_count >= self.cfg.max_peer_reflexive
                    || self.remotes.len() >= self.cfg.max_remote_candidates
                {
                    self.stats.dropped_candidates += 1;
                    return;
                }
                // A foundation unlike any other remote one.
                let mut n = self.prflx_count;
                let foundation = loop {
                    let f = format!("prflx{n}");
                    if !self.remotes.iter().any(|c| c.foundation == f) {
                        break f;
                    }
                    n += 1;
                };
                self.prflx_count += 1;
                self.remotes.push(Candidate {
                    component,
                    foundation,
                    protocol: Protocol::Udp,
                    priority: prio,
                    addr: remote,
                    kind: CandidateKind::PeerReflexive,
                    related: None,
                });
                if let Some(c) = self.components.iter_mut().find(|c| c.id == component) {
                    c.idle_since = None;
                }
                self.remotes.len() - 1
            }
        };
        let Some(id) = self.form_pair(local, r) else {
            return;
        };
        let controlled = self.role == Role::Controlled;
        let Some(p) = self.pair_mut(id) else { return };
        if controlled && use_candidate {
            p.use_candidate_received = true;
        }
        if p.state == PairState::Succeeded {
            // §7.3.1.5: the controlling peer nominates a valid pair.
            if controlled && use_candidate && !p.nominated {
                p.nominated = true;
                self.select(now, component);
            }
            return;
        }
        // §7.3.1.4: a triggered check; one in flight is cancelled (no more retransmissions,
        // its response still taken).
        let in_progress = p.state == PairState::InProgress;
        p.state = PairState::Waiting;
        if in_progress {
            for t in &mut self.transactions {
                if matches!(t.kind, TxKind::Check { pair, consent: false, .. } if pair == id) {
                    t.cancelled = true;
                }
            }
        }
        if !self.triggered.iter().any(|t| t.pair == id) {
            self.triggered.push_back(Triggered {
                pair: id,
                use_candidate: false,
            });
        }
    }

    /// RFC 8445 §7.2.5: a response to one of our requests.
    fn handle_response<'a>(
        &mut self,
        now: Instant,
        d: Datagram<'a>,
        msg: &Message<'_>,
    ) -> Received<'a> {
        let tid = msg.transaction_id();
        let Some(ti) = self.transactions.iter().position(|t| t.tid == tid) else {
            return Received::Dropped(DropReason::UnknownTransaction);
        };
        let tx = self.transactions[ti].clone();
        match tx.kind {
            TxKind::Gather { gather } => {
                self.transactions.remove(ti);
                self.stats.responses_received += 1;
                self.gathered(gather, msg);
                Received::Stun
            }
            TxKind::OldConsent { component } => {
                let Some(old) = &self.old else {
                    return Received::Dropped(DropReason::UnknownTransaction);
                };
                if msg.verify_integrity(&old.remote.key) != Integrity::Ok {
                    return Received::Dropped(DropReason::Unauthenticated);
                }
                self.transactions.remove(ti);
                self.stats.responses_received += 1;
                if msg.class() == Class::Success
                    && let Some(old) = &mut self.old
                    && let Some(p) = old.pairs.iter_mut().find(|p| p.component == component)
                {
                    p.consent.expires = Some(now + self.cfg.consent_timeout);
                }
                Received::Stun
            }
            TxKind::Check {
                pair,
                use_candidate,
                role,
                consent,
            } => {
                let Some(remote) = &self.remote_creds else {
                    return Received::Dropped(DropReason::UnknownTransaction);
                };
                // RFC 8445 §7.2.5.1: responses are signed with the peer's password.
                if msg.verify_integrity(&remote.key) != Integrity::Ok {
                    return Received::Dropped(DropReason::Unauthenticated);
                }
                self.transactions.remove(ti);
                self.stats.responses_received += 1;
                if self.pair(pair).is_none() {
                    return Received::Stun;
                }
                // RFC 8445 §7.2.5.2.1: the 5-tuple must be symmetric.
                if d.remote != tx.remote || d.local != tx.local {
                    self.pair_failed(now, pair);
                    return Received::Stun;
                }
                if msg.class() == Class::Error {
                    let code = msg.error_code().map_or(0, |e| e.code);
                    if code == 487 {
                        // RFC 8445 §7.2.5.1: switch role (unless already switched since the
                        // request was sent) and check again.
                        if role == self.role {
                            self.switch_role();
                        }
                        // A consent check (RFC 7675) is no check-list check: its selected,
                        // nominated pair stays valid (made Waiting, it would never be checked
                        // again, §8.1.2, and its data would be dropped); the next consent
                        // check goes out in the new role.
                        if !consent {
                            if let Some(p) = self.pair_mut(pair) {
                                p.state = PairState::Waiting;
                            }
                            self.triggered.push_back(Triggered {
                                pair,
                                use_candidate: false,
                            });
                        }
                    } else if !consent {
                        // RFC 8445 §7.2.5.2.4: an unrecoverable error.
                        self.pair_failed(now, pair);
                    }
                    return Received::Stun;
                }
                let rtt = (tx.sent == 1).then(|| now.saturating_duration_since(tx.first_sent));
                if consent {
                    let ci = self
                        .components
                        .iter()
                        .position(|c| c.selected == Some(pair));
                    if let Some(ci) = ci {
                        self.components[ci].consent.expires = Some(now + self.cfg.consent_timeout);
                    }
                    if let (Some(p), Some(rtt)) = (self.pair_mut(pair), rtt) {
                        p.rtt = Some(rtt);
                    }
                    return Received::Stun;
                }
                self.check_succeeded(now, pair, msg, &tx, use_candidate, rtt);
                Received::Stun
            }
        }
    }

    fn gathered(&mut self, gather: usize, msg: &Message<'_>) {
        let Some(g) = self.gathers.get_mut(gather) else {
            return;
        };
        g.done = true;
        let (host, server) = (g.host, g.server);
        if msg.class() == Class::Success
            && let Some(mapped) = msg.mapped_address()
            && check_address(mapped).is_ok()
        {
            // RFC 8445 §5.1.3: redundant if another candidate has the same address and base.
            let base = self.locals[host].base;
            let redundant = self
                .locals
                .iter()
                .any(|l| l.cand.addr == mapped && l.base == base);
            if !redundant {
                let component = self.locals[host].cand.component;
                let local_pref = ((self.locals[host].cand.priority >> 8) & 0xFFFF) as u16;
                let foundation = self.foundation(
                    CandidateKind::ServerReflexive,
                    base.ip(),
                    Some(server.ip()),
                    Protocol::Udp,
                );
                let cand = Candidate {
                    component,
                    foundation,
                    protocol: Protocol::Udp,
                    priority: priority(
                        CandidateKind::ServerReflexive.type_preference(),
                        local_pref,
                        component,
                    ),
                    addr: mapped,
                    kind: CandidateKind::ServerReflexive,
                    related: Some(base),
                };
                self.locals.push(Local {
                    cand: cand.clone(),
                    base,
                });
                self.events.push_back(Event::LocalCandidate(cand));
            }
        }
        self.maybe_gathering_complete();
    }

    /// RFC 8445 §7.2.5.3.
    fn check_succeeded(
        &mut self,
        now: Instant,
        id: u32,
        msg: &Message<'_>,
        tx: &Transaction,
        use_candidate: bool,
        rtt: Option<Duration>,
    ) {
        let Some(mapped) = msg.mapped_address() else {
            self.pair_failed(now, id);
            return;
        };
        let Some(p) = self.pair(id) else { return };
        let (local, component) = (p.local, p.component);
        // §7.2.5.3.1: a mapped address that is no local candidate is a peer-reflexive one.
        let mapped_local = match self
            .locals
            .iter()
            .position(|l| l.cand.addr == mapped && l.cand.component == component)
        {
            Some(i) => i,
            // Over the limit, the pair's own base stands for the mapped address (the 5-tuple
            // checked is the same); counted.
            None if self
                .locals
                .iter()
                .filter(|l| l.cand.kind == CandidateKind::PeerReflexive)
                .count()
                >= self.cfg.max_peer_reflexive =>
            {
                self.stats.dropped_candidates += 1;
                local
            }
            None => {
                let foundation = self.foundation(
                    CandidateKind::PeerReflexive,
                    self.locals[local].base.ip(),
                    None,
                    Protocol::Udp,
                );
                self.locals.push(Local {
                    cand: Candidate {
                        component,
                        foundation,
                        protocol: Protocol::Udp,
                        priority: tx.priority,
                        addr: mapped,
                        kind: CandidateKind::PeerReflexive,
                        related: Some(self.locals[local].base),
                    },
                    base: self.locals[local].base,
                });
                self.locals.len() - 1
            }
        };
        let controlled = self.role == Role::Controlled;
        let Some(p) = self.pair_mut(id) else { return };
        p.state = PairState::Succeeded;
        p.mapped_local = Some(mapped_local);
        if rtt.is_some() {
            p.rtt = rtt;
        }
        // §8.1.1 (controlling, our USE-CANDIDATE) and §7.3.1.5 (controlled, theirs).
        if use_candidate || (controlled && p.use_candidate_received) {
            p.nominated = true;
        }
        // §7.2.5.3.3: unfreeze the pairs of the same foundation.
        let (l, r) = (p.local, p.remote);
        for i in 0..self.pairs.len() {
            if self.pairs[i].state == PairState::Frozen {
                let (l2, r2) = (self.pairs[i].local, self.pairs[i].remote);
                if self.same_foundation(l, r, l2, r2) {
                    self.pairs[i].state = PairState::Waiting;
                }
            }
        }
        if let Some(c) = self.components.iter_mut().find(|c| c.id == component) {
            c.first_valid_at.get_or_insert(now);
            if use_candidate && c.nominating == Some(id) {
                c.nominating = None;
            }
        }
        self.select(now, component);
    }

    fn pair_failed(&mut self, now: Instant, id: u32) {
        let Some(p) = self.pair_mut(id) else { return };
        p.state = PairState::Failed;
        p.nominated = false;
        let component = p.component;
        self.triggered.retain(|t| t.pair != id);
        let Some(c) = self.components.iter_mut().find(|c| c.id == component) else {
            return;
        };
        if c.nominating == Some(id) {
            c.nominating = None;
        }
        // A selected pair that fails (its nomination timed out, say) is replaced by the best
        // valid pair left, if any.
        if c.selected == Some(id) {
            c.selected = None;
            self.select(now, component);
        }
    }

    /// Chooses the pair that carries a component's data: the nominated pair of highest
    /// priority (RFC 8445 §8.1.1; several when an RFC 5245 peer nominates aggressively), else
    /// the valid pair of highest priority (RFC 8445 §12.1.1 allows data on valid pairs).
    fn select(&mut self, now: Instant, component: ComponentId) {
        let best = self
            .pairs
            .iter()
            .filter(|p| p.component == component && p.state == PairState::Succeeded)
            .max_by_key(|p| (p.nominated, p.priority))
            .map(|p| (p.id, p.nominated));
        let Some((id, nominated)) = best else { return };
        let Some(ci) = self.components.iter().position(|c| c.id == component) else {
            return;
        };
        let c = &mut self.components[ci];
        let changed = c.selected != Some(id);
        if changed {
            c.selected = Some(id);
            let jitter = self.consent_jitter();
            let c = &mut self.components[ci];
            c.consent = Consent {
                expires: Some(now + self.cfg.consent_timeout),
                next_check: self.cfg.consent_interval.map(|i| now + jitter(i)),
                last_sent: Some(now),
                lost: false,
            };
        }
        if nominated {
            // §8.1.2: once nominated, no more ordinary checks for the component; the old
            // generation's pair of the component is released.
            self.triggered.retain(|t| {
                self.pairs
                    .iter()
                    .any(|p| p.id == t.pair && p.component != component)
            });
            for t in &mut self.transactions {
                if let TxKind::Check {
                    pair,
                    consent: false,
                    ..
                } = t.kind
                    && pair != id
                    && self
                        .pairs
                        .iter()
                        .any(|p| p.id == pair && p.component == component)
                {
                    t.cancelled = true;
                }
            }
        }
        if let Some(old) = &mut self.old {
            old.pairs.retain(|p| p.component != component);
            if old.pairs.is_empty() {
                self.old = None;
                self.transactions
                    .retain(|t| !matches!(t.kind, TxKind::OldConsent { .. }));
            }
        }
        // Reported when the pair changes, and once more when it becomes nominated.
        let report = changed || (nominated && !self.components[ci].reported_nominated);
        self.components[ci].reported_nominated = nominated;
        if report {
            let Some(p) = self.pair(id) else { return };
            let info = self.pair_info(p);
            self.events.push_back(Event::SelectedPair {
                component,
                local: info.local,
                remote: info.remote,
                nominated: info.nominated,
            });
        }
    }

    /// A factor in 0.8..1.2 for consent intervals (RFC 7675 §5.1), from the seeded RNG.
    fn consent_jitter(&mut self) -> impl Fn(Duration) -> Duration + use<> {
        let f = 0.8 + 0.4 * (f64::from(self.rng.next_u32()) / f64::from(u32::MAX));
        move |d: Duration| d.mul_f64(f)
    }

    fn consent_deadline(&self, c: &Consent) -> Option<Instant> {
        let keepalive = c.last_sent.map(|t| t + self.cfg.keepalive_interval);
        // Without consent checks, consent never expires (see `consent`).
        let expires = c.expires.filter(|_| self.cfg.consent_interval.is_some());
        [expires, c.next_check, keepalive]
            .into_iter()
            .flatten()
            .min()
    }

    // ------------------------------------------------------------ timers

    fn timeout_transactions(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.transactions.len() {
            let tx = &self.transactions[i];
            if tx.next_at > now {
                i += 1;
                continue;
            }
            if tx.cancelled || tx.sent >= self.cfg.max_requests.max(1) {
                let tx = self.transactions.remove(i);
                match tx.kind {
                    TxKind::Check {
                        pair,
                        consent: false,
                        use_candidate: true,
                        ..
                    } if !tx.cancelled
                        && self.pair(pair).is_some_and(|p| {
                            p.state == PairState::Succeeded && p.nominations < MAX_NOMINATIONS
                        }) =>
                    {
                        // Nominate the same pair again (see MAX_NOMINATIONS).
                        for c in &mut self.components {
                            if c.nominating == Some(pair) {
                                c.nominating = None;
                            }
                        }
                    }
                    TxKind::Check {
                        pair,
                        consent: false,
                        ..
                    } if !tx.cancelled => self.pair_failed(now, pair),
                    TxKind::Gather { gather } => {
                        if let Some(g) = self.gathers.get_mut(gather) {
                            g.done = true;
                        }
                        self.maybe_gathering_complete();
                    }
                    _ => {}
                }
                continue;
            }
            let tx = tx.clone();
            self.transactions[i].sent += 1;
            let rto = (tx.rto * 2).min(self.cfg.max_rto.max(tx.rto));
            self.transactions[i].rto = rto;
            self.transactions[i].next_at = now + rto;
            self.stats.retransmissions += 1;
            self.write_request(&tx);
            i += 1;
        }
    }

    /// RFC 8445 §6.1.4.2 and §14.2: one new transaction per Ta.
    fn pace(&mut self, now: Instant) {
        if self.next_pace.is_some_and(|t| t > now) {
            return;
        }
        if !self.has_new_work() {
            return;
        }
        if self.transactions.len() >= self.cfg.max_transactions {
            self.stats.transactions_delayed += 1;
            return;
        }
        if self.start_gather(now) || self.start_check(now) {
            self.next_pace = Some(now + self.cfg.ta);
        }
    }

    fn start_gather(&mut self, now: Instant) -> bool {
        if !self.gather_requested {
            return false;
        }
        let Some(g) = self.gathers.iter().position(|g| !g.started) else {
            return false;
        };
        self.gathers[g].started = true;
        let (local, remote) = (
            self.locals[self.gathers[g].host].base,
            self.gathers[g].server,
        );
        self.stats.gathering_requests_sent += 1;
        let rto = self.cfg.gathering_rto;
        self.start_transaction(now, TxKind::Gather { gather: g }, local, remote, 0, rto);
        true
    }

    /// Sends the first request of a new transaction and keeps it for retransmissions.
    fn start_transaction(
        &mut self,
        now: Instant,
        kind: TxKind,
        local: SocketAddr,
        remote: SocketAddr,
        priority: u32,
        rto: Duration,
    ) {
        let tx = Transaction {
            tid: self.new_tid(),
            kind,
            local,
            remote,
            priority,
            first_sent: now,
            next_at: now + rto,
            rto,
            sent: 1,
            cancelled: false,
        };
        self.write_request(&tx);
        self.transactions.push(tx);
    }

    fn start_check(&mut self, now: Instant) -> bool {
        if self.remote_creds.is_none() {
            return false;
        }
        // The triggered-check queue first (RFC 8445 §6.1.4.2).
        let mut next = None;
        while let Some(t) = self.triggered.pop_front() {
            if self.triggered_useful(t) {
                next = Some(t);
                break;
            }
        }
        if next.is_none() {
            next = self.next_ordinary_check().map(|pair| Triggered {
                pair,
                use_candidate: false,
            });
        }
        let Some(t) = next else { return false };
        self.send_check(now, t.pair, t.use_candidate, false);
        true
    }

    /// Whether a queued triggered check is still worth sending: a pair that succeeded since it
    /// was queued needs no plain check again, nor does a pair of a nominated component.
    fn triggered_useful(&self, t: Triggered) -> bool {
        self.pair(t.pair).is_some_and(|p| {
            t.use_candidate
                || (p.state != PairState::Succeeded && !self.component_nominated(p.component))
        })
    }

    /// RFC 8445 §6.1.4.2: the Waiting pair of highest priority, else the Frozen pair of
    /// highest priority whose foundation has no pair Waiting or In-Progress (which is then
    /// unfrozen), of a component not yet nominated.
    fn next_ordinary_check(&self) -> Option<u32> {
        let open = |p: &&Pair| !self.component_nominated(p.component);
        if let Some(p) = self
            .pairs
            .iter()
            .filter(open)
            .find(|p| p.state == PairState::Waiting)
        {
            return Some(p.id);
        }
        self.pairs
            .iter()
            .filter(open)
            .find(|p| {
                p.state == PairState::Frozen
                    && !self.pairs.iter().any(|q| {
                        matches!(q.state, PairState::Waiting | PairState::InProgress)
                            && self.same_foundation(p.local, p.remote, q.local, q.remote)
                    })
            })
            .map(|p| p.id)
    }

    /// RFC 8445 §14.3: `RTO = MAX(500 ms, Ta * (Num-Waiting + Num-In-Progress))`.
    fn check_rto(&self) -> Duration {
        let n = self
            .pairs
            .iter()
            .filter(|p| matches!(p.state, PairState::Waiting | PairState::InProgress))
            .count();
        self.cfg
            .min_rto
            .max(self.cfg.ta * u32::try_from(n).unwrap_or(u32::MAX))
            .min(self.cfg.max_rto.max(self.cfg.min_rto))
    }

    fn send_check(&mut self, now: Instant, id: u32, use_candidate: bool, consent: bool) {
        let Some(p) = self.pair(id) else { return };
        let (local, remote) = (self.locals[p.local].base, self.remotes[p.remote].addr);
        let prio = self.prflx_priority(p.local);
        if !consent && p.state != PairState::Succeeded {
            if let Some(p) = self.pair_mut(id) {
                p.state = PairState::InProgress;
            }
        }
        let rto = self.check_rto();
        // Never two checks of one pair in flight: the new one replaces the old, but a plain
        // check does not replace a nomination.
        if !consent
            && !use_candidate
            && self.transactions.iter().any(
                |t| matches!(t.kind, TxKind::Check { pair, use_candidate: true, .. } if pair == id),
            )
        {
            return;
        }
        // A cancelled transaction stays until its timeout: RFC 8445 §7.3.1.4 still takes its
        // response (removed, that response would be dropped, and two peers whose checks cross
        // on a long path would cancel and replace each other's checks forever).
        self.transactions.retain(|t| {
            t.cancelled
                || !matches!(t.kind, TxKind::Check { pair, consent: c, .. } if pair == id && c == consent)
        });
        self.stats.checks_sent += 1;
        if consent {
            self.stats.consent_checks_sent += 1;
        }
        let kind = TxKind::Check {
            pair: id,
            use_candidate,
            role: self.role,
            consent,
        };
        self.start_transaction(now, kind, local, remote, prio, rto);
    }

    /// Writes the request of a transaction (first transmission or retransmission).
    fn write_request(&mut self, tx: &Transaction) {
        let software = self.cfg.software;
        match tx.kind {
            TxKind::Gather { .. } => {
                let tid = tx.tid;
                self.push_out(tx.local, tx.remote, |buf| {
                    let mut b = MessageBuilder::new(buf, Class::Request, Method::BINDING, tid)?;
                    if let Some(s) = software {
                        b.add(&Attribute::Software(s))?;
                    }
                    b.add_fingerprint()?;
                    Ok(b.finish())
                });
            }
            TxKind::Check {
                use_candidate,
                role,
                ..
            } => {
                let Some(remote) = &self.remote_creds else {
                    return;
                };
                let key = remote.key.clone();
                let username = std::mem::take(&mut self.username);
                let tie = self.tie_breaker;
                let (tid, prio) = (tx.tid, tx.priority);
                self.push_out(tx.local, tx.remote, |buf| {
                    write_check(
                        buf,
                        tid,
                        &username,
                        prio,
                        role,
                        tie,
                        use_candidate,
                        &key,
                        software,
                    )
                });
                self.username = username;
            }
            TxKind::OldConsent { .. } => {
                let Some(old) = &self.old else { return };
                let key = old.remote.key.clone();
                let username = old.username.clone();
                let (tid, prio, role, tie) = (tx.tid, tx.priority, self.role, self.tie_breaker);
                self.push_out(tx.local, tx.remote, |buf| {
                    write_check(buf, tid, &username, prio, role, tie, false, &key, software)
                });
            }
        }
    }

    /// Controlling agent, regular nomination (RFC 8445 §8.1.1): once a component has a valid
    /// pair and either no pair of higher priority can still succeed or
    /// [`Config::nomination_delay`] has passed, the best valid pair is checked again with
    /// USE-CANDIDATE.
    fn nominate(&mut self, now: Instant) {
        if self.role != Role::Controlling || self.remote_creds.is_none() {
            return;
        }
        for ci in 0..self.components.len() {
            let Some((due, pid)) = self.nomination_due(&self.components[ci]) else {
                continue;
            };
            if due > now {
                continue;
            }
            self.components[ci].nominating = Some(pid);
            if let Some(p) = self.pair_mut(pid) {
                p.nominations = p.nominations.saturating_add(1);
            }
            self.triggered.push_front(Triggered {
                pair: pid,
                use_candidate: true,
            });
            // The nomination is a check like any other, but it need not wait for Ta.
            if self.transactions.len() < self.cfg.max_transactions {
                self.triggered.pop_front();
                self.send_check(now, pid, true, false);
            }
        }
    }

    /// When the controlling agent nominates on component `c`, and which pair: the valid pair
    /// of highest priority, at once when no pair of higher priority can still succeed, else
    /// [`Config::nomination_delay`] after the first valid pair.
    fn nomination_due(&self, c: &Component) -> Option<(Instant, u32)> {
        if self.role != Role::Controlling
            || self.remote_creds.is_none()
            || c.nominating.is_some()
            || self.component_nominated(c.id)
        {
            return None;
        }
        let first_valid = c.first_valid_at?;
        // A pair already nominated once comes first, whatever became valid since: the peer may
        // have taken that nomination (see MAX_NOMINATIONS), and it is sent again at once.
        let best = self
            .pairs
            .iter()
            .filter(|p| p.component == c.id && p.state == PairState::Succeeded)
            .max_by_key(|p| (p.nominations > 0, p.priority))?;
        if best.nominations > 0 {
            return Some((first_valid, best.id));
        }
        let better_pending = self.pairs.iter().any(|p| {
            p.component == c.id
                && p.priority > best.priority
                && matches!(
                    p.state,
                    PairState::Frozen | PairState::Waiting | PairState::InProgress
                )
        });
        let due = if better_pending {
            first_valid + self.cfg.nomination_delay
        } else {
            first_valid
        };
        Some((due, best.id))
    }

    /// RFC 7675 consent freshness and RFC 8445 §11 keepalives on the selected pairs.
    fn consent(&mut self, now: Instant) {
        let interval = self.cfg.consent_interval;
        for ci in 0..self.components.len() {
            let Some(id) = self.components[ci].selected else {
                continue;
            };
            if self.components[ci].consent.lost {
                continue;
            }
            let c = self.components[ci].consent.clone();
            if interval.is_some() && c.expires.is_some_and(|e| e <= now) {
                self.components[ci].consent.lost = true;
                let component = self.components[ci].id;
                self.events.push_back(Event::ConsentLost { component });
                continue;
            }
            if let (Some(i), Some(next)) = (interval, c.next_check)
                && next <= now
            {
                let jitter = self.consent_jitter();
                self.components[ci].consent.next_check = Some(now + jitter(i));
                self.components[ci].consent.last_sent = Some(now);
                if self.transactions.len() < self.cfg.max_transactions {
                    self.send_check(now, id, false, true);
                } else {
                    self.stats.transactions_delayed += 1;
                }
            }
            if let Some(last) = self.components[ci].consent.last_sent
                && last + self.cfg.keepalive_interval <= now
                && let Some(p) = self.pair(id)
            {
                let (local, remote) = (self.locals[p.local].base, self.remotes[p.remote].addr);
                self.components[ci].consent.last_sent = Some(now);
                self.keepalive(local, remote);
            }
        }
        // The previous generation's pairs during a restart.
        let Some(old) = self.old.clone() else { return };
        for (i, p) in old.pairs.iter().enumerate() {
            if p.consent.lost {
                continue;
            }
            if interval.is_some() && p.consent.expires.is_some_and(|e| e <= now) {
                if let Some(o) = &mut self.old {
                    o.pairs[i].consent.lost = true;
                }
                self.events.push_back(Event::ConsentLost {
                    component: p.component,
                });
                continue;
            }
            if let (Some(iv), Some(next)) = (interval, p.consent.next_check)
                && next <= now
            {
                let jitter = self.consent_jitter();
                if let Some(o) = &mut self.old {
                    o.pairs[i].consent.next_check = Some(now + jitter(iv));
                    o.pairs[i].consent.last_sent = Some(now);
                }
                if self.transactions.len() < self.cfg.max_transactions {
                    self.stats.checks_sent += 1;
                    self.stats.consent_checks_sent += 1;
                    let kind = TxKind::OldConsent {
                        component: p.component,
                    };
                    let rto = self.cfg.min_rto;
                    self.start_transaction(now, kind, p.base, p.remote, p.priority, rto);
                }
            }
            if let Some(last) = p.consent.last_sent
                && last + self.cfg.keepalive_interval <= now
            {
                if let Some(o) = &mut self.old {
                    o.pairs[i].consent.last_sent = Some(now);
                }
                self.keepalive(p.base, p.remote);
            }
        }
    }

    fn keepalive(&mut self, local: SocketAddr, remote: SocketAddr) {
        let tid = self.new_tid();
        self.stats.keepalives_sent += 1;
        self.push_out(local, remote, |buf| {
            let mut b = MessageBuilder::new(buf, Class::Indication, Method::BINDING, tid)?;
            b.add_fingerprint()?;
            Ok(b.finish())
        });
    }

    /// Recomputes component and agent states, and failure (RFC 8445 §8.1.2, RFC 8838 §8).
    fn update_states(&mut self, now: Instant) {
        for ci in 0..self.components.len() {
            let id = self.components[ci].id;
            let pairs = || self.pairs.iter().filter(|p| p.component == id);
            let any_valid = pairs().any(|p| p.state == PairState::Succeeded);
            let nominated = pairs().any(|p| p.nominated && p.state == PairState::Succeeded);
            let live = pairs().any(|p| {
                matches!(
                    p.state,
                    PairState::Frozen | PairState::Waiting | PairState::InProgress
                )
            }) || self.triggered.iter().any(|t| {
                self.pairs
                    .iter()
                    .any(|p| p.id == t.pair && p.component == id)
            });
            let old_selected = self
                .old
                .as_ref()
                .is_some_and(|o| o.pairs.iter().any(|p| p.component == id));
            let prev = self.components[ci].state;
            // Failure (RFC 8445 §8.1.2, RFC 8838 §8): nothing valid and nothing left to check,
            // after the peer's end-of-candidates or, without it, for a while.
            let stuck = !any_valid && !live && self.remote_creds.is_some() && !old_selected;
            let c = &mut self.components[ci];
            if !stuck {
                c.idle_since = None;
            }
            let failed = stuck
                && (prev == State::Failed
                    || self.remote_end_of_candidates
                    || now
                        >= *c.idle_since.get_or_insert(now)
                            + self.cfg.no_end_of_candidates_timeout);
            // Failed first: it excludes a valid pair, and a consent-lost component whose pair
            // has since failed has nothing left either.
            let state = if failed {
                State::Failed
            } else if c.consent.lost {
                State::Disconnected
            } else if nominated {
                State::Completed
            } else if any_valid {
                State::Connected
            } else if old_selected {
                // During a restart the old pair carries the data.
                prev
            } else if self.remote_creds.is_some() {
                State::Checking
            } else {
                State::New
            };
            if state == State::Failed {
                c.idle_since = None;
                if prev != State::Failed {
                    let reason = if self.remote_end_of_candidates {
                        FailReason::AllPairsFailed
                    } else {
                        FailReason::NoEndOfCandidates
                    };
                    self.events.push_back(Event::ComponentFailed {
                        component: id,
                        reason,
                    });
                }
            }
            if state != prev {
                self.components[ci].state = state;
                self.events.push_back(Event::ComponentStateChanged {
                    component: id,
                    state,
                });
            }
        }
        let states = self.components.iter().map(|c| c.state);
        let overall = if states.clone().any(|s| s == State::Failed) {
            State::Failed
        } else if states.clone().any(|s| s == State::Disconnected) {
            State::Disconnected
        } else if states.clone().all(|s| s == State::Completed) {
            State::Completed
        } else if states
            .clone()
            .all(|s| matches!(s, State::Completed | State::Connected))
        {
            State::Connected
        } else if states.clone().all(|s| s == State::New) {
            State::New
        } else {
            State::Checking
        };
        if overall != self.state {
            self.state = overall;
            self.events.push_back(Event::StateChanged(overall));
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn write_check(
    buf: &mut [u8],
    tid: TransactionId,
    username: &str,
    prio: u32,
    role: Role,
    tie: u64,
    use_candidate: bool,
    key: &IntegrityKey,
    software: Option<&str>,
) -> Result<usize, BuildError> {
    // RFC 8445 §7.1.1 / §7.2.2: USERNAME, PRIORITY, ICE-CONTROLLING or ICE-CONTROLLED,
    // USE-CANDIDATE, MESSAGE-INTEGRITY, FINGERPRINT.
    let mut b = MessageBuilder::new(buf, Class::Request, Method::BINDING, tid)?;
    if let Some(s) = software {
        b.add(&Attribute::Software(s))?;
    }
    b.add(&Attribute::Username(username))?;
    b.add(&Attribute::Priority(prio))?;
    match role {
        Role::Controlling => b.add(&Attribute::IceControlling(tie))?,
        Role::Controlled => b.add(&Attribute::IceControlled(tie))?,
    }
    // RFC 8445 §7.1.2: never USE-CANDIDATE when controlled.
    if use_candidate && role == Role::Controlling {
        b.add(&Attribute::UseCandidate)?;
    }
    b.add_integrity(key)?;
    b.add_fingerprint()?;
    Ok(b.finish())
}
