//! The adapter for this project's agent, `ice-sans-io`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use ice_netsim::{Node, Transmit};
use ice_sans_io::{
    Candidate, CandidateKind, Config, Datagram, Event, IceAgent, Protocol, Received, Role, State,
};
use xep0371_model::IceTransport;
use xep0371_model::candidate::{CandidateType, Protocol as ModelProtocol};

use super::peer::{Outbox, Peer, PeerConfig, PeerStatus, SelectedPair};

/// The UDP port of component `c`'s host candidates (every adapter uses the same ports, so runs
/// of different stacks compare).
pub fn host_port(component: u8) -> u16 {
    50_000 + u16::from(component)
}

/// A candidate of the agent as a XEP-0371 candidate (`ice:0` attributes filled in).
pub fn to_model(c: &Candidate, id: usize) -> xep0371_model::Candidate {
    let mut m = xep0371_model::Candidate::new(
        u8::try_from(c.component).unwrap_or(u8::MAX),
        c.foundation.clone(),
        c.addr,
        c.priority,
        match c.protocol {
            Protocol::Udp => ModelProtocol::Udp,
            _ => ModelProtocol::Tcp,
        },
        model_type(c.kind),
    );
    m.generation = Some(0);
    m.network = Some(0);
    m.id = Some(format!("c{id}"));
    if let Some(r) = c.related {
        m.rel_addr = Some(r.ip());
        m.rel_port = Some(r.port());
    }
    m
}

/// The model's name for a candidate kind.
pub fn model_type(kind: CandidateKind) -> CandidateType {
    match kind {
        CandidateKind::Host => CandidateType::Host,
        CandidateKind::ServerReflexive => CandidateType::Srflx,
        CandidateKind::PeerReflexive => CandidateType::Prflx,
        _ => CandidateType::Relay,
    }
}

/// A XEP-0371 candidate as the agent's, or `None` for what the agent does not take (TCP).
pub fn from_model(c: &xep0371_model::Candidate) -> Option<Candidate> {
    if c.protocol != ModelProtocol::Udp {
        return None;
    }
    Some(Candidate {
        component: u16::from(c.component),
        foundation: c.foundation.clone(),
        protocol: Protocol::Udp,
        priority: c.priority,
        addr: c.addr(),
        kind: match c.type_ {
            CandidateType::Host => CandidateKind::Host,
            CandidateType::Srflx => CandidateKind::ServerReflexive,
            CandidateType::Prflx => CandidateKind::PeerReflexive,
            CandidateType::Relay => CandidateKind::Relayed,
        },
        related: c.related_addr(),
    })
}

/// `ice-sans-io` on a simulated host.
#[derive(Debug)]
pub struct Ours {
    agent: IceAgent,
    out: VecDeque<Transmit>,
    data: VecDeque<Vec<u8>>,
    outbox: Outbox,
    gathering_complete: bool,
    failed: Option<String>,
}

impl Ours {
    /// An agent set up as `config` says, gathering from `config.start`.
    pub fn new(config: &PeerConfig) -> anyhow::Result<Ours> {
        let mut ice = Config::default();
        ice.role = if config.controlling {
            Role::Controlling
        } else {
            Role::Controlled
        };
        ice.components = u16::from(config.components);
        let mut agent = IceAgent::new(ice, config.seed);
        for c in 1..=config.components {
            for ip in &config.host_ips {
                agent.add_local_host(u16::from(c), SocketAddr::new(*ip, host_port(c)))?;
            }
        }
        for s in &config.stun {
            agent.add_stun_server(*s);
        }
        agent.gather(config.start);
        let mut ours = Ours {
            agent,
            out: VecDeque::new(),
            data: VecDeque::new(),
            outbox: Outbox::default(),
            gathering_complete: false,
            failed: None,
        };
        ours.drain();
        Ok(ours)
    }

    /// The agent.
    pub fn agent(&self) -> &IceAgent {
        &self.agent
    }

    fn drain(&mut self) {
        while let Some(t) = self.agent.poll_transmit() {
            self.out.push_back(Transmit {
                from: t.local,
                to: t.remote,
                data: t.data.to_vec(),
            });
        }
        while let Some(e) = self.agent.poll_event() {
            match e {
                Event::LocalCandidate(c) => {
                    let id = self.outbox.candidates.len();
                    self.outbox.candidates.push(to_model(&c, id));
                }
                Event::GatheringComplete => self.gathering_complete = true,
                Event::ComponentFailed { component, reason } => {
                    self.failed
                        .get_or_insert_with(|| format!("component {component}: {reason:?}"));
                }
                _ => {}
            }
        }
    }
}

impl Node for Ours {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        let r = self.agent.handle_receive(
            now,
            Datagram {
                local: to,
                remote: from,
                protocol: Protocol::Udp,
                data,
            },
        );
        if let Received::Data { data, .. } = r {
            self.data.push_back(data.to_vec());
        }
        self.drain();
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.agent.handle_timeout(now);
        self.drain();
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.agent.poll_timeout()
    }
}

impl Peer for Ours {
    fn implementation(&self) -> &'static str {
        "ice-sans-io"
    }

    fn replayable(&self) -> bool {
        true
    }

    fn poll_signal(&mut self) -> Option<IceTransport> {
        let (ufrag, pwd) = self.agent.local_credentials();
        let (ufrag, pwd) = (ufrag.to_owned(), pwd.to_owned());
        self.outbox.poll(&ufrag, &pwd, self.gathering_complete)
    }

    fn handle_signal(&mut self, now: Instant, transport: &IceTransport) {
        if let (Some(u), Some(p)) = (&transport.ufrag, &transport.pwd) {
            // Credentials the agent refuses leave it without a peer: the run fails, visibly.
            let _ = self.agent.set_remote_credentials(now, u, p);
        }
        for c in &transport.candidates {
            if let Some(c) = from_model(c) {
                // Candidates the agent refuses (over its limits, relayed) are counted by it.
                let _ = self.agent.add_remote_candidate(now, c);
            }
        }
        if transport.gathering_complete {
            self.agent.end_of_remote_candidates(now);
        }
        self.drain();
    }

    fn status(&self) -> PeerStatus {
        if let Some(reason) = &self.failed {
            return PeerStatus::Failed(reason.clone());
        }
        match self.agent.state() {
            State::Failed => PeerStatus::Failed("ICE failed".into()),
            State::Completed => match self.agent.selected_pair(1) {
                Some(p) if p.nominated => PeerStatus::Connected(SelectedPair {
                    local_type: model_type(p.local.kind).as_str().to_owned(),
                    remote_type: model_type(p.remote.kind).as_str().to_owned(),
                    protocol: p.local.protocol.as_str().to_owned(),
                    local: p.local.addr,
                    remote: p.remote.addr,
                }),
                _ => PeerStatus::Checking,
            },
            _ => PeerStatus::Checking,
        }
    }

    fn send_data(&mut self, now: Instant, data: &[u8]) -> Result<(), String> {
        let t = self.agent.send(now, 1, data).map_err(|e| e.to_string())?;
        self.out.push_back(Transmit {
            from: t.local,
            to: t.remote,
            data: t.data.to_vec(),
        });
        self.drain();
        Ok(())
    }

    fn poll_data(&mut self) -> Option<Vec<u8>> {
        self.data.pop_front()
    }

    fn checks_sent(&self) -> u64 {
        let s = self.agent.stats();
        // Retransmissions of srflx gathering requests are counted with them (the agent counts
        // retransmissions of both together).
        s.checks_sent - s.consent_checks_sent + s.retransmissions
    }
}
