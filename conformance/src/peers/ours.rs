//! This project's stack on a simulated host: a `jingle-ice-glue` [`Session`] (with its
//! `ice-sans-io` agent inside) as an [`Endpoint`].
//!
//! Its signalling is whatever the session emits: the IQ-sets (session-initiate,
//! session-accept, transport-info) and the IQ-results acknowledging the other endpoint's sets,
//! written to XML text; what arrives goes to [`Session::handle_xml`]. A refusal's IQ-error goes
//! back over the path too, and is reported by [`Stack::poll_error`], as are IQ-errors and
//! IQ timeouts on the session's own requests: none should happen in a run.
//!
//! How the script's side becomes a session:
//!
//! - **Roles**: the initiator (`controlling`) is built with
//!   [`Allowance::PresenceSubscription`] (XEP-0371 §11.1 item 1: Romeo shares presence with
//!   Juliet), the responder calls [`Session::accept`] when [`Event::Initiated`] arrives, which
//!   is its user accepting the call and allows IP sharing (XEP-0371 §11.1).
//! - **Namespace**: both sides advertise `ice:0` and `ice-udp:1`
//!   ([`IceFeatures::from_features`]), so the initiator speaks `ice:0` (XEP-0371 §8.1) and the
//!   responder answers in it.
//! - **Candidates**: a host candidate per address of the host and component, on
//!   [`host_port`]; the script's STUN servers; `components` as the agent's components. The
//!   script's `tcp` types add ICE-TCP host candidates (RFC 6544) on every address and
//!   component, passive and simultaneous-open ones listening on [`tcp_port`]; their
//!   connections are the host's TCP (`peers/ours_tcp.rs`).
//! - **Gathering**: the responder, and an initiator that does not trickle, start gathering at
//!   [`PeerConfig::start`] ([`Session::gather`]), as a client does when the call is set up;
//!   a trickling initiator starts with [`Session::initiate`]. A side that does not trickle
//!   initiates or accepts only once gathering completed, with every candidate in the offer or
//!   answer.
//! - **Seed**: [`PeerConfig::seed`] seeds the session, which draws the agent's seed, the IQ ids
//!   and the candidate ids from it: a run replays exactly.
//!
//! The drain rule: after each input or verb the endpoint drains the session's `poll_stanza`,
//! `poll_transmit` and `poll_event`, and acts on the events (initiate, accept) until nothing is
//! left.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use ice_netsim::topology::Share;
use ice_netsim::{Node, TcpCommand, TcpEvent, Transmit};
use ice_sans_io::{Datagram, Protocol, Received, State};
use jingle_ice_glue::convert::model_type;
use jingle_ice_glue::{Allowance, BeforeAllowed, Config, Event, Handled, Phase, Role, Session};
use xep0371_model::{IceFeatures, ns};

use super::common::Errors;
use super::ours_tcp::{Connections, tcp_type};
use crate::runner::config::{PeerConfig, host_port, tcp_port};
use crate::runner::peer::{Endpoint, PeerStatus, SelectedPair, Stack};
use crate::runner::signal::{SID, parse_jids};

/// A datagram of the session, as the runner carries it: over UDP, or on one of the agent's
/// TCP connections (already framed).
fn route(
    out: &mut VecDeque<Transmit>,
    tcp: &mut Connections,
    errors: &mut Errors,
    t: &ice_sans_io::Transmit<'_>,
) {
    match t.connection {
        None => out.push_back(Transmit {
            from: t.local,
            to: t.remote,
            data: t.data.to_vec(),
        }),
        Some(id) => {
            if !tcp.send(id, t.data) {
                errors.push(format!(
                    "the agent sent on {id}, which the host does not hold"
                ));
            }
        }
    }
}

/// `ice-sans-io` in a `jingle-ice-glue` session on a simulated host. See the
/// [module docs](self).
#[derive(Debug)]
pub struct Ours {
    session: Session,
    trickle: bool,
    out: VecDeque<Transmit>,
    tcp: Connections,
    stanzas: VecDeque<String>,
    data: VecDeque<Vec<u8>>,
    errors: Errors,
    /// The agent's gathering completed.
    gathered: bool,
    /// Responder: session-initiate arrived.
    initiated: bool,
    /// Initiator with a `share` other than "all": candidates are allowed once the session is
    /// accepted.
    allow_on_accept: bool,
    failed: Option<String>,
}

impl Ours {
    /// A session set up as `config` says, gathering from `config.start` (and, for a trickling
    /// initiator, session-initiate sent then).
    pub fn new(config: &PeerConfig) -> anyhow::Result<Ours> {
        let (role, mut cfg) = if config.controlling {
            // XEP-0371 §11.1 item 1: the initiator shares presence with the responder.
            (
                Role::Initiator,
                Config::allowing(Allowance::PresenceSubscription),
            )
        } else {
            (Role::Responder, Config::default())
        };
        // The script's `share`: what leaves before the session is accepted (XEP-0371 §11.1).
        // The responder's accept is its user's allowance (`accept_implies_allowance`); the
        // initiator is allowed when the accept arrives (see `act`).
        match config.share {
            Share::All => {}
            Share::RelayOnly => {
                cfg.allowance = None;
                cfg.before_allowed = BeforeAllowed::RelayOnly;
            }
            Share::Nothing => {
                cfg.allowance = None;
                cfg.before_allowed = BeforeAllowed::Nothing;
            }
        }
        let allow_on_accept = role == Role::Initiator && cfg.allowance.is_none();
        cfg.ice.components = u16::from(config.components);
        let (local, peer) = parse_jids(&config.local_jid, &config.peer_jid)?;
        let mut session = Session::new(cfg, role, SID, local, peer, config.seed);
        // XEP-0371 §8: the peer's disco#info features; both sides of the runner speak ice:0.
        session.set_peer_features(IceFeatures::from_features(&[
            ns::JINGLE,
            ns::JINGLE_ICE,
            ns::JINGLE_ICE_UDP,
        ]));
        let start = config.start;
        let mut tcp = Connections::default();
        for c in 1..=config.components {
            for ip in &config.host_ips {
                session.add_local_host(start, u16::from(c), SocketAddr::new(*ip, host_port(c)))?;
                // RFC 6544 §5.1: an active candidate connects from an ephemeral port; passive
                // and so candidates listen on theirs.
                for &t in &config.tcp {
                    let addr = SocketAddr::new(*ip, tcp_port(c, t).unwrap_or(0));
                    if addr.port() != 0 {
                        tcp.listen(addr);
                    }
                    session.add_local_tcp_host(start, u16::from(c), addr, tcp_type(t))?;
                }
            }
        }
        for s in &config.stun {
            session.add_stun_server(*s);
        }
        for (server, creds) in &config.turn {
            session.add_turn_server(*server, creds.clone())?;
        }
        if role == Role::Initiator && config.trickle {
            // XEP-0371 §5.2: session-initiate with the host candidates; the others follow in
            // transport-info as they are found.
            session.initiate(start, None)?;
        } else {
            session.gather(start);
        }
        let mut ours = Ours {
            session,
            trickle: config.trickle,
            out: VecDeque::new(),
            tcp,
            stanzas: VecDeque::new(),
            data: VecDeque::new(),
            errors: Errors::default(),
            gathered: false,
            initiated: false,
            allow_on_accept,
            failed: None,
        };
        ours.drain(start);
        Ok(ours)
    }

    /// The session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    fn error(&mut self, e: String) {
        self.errors.push(e);
    }

    /// The drain rule, and the verbs the events call for.
    fn drain(&mut self, now: Instant) {
        loop {
            while let Some(el) = self.session.poll_stanza() {
                self.stanzas.push_back(String::from(&el));
            }
            while let Some(t) = self.session.poll_transmit() {
                route(&mut self.out, &mut self.tcp, &mut self.errors, &t);
            }
            while let Some(e) = self.session.poll_event() {
                self.on_event(e);
            }
            if !self.act(now) {
                break;
            }
        }
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::Initiated { .. } => self.initiated = true,
            Event::Ice(ice_sans_io::Event::GatheringComplete) => self.gathered = true,
            Event::Ice(ice_sans_io::Event::ComponentFailed { component, reason }) => {
                self.failed
                    .get_or_insert_with(|| format!("component {component}: {reason:?}"));
            }
            Event::PeerError { id, action, error } => {
                self.error(format!("IQ-error to {} {id}: {error:?}", action.as_str()));
            }
            Event::IqTimeout { id, action } => {
                self.error(format!("no answer to {} {id}", action.as_str()));
            }
            Event::Terminated { reason } => {
                self.error(format!("session terminated: {reason:?}"));
            }
            Event::Ice(ice_sans_io::Event::Connect { id, from, to, tls }) => {
                if tls.is_some() {
                    self.error(format!("{id}: TLS is not carried on this host"));
                }
                self.tcp.connect(id, from, to);
            }
            Event::Ice(ice_sans_io::Event::Close { id }) => self.tcp.close(id),
            _ => {}
        }
    }

    /// Initiates or accepts when it is time; returns whether it did.
    fn act(&mut self, now: Instant) -> bool {
        let ready = self.trickle || self.gathered;
        let r = match (self.session.role(), self.session.phase()) {
            // RFC 8838 §4, XEP-0371 §5.2: without trickle, the offer waits for every candidate.
            (Role::Initiator, Phase::Idle) if ready => self.session.initiate(now, None),
            // XEP-0371 §5.4, §11.1: the user accepts the call (and with it, IP sharing).
            (Role::Responder, Phase::Pending) if ready && self.initiated => {
                self.session.accept(now, None)
            }
            // The script's `share` covers the time before acceptance: the peer's user accepted
            // the call, which the initiator's user placed, so both have agreed to it.
            (Role::Initiator, Phase::Active) if self.allow_on_accept => {
                self.allow_on_accept = false;
                self.session.allow_candidates(now, Allowance::UserAccepted);
                return true;
            }
            _ => return false,
        };
        if let Err(e) = r {
            self.error(format!("the session refused to initiate or accept: {e}"));
            return false;
        }
        true
    }
}

impl Node for Ours {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        let r = self.session.handle_receive(
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
        self.drain(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.session.handle_timeout(now);
        self.drain(now);
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.session.poll_timeout()
    }

    fn poll_tcp(&mut self) -> Option<TcpCommand> {
        self.tcp.poll_command()
    }

    fn handle_tcp(&mut self, now: Instant, event: TcpEvent) {
        if let Some(e) = self
            .tcp
            .handle(&mut self.session, now, event, &mut self.data)
        {
            self.error(e);
        }
        self.drain(now);
    }
}

impl Stack for Ours {
    fn implementation(&self) -> &'static str {
        "ice-sans-io"
    }

    fn replayable(&self) -> bool {
        true
    }

    fn poll_error(&mut self) -> Option<String> {
        self.errors.pop()
    }

    fn status(&self) -> PeerStatus {
        if let Some(reason) = &self.failed {
            return PeerStatus::Failed(reason.clone());
        }
        let agent = self.session.agent();
        match agent.state() {
            State::Failed => PeerStatus::Failed("ICE failed".into()),
            State::Completed => match agent.selected_pair(1) {
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
        let t = self.session.send(now, 1, data).map_err(|e| e.to_string())?;
        route(&mut self.out, &mut self.tcp, &mut self.errors, &t);
        self.drain(now);
        Ok(())
    }

    fn poll_data(&mut self) -> Option<Vec<u8>> {
        self.data.pop_front()
    }

    fn checks_sent(&self) -> u64 {
        let s = self.session.agent().stats();
        // Retransmissions of srflx gathering requests are counted with them (the agent counts
        // retransmissions of both together).
        s.checks_sent - s.consent_checks_sent + s.retransmissions
    }
}

impl Endpoint for Ours {
    fn poll_stanza(&mut self) -> Option<String> {
        self.stanzas.pop_front()
    }

    fn handle_stanza(&mut self, now: Instant, xml: &str) {
        match self.session.handle_xml(now, xml) {
            Ok(Handled::Acknowledged(_) | Handled::Response) => {}
            Ok(Handled::Dropped(why)) => self.error(format!("dropped a stanza: {why}")),
            Ok(Handled::Application(j)) => {
                self.error(format!("a Jingle action for the application: {}", j.action));
            }
            Ok(other) => self.error(format!("a stanza not for the session: {other:?}")),
            Err(refused) => {
                // XEP-0166: the IQ-error goes back to the sender.
                self.stanzas
                    .push_back(String::from(&refused.reply_element()));
                self.error(format!("refused a stanza: {refused}"));
            }
        }
        self.drain(now);
    }
}
