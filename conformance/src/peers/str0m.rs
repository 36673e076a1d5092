//! The adapter for str0m's ICE agent (`is` 0.12, [`is::IceAgent`]).
//!
//! The runner puts it in [`super::jingle::JingleEndpoint`], which carries its transports in
//! Jingle stanzas to and from the other side's glue session.
//!
//! What str0m does and what the adapter adds:
//!
//! - **Roles**: both, from [`PeerConfig::controlling`]; the tie-breaker comes from the seed.
//! - **Components**: 1 only. str0m is an `a=rtcp-mux-only` agent: it drops every remote
//!   candidate of another component, so [`Str0m::new`] refuses `components = 2`.
//! - **Server-reflexive candidates**: str0m gathers nothing itself (it takes no STUN response
//!   that is not one of its own checks), but it pairs local server-reflexive candidates (sent
//!   from their base) once told about them. The adapter gathers them: one RFC 8489 Binding
//!   request from each host address to each server of [`PeerConfig::stun`], sent at 0, 0.5 and
//!   1.5 s, given up 3.5 s after the first; the XOR-MAPPED-ADDRESS of the answer becomes a
//!   `srflx` candidate ([`is::Candidate::server_reflexive`]) unless str0m finds it redundant
//!   with a host candidate (no NAT on the way), and is signalled with the base as related
//!   address. Gathering is complete once every request is answered or given up.
//! - **Selected pair**: str0m reports only the 5-tuple to send from (`NominatedSend`: the
//!   local *base* and the remote address), not the local candidate of its valid pair. The
//!   adapter reads the XOR-MAPPED-ADDRESS of every Binding success response str0m accepts on
//!   that 5-tuple: the local candidate is str0m's local candidate at that mapped address
//!   (`srflx`, `prflx` or `host`), or the host candidate at the base when no answer came yet.
//!   Connected means str0m is connected (a nominated pair succeeded) and has said where to
//!   send.
//! - **Failure**: str0m has no failed state (it never ends trickle ICE; its state goes
//!   `Disconnected` when no pair is left to try, and may come back). The adapter reports
//!   [`PeerStatus::Failed`] while str0m is `Disconnected` after both sides' gathering is over
//!   (ours done and the peer's `gathering-complete` received): RFC 8445 §8.1.2's "all pairs
//!   failed and no more candidates". str0m prunes a pair only after 9 unanswered checks
//!   (about 22 s with its default timing), so that is when failure shows.
//! - **End-of-candidates**: str0m has no such input; the peer's `gathering-complete` only feeds
//!   the failure rule above.
//! - **Application data**: str0m has no data path; the adapter sends from the last
//!   `NominatedSend` 5-tuple and delivers non-STUN datagrams (first byte over 3, RFC 7983)
//!   from any address str0m considers viable ([`is::IceAgent::has_viable_remote_candidate`],
//!   what str0m's own `Rtc` asks).
//! - **Checks sent**: the Binding requests str0m transmits, counted from the bytes, except
//!   those on the nominated 5-tuple once it is nominated (str0m's periodic re-checks of the
//!   pair in use, its stand-in for consent freshness).
//! - **Replayable**: no. str0m draws its transaction IDs from a global thread-local RNG
//!   (`fastrand`, through `str0m_proto::NonCryptographicRng`), which takes no seed from the
//!   agent's API. Credentials, tie-breaker and the adapter's own transaction IDs do come from
//!   the seed.
//!
//! The drain rule: after each input (`handle_*`, [`Peer::handle_signal`],
//! [`Stack::send_data`]) the adapter drains str0m's `poll_transmit` and `poll_event` and
//! caches `poll_timeout` (which str0m takes by `&mut`).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_netsim::{Node, Transmit};
use ice_sans_io::stun::{Class, Message};
use is::{IceAgent, IceAgentEvent, IceConnectionState, IceCreds};
use xep0371_model::IceTransport;
use xep0371_model::candidate::{CandidateType, Protocol as ModelProtocol};

use super::common::{binding_request, hex, is_binding_request, signalled};
use crate::runner::config::{PeerConfig, host_port};
use crate::runner::peer::{Outbox, Peer, PeerStatus, SelectedPair, Stack};

/// The adapter's gathering: first retransmission timeout (RFC 8489 §6.2.1's default)...
const GATHER_RTO: Duration = Duration::from_millis(500);
/// ...and the number of requests sent before giving up, one RTO (doubled) after the last.
const GATHER_SENDS: u32 = 3;

/// A model candidate type for str0m's.
fn model_type(kind: is::CandidateKind) -> CandidateType {
    match kind {
        is::CandidateKind::Host => CandidateType::Host,
        is::CandidateKind::ServerReflexive => CandidateType::Srflx,
        is::CandidateKind::PeerReflexive => CandidateType::Prflx,
        is::CandidateKind::Relayed => CandidateType::Relay,
    }
}

/// str0m's foundation, which it only shows in its `a=candidate` line.
fn foundation(c: &is::Candidate) -> String {
    c.to_sdp_string()
        .split_whitespace()
        .next()
        .and_then(|f| f.strip_prefix("candidate:"))
        .unwrap_or("0")
        .to_owned()
}

/// A local candidate of str0m as a XEP-0371 candidate; `base` is signalled as the related
/// address of server-reflexive candidates (str0m hides its own).
fn to_model(c: &is::Candidate, base: Option<SocketAddr>, id: usize) -> xep0371_model::Candidate {
    let m = xep0371_model::Candidate::new(
        1, // str0m is rtcp-mux-only: every candidate is of component 1
        foundation(c),
        c.addr(),
        c.prio(),
        ModelProtocol::Udp,
        model_type(c.kind()),
    );
    signalled(m, base, id)
}

/// A XEP-0371 candidate as str0m's, or `None` for what str0m does not take (TCP, component 2).
fn from_model(c: &xep0371_model::Candidate) -> Option<is::Candidate> {
    if c.protocol != ModelProtocol::Udp || c.component != 1 {
        return None;
    }
    let kind = match c.type_ {
        CandidateType::Host => is::CandidateKind::Host,
        CandidateType::Srflx => is::CandidateKind::ServerReflexive,
        CandidateType::Prflx => is::CandidateKind::PeerReflexive,
        CandidateType::Relay => is::CandidateKind::Relayed,
    };
    Some(is::Candidate::from_parts(
        c.foundation.clone(),
        u16::from(c.component),
        is::Protocol::Udp,
        c.priority,
        c.addr(),
        kind,
        c.related_addr(),
        None,
        None,
    ))
}

/// One Binding request to a STUN server, for a server-reflexive candidate.
#[derive(Debug)]
struct Gather {
    server: SocketAddr,
    base: SocketAddr,
    tid: [u8; 12],
    sends: u32,
    next: Instant,
    done: bool,
}

/// str0m's ICE agent on a simulated host. See the [module docs](self).
#[derive(Debug)]
pub struct Str0m {
    agent: IceAgent,
    /// str0m's `poll_timeout`, read after each input.
    agent_timeout: Option<Instant>,
    out: VecDeque<Transmit>,
    data: VecDeque<Vec<u8>>,
    pub(super) outbox: Outbox,
    gathers: Vec<Gather>,
    remote_gathering_complete: bool,
    /// The last `NominatedSend`: (local base, remote).
    nominated: Option<(SocketAddr, SocketAddr)>,
    /// XOR-MAPPED-ADDRESS of the last success response str0m accepted, per (local, remote).
    mapped: Vec<((SocketAddr, SocketAddr), SocketAddr)>,
    checks_sent: u64,
}

impl Str0m {
    /// str0m's agent set up as `config` says, with its host candidates added and gathering
    /// started at `config.start`. Fails for `components` other than 1 (str0m is rtcp-mux
    /// only).
    pub fn new(config: &PeerConfig) -> anyhow::Result<Str0m> {
        anyhow::ensure!(
            config.components == 1,
            "str0m supports component 1 only (rtcp-mux-only), not {} components",
            config.components
        );
        let seed = &config.seed;
        let mut agent = IceAgent::new(IceCreds {
            ufrag: hex(&seed[0..4]),
            pass: hex(&seed[4..16]),
        });
        agent.set_controlling(config.controlling);
        let mut tie = [0; 8];
        tie.copy_from_slice(&seed[16..24]);
        agent.set_control_tie_breaker(u64::from_be_bytes(tie));
        let mut candidates = Vec::new();
        let mut bases = Vec::new();
        for ip in &config.host_ips {
            let addr = SocketAddr::new(*ip, host_port(1));
            let c = is::Candidate::host(addr, "udp")
                .map_err(|e| anyhow::anyhow!("host candidate {addr}: {e}"))?;
            if let Some(c) = agent.add_local_candidate(c) {
                candidates.push(to_model(c, None, candidates.len()));
                bases.push(addr);
            }
        }
        let mut gathers = Vec::new();
        for server in &config.stun {
            for base in bases.iter().filter(|b| b.is_ipv4() == server.is_ipv4()) {
                let mut tid = [0; 12];
                tid[..8].copy_from_slice(&seed[24..32]);
                tid[8..].copy_from_slice(&u32::try_from(gathers.len())?.to_be_bytes());
                gathers.push(Gather {
                    server: *server,
                    base: *base,
                    tid,
                    sends: 0,
                    next: config.start,
                    done: false,
                });
            }
        }
        let mut s = Str0m {
            agent,
            agent_timeout: None,
            out: VecDeque::new(),
            data: VecDeque::new(),
            outbox: Outbox::with_candidates(candidates),
            gathers,
            remote_gathering_complete: false,
            nominated: None,
            mapped: Vec::new(),
            checks_sent: 0,
        };
        s.agent.handle_timeout(config.start);
        s.run_gathering(config.start);
        s.drain();
        Ok(s)
    }

    /// str0m's agent.
    pub fn agent(&self) -> &IceAgent {
        &self.agent
    }

    fn gathering_complete(&self) -> bool {
        self.gathers.iter().all(|g| g.done)
    }

    /// Sends or gives up the gathering requests that are due.
    fn run_gathering(&mut self, now: Instant) {
        for g in self.gathers.iter_mut().filter(|g| !g.done && g.next <= now) {
            if g.sends == GATHER_SENDS {
                g.done = true;
                continue;
            }
            self.out.push_back(Transmit {
                from: g.base,
                to: g.server,
                data: binding_request(g.tid),
            });
            g.next = now + GATHER_RTO * 2u32.pow(g.sends);
            g.sends += 1;
        }
    }

    /// A STUN server's answer to one of the gathering requests; false if it is not one.
    fn handle_gather_response(&mut self, from: SocketAddr, to: SocketAddr, data: &[u8]) -> bool {
        let Ok(m) = Message::decode(data) else {
            return false;
        };
        let tid = *m.transaction_id().as_bytes();
        let Some(g) = self
            .gathers
            .iter_mut()
            .find(|g| !g.done && g.tid == tid && g.server == from && g.base == to)
        else {
            return false;
        };
        if !matches!(m.class(), Class::Success | Class::Error) {
            return false;
        }
        g.done = true;
        let base = g.base;
        let mapped = match (m.class(), m.mapped_address()) {
            (Class::Success, Some(a)) => a,
            _ => return true,
        };
        if let Ok(c) = is::Candidate::server_reflexive(mapped, base, "udp") {
            let id = self.outbox.candidates.len();
            if let Some(c) = self.agent.add_local_candidate(c) {
                self.outbox.candidates.push(to_model(c, Some(base), id));
            }
        }
        true
    }

    fn drain(&mut self) {
        while let Some(t) = self.agent.poll_transmit() {
            let data: Vec<u8> = t.contents.into();
            if is_binding_request(&data) && self.nominated != Some((t.source, t.destination)) {
                self.checks_sent += 1;
            }
            self.out.push_back(Transmit {
                from: t.source,
                to: t.destination,
                data,
            });
        }
        while let Some(e) = self.agent.poll_event() {
            if let IceAgentEvent::NominatedSend {
                source,
                destination,
                ..
            } = e
            {
                self.nominated = Some((source, destination));
            }
        }
        self.agent_timeout = self.agent.poll_timeout();
    }

    /// The local address of the pair in use: the mapped address str0m learned for it, else
    /// its base.
    fn local_of(&self, base: SocketAddr, remote: SocketAddr) -> SocketAddr {
        self.mapped
            .iter()
            .find(|(k, _)| *k == (base, remote))
            .map_or(base, |(_, m)| *m)
    }
}

impl Node for Str0m {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        if data.first().is_some_and(|b| *b < 4) {
            if !self.handle_gather_response(from, to, data) {
                if let Ok(message) = is::stun::StunMessage::parse(data) {
                    let mapped = if message.is_successful_binding_response() {
                        message.mapped_address()
                    } else {
                        None
                    };
                    let packet = is::stun::StunPacket {
                        proto: is::Protocol::Udp,
                        source: from,
                        destination: to,
                        message,
                    };
                    if self.agent.handle_packet(now, packet) {
                        if let Some(m) = mapped {
                            self.mapped.retain(|(k, _)| *k != (to, from));
                            self.mapped.push(((to, from), m));
                        }
                    }
                }
            }
        } else if self.agent.has_viable_remote_candidate(from) {
            self.data.push_back(data.to_vec());
        }
        self.drain();
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.run_gathering(now);
        // Only when due: str0m paces its checks by Ta in `poll_timeout`, not in
        // `handle_timeout`.
        if self.agent_timeout.is_none_or(|t| t <= now) {
            self.agent.handle_timeout(now);
        }
        self.drain();
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let gather = self
            .gathers
            .iter()
            .filter(|g| !g.done)
            .map(|g| g.next)
            .min();
        match (self.agent_timeout, gather) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl Stack for Str0m {
    fn implementation(&self) -> &'static str {
        "str0m"
    }

    fn replayable(&self) -> bool {
        false
    }

    fn status(&self) -> PeerStatus {
        let state = self.agent.state();
        if let Some((base, remote)) = self.nominated.filter(|_| state.is_connected()) {
            let local = self.local_of(base, remote);
            let local_type = self
                .agent
                .local_candidates()
                .find(|c| c.addr() == local)
                .map_or(CandidateType::Host, |c| model_type(c.kind()));
            let remote_type = self
                .agent
                .remote_candidates()
                .find(|c| c.addr() == remote)
                .map_or(CandidateType::Prflx, |c| model_type(c.kind()));
            return PeerStatus::Connected(SelectedPair {
                local_type: local_type.as_str().to_owned(),
                remote_type: remote_type.as_str().to_owned(),
                protocol: "udp".to_owned(),
                relay_transport: None,
                local,
                remote,
            });
        }
        if state == IceConnectionState::Disconnected
            && self.remote_gathering_complete
            && self.gathering_complete()
        {
            return PeerStatus::Failed(
                "str0m: no candidate pair left after end-of-candidates on both sides".into(),
            );
        }
        PeerStatus::Checking
    }

    fn send_data(&mut self, _now: Instant, data: &[u8]) -> Result<(), String> {
        let (from, to) = self.nominated.ok_or("str0m has nominated no pair yet")?;
        self.out.push_back(Transmit {
            from,
            to,
            data: data.to_vec(),
        });
        Ok(())
    }

    fn poll_data(&mut self) -> Option<Vec<u8>> {
        self.data.pop_front()
    }

    fn checks_sent(&self) -> u64 {
        self.checks_sent
    }
}

impl Peer for Str0m {
    fn poll_signal(&mut self) -> Option<IceTransport> {
        let creds = self.agent.local_credentials().clone();
        let complete = self.gathering_complete();
        self.outbox.poll(&creds.ufrag, &creds.pass, complete)
    }

    fn handle_signal(&mut self, _now: Instant, transport: &IceTransport) {
        if let (Some(u), Some(p)) = (&transport.ufrag, &transport.pwd) {
            self.agent.set_remote_credentials(IceCreds {
                ufrag: u.clone(),
                pass: p.clone(),
            });
        }
        for c in transport.candidates.iter().filter_map(from_model) {
            self.agent.add_remote_candidate(c);
        }
        self.remote_gathering_complete |= transport.gathering_complete;
        self.drain();
    }
}
