//! One topology script, one seed, on the simulator: build the network, place the two sides
//! (Jingle endpoints with their ICE stacks, [`Endpoint`]), carry every stanza they send over
//! the signalling path ([`Signalling`]: XML text, `[signalling] latency_ms`), send the
//! application data the script asks for, check `[expect]`.
//!
//! A side of `impl = "ice-sans-io"` is a `jingle-ice-glue` session ([`Ours`]); a foreign stack
//! is its adapter inside [`JingleEndpoint`]. So a run ours↔ours goes through two glue sessions,
//! ours↔str0m through one glue session and the endpoint, and every stanza on the path (the
//! IQ-sets and their IQ-results) is real XML, read back by the glue or by the model's strict
//! reader. Holding back signalling (a responder's until session-initiate arrived, everything of
//! a side that does not trickle until its gathering completed) is the endpoints' business.
//! Whatever an endpoint reports as wrong in the signalling (a refusal, an IQ-error, an IQ
//! timeout) is a failure of the run.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ice_netsim::topology::{Expect, JingleRole, Outcome};
use ice_netsim::{HostId, Node, Sim, Topology, Transmit, derive_seed};

use super::jingle::JingleEndpoint;
use super::ours::Ours;
use super::peer::{Endpoint, PeerConfig, PeerStatus, SelectedPair};
use super::rice::Rice;
use super::signal::{Direction, Sent, Signalling};
use super::str0m::Str0m;

/// Implementations the simulator can run, as scripts name them.
pub const SIM_IMPLS: &[&str] = &["ice-sans-io", "str0m", "rice"];

/// Implementations that exist only on real sockets (the netns backend).
pub const NETNS_ONLY_IMPLS: &[&str] = &["libnice"];

/// Loop turns at one virtual instant after which the run is stopped as stalled.
const MAX_ROUNDS_AT_ONE_INSTANT: usize = 100_000;

/// How long after connecting each application datagram may take to arrive.
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
}

impl RunResult {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Options of a run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions<'a> {
    /// Replace the script's seed.
    pub seed: Option<u64>,
    /// Write a pcap per network into this directory, named after the script.
    pub pcap: Option<&'a Path>,
}

/// Builds the side for `implementation`: a glue session for ours, the Jingle endpoint around
/// the adapter for a foreign stack.
pub fn make_endpoint(implementation: &str, config: &PeerConfig) -> Result<Box<dyn Endpoint>> {
    Ok(match implementation {
        "ice-sans-io" => Box::new(Ours::new(config)?),
        "str0m" => Box::new(JingleEndpoint::new(Str0m::new(config)?, config)?),
        "rice" => Box::new(JingleEndpoint::new(Rice::new(config)?, config)?),
        other if NETNS_ONLY_IMPLS.contains(&other) => {
            bail!("impl `{other}` runs only on the netns backend (--backend netns)")
        }
        other => bail!(
            "unknown impl `{other}` (the simulator runs {})",
            SIM_IMPLS.join(", ")
        ),
    })
}

/// An endpoint as a simulator node.
struct AsNode<'a>(&'a mut dyn Endpoint);

impl Node for AsNode<'_> {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        self.0.handle_datagram(now, from, to, data);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now);
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.0.poll_transmit()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }
}

/// One side of the run.
struct Side {
    role: Direction,
    endpoint: Box<dyn Endpoint>,
    received: Vec<Vec<u8>>,
}

impl Side {
    fn name(&self) -> &'static str {
        match self.role {
            Direction::ToResponder => "initiator",
            Direction::ToInitiator => "responder",
        }
    }

    /// Moves the endpoint's stanzas onto the path, and its signalling errors into `errors`.
    fn signal(&mut self, now: Instant, signalling: &mut Signalling, errors: &mut Vec<String>) {
        while let Some(xml) = self.endpoint.poll_stanza() {
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
    errors: Vec<String>,
}

impl Conductor {
    /// A run of `topology` starting at `base` between `endpoints`, the initiator's first:
    /// the signalling path delays each stanza by `[signalling] latency_ms`, `[expect]` is
    /// checked; with `transcript`, every stanza is kept.
    pub fn new(
        topology: &Topology,
        endpoints: Vec<Box<dyn Endpoint>>,
        base: Instant,
        transcript: bool,
    ) -> Result<Conductor> {
        let Ok([initiator, responder]) = <[Box<dyn Endpoint>; 2]>::try_from(endpoints) else {
            bail!("a run has two endpoints");
        };
        let side = |role, endpoint| Side {
            role,
            endpoint,
            received: Vec::new(),
        };
        let mut signalling = Signalling::new(topology.signalling.latency);
        if transcript {
            signalling.record(base);
        }
        Ok(Conductor {
            sides: [
                side(Direction::ToResponder, initiator),
                side(Direction::ToInitiator, responder),
            ],
            signalling,
            expect: topology.expect.clone(),
            base,
            connected_at: None,
            data_sent: 0,
            hold_sent: false,
            data_sent_at: None,
            errors: Vec::new(),
        })
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
            s.signal(now, &mut self.signalling, &mut self.errors);
        }
        while let Some((direction, xml)) = self.signalling.poll(now) {
            let to = match direction {
                Direction::ToResponder => 1,
                Direction::ToInitiator => 0,
            };
            self.sides[to].endpoint.handle_stanza(now, &xml);
        }
        for s in &mut self.sides {
            s.signal(now, &mut self.signalling, &mut self.errors);
            while let Some(d) = s.endpoint.poll_data() {
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
        }
        let expect = &self.expect;
        let data_sent = self.data_sent;
        let data_done = !expect.data
            || (data_sent >= if expect.hold.is_zero() { 1 } else { 2 }
                && self
                    .sides
                    .iter()
                    .all(|s| s.received.len() >= data_sent as usize));
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
        done || data_late || !self.errors.is_empty()
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
    /// time ends, or the data deadline passes.
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
        [self.signalling.next_due(), hold_due, data_due]
            .into_iter()
            .flatten()
            .min()
    }

    /// The verdict at `now`, the end of the run: the outcome against `[expect]`, with the
    /// network's count of `datagrams` (carried, lost), and every stanza sent when kept.
    pub fn finish(mut self, now: Instant, datagrams: (u64, u64)) -> (RunResult, Vec<Sent>) {
        // Signalling errors of the last step, and stanzas sent at the end (counted).
        for s in &mut self.sides {
            s.signal(now, &mut self.signalling, &mut self.errors);
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
            signalling: (self.signalling.stanzas, self.signalling.bytes),
            datagrams,
            elapsed: now.saturating_duration_since(base),
            failures,
            replayable: sides.iter().all(|s| s.endpoint.replayable()),
        };
        (result, self.signalling.take_log())
    }
}

/// Runs `topology` once.
pub fn run(topology: &Topology, options: &RunOptions<'_>) -> Result<RunResult> {
    run_inner(topology, options, false).map(|(r, _)| r)
}

/// Runs `topology` once and returns, with the result, every stanza the signalling path
/// carried, in the order sent.
pub fn run_with_transcript(
    topology: &Topology,
    options: &RunOptions<'_>,
) -> Result<(RunResult, Vec<Sent>)> {
    run_inner(topology, options, true)
}

/// The configuration of the agent of `role`, on a host with `host_ips`. The agents have no
/// TURN client yet: a script's `turn` servers are not given to them, so a script that needs a
/// relay fails, and says so as a known failure (`conformance/known-failures.toml`).
pub fn peer_config(
    topology: &Topology,
    role: JingleRole,
    seed: u64,
    host_ips: Vec<IpAddr>,
    start: Instant,
) -> Result<PeerConfig> {
    let agent = topology.agent(role);
    let label = match role {
        JingleRole::Initiator => "agent initiator",
        JingleRole::Responder => "agent responder",
    };
    Ok(PeerConfig {
        controlling: role == JingleRole::Initiator,
        host_ips,
        stun: agent.stun.clone(),
        components: agent.components,
        seed: derive_seed(seed, label),
        start,
        trickle: agent.trickle,
    })
}

fn run_inner(
    topology: &Topology,
    options: &RunOptions<'_>,
    transcript: bool,
) -> Result<(RunResult, Vec<Sent>)> {
    let seed = options.seed.unwrap_or(topology.seed);
    // The base of virtual time; results do not depend on it (only differences are used).
    #[allow(clippy::disallowed_methods)]
    let base = Instant::now();
    let mut topology = topology.clone();
    topology.seed = seed;
    let mut sim = Sim::new(&topology, base);
    if options.pcap.is_some() {
        sim.enable_capture();
    }
    let mut endpoints = Vec::new();
    let mut hosts = Vec::new();
    for role in [JingleRole::Initiator, JingleRole::Responder] {
        let agent = topology.agent(role);
        let host = HostId(agent.host);
        let config = peer_config(&topology, role, seed, sim.host_ips(host), base)?;
        let endpoint = make_endpoint(&agent.implementation, &config)
            .with_context(|| format!("{}:{}: impl", topology.file, agent.impl_line))?;
        endpoints.push(endpoint);
        hosts.push(host);
    }
    let mut conductor = Conductor::new(&topology, endpoints, base, transcript)?;
    let deadline = base + topology.duration;

    let mut now = base;
    let mut same_instant = 0usize;
    loop {
        if conductor.turn(now) {
            break;
        }

        // The next thing to happen: a datagram, an agent's timer, a stanza, the hold timer.
        let due = conductor.next_due(now);
        let [a, b] = conductor.endpoints();
        let mut a = AsNode(a);
        let mut b = AsNode(b);
        let mut nodes: [(HostId, &mut dyn Node); 2] = [(hosts[0], &mut a), (hosts[1], &mut b)];
        // Whatever signalling or data made the peers send at `now` goes out now.
        sim.step(now, &mut nodes)
            .with_context(|| format!("seed {seed}"))?;
        let next = [sim.next_time(&nodes), due].into_iter().flatten().min();
        match next {
            Some(t) if t <= deadline => {
                if t <= now {
                    same_instant += 1;
                    if same_instant > MAX_ROUNDS_AT_ONE_INSTANT {
                        bail!(
                            "seed {seed}: no progress at {} ms: a peer keeps asking for the same instant",
                            now.saturating_duration_since(base).as_millis()
                        );
                    }
                } else {
                    same_instant = 0;
                }
                now = now.max(t);
                sim.step(now, &mut nodes)
                    .with_context(|| format!("seed {seed}"))?;
            }
            _ => {
                now = deadline;
                break;
            }
        }
    }

    let stats = sim.stats();
    let (result, log) = conductor.finish(now, (stats.delivered, stats.lost));
    if let Some(dir) = options.pcap {
        write_pcaps(&sim, &topology, dir)?;
    }
    Ok((result, log))
}

/// Writes `DIR/<script>-<network>.pcap` for every network.
fn write_pcaps(sim: &Sim, topology: &Topology, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let stem = Path::new(&topology.file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("topology");
    for (network, capture) in sim.captures() {
        let path = dir.join(format!("{stem}-{network}.pcap"));
        std::fs::write(&path, capture.bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
