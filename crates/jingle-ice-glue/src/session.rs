//! The session: Jingle stanzas in and out around one ICE agent.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use ice_sans_io::{
    CandidateKind, Datagram, Event as IceEvent, IceAgent, Received, SendError, State, Transmit,
};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use xep0371_model::jid::Jid;
use xep0371_model::minidom::Element;
use xep0371_model::{
    Action, Candidate, Content, Creator, FromXml, IceFeatures, IceNamespace, IceTransport, Iq,
    IqPayload, Jingle, JingleCondition, RawUdpCandidate, RawUdpTransport, Reading, RemoteCandidate,
    StanzaError, Transport, ns, parse_element,
};

use crate::config::{Allowance, BeforeAllowed, Config, Role};
use crate::convert;
use crate::event::{Error, Event, Handled, Refused, Stats};
use crate::phase::Phase;

/// How many previous generations' ufrags are remembered to recognise stale transport-infos.
const STALE_UFRAGS: usize = 4;
/// Host addresses with an interface number of their own; more keep network 0 (and are counted).
const MAX_NETWORKS: usize = 64;

/// Which transport the content uses.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    /// ICE (either namespace).
    Ice,
    /// Raw UDP after a fallback (XEP-0371 §6).
    RawUdp(Option<SocketAddr>),
}

#[derive(Debug, Clone)]
struct Pending {
    action: Action,
    deadline: Instant,
}

/// One Jingle ICE transport session (one content, one ICE agent), without I/O.
///
/// The methods come in four families, as in quinn-proto:
/// - getters (`&self`): [`Session::phase`], [`Session::state`], [`Session::namespace`], ...;
/// - inputs: [`Session::handle_stanza`] (or [`Session::handle_iq`], [`Session::handle_xml`]),
///   [`Session::handle_receive`] for datagrams, [`Session::handle_timeout`];
/// - verbs: [`Session::initiate`], [`Session::accept`], [`Session::restart`],
///   [`Session::allow_candidates`], [`Session::replace_with_raw_udp`],
///   [`Session::terminate`], [`Session::add_local_host`],
///   [`Session::add_local_host_on_network`], [`Session::add_stun_server`],
///   [`Session::gather`], [`Session::set_peer_features`], [`Session::set_local_credentials`],
///   [`Session::restart_with_credentials`], [`Session::send`];
/// - outputs (`#[must_use]`): [`Session::poll_stanza`], [`Session::poll_transmit`],
///   [`Session::poll_event`], [`Session::poll_timeout`].
///
/// **Drain rule:** after any input or verb, call `poll_stanza` until `None` (send each IQ),
/// `poll_transmit` until `None` (send each datagram before the next call: it borrows the
/// agent's buffer), `poll_event` until `None`, then `poll_timeout`, and call
/// `handle_timeout` when that instant comes.
///
/// The session reads no clock and no OS randomness: ids, the agent's seed and everything the
/// agent draws come from the 32-byte seed given to [`Session::new`], so one seed and one
/// sequence of inputs replay a run exactly.
#[derive(Debug)]
pub struct Session {
    cfg: Config,
    role: Role,
    sid: String,
    local: Jid,
    peer: Jid,
    initiator_jid: Jid,
    rng: ChaCha8Rng,
    agent: IceAgent,
    phase: Phase,
    ns: IceNamespace,
    peer_features: IceFeatures,
    peer_ice2: Option<bool>,
    content_name: String,
    content_creator: Creator,
    mode: Mode,
    our_replace: Option<String>,
    allowance: Option<Allowance>,
    // Our side of the signalling.
    unsent: VecDeque<ice_sans_io::Candidate>,
    gathering_complete: bool,
    gc_sent: bool,
    /// A restart stanza is due; `true` when the restart is ours (not an answer to the peer's).
    new_creds: Option<bool>,
    restart_by_us: bool,
    our_restart: Option<String>,
    notified: bool,
    generation: u32,
    // The peer's side.
    remote_creds: Option<(String, String)>,
    stale_ufrags: VecDeque<String>,
    held_remote: Vec<ice_sans_io::Candidate>,
    held_eoc: bool,
    stash: Vec<IceTransport>,
    /// Interface numbers of our host addresses other than 0 (XEP-0371 §5.3 `network`).
    networks: Vec<(IpAddr, u8)>,
    // Queues.
    pending: BTreeMap<String, Pending>,
    out: VecDeque<Iq>,
    events: VecDeque<Event>,
    stats: Stats,
}

impl Session {
    /// A session between `local` (our full JID) and `peer` (theirs), with session id `sid`.
    ///
    /// An initiator picks `sid` (unique, e.g. drawn by the caller) and calls
    /// [`Session::initiate`]; a responder takes `sid` from the peer's session-initiate and
    /// feeds that stanza to [`Session::handle_stanza`]. The agent's seed and all IQ and
    /// candidate ids are drawn from a ChaCha8 RNG seeded with `rng_seed`.
    pub fn new(
        config: Config,
        role: Role,
        sid: impl Into<String>,
        local: Jid,
        peer: Jid,
        rng_seed: [u8; 32],
    ) -> Session {
        let mut rng = ChaCha8Rng::from_seed(rng_seed);
        let mut agent_seed = [0u8; 32];
        rng.fill_bytes(&mut agent_seed);
        let mut ice = config.ice.clone();
        // XEP-0371 §5.6 item 3: "the controlling role MUST be assumed by the initiator and the
        // controlled role MUST be assumed by the responder".
        ice.role = match role {
            Role::Initiator => ice_sans_io::Role::Controlling,
            Role::Responder => ice_sans_io::Role::Controlled,
        };
        let agent = IceAgent::new(ice, agent_seed);
        let initiator_jid = match role {
            Role::Initiator => local.clone(),
            Role::Responder => peer.clone(),
        };
        Session {
            allowance: config.allowance,
            content_name: config.content_name.clone(),
            cfg: config,
            role,
            sid: sid.into(),
            local,
            peer,
            initiator_jid,
            rng,
            agent,
            phase: Phase::Idle,
            ns: IceNamespace::IceUdp1,
            peer_features: IceFeatures::default(),
            peer_ice2: None,
            content_creator: Creator::Initiator,
            mode: Mode::Ice,
            our_replace: None,
            unsent: VecDeque::new(),
            gathering_complete: false,
            gc_sent: false,
            new_creds: None,
            restart_by_us: false,
            our_restart: None,
            notified: false,
            generation: 0,
            remote_creds: None,
            stale_ufrags: VecDeque::new(),
            held_remote: Vec::new(),
            held_eoc: false,
            stash: Vec::new(),
            networks: Vec::new(),
            pending: BTreeMap::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    // ------------------------------------------------------------------ getters

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The session id.
    pub fn sid(&self) -> &str {
        &self.sid
    }

    /// The peer's full JID.
    pub fn peer(&self) -> &Jid {
        &self.peer
    }

    /// The phase of the session.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The ICE agent's state.
    pub fn state(&self) -> State {
        self.agent.state()
    }

    /// The ICE agent, for its other getters (selected pairs, candidates, statistics).
    pub fn agent(&self) -> &IceAgent {
        &self.agent
    }

    /// The namespace of our transports: ice:0 when the peer advertises it, else ice-udp:1
    /// (XEP-0371 §8.1); for a responder, the namespace of the peer's session-initiate.
    pub fn namespace(&self) -> IceNamespace {
        self.ns
    }

    /// The peer's features as given to [`Session::set_peer_features`].
    pub fn peer_features(&self) -> IceFeatures {
        self.peer_features
    }

    /// The peer's `ice2` attribute (XEP-0371 §5.3): `Some(true)` when it implements RFC 8445;
    /// absent or `false`, the peer may follow RFC 5245 (e.g. aggressive nomination, which the
    /// agent accepts when controlled).
    pub fn peer_ice2(&self) -> Option<bool> {
        self.peer_ice2
    }

    /// The IP-sharing allowance, if given (XEP-0371 §11.1).
    pub fn allowance(&self) -> Option<Allowance> {
        self.allowance
    }

    /// Whether our restart waits for its acknowledgement (XEP-0371 §5.10).
    pub fn restart_pending(&self) -> bool {
        self.our_restart.is_some()
    }

    /// The peer's raw UDP address after a fallback (XEP-0371 §6), `None` while ICE is used
    /// (or when the peer's raw UDP transport carried no candidate).
    pub fn raw_udp_remote(&self) -> Option<SocketAddr> {
        match self.mode {
            Mode::RawUdp(a) => a,
            Mode::Ice => None,
        }
    }

    /// Whether the transport fell back to raw UDP.
    pub fn is_raw_udp(&self) -> bool {
        matches!(self.mode, Mode::RawUdp(_))
    }

    /// Requests sent and not answered yet.
    pub fn pending_requests(&self) -> usize {
        self.pending.len()
    }

    /// Candidates held back: ours not yet sent, the peer's waiting for the allowance.
    pub fn queued_candidates(&self) -> usize {
        self.unsent.len() + self.held_remote.len()
    }

    /// Counters of what was dropped or refused.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    // ------------------------------------------------------------------ verbs

    /// The peer's disco#info features (XEP-0371 §8): the namespace of our transports (ice:0
    /// when advertised, else ice-udp:1) and `urn:ietf:rfc:3264` (candidates batched, and the
    /// remote-candidate notification sent). Call it before [`Session::initiate`].
    pub fn set_peer_features(&mut self, features: IceFeatures) {
        self.peer_features = features;
        if self.role == Role::Initiator && self.phase == Phase::Idle {
            self.ns = ns_for(features);
        }
    }

    /// Adds a host candidate on a socket the caller owns (the agent's
    /// [`IceAgent::add_local_host`]); once the session is live it is signalled.
    pub fn add_local_host(
        &mut self,
        now: Instant,
        component: u16,
        addr: SocketAddr,
    ) -> Result<(), Error> {
        self.add_local_host_on_network(now, component, addr, 0)
    }

    /// [`Session::add_local_host`] on the network interface numbered `network`: the
    /// candidates based on `addr` carry `network='N'` (XEP-0371 §5.3: "the index of the
    /// network interface"; [`Session::add_local_host`] says 0). A multi-homed client gives
    /// each interface its own number.
    pub fn add_local_host_on_network(
        &mut self,
        now: Instant,
        component: u16,
        addr: SocketAddr,
        network: u8,
    ) -> Result<(), Error> {
        self.agent.add_local_host(component, addr)?;
        if network != 0 && !self.networks.iter().any(|(ip, _)| *ip == addr.ip()) {
            if self.networks.len() < MAX_NETWORKS {
                self.networks.push((addr.ip(), network));
            } else {
                self.stats.candidates_over_limit += 1;
            }
        }
        self.pump(now);
        Ok(())
    }

    /// Chooses our ICE credentials instead of those drawn from the seed (RFC 8445 §5.3: a
    /// ufrag of 4 to 256 ice-chars, a password of 22 to 256), before [`Session::initiate`] or
    /// [`Session::accept`]; the conformance replays use it to speak with the spec's
    /// credentials.
    pub fn set_local_credentials(&mut self, ufrag: &str, pwd: &str) -> Result<(), Error> {
        // Before our offer or answer carried them: idle, or a responder not yet accepting.
        let unsent = self.phase == Phase::Idle
            || self.role == Role::Responder && self.phase == Phase::Pending;
        if !unsent {
            return Err(Error::WrongPhase(self.phase));
        }
        self.agent.set_local_credentials(ufrag, pwd)?;
        Ok(())
    }

    /// Starts gathering (the agent's [`IceAgent::gather`]) before the offer or answer, so that
    /// session-initiate or session-accept can carry server-reflexive candidates too: call
    /// [`Session::initiate`] or [`Session::accept`] on
    /// `Event::Ice(ice_sans_io::Event::GatheringComplete)` when the peer does not trickle.
    /// [`Session::initiate`] and [`Session::accept`] start it themselves otherwise.
    pub fn gather(&mut self, now: Instant) {
        self.agent.gather(now);
        self.pump(now);
    }

    /// Adds a STUN server for server-reflexive candidates (the agent's
    /// [`IceAgent::add_stun_server`]).
    pub fn add_stun_server(&mut self, server: SocketAddr) {
        self.agent.add_stun_server(server);
    }

    /// Initiator: sends session-initiate (XEP-0371 §5.2) with our transport (the candidates
    /// gathered so far, those the sharing policy lets out, unless
    /// [`Config::candidates_in_offer`] is off) and `description`, the application's.
    pub fn initiate(&mut self, now: Instant, description: Option<Element>) -> Result<(), Error> {
        if self.role != Role::Initiator {
            return Err(Error::WrongRole(Role::Initiator));
        }
        if self.phase != Phase::Idle {
            return Err(Error::WrongPhase(self.phase));
        }
        // XEP-0371 §8.1: ice:0 when the peer advertises it, otherwise ice-udp:1.
        self.ns = ns_for(self.peer_features);
        self.agent.gather(now);
        self.pump(now);
        let transport = self.offer_transport();
        let mut content = Content::new(Creator::Initiator, self.content_name.clone());
        content.description = description;
        content.transport = Some(Transport::Ice(transport));
        let mut j = self.jingle(Action::SessionInitiate);
        j.contents.push(content);
        self.send_request(now, j);
        self.phase = Phase::Pending;
        self.flush(now);
        Ok(())
    }

    /// Responder: sends session-accept (XEP-0371 §5.4) with our transport and
    /// `description`. With [`Config::accept_implies_allowance`] this is the user accepting
    /// the session, which allows IP sharing (XEP-0371 §11.1).
    pub fn accept(&mut self, now: Instant, description: Option<Element>) -> Result<(), Error> {
        if self.role != Role::Responder {
            return Err(Error::WrongRole(Role::Responder));
        }
        if self.phase != Phase::Pending {
            return Err(Error::WrongPhase(self.phase));
        }
        if self.cfg.accept_implies_allowance {
            self.allow(now, Allowance::UserAccepted);
        }
        self.agent.gather(now);
        self.pump(now);
        let transport = match self.mode {
            Mode::Ice => Transport::Ice(self.offer_transport()),
            // XEP-0371 §6, Listing 15: after the fallback the session-accept names raw UDP.
            Mode::RawUdp(_) => Transport::RawUdp(RawUdpTransport::default()),
        };
        let mut content = Content::new(self.content_creator, self.content_name.clone());
        content.description = description;
        content.transport = Some(transport);
        let mut j = self.jingle(Action::SessionAccept);
        j.responder = Some(self.local.clone());
        j.contents.push(content);
        self.send_request(now, j);
        self.phase = Phase::Active;
        self.flush(now);
        Ok(())
    }

    /// ICE restart (XEP-0371 §5.10, RFC 8445 §9): new ufrag and pwd, generation + 1, all
    /// candidates again. Until the peer acknowledges the restart, its transport-infos are
    /// acknowledged and dropped; if its own restart crosses ours, the initiator's wins
    /// (`<tie-break/>`).
    pub fn restart(&mut self, now: Instant) -> Result<(), Error> {
        self.restart_as(now, None)
    }

    /// [`Session::restart`] with credentials the caller chose (RFC 8445 §5.3 lengths, a ufrag
    /// different from the current one).
    pub fn restart_with_credentials(
        &mut self,
        now: Instant,
        ufrag: &str,
        pwd: &str,
    ) -> Result<(), Error> {
        self.restart_as(now, Some((ufrag, pwd)))
    }

    fn restart_as(&mut self, now: Instant, creds: Option<(&str, &str)>) -> Result<(), Error> {
        if !self.can_signal() {
            return Err(if self.is_raw_udp() {
                Error::NotIce
            } else {
                Error::WrongPhase(self.phase)
            });
        }
        if self.our_restart.is_some() {
            return Err(Error::RestartPending);
        }
        match creds {
            // The agent checks them before it changes anything: a refusal leaves the session
            // as it was.
            Some((ufrag, pwd)) => self.agent.restart_with_credentials(now, ufrag, pwd)?,
            None => self.agent.restart(now),
        }
        if let Some((u, _)) = self.remote_creds.take() {
            self.remember_stale(u);
        }
        self.held_remote.clear();
        self.held_eoc = false;
        self.restart_by_us = true;
        self.pump(now);
        Ok(())
    }

    /// The caller's policy now allows our candidates to go to this peer (XEP-0371 §11.1):
    /// held candidates are sent, and the peer's are handed to the agent (connectivity checks
    /// reveal our addresses too, so none are sent before).
    pub fn allow_candidates(&mut self, now: Instant, allowance: Allowance) {
        self.allow(now, allowance);
        self.pump(now);
    }

    /// Falls back to raw UDP (XEP-0371 §6): sends transport-replace with an XEP-0177
    /// candidate on `local`. The transport changes when the peer answers transport-accept
    /// ([`Event::FellBackToRawUdp`]); transport-reject keeps ICE ([`Event::FallbackRejected`]).
    /// The address is an IP address like any candidate: it needs the sharing allowance.
    pub fn replace_with_raw_udp(&mut self, now: Instant, local: SocketAddr) -> Result<(), Error> {
        // XEP-0371 §6, Listing 11: a gateway answers session-initiate with transport-replace
        // before its session-accept, so a responder may replace while pending too.
        let pending_responder = self.role == Role::Responder && self.phase == Phase::Pending;
        if !(self.can_signal() || pending_responder && self.mode == Mode::Ice)
            || self.our_replace.is_some()
        {
            return Err(if self.is_raw_udp() || self.our_replace.is_some() {
                Error::NotIce
            } else {
                Error::WrongPhase(self.phase)
            });
        }
        if self.allowance.is_none() {
            return Err(Error::SharingNotAllowed);
        }
        let id = self.new_id("r");
        let t = RawUdpTransport {
            candidates: vec![RawUdpCandidate {
                component: Some(1),
                generation: 0,
                id,
                ip: local.ip(),
                port: local.port(),
                type_: None,
                extra: Vec::new(),
            }],
        };
        let mut j = self.jingle(Action::TransportReplace);
        j.contents
            .push(self.content_with(Transport::RawUdp(t), None));
        let id = self.send_request(now, j);
        self.our_replace = Some(id);
        Ok(())
    }

    /// Ends the session with session-terminate (XEP-0166 §6.7); `condition` is the reason's
    /// condition element name, e.g. `"success"`.
    pub fn terminate(&mut self, now: Instant, condition: &str) -> Result<(), Error> {
        if matches!(self.phase, Phase::Idle | Phase::Ended) {
            return Err(Error::WrongPhase(self.phase));
        }
        let mut j = self.jingle(Action::SessionTerminate);
        j.reason = Some(
            Element::builder("reason", ns::JINGLE)
                .append(Element::bare(condition, ns::JINGLE))
                .build(),
        );
        self.send_request(now, j);
        self.phase = Phase::Ended;
        Ok(())
    }

    /// Application data over the selected pair (the agent's [`IceAgent::send`]).
    pub fn send<'d>(
        &mut self,
        now: Instant,
        component: u16,
        data: &'d [u8],
    ) -> Result<Transmit<'d>, SendError> {
        self.agent.send(now, component, data)
    }

    // ------------------------------------------------------------------ inputs

    /// Takes in a stanza from the peer, as text: parsed with [`Config::max_stanza_len`] as
    /// the bound, then as [`Session::handle_stanza`].
    pub fn handle_xml(&mut self, now: Instant, xml: &str) -> Result<Handled, Refused> {
        match parse_element(xml, self.cfg.max_stanza_len) {
            Ok(el) => self.handle_stanza(now, &el),
            Err(e) => {
                self.stats.dropped_malformed += 1;
                Ok(Handled::Dropped(e.to_string()))
            }
        }
    }

    /// Takes in a stanza from the peer. Requests of this session are acknowledged (the
    /// IQ-result is queued in [`Session::poll_stanza`]); answers to our requests become
    /// events; a refused request gives back, in [`Refused::reply`], the IQ error the caller
    /// must send. Deployed clients' deviations are read leniently (the model's
    /// `Reading::Lenient`).
    pub fn handle_stanza(&mut self, now: Instant, el: &Element) -> Result<Handled, Refused> {
        if el.name() != "iq" {
            return Ok(Handled::NotOurs);
        }
        match Iq::read(el, Reading::Lenient) {
            Ok(p) => self.handle_iq(now, p.value),
            Err(e) => {
                // Answer what can be answered: a request with an id.
                let id = el.attr("id");
                let is_request = matches!(el.attr("type"), Some("set" | "get"));
                match id {
                    Some(id) if is_request => {
                        let from = el.attr("from").and_then(|f| f.parse::<Jid>().ok());
                        let fake = Iq {
                            from,
                            to: Some(self.local.clone()),
                            id: id.chars().take(256).collect(),
                            payload: IqPayload::Result(None),
                        };
                        let sid = el
                            .get_child("jingle", ns::JINGLE)
                            .and_then(|j| j.attr("sid"));
                        self.stats.refused += 1;
                        if sid.is_some_and(|s| s != self.sid) {
                            return Err(self.refuse(&fake, JingleCondition::UnknownSession));
                        }
                        Err(self.bad_request(&fake, e.to_string()))
                    }
                    _ => {
                        self.stats.dropped_malformed += 1;
                        Ok(Handled::Dropped(e.to_string()))
                    }
                }
            }
        }
    }

    /// Takes in a typed IQ from the peer; see [`Session::handle_stanza`].
    pub fn handle_iq(&mut self, now: Instant, iq: Iq) -> Result<Handled, Refused> {
        let r = self.iq(now, iq);
        if r.is_err() {
            self.stats.refused += 1;
        }
        r
    }

    fn iq(&mut self, now: Instant, iq: Iq) -> Result<Handled, Refused> {
        let from_peer = iq.from.as_ref().is_none_or(|f| *f == self.peer);
        match &iq.payload {
            IqPayload::Result(_) | IqPayload::Error { .. } => {
                if !from_peer {
                    self.stats.unmatched_responses += 1;
                    return Ok(Handled::NotOurs);
                }
                match self.pending.remove(&iq.id) {
                    Some(p) => {
                        self.on_response(now, &iq.id, p.action, iq.payload);
                        Ok(Handled::Response)
                    }
                    None => {
                        self.stats.unmatched_responses += 1;
                        Ok(Handled::NotOurs)
                    }
                }
            }
            IqPayload::Get(_) => Ok(Handled::NotOurs),
            IqPayload::Set(payload) => {
                if !payload.is("jingle", ns::JINGLE) {
                    return Ok(Handled::NotOurs);
                }
                let sid = payload.attr("sid").unwrap_or_default();
                if sid != self.sid || !from_peer {
                    // XEP-0166: a session we do not know (or not with this sender).
                    return Err(self.refuse(&iq, JingleCondition::UnknownSession));
                }
                let jingle = match Jingle::read(payload, Reading::Lenient) {
                    Ok(p) => p.value,
                    Err(e) => return Err(self.bad_request(&iq, e.to_string())),
                };
                let r = self.handle_jingle(now, &iq, jingle);
                self.pump(now);
                r
            }
        }
    }

    /// Takes in a datagram (the agent's [`IceAgent::handle_receive`]): STUN for the agent,
    /// application data handed back.
    pub fn handle_receive<'a>(&mut self, now: Instant, d: Datagram<'a>) -> Received<'a> {
        let r = self.agent.handle_receive(now, d);
        self.pump(now);
        r
    }

    /// Advances timers: the agent's, and the IQ timeouts ([`Event::IqTimeout`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.agent.handle_timeout(now);
        let expired: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            if let Some(p) = self.pending.remove(&id) {
                self.on_timeout(id, p.action);
            }
        }
        self.pump(now);
    }

    // ------------------------------------------------------------------ outputs

    /// The next stanza to send (an IQ with its id), as an element.
    #[must_use]
    pub fn poll_stanza(&mut self) -> Option<Element> {
        self.out.pop_front().map(|iq| Element::from(&iq))
    }

    /// The next stanza to send, typed (the same queue as [`Session::poll_stanza`]).
    #[must_use]
    pub fn poll_iq(&mut self) -> Option<Iq> {
        self.out.pop_front()
    }

    /// The next datagram to send (the agent's [`IceAgent::poll_transmit`]).
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        self.agent.poll_transmit()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`Session::handle_timeout`] next: the agent's deadline or the earliest
    /// IQ timeout.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let iq = self.pending.values().map(|p| p.deadline).min();
        match (self.agent.poll_timeout(), iq) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

// ---------------------------------------------------------------------- internals

fn ns_for(f: IceFeatures) -> IceNamespace {
    if f.ice0 {
        IceNamespace::Ice0
    } else {
        IceNamespace::IceUdp1
    }
}

impl Session {
    fn new_id(&mut self, prefix: &str) -> String {
        const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut s = String::with_capacity(prefix.len() + 10);
        s.push_str(prefix);
        for _ in 0..10 {
            s.push(char::from(A[(self.rng.next_u32() % 36) as usize]));
        }
        s
    }

    fn emit(&mut self, e: Event) {
        if self.events.len() >= self.cfg.max_events {
            self.stats.events_dropped += 1;
        } else {
            self.events.push_back(e);
        }
    }

    fn push_out(&mut self, iq: Iq) {
        if self.out.len() >= self.cfg.max_outgoing {
            self.stats.outgoing_dropped += 1;
        } else {
            self.out.push_back(iq);
        }
    }

    fn remember_stale(&mut self, ufrag: String) {
        if self.stale_ufrags.len() >= STALE_UFRAGS {
            self.stale_ufrags.pop_front();
        }
        self.stale_ufrags.push_back(ufrag);
    }

    fn can_signal(&self) -> bool {
        self.mode == Mode::Ice
            && match self.role {
                Role::Initiator => matches!(self.phase, Phase::Pending | Phase::Active),
                Role::Responder => self.phase == Phase::Active,
            }
    }

    /// XEP-0371 §11.1: whether a candidate of ours may leave the session now.
    fn may_share(&self, c: &ice_sans_io::Candidate) -> bool {
        self.allowance.is_some()
            || (self.cfg.before_allowed == BeforeAllowed::RelayOnly
                && c.kind == CandidateKind::Relayed)
    }

    fn allow(&mut self, now: Instant, a: Allowance) {
        if self.allowance.is_some() {
            return;
        }
        self.allowance = Some(a);
        self.emit(Event::SharingAllowed(a));
        for c in std::mem::take(&mut self.held_remote) {
            self.add_remote(now, c);
        }
        if std::mem::take(&mut self.held_eoc) {
            self.agent.end_of_remote_candidates(now);
        }
    }

    fn add_remote(&mut self, now: Instant, c: ice_sans_io::Candidate) {
        if self.agent.add_remote_candidate(now, c).is_err() {
            self.stats.candidates_refused += 1;
        }
    }

    fn jingle(&self, action: Action) -> Jingle {
        let mut j = Jingle::new(action, self.sid.clone());
        j.initiator = Some(self.initiator_jid.clone());
        j
    }

    fn content_with(&self, t: Transport, description: Option<Element>) -> Content {
        let mut c = Content::new(self.content_creator, self.content_name.clone());
        c.description = description;
        c.transport = Some(t);
        c
    }

    fn ice_transport(&self) -> IceTransport {
        let (u, p) = self.agent.local_credentials();
        IceTransport::new(self.ns, u, p)
    }

    fn model_candidate(&mut self, c: &ice_sans_io::Candidate) -> Option<Candidate> {
        let mut m = convert::model_candidate(c)?;
        // XEP-0371 §5.3 and §5.10: the generation counts restarts.
        m.generation = Some(u8::try_from(self.generation).unwrap_or(u8::MAX));
        m.id = Some(self.new_id("c"));
        // XEP-0371 §5.3: the interface of the candidate's base (its own address for a host
        // candidate, the related address for the others).
        let base = match c.kind {
            CandidateKind::Host => Some(c.addr.ip()),
            _ => c.related.map(|r| r.ip()),
        };
        m.network = Some(
            base.and_then(|b| self.networks.iter().find(|(ip, _)| *ip == b))
                .map_or(0, |(_, n)| *n),
        );
        Some(m)
    }

    /// The transport of session-initiate or session-accept: credentials, `ice2` in ice:0,
    /// and the candidates gathered so far that may be shared (XEP-0371 §5.2, §5.4, §11.1).
    fn offer_transport(&mut self) -> IceTransport {
        let mut t = self.ice_transport();
        if self.ns == IceNamespace::Ice0 && self.cfg.ice2 {
            // XEP-0371 §5.3: "'ice2' attribute tells about compliancy with RFC 8445".
            t.ice2 = Some(true);
        }
        // The offer or answer carries the current credentials: no separate restart stanza.
        self.new_creds = None;
        if self.cfg.candidates_in_offer {
            let all = std::mem::take(&mut self.unsent);
            for c in all {
                if self.may_share(&c) {
                    if let Some(m) = self.model_candidate(&c) {
                        t.candidates.push(m);
                    }
                } else {
                    self.unsent.push_back(c);
                }
            }
        }
        t
    }

    fn send_request(&mut self, now: Instant, jingle: Jingle) -> String {
        let id = self.new_id("j");
        while self.pending.len() >= self.cfg.max_pending_iqs {
            let Some(oldest) = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.deadline)
                .map(|(id, _)| id.clone())
            else {
                break;
            };
            if let Some(p) = self.pending.remove(&oldest) {
                self.stats.pending_evicted += 1;
                self.on_timeout(oldest, p.action);
            }
        }
        if self.cfg.max_pending_iqs > 0 {
            self.pending.insert(
                id.clone(),
                Pending {
                    action: jingle.action,
                    deadline: now + self.cfg.iq_timeout,
                },
            );
        }
        let iq = Iq::set(
            Some(self.local.clone()),
            Some(self.peer.clone()),
            id.clone(),
            &jingle,
        );
        self.push_out(iq);
        id
    }

    fn send_transport_info(
        &mut self,
        now: Instant,
        cands: Vec<ice_sans_io::Candidate>,
        gathering_complete: bool,
    ) -> String {
        let mut t = self.ice_transport();
        for c in &cands {
            if let Some(m) = self.model_candidate(c) {
                t.candidates.push(m);
            }
        }
        t.gathering_complete = gathering_complete;
        let mut j = self.jingle(Action::TransportInfo);
        j.contents.push(self.content_with(Transport::Ice(t), None));
        self.send_request(now, j)
    }

    /// Turns the agent's events into stanzas and session events.
    fn pump(&mut self, now: Instant) {
        while let Some(e) = self.agent.poll_event() {
            match e {
                IceEvent::LocalCredentials { generation, .. } => {
                    // XEP-0371 §5.10: a new generation; the agent gives every candidate again.
                    self.generation = generation;
                    self.unsent.clear();
                    self.gathering_complete = false;
                    self.gc_sent = false;
                    self.notified = false;
                    let ours = std::mem::take(&mut self.restart_by_us);
                    self.new_creds = Some(ours);
                    self.emit(Event::Restarted {
                        by_peer: !ours,
                        generation,
                    });
                }
                IceEvent::LocalCandidate(c) => {
                    if self.unsent.len() >= self.cfg.max_queued_candidates {
                        self.stats.candidates_over_limit += 1;
                    } else {
                        self.unsent.push_back(c.clone());
                    }
                    // Told to the caller too: the session signals it, the caller may log it.
                    self.emit(Event::Ice(IceEvent::LocalCandidate(c)));
                }
                IceEvent::GatheringComplete => {
                    self.gathering_complete = true;
                    // A caller that does not trickle initiates or accepts on this.
                    self.emit(Event::Ice(IceEvent::GatheringComplete));
                }
                other => self.emit(Event::Ice(other)),
            }
        }
        self.flush(now);
    }

    fn gc_due(&self) -> bool {
        // XEP-0371 §7: gathering-complete is an ice:0 payload; deployed ice-udp:1 clients
        // never send it (the agent's no-end-of-candidates timeout covers them). It comes
        // after the last candidate, so not while candidates are held back (RFC 8838 §4.4).
        self.ns == IceNamespace::Ice0
            && self.gathering_complete
            && !self.gc_sent
            && self.unsent.is_empty()
    }

    /// Sends what is due: a restart's credentials, candidates (one per transport-info, or
    /// all together for a peer advertising `urn:ietf:rfc:3264`, XEP-0371 §5.5 and §8.2),
    /// gathering-complete, the remote-candidate notification.
    fn flush(&mut self, now: Instant) {
        if !self.can_signal() {
            return;
        }
        let batch = self.peer_features.rfc3264;
        let restart = self.new_creds.take();
        let wait_for_batch = batch && !self.gathering_complete && restart.is_none();
        let mut ready = Vec::new();
        if !wait_for_batch {
            for c in std::mem::take(&mut self.unsent) {
                if self.may_share(&c) {
                    ready.push(c);
                } else {
                    self.unsent.push_back(c);
                }
            }
        }
        if let Some(ours) = restart {
            // XEP-0371 §5.10: the restart stanza carries the new ufrag and pwd (with a
            // candidate when there is one that may be shared; Conversations sends none).
            let n = if batch {
                ready.len()
            } else {
                ready.len().min(1)
            };
            let first: Vec<_> = ready.drain(..n).collect();
            let gc = batch && self.gc_due();
            let id = self.send_transport_info(now, first, gc);
            self.gc_sent |= gc;
            if ours {
                self.our_restart = Some(id);
            }
        }
        if batch {
            if !ready.is_empty() {
                let gc = self.gc_due();
                self.send_transport_info(now, ready, gc);
                self.gc_sent |= gc;
            }
        } else {
            for c in ready {
                self.send_transport_info(now, vec![c], false);
            }
        }
        if self.gc_due() {
            self.send_transport_info(now, Vec::new(), true);
            self.gc_sent = true;
        }
        self.maybe_notify(now);
    }

    /// XEP-0371 §5.8: once every component is nominated, the initiator MAY send the
    /// remote-candidate notification, and MUST when the peer advertises `urn:ietf:rfc:3264`.
    fn maybe_notify(&mut self, now: Instant) {
        if self.role != Role::Initiator
            || self.notified
            || !(self.cfg.always_notify_remote_candidates || self.peer_features.rfc3264)
            || self.agent.state() != State::Completed
        {
            return;
        }
        let mut t = self.ice_transport();
        for component in 1..=self.cfg.ice.components.clamp(1, 255) {
            if let Some(p) = self.agent.selected_pair(component).filter(|p| p.nominated) {
                t.remote_candidates.push(RemoteCandidate {
                    component: u8::try_from(component).unwrap_or(u8::MAX),
                    ip: p.remote.addr.ip(),
                    port: p.remote.addr.port(),
                });
            }
        }
        if self.ns == IceNamespace::IceUdp1 {
            // XEP-0176 §13: at most one remote-candidate.
            t.remote_candidates.truncate(1);
        }
        if t.remote_candidates.is_empty() {
            return;
        }
        self.notified = true;
        let mut j = self.jingle(Action::TransportInfo);
        j.contents.push(self.content_with(Transport::Ice(t), None));
        self.send_request(now, j);
    }

    fn ack(&mut self, iq: &Iq) {
        let mut r = iq.result_reply();
        r.from = Some(self.local.clone());
        if r.to.is_none() {
            r.to = Some(self.peer.clone());
        }
        self.push_out(r);
    }

    fn error_reply(&self, iq: &Iq, error: StanzaError) -> Box<Iq> {
        let mut r = iq.error_reply(error);
        r.from = Some(self.local.clone());
        if r.to.is_none() {
            r.to = Some(self.peer.clone());
        }
        Box::new(r)
    }

    fn refuse(&self, iq: &Iq, c: JingleCondition) -> Refused {
        let reply = self.error_reply(iq, StanzaError::jingle(c));
        match c {
            JingleCondition::UnknownSession => Refused::UnknownSession { reply },
            JingleCondition::TieBreak => Refused::TieBreak { reply },
            _ => Refused::OutOfOrder {
                action: Action::TransportInfo,
                reply,
            },
        }
    }

    fn bad_request(&self, iq: &Iq, why: String) -> Refused {
        let why: String = why.chars().take(200).collect();
        Refused::BadRequest {
            reply: self.error_reply(iq, StanzaError::bad_request(Some(why.clone()))),
            why,
        }
    }

    fn out_of_order(&self, iq: &Iq, action: Action) -> Refused {
        Refused::OutOfOrder {
            action,
            reply: self.error_reply(iq, StanzaError::jingle(JingleCondition::OutOfOrder)),
        }
    }

    fn unknown_session(&self, iq: &Iq) -> Refused {
        Refused::UnknownSession {
            reply: self.error_reply(iq, StanzaError::jingle(JingleCondition::UnknownSession)),
        }
    }

    fn bad(&self, iq: &Iq, why: &str) -> Refused {
        Refused::BadRequest {
            why: why.to_owned(),
            reply: self.error_reply(iq, StanzaError::bad_request(Some(why.to_owned()))),
        }
    }

    /// The content of this session in `j`: by name, or the only one (see the README's
    /// deviations).
    fn our_content<'j>(&mut self, j: &'j Jingle) -> Option<&'j Content> {
        if let Some(c) = j.contents.iter().find(|c| c.name == self.content_name) {
            return Some(c);
        }
        if j.contents.len() == 1 {
            self.stats.content_name_mismatch += 1;
            return j.contents.first();
        }
        None
    }

    fn handle_jingle(&mut self, now: Instant, iq: &Iq, j: Jingle) -> Result<Handled, Refused> {
        let action = j.action;
        if self.phase == Phase::Ended {
            // XEP-0166: after session-terminate the session is unknown.
            return Err(self.unknown_session(iq));
        }
        match action {
            Action::SessionInitiate => {
                if self.role != Role::Responder || self.phase != Phase::Idle {
                    return Err(self.out_of_order(iq, action));
                }
                let Some(content) = j.contents.iter().find(|c| c.transport.is_some()) else {
                    return Err(self.bad(iq, "session-initiate without a transport"));
                };
                let Some(Transport::Ice(t)) = &content.transport else {
                    return Err(self.bad(iq, "session-initiate without an ICE transport"));
                };
                let t = t.clone();
                self.check_transport(iq, &t)?;
                self.content_name = content.name.clone();
                self.content_creator = content.creator;
                let description = content.description.clone();
                // Answer in the namespace the initiator chose (XEP-0371 §8.1).
                self.ns = t.namespace;
                if let Some(i) = &j.initiator {
                    self.initiator_jid = i.clone();
                }
                self.phase = Phase::Pending;
                self.apply_transport(now, t);
                self.ack(iq);
                self.emit(Event::Initiated { description });
                Ok(Handled::Acknowledged(action))
            }
            Action::SessionAccept => {
                if self.role != Role::Initiator || self.phase != Phase::Pending {
                    return Err(self.out_of_order(iq, action));
                }
                let Some(content) = self.our_content(&j) else {
                    return Err(self.bad(iq, "session-accept without our content"));
                };
                let description = content.description.clone();
                match &content.transport {
                    Some(Transport::Ice(t)) if self.mode == Mode::Ice => {
                        let t = t.clone();
                        self.check_transport(iq, &t)?;
                        self.apply_transport(now, t);
                    }
                    // XEP-0371 §6, Listing 15: after the fallback, raw UDP.
                    Some(Transport::RawUdp(_)) if self.is_raw_udp() => {}
                    None => {}
                    Some(_) => return Err(self.bad(iq, "session-accept with another transport")),
                }
                self.phase = Phase::Active;
                self.ack(iq);
                self.emit(Event::Accepted { description });
                Ok(Handled::Acknowledged(action))
            }
            Action::TransportInfo => {
                if self.phase == Phase::Idle {
                    // XEP-0371 §5.5 footnote 21: before session-initiate the session does not
                    // exist for the responder.
                    return Err(match self.role {
                        Role::Responder => self.unknown_session(iq),
                        Role::Initiator => self.out_of_order(iq, action),
                    });
                }
                if self.is_raw_udp() {
                    return Err(self.out_of_order(iq, action));
                }
                let Some(content) = self.our_content(&j) else {
                    return Err(self.bad(iq, "transport-info without our content"));
                };
                let Some(Transport::Ice(t)) = &content.transport else {
                    return Err(self.bad(iq, "transport-info without an ICE transport"));
                };
                let t = t.clone();
                self.check_transport(iq, &t)?;
                self.transport_info(now, iq, t)?;
                Ok(Handled::Acknowledged(action))
            }
            Action::TransportReplace => {
                if self.phase == Phase::Idle || self.is_raw_udp() {
                    return Err(self.out_of_order(iq, action));
                }
                let Some(content) = self.our_content(&j) else {
                    return Err(self.bad(iq, "transport-replace without our content"));
                };
                let transport = content.transport.clone();
                self.ack(iq);
                match transport {
                    // XEP-0371 §6, Listings 11 to 13: acknowledge, then transport-accept.
                    Some(Transport::RawUdp(t)) if self.cfg.accept_raw_udp_fallback => {
                        let remote = t.candidates.first().map(|c| c.addr());
                        let mut a = self.jingle(Action::TransportAccept);
                        a.contents
                            .push(self.content_with(Transport::RawUdp(t), None));
                        self.send_request(now, a);
                        self.mode = Mode::RawUdp(remote);
                        self.our_replace = None;
                        self.emit(Event::FellBackToRawUdp { remote });
                    }
                    other => {
                        let mut r = self.jingle(Action::TransportReject);
                        if let Some(t) = other {
                            r.contents.push(self.content_with(t, None));
                        }
                        self.send_request(now, r);
                    }
                }
                Ok(Handled::Acknowledged(action))
            }
            Action::TransportAccept => {
                if self.our_replace.is_none() {
                    return Err(self.out_of_order(iq, action));
                }
                let remote = self.our_content(&j).and_then(|c| match &c.transport {
                    Some(Transport::RawUdp(t)) => t.candidates.first().map(|c| c.addr()),
                    _ => None,
                });
                self.our_replace = None;
                self.mode = Mode::RawUdp(remote);
                self.ack(iq);
                self.emit(Event::FellBackToRawUdp { remote });
                Ok(Handled::Acknowledged(action))
            }
            Action::TransportReject => {
                if self.our_replace.take().is_none() {
                    return Err(self.out_of_order(iq, action));
                }
                self.ack(iq);
                self.emit(Event::FallbackRejected);
                Ok(Handled::Acknowledged(action))
            }
            Action::SessionTerminate => {
                if self.phase == Phase::Idle {
                    return Err(self.unknown_session(iq));
                }
                self.phase = Phase::Ended;
                self.pending.clear();
                self.ack(iq);
                self.emit(Event::Terminated { reason: j.reason });
                Ok(Handled::Acknowledged(action))
            }
            _ => {
                if self.phase == Phase::Idle {
                    return Err(self.unknown_session(iq));
                }
                Ok(Handled::Application(Box::new(j)))
            }
        }
    }

    /// XEP-0371 §5.3 and §5.5: refuse a transport we cannot use, before anything changes.
    fn check_transport(&mut self, iq: &Iq, t: &IceTransport) -> Result<(), Refused> {
        // §5.3: "'pwd' and 'ufrag' attributes MUST be included whenever sending one or more
        // candidates".
        if !t.candidates.is_empty() && (t.ufrag.is_none() || t.pwd.is_none()) {
            return Err(self.bad(iq, "candidates without ufrag and pwd (XEP-0371 §5.3)"));
        }
        if t.ufrag.is_some() != t.pwd.is_some() {
            return Err(self.bad(iq, "ufrag without pwd or the reverse (XEP-0371 §5.3)"));
        }
        if let (Some(u), Some(p)) = (&t.ufrag, &t.pwd) {
            let ok = |s: &str| {
                !s.is_empty()
                    && s.len() <= 256
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
            };
            if !ok(u) || !ok(p) {
                return Err(self.bad(iq, "ufrag or pwd is not 1 to 256 ice-chars (RFC 8839)"));
            }
        }
        // §5.3: "The value of the attribute may not be changed during lifetime of the
        // transport instance, but it's not an error to skip the attribute".
        if let (Some(new), Some(old)) = (t.ice2, self.peer_ice2) {
            if new != old {
                return Err(self.bad(iq, "ice2 changed (XEP-0371 §5.3)"));
            }
        }
        Ok(())
    }

    /// A transport-info (XEP-0371 §5.5, §5.7, §5.8, §5.9, §5.10).
    fn transport_info(&mut self, now: Instant, iq: &Iq, t: IceTransport) -> Result<(), Refused> {
        if let (Some(u), Some(_)) = (&t.ufrag, &t.pwd) {
            let current = self.remote_creds.as_ref().map(|(u, _)| u.as_str());
            if current != Some(u.as_str()) && self.stale_ufrags.iter().any(|s| s == u) {
                // A previous generation's credentials: acknowledged, dropped.
                self.stats.dropped_during_restart += 1;
                self.ack(iq);
                return Ok(());
            }
            if self.our_restart.is_some() {
                // XEP-0371 §5.10: "If a party has already sent ICE restart and receives any
                // transport-info message before <iq/> stanza of type "result", the
                // transport-info messages have to be acknowledged ... but dropped afterwards.
                // ... It's also possible both parties will send ICE restart simultaneously. In
                // this case session initiator MUST respond with <tie-break/> error".
                match self.role {
                    Role::Initiator => {
                        self.emit(Event::TieBreak { won: true });
                        return Err(self.refuse(iq, JingleCondition::TieBreak));
                    }
                    Role::Responder => {
                        // The initiator's restart wins if it answers ours with tie-break: keep
                        // its transport (not applied) until our restart is answered.
                        if self.stash.len() >= self.cfg.max_queued_candidates {
                            self.stats.candidates_over_limit += 1;
                        } else {
                            self.stash.push(t);
                        }
                        self.stats.dropped_during_restart += 1;
                        self.ack(iq);
                        return Ok(());
                    }
                }
            }
        } else if self.our_restart.is_some() {
            self.stats.dropped_during_restart += 1;
            self.ack(iq);
            return Ok(());
        }
        let remote: Vec<(u8, SocketAddr)> = t
            .remote_candidates
            .iter()
            .map(|r| (r.component, r.addr()))
            .collect();
        self.apply_transport(now, t);
        self.ack(iq);
        if !remote.is_empty() {
            self.emit(Event::RemoteCandidates { candidates: remote });
        }
        Ok(())
    }

    /// Hands a checked transport to the agent: credentials (a change is the peer's restart),
    /// candidates (held while sharing is not allowed), end-of-candidates.
    fn apply_transport(&mut self, now: Instant, t: IceTransport) {
        if let Some(v) = t.ice2 {
            self.peer_ice2 = Some(v);
        }
        if let (Some(u), Some(p)) = (t.ufrag, t.pwd) {
            let changed = self
                .remote_creds
                .as_ref()
                .is_none_or(|(ou, op)| *ou != u || *op != p);
            if changed {
                if let Some((old, _)) = self.remote_creds.take() {
                    // XEP-0371 §5.10: new ufrag/pwd from the peer is its restart, with or
                    // without candidates (Conversations sends none). The agent restarts too
                    // and our new credentials follow.
                    self.remember_stale(old);
                    self.held_remote.clear();
                    self.held_eoc = false;
                }
                if self.agent.set_remote_credentials(now, &u, &p).is_err() {
                    // Checked before (check_transport); never reached.
                    self.stats.dropped_malformed += 1;
                    return;
                }
                self.remote_creds = Some((u, p));
            }
        }
        for c in &t.candidates {
            let Some(c) = convert::agent_candidate(c) else {
                self.stats.candidates_refused += 1;
                continue;
            };
            if self.allowance.is_some() {
                self.add_remote(now, c);
            } else if self.held_remote.len() >= self.cfg.max_queued_candidates {
                self.stats.candidates_over_limit += 1;
            } else {
                // XEP-0371 §11.1: checks from our addresses would reveal them; hold the
                // peer's candidates until sharing is allowed.
                self.held_remote.push(c);
            }
        }
        if t.gathering_complete {
            if self.allowance.is_some() {
                self.agent.end_of_remote_candidates(now);
            } else {
                self.held_eoc = true;
            }
        }
    }

    fn on_timeout(&mut self, id: String, action: Action) {
        if self.our_restart.as_deref() == Some(id.as_str()) {
            self.our_restart = None;
            self.stash.clear();
        }
        if self.our_replace.as_deref() == Some(id.as_str()) {
            self.our_replace = None;
        }
        self.emit(Event::IqTimeout { id, action });
    }

    fn on_response(&mut self, now: Instant, id: &str, action: Action, payload: IqPayload) {
        let was_restart = self.our_restart.as_deref() == Some(id);
        if was_restart {
            self.our_restart = None;
        }
        match payload {
            IqPayload::Error { error, .. } => {
                let tie_break = error.jingle == Some(JingleCondition::TieBreak);
                self.emit(Event::PeerError {
                    id: id.to_owned(),
                    action,
                    error,
                });
                if was_restart && tie_break && self.role == Role::Responder {
                    // XEP-0371 §5.10: the initiator's restart wins. Take it, and send our
                    // credentials and candidates again: the initiator refused the stanza
                    // that carried them.
                    self.emit(Event::TieBreak { won: false });
                    for t in std::mem::take(&mut self.stash) {
                        self.apply_transport(now, t);
                    }
                    self.resend_all(now);
                } else if was_restart {
                    self.stash.clear();
                }
                if action == Action::SessionInitiate {
                    self.phase = Phase::Ended;
                    self.emit(Event::Terminated { reason: None });
                }
                if self.our_replace.as_deref() == Some(id) {
                    self.our_replace = None;
                }
            }
            _ => {
                self.emit(Event::Acknowledged {
                    id: id.to_owned(),
                    action,
                });
                if was_restart {
                    // The peer's restart that crossed ours (it acknowledged ours, so it
                    // answered as a peer of a restart does): apply what it sent meanwhile.
                    for t in std::mem::take(&mut self.stash) {
                        self.apply_transport(now, t);
                    }
                }
            }
        }
        self.pump(now);
    }

    /// Our current credentials and every local candidate that may be shared, in one
    /// transport-info (after losing a tie-break).
    fn resend_all(&mut self, now: Instant) {
        if !self.can_signal() {
            return;
        }
        let all: Vec<_> = self
            .agent
            .local_candidates()
            .filter(|c| c.kind != CandidateKind::PeerReflexive)
            .cloned()
            .collect();
        let share: Vec<_> = all.into_iter().filter(|c| self.may_share(c)).collect();
        self.unsent.retain(|c| !share.contains(c));
        let gc = self.ns == IceNamespace::Ice0 && self.gathering_complete && self.unsent.is_empty();
        self.send_transport_info(now, share, gc);
        self.gc_sent |= gc;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(kind: CandidateKind) -> ice_sans_io::Candidate {
        ice_sans_io::Candidate {
            component: 1,
            foundation: "1".into(),
            protocol: ice_sans_io::Protocol::Udp,
            priority: 1,
            addr: "192.0.2.1:5000".parse().unwrap(),
            kind,
            related: None,
        }
    }

    fn session(before: BeforeAllowed) -> Session {
        let cfg = Config {
            before_allowed: before,
            ..Config::default()
        };
        Session::new(
            cfg,
            Role::Initiator,
            "s",
            "a@b/c".parse().unwrap(),
            "d@e/f".parse().unwrap(),
            [0; 32],
        )
    }

    /// XEP-0371 §11.1: before the allowance only what the policy permits may leave.
    #[test]
    fn xep0371_11_1_policy_filter() {
        let s = session(BeforeAllowed::Nothing);
        for k in [
            CandidateKind::Host,
            CandidateKind::ServerReflexive,
            CandidateKind::Relayed,
        ] {
            assert!(!s.may_share(&candidate(k)));
        }
        let mut s = session(BeforeAllowed::RelayOnly);
        assert!(s.may_share(&candidate(CandidateKind::Relayed)));
        assert!(!s.may_share(&candidate(CandidateKind::Host)));
        assert!(!s.may_share(&candidate(CandidateKind::ServerReflexive)));
        s.allowance = Some(Allowance::AllowList);
        assert!(s.may_share(&candidate(CandidateKind::Host)));
    }

    /// XEP-0371 §8.1: ice:0 when advertised, otherwise ice-udp:1.
    #[test]
    fn xep0371_8_1_ns_for() {
        let f = |ice0, ice_udp1| IceFeatures {
            ice0,
            ice_udp1,
            ..IceFeatures::default()
        };
        assert_eq!(ns_for(f(true, true)), IceNamespace::Ice0);
        assert_eq!(ns_for(f(true, false)), IceNamespace::Ice0);
        assert_eq!(ns_for(f(false, true)), IceNamespace::IceUdp1);
        assert_eq!(ns_for(f(false, false)), IceNamespace::IceUdp1);
    }

    /// Candidates round-trip between the agent's type and the model's.
    #[test]
    fn candidate_conversion() {
        let mut s = session(BeforeAllowed::Nothing);
        for kind in [
            CandidateKind::Host,
            CandidateKind::ServerReflexive,
            CandidateKind::PeerReflexive,
            CandidateKind::Relayed,
        ] {
            let mut c = candidate(kind);
            if kind != CandidateKind::Host {
                c.related = Some("10.0.0.1:5000".parse().unwrap());
            }
            let m = s.model_candidate(&c).unwrap();
            assert_eq!(m.generation, Some(0));
            assert!(m.id.as_deref().is_some_and(|i| i.starts_with('c')));
            assert_eq!(convert::agent_candidate(&m), Some(c));
        }
        let mut c = candidate(CandidateKind::Host);
        c.component = 256;
        assert!(s.model_candidate(&c).is_none());
    }
}
