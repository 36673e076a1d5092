//! A two-agent harness in virtual time: an in-memory network with latency and seeded loss,
//! signalling carried directly between the agents (with its own delay).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_sans_io::{Candidate, Config, Datagram, Event, IceAgent, Protocol, Received, State};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// One side: the agent, its addresses, and what it saw.
pub struct Side {
    pub agent: IceAgent,
    pub hosts: Vec<SocketAddr>,
    pub events: Vec<(Duration, Event)>,
    pub received: Vec<(u16, Vec<u8>)>,
    /// Whether to forward this side's candidates and end-of-candidates to the other.
    pub signal_candidates: bool,
    pub signal_end_of_candidates: bool,
    /// Added to [`Pair::signalling_delay`] for everything this side signals. Default zero.
    pub signalling_extra: Duration,
    /// Added again to this side's credentials alone: longer than zero, the peer gets this
    /// side's candidates before its credentials. Default zero.
    pub credentials_extra: Duration,
}

impl Side {
    pub fn new(config: Config, seed: u8, hosts: &[&str]) -> Side {
        let mut s = [0u8; 32];
        s[0] = seed;
        Side::with_seed(config, s, hosts)
    }

    /// Like [`Side::new`], with the agent's whole 32-byte seed.
    pub fn with_seed(config: Config, seed: [u8; 32], hosts: &[&str]) -> Side {
        Side {
            agent: IceAgent::new(config, seed),
            hosts: hosts.iter().map(|h| h.parse().unwrap()).collect(),
            events: Vec::new(),
            received: Vec::new(),
            signal_candidates: true,
            signal_end_of_candidates: true,
            signalling_extra: Duration::ZERO,
            credentials_extra: Duration::ZERO,
        }
    }

    pub fn saw(&self, f: impl Fn(&Event) -> bool) -> bool {
        self.events.iter().any(|(_, e)| f(e))
    }

    pub fn state_changes(&self) -> Vec<State> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::StateChanged(s) => Some(*s),
                _ => None,
            })
            .collect()
    }

    pub fn time_of(&self, f: impl Fn(&Event) -> bool) -> Option<Duration> {
        self.events.iter().find(|(_, e)| f(e)).map(|(t, _)| *t)
    }
}

struct InFlight {
    at: Instant,
    from: SocketAddr,
    to: SocketAddr,
    data: Vec<u8>,
}

enum Signal {
    Candidate(Candidate),
    EndOfCandidates,
    Credentials(String, String),
}

/// Drops datagrams (from, to, time since the start) when it returns true.
pub type Blackhole = Box<dyn Fn(SocketAddr, SocketAddr, Duration) -> bool>;

/// Two agents and the network between them.
pub struct Pair {
    pub a: Side,
    pub b: Side,
    pub start: Instant,
    pub now: Instant,
    pub latency: Duration,
    /// Probability of losing a datagram, 0.0 to 1.0.
    pub loss: f64,
    /// Delay of signalling messages.
    pub signalling_delay: Duration,
    /// Datagrams dropped by the network (loss, or no such address).
    pub lost: u64,
    /// Datagrams delivered.
    pub delivered: u64,
    /// A predicate that drops datagrams (from, to, now-start) when it returns true.
    pub blackhole: Option<Blackhole>,
    spins: u32,
    rng: ChaCha8Rng,
    wire: Vec<InFlight>,
    signals: VecDeque<(Instant, bool, Signal)>,
}

impl Pair {
    pub fn new(a: Side, b: Side, net_seed: u64) -> Pair {
        #[allow(clippy::disallowed_methods)]
        let start = Instant::now();
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&net_seed.to_le_bytes());
        Pair {
            a,
            b,
            start,
            now: start,
            latency: Duration::from_millis(10),
            loss: 0.0,
            signalling_delay: Duration::from_millis(30),
            lost: 0,
            delivered: 0,
            blackhole: None,
            spins: 0,
            rng: ChaCha8Rng::from_seed(s),
            wire: Vec::new(),
            signals: VecDeque::new(),
        }
    }

    /// Adds each side's hosts, exchanges credentials and starts gathering.
    pub fn start(&mut self) {
        let now = self.now;
        for (side, other_first) in [(true, false), (false, true)] {
            let _ = other_first;
            let s = if side { &mut self.a } else { &mut self.b };
            for h in s.hosts.clone() {
                s.agent.add_local_host(1, h).unwrap();
                if s.agent.component_state(2).is_some() {
                    let h2 = SocketAddr::new(h.ip(), h.port() + 1);
                    s.agent.add_local_host(2, h2).unwrap();
                }
            }
            s.agent.gather(now);
            let (u, p) = s.agent.local_credentials();
            let sig = Signal::Credentials(u.to_owned(), p.to_owned());
            let at = now + self.signalling_delay + s.signalling_extra + s.credentials_extra;
            self.signals.push_back((at, !side, sig));
        }
    }

    fn side(&mut self, a: bool) -> &mut Side {
        if a { &mut self.a } else { &mut self.b }
    }

    /// Drains transmits and events of both sides.
    fn drain(&mut self) {
        for which in [true, false] {
            let now = self.now;
            let latency = self.latency;
            let delay = self.signalling_delay + self.side(which).signalling_extra;
            let mut out = Vec::new();
            let mut sigs = Vec::new();
            {
                let s = self.side(which);
                while let Some(t) = s.agent.poll_transmit() {
                    assert_eq!(t.protocol, Protocol::Udp);
                    out.push(InFlight {
                        at: now + latency,
                        from: t.local,
                        to: t.remote,
                        data: t.data.to_vec(),
                    });
                }
                let start = self.start;
                let s = self.side(which);
                while let Some(e) = s.agent.poll_event() {
                    match &e {
                        Event::LocalCandidate(c) if s.signal_candidates => {
                            sigs.push(Signal::Candidate(c.clone()))
                        }
                        Event::GatheringComplete if s.signal_end_of_candidates => {
                            sigs.push(Signal::EndOfCandidates)
                        }
                        Event::LocalCredentials { ufrag, pwd, .. } => {
                            sigs.push(Signal::Credentials(ufrag.clone(), pwd.clone()))
                        }
                        _ => {}
                    }
                    s.events.push((now - start, e));
                }
            }
            for d in out {
                let bh = self
                    .blackhole
                    .as_ref()
                    .is_some_and(|f| f(d.from, d.to, now - self.start));
                let lose =
                    self.loss > 0.0 && (self.rng.next_u32() as f64 / u32::MAX as f64) < self.loss;
                if bh || lose {
                    self.lost += 1;
                } else {
                    self.wire.push(d);
                }
            }
            for s in sigs {
                self.signals.push_back((now + delay, !which, s));
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        [
            self.a.agent.poll_timeout(),
            self.b.agent.poll_timeout(),
            self.wire.iter().map(|w| w.at).min(),
            self.signals.iter().map(|s| s.0).min(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs one step: advance to the next deadline and process what is due. Returns false
    /// when nothing is left to do.
    pub fn step(&mut self) -> bool {
        self.drain();
        let Some(next) = self.next_deadline() else {
            return false;
        };
        if next > self.now {
            self.now = next;
            self.spins = 0;
        } else {
            // A deadline that handling does not move is a busy loop in the agent.
            self.spins += 1;
            assert!(
                self.spins < 10_000,
                "no progress at {:?}: a {:?} b {:?}",
                self.now - self.start,
                self.a
                    .agent
                    .poll_timeout()
                    .map(|t| t.saturating_duration_since(self.start)),
                self.b
                    .agent
                    .poll_timeout()
                    .map(|t| t.saturating_duration_since(self.start)),
            );
        }
        let now = self.now;
        // Signalling.
        let mut due = Vec::new();
        self.signals.retain_mut(|s| {
            if s.0 <= now {
                due.push((s.1, std::mem::replace(&mut s.2, Signal::EndOfCandidates)));
                false
            } else {
                true
            }
        });
        for (to_a, sig) in due {
            let s = self.side(to_a);
            match sig {
                Signal::Candidate(c) => {
                    let _ = s.agent.add_remote_candidate(now, c);
                }
                Signal::EndOfCandidates => s.agent.end_of_remote_candidates(now),
                Signal::Credentials(u, p) => s.agent.set_remote_credentials(now, &u, &p).unwrap(),
            }
        }
        // Datagrams.
        self.wire.sort_by_key(|w| w.at);
        let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.wire)
            .into_iter()
            .partition(|w| w.at <= now);
        self.wire = rest;
        for w in due {
            let to_a = self.a.hosts.iter().any(|h| same_host(*h, w.to));
            let to_b = self.b.hosts.iter().any(|h| same_host(*h, w.to));
            if !to_a && !to_b {
                self.lost += 1;
                continue;
            }
            self.delivered += 1;
            let s = self.side(to_a);
            let r = s.agent.handle_receive(
                now,
                Datagram {
                    local: w.to,
                    remote: w.from,
                    protocol: Protocol::Udp,
                    data: &w.data,
                },
            );
            if let Received::Data { component, data } = r {
                s.received.push((component, data.to_vec()));
            }
        }
        for which in [true, false] {
            let s = self.side(which);
            if s.agent.poll_timeout().is_some_and(|t| t <= now) {
                s.agent.handle_timeout(now);
            }
        }
        self.drain();
        true
    }

    /// Runs until `done` holds or `limit` of virtual time passed. Returns the time taken.
    pub fn run_until(&mut self, limit: Duration, done: impl Fn(&Pair) -> bool) -> Option<Duration> {
        let end = self.start + limit;
        loop {
            if done(self) {
                return Some(self.now - self.start);
            }
            if self.now > end || !self.step() {
                return if done(self) {
                    Some(self.now - self.start)
                } else {
                    None
                };
            }
        }
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            if !self.step() {
                break;
            }
        }
    }

    pub fn both(&self, s: State) -> bool {
        self.a.agent.state() == s && self.b.agent.state() == s
    }

    /// Sends `data` from one side over component 1, through the network.
    pub fn send(&mut self, from_a: bool, data: &[u8]) -> Result<(), ice_sans_io::SendError> {
        let now = self.now;
        let latency = self.latency;
        let s = self.side(from_a);
        let t = s.agent.send(now, 1, data)?;
        let w = InFlight {
            at: now + latency,
            from: t.local,
            to: t.remote,
            data: t.data.to_vec(),
        };
        self.wire.push(w);
        Ok(())
    }

    /// Signals a side's restart to the other (after `restart` was called on it, its events
    /// carry the new credentials and candidates).
    pub fn restart(&mut self, a: bool) {
        let now = self.now;
        self.side(a).agent.restart(now);
    }
}

fn same_host(h: SocketAddr, to: SocketAddr) -> bool {
    h == to || (h.ip() == to.ip() && h.port() + 1 == to.port())
}
