//! Our agent against str0m's (`is` 0.12, `is::IceAgent`) on the two operations a busy agent
//! repeats: answering one connectivity check, and one `handle_timeout` that sends the next paced
//! check, with 100 candidate pairs (10 local host candidates × 10 remote ones) on each side.
//!
//! - `answer_check/*`: a signed Binding request from a known remote candidate arrives; the
//!   agent verifies it and produces the signed success response. Ours: `handle_receive`, then
//!   `poll_transmit` and `poll_event` drained. str0m queues requests and answers them in its
//!   `handle_timeout` (`stun_server_queue`), so its case is `handle_packet` (after
//!   `StunMessage::parse`, which our `handle_receive` does inside), `handle_timeout` at the same
//!   instant, then `poll_transmit` drained. The same request (same transaction id) is answered
//!   again at every iteration; neither agent deduplicates.
//! - `timeout_100_pairs/*`: a fresh agent with 100 pairs, the remote credentials, and one check
//!   already sent (setup, not measured); measured: one `handle_timeout` Ta (50 ms) later, which
//!   sends the next check, and the transmits drained.
//!
//! Both agents are controlled in `answer_check` (the request carries ICE-CONTROLLING) and
//! controlling in `timeout_100_pairs`. str0m draws its randomness from a global RNG; ours from
//! the seed.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion};
use ice_sans_io::stun::{Attribute, Class, IntegrityKey, MessageBuilder, Method, TransactionId};
use ice_sans_io::{Candidate, Config, Datagram, IceAgent, Protocol, Role};

const PEER_UFRAG: &str = "peer";
const PEER_PWD: &str = "peerpasswordpeerpassword";
const STR0M_UFRAG: &str = "str0mufrag";
const STR0M_PWD: &str = "str0mpasswordstr0mpassword";

fn local(i: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i + 1)), 5000)
}

fn remote(i: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, 0, i + 1)), 6000)
}

fn request(username: &str, pwd: &str) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let mut b = MessageBuilder::new(
        &mut buf,
        Class::Request,
        Method::BINDING,
        TransactionId::new([9; 12]),
    )
    .expect("buffer");
    b.add(&Attribute::Username(username)).expect("username");
    b.add(&Attribute::Priority(1_862_270_975))
        .expect("priority");
    b.add(&Attribute::IceControlling(0x1234_5678_9abc_def0))
        .expect("controlling");
    b.add_integrity(&IntegrityKey::short_term(pwd))
        .expect("integrity");
    b.add_fingerprint().expect("fingerprint");
    let n = b.finish();
    buf[..n].to_vec()
}

fn ours(role: Role, now: Instant) -> IceAgent {
    let mut a = IceAgent::new(Config::new(role), [5; 32]);
    for i in 0..10 {
        a.add_local_host(1, local(i)).expect("host");
    }
    a.gather(now);
    a.set_remote_credentials(now, PEER_UFRAG, PEER_PWD)
        .expect("credentials");
    for i in 0..10 {
        let mut c = Candidate::host(1, remote(i), "1");
        c.foundation = format!("r{i}");
        a.add_remote_candidate(now, c).expect("remote");
    }
    assert_eq!(a.pair_count(), 100);
    drain_ours(&mut a);
    a
}

fn drain_ours(a: &mut IceAgent) -> usize {
    let mut n = 0;
    while let Some(t) = a.poll_transmit() {
        n += t.data.len();
    }
    while a.poll_event().is_some() {}
    n
}

fn str0m(controlling: bool, now: Instant) -> is::IceAgent {
    let mut a = is::IceAgent::new(is::IceCreds {
        ufrag: STR0M_UFRAG.into(),
        pass: STR0M_PWD.into(),
    });
    a.set_controlling(controlling);
    for i in 0..10 {
        a.add_local_candidate(is::Candidate::host(local(i), "udp").expect("host"));
    }
    a.set_remote_credentials(is::IceCreds {
        ufrag: PEER_UFRAG.into(),
        pass: PEER_PWD.into(),
    });
    for i in 0..10 {
        a.add_remote_candidate(is::Candidate::host(remote(i), "udp").expect("remote"));
    }
    a.handle_timeout(now);
    drain_str0m(&mut a);
    a
}

fn drain_str0m(a: &mut is::IceAgent) -> usize {
    let mut n = 0;
    while let Some(t) = a.poll_transmit() {
        n += t.contents.len();
    }
    while a.poll_event().is_some() {}
    n
}

fn benches(c: &mut Criterion) {
    #[allow(clippy::disallowed_methods)]
    let t0 = Instant::now();

    let mut g = c.benchmark_group("answer_check");
    {
        let mut a = ours(Role::Controlled, t0);
        let username = format!("{}:{PEER_UFRAG}", a.local_credentials().0);
        let (_, pwd) = a.local_credentials();
        let req = request(&username, pwd);
        let d = Datagram {
            local: local(0),
            remote: remote(0),
            protocol: Protocol::Udp,
            data: &req,
        };
        // Warm up and check that it answers.
        a.handle_receive(t0, d);
        assert!(drain_ours(&mut a) > 0, "ours answers");
        g.bench_function("ours", |b| {
            b.iter(|| {
                black_box(a.handle_receive(t0, black_box(d)));
                black_box(drain_ours(&mut a))
            })
        });
    }
    {
        let mut a = str0m(false, t0);
        let req = request(&format!("{STR0M_UFRAG}:{PEER_UFRAG}"), STR0M_PWD);
        let packet = || is::stun::StunPacket {
            proto: is::Protocol::Udp,
            source: remote(0),
            destination: local(0),
            message: is::stun::StunMessage::parse(black_box(&req)).expect("parse"),
        };
        assert!(a.handle_packet(t0, packet()), "str0m accepts");
        a.handle_timeout(t0);
        assert!(drain_str0m(&mut a) > 0, "str0m answers");
        g.bench_function("str0m_is", |b| {
            b.iter(|| {
                black_box(a.handle_packet(t0, packet()));
                a.handle_timeout(t0);
                black_box(drain_str0m(&mut a))
            })
        });
    }
    g.finish();

    let ta = Duration::from_millis(50);
    // Each measured call sends one check.
    {
        let mut a = ours(Role::Controlling, t0);
        a.handle_timeout(t0);
        drain_ours(&mut a);
        a.handle_timeout(t0 + ta);
        assert!(drain_ours(&mut a) > 0, "ours sends the next check");
        let mut a = str0m(true, t0);
        a.handle_timeout(t0 + ta);
        drain_str0m(&mut a);
        a.handle_timeout(t0 + 2 * ta);
        assert!(drain_str0m(&mut a) > 0, "str0m sends the next check");
    }
    let mut g = c.benchmark_group("timeout_100_pairs");
    g.bench_function("ours", |b| {
        b.iter_batched(
            || {
                let mut a = ours(Role::Controlling, t0);
                a.handle_timeout(t0);
                assert!(drain_ours(&mut a) > 0);
                a
            },
            |mut a| {
                a.handle_timeout(t0 + ta);
                let n = drain_ours(&mut a);
                (a, n)
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("str0m_is", |b| {
        b.iter_batched(
            || {
                let mut a = str0m(true, t0);
                a.handle_timeout(t0 + ta);
                drain_str0m(&mut a);
                a
            },
            |mut a| {
                a.handle_timeout(t0 + 2 * ta);
                let n = drain_str0m(&mut a);
                (a, n)
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

// What `criterion_group!`/`criterion_main!` expand to, without the undocumented `pub fn` the
// first one generates.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
