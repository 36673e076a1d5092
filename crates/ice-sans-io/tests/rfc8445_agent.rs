//! One agent against hand-built STUN messages: each test names the RFC section it checks.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_sans_io::stun::{
    Attribute, AttributeType, Class, Fingerprint, Integrity, IntegrityKey, Message, MessageBuilder,
    Method, TransactionId,
};
use ice_sans_io::{
    Candidate, CandidateError, CandidateKind, Config, Datagram, Event, IceAgent, Protocol,
    Received, Role, State,
};

const LOCAL: &str = "192.0.2.1:4000";
const PEER: &str = "198.51.100.7:5000";
const PEER_UFRAG: &str = "peer";
const PEER_PWD: &str = "peerpasswordpeerpassword";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn t0() -> Instant {
    #[allow(clippy::disallowed_methods)]
    Instant::now()
}

struct Rig {
    agent: IceAgent,
    now: Instant,
    sent: Vec<(SocketAddr, SocketAddr, Vec<u8>, Duration)>,
    events: Vec<Event>,
    start: Instant,
}

impl Rig {
    fn new(config: Config) -> Rig {
        let mut agent = IceAgent::new(config, [7; 32]);
        agent.add_local_host(1, addr(LOCAL)).unwrap();
        let now = t0();
        agent.gather(now);
        let mut r = Rig {
            agent,
            now,
            sent: Vec::new(),
            events: Vec::new(),
            start: now,
        };
        r.drain();
        r
    }

    fn with_peer(role: Role) -> Rig {
        let mut r = Rig::new(Config::new(role));
        let now = r.now;
        r.agent
            .set_remote_credentials(now, PEER_UFRAG, PEER_PWD)
            .unwrap();
        r.drain();
        r
    }

    /// Controlling, with the peer's credentials and one host candidate (`PEER`), its first
    /// check sent.
    fn checking_one_pair() -> Rig {
        let mut rig = Rig::with_peer(Role::Controlling);
        let now = rig.now;
        rig.agent
            .add_remote_candidate(now, peer_candidate(PEER, 2_130_706_431))
            .unwrap();
        rig.drain();
        rig.advance(Duration::from_millis(1));
        rig
    }

    fn drain(&mut self) {
        while let Some(t) = self.agent.poll_transmit() {
            assert_eq!(t.protocol, Protocol::Udp);
            let at = self.now - self.start;
            self.sent.push((t.local, t.remote, t.data.to_vec(), at));
        }
        while let Some(e) = self.agent.poll_event() {
            self.events.push(e);
        }
    }

    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.agent.poll_timeout() {
            if t > end {
                break;
            }
            self.now = self.now.max(t);
            self.agent.handle_timeout(self.now);
            self.drain();
        }
        self.now = end;
        self.agent.handle_timeout(self.now);
        self.drain();
    }

    fn receive(&mut self, from: SocketAddr, data: &[u8]) -> String {
        let r = self.agent.handle_receive(
            self.now,
            Datagram {
                local: addr(LOCAL),
                remote: from,
                protocol: Protocol::Udp,
                data,
            },
        );
        let s = format!("{r:?}");
        self.drain();
        s
    }

    fn take_sent(&mut self) -> Vec<(SocketAddr, SocketAddr, Vec<u8>, Duration)> {
        std::mem::take(&mut self.sent)
    }

    fn our_key(&self) -> IntegrityKey {
        IntegrityKey::short_term(self.agent.local_credentials().1)
    }

    fn our_ufrag(&self) -> String {
        self.agent.local_credentials().0.to_owned()
    }
}

/// A Binding request as the peer would send it; `edit` adds attributes before integrity.
fn request(
    tid: u8,
    username: Option<&str>,
    key: Option<&IntegrityKey>,
    edit: impl FnOnce(&mut MessageBuilder<'_>),
) -> Vec<u8> {
    let mut buf = [0u8; 512];
    let mut b = MessageBuilder::new(
        &mut buf,
        Class::Request,
        Method::BINDING,
        TransactionId::new([tid; 12]),
    )
    .unwrap();
    if let Some(u) = username {
        b.add(&Attribute::Username(u)).unwrap();
    }
    edit(&mut b);
    if let Some(k) = key {
        b.add_integrity(k).unwrap();
    }
    b.add_fingerprint().unwrap();
    let n = b.finish();
    buf[..n].to_vec()
}

fn check(rig: &Rig, tid: u8, edit: impl FnOnce(&mut MessageBuilder<'_>)) -> Vec<u8> {
    let username = format!("{}:{PEER_UFRAG}", rig.our_ufrag());
    request(tid, Some(&username), Some(&rig.our_key()), edit)
}

fn controlled_check(rig: &Rig, tid: u8) -> Vec<u8> {
    check(rig, tid, |b| {
        b.add(&Attribute::Priority(1_862_270_975)).unwrap();
        b.add(&Attribute::IceControlled(1)).unwrap();
    })
}

fn controlling_check(rig: &Rig, tid: u8, tie: u64, use_candidate: bool) -> Vec<u8> {
    check(rig, tid, |b| {
        b.add(&Attribute::Priority(1_862_270_975)).unwrap();
        b.add(&Attribute::IceControlling(tie)).unwrap();
        if use_candidate {
            b.add(&Attribute::UseCandidate).unwrap();
        }
    })
}

/// The single reply to a request with transaction id `[tid; 12]`.
fn reply(sent: &[(SocketAddr, SocketAddr, Vec<u8>, Duration)], tid: u8) -> Message<'_> {
    let mut it = sent.iter().filter_map(|(_, _, d, _)| {
        let m = Message::decode(d).unwrap();
        (m.transaction_id() == TransactionId::new([tid; 12])).then_some(m)
    });
    let m = it.next().expect("a reply");
    assert!(it.next().is_none(), "one reply");
    assert!(m.fingerprint().is_ok());
    m
}

fn requests(sent: &[(SocketAddr, SocketAddr, Vec<u8>, Duration)]) -> Vec<Message<'_>> {
    sent.iter()
        .map(|(_, _, d, _)| Message::decode(d).unwrap())
        .filter(|m| m.class() == Class::Request)
        .collect()
}

fn peer_candidate(a: &str, prio: u32) -> Candidate {
    let mut c = Candidate::host(1, addr(a), "7");
    c.priority = prio;
    c
}

#[test]
fn rfc8445_7_3_1_2_success_carries_xor_mapped_address_signed_with_our_password() {
    let mut rig = Rig::with_peer(Role::Controlling);
    rig.take_sent();
    let req = controlled_check(&rig, 1);
    assert_eq!(rig.receive(addr(PEER), &req), "Stun");
    let sent = rig.take_sent();
    let (from, to, ..) = sent[0];
    assert_eq!((from, to), (addr(LOCAL), addr(PEER)));
    let m = reply(&sent, 1);
    assert_eq!(m.class(), Class::Success);
    assert_eq!(
        m.get(AttributeType::XOR_MAPPED_ADDRESS),
        Some(Attribute::XorMappedAddress(addr(PEER)))
    );
    assert_eq!(m.verify_integrity(&rig.our_key()), Integrity::Ok);
    assert_eq!(rig.agent.stats().checks_received, 1);
}

#[test]
fn rfc8489_9_1_3_missing_username_or_integrity_is_400() {
    let mut rig = Rig::with_peer(Role::Controlling);
    rig.take_sent();
    let key = rig.our_key();
    for (tid, req) in [
        (
            1,
            request(1, None, Some(&key), |b| {
                b.add(&Attribute::Priority(1)).unwrap()
            }),
        ),
        (
            2,
            request(
                2,
                Some(&format!("{}:{PEER_UFRAG}", rig.our_ufrag())),
                None,
                |_| {},
            ),
        ),
    ] {
        assert!(rig.receive(addr(PEER), &req).contains("Refused"));
        let sent = rig.take_sent();
        let m = reply(&sent, tid);
        assert_eq!(m.class(), Class::Error);
        assert_eq!(m.error_code().unwrap().code, 400);
    }
}

#[test]
fn rfc8489_9_1_3_wrong_username_or_password_is_401_unsigned() {
    let mut rig = Rig::with_peer(Role::Controlling);
    rig.take_sent();
    let wrong_user = request(1, Some("nobody:peer"), Some(&rig.our_key()), |b| {
        b.add(&Attribute::Priority(1)).unwrap();
        b.add(&Attribute::IceControlled(1)).unwrap();
    });
    let wrong_key = request(
        2,
        Some(&format!("{}:{PEER_UFRAG}", rig.our_ufrag())),
        Some(&IntegrityKey::short_term("not-the-password-at-all")),
        |b| {
            b.add(&Attribute::Priority(1)).unwrap();
            b.add(&Attribute::IceControlled(1)).unwrap();
        },
    );
    for (tid, req) in [(1, wrong_user), (2, wrong_key)] {
        assert!(rig.receive(addr(PEER), &req).contains("Unauthenticated"));
        let sent = rig.take_sent();
        let m = reply(&sent, tid);
        assert_eq!(m.error_code().unwrap().code, 401);
        assert!(!m.has_integrity());
    }
    assert_eq!(rig.agent.stats().dropped_unauthenticated, 2);
    assert_eq!(rig.agent.stats().checks_received, 0);
}

#[test]
fn rfc8489_6_3_1_unknown_comprehension_required_attribute_is_420_with_the_list() {
    let mut rig = Rig::with_peer(Role::Controlling);
    rig.take_sent();
    let req = check(&rig, 3, |b| {
        b.add(&Attribute::Priority(1)).unwrap();
        b.add(&Attribute::IceControlled(1)).unwrap();
        b.add(&Attribute::Other {
            attr_type: AttributeType(0x7f01),
            value: &[1, 2, 3, 4],
        })
        .unwrap();
    });
    rig.receive(addr(PEER), &req);
    let sent = rig.take_sent();
    let m = reply(&sent, 3);
    assert_eq!(m.error_code().unwrap().code, 420);
    let unknown: Vec<_> = m.unknown_attributes().unwrap().iter().collect();
    assert_eq!(unknown, vec![AttributeType(0x7f01)]);
    assert_eq!(m.verify_integrity(&rig.our_key()), Integrity::Ok);
}

#[test]
fn rfc8445_7_1_1_a_check_without_priority_or_role_is_400() {
    let mut rig = Rig::with_peer(Role::Controlling);
    rig.take_sent();
    let no_priority = check(&rig, 4, |b| b.add(&Attribute::IceControlled(1)).unwrap());
    let no_role = check(&rig, 5, |b| b.add(&Attribute::Priority(1)).unwrap());
    for (tid, req) in [(4, no_priority), (5, no_role)] {
        rig.receive(addr(PEER), &req);
        let sent = rig.take_sent();
        assert_eq!(reply(&sent, tid).error_code().unwrap().code, 400);
    }
}

#[test]
fn rfc8489_6_3_a_malformed_binding_request_gets_400_and_garbage_is_counted() {
    let mut rig = Rig::with_peer(Role::Controlling);
    rig.take_sent();
    let mut req = controlled_check(&rig, 6);
    req.truncate(req.len() - 4); // length field no longer matches
    assert!(rig.receive(addr(PEER), &req).contains("Malformed"));
    let sent = rig.take_sent();
    let m = reply(&sent, 6);
    assert_eq!(m.error_code().unwrap().code, 400);
    // RFC 7983: not STUN, from no valid pair: dropped.
    assert_eq!(
        rig.receive(addr(PEER), &[0x80, 1, 2, 3]),
        "Dropped(UnknownPeer)"
    );
    assert_eq!(rig.receive(addr(PEER), &[]), "Dropped(Malformed)");
    assert_eq!(rig.agent.stats().dropped_malformed, 2);
    assert_eq!(rig.agent.stats().dropped_unknown_address, 1);
}

#[test]
fn rfc8445_7_3_1_1_role_conflict_when_both_controlling() {
    // Our tie-breaker from seed [7; 32]; the peer's either side of it.
    let mut rig = Rig::with_peer(Role::Controlling);
    let ours = rig.agent.tie_breaker();
    rig.take_sent();
    // Ours is larger or equal: 487, we stay controlling.
    let req = controlling_check(&rig, 8, ours, false);
    rig.receive(addr(PEER), &req);
    let sent = rig.take_sent();
    assert_eq!(reply(&sent, 8).error_code().unwrap().code, 487);
    assert_eq!(rig.agent.role(), Role::Controlling);
    // Theirs is larger: we switch to controlled and answer.
    let req = controlling_check(&rig, 9, ours.saturating_add(1), false);
    rig.receive(addr(PEER), &req);
    let sent = rig.take_sent();
    assert_eq!(reply(&sent, 9).class(), Class::Success);
    assert_eq!(rig.agent.role(), Role::Controlled);
    assert!(rig.events.contains(&Event::RoleChanged(Role::Controlled)));
}

#[test]
fn rfc8445_7_3_1_1_role_conflict_when_both_controlled() {
    let mut rig = Rig::with_peer(Role::Controlled);
    let ours = rig.agent.tie_breaker();
    rig.take_sent();
    let smaller = check(&rig, 10, |b| {
        b.add(&Attribute::Priority(1)).unwrap();
        b.add(&Attribute::IceControlled(ours - 1)).unwrap();
    });
    rig.receive(addr(PEER), &smaller);
    let sent = rig.take_sent();
    // Ours is larger: we switch to controlling and answer.
    assert_eq!(reply(&sent, 10).class(), Class::Success);
    assert_eq!(rig.agent.role(), Role::Controlling);

    let mut rig = Rig::with_peer(Role::Controlled);
    rig.take_sent();
    let larger = check(&rig, 11, |b| {
        b.add(&Attribute::Priority(1)).unwrap();
        b.add(&Attribute::IceControlled(u64::MAX)).unwrap();
    });
    rig.receive(addr(PEER), &larger);
    let sent = rig.take_sent();
    assert_eq!(reply(&sent, 11).error_code().unwrap().code, 487);
    assert_eq!(rig.agent.role(), Role::Controlled);
}

/// Answers every request the agent sent with success or the error `code`, from the address
/// it went to, signed with the peer's password; returns how many.
/// A Binding success response with XOR-MAPPED-ADDRESS `mapped`, signed with `key` if given,
/// with FINGERPRINT unless `fingerprint` is false.
fn success(
    tid: TransactionId,
    mapped: SocketAddr,
    key: Option<&IntegrityKey>,
    fingerprint: bool,
) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let mut b = MessageBuilder::new(&mut buf, Class::Success, Method::BINDING, tid).unwrap();
    b.add(&Attribute::XorMappedAddress(mapped)).unwrap();
    if let Some(k) = key {
        b.add_integrity(k).unwrap();
    }
    if fingerprint {
        b.add_fingerprint().unwrap();
    }
    let n = b.finish();
    buf[..n].to_vec()
}

fn answer_all(rig: &mut Rig, error: Option<u16>) -> usize {
    answer_with(rig, |_, from| error.map_or(Ok(from), Err))
}

/// Answers every request the agent sent, from the address it went to, signed with the peer's
/// password: `reply(index, from)` gives the XOR-MAPPED-ADDRESS of a success or the code of an
/// error. Returns how many were answered.
fn answer_with(
    rig: &mut Rig,
    reply: impl Fn(usize, SocketAddr) -> Result<SocketAddr, u16>,
) -> usize {
    let sent = rig.take_sent();
    let key = IntegrityKey::short_term(PEER_PWD);
    let mut n = 0;
    for (i, (from, to, data, _)) in sent.iter().enumerate() {
        let m = Message::decode(data).unwrap();
        if m.class() != Class::Request {
            continue;
        }
        let answer = match reply(i, *from) {
            Ok(mapped) => success(m.transaction_id(), mapped, Some(&key), true),
            Err(code) => {
                let mut buf = [0u8; 256];
                let mut b = MessageBuilder::new(
                    &mut buf,
                    Class::Error,
                    Method::BINDING,
                    m.transaction_id(),
                )
                .unwrap();
                let reason = "x";
                b.add(&Attribute::ErrorCode(ice_sans_io::stun::ErrorCode {
                    code,
                    reason,
                }))
                .unwrap();
                b.add_integrity(&key).unwrap();
                b.add_fingerprint().unwrap();
                let len = b.finish();
                buf[..len].to_vec()
            }
        };
        rig.receive(*to, &answer);
        n += 1;
    }
    n
}

#[test]
fn rfc8445_7_2_5_1_a_487_received_switches_role_and_checks_again() {
    let mut rig = Rig::checking_one_pair();
    assert_eq!(answer_all(&mut rig, Some(487)), 1);
    assert_eq!(rig.agent.role(), Role::Controlled);
    rig.advance(Duration::from_millis(60));
    let sent = rig.take_sent();
    let reqs = requests(&sent);
    assert_eq!(reqs.len(), 1, "the pair is checked again");
    assert!(reqs[0].ice_controlled().is_some());
    assert!(!reqs[0].use_candidate());
}

#[test]
fn xep0371_5_6_checks_carry_username_priority_role_integrity_and_fingerprint() {
    let mut rig = Rig::checking_one_pair();
    let sent = rig.take_sent();
    let reqs = requests(&sent);
    assert_eq!(reqs.len(), 1);
    let m = &reqs[0];
    // XEP-0371 §5.6 footnote 33 / RFC 8445 §7.2.2: "peer-ufrag:own-ufrag", the peer's password.
    assert_eq!(
        m.username(),
        Some(format!("{PEER_UFRAG}:{}", rig.our_ufrag()).as_str())
    );
    assert_eq!(
        m.verify_integrity(&IntegrityKey::short_term(PEER_PWD)),
        Integrity::Ok
    );
    assert_eq!(m.fingerprint(), Fingerprint::Ok);
    // RFC 8445 §7.1.1: PRIORITY as a peer-reflexive candidate (type preference 110).
    assert_eq!(m.priority().unwrap() >> 24, 110);
    assert_eq!(m.ice_controlling(), Some(rig.agent.tie_breaker()));
    assert!(
        !m.use_candidate(),
        "regular nomination: not on the first check"
    );
}

#[test]
fn rfc8445_8_1_1_controlling_nominates_once_with_use_candidate() {
    let mut rig = Rig::checking_one_pair();
    answer_all(&mut rig, None);
    assert_eq!(rig.agent.state(), State::Connected);
    rig.advance(Duration::from_millis(1));
    let sent = rig.take_sent();
    let reqs = requests(&sent);
    assert_eq!(reqs.len(), 1);
    assert!(reqs[0].use_candidate());
    // Answer the nomination.
    rig.sent = sent;
    answer_all(&mut rig, None);
    assert_eq!(rig.agent.state(), State::Completed);
    assert!(rig.agent.selected_pair(1).unwrap().nominated);
    // No further nomination.
    rig.advance(Duration::from_secs(2));
    assert!(
        requests(&rig.take_sent())
            .iter()
            .all(|m| !m.use_candidate())
    );
}

#[test]
fn rfc8445_7_1_2_controlled_never_sends_use_candidate() {
    let mut rig = Rig::with_peer(Role::Controlled);
    let now = rig.now;
    for i in 0..4u16 {
        let a = SocketAddr::new(addr(PEER).ip(), 5000 + i);
        let mut c = peer_candidate(&a.to_string(), 2_000_000_000 + u32::from(i));
        c.foundation = format!("f{i}");
        rig.agent.add_remote_candidate(now, c).unwrap();
    }
    rig.drain();
    let mut all = Vec::new();
    for _ in 0..40 {
        rig.advance(Duration::from_millis(50));
        all.extend(rig.take_sent());
    }
    let reqs = requests(&all);
    assert!(reqs.len() >= 4);
    assert!(
        reqs.iter()
            .all(|m| !m.use_candidate() && m.ice_controlled().is_some())
    );
}

#[test]
fn rfc8445_7_3_1_5_controlled_takes_the_nomination_and_an_aggressive_peer_is_accepted() {
    let mut rig = Rig::with_peer(Role::Controlled);
    let now = rig.now;
    let (p1, p2) = ("198.51.100.7:5000", "198.51.100.7:5001");
    rig.agent
        .add_remote_candidate(now, peer_candidate(p1, 2_130_706_431))
        .unwrap();
    rig.agent
        .add_remote_candidate(now, peer_candidate(p2, 2_130_706_175))
        .unwrap();
    rig.drain();
    // RFC 5245 aggressive nomination: USE-CANDIDATE on every check, from both addresses.
    let low = controlling_check(&rig, 20, 1, true);
    rig.receive(addr(p2), &low);
    let high = controlling_check(&rig, 21, 1, true);
    rig.receive(addr(p1), &high);
    // Our own (triggered) checks succeed: both pairs nominated; the higher one is selected.
    for _ in 0..4 {
        rig.advance(Duration::from_millis(50));
        answer_all(&mut rig, None);
    }
    assert_eq!(rig.agent.state(), State::Completed);
    let sel = rig.agent.selected_pair(1).unwrap();
    assert!(sel.nominated);
    assert_eq!(sel.remote.addr, addr(p1));
}

#[test]
fn controlling_ignores_use_candidate_from_the_peer() {
    let mut rig = Rig::with_peer(Role::Controlling);
    rig.take_sent();
    // A controlled peer (wrongly) sends USE-CANDIDATE: answered normally, not a nomination.
    let req = check(&rig, 30, |b| {
        b.add(&Attribute::Priority(1)).unwrap();
        b.add(&Attribute::IceControlled(1)).unwrap();
        b.add(&Attribute::UseCandidate).unwrap();
    });
    rig.receive(addr(PEER), &req);
    let sent = rig.take_sent();
    assert_eq!(reply(&sent, 30).class(), Class::Success);
    rig.advance(Duration::from_millis(60));
    answer_all(&mut rig, None);
    // Connected through our own check, not Completed: nothing nominated yet.
    assert_eq!(rig.agent.state(), State::Connected);
    assert!(!rig.agent.selected_pair(1).unwrap().nominated);
}

#[test]
fn rfc8445_7_3_1_checks_before_the_credentials_are_remembered() {
    let mut rig = Rig::new(Config::new(Role::Controlled));
    // The peer's check arrives before its credentials (trickle, RFC 8838 §7).
    let req = controlling_check(&rig, 40, 1, false);
    rig.receive(addr(PEER), &req);
    let sent = rig.take_sent();
    assert_eq!(reply(&sent, 40).class(), Class::Success);
    assert!(rig.agent.remote_candidates().is_empty());
    let now = rig.now;
    rig.agent
        .set_remote_credentials(now, PEER_UFRAG, PEER_PWD)
        .unwrap();
    rig.drain();
    // RFC 8445 §7.3.1.3: a peer-reflexive remote candidate with the PRIORITY of the check.
    let r = rig.agent.remote_candidates();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].kind, CandidateKind::PeerReflexive);
    assert_eq!(r[0].priority, 1_862_270_975);
    // §7.3.1.4: a triggered check to it.
    rig.advance(Duration::from_millis(1));
    let sent = rig.take_sent();
    let reqs = requests(&sent);
    assert_eq!(reqs.len(), 1);
    assert_eq!(sent[0].1, addr(PEER));
}

#[test]
fn rfc8445_7_3_1_3_a_signalled_candidate_replaces_the_peer_reflexive_one() {
    let mut rig = Rig::with_peer(Role::Controlled);
    let req = controlling_check(&rig, 41, 1, false);
    rig.receive(addr(PEER), &req);
    assert_eq!(
        rig.agent.remote_candidates()[0].kind,
        CandidateKind::PeerReflexive
    );
    let now = rig.now;
    rig.agent
        .add_remote_candidate(now, peer_candidate(PEER, 2_130_706_431))
        .unwrap();
    let r = rig.agent.remote_candidates();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].kind, CandidateKind::Host);
    assert_eq!(r[0].foundation, "7");
}

#[test]
fn rfc8445_14_2_checks_are_paced_by_ta() {
    let mut rig = Rig::with_peer(Role::Controlling);
    let now = rig.now;
    for i in 0..5u16 {
        let a = SocketAddr::new(addr(PEER).ip(), 6000 + i);
        // Distinct foundations so that all are Waiting (RFC 8445 §6.1.2.6).
        let mut c = peer_candidate(&a.to_string(), 2_000_000_000 - u32::from(i));
        c.foundation = format!("f{i}");
        rig.agent.add_remote_candidate(now, c).unwrap();
    }
    rig.drain();
    rig.advance(Duration::from_millis(300));
    let times: Vec<_> = rig.take_sent().iter().map(|s| s.3).collect();
    assert_eq!(times.len(), 5);
    for w in times.windows(2) {
        assert_eq!(w[1] - w[0], Duration::from_millis(50), "{times:?}");
    }
}

#[test]
fn rfc8445_6_1_2_6_pairs_of_one_foundation_wait_frozen_until_one_succeeds() {
    let mut rig = Rig::with_peer(Role::Controlling);
    let now = rig.now;
    for i in 0..3u16 {
        let a = SocketAddr::new(addr(PEER).ip(), 6000 + i);
        rig.agent
            .add_remote_candidate(
                now,
                peer_candidate(&a.to_string(), 2_000_000_000 - u32::from(i)),
            )
            .unwrap();
    }
    rig.drain();
    // One foundation: only the first pair is Waiting; the others stay Frozen while it is in
    // progress (and unfreeze when nothing else is left to do, RFC 8445 §6.1.4.2).
    rig.advance(Duration::from_millis(120));
    let sent = rig.take_sent();
    assert_eq!(
        requests(&sent).len(),
        1,
        "only one pair of the foundation is checked"
    );
    rig.sent = sent;
    answer_all(&mut rig, None);
    // §7.2.5.3.3: its success unfreezes the others.
    rig.advance(Duration::from_millis(120));
    let reqs = rig.take_sent();
    let to: Vec<_> = requests(&reqs).iter().map(|m| m.use_candidate()).collect();
    assert!(to.len() >= 2, "{to:?}");
}

#[test]
fn rfc8445_14_3_retransmissions_double_to_the_cap_then_the_pair_fails() {
    let mut rig = Rig::with_peer(Role::Controlling);
    let now = rig.now;
    rig.agent
        .add_remote_candidate(now, peer_candidate(PEER, 2_130_706_431))
        .unwrap();
    rig.agent.end_of_remote_candidates(now);
    rig.drain();
    rig.advance(Duration::from_secs(20));
    let times: Vec<_> = rig.take_sent().iter().map(|s| s.3.as_millis()).collect();
    // 7 requests: RTO 500 ms doubling, capped at 3 s (Config::max_rto).
    assert_eq!(times, vec![0, 500, 1500, 3500, 6500, 9500, 12500]);
    assert_eq!(rig.agent.state(), State::Failed);
    assert_eq!(rig.agent.stats().retransmissions, 6);
}

#[test]
fn rfc8445_5_1_1_2_server_reflexive_gathering_with_retransmissions() {
    let mut agent = IceAgent::new(Config::default(), [1; 32]);
    agent.add_local_host(1, addr(LOCAL)).unwrap();
    let stun = addr("203.0.113.9:3478");
    agent.add_stun_server(stun);
    let mut rig = Rig {
        agent,
        now: t0(),
        sent: Vec::new(),
        events: Vec::new(),
        start: t0(),
    };
    rig.start = rig.now;
    let now = rig.now;
    rig.agent.gather(now);
    rig.drain();
    assert!(!rig.events.contains(&Event::GatheringComplete));
    // No answer for a while: RFC 8489 §6.2.1 retransmissions at 0, 500, 1500 ms.
    rig.advance(Duration::from_millis(1600));
    let sent = rig.take_sent();
    assert_eq!(
        sent.iter().map(|s| s.3.as_millis()).collect::<Vec<_>>(),
        vec![0, 500, 1500]
    );
    assert!(sent.iter().all(|s| s.1 == stun));
    // The server answers the last one with the NAT's address.
    let m = Message::decode(&sent[2].2).unwrap();
    let mapped = addr("203.0.113.50:61000");
    let answer = success(m.transaction_id(), mapped, None, true);
    let r = rig.agent.handle_receive(
        rig.now,
        Datagram {
            local: addr(LOCAL),
            remote: stun,
            protocol: Protocol::Udp,
            data: &answer,
        },
    );
    assert_eq!(r, Received::Stun);
    rig.drain();
    let srflx = rig
        .events
        .iter()
        .find_map(|e| match e {
            Event::LocalCandidate(c) if c.kind == CandidateKind::ServerReflexive => Some(c.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(srflx.addr, mapped);
    assert_eq!(srflx.related, Some(addr(LOCAL)));
    assert_eq!(
        srflx.priority >> 24,
        100,
        "XEP-0371 §5.3: srflx type preference 100"
    );
    assert_eq!(rig.events.last(), Some(&Event::GatheringComplete));
    // A host candidate's foundation differs from the server-reflexive one (§5.1.1.3).
    let host = rig.agent.local_candidates().next().unwrap().clone();
    assert_ne!(host.foundation, srflx.foundation);
    assert_eq!(host.priority >> 24, 126);
}

#[test]
fn rfc8445_5_1_3_a_server_reflexive_candidate_equal_to_its_host_is_redundant() {
    let mut agent = IceAgent::new(Config::default(), [1; 32]);
    agent.add_local_host(1, addr(LOCAL)).unwrap();
    let stun = addr("203.0.113.9:3478");
    agent.add_stun_server(stun);
    let now = t0();
    agent.gather(now);
    agent.handle_timeout(now);
    let t = agent.poll_transmit().unwrap();
    let m = Message::decode(t.data).unwrap();
    let answer = success(m.transaction_id(), addr(LOCAL), None, false);
    agent.handle_receive(
        now,
        Datagram {
            local: addr(LOCAL),
            remote: stun,
            protocol: Protocol::Udp,
            data: &answer,
        },
    );
    let mut events = Vec::new();
    while let Some(e) = agent.poll_event() {
        events.push(e);
    }
    assert_eq!(
        agent.local_candidates().count(),
        1,
        "no public address: only the host"
    );
    assert!(events.contains(&Event::GatheringComplete));
}

#[test]
fn foundations_follow_rfc8445_5_1_1_3() {
    let mut agent = IceAgent::new(Config::default(), [1; 32]);
    agent.add_local_host(1, addr("192.0.2.1:4000")).unwrap();
    agent.add_local_host(1, addr("192.0.2.1:4001")).unwrap();
    agent.add_local_host(1, addr("192.0.2.2:4000")).unwrap();
    let f: Vec<_> = agent
        .local_candidates()
        .map(|c| c.foundation.clone())
        .collect();
    assert_eq!(f[0], f[1], "same type, base IP and protocol");
    assert_ne!(f[0], f[2]);
    let p: Vec<_> = agent.local_candidates().map(|c| c.priority).collect();
    assert!(
        p[0] > p[1] && p[1] > p[2],
        "unique local preferences: {p:?}"
    );
}

#[test]
fn misuse_is_an_error() {
    let mut agent = IceAgent::new(Config::default(), [1; 32]);
    assert_eq!(
        agent.add_local_host(2, addr(LOCAL)),
        Err(CandidateError::InvalidComponent(2))
    );
    assert!(matches!(
        agent.add_local_host(1, addr("0.0.0.0:1")),
        Err(CandidateError::InvalidAddress(_))
    ));
    let now = t0();
    let mut c = peer_candidate(PEER, 1);
    c.protocol = Protocol::Tcp;
    assert_eq!(
        agent.add_remote_candidate(now, c),
        Err(CandidateError::UnsupportedProtocol(Protocol::Tcp))
    );
    let mut c = peer_candidate(PEER, 1);
    c.foundation = "a b".into();
    assert_eq!(
        agent.add_remote_candidate(now, c),
        Err(CandidateError::InvalidFoundation)
    );
    assert!(agent.set_remote_credentials(now, "a:b", PEER_PWD).is_err());
    assert!(agent.set_remote_credentials(now, PEER_UFRAG, "").is_err());
}

#[test]
fn floods_are_bounded_dropped_and_counted() {
    let mut cfg = Config::new(Role::Controlled);
    cfg.max_remote_candidates = 10;
    cfg.max_peer_reflexive = 3;
    cfg.max_pairs = 8;
    let mut rig = Rig::new(cfg);
    let now = rig.now;
    rig.agent
        .set_remote_credentials(now, PEER_UFRAG, PEER_PWD)
        .unwrap();
    for i in 0..5u16 {
        let a = SocketAddr::new(addr(PEER).ip(), 7000 + i);
        rig.agent
            .add_remote_candidate(now, peer_candidate(&a.to_string(), 1000 + u32::from(i)))
            .unwrap();
    }
    // Checks from 50 unknown addresses: only 3 become peer-reflexive candidates.
    for i in 0..50u16 {
        let from = SocketAddr::new(addr(PEER).ip(), 9000 + i);
        let req = controlling_check(&rig, (i % 200) as u8, 1, false);
        rig.receive(from, &req);
    }
    assert_eq!(rig.agent.remote_candidates().len(), 8);
    assert!(rig.agent.pair_count() <= 8);
    // Signalled candidates beyond the limit.
    let mut refused = 0;
    for i in 0..10u16 {
        let a = SocketAddr::new(addr(PEER).ip(), 8000 + i);
        if rig
            .agent
            .add_remote_candidate(now, peer_candidate(&a.to_string(), 1))
            == Err(CandidateError::Limit)
        {
            refused += 1;
        }
    }
    assert_eq!(refused, 8);
    assert_eq!(rig.agent.remote_candidates().len(), 10);
    let s = rig.agent.stats();
    assert_eq!(s.dropped_candidates, 47 + 8);
    assert!(s.dropped_pairs > 0);
}

#[test]
fn rfc8445_8_1_1_a_nomination_that_times_out_is_retried_then_moves_to_the_next_valid_pair() {
    let mut rig = Rig::with_peer(Role::Controlling);
    let now = rig.now;
    let (p1, p2) = ("198.51.100.7:5000", "198.51.100.8:5000");
    let mut c1 = peer_candidate(p1, 2_130_706_431);
    c1.foundation = "a".into();
    let mut c2 = peer_candidate(p2, 2_130_706_175);
    c2.foundation = "b".into();
    rig.agent.add_remote_candidate(now, c1).unwrap();
    rig.agent.add_remote_candidate(now, c2).unwrap();
    rig.drain();
    // Both pairs are checked and answered.
    rig.advance(Duration::from_millis(60));
    assert_eq!(answer_all(&mut rig, None), 2);
    // The nomination goes to the better pair, and is never answered.
    rig.advance(Duration::from_millis(1));
    let first = rig.take_sent();
    let nomination: Vec<_> = first
        .iter()
        .filter(|(_, _, d, _)| Message::decode(d).unwrap().use_candidate())
        .map(|s| s.1)
        .collect();
    assert_eq!(nomination, vec![addr(p1)]);
    assert_eq!(rig.agent.selected_pair(1).unwrap().remote.addr, addr(p1));
    // The peer may have taken a request whose responses were lost: the same pair is nominated
    // again, three transactions of 7 requests in all (15.5 s each), before giving it up.
    rig.advance(Duration::from_secs(16));
    assert_eq!(rig.agent.selected_pair(1).unwrap().remote.addr, addr(p1));
    let mut all = first.clone();
    all.extend(rig.take_sent());
    rig.advance(Duration::from_secs(32));
    let sent = rig.take_sent();
    all.extend(sent.iter().cloned());
    let to_p1 = all
        .iter()
        .filter(|(_, to, d, _)| *to == addr(p1) && Message::decode(d).unwrap().use_candidate())
        .count();
    assert_eq!(
        to_p1,
        3 * 7,
        "three nomination transactions to the first pair"
    );
    // Then the pair failed: data moves to the other valid pair, which is nominated in turn.
    assert_eq!(rig.agent.selected_pair(1).unwrap().remote.addr, addr(p2));
    let to_p2: Vec<_> = sent
        .iter()
        .filter(|(_, to, d, _)| *to == addr(p2) && Message::decode(d).unwrap().use_candidate())
        .collect();
    assert!(!to_p2.is_empty(), "the second pair is nominated");
    rig.sent = sent;
    answer_all(&mut rig, None);
    assert_eq!(rig.agent.state(), State::Completed);
    assert_eq!(rig.agent.selected_pair(1).unwrap().remote.addr, addr(p2));
}

#[test]
fn rfc8445_9_a_restart_drops_peer_reflexive_local_candidates_and_gathering_keeps_its_hosts() {
    let mut rig = Rig::with_peer(Role::Controlling);
    let now = rig.now;
    rig.agent
        .add_remote_candidate(now, peer_candidate(PEER, 2_130_706_431))
        .unwrap();
    rig.advance(Duration::from_millis(60));
    // The check is answered with an address that is no local candidate: a peer-reflexive
    // local candidate (RFC 8445 §7.2.5.3.1), after the host in the agent's list.
    let sent = rig.take_sent();
    let m = requests(&sent)[0].clone();
    let key = IntegrityKey::short_term(PEER_PWD);
    let answer = success(
        m.transaction_id(),
        addr("203.0.113.1:9999"),
        Some(&key),
        true,
    );
    assert_eq!(rig.receive(addr(PEER), &answer), "Stun");
    // A second host after it, gathering from both, then a restart.
    let second = addr("192.0.2.2:4000");
    rig.agent.add_local_host(1, second).unwrap();
    let stun = addr("203.0.113.9:3478");
    rig.agent.add_stun_server(stun);
    let now = rig.now;
    rig.agent.restart(now);
    rig.agent.gather(now);
    rig.drain();
    rig.take_sent();
    // Gathering goes out from each host (the second one's index moved with the restart).
    rig.advance(Duration::from_millis(200));
    let from: Vec<_> = rig
        .take_sent()
        .iter()
        .filter(|s| s.1 == stun)
        .map(|s| s.0)
        .collect();
    assert!(
        from.contains(&addr(LOCAL)) && from.contains(&second),
        "{from:?}"
    );
}

#[test]
fn rfc8445_7_2_5_3_1_local_peer_reflexive_candidates_are_bounded() {
    let mut cfg = Config::new(Role::Controlled);
    cfg.max_peer_reflexive = 2;
    let mut rig = Rig::new(cfg);
    let now = rig.now;
    rig.agent
        .set_remote_credentials(now, PEER_UFRAG, PEER_PWD)
        .unwrap();
    for i in 0..5u8 {
        let mut c = peer_candidate(&format!("198.51.100.{}:5000", 10 + i), 2_000_000_000);
        c.foundation = format!("f{i}");
        rig.agent.add_remote_candidate(now, c).unwrap();
    }
    rig.drain();
    rig.advance(Duration::from_millis(300));
    // Each check answered with a mapped address of its own: a NAT that maps every
    // destination apart, or a peer that lies.
    let answered = answer_with(&mut rig, |i, _| {
        Ok(SocketAddr::new(
            addr("203.0.113.1:1").ip(),
            40000 + i as u16,
        ))
    });
    assert_eq!(answered, 5);
    assert_eq!(rig.agent.peer_reflexive_local_candidates().count(), 2);
    assert_eq!(rig.agent.stats().dropped_candidates, 3);
    // The pairs over the limit are valid all the same.
    assert_eq!(rig.agent.state(), State::Connected);
}
