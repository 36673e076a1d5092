//! Decoding and verifying a connectivity check, and building and signing one, allocate nothing:
//! a counting global allocator watches both paths. The only unsafe code of the workspace: a
//! global allocator cannot be written without it.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};

use ice_sans_io::stun::{
    Attribute, Class, Integrity, IntegrityKey, Message, MessageBuilder, Method, TransactionId,
};

struct Counting;

thread_local! {
    /// Allocations made by this thread (the test harness allocates on other threads while a
    /// test runs). `const` initialisation: reading it never allocates.
    static THREAD_ALLOCATIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Allocations made so far by the calling thread.
fn allocations() -> usize {
    THREAD_ALLOCATIONS.with(|c| c.get())
}

// SAFETY: the counter forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = THREAD_ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The counter counts: without this, the tests below could not fail.
#[test]
fn the_counter_sees_an_allocation() {
    let before = allocations();
    let v = std::hint::black_box(vec![1u8; 16]);
    assert!(allocations() > before);
    drop(v);
}

#[test]
fn decode_verify_and_build_sign_do_not_allocate() {
    let key = IntegrityKey::short_term("asd88fgpdd777uzjYhagZg");
    let mut buf = [0u8; 256];
    let before = allocations();
    let mut b = MessageBuilder::new(
        &mut buf,
        Class::Request,
        Method::BINDING,
        TransactionId::new([3; 12]),
    )
    .unwrap();
    b.add(&Attribute::Username("9uB6:8hhy")).unwrap();
    b.add(&Attribute::Priority(1_853_824_767)).unwrap();
    b.add(&Attribute::IceControlling(42)).unwrap();
    b.add(&Attribute::UseCandidate).unwrap();
    b.add_integrity(&key).unwrap();
    b.add_fingerprint().unwrap();
    let n = b.finish();
    let m = Message::decode(&buf[..n]).unwrap();
    let ok = m.verify_integrity(&key) == Integrity::Ok
        && m.fingerprint().is_ok()
        && m.username() == Some("9uB6:8hhy")
        && m.priority() == Some(1_853_824_767)
        && m.ice_controlling() == Some(42)
        && m.use_candidate();
    let after = allocations();
    assert!(ok);
    assert_eq!(
        after - before,
        0,
        "allocations on the build-sign-decode-verify path"
    );
}

/// The agent answers a connectivity check without allocating once warmed up (the answer is
/// built into a reused output buffer; the pair, the remote candidate and the triggered check
/// already exist).
#[test]
fn answering_a_check_does_not_allocate_once_warmed_up() {
    use ice_sans_io::{Candidate, Config, Datagram, IceAgent, Protocol, Role};
    use std::time::Instant;

    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let local: std::net::SocketAddr = "10.0.0.1:5000".parse().unwrap();
    let remote: std::net::SocketAddr = "10.1.0.1:6000".parse().unwrap();
    let mut agent = IceAgent::new(Config::new(Role::Controlled), [1; 32]);
    agent.add_local_host(1, local).unwrap();
    agent.gather(now);
    agent
        .set_remote_credentials(now, "peer", "peerpasswordpeerpassword")
        .unwrap();
    agent
        .add_remote_candidate(now, Candidate::host(1, remote, "1"))
        .unwrap();
    let (ufrag, pwd) = agent.local_credentials();
    let username = format!("{ufrag}:peer");
    let key = IntegrityKey::short_term(pwd);
    let mut buf = [0u8; 256];
    let mut b = MessageBuilder::new(
        &mut buf,
        Class::Request,
        Method::BINDING,
        TransactionId::new([4; 12]),
    )
    .unwrap();
    b.add(&Attribute::Username(&username)).unwrap();
    b.add(&Attribute::Priority(1_862_270_975)).unwrap();
    b.add(&Attribute::IceControlling(42)).unwrap();
    b.add_integrity(&key).unwrap();
    b.add_fingerprint().unwrap();
    let n = b.finish();
    let d = Datagram {
        local,
        remote,
        protocol: Protocol::Udp,
        data: &buf[..n],
    };
    let answer = |agent: &mut IceAgent| {
        agent.handle_receive(now, d);
        let mut sent = 0;
        while let Some(t) = agent.poll_transmit() {
            sent += t.data.len();
        }
        while agent.poll_event().is_some() {}
        sent
    };
    for _ in 0..3 {
        assert!(answer(&mut agent) > 0);
    }
    let before = allocations();
    let sent = answer(&mut agent);
    let after = allocations();
    assert!(sent > 0, "answered");
    assert_eq!(after - before, 0, "allocations while answering a check");
    assert_eq!(agent.stats().checks_received, 4);
}

/// A TURN client relays over a bound channel without allocating: `send_to` wraps into its
/// reused buffer (RFC 8656 §12.4), `handle_receive` unwraps borrowing the caller's bytes.
#[test]
fn turn_channel_data_wrap_and_unwrap_do_not_allocate_once_bound() {
    use ice_sans_io::turn::{TurnClient, TurnConfig, TurnCredentials, TurnReceived, TurnState};
    use std::net::SocketAddr;
    use std::time::Instant;

    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let server: SocketAddr = "192.0.2.1:3478".parse().unwrap();
    let base: SocketAddr = "10.0.0.1:5000".parse().unwrap();
    let peer: SocketAddr = "198.51.100.9:7000".parse().unwrap();
    let creds = TurnCredentials::new("romeo", "wherefore");
    let key = IntegrityKey::long_term("romeo", "example.org", "wherefore");
    let mut c = TurnClient::new(TurnConfig::default(), server, base, creds, [3; 32]).unwrap();
    // The scripted server: answers each request with `attrs`, signed once authenticating.
    let answer = |c: &mut TurnClient, class: Class, attrs: &[Attribute<'_>], sign: bool| {
        let req = c.poll_transmit().unwrap().data.to_vec();
        let m = Message::decode(&req).unwrap();
        let mut buf = [0u8; 512];
        let mut b = MessageBuilder::new(&mut buf, class, m.method(), m.transaction_id()).unwrap();
        for a in attrs {
            b.add(a).unwrap();
        }
        if sign {
            b.add_integrity(&key).unwrap();
        }
        let n = b.finish();
        let _ = c.handle_receive(now, server, &buf[..n]);
    };
    c.allocate(now).unwrap();
    let unauth = [
        Attribute::ErrorCode(ice_sans_io::stun::ErrorCode::UNAUTHENTICATED),
        Attribute::Realm("example.org"),
        Attribute::Nonce("n"),
    ];
    answer(&mut c, Class::Error, &unauth, false);
    let relayed: SocketAddr = "192.0.2.1:49152".parse().unwrap();
    answer(
        &mut c,
        Class::Success,
        &[Attribute::XorRelayedAddress(relayed)],
        true,
    );
    assert_eq!(c.state(), TurnState::Allocated);
    let ch = c.bind_channel(now, peer).unwrap();
    answer(&mut c, Class::Success, &[], true); // CreatePermission
    answer(&mut c, Class::Success, &[], true); // ChannelBind
    while c.poll_event().is_some() {}
    assert_eq!(c.channel(peer), Some(ch));

    let payload = [0x5Au8; 160];
    let mut incoming = [0u8; 164];
    incoming[..2].copy_from_slice(&ch.to_be_bytes());
    incoming[2..4].copy_from_slice(&160u16.to_be_bytes());
    incoming[4..].copy_from_slice(&payload);
    let relay = |c: &mut TurnClient| {
        let sent = c.send_to(now, peer, &payload).unwrap().data.len();
        let got = match c.handle_receive(now, server, &incoming) {
            TurnReceived::Data { peer: p, data } => p == peer && data == payload,
            _ => false,
        };
        (sent, got)
    };
    assert_eq!(relay(&mut c), (164, true)); // warms the send buffer up
    let before = allocations();
    let (sent, got) = relay(&mut c);
    let after = allocations();
    assert_eq!((sent, got), (164, true));
    assert_eq!(
        after - before,
        0,
        "allocations while relaying over a channel"
    );
}
