//! The ICE agent driven by the fuzzer: the input is a script of operations (datagrams of any
//! bytes, checks and responses that are correctly signed but carry fuzzed attributes, remote
//! candidates and credentials, end-of-candidates, restarts, application data, time passing),
//! with every poller drained after each operation.
//!
//! Properties asserted after every operation (rustls style, in the target):
//! - no panic;
//! - memory bounded by the configuration: pairs, remote candidates and transactions in flight
//!   never exceed their limits;
//! - every datagram the agent sends is a STUN message that decodes, with a valid FINGERPRINT;
//! - no spin: after `handle_timeout(t)` with `t` at or past `poll_timeout()`, the next
//!   `poll_timeout()` is later than `t` (or `None`), so a driver always waits.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_sans_io::stun::{
    Attribute, AttributeType, Class, ErrorCode, IntegrityKey, Message, MessageBuilder, Method,
    TransactionId,
};
use ice_sans_io::{Candidate, CandidateKind, Config, Datagram, IceAgent, Protocol, Role};
use libfuzzer_sys::fuzz_target;

const PEER_UFRAG: &str = "peer";
const PEER_PWD: &str = "peerpasswordpeerpassword";

/// Reads the script; past its end, every read is zero.
struct Script<'a>(&'a [u8]);

impl<'a> Script<'a> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) << 32 | u64::from(self.u32())
    }
    fn bool(&mut self) -> bool {
        self.byte() & 1 == 1
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (b, rest) = self.0.split_at(n);
        self.0 = rest;
        b
    }
    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("a literal address")
}

/// Local addresses: two host candidates (one IPv6) and one address that is none of ours.
fn local(i: u8) -> SocketAddr {
    match i % 3 {
        0 => addr("10.0.0.1:5000"),
        1 => addr("[2001:db8::1]:5000"),
        _ => addr("10.0.0.9:5000"),
    }
}

/// Remote addresses: a few of each family, so that candidates, pairs and prflx collide.
fn remote(i: u8) -> SocketAddr {
    let i = i % 12;
    if i < 8 {
        SocketAddr::new(
            format!("198.51.100.{}", 1 + i / 2).parse().expect("ip"),
            6000 + u16::from(i % 2),
        )
    } else {
        SocketAddr::new(format!("2001:db8::{}", i).parse().expect("ip"), 6000)
    }
}

struct Rig {
    agent: IceAgent,
    config: Config,
    now: Instant,
    /// Requests the agent sent: (transaction id, from, to).
    requests: Vec<(TransactionId, SocketAddr, SocketAddr)>,
}

impl Rig {
    fn drain(&mut self) {
        while let Some(t) = self.agent.poll_transmit() {
            let m = Message::decode(t.data).expect("the agent sends STUN that decodes");
            assert!(m.fingerprint().is_ok(), "the agent's FINGERPRINT verifies");
            if m.class() == Class::Request {
                if self.requests.len() >= 64 {
                    self.requests.remove(0);
                }
                self.requests.push((m.transaction_id(), t.local, t.remote));
            }
        }
        while self.agent.poll_event().is_some() {}
        assert!(self.agent.pair_count() <= self.config.max_pairs);
        assert!(self.agent.remote_candidates().len() <= self.config.max_remote_candidates);
        assert!(self.agent.transactions_in_flight() <= self.config.max_transactions);
    }

    fn receive(&mut self, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        let d = Datagram {
            local,
            remote,
            protocol: Protocol::Udp,
            data,
        };
        let _ = self.agent.handle_receive(self.now, d);
    }
}

/// A Binding request from the peer with fuzzed attributes, signed with a fuzzed key choice.
fn request(s: &mut Script<'_>, agent: &IceAgent, buf: &mut [u8]) -> usize {
    let mut tid = [0u8; 12];
    tid[..4].copy_from_slice(&s.u32().to_le_bytes());
    let Ok(mut b) = MessageBuilder::new(
        buf,
        Class::Request,
        Method::BINDING,
        TransactionId::new(tid),
    ) else {
        return 0;
    };
    let ours = agent.local_credentials().0.to_owned();
    let username = match s.byte() % 5 {
        0 => Some(format!("{ours}:{PEER_UFRAG}")),
        1 => Some(format!("{ours}:other")),
        2 => Some(format!("nobody:{PEER_UFRAG}")),
        3 => Some(ours),
        _ => None,
    };
    if let Some(u) = &username {
        let _ = b.add(&Attribute::Username(u));
    }
    if s.bool() {
        let _ = b.add(&Attribute::Priority(s.u32()));
    }
    match s.byte() % 4 {
        0 => {
            let _ = b.add(&Attribute::IceControlling(s.u64()));
        }
        1 => {
            let _ = b.add(&Attribute::IceControlled(s.u64()));
        }
        2 => {
            let _ = b.add(&Attribute::IceControlling(s.u64()));
            let _ = b.add(&Attribute::IceControlled(s.u64()));
        }
        _ => {}
    }
    if s.bool() {
        let _ = b.add(&Attribute::UseCandidate);
    }
    if s.byte() % 8 == 0 {
        let _ = b.add(&Attribute::Other {
            attr_type: AttributeType(u16::from(s.byte()) | 0x7f00),
            value: &[1, 2, 3],
        });
    }
    match s.byte() % 4 {
        0 | 1 => {
            let _ = b.add_integrity(&IntegrityKey::short_term(agent.local_credentials().1));
        }
        2 => {
            let _ = b.add_integrity(&IntegrityKey::short_term("not-the-password"));
        }
        _ => {}
    }
    if s.byte() % 8 != 0 {
        let _ = b.add_fingerprint();
    }
    b.finish()
}

/// A response to one of the agent's requests (or to none), fuzzed.
fn response(
    s: &mut Script<'_>,
    requests: &[(TransactionId, SocketAddr, SocketAddr)],
    buf: &mut [u8],
) -> Option<(SocketAddr, SocketAddr, usize)> {
    let pick = usize::from(s.byte());
    let (tid, from, to) = if requests.is_empty() || pick % 8 == 7 {
        (
            TransactionId::new([s.byte(); 12]),
            local(s.byte()),
            remote(s.byte()),
        )
    } else {
        requests[pick % requests.len()]
    };
    // Mostly from where the request went (the 5-tuple symmetry rule), sometimes not.
    let (dst, src) = if s.byte() % 8 == 0 {
        (local(s.byte()), remote(s.byte()))
    } else {
        (from, to)
    };
    let error = s.byte() % 4 == 0;
    let class = if error { Class::Error } else { Class::Success };
    let mut b = MessageBuilder::new(buf, class, Method::BINDING, tid).ok()?;
    if error {
        let code = [487, 400, 401, 420, 500][usize::from(s.byte()) % 5];
        let _ = b.add(&Attribute::ErrorCode(ErrorCode {
            code,
            reason: "fuzz",
        }));
    } else {
        let mapped = match s.byte() % 3 {
            0 => dst,
            1 => remote(s.byte()),
            _ => SocketAddr::new(addr("203.0.113.5:1").ip(), s.u16().max(1)),
        };
        if s.byte() % 8 != 0 {
            let _ = b.add(&Attribute::XorMappedAddress(mapped));
        }
    }
    if s.byte() % 4 != 0 {
        let _ = b.add_integrity(&IntegrityKey::short_term(PEER_PWD));
    }
    let _ = b.add_fingerprint();
    Some((dst, src, b.finish()))
}

fuzz_target!(|data: &[u8]| {
    let mut s = Script(data);
    let mut config = Config::new(if s.bool() {
        Role::Controlling
    } else {
        Role::Controlled
    });
    config = config.with_components(1 + u16::from(s.byte() % 2));
    config.max_pairs = 8;
    config.max_remote_candidates = 8;
    config.max_peer_reflexive = 4;
    config.max_transactions = 8;
    config.max_early_checks = 4;
    let mut seed = [0u8; 32];
    seed[0] = s.byte();
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let mut rig = Rig {
        agent: IceAgent::new(config.clone(), seed),
        config,
        now,
        requests: Vec::new(),
    };
    let _ = rig.agent.add_local_host(1, local(0));
    let _ = rig.agent.add_local_host(1, local(1));
    rig.drain();
    let mut buf = [0u8; 1024];
    let mut ops = 0;
    while !s.done() && ops < 256 {
        ops += 1;
        match s.byte() % 11 {
            0 => {
                let (l, r) = (local(s.byte()), remote(s.byte()));
                let n = usize::from(s.byte() % 128);
                let bytes = s.bytes(n);
                rig.receive(l, r, bytes);
            }
            1 | 2 => {
                let n = request(&mut s, &rig.agent, &mut buf);
                let (l, r) = (local(s.byte() % 2), remote(s.byte()));
                rig.receive(l, r, &buf[..n]);
            }
            3 | 4 => {
                if let Some((dst, src, n)) = response(&mut s, &rig.requests, &mut buf) {
                    rig.receive(dst, src, &buf[..n]);
                }
            }
            5 => {
                let kind = [
                    CandidateKind::Host,
                    CandidateKind::ServerReflexive,
                    CandidateKind::Relayed,
                    CandidateKind::PeerReflexive,
                ][usize::from(s.byte() % 4)];
                let c = Candidate {
                    component: u16::from(s.byte() % 4),
                    foundation: ["1", "2", "a b", ""][usize::from(s.byte() % 4)].to_owned(),
                    protocol: if s.byte() % 8 == 0 {
                        Protocol::Tcp
                    } else {
                        Protocol::Udp
                    },
                    priority: s.u32(),
                    addr: remote(s.byte()),
                    kind,
                    related: None,
                };
                let _ = rig.agent.add_remote_candidate(rig.now, c);
            }
            6 => {
                let (u, p) = match s.byte() % 3 {
                    0 => (PEER_UFRAG, PEER_PWD),
                    1 => ("peer2", "peer2passwordpeer2password"),
                    _ => ("bad:ufrag", ""),
                };
                let _ = rig.agent.set_remote_credentials(rig.now, u, p);
            }
            7 => rig.agent.end_of_remote_candidates(rig.now),
            8 => {
                if s.byte() % 4 == 0 {
                    rig.agent.restart(rig.now);
                } else {
                    let component = u16::from(s.byte() % 3);
                    let _ = rig.agent.send(rig.now, component, b"\x80data");
                }
            }
            9 => match s.byte() % 3 {
                0 => rig.agent.add_stun_server(addr("203.0.113.9:3478")),
                1 => rig.agent.gather(rig.now),
                _ => {
                    let _ = rig.agent.add_local_host(2, local(s.byte()));
                }
            },
            _ => {
                // Time passes: to the agent's deadline, or by a fuzzed amount.
                let deadline = rig.agent.poll_timeout();
                rig.now = match (s.bool(), deadline) {
                    (true, Some(d)) => rig.now.max(d),
                    _ => rig.now + Duration::from_millis(u64::from(s.u16())),
                };
                let due = deadline.is_some_and(|d| d <= rig.now);
                rig.agent.handle_timeout(rig.now);
                rig.drain();
                if due {
                    let next = rig.agent.poll_timeout();
                    assert!(
                        next.is_none_or(|n| n > rig.now),
                        "handle_timeout left a deadline at or before now: a driver would spin"
                    );
                }
            }
        }
        rig.drain();
    }
});
