//! The session: Jingle stanzas in and out around one ICE agent.
//!
//! [`Session`] and its public methods are here; the rest is split by concern:
//! - `incoming`: the peer's requests (one handler per Jingle action) and the answers to ours;
//! - `outgoing`: the stanzas we build and send (offer, answer, transport-info, candidates);
//! - `sharing`: the IP-sharing policy (XEP-0371 §11.1);
//! - `restart`: where an ICE restart stands ([`restart::Restart`]);
//! - `iq_tracker`: our requests awaiting their answer ([`iq_tracker::IqTracker`]);
//! - `refuse`: the IQ errors for refused requests.

mod incoming;
mod iq_tracker;
mod outgoing;
mod refuse;
mod restart;
mod sharing;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use ice_sans_io::{
    AcceptError, ConnectionId, Datagram, IceAgent, Received, SendError, State, TcpType, Transmit,
};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use xep0371_model::jid::Jid;
use xep0371_model::minidom::Element;
use xep0371_model::{
    Action, Content, Creator, FromXml, IceFeatures, IceNamespace, IceTransport, Iq,
    RawUdpCandidate, RawUdpTransport, Reading, Transport, ns, parse_element,
};

use crate::config::{Allowance, Config, Role};
use crate::event::{Error, Event, Handled, Refused, Stats};
use crate::phase::Phase;
use iq_tracker::IqTracker;
use restart::Restart;

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
///   [`Session::add_turn_server`],
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
    /// Where an ICE restart stands: due to be signalled, or ours awaiting its answer.
    restart: Restart,
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
    /// Our requests awaiting their answer.
    iqs: IqTracker,
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
            iqs: IqTracker::new(config.max_pending_iqs, config.iq_timeout),
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
            restart: Restart::default(),
            notified: false,
            generation: 0,
            remote_creds: None,
            stale_ufrags: VecDeque::new(),
            held_remote: Vec::new(),
            held_eoc: false,
            stash: Vec::new(),
            networks: Vec::new(),
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
        self.restart.is_pending()
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
        self.iqs.len()
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

    /// Adds an ICE-TCP host candidate (RFC 6544; the agent's [`IceAgent::add_local_tcp_host`]):
    /// an active one from `addr`'s IP, a passive one where the caller listens, a
    /// simultaneous-open one on a port the caller holds for it. Once the session is live it is
    /// signalled with its `tcptype` (XEP-0371 §5.3). The connections are the caller's: it
    /// answers the agent's [`ice_sans_io::Event::Connect`] and `Close` (passed on as
    /// [`Event::Ice`]) and reports what happens with [`Session::handle_connected`],
    /// [`Session::handle_connect_failed`], [`Session::handle_accepted`],
    /// [`Session::handle_stream`] and [`Session::handle_closed`].
    pub fn add_local_tcp_host(
        &mut self,
        now: Instant,
        component: u16,
        addr: SocketAddr,
        tcp_type: TcpType,
    ) -> Result<(), Error> {
        self.agent.add_local_tcp_host(component, addr, tcp_type)?;
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

    /// Adds a TURN server for relayed candidates (the agent's [`IceAgent::add_turn_server`]),
    /// with credentials such as those XEP-0215 hands out (TURN REST: `TurnCredentials::rest`).
    /// Relayed candidates are the ones [`crate::BeforeAllowed::RelayOnly`] lets out before the
    /// allowance (XEP-0371 §11.1). The allocations are released when the session ends.
    pub fn add_turn_server(
        &mut self,
        server: SocketAddr,
        credentials: ice_sans_io::turn::TurnCredentials,
    ) -> Result<(), ice_sans_io::turn::TurnError> {
        self.agent.add_turn_server(server, credentials)
    }

    /// A TURN server reached over `transport` (the agent's [`IceAgent::add_turn_server_over`]:
    /// TCP or TLS to the server, RFC 8656 §3.1; the connections are the caller's, see
    /// [`Session::add_local_tcp_host`] for the calls that carry them).
    pub fn add_turn_server_over(
        &mut self,
        server: SocketAddr,
        credentials: ice_sans_io::turn::TurnCredentials,
        transport: ice_sans_io::turn::TurnTransport,
    ) -> Result<(), ice_sans_io::turn::TurnError> {
        self.agent
            .add_turn_server_over(server, credentials, transport)
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
        if self.restart.is_pending() {
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
        self.restart = Restart::Requested;
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
        self.end(now);
        Ok(())
    }

    /// The session is over: the agent's TURN allocations are released with it (RFC 8656 §8).
    fn end(&mut self, now: Instant) {
        self.phase = Phase::Ended;
        self.agent.close(now);
    }

    /// Application data over the selected pair (the agent's [`IceAgent::send`]; on a relayed
    /// pair the result borrows the agent's TURN client, which wraps the data).
    pub fn send<'a>(
        &'a mut self,
        now: Instant,
        component: u16,
        data: &'a [u8],
    ) -> Result<Transmit<'a>, SendError> {
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
            Err(e) => self.on_unreadable(el, &e.to_string()),
        }
    }

    /// Takes in a typed IQ from the peer; see [`Session::handle_stanza`].
    pub fn handle_iq(&mut self, now: Instant, iq: Iq) -> Result<Handled, Refused> {
        let r = self.on_iq(now, iq);
        if r.is_err() {
            self.stats.refused += 1;
        }
        r
    }

    /// Takes in a datagram (the agent's [`IceAgent::handle_receive`]): STUN for the agent,
    /// application data handed back.
    pub fn handle_receive<'a>(&mut self, now: Instant, d: Datagram<'a>) -> Received<'a> {
        let r = self.agent.handle_receive(now, d);
        self.pump(now);
        r
    }

    /// A connection the agent asked for is open, from `local` (the agent's
    /// [`IceAgent::handle_connected`]).
    pub fn handle_connected(&mut self, now: Instant, id: ConnectionId, local: SocketAddr) {
        self.agent.handle_connected(now, id, local);
        self.pump(now);
    }

    /// A connection the agent asked for could not be opened (the agent's
    /// [`IceAgent::handle_connect_failed`]).
    pub fn handle_connect_failed(&mut self, now: Instant, id: ConnectionId) {
        self.agent.handle_connect_failed(now, id);
        self.pump(now);
    }

    /// A connection arrived on a passive or simultaneous-open candidate's address (the agent's
    /// [`IceAgent::handle_accepted`]); an error means the caller closes it.
    pub fn handle_accepted(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<ConnectionId, AcceptError> {
        let r = self.agent.handle_accepted(now, local, remote);
        self.pump(now);
        r
    }

    /// Stream bytes from connection `id` (the agent's [`IceAgent::handle_stream`]): one RFC
    /// 4571 frame handled per call, `*bytes` advanced past what was taken. Call it until it
    /// returns `None`: the events a frame gives are taken into the session at the start of
    /// the next call (the frame's data borrows the agent until then).
    pub fn handle_stream<'s>(
        &'s mut self,
        now: Instant,
        id: ConnectionId,
        bytes: &mut &[u8],
    ) -> Option<Received<'s>> {
        // What the previous frame gave; the `None` that ends the caller's loop comes after it.
        self.pump(now);
        self.agent.handle_stream(now, id, bytes)
    }

    /// Connection `id` was closed or reset by the peer, or broke (the agent's
    /// [`IceAgent::handle_closed`]).
    pub fn handle_closed(&mut self, now: Instant, id: ConnectionId) {
        self.agent.handle_closed(now, id);
        self.pump(now);
    }

    /// Advances timers: the agent's, and the IQ timeouts ([`Event::IqTimeout`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.agent.handle_timeout(now);
        for (id, action) in self.iqs.expire(now) {
            self.on_timeout(id, action);
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
        match (self.agent.poll_timeout(), self.iqs.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

// ---------------------------------------------------------------------- internals

/// XEP-0371 §8.1: ice:0 when the peer advertises it, otherwise ice-udp:1.
fn ns_for(f: IceFeatures) -> IceNamespace {
    if f.ice0 {
        IceNamespace::Ice0
    } else {
        IceNamespace::IceUdp1
    }
}

impl Session {
    /// Whether our transport-infos may go out: ICE (not raw UDP), the initiator once it sent
    /// session-initiate, the responder once it sent session-accept.
    fn can_signal(&self) -> bool {
        self.mode == Mode::Ice
            && match self.role {
                Role::Initiator => matches!(self.phase, Phase::Pending | Phase::Active),
                Role::Responder => self.phase == Phase::Active,
            }
    }

    /// The peer's ufrag of a previous generation, to recognise its stale transport-infos.
    fn remember_stale(&mut self, ufrag: String) {
        if self.stale_ufrags.len() >= STALE_UFRAGS {
            self.stale_ufrags.pop_front();
        }
        self.stale_ufrags.push_back(ufrag);
    }
}
