//! Our agent against str0m's (`is` 0.12, `is::IceAgent`) in process, in virtual time, over an
//! in-memory link with 10 ms of latency: each side's host candidate, credentials exchanged
//! directly, and the datagrams carried between them untouched.
//!
//! What the tests prove:
//! - ours controlling, str0m controlled: our checks (USERNAME, PRIORITY, ICE-CONTROLLING,
//!   MESSAGE-INTEGRITY, FINGERPRINT), our nomination (USE-CANDIDATE, RFC 8445 §8.1.1) and our
//!   answers (XOR-MAPPED-ADDRESS) are accepted by str0m, which reports the nominated 5-tuple;
//!   application data goes both ways over it;
//! - str0m controlling, ours controlled: we answer str0m's checks, take its nomination
//!   (RFC 8445 §7.3.1.5) and reach Completed on the pair str0m nominated;
//! - both controlling: the role conflict (RFC 8445 §7.3.1.1) resolves, whichever side's
//!   tie-breaker wins (str0m draws its tie-breaker from a global RNG, so the winner varies
//!   between runs; the assertions hold either way).
//!
//! str0m's limits that shape the tests: it never signals end-of-candidates and has no failed
//! state, so no test waits for failure; its candidate foundation is not public, so ours reads it
//! from `Candidate::to_sdp_string` (RFC 8839 `a=candidate`), which also exercises that path.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_sans_io::{
    Candidate, CandidateKind, Config, Datagram, Event, IceAgent, Protocol, Received, Role, State,
};
use is::{IceAgentEvent, IceConnectionState, IceCreds};

const OURS: &str = "10.0.0.1:5000";
const THEIRS: &str = "10.0.0.2:6000";
const LATENCY: Duration = Duration::from_millis(10);

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

struct Link {
    start: Instant,
    now: Instant,
    ours: IceAgent,
    str0m: is::IceAgent,
    /// (deliver at, to ours?, from, to, bytes)
    wire: Vec<(Instant, bool, SocketAddr, SocketAddr, Vec<u8>)>,
    our_events: Vec<Event>,
    str0m_events: Vec<IceAgentEvent>,
    our_data: Vec<Vec<u8>>,
}

impl Link {
    fn new(our_role: Role, str0m_controlling: bool) -> Link {
        #[allow(clippy::disallowed_methods)]
        let start = Instant::now();
        let mut ours = IceAgent::new(Config::new(our_role), [3; 32]);
        let mut str0m = is::IceAgent::new(IceCreds {
            ufrag: "str0mufrag".into(),
            pass: "str0mpasswordstr0mpassword".into(),
        });
        str0m.set_controlling(str0m_controlling);

        // Candidates: ours through our event, str0m's through its SDP line.
        ours.add_local_host(1, addr(OURS)).unwrap();
        ours.gather(start);
        let theirs = str0m
            .add_local_candidate(is::Candidate::host(addr(THEIRS), "udp").unwrap())
            .unwrap()
            .clone();
        let sdp = theirs.to_sdp_string();
        let foundation = sdp
            .split_whitespace()
            .next()
            .and_then(|f| f.strip_prefix("candidate:"))
            .unwrap()
            .to_owned();
        let theirs_for_us = Candidate {
            component: 1,
            foundation,
            protocol: Protocol::Udp,
            priority: theirs.prio(),
            addr: theirs.addr(),
            kind: CandidateKind::Host,
            related: None,
        };
        // Credentials both ways.
        let (u, p) = ours.local_credentials();
        str0m.set_remote_credentials(IceCreds {
            ufrag: u.to_owned(),
            pass: p.to_owned(),
        });
        ours.set_remote_credentials(start, "str0mufrag", "str0mpasswordstr0mpassword")
            .unwrap();
        ours.add_remote_candidate(start, theirs_for_us).unwrap();
        let mut our_events = Vec::new();
        while let Some(e) = ours.poll_event() {
            if let Event::LocalCandidate(c) = &e {
                str0m.add_remote_candidate(is::Candidate::host(c.addr, "udp").unwrap());
            }
            our_events.push(e);
        }
        str0m.handle_timeout(start);
        Link {
            start,
            now: start,
            ours,
            str0m,
            wire: Vec::new(),
            our_events,
            str0m_events: Vec::new(),
            our_data: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Some(t) = self.ours.poll_transmit() {
            assert_eq!((t.local, t.remote), (addr(OURS), addr(THEIRS)));
            self.wire.push((
                self.now + LATENCY,
                false,
                t.local,
                t.remote,
                t.data.to_vec(),
            ));
        }
        while let Some(e) = self.ours.poll_event() {
            self.our_events.push(e);
        }
        while let Some(t) = self.str0m.poll_transmit() {
            let data: Vec<u8> = t.contents.into();
            self.wire
                .push((self.now + LATENCY, true, t.source, t.destination, data));
        }
        while let Some(e) = self.str0m.poll_event() {
            self.str0m_events.push(e);
        }
    }

    fn step(&mut self) {
        self.drain();
        let next = [
            self.ours.poll_timeout(),
            self.str0m.poll_timeout(),
            self.wire.iter().map(|w| w.0).min(),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(self.now + Duration::from_millis(50));
        self.now = self.now.max(next);
        let now = self.now;
        let due: Vec<_> = self.wire.iter().filter(|w| w.0 <= now).cloned().collect();
        self.wire.retain(|w| w.0 > now);
        for (_, to_ours, from, to, data) in due {
            if to_ours {
                let d = Datagram {
                    local: to,
                    remote: from,
                    protocol: Protocol::Udp,
                    data: &data,
                };
                if let Received::Data { data, .. } = self.ours.handle_receive(now, d) {
                    self.our_data.push(data.to_vec());
                }
            } else if let Ok(message) = is::stun::StunMessage::parse(&data) {
                let packet = is::stun::StunPacket {
                    proto: is::Protocol::Udp,
                    source: from,
                    destination: to,
                    message,
                };
                self.str0m.handle_packet(now, packet);
            }
        }
        if self.ours.poll_timeout().is_some_and(|t| t <= now) {
            self.ours.handle_timeout(now);
        }
        if self.str0m.poll_timeout().is_some_and(|t| t <= now) {
            self.str0m.handle_timeout(now);
        }
        self.drain();
    }

    fn run_until(&mut self, limit: Duration, done: impl Fn(&Link) -> bool) -> Duration {
        while !done(self) {
            assert!(
                self.now - self.start < limit,
                "not done after {limit:?}: ours {:?}, str0m {:?}\nour events {:#?}\nstr0m events {:#?}",
                self.ours.state(),
                self.str0m.state(),
                self.our_events,
                self.str0m_events
            );
            self.step();
        }
        self.now - self.start
    }

    fn str0m_connected(&self) -> bool {
        matches!(
            self.str0m.state(),
            IceConnectionState::Connected | IceConnectionState::Completed
        )
    }

    /// The 5-tuple str0m nominated for sending, if any.
    fn str0m_nominated(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.str0m_events.iter().rev().find_map(|e| match e {
            IceAgentEvent::NominatedSend {
                source,
                destination,
                ..
            } => Some((*source, *destination)),
            _ => None,
        })
    }

    /// One datagram each way over the selected 5-tuples.
    fn exchange_data(&mut self) {
        let now = self.now;
        let t = self.ours.send(now, 1, b"from ours").unwrap();
        assert_eq!((t.local, t.remote), (addr(OURS), addr(THEIRS)));
        let (source, destination) = self.str0m_nominated().unwrap();
        assert_eq!((source, destination), (addr(THEIRS), addr(OURS)));
        // str0m hands application data to its caller untouched: what arrives is the bytes.
        let got = t.data.to_vec();
        assert_eq!(got, b"from ours");
        self.wire.push((
            now + LATENCY,
            true,
            source,
            destination,
            b"from str0m".to_vec(),
        ));
        self.run_until(Duration::from_secs(30), |l| !l.our_data.is_empty());
        assert_eq!(self.our_data, vec![b"from str0m".to_vec()]);
    }
}

#[test]
fn ours_controlling_str0m_controlled() {
    let mut l = Link::new(Role::Controlling, false);
    let t = l.run_until(Duration::from_secs(10), |l| {
        l.ours.state() == State::Completed && l.str0m_connected() && l.str0m_nominated().is_some()
    });
    assert!(t < Duration::from_secs(2), "took {t:?}");
    let sel = l.ours.selected_pair(1).unwrap();
    assert!(sel.nominated);
    assert_eq!((sel.base, sel.remote.addr), (addr(OURS), addr(THEIRS)));
    assert!(l.ours.stats().checks_received > 0, "str0m checked us too");
    l.exchange_data();
}

#[test]
fn str0m_controlling_ours_controlled() {
    let mut l = Link::new(Role::Controlled, true);
    let t = l.run_until(Duration::from_secs(10), |l| {
        l.ours.state() == State::Completed && l.str0m_connected() && l.str0m_nominated().is_some()
    });
    assert!(t < Duration::from_secs(3), "took {t:?}");
    let sel = l.ours.selected_pair(1).unwrap();
    assert!(sel.nominated, "str0m's nomination taken");
    assert_eq!((sel.base, sel.remote.addr), (addr(OURS), addr(THEIRS)));
    assert_eq!(l.ours.role(), Role::Controlled);
    l.exchange_data();
}

#[test]
fn both_controlling_resolve_the_conflict() {
    let mut l = Link::new(Role::Controlling, true);
    l.run_until(Duration::from_secs(10), |l| {
        l.ours.state() == State::Completed && l.str0m_connected() && l.str0m_nominated().is_some()
    });
    // Exactly one side is controlling at the end.
    assert_ne!(l.ours.role() == Role::Controlling, l.str0m.controlling());
    l.exchange_data();
}

#[test]
fn consent_keeps_the_session_with_str0m() {
    let mut l = Link::new(Role::Controlling, false);
    l.run_until(Duration::from_secs(10), |l| {
        l.ours.state() == State::Completed && l.str0m_connected()
    });
    let end = l.now + Duration::from_secs(60);
    while l.now < end {
        l.step();
    }
    assert_eq!(l.ours.state(), State::Completed);
    assert!(l.ours.stats().consent_checks_sent >= 9);
    assert!(l.str0m_connected());
}
