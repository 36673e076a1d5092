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

/// Answers every request the agent sent with success or the error `code`, from the address
/// it went to, signed with the peer's password; returns how many.
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

mod answering;
mod checking;
mod gathering;
