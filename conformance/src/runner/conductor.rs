//! The conductor of a run, shared by both backends: the two sides' signalling (every stanza
//! over the [`Signalling`] path), the application data `[expect]` asks for, and the verdict
//! ([`RunResult`]). A backend only moves datagrams and keeps time.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use ice_netsim::Topology;
use ice_netsim::topology::{Expect, JingleRole, Outcome, Share};

use super::peer::{Endpoint, PeerStatus, SelectedPair};
use xep0371_model::minidom::Element;

use super::data::{DataBytes, DataTransfers};
use super::share;
use super::signal::{Direction, Sent, Signalling};
use super::xmpp::Learned;

/// How long after connecting each application datagram of `data = true` may take to arrive
/// (the transfers of `data_bytes` give up on their own, after 15 s without progress).
const DATA_DEADLINE: Duration = Duration::from_secs(5);

/// The result of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    /// `connected`, `failed`, or `timeout` (neither within `duration_ms`).
    pub outcome: &'static str,
    /// The initiator's selected pair, when connected.
    pub initiator_pair: Option<SelectedPair>,
    /// The responder's selected pair, when connected.
    pub responder_pair: Option<SelectedPair>,
    /// Virtual time from session-initiate until both agents selected their pair.
    pub connect: Option<Duration>,
    /// Connectivity checks sent by both agents.
    pub checks_sent: u64,
    /// Checks sent by the initiator and by the responder.
    pub checks_by_side: (u64, u64),
    /// Application datagrams that arrived, of those sent.
    pub data_delivered: (u32, u32),
    /// What the transfers of `[expect] data_bytes` moved, when the script asks for them.
    pub data_bytes: Option<DataBytes>,
    /// Signalling stanzas and bytes: every IQ on the path, the sets and the IQ-results (and
    /// IQ-errors, if any) that answer them.
    pub signalling: (u64, u64),
    /// Datagrams the network carried to a host, and lost on links.
    pub datagrams: (u64, u64),
    /// Virtual time the run took.
    pub elapsed: Duration,
    /// Every expectation of the script that did not hold (empty: passed).
    pub failures: Vec<String>,
    /// Whether both stacks replay exactly from the seed.
    pub replayable: bool,
    /// What each side (initiator first) learned from the XMPP server of `[signalling] via`
    /// (`discover = true`), when it asked.
    pub learned: [Option<Learned>; 2],
}

impl RunResult {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// One side of the run.
struct Side {
    role: Direction,
    endpoint: Box<dyn Endpoint>,
    received: Vec<Vec<u8>>,
    /// What the script lets out before the session is accepted.
    share: Share,
}

impl Side {
    fn name(&self) -> &'static str {
        match self.role {
            Direction::ToResponder => "initiator",
            Direction::ToInitiator => "responder",
        }
    }

    /// Moves the endpoint's stanzas onto the path, and its signalling errors into `errors`;
    /// before the session-accept went out (`accepted`), a candidate its `share` does not let
    /// out is an error too (XEP-0371 §11.1). The accept itself may carry everything: the
    /// responder's user accepting is its allowance.
    fn signal(
        &mut self,
        now: Instant,
        signalling: &mut Signalling,
        accepted: &mut bool,
        errors: &mut Vec<String>,
    ) {
        while let Some(xml) = self.endpoint.poll_stanza() {
            // Read only while some side's `share` is watched (`accepted` starts true when no
            // side restricts anything).
            let stanza = (!*accepted).then(|| xml.parse::<Element>().ok()).flatten();
            if let Some(el) = &stanza {
                *accepted = share::is_accept(el);
            }
            if let Some(el) = stanza.filter(|_| !*accepted) {
                let leaks = share::leaks(self.share, &el);
                if !leaks.is_empty() {
                    errors.push(format!(
                        "{} ({}) sent {} before the session was accepted, with share = \"{}\" \
                         (XEP-0371 §11.1)",
                        self.name(),
                        self.endpoint.implementation(),
                        leaks.join(", "),
                        self.share.as_str()
                    ));
                }
            }
            signalling.send(now, self.role, xml);
        }
        while let Some(e) = self.endpoint.poll_error() {
            errors.push(format!(
                "{} ({}): {e}",
                self.name(),
                self.endpoint.implementation()
            ));
        }
    }
}

/// What both backends share in a run: the two endpoints, the signalling path between them,
/// the application data of `[expect]`, and the verdict. A backend moves the endpoints'
/// datagrams (through the simulator, or real sockets in namespaces), calls
/// [`Conductor::turn`] whenever time moved or something arrived, sleeps no later than
/// [`Conductor::next_due`], and ends with [`Conductor::finish`].
pub struct Conductor {
    sides: [Side; 2],
    signalling: Signalling,
    expect: Expect,
    base: Instant,
    connected_at: Option<Instant>,
    data_sent: u32,
    hold_sent: bool,
    data_sent_at: Option<Instant>,
    /// The transfers of `[expect] data_bytes`, when asked for.
    transfers: Option<DataTransfers>,
    /// A session-accept went onto the path (or no side's `share` restricts anything).
    accepted: bool,
    errors: Vec<String>,
    learned: [Option<Learned>; 2],
}

impl Conductor {
    /// A run of `topology` starting at `base` between `endpoints`, the initiator's first:
    /// the signalling path delays each stanza by `[signalling] latency_ms`, `[expect]` is
    /// checked; with `transcript`, every stanza is kept. `seed` is the run's: the bytes of
    /// `[expect] data_bytes` are drawn from it.
    pub fn new(
        topology: &Topology,
        endpoints: Vec<Box<dyn Endpoint>>,
        base: Instant,
        transcript: bool,
        seed: u64,
    ) -> Result<Conductor> {
        let Ok([initiator, responder]) = <[Box<dyn Endpoint>; 2]>::try_from(endpoints) else {
            bail!("a run has two endpoints");
        };
        let side = |role, endpoint, jingle| Side {
            role,
            endpoint,
            received: Vec::new(),
            share: topology.agent(jingle).share,
        };
        let mut signalling = Signalling::new(topology.signalling.latency);
        if transcript {
            signalling.record(base);
        }
        Ok(Conductor {
            sides: [
                side(Direction::ToResponder, initiator, JingleRole::Initiator),
                side(Direction::ToInitiator, responder, JingleRole::Responder),
            ],
            signalling,
            expect: topology.expect.clone(),
            base,
            connected_at: None,
            data_sent: 0,
            hold_sent: false,
            data_sent_at: None,
            transfers: match topology.expect.data_bytes {
                0 => None,
                n => Some(DataTransfers::new(seed, n)?),
            },
            accepted: [JingleRole::Initiator, JingleRole::Responder]
                .iter()
                .all(|r| topology.agent(*r).share == Share::All),
            errors: Vec::new(),
            learned: [None, None],
        })
    }

    /// What side `side` (0: the initiator) learned from its XMPP server, for the result.
    pub fn set_learned(&mut self, side: usize, learned: Learned) {
        if let Some(slot) = self.learned.get_mut(side) {
            *slot = Some(learned);
        }
    }

    /// Stanzas arrive through `carrier` (a real XMPP server) instead of the runner's path.
    pub fn carry_with(&mut self, carrier: Box<dyn super::signal::Carrier>) {
        self.signalling.carry_with(carrier);
    }

    /// The endpoint of the initiator (0) or the responder (1).
    pub fn endpoint(&mut self, side: usize) -> &mut dyn Endpoint {
        self.sides[side].endpoint.as_mut()
    }

    /// Both endpoints, initiator first.
    pub fn endpoints(&mut self) -> [&mut dyn Endpoint; 2] {
        let [a, b] = &mut self.sides;
        [a.endpoint.as_mut(), b.endpoint.as_mut()]
    }

    /// One turn at `now`: stanzas out and in (answers go out at once), application data
    /// received, the pairs, application data sent. True when the run is over: the outcome
    /// `[expect]` waits for is reached (or its opposite), data is late, or the signalling
    /// went wrong.
    pub fn turn(&mut self, now: Instant) -> bool {
        for s in &mut self.sides {
            s.signal(
                now,
                &mut self.signalling,
                &mut self.accepted,
                &mut self.errors,
            );
        }
        self.errors.append(&mut self.signalling.errors);
        while let Some((direction, xml)) = self.signalling.poll(now) {
            let to = match direction {
                Direction::ToResponder => 1,
                Direction::ToInitiator => 0,
            };
            self.sides[to].endpoint.handle_stanza(now, &xml);
        }
        for (i, s) in self.sides.iter_mut().enumerate() {
            s.signal(
                now,
                &mut self.signalling,
                &mut self.accepted,
                &mut self.errors,
            );
            while let Some(d) = s.endpoint.poll_data() {
                if self.transfers.as_mut().is_some_and(|t| t.take(i, now, &d)) {
                    continue;
                }
                if s.received.len() < 1024 {
                    s.received.push(d);
                }
            }
        }

        let statuses = self.sides.each_ref().map(|s| s.endpoint.status());
        let both_connected = statuses
            .iter()
            .all(|s| matches!(s, PeerStatus::Connected(_)));
        let both_failed = statuses.iter().all(|s| matches!(s, PeerStatus::Failed(_)));
        if both_connected && self.connected_at.is_none() {
            self.connected_at = Some(now);
        }
        let (data, hold) = (self.expect.data, self.expect.hold);
        // Application data: once at connection, once more after `hold`.
        if let Some(at) = self.connected_at {
            if data && self.data_sent == 0 {
                self.send_data(now, 1, "");
            }
            if data && !hold.is_zero() && !self.hold_sent && now >= at + hold {
                self.send_data(now, 2, " after hold_ms");
                self.hold_sent = true;
            }
            if let Some(t) = &mut self.transfers {
                let sides = &mut self.sides;
                t.drive(now, |i, d| sides[i].endpoint.send_data(now, d));
            }
        }
        let expect = &self.expect;
        let data_sent = self.data_sent;
        let data_done = (!expect.data
            || (data_sent >= if expect.hold.is_zero() { 1 } else { 2 }
                && self
                    .sides
                    .iter()
                    .all(|s| s.received.len() >= data_sent as usize)))
            && self.transfers.as_ref().is_none_or(DataTransfers::done);
        let done = match expect.outcome {
            Outcome::Connected => (self.connected_at.is_some() && data_done) || both_failed,
            Outcome::Failed => both_failed || self.connected_at.is_some() && data_done,
        };
        // Data that has not arrived DATA_DEADLINE after it was sent will not.
        let data_late = self
            .sides
            .iter()
            .any(|s| s.received.len() < data_sent as usize)
            && self.data_sent_at.is_some_and(|t| now >= t + DATA_DEADLINE);
        let transfer_failed = self.transfers.as_ref().is_some_and(DataTransfers::failed);
        done || data_late || transfer_failed || !self.errors.is_empty()
    }

    /// Datagram `n` of the application data from both sides.
    fn send_data(&mut self, now: Instant, n: u32, when: &str) {
        for (i, s) in self.sides.iter_mut().enumerate() {
            if let Err(e) = s
                .endpoint
                .send_data(now, format!("data {n} from side {i}").as_bytes())
            {
                self.errors
                    .push(format!("side {i} could not send data{when}: {e}"));
            }
        }
        self.data_sent = n;
        self.data_sent_at = Some(now);
    }

    /// When the conductor next has something to do after `now`: a stanza arrives, the hold
    /// time ends, the data deadline passes, or a transfer of `data_bytes` has a deadline.
    pub fn next_due(&self, now: Instant) -> Option<Instant> {
        let expect = &self.expect;
        let hold_due = self
            .connected_at
            .filter(|_| expect.data && !expect.hold.is_zero() && !self.hold_sent)
            .map(|at| at + expect.hold);
        let data_due = self
            .data_sent_at
            .map(|t| t + DATA_DEADLINE)
            .filter(|t| *t > now);
        let transfer_due = self
            .transfers
            .as_ref()
            .and_then(DataTransfers::poll_timeout);
        [self.signalling.next_due(), hold_due, data_due, transfer_due]
            .into_iter()
            .flatten()
            .min()
    }

    /// The verdict at `now`, the end of the run: the outcome against `[expect]`, with the
    /// network's count of `datagrams` (carried, lost), and every stanza sent when kept.
    pub fn finish(mut self, now: Instant, datagrams: (u64, u64)) -> (RunResult, Vec<Sent>) {
        // Signalling errors of the last step, and stanzas sent at the end (counted).
        for s in &mut self.sides {
            s.signal(
                now,
                &mut self.signalling,
                &mut self.accepted,
                &mut self.errors,
            );
        }
        let expect = &self.expect;
        let base = self.base;
        let sides = &self.sides;
        let data_sent = self.data_sent;

        // What came out, against what the script expects.
        let statuses = sides.each_ref().map(|s| s.endpoint.status());
        let pair = |i: usize| match &statuses[i] {
            PeerStatus::Connected(p) => Some(p.clone()),
            _ => None,
        };
        let both_failed = statuses.iter().all(|s| matches!(s, PeerStatus::Failed(_)));
        let outcome = if self.connected_at.is_some() {
            "connected"
        } else if both_failed {
            "failed"
        } else {
            "timeout"
        };
        let connect = match (self.connected_at, self.signalling.initiated_at) {
            (Some(c), Some(i)) => Some(c.saturating_duration_since(i)),
            _ => None,
        };
        self.errors.append(&mut self.signalling.errors);
        let mut failures = std::mem::take(&mut self.errors);
        let describe = |s: &PeerStatus| match s {
            PeerStatus::Checking => "still checking".to_owned(),
            PeerStatus::Connected(p) => format!("connected {}->{}", p.local, p.remote),
            PeerStatus::Failed(r) => format!("failed ({r})"),
        };
        if outcome != expect.outcome.as_str() {
            failures.push(format!(
                "expected {}, got {outcome} after {} ms (initiator {}, responder {})",
                expect.outcome.as_str(),
                now.saturating_duration_since(base).as_millis(),
                describe(&statuses[0]),
                describe(&statuses[1]),
            ));
        }
        let (ip, rp) = (pair(0), pair(1));
        if let (Some(i), Some(r)) = (&ip, &rp) {
            if i.local != r.remote || i.remote != r.local {
                failures.push(format!(
                    "the agents selected different pairs: initiator {} -> {}, responder {} -> {}",
                    i.local, i.remote, r.local, r.remote
                ));
            }
            if !expect.local_type.is_empty() && !expect.local_type.contains(&i.local_type) {
                failures.push(format!(
                    "local_type {} is not one of {:?}",
                    i.local_type, expect.local_type
                ));
            }
            if !expect.remote_type.is_empty() && !expect.remote_type.contains(&i.remote_type) {
                failures.push(format!(
                    "remote_type {} is not one of {:?}",
                    i.remote_type, expect.remote_type
                ));
            }
            if let Some(p) = &expect.protocol {
                if *p != i.protocol {
                    failures.push(format!("protocol {} is not {p}", i.protocol));
                }
            }
            // How the initiator's relayed candidate reaches its TURN server; a stack that does
            // not say was given UDP servers only.
            if let Some(t) = expect.relay_transport {
                let got = i.relay_transport.as_deref().unwrap_or("udp");
                if i.local_type != "relay" {
                    failures.push(format!(
                        "relay_transport {t}: the local candidate is {}, not relayed",
                        i.local_type
                    ));
                } else if got != t.as_str() {
                    failures.push(format!("relay_transport {got} is not {t}"));
                }
            }
            if let (Some(max), Some(c)) = (expect.max_connect, connect) {
                if c > max {
                    failures.push(format!(
                        "connected in {} ms, more than max_connect_ms = {}",
                        c.as_millis(),
                        max.as_millis()
                    ));
                }
            }
        }
        let wanted = if expect.data { data_sent } else { 0 };
        let mut delivered = 0;
        for (i, s) in sides.iter().enumerate() {
            let other = 1 - i;
            for n in 1..=wanted {
                let text = format!("data {n} from side {other}");
                if s.received.iter().any(|d| d == text.as_bytes()) {
                    delivered += 1;
                } else if outcome == "connected" {
                    let when = if n == 2 { " after hold_ms" } else { "" };
                    failures.push(format!(
                        "application datagram {n}{when} from the {} did not arrive",
                        if other == 0 { "initiator" } else { "responder" }
                    ));
                }
            }
        }
        if expect.data && expect.outcome == Outcome::Connected && outcome == "connected" {
            let needed = if expect.hold.is_zero() { 1 } else { 2 };
            if data_sent < needed {
                failures.push(format!(
                    "duration_ms ended before the data of hold_ms = {} could be sent",
                    expect.hold.as_millis()
                ));
            }
        }
        if let Some(t) = self.transfers.as_ref().filter(|_| outcome == "connected") {
            failures.extend(t.failures());
        }
        if expect.outcome == Outcome::Failed && sides.iter().any(|s| !s.received.is_empty()) {
            failures.push("application data was delivered in a run expected to fail".to_owned());
        }

        let checks = (
            sides[0].endpoint.checks_sent(),
            sides[1].endpoint.checks_sent(),
        );
        let result = RunResult {
            outcome,
            initiator_pair: ip,
            responder_pair: rp,
            connect,
            checks_sent: checks.0 + checks.1,
            checks_by_side: checks,
            data_delivered: (delivered, wanted * 2),
            data_bytes: self.transfers.as_ref().map(DataTransfers::summary),
            signalling: (self.signalling.stanzas, self.signalling.bytes),
            datagrams,
            elapsed: now.saturating_duration_since(base),
            failures,
            replayable: sides.iter().all(|s| s.endpoint.replayable()),
            learned: self.learned.clone(),
        };
        (result, self.signalling.take_log())
    }
}
