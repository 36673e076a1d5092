//! Our agent against str0m's (`is` 0.12, `is::IceAgent`) in process, in virtual time, over an
//! in-memory link with 10 ms of latency. Each side has one UDP host candidate: ours signalled
//! to str0m as an `is::Candidate` built from our `ice_sans_io::Candidate` (same address,
//! foundation and priority), str0m's signalled to us as an `ice_sans_io::Candidate` built from
//! its RFC 8839 `a=candidate` line (its foundation is not public). Credentials go across
//! directly. The link carries every datagram untouched and demultiplexes by first byte (RFC
//! 7983): STUN goes to the agents, anything else to the "application" of each side. Every
//! STUN message is also decoded on the way with our codec and logged, so the tests can say
//! what str0m sent and what became of it. Virtual time: one read of the clock for a base
//! instant, then only Durations; str0m's tie-breaker is set explicitly (by default it comes
//! from a global RNG), ours comes from the seed, so every run is the same.
//!
//! What the tests prove:
//! - `ours_controlling_str0m_controlled`: our checks (USERNAME, PRIORITY, ICE-CONTROLLING,
//!   MESSAGE-INTEGRITY, FINGERPRINT) and our nomination (USE-CANDIDATE, RFC 8445 §8.1.1) are
//!   accepted by str0m (`handle_packet` returns true for every message we send); our answers
//!   to its checks carry an XOR-MAPPED-ADDRESS that str0m decodes to its own host candidate
//!   (it learns no peer-reflexive local candidate, RFC 8445 §7.2.5.3.1) and that validates its
//!   pair (RFC 8445 §7.2.5.3); str0m's checks (ICE-CONTROLLED, never USE-CANDIDATE, RFC 8445
//!   §7.1.2) are all taken in by ours. We reach Completed with the nominated pair, str0m
//!   reports `NominatedSend` with the same 5-tuple and a connected state; one datagram of
//!   application data goes each way over that 5-tuple (ours: `send`, then `handle_receive`
//!   gives `Received::Data`; str0m's side: plain bytes, sent from its nominated 5-tuple, and
//!   arriving from an address str0m itself considers viable).
//! - `str0m_controlling_ours_controlled`: we answer str0m's checks, take its nomination (its
//!   USE-CANDIDATE, RFC 8445 §7.3.1.5) and reach Completed only after it arrived, on the pair
//!   str0m nominated; we never send USE-CANDIDATE; data both ways as above. str0m sends
//!   FINGERPRINT (last, after MESSAGE-INTEGRITY) but orders its attributes unlike ours:
//!   USERNAME, ICE-CONTROLLING, PRIORITY, USE-CANDIDATE (ours: USERNAME, PRIORITY,
//!   ICE-CONTROLLING, USE-CANDIDATE); ours takes that order.
//! - `str0m_use_candidate_while_we_are_controlling_*`: a USE-CANDIDATE from str0m reaching us
//!   while we are controlling. str0m only sends USE-CANDIDATE when it is controlling, with
//!   ICE-CONTROLLING in the same request, so such a check is always a role conflict (RFC 8445
//!   §7.3.1.1). It cannot happen from a clean start: a str0m that starts controlling nominates
//!   only after one of its own checks succeeded, and by then our agent has either answered
//!   that check 487 or switched to controlled. So these tests complete a session with ours
//!   controlling, then flip str0m with `set_controlling(true)` (its docs say not to once pairs
//!   are formed; on the wire it is a peer that wrongly believes itself controlling): its next
//!   check on its nominated pair carries USE-CANDIDATE and ICE-CONTROLLING, and arrives while
//!   we are controlling. With our tie-breaker larger (`_ours_wins`) we answer 487, leave the
//!   USE-CANDIDATE unprocessed and stay controlling on the same pair, and str0m switches back
//!   to controlled on our 487 (§7.2.5.1). With str0m's larger (`_str0m_wins`) we switch to
//!   controlled, answer, and keep the same nominated pair.
//! - `str0m_turns_controlling_and_answers_our_consent_check_with_487`: the same flip, timed so
//!   that the first message to meet the conflict is one of our RFC 7675 consent checks, which
//!   str0m answers 487. We switch to controlled (§7.2.5.1) and the selected pair stays valid
//!   and nominated: state Completed throughout, no application data dropped. (This found a
//!   bug: the 487 branch made the selected pair Waiting and queued a triggered check that is
//!   never sent for a nominated component, so the agent fell back to Checking for good and
//!   dropped all data from the peer as `UnknownPeer`. A 487 to a consent check now only
//!   switches the role.)
//! - `both_controlling_*`: the role conflict at the start (§7.3.1.1, §7.2.5.1) resolves to
//!   the larger tie-breaker, whichever side has it, and the session completes.
//! - `both_controlled_*`: the same with both starting controlled. str0m's controlled branch is
//!   the reverse of §7.3.1.1: on ICE-CONTROLLED it answers 487 and stays controlled when its
//!   tie-breaker is the larger (the RFC switches to controlling) and switches to controlling
//!   when it is the smaller (the RFC answers 487). Both sides then pass through
//!   both-controlling, which str0m resolves like the RFC, so the larger tie-breaker still ends
//!   controlling; the tests pin the role changes that takes on our side.
//! - `consent_keeps_the_session_with_str0m`: 60 s of our consent checks are answered by str0m
//!   (which has no RFC 7675 consent of its own, only its periodic checks), and both stay
//!   connected on the one nominated pair.
//!
//! str0m's limits that shape the tests: it never signals end-of-candidates and has no failed
//! state, so no test waits for failure; it ignores Binding indications (our keepalives), so
//! those are not counted as refused; its candidate foundation is not public, so ours reads it
//! from `Candidate::to_sdp_string`; it has no send API for application data (its application
//! sends from the last `NominatedSend` 5-tuple), so the link does that for it.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_sans_io::stun::{AttributeType, Class, Fingerprint, Message};
use ice_sans_io::{
    Candidate, CandidateKind, Config, Datagram, DropReason, Event, IceAgent, Protocol, Received,
    Role, State,
};
use is::{IceAgentEvent, IceCreds};

const OURS: &str = "10.0.0.1:5000";
const THEIRS: &str = "10.0.0.2:6000";
const LATENCY: Duration = Duration::from_millis(10);
const STR0M_UFRAG: &str = "str0mufrag";
const STR0M_PWD: &str = "str0mpasswordstr0mpassword";
const SEED: [u8; 32] = [3; 32];

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A STUN message str0m sent, as it arrived at our agent.
#[derive(Debug, Clone)]
struct FromStr0m {
    at: Duration,
    class: Class,
    attrs: Vec<AttributeType>,
    use_candidate: bool,
    ice_controlling: Option<u64>,
    ice_controlled: Option<u64>,
    error: Option<u16>,
    fingerprint: bool,
    /// Our role when it arrived.
    our_role: Role,
    /// `None`: taken in (`Received::Stun`); `Some`: dropped, and why.
    dropped: Option<DropReason>,
}

/// A STUN message our agent sent, as it arrived at str0m.
#[derive(Debug, Clone)]
struct FromOurs {
    at: Duration,
    class: Class,
    use_candidate: bool,
    error: Option<u16>,
    xor_mapped: Option<SocketAddr>,
    /// What `is::IceAgent::handle_packet` returned (false when it did not even parse).
    accepted: bool,
}

/// Application data as handed to one side's application: (from, to, bytes).
type AppData = (SocketAddr, SocketAddr, Vec<u8>);

struct Packet {
    at: Instant,
    seq: u64,
    from: SocketAddr,
    to: SocketAddr,
    data: Vec<u8>,
}

/// Our agent, str0m's, and the link between them.
struct Net {
    start: Instant,
    now: Instant,
    ours: IceAgent,
    str0m: is::IceAgent,
    wire: Vec<Packet>,
    seq: u64,
    /// Steps in a row in which time did not move (a deadline in the past that nothing clears).
    stalled: u32,
    our_events: Vec<(Duration, Event)>,
    str0m_events: Vec<(Duration, IceAgentEvent)>,
    our_data: Vec<AppData>,
    /// Application data from str0m that our agent dropped: when, and why.
    our_data_dropped: Vec<(Duration, DropReason)>,
    /// With whether str0m considered the source viable (`has_viable_remote_candidate`), which
    /// is what str0m's `Rtc` asks before it takes non-STUN traffic.
    str0m_data: Vec<(AppData, bool)>,
    from_str0m: Vec<FromStr0m>,
    from_ours: Vec<FromOurs>,
}

/// Ours as str0m is told about it: same address, foundation and priority.
fn to_str0m(c: &Candidate) -> is::Candidate {
    assert_eq!((c.kind, c.protocol), (CandidateKind::Host, Protocol::Udp));
    is::Candidate::from_parts(
        c.foundation.clone(),
        c.component,
        is::Protocol::Udp,
        c.priority,
        c.addr,
        is::CandidateKind::Host,
        None,
        None,
        None,
    )
}

/// str0m's as we are told about it, from its `a=candidate` line.
fn to_ours(c: &is::Candidate) -> Candidate {
    assert_eq!(c.kind(), is::CandidateKind::Host);
    let sdp = c.to_sdp_string();
    let foundation = sdp
        .split_whitespace()
        .next()
        .and_then(|f| f.strip_prefix("candidate:"))
        .unwrap()
        .to_owned();
    Candidate {
        component: 1,
        foundation,
        protocol: Protocol::Udp,
        priority: c.prio(),
        addr: c.addr(),
        kind: CandidateKind::Host,
        related: None,
        tcp_type: None,
    }
}

impl Net {
    /// Both agents with their host candidate and each other's candidate and credentials.
    fn new(our_role: Role, str0m_controlling: bool, str0m_tie_breaker: u64) -> Net {
        #[allow(clippy::disallowed_methods)]
        let start = Instant::now();
        let mut str0m = is::IceAgent::new(IceCreds {
            ufrag: STR0M_UFRAG.into(),
            pass: STR0M_PWD.into(),
        });
        str0m.set_controlling(str0m_controlling);
        str0m.set_control_tie_breaker(str0m_tie_breaker);
        let mut n = Net {
            start,
            now: start,
            ours: IceAgent::new(Config::new(our_role), SEED),
            str0m,
            wire: Vec::new(),
            seq: 0,
            stalled: 0,
            our_events: Vec::new(),
            str0m_events: Vec::new(),
            our_data: Vec::new(),
            our_data_dropped: Vec::new(),
            str0m_data: Vec::new(),
            from_str0m: Vec::new(),
            from_ours: Vec::new(),
        };
        let (u, p) = n.ours.local_credentials();
        let ours_creds = IceCreds {
            ufrag: u.to_owned(),
            pass: p.to_owned(),
        };
        n.str0m.set_remote_credentials(ours_creds);

        n.ours.add_local_host(1, addr(OURS)).unwrap();
        n.drain_ours();
        n.ours.gather(start);
        n.drain_ours();
        let theirs = n
            .str0m
            .add_local_candidate(is::Candidate::host(addr(THEIRS), "udp").unwrap())
            .unwrap()
            .clone();
        n.ours
            .set_remote_credentials(start, STR0M_UFRAG, STR0M_PWD)
            .unwrap();
        n.drain_ours();
        n.ours
            .add_remote_candidate(start, to_ours(&theirs))
            .unwrap();
        n.drain_ours();
        n.str0m.handle_timeout(start);
        n.drain_str0m();
        n
    }

    fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    fn push(&mut self, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        self.seq += 1;
        self.wire.push(Packet {
            at: self.now + LATENCY,
            seq: self.seq,
            from,
            to,
            data,
        });
    }

    /// The drain rule: datagrams until none, then events. Our local candidates go to str0m
    /// as they come (trickle).
    fn drain_ours(&mut self) {
        let mut out = Vec::new();
        while let Some(t) = self.ours.poll_transmit() {
            out.push((t.local, t.remote, t.data.to_vec()));
        }
        for (from, to, data) in out {
            self.push(from, to, data);
        }
        let at = self.elapsed();
        while let Some(e) = self.ours.poll_event() {
            if let Event::LocalCandidate(c) = &e {
                self.str0m.add_remote_candidate(to_str0m(c));
            }
            self.our_events.push((at, e));
        }
    }

    fn drain_str0m(&mut self) {
        while let Some(t) = self.str0m.poll_transmit() {
            assert_eq!(t.proto, is::Protocol::Udp);
            let data: Vec<u8> = t.contents.into();
            self.push(t.source, t.destination, data);
        }
        let at = self.elapsed();
        while let Some(e) = self.str0m.poll_event() {
            self.str0m_events.push((at, e));
        }
    }

    fn deliver(&mut self, p: Packet) {
        if p.to == addr(OURS) {
            self.deliver_to_ours(p);
        } else if p.to == addr(THEIRS) {
            self.deliver_to_str0m(p);
        } else {
            panic!("datagram to nowhere: {} -> {}", p.from, p.to);
        }
    }

    fn deliver_to_ours(&mut self, p: Packet) {
        let now = self.now;
        let at = self.elapsed();
        let our_role = self.ours.role();
        // What str0m sent, read with our codec before our agent sees it.
        let seen = if p.data.first().is_some_and(|b| *b < 4) {
            let m = Message::decode(&p.data).unwrap();
            Some(FromStr0m {
                at,
                class: m.class(),
                attrs: m.raw_attributes().map(|a| a.attr_type).collect(),
                use_candidate: m.use_candidate(),
                ice_controlling: m.ice_controlling(),
                ice_controlled: m.ice_controlled(),
                error: m.error_code().map(|e| e.code),
                fingerprint: m.fingerprint() == Fingerprint::Ok,
                our_role,
                dropped: None,
            })
        } else {
            None
        };
        let d = Datagram {
            local: p.to,
            remote: p.from,
            protocol: Protocol::Udp,
            data: &p.data,
        };
        match self.ours.handle_receive(now, d) {
            Received::Data { component, data } => {
                assert_eq!(component, 1);
                self.our_data.push((p.from, p.to, data.to_vec()));
            }
            Received::Stun => self.from_str0m.push(seen.unwrap()),
            Received::Dropped(why) => match seen {
                Some(mut s) => {
                    s.dropped = Some(why);
                    self.from_str0m.push(s);
                }
                None => self.our_data_dropped.push((at, why)),
            },
        }
        self.drain_ours();
    }

    fn deliver_to_str0m(&mut self, p: Packet) {
        let now = self.now;
        let at = self.elapsed();
        if p.data.first().is_some_and(|b| *b < 4) {
            let m = Message::decode(&p.data).unwrap();
            let accepted = match is::stun::StunMessage::parse(&p.data) {
                Ok(message) => self.str0m.handle_packet(
                    now,
                    is::stun::StunPacket {
                        proto: is::Protocol::Udp,
                        source: p.from,
                        destination: p.to,
                        message,
                    },
                ),
                Err(_) => false,
            };
            self.from_ours.push(FromOurs {
                at,
                class: m.class(),
                use_candidate: m.use_candidate(),
                error: m.error_code().map(|e| e.code),
                xor_mapped: m.mapped_address(),
                accepted,
            });
        } else {
            let viable = self.str0m.has_viable_remote_candidate(p.from);
            self.str0m_data.push(((p.from, p.to, p.data), viable));
        }
        self.drain_str0m();
    }

    /// Moves time to the next deadline (ours, str0m's or a datagram's), delivers what is due
    /// and runs the timers that are due.
    fn step(&mut self) {
        let next = [
            self.ours.poll_timeout(),
            self.str0m.poll_timeout(),
            self.wire.iter().map(|p| p.at).min(),
        ]
        .into_iter()
        .flatten()
        .min()
        .expect("str0m always has a deadline once started");
        if next > self.now {
            self.now = next;
            self.stalled = 0;
        } else {
            self.stalled += 1;
            assert!(
                self.stalled < 1000,
                "time stuck at {:?}: ours wants {:?}, str0m {:?}",
                self.elapsed(),
                self.ours.poll_timeout().map(|t| t - self.start),
                self.str0m.poll_timeout().map(|t| t - self.start)
            );
        }
        let now = self.now;
        let mut due: Vec<Packet> = Vec::new();
        let mut i = 0;
        while i < self.wire.len() {
            if self.wire[i].at <= now {
                due.push(self.wire.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|p| (p.at, p.seq));
        for p in due {
            self.deliver(p);
        }
        if self.ours.poll_timeout().is_some_and(|t| t <= now) {
            self.ours.handle_timeout(now);
            self.drain_ours();
        }
        if self.str0m.poll_timeout().is_some_and(|t| t <= now) {
            self.str0m.handle_timeout(now);
            self.drain_str0m();
        }
    }

    /// Steps until `done`, failing after `limit` of virtual time; returns the time taken.
    fn run_until(&mut self, limit: Duration, done: impl Fn(&Net) -> bool) -> Duration {
        while !done(self) {
            assert!(
                self.elapsed() < limit,
                "not done after {limit:?}: ours {:?} ({:?}), str0m {:?} (controlling {})\n\
                 our events {:#?}\nstr0m events {:#?}\nfrom str0m {:#?}\nfrom ours {:#?}",
                self.ours.state(),
                self.ours.role(),
                self.str0m.state(),
                self.str0m.controlling(),
                self.our_events,
                self.str0m_events,
                self.from_str0m,
                self.from_ours,
            );
            self.step();
        }
        self.elapsed()
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.step();
        }
    }

    fn str0m_connected(&self) -> bool {
        self.str0m.state().is_connected()
    }

    /// The 5-tuple str0m sends on: its latest `NominatedSend`.
    fn str0m_nominated(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.str0m_events.iter().rev().find_map(|(_, e)| match e {
            IceAgentEvent::NominatedSend {
                source,
                destination,
                ..
            } => Some((*source, *destination)),
            _ => None,
        })
    }

    fn str0m_nominations(&self) -> usize {
        self.str0m_events
            .iter()
            .filter(|(_, e)| matches!(e, IceAgentEvent::NominatedSend { .. }))
            .count()
    }

    /// Both sides done: ours Completed, str0m connected and sending on a nominated 5-tuple.
    fn connected(&self) -> bool {
        self.ours.state() == State::Completed
            && self.str0m_connected()
            && self.str0m_nominated().is_some()
    }

    fn our_role_changes(&self) -> Vec<Role> {
        self.our_events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::RoleChanged(r) => Some(*r),
                _ => None,
            })
            .collect()
    }

    fn our_state_changes(&self) -> Vec<(Duration, State)> {
        self.our_events
            .iter()
            .filter_map(|(t, e)| match e {
                Event::StateChanged(s) => Some((*t, *s)),
                _ => None,
            })
            .collect()
    }

    /// Our selected pair is nominated, on host candidates, over the one 5-tuple; str0m sends
    /// on the same 5-tuple.
    fn assert_same_nominated_5_tuple(&self) {
        let sel = self.ours.selected_pair(1).unwrap();
        assert!(sel.nominated);
        assert_eq!((sel.base, sel.remote.addr), (addr(OURS), addr(THEIRS)));
        // str0m's XOR-MAPPED-ADDRESS named our host candidate: no peer-reflexive local.
        assert_eq!(sel.local.kind, CandidateKind::Host);
        assert_eq!(sel.remote.kind, CandidateKind::Host);
        assert_eq!(
            self.str0m_nominated(),
            Some((addr(THEIRS), addr(OURS))),
            "str0m sends on the same 5-tuple"
        );
    }

    /// Every message of ours that str0m received was accepted, every success answer told it
    /// its own host address, and str0m learned no peer-reflexive candidate on either side.
    fn assert_str0m_took_all_of_ours(&self) {
        assert!(!self.from_ours.is_empty());
        for m in &self.from_ours {
            // str0m ignores Binding indications (`accepts_message` is false for them).
            if m.class == Class::Indication {
                continue;
            }
            assert!(m.accepted, "str0m refused {m:?}");
            if m.class == Class::Success {
                assert_eq!(m.xor_mapped, Some(addr(THEIRS)), "{m:?}");
            }
        }
        assert!(
            self.from_ours.iter().any(|m| m.class == Class::Success),
            "we answered str0m"
        );
        let locals: Vec<_> = self.str0m.local_candidates().collect();
        assert_eq!(locals.len(), 1, "{locals:?}");
        assert_eq!(locals[0].kind(), is::CandidateKind::Host);
        let remotes: Vec<_> = self.str0m.remote_candidates().collect();
        assert_eq!(remotes.len(), 1, "{remotes:?}");
        assert_eq!(remotes[0].addr(), addr(OURS));
        assert!(self.str0m.has_viable_remote_candidate(addr(OURS)));
        assert_eq!(self.ours.remote_candidates().len(), 1);
    }

    /// str0m's messages all carry a good FINGERPRINT, last, after MESSAGE-INTEGRITY.
    fn assert_str0m_messages_well_formed(&self) {
        assert!(!self.from_str0m.is_empty());
        for m in &self.from_str0m {
            assert!(m.fingerprint, "{m:?}");
            let n = m.attrs.len();
            assert!(n >= 2, "{m:?}");
            assert_eq!(
                &m.attrs[n - 2..],
                &[AttributeType::MESSAGE_INTEGRITY, AttributeType::FINGERPRINT],
                "{m:?}"
            );
        }
    }

    /// One datagram each way over the selected 5-tuples.
    fn exchange_data(&mut self) {
        let (our_data, str0m_data) = (self.our_data.len(), self.str0m_data.len());
        let now = self.now;
        let t = self.ours.send(now, 1, b"from ours").unwrap();
        let (local, remote, bytes) = (t.local, t.remote, t.data.to_vec());
        assert_eq!((local, remote), (addr(OURS), addr(THEIRS)));
        self.push(local, remote, bytes);
        // str0m's application sends from the 5-tuple of its latest NominatedSend.
        let (source, destination) = self.str0m_nominated().unwrap();
        self.push(source, destination, b"from str0m".to_vec());
        self.run_until(Duration::from_secs(300), |n| {
            n.our_data.len() > our_data && n.str0m_data.len() > str0m_data
        });
        assert_eq!(
            self.our_data[our_data..],
            [(addr(THEIRS), addr(OURS), b"from str0m".to_vec())]
        );
        assert_eq!(
            self.str0m_data[str0m_data..],
            [((addr(OURS), addr(THEIRS), b"from ours".to_vec()), true)]
        );
        assert_eq!(self.our_data_dropped, vec![], "data from str0m dropped");
    }
}

/// Our tie-breaker (from `SEED`), to place str0m's on either side of it.
fn our_tie_breaker() -> u64 {
    IceAgent::new(Config::default(), SEED).tie_breaker()
}

/// A str0m tie-breaker smaller than ours.
fn smaller() -> u64 {
    our_tie_breaker().checked_sub(1).unwrap()
}

/// A str0m tie-breaker larger than ours.
fn larger() -> u64 {
    our_tie_breaker().checked_add(1).unwrap()
}

/// See the file's doc: a session with ours controlling, then str0m flipped to
/// controlling, so that its next check on the nominated pair carries USE-CANDIDATE and
/// ICE-CONTROLLING while we are controlling.
fn flip_str0m_to_controlling(str0m_tie_breaker: u64) -> (Net, FromStr0m) {
    let mut n = Net::new(Role::Controlling, false, str0m_tie_breaker);
    n.run_until(Duration::from_secs(10), Net::connected);
    n.assert_same_nominated_5_tuple();
    assert!(n.from_str0m.iter().all(|m| !m.use_candidate));
    let before = n.from_str0m.len();
    n.str0m.set_controlling(true);
    n.run_until(Duration::from_secs(20), |n| {
        n.from_str0m[before..].iter().any(|m| m.use_candidate)
    });
    let m = n.from_str0m[before..]
        .iter()
        .find(|m| m.use_candidate)
        .cloned()
        .unwrap();
    assert_eq!(m.class, Class::Request);
    assert_eq!(
        m.our_role,
        Role::Controlling,
        "arrived while we were controlling"
    );
    assert_eq!(
        (m.ice_controlling, m.ice_controlled),
        (Some(str0m_tie_breaker), None)
    );
    (n, m)
}

mod consent;
mod role_conflicts;
mod sessions;
