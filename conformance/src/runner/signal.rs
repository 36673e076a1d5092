//! The XMPP path between the two endpoints of a run: every stanza (the Jingle IQ-sets, the
//! IQ-results that acknowledge them, IQ-errors) as XML text, delayed by
//! `[signalling] latency_ms`, delivered in the order sent.
//!
//! The path carries text and reads none of it: the endpoints write and read their stanzas
//! themselves, a `jingle-ice-glue` session for our stack ([`crate::peers::ours::Ours`]) and
//! [`crate::peers::jingle::JingleEndpoint`] around a foreign one. Here are also what the two
//! endpoints agree on beforehand: the session id and the two full JIDs.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use xep0371_model::jid::Jid;

/// Session id of every run (runs are independent).
pub const SID: &str = "netsim";
/// The initiator's full JID.
pub const INITIATOR_JID: &str = "romeo@example.net/sim";
/// The responder's full JID.
pub const RESPONDER_JID: &str = "juliet@example.org/sim";

/// `(local, peer)` full JIDs of the initiator's side (`initiator`) or of the responder's, when
/// the runner carries the stanzas itself (no `[signalling] via`).
pub fn default_jids(initiator: bool) -> (String, String) {
    let (i, r) = (INITIATOR_JID.to_owned(), RESPONDER_JID.to_owned());
    if initiator { (i, r) } else { (r, i) }
}

/// `(local, peer)` of a side, as JIDs.
pub fn parse_jids(local: &str, peer: &str) -> Result<(Jid, Jid)> {
    Ok((
        local.parse().with_context(|| format!("the JID {local}"))?,
        peer.parse().with_context(|| format!("the JID {peer}"))?,
    ))
}

/// What carries the stanzas when the runner does not (the netns backend's XMPP connections
/// through a real server, `[signalling] via`).
pub trait Carrier {
    /// Hands `xml` to the side that sends it; `Err` when it cannot go.
    fn send(&mut self, direction: Direction, xml: &str) -> Result<(), String>;
    /// A stanza that arrived, with the way it went, or what went wrong on the way.
    fn poll(&mut self) -> Option<Result<(Direction, String), String>>;
}

/// Which way a stanza goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Initiator to responder.
    ToResponder,
    /// Responder to initiator.
    ToInitiator,
}

/// A stanza as it went on the path (see [`Signalling::record`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// When it was sent, from the start of the run.
    pub at: Duration,
    /// Which way.
    pub direction: Direction,
    /// The stanza.
    pub xml: String,
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
    /// In the order sent, which is the order due (one latency for every stanza).
    queue: VecDeque<InFlight>,
    /// When the initiator sent its first stanza, its session-initiate.
    pub initiated_at: Option<Instant>,
    /// Stanzas sent, IQ-results and IQ-errors included.
    pub stanzas: u64,
    /// Bytes of XML sent.
    pub bytes: u64,
    /// Every stanza sent, with the start of the run, once [`Signalling::record`] was called.
    log: Option<(Instant, Vec<Sent>)>,
    /// Carries the stanzas instead of the delay line.
    carrier: Option<Box<dyn Carrier>>,
    /// What the carrier refused.
    pub errors: Vec<String>,
}

impl std::fmt::Debug for dyn Carrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Carrier")
    }
}

impl Signalling {
    /// A path with one-way delay `latency`.
    pub fn new(latency: Duration) -> Signalling {
        Signalling {
            latency,
            queue: VecDeque::new(),
            initiated_at: None,
            stanzas: 0,
            bytes: 0,
            log: None,
            carrier: None,
            errors: Vec::new(),
        }
    }

    /// From now on `carrier` takes the stanzas sent and gives those that arrive (their time
    /// is its own; `latency` no longer applies).
    pub fn carry_with(&mut self, carrier: Box<dyn Carrier>) {
        self.carrier = Some(carrier);
    }

    /// Keeps a copy of every stanza sent from now on, timed from `start`.
    pub fn record(&mut self, start: Instant) {
        self.log = Some((start, Vec::new()));
    }

    /// The stanzas recorded (empty unless [`Signalling::record`] was called).
    pub fn take_log(&mut self) -> Vec<Sent> {
        self.log.take().map(|(_, l)| l).unwrap_or_default()
    }

    /// When the next stanza arrives.
    pub fn next_due(&self) -> Option<Instant> {
        self.queue.front().map(|s| s.due)
    }

    /// Sends `xml` from one side; it arrives `latency` later.
    pub fn send(&mut self, now: Instant, direction: Direction, xml: String) {
        if direction == Direction::ToResponder && self.initiated_at.is_none() {
            // Endpoints send nothing before session-initiate (see `Endpoint`).
            self.initiated_at = Some(now);
        }
        self.stanzas += 1;
        self.bytes += xml.len() as u64;
        if let Some((start, log)) = &mut self.log {
            log.push(Sent {
                at: now.saturating_duration_since(*start),
                direction,
                xml: xml.clone(),
            });
        }
        if let Some(c) = &mut self.carrier {
            if let Err(e) = c.send(direction, &xml) {
                self.errors.push(e);
            }
            return;
        }
        self.queue.push_back(InFlight {
            due: now + self.latency,
            direction,
            xml,
        });
    }

    /// The next stanza due by `now`, with the way it goes.
    pub fn poll(&mut self, now: Instant) -> Option<(Direction, String)> {
        if let Some(c) = &mut self.carrier {
            loop {
                match c.poll()? {
                    Ok(arrived) => return Some(arrived),
                    Err(e) => self.errors.push(e),
                }
            }
        }
        if self.queue.front()?.due > now {
            return None;
        }
        self.queue.pop_front().map(|s| (s.direction, s.xml))
    }
}
