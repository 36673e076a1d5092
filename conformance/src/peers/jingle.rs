//! The Jingle endpoint of a foreign stack: a [`Peer`] (str0m's or rice-proto's agent, whose
//! signalling is XEP-0371 transports) made an [`Endpoint`] that speaks the same stanzas as a
//! `jingle-ice-glue` session.
//!
//! - **Out**: the peer's transports go in Jingle IQ-sets (XEP-0166): the initiator's first in
//!   session-initiate (XEP-0371 §5.2), the responder's first in session-accept (§5.4), every
//!   later one in transport-info (§5.5). What the peer signals before its turn is merged and
//!   held: the responder's until session-initiate arrived, and everything of a side that does
//!   not trickle ([`PeerConfig::trickle`]) until its gathering is complete, so that its
//!   session-initiate or session-accept carries every candidate and `<gathering-complete/>`.
//! - **In**: every stanza is read with the model's strict reader (what the project's glue
//!   sends must be valid XEP-0371). Each IQ-set of the session is acknowledged with an
//!   IQ-result (XEP-0166: the glue tracks its requests and reports an IQ timeout otherwise),
//!   and its ICE transport handed to [`Peer::handle_signal`]. A stanza that does not read, an
//!   unknown session or an action out of order is answered with the IQ-error XEP-0166 names,
//!   and reported by [`Stack::poll_error`], as is an IQ-error answering one of our sets.
//!
//! It is no general Jingle session: one content, no restarts, no session-terminate; what the
//! glue sends in a topology run and nothing more.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use anyhow::Result;
use ice_netsim::{Node, Transmit};
use xep0371_model::jid::Jid;
use xep0371_model::minidom::Element;
use xep0371_model::{
    Action, Content, Creator, FromXml, IceTransport, Iq, IqPayload, Jingle, JingleCondition,
    Reading, StanzaError, Transport, parse_element,
};

use super::common::Errors;
use crate::runner::config::PeerConfig;
use crate::runner::peer::{Endpoint, Peer, PeerStatus, Stack};
use crate::runner::signal::{SID, parse_jids};

/// Stanzas larger than this are refused on arrival (a transport with 100 candidates is ~20 kB).
pub const MAX_STANZA: usize = 1 << 20;
/// The content an initiator of this endpoint creates.
const CONTENT: &str = "data";
/// The longest error text sent back in a `bad-request`.
const MAX_ERROR_TEXT: usize = 200;

/// Merges `more` into `into`: candidates appended, `gathering-complete` kept once set.
fn merge(into: &mut Option<IceTransport>, more: IceTransport) {
    match into {
        None => *into = Some(more),
        Some(t) => {
            t.candidates.extend(more.candidates);
            t.gathering_complete |= more.gathering_complete;
        }
    }
}

/// A Jingle IQ-set from `from` to `to` carrying `transport` in one content.
pub fn transport_set(
    from: &Jid,
    to: &Jid,
    id: String,
    action: Action,
    content: (Creator, &str),
    transport: IceTransport,
) -> Iq {
    let mut jingle = Jingle::new(action, SID);
    // XEP-0166 §7.1: `initiator` in session-initiate, `responder` in session-accept.
    match action {
        Action::SessionInitiate => jingle.initiator = Some(from.clone()),
        Action::SessionAccept => jingle.responder = Some(from.clone()),
        _ => {}
    }
    let mut c = Content::new(content.0, content.1);
    c.transport = Some(Transport::Ice(transport));
    jingle.contents.push(c);
    Iq::set(Some(from.clone()), Some(to.clone()), id, &jingle)
}

/// Reads a stanza strictly: the IQ, and the Jingle payload of a set.
pub fn read_strict(xml: &str) -> Result<(Iq, Option<Jingle>), String> {
    let el = parse_element(xml, MAX_STANZA).map_err(|e| format!("not XML: {e}"))?;
    let iq = Iq::read(&el, Reading::Strict)
        .map_err(|e| format!("IQ refused by the strict reader: {e}\n{xml}"))?
        .value;
    let jingle = match &iq.payload {
        IqPayload::Set(payload) => Some(
            Jingle::read(payload, Reading::Strict)
                .map_err(|e| format!("Jingle refused by the strict reader: {e}\n{xml}"))?
                .value,
        ),
        _ => None,
    };
    Ok((iq, jingle))
}

/// A foreign stack's [`Peer`] as a Jingle endpoint. See the [module docs](self).
#[derive(Debug)]
pub struct JingleEndpoint<P> {
    peer: P,
    initiator: bool,
    trickle: bool,
    local: Jid,
    remote: Jid,
    /// The content's creator and name: ours as the initiator, the initiator's as responder.
    creator: Creator,
    content: String,
    /// Transports of the peer not sent yet.
    held: Option<IceTransport>,
    /// Whether session-initiate (initiator) or session-accept (responder) went.
    sent_initial: bool,
    /// Responder: whether session-initiate arrived.
    initiate_received: bool,
    /// Initiator: whether session-accept arrived.
    accept_received: bool,
    next_id: u64,
    /// Our sets not answered yet: id and action.
    pending: Vec<(String, Action)>,
    out: VecDeque<String>,
    errors: Errors,
}

impl<P: Peer> JingleEndpoint<P> {
    /// `peer` as the initiator (`config.controlling`) or the responder of the run's session.
    pub fn new(peer: P, config: &PeerConfig) -> Result<Self> {
        let (local, remote) = parse_jids(&config.local_jid, &config.peer_jid)?;
        Ok(JingleEndpoint {
            peer,
            initiator: config.controlling,
            trickle: config.trickle,
            local,
            remote,
            creator: Creator::Initiator,
            content: CONTENT.to_owned(),
            held: None,
            sent_initial: false,
            initiate_received: false,
            accept_received: false,
            next_id: 0,
            pending: Vec::new(),
            out: VecDeque::new(),
            errors: Errors::default(),
        })
    }

    /// The stack inside.
    pub fn peer(&self) -> &P {
        &self.peer
    }

    fn error(&mut self, e: String) {
        self.errors.push(e);
    }

    fn send(&mut self, iq: &Iq) {
        self.out.push_back(String::from(&Element::from(iq)));
    }

    /// Moves the peer's transports into IQ-sets, holding back what may not go yet.
    fn signal(&mut self) {
        while let Some(t) = self.peer.poll_signal() {
            merge(&mut self.held, t);
        }
        // RFC 8838 §4: a side that does not trickle sends its candidates once gathered.
        let gathered = self.trickle
            || self.sent_initial
            || self.held.as_ref().is_some_and(|t| t.gathering_complete);
        // XEP-0371 §5.4: the responder answers session-initiate.
        let turn = self.initiator || self.initiate_received;
        if !(gathered && turn) {
            return;
        }
        let Some(transport) = self.held.take() else {
            return;
        };
        let action = match (self.sent_initial, self.initiator) {
            (false, true) => Action::SessionInitiate,
            (false, false) => Action::SessionAccept,
            (true, _) => Action::TransportInfo,
        };
        self.sent_initial = true;
        self.next_id += 1;
        let id = format!("{}{}", if self.initiator { "i" } else { "r" }, self.next_id);
        let iq = transport_set(
            &self.local,
            &self.remote,
            id.clone(),
            action,
            (self.creator, &self.content),
            transport,
        );
        self.pending.push((id, action));
        self.send(&iq);
    }

    /// Answers `iq` with an IQ-error and reports `why`.
    fn refuse(&mut self, iq: &Iq, error: StanzaError, why: String) {
        let mut reply = iq.error_reply(error);
        reply.from = Some(self.local.clone());
        reply.to = Some(self.remote.clone());
        self.send(&reply);
        self.error(why);
    }

    /// Answers a stanza the strict reader refused (XEP-0371 §5.5: improperly formatted data is
    /// answered with an IQ-error), if it is a request with an id.
    fn refuse_unreadable(&mut self, xml: &str, why: String) {
        let request = parse_element(xml, MAX_STANZA).ok().and_then(|el| {
            let is_request = matches!(el.attr("type"), Some("set" | "get"));
            el.attr("id").filter(|_| is_request).map(str::to_owned)
        });
        if let Some(id) = request {
            let text: String = why.chars().take(MAX_ERROR_TEXT).collect();
            let reply = Iq {
                from: Some(self.local.clone()),
                to: Some(self.remote.clone()),
                id: id.chars().take(256).collect(),
                payload: IqPayload::Error {
                    error: StanzaError::bad_request(Some(text)),
                    original: None,
                },
            };
            self.send(&reply);
        }
        self.error(why);
    }

    /// An IQ-set of the other endpoint, strictly read.
    fn handle_set(&mut self, now: Instant, iq: &Iq, jingle: Jingle) {
        let from_peer = iq.from.as_ref().is_none_or(|f| *f == self.remote);
        if jingle.sid != SID || !from_peer {
            // XEP-0166 §7.2: a session (or sender) we do not know.
            let why = format!("unknown session {} from {:?}", jingle.sid, iq.from);
            self.refuse(
                iq,
                StanzaError::jingle(JingleCondition::UnknownSession),
                why,
            );
            return;
        }
        let action = jingle.action;
        let in_order = match action {
            Action::SessionInitiate => !self.initiator && !self.initiate_received,
            Action::SessionAccept => self.initiator && self.sent_initial && !self.accept_received,
            // XEP-0371 §5.5 footnote 21: no transport-info before session-initiate.
            Action::TransportInfo => self.initiator || self.initiate_received,
            _ => false,
        };
        if !in_order {
            let condition = if action == Action::TransportInfo {
                JingleCondition::UnknownSession
            } else {
                JingleCondition::OutOfOrder
            };
            let why = format!("{} out of order", action.as_str());
            self.refuse(iq, StanzaError::jingle(condition), why);
            return;
        }
        let Some((content, transport)) = jingle.ice_transports().next() else {
            let why = format!("{} without an ICE transport", action.as_str());
            self.refuse(iq, StanzaError::bad_request(Some(why.clone())), why);
            return;
        };
        match action {
            Action::SessionInitiate => {
                // XEP-0166 §7.2.10: answer in the content the initiator created.
                self.initiate_received = true;
                self.creator = content.creator;
                self.content = content.name.clone();
            }
            Action::SessionAccept => self.accept_received = true,
            _ => {}
        }
        let transport = transport.clone();
        // XEP-0166 §7.2: acknowledge the set, then act on it.
        let mut ack = iq.result_reply();
        ack.from = Some(self.local.clone());
        ack.to = Some(self.remote.clone());
        self.send(&ack);
        self.peer.handle_signal(now, &transport);
    }
}

impl<P: Peer> Node for JingleEndpoint<P> {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        self.peer.handle_datagram(now, from, to, data);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.peer.handle_timeout(now);
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.peer.poll_transmit()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.peer.poll_timeout()
    }
}

impl<P: Peer> Stack for JingleEndpoint<P> {
    fn implementation(&self) -> &'static str {
        self.peer.implementation()
    }

    fn replayable(&self) -> bool {
        self.peer.replayable()
    }

    fn poll_error(&mut self) -> Option<String> {
        self.errors.pop().or_else(|| self.peer.poll_error())
    }

    fn status(&self) -> PeerStatus {
        self.peer.status()
    }

    fn send_data(&mut self, now: Instant, data: &[u8]) -> Result<(), String> {
        self.peer.send_data(now, data)
    }

    fn poll_data(&mut self) -> Option<Vec<u8>> {
        self.peer.poll_data()
    }

    fn checks_sent(&self) -> u64 {
        self.peer.checks_sent()
    }
}

impl<P: Peer> Endpoint for JingleEndpoint<P> {
    fn poll_stanza(&mut self) -> Option<String> {
        if self.out.is_empty() {
            self.signal();
        }
        self.out.pop_front()
    }

    fn handle_stanza(&mut self, now: Instant, xml: &str) {
        let (iq, jingle) = match read_strict(xml) {
            Ok(r) => r,
            Err(why) => return self.refuse_unreadable(xml, why),
        };
        match (&iq.payload, jingle) {
            (IqPayload::Set(_), Some(jingle)) => self.handle_set(now, &iq, jingle),
            (IqPayload::Result(_), _) => {
                let before = self.pending.len();
                self.pending.retain(|(id, _)| *id != iq.id);
                if self.pending.len() == before {
                    self.error(format!("an IQ-result answering no request: {}", iq.id));
                }
            }
            (IqPayload::Error { error, .. }, _) => {
                let action = self
                    .pending
                    .iter()
                    .find(|(id, _)| *id == iq.id)
                    .map_or("no request", |(_, a)| a.as_str());
                let why = format!("IQ-error to {action} {}: {error:?}", iq.id);
                self.pending.retain(|(id, _)| *id != iq.id);
                self.error(why);
            }
            _ => {
                let why = format!("an IQ this endpoint does not serve: {xml}");
                self.refuse(
                    &iq,
                    StanzaError::new(
                        xep0371_model::ErrorType::Cancel,
                        xep0371_model::DefinedCondition::ServiceUnavailable,
                    ),
                    why,
                );
            }
        }
    }
}
