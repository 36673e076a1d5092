//! The XMPP path between the two agents: XEP-0371 transports carried in real Jingle IQs
//! (XEP-0166 session-initiate, session-accept, transport-info), written to XML text, delayed by
//! `[signalling] latency_ms`, and read back with the model's strict reader on arrival.
//!
//! The IQ results that acknowledge each set are not modelled here: they change no state of the
//! agents. The Jingle session layer (acknowledgements, errors, restarts) is jingle-ice-glue's.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use xep0371_model::jid::Jid;
use xep0371_model::{
    Action, Content, Creator, FromXml, IceTransport, Iq, IqPayload, Jingle, Reading, Transport,
    parse_element,
};

/// Session id of every run (runs are independent).
const SID: &str = "netsim";
/// The content's name.
const CONTENT: &str = "data";
/// Stanzas larger than this are refused on arrival (a transport with 100 candidates is ~20 kB).
const MAX_STANZA: usize = 1 << 20;

/// Which way a stanza goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Initiator to responder.
    ToResponder,
    /// Responder to initiator.
    ToInitiator,
}

/// One stanza on its way.
#[derive(Debug, Clone)]
struct InFlight {
    due: Instant,
    direction: Direction,
    xml: String,
}

/// The signalling path of one run.
#[derive(Debug)]
pub struct Signalling {
    latency: Duration,
    queue: VecDeque<InFlight>,
    initiator: Jid,
    responder: Jid,
    next_id: u64,
    /// When the initiator sent session-initiate.
    pub initiated_at: Option<Instant>,
    /// Whether the responder has received session-initiate (so may answer).
    pub initiate_received: bool,
    /// Whether the responder sent session-accept.
    pub accepted: bool,
    /// Stanzas sent.
    pub stanzas: u64,
    /// Bytes of XML sent.
    pub bytes: u64,
}

impl Signalling {
    /// A path with one-way delay `latency`.
    pub fn new(latency: Duration) -> Result<Signalling> {
        Ok(Signalling {
            latency,
            queue: VecDeque::new(),
            initiator: "romeo@example.net/sim".parse().context("initiator JID")?,
            responder: "juliet@example.org/sim".parse().context("responder JID")?,
            next_id: 0,
            initiated_at: None,
            initiate_received: false,
            accepted: false,
            stanzas: 0,
            bytes: 0,
        })
    }

    /// When the next stanza arrives.
    pub fn next_due(&self) -> Option<Instant> {
        self.queue.iter().map(|s| s.due).min()
    }

    /// Sends `transport` from one side: the initiator's first is session-initiate, the
    /// responder's first session-accept, every later one transport-info.
    pub fn send(&mut self, now: Instant, direction: Direction, transport: IceTransport) {
        let action = match direction {
            Direction::ToResponder if self.initiated_at.is_none() => {
                self.initiated_at = Some(now);
                Action::SessionInitiate
            }
            Direction::ToInitiator if !self.accepted => {
                self.accepted = true;
                Action::SessionAccept
            }
            _ => Action::TransportInfo,
        };
        let mut jingle = Jingle::new(action, SID);
        if action == Action::SessionInitiate {
            jingle.initiator = Some(self.initiator.clone());
        }
        if action == Action::SessionAccept {
            jingle.responder = Some(self.responder.clone());
        }
        let mut content = Content::new(Creator::Initiator, CONTENT);
        content.transport = Some(Transport::Ice(transport));
        jingle.contents.push(content);
        let (from, to) = match direction {
            Direction::ToResponder => (&self.initiator, &self.responder),
            Direction::ToInitiator => (&self.responder, &self.initiator),
        };
        self.next_id += 1;
        let iq = Iq::set(
            Some(from.clone()),
            Some(to.clone()),
            format!("j{}", self.next_id),
            &jingle,
        );
        let xml = String::from(&xep0371_model::minidom::Element::from(&iq));
        self.stanzas += 1;
        self.bytes += xml.len() as u64;
        self.queue.push_back(InFlight {
            due: now + self.latency,
            direction,
            xml,
        });
    }

    /// The next stanza due by `now`, read back into its transport.
    pub fn poll(&mut self, now: Instant) -> Option<Result<(Direction, Action, IceTransport)>> {
        let i = self.queue.iter().position(|s| s.due <= now)?;
        let s = self.queue.remove(i)?;
        Some(read(&s.xml).map(|(action, t)| {
            if action == Action::SessionInitiate {
                self.initiate_received = true;
            }
            (s.direction, action, t)
        }))
    }
}

/// Reads a Jingle IQ-set with one ICE transport, strictly (what the project produces must be
/// valid XEP-0371).
fn read(xml: &str) -> Result<(Action, IceTransport)> {
    let el = parse_element(xml, MAX_STANZA).map_err(|e| anyhow!("signalling XML: {e}"))?;
    let iq = Iq::read(&el, Reading::Strict)
        .map_err(|e| anyhow!("signalling IQ refused by the strict reader: {e}\n{xml}"))?
        .value;
    let IqPayload::Set(payload) = iq.payload else {
        return Err(anyhow!("signalling IQ is not a set"));
    };
    let jingle = Jingle::read(&payload, Reading::Strict)
        .map_err(|e| anyhow!("Jingle refused by the strict reader: {e}\n{xml}"))?
        .value;
    let transport = jingle
        .ice_transports()
        .next()
        .map(|(_, t)| t.clone())
        .ok_or_else(|| anyhow!("Jingle {} without an ICE transport", jingle.action.as_str()))?;
    Ok((jingle.action, transport))
}
