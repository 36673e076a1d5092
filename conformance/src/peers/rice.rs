//! The adapter for rice-proto's ICE agent (`rice-proto` 0.4, [`rice_proto::agent::Agent`]).
//!
//! The runner puts it in [`super::jingle::JingleEndpoint`], which carries its transports in
//! Jingle stanzas to and from the other side's glue session.
//!
//! What rice does and what the adapter adds:
//!
//! - **Roles**: both, from [`PeerConfig::controlling`] (rice draws its tie-breaker itself).
//! - **Components**: 1 and 2, one rice component each, with host candidates on
//!   [`host_port`] of the component. Application data uses component 1. With 2, rice 0.4.3
//!   announces the selection of the last nominated component only (see the
//!   `known_bug_*` tests), so component 1 may never be reported connected.
//! - **Selected pair, applied by hand**: rice does not apply its own `SelectedPair` event to
//!   the component: `Component::send` fails (`ResourceNotFound`) until the application calls
//!   `ComponentMut::set_selected_pair` with it, which the adapter does.
//! - **Gathering**: rice's own ([`ComponentMut::gather_candidates`]): one host candidate per
//!   address, a server-reflexive one per STUN server of [`PeerConfig::stun`] when it differs
//!   from the host candidate, and a relayed one per TURN server of [`PeerConfig::turn`]. The
//!   adapter hands every gathered candidate back to the stream (`add_local_gathered_candidate`,
//!   which rice leaves to the application; for a relayed candidate it also moves the TURN
//!   client into the checklist, which `add_local_candidate` would drop), signals it, and calls
//!   `end_of_local_candidates` once every component finished gathering.
//! - **TURN** (RFC 8656): over UDP, long-term credentials as the runner made them (a script's
//!   user, or TURN REST credentials, which are a username and a password too). Each server is
//!   passed to `gather_candidates`, allocated from the socket of the component's host
//!   candidate of the server's address family (the first such address), so the adapter's
//!   routing by local port stays; rice tells the TURN server's answers from the peer's by the
//!   5-tuple (its documentation asks for a socket apart from the host ones; sharing works).
//!   (`Agent::add_turn_server` only stores the server in rice 0.4.3.) An IPv4
//!   relayed address is requested, or an IPv6 one from an IPv6 server (RFC 8656 §7.1,
//!   REQUESTED-ADDRESS-FAMILY). rice creates a permission per remote candidate (RFC 8656 §9)
//!   and sends checks and data through the relay in Send indications and receives them in Data
//!   indications (§11): it binds no channels (§12), follows no 300 Try Alternate (§7.4: its
//!   TURN client takes it as a failed allocation), and signals the host address as the relayed
//!   candidate's related address where RFC 8839 §5.1 says the mapped one.
//! - **End-of-candidates**: the peer's `gathering-complete` becomes
//!   `end_of_remote_candidates`.
//! - **Selected pair**: rice's `SelectedPair` event per component; Connected means component
//!   1 is `Connected` with a selected pair (rice selects only nominated pairs).
//! - **Failure**: rice's component state `Failed`, which it reaches once both sides'
//!   end-of-candidates are known and every pair of the component failed.
//! - **Time**: rice counts time in its own `Instant` (`sans_io_time`, nanoseconds from an
//!   arbitrary zero); the adapter maps [`PeerConfig::start`] to that zero.
//! - **Checks sent**: rice has no counter; the adapter counts the Binding requests it
//!   transmits to anyone but the STUN servers, directly or in a TURN Send indication (the
//!   check through a relay), except those on a selected pair once one is selected (rice sends
//!   none there: it has no consent freshness, RFC 7675 is on its to-do list, and no
//!   keepalives).
//! - **Replayable**: no. rice draws credentials, tie-breaker and transaction IDs from the
//!   operating system's RNG (`rand::rng()` with its `std` feature, `OsRng` without), with no
//!   seed in its API. The adapter sets the credentials from the seed; the rest stays random.
//!
//! The drain rule: after each input the adapter calls rice's `poll` until it says
//! `WaitUntil`, then `poll_transmit` until `None`, and again while anything was transmitted.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_netsim::{Node, Transmit};
use rice_proto::AddressFamily;
use rice_proto::agent::{Agent, AgentPoll};
use rice_proto::candidate::{Candidate, CandidatePair, CandidateType, TransportType};
use rice_proto::component::{ComponentConnectionState, ComponentMut};
use rice_proto::stream::Credentials;
use rice_proto::turn::{TurnConfig, TurnCredentials};
use xep0371_model::IceTransport;
use xep0371_model::candidate::{CandidateType as ModelType, Protocol as ModelProtocol};

use super::common::{hex, is_binding_request, send_indication, signalled};
use crate::runner::config::{PeerConfig, host_port};
use crate::runner::peer::{Outbox, Peer, PeerStatus, SelectedPair, Stack};

/// The model's name for a rice candidate type.
fn model_type(t: CandidateType) -> ModelType {
    match t {
        CandidateType::Host => ModelType::Host,
        CandidateType::ServerReflexive => ModelType::Srflx,
        CandidateType::PeerReflexive => ModelType::Prflx,
        CandidateType::Relayed => ModelType::Relay,
    }
}

/// A local rice candidate as a XEP-0371 candidate.
fn to_model(c: &Candidate, id: usize) -> xep0371_model::Candidate {
    let m = xep0371_model::Candidate::new(
        u8::try_from(c.component_id).unwrap_or(u8::MAX),
        c.foundation.clone(),
        c.address,
        c.priority,
        match c.transport_type {
            TransportType::Udp => ModelProtocol::Udp,
            TransportType::Tcp => ModelProtocol::Tcp,
        },
        model_type(c.candidate_type),
    );
    signalled(m, c.related_address, id)
}

/// A XEP-0371 candidate as rice's, or `None` for TCP (not handled here).
fn from_model(c: &xep0371_model::Candidate) -> Option<Candidate> {
    if c.protocol != ModelProtocol::Udp {
        return None;
    }
    let t = match c.type_ {
        ModelType::Host => CandidateType::Host,
        ModelType::Srflx => CandidateType::ServerReflexive,
        ModelType::Prflx => CandidateType::PeerReflexive,
        ModelType::Relay => CandidateType::Relayed,
    };
    let mut b = Candidate::builder(
        usize::from(c.component),
        t,
        TransportType::Udp,
        &c.foundation,
        c.addr(),
    )
    .priority(c.priority);
    if let Some(r) = c.related_addr() {
        b = b.related_address(r);
    }
    Some(b.build())
}

/// rice's configuration of each TURN server of `config`, over UDP (RFC 8656 §3.1), with the
/// credentials as they are (rice takes a username and a password; TURN REST credentials are
/// one). rice requests an IPv4 relayed address unless told otherwise (RFC 8656 §7.1,
/// REQUESTED-ADDRESS-FAMILY): an IPv6 server is asked for an IPv6 one.
fn turn_configs(config: &PeerConfig) -> Vec<TurnConfig> {
    config
        .turn
        .iter()
        .map(|(server, creds)| {
            let mut t = TurnConfig::new(
                TransportType::Udp,
                *server,
                TurnCredentials::new(&creds.username, &creds.password),
            );
            if server.is_ipv6() {
                t.set_address_family(AddressFamily::IPV6);
            }
            t
        })
        .collect()
}

/// One component as the adapter follows it.
#[derive(Debug)]
pub(super) struct Component {
    pub(super) id: usize,
    pub(super) state: ComponentConnectionState,
    pub(super) selected: Option<CandidatePair>,
    gathered: bool,
}

/// rice-proto's ICE agent on a simulated host, one stream. See the [module docs](self).
#[derive(Debug)]
pub struct Rice {
    agent: Agent,
    stream: usize,
    start: Instant,
    timeout: Option<Instant>,
    pub(super) components: Vec<Component>,
    stun: Vec<SocketAddr>,
    out: VecDeque<Transmit>,
    data: VecDeque<Vec<u8>>,
    pub(super) outbox: Outbox,
    gathering_complete: bool,
    remote_gathering_complete: bool,
    checks_sent: u64,
}

impl Rice {
    /// rice's agent set up as `config` says, gathering from `config.start`.
    pub fn new(config: &PeerConfig) -> anyhow::Result<Rice> {
        anyhow::ensure!(
            matches!(config.components, 1 | 2),
            "components must be 1 or 2, not {}",
            config.components
        );
        let mut agent = Agent::builder()
            .trickle_ice(true)
            .controlling(config.controlling)
            .build();
        let stream_id = agent.add_stream();
        let mut components = Vec::new();
        {
            let mut stream = agent.mut_stream(stream_id).context("the new stream")?;
            stream.set_local_credentials(Credentials::new(
                hex(&config.seed[0..4]),
                hex(&config.seed[4..16]),
            ));
            let stun: Vec<_> = config
                .stun
                .iter()
                .map(|s| (TransportType::Udp, *s))
                .collect();
            let turn = turn_configs(config);
            for c in 1..=config.components {
                let id = stream.add_component().map_err(|e| anyhow::anyhow!("{e}"))?;
                anyhow::ensure!(id == usize::from(c), "rice numbered component {c} {id}");
                let sockets: Vec<_> = config
                    .host_ips
                    .iter()
                    .map(|ip| (TransportType::Udp, SocketAddr::new(*ip, host_port(c))))
                    .collect();
                // One allocation per TURN server from the socket of the host candidate of
                // the server's family: the adapter finds the component by local port.
                let turn: Vec<_> = turn
                    .iter()
                    .filter_map(|t| {
                        let ip = config
                            .host_ips
                            .iter()
                            .find(|ip| ip.is_ipv4() == t.addr().is_ipv4())?;
                        Some((SocketAddr::new(*ip, host_port(c)), t))
                    })
                    .collect();
                let mut component: ComponentMut<'_> =
                    stream.mut_component(id).context("the new component")?;
                component
                    .gather_candidates(&sockets, &stun, &turn)
                    .map_err(|e| anyhow::anyhow!("gathering: {e}"))?;
                components.push(Component {
                    id,
                    state: ComponentConnectionState::New,
                    selected: None,
                    gathered: false,
                });
            }
        }
        let mut rice = Rice {
            agent,
            stream: stream_id,
            start: config.start,
            timeout: None,
            components,
            stun: config.stun.clone(),
            out: VecDeque::new(),
            data: VecDeque::new(),
            outbox: Outbox::default(),
            gathering_complete: false,
            remote_gathering_complete: false,
            checks_sent: 0,
        };
        rice.drain(config.start);
        Ok(rice)
    }

    /// rice's agent.
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// Our virtual time as rice's.
    fn rice_time(&self, now: Instant) -> stun_proto::Instant {
        let nanos = now.saturating_duration_since(self.start).as_nanos();
        stun_proto::Instant::from_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
    }

    /// rice's time as our virtual time.
    fn our_time(&self, t: stun_proto::Instant) -> Instant {
        self.start + Duration::from_nanos(u64::try_from(t.as_nanos()).unwrap_or(0))
    }

    fn component(&mut self, id: usize) -> Option<&mut Component> {
        self.components.iter_mut().find(|c| c.id == id)
    }

    fn drain(&mut self, now: Instant) {
        let t = self.rice_time(now);
        loop {
            self.poll_agent(t);
            let mut sent = false;
            while let Some(tx) = self.agent.poll_transmit(t) {
                sent = true;
                let tx = tx.transmit;
                let data = tx.data.to_vec();
                if self.is_check(tx.from, tx.to, &data) {
                    self.checks_sent += 1;
                }
                self.out.push_back(Transmit {
                    from: tx.from,
                    to: tx.to,
                    data,
                });
            }
            if !sent {
                break;
            }
        }
    }

    /// Whether `data` from `from` to `to` is a connectivity check: a Binding request to anyone
    /// but the STUN servers, sent directly or through a relay in a Send indication (rice relays
    /// without channels), and not on a selected pair.
    fn is_check(&self, from: SocketAddr, to: SocketAddr, data: &[u8]) -> bool {
        let on_selected = |relayed: bool, to: SocketAddr| {
            self.components
                .iter()
                .filter_map(|c| c.selected.as_ref())
                .any(|p| {
                    (p.local.candidate_type == CandidateType::Relayed) == relayed
                        && (relayed || p.local.base_address == from)
                        && p.remote.address == to
                })
        };
        if let Some((peer, inner)) = send_indication(data) {
            is_binding_request(inner) && !on_selected(true, peer)
        } else {
            is_binding_request(data) && !self.stun.contains(&to) && !on_selected(false, to)
        }
    }

    /// Runs rice's `poll` until it says when to come back.
    fn poll_agent(&mut self, t: stun_proto::Instant) {
        loop {
            match self.agent.poll(t) {
                AgentPoll::WaitUntil(at) => {
                    self.timeout = Some(self.our_time(at));
                    return;
                }
                AgentPoll::Closed => {
                    self.timeout = None;
                    return;
                }
                // Sockets for TCP candidates, which the adapter does not gather.
                AgentPoll::AllocateSocket(_) | AgentPoll::RemoveSocket(_) => {}
                AgentPoll::SelectedPair(p) => {
                    let pair = p.selected.candidate_pair().clone();
                    // rice does not apply its own event: `Component::send` finds no pair
                    // until the application sets it.
                    let applied = self
                        .agent
                        .mut_stream(self.stream)
                        .and_then(|mut s| {
                            s.mut_component(p.component_id)
                                .map(|mut c| c.set_selected_pair(pair.clone()).is_ok())
                        })
                        .unwrap_or(false);
                    if let Some(c) = self.component(p.component_id).filter(|_| applied) {
                        c.selected = Some(pair);
                    }
                }
                AgentPoll::ComponentStateChange(s) => {
                    if let Some(c) = self.component(s.component_id) {
                        c.state = s.state;
                    }
                }
                AgentPoll::GatheredCandidate(g) => {
                    let candidate = g.gathered.candidate.clone();
                    let added = self
                        .agent
                        .mut_stream(self.stream)
                        .is_some_and(|mut s| s.add_local_gathered_candidate(g.gathered));
                    if added {
                        let id = self.outbox.candidates.len();
                        self.outbox.candidates.push(to_model(&candidate, id));
                    }
                }
                AgentPoll::GatheringComplete(g) => {
                    if let Some(c) = self.component(g.component_id) {
                        c.gathered = true;
                    }
                    if !self.gathering_complete && self.components.iter().all(|c| c.gathered) {
                        self.gathering_complete = true;
                        if let Some(mut s) = self.agent.mut_stream(self.stream) {
                            s.end_of_local_candidates();
                        }
                    }
                }
            }
        }
    }
}

/// `Option` to `anyhow` with a reason.
trait Context<T> {
    fn context(self, what: &str) -> anyhow::Result<T>;
}

impl<T> Context<T> for Option<T> {
    fn context(self, what: &str) -> anyhow::Result<T> {
        self.ok_or_else(|| anyhow::anyhow!("rice lost {what}"))
    }
}

impl Node for Rice {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        // The component is the one whose host port the datagram came to.
        let port_of = |id: usize| u8::try_from(id).ok().map(host_port);
        let Some(component) = self
            .components
            .iter()
            .map(|c| c.id)
            .find(|id| port_of(*id) == Some(to.port()))
        else {
            return;
        };
        let t = self.rice_time(now);
        let mut received = Vec::new();
        if let Some(mut stream) = self.agent.mut_stream(self.stream) {
            let transmit = stun_proto::agent::Transmit::new(data, TransportType::Udp, from, to);
            let reply = stream.handle_incoming_data(component, transmit, t);
            if let Some(d) = &reply.data {
                received.push(d.as_ref().to_vec());
            }
            if reply.have_more_data {
                while let Some(r) = stream.poll_recv() {
                    if r.component_id == component {
                        received.push(r.data);
                    }
                }
            }
        }
        if component == 1 {
            self.data.extend(received);
        }
        self.drain(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.drain(now);
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timeout
    }
}

impl Stack for Rice {
    fn implementation(&self) -> &'static str {
        "rice"
    }

    fn replayable(&self) -> bool {
        false
    }

    fn status(&self) -> PeerStatus {
        let Some(c) = self.components.iter().find(|c| c.id == 1) else {
            return PeerStatus::Failed("rice has no component 1".into());
        };
        match (c.state, &c.selected) {
            (ComponentConnectionState::Failed, _) => {
                PeerStatus::Failed("rice: component 1 failed".into())
            }
            (ComponentConnectionState::Connected, Some(p)) => PeerStatus::Connected(SelectedPair {
                local_type: model_type(p.local.candidate_type).as_str().to_owned(),
                remote_type: model_type(p.remote.candidate_type).as_str().to_owned(),
                protocol: "udp".to_owned(),
                relay_transport: None,
                local: p.local.address,
                remote: p.remote.address,
            }),
            _ => PeerStatus::Checking,
        }
    }

    fn send_data(&mut self, now: Instant, data: &[u8]) -> Result<(), String> {
        let t = self.rice_time(now);
        let mut stream = self
            .agent
            .mut_stream(self.stream)
            .ok_or("rice lost its stream")?;
        let mut component = stream.mut_component(1).ok_or("rice has no component 1")?;
        let tx = component.send(data, t).map_err(|e| format!("rice: {e}"))?;
        self.out.push_back(Transmit {
            from: tx.from,
            to: tx.to,
            data: tx.data.to_vec(),
        });
        self.drain(now);
        Ok(())
    }

    fn poll_data(&mut self) -> Option<Vec<u8>> {
        self.data.pop_front()
    }

    fn checks_sent(&self) -> u64 {
        self.checks_sent
    }
}

impl Peer for Rice {
    fn poll_signal(&mut self) -> Option<IceTransport> {
        let creds = self.agent.stream(self.stream)?.local_credentials()?;
        let (ufrag, pwd) = (creds.ufrag, creds.passwd);
        self.outbox.poll(&ufrag, &pwd, self.gathering_complete)
    }

    fn handle_signal(&mut self, now: Instant, transport: &IceTransport) {
        if let Some(mut stream) = self.agent.mut_stream(self.stream) {
            if let (Some(u), Some(p)) = (&transport.ufrag, &transport.pwd) {
                if stream
                    .remote_credentials()
                    .is_none_or(|c| (&c.ufrag, &c.passwd) != (u, p))
                {
                    stream.set_remote_credentials(Credentials::new(u.clone(), p.clone()));
                }
            }
            for c in transport.candidates.iter().filter_map(from_model) {
                stream.add_remote_candidate(c);
            }
            if transport.gathering_complete && !self.remote_gathering_complete {
                self.remote_gathering_complete = true;
                stream.end_of_remote_candidates();
            }
        }
        self.drain(now);
    }
}
