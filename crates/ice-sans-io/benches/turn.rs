//! Our TURN client against `turn-client-proto` 0.7.3 (ystreet/turn-proto, by the author of
//! rice-proto) on the work a TURN client repeats for every relayed datagram once a channel is
//! bound (RFC 8656 §12): wrapping application data as ChannelData for the server, and
//! unwrapping ChannelData from the server into the peer's address and the data.
//!
//! - `turn_wrap/<case>/<payload bytes>`: application data for the peer in, ChannelData bytes
//!   out. Ours: `TurnClient::send_to`, which writes into the client's reused buffer and
//!   returns a `Transmit` borrowing it. `turn_client_proto`: `TurnClientApi::send_to` (a
//!   `DelayedChannel` that borrows the data) + `write_into` a reused buffer, the path its API
//!   offers that does not allocate. `turn_client_proto_vec`: the same with `build()`, which
//!   returns a fresh `Vec` (what its docs and examples use). `encode_floor`: our pure
//!   `encode_channel_data` into a reused buffer, the floor for the header and the copy.
//! - `turn_unwrap/<case>/<payload bytes>`: ChannelData from the server in, the peer address and
//!   the data (borrowed) out. Ours: `TurnClient::handle_receive`. `turn_client_proto`:
//!   `TurnClientApi::recv` on a `Transmit<&[u8]>` (it borrows the bytes too).
//!   `decode_floor`: our pure `decode_channel_data`.
//!
//! Both clients are brought to "allocated, permission installed, channel bound" by a real
//! exchange with `turn-server-proto` 0.7.3 in memory (401, signed Allocate, CreatePermission,
//! ChannelBind), outside the timed loops, each against a server of its own. Before measuring,
//! the setup checks that both bound channel 0x4000, that both wrap a payload into the same
//! ChannelData bytes, that the server relays those bytes to the peer as the payload, that the
//! ChannelData the unwrap cases read is what the server sends each client when the peer sends
//! the payload, and that both clients read it as the payload from the peer.
//!
//! UDP, so no padding (RFC 8656 §12.4: required over stream transports only). Payloads of 100
//! bytes (an audio frame) and 1200 bytes (a video packet at a common MTU budget). Addresses are
//! constants: parsing one inside the loop costs more than the work measured.
//!
//! `TURN_BENCH_LOOP=<group>/<case>/<payload bytes>:<n>` runs one case without criterion, for
//! instruction counts (`run_loop`; `docs/PERFORMANCE.md` has the numbers and the commands).

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use ice_sans_io::turn::{
    TurnClient, TurnConfig, TurnCredentials, TurnReceived, TurnState, decode_channel_data,
    encode_channel_data,
};
use turn_client_proto::api::{
    DelayedMessageOrChannelSend, TurnClientApi as _, TurnConfig as TheirConfig, TurnRecvRet,
};
use turn_client_proto::prelude::DelayedTransmitBuild as _;
use turn_client_proto::types::TurnCredentials as TheirCredentials;
use turn_client_proto::udp::{TurnClientUdp, TurnPollRet};
use turn_server_proto::api::{TurnServerApi as _, TurnServerPollRet};
use turn_server_proto::server::TurnServer;
use turn_server_proto::stun::agent::Transmit;
use turn_server_proto::types::{Instant as SInstant, TransportType};

const UDP: TransportType = TransportType::Udp;
const USER: &str = "romeo";
const PASSWORD: &str = "wherefore";
const REALM: &str = "example.org";
/// The first channel number both clients pick (RFC 8656 §12).
const CHANNEL: u16 = 0x4000;
const SIZES: [usize; 2] = [100, 1200];

const fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), port))
}
/// The server's listening address.
const LISTEN: SocketAddr = v4(192, 0, 2, 1, 3478);
/// The client's local address, as the server sees it (no NAT).
const BASE: SocketAddr = v4(10, 0, 0, 1, 5000);
const RELAYED: SocketAddr = v4(192, 0, 2, 1, 49152);
const PEER: SocketAddr = v4(198, 51, 100, 9, 7000);

fn new_server() -> TurnServer {
    let mut s = TurnServer::new(UDP, LISTEN, REALM.to_owned());
    s.add_user(USER.to_owned(), PASSWORD.to_owned());
    s
}

/// Answers the server's requests for a relayed socket, then returns what it sends.
fn server_output(s: &mut TurnServer, now: SInstant) -> Vec<Transmit<Vec<u8>>> {
    while let TurnServerPollRet::AllocateSocket {
        transport,
        listen_addr,
        client_addr,
        allocation_transport,
        family,
    } = s.poll(now)
    {
        s.allocated_socket(
            transport,
            listen_addr,
            client_addr,
            allocation_transport,
            family,
            Ok(RELAYED),
            now,
        );
    }
    std::iter::from_fn(|| s.poll_transmit(now)).collect()
}

/// Hands `data` from `from` to the server; returns everything the server sends in answer.
fn to_server(
    s: &mut TurnServer,
    from: SocketAddr,
    data: Vec<u8>,
    now: SInstant,
) -> Vec<Transmit<Vec<u8>>> {
    let to = if from == PEER { RELAYED } else { LISTEN };
    let mut out = Vec::new();
    if let Some(t) = s.recv(Transmit::new(data, UDP, from, to), now) {
        let t = t.build();
        out.push(Transmit::new(t.data, t.transport, t.from, t.to));
    }
    out.extend(server_output(s, now));
    out
}

/// What the server sends the client when the peer sends `payload` to the relayed address.
fn from_peer(s: &mut TurnServer, payload: &[u8], now: SInstant) -> Vec<u8> {
    let mut out = to_server(s, PEER, payload.to_vec(), now);
    assert_eq!(out.len(), 1, "one datagram to the client");
    let t = out.remove(0);
    assert_eq!((t.from, t.to), (LISTEN, BASE));
    t.data
}

/// Our client, allocated with a permission for the peer and channel 0x4000 bound.
fn bound_ours(now: Instant) -> (TurnClient, TurnServer) {
    let mut s = new_server();
    let creds = TurnCredentials::new(USER, PASSWORD);
    let mut c =
        TurnClient::new(TurnConfig::default(), LISTEN, BASE, creds, [8; 32]).expect("client");
    let exchange = |c: &mut TurnClient, s: &mut TurnServer| {
        for _ in 0..16 {
            let mut sent = Vec::new();
            while let Some(t) = c.poll_transmit() {
                sent.push(t.data.to_vec());
            }
            while c.poll_event().is_some() {}
            if sent.is_empty() {
                return;
            }
            for d in sent {
                for t in to_server(s, BASE, d, SInstant::ZERO) {
                    assert_eq!((t.from, t.to), (LISTEN, BASE));
                    let r = c.handle_receive(now, t.from, &t.data);
                    assert_eq!(r, TurnReceived::Consumed);
                }
            }
        }
        panic!("ours: no quiet state after 16 rounds");
    };
    c.allocate(now).expect("allocate");
    exchange(&mut c, &mut s);
    assert_eq!(c.state(), TurnState::Allocated);
    assert_eq!(c.relayed_address(), Some(RELAYED));
    // Creates the permission first, then binds (RFC 8656 §9, §12).
    let ch = c.bind_channel(now, PEER).expect("bind");
    exchange(&mut c, &mut s);
    assert!(c.has_permission(now, PEER.ip()));
    assert_eq!((ch, c.channel(PEER)), (CHANNEL, Some(CHANNEL)));
    (c, s)
}

/// turn-client-proto's client in the same state, driven as its own tests drive it; returns the
/// client, its server and the time on their clock when the channel is bound.
fn bound_theirs() -> (TurnClientUdp, TurnServer, SInstant) {
    let mut s = new_server();
    let config = TheirConfig::new(TheirCredentials::new(USER, PASSWORD));
    let mut c = TurnClientUdp::allocate(BASE, LISTEN, config);
    // It paces its requests (`MIN_STUN_REQUEST_CADENCE`): the clock moves to each `WaitUntil`
    // that is less than a second away, as a driver would.
    let exchange = |c: &mut TurnClientUdp, s: &mut TurnServer, mut now: SInstant| {
        for _ in 0..32 {
            while c.poll_event().is_some() {}
            let sent: Vec<Vec<u8>> = std::iter::from_fn(|| c.poll_transmit(now))
                .map(|t| t.data.to_vec())
                .collect();
            if sent.is_empty() {
                match c.poll(now) {
                    TurnPollRet::WaitUntil(at) if at > now && at < now + Duration::from_secs(1) => {
                        now = at;
                        continue;
                    }
                    _ => return now,
                }
            }
            for d in sent {
                for t in to_server(s, BASE, d, now) {
                    assert_eq!((t.from, t.to), (LISTEN, BASE));
                    let r = c.recv(t, now);
                    assert!(matches!(r, TurnRecvRet::Handled), "{r:?}");
                }
            }
        }
        panic!("turn-client-proto: no quiet state after 32 rounds");
    };
    let now = exchange(&mut c, &mut s, SInstant::ZERO);
    assert!(c.relayed_addresses().any(|(t, a)| t == UDP && a == RELAYED));
    c.create_permission(UDP, PEER.ip(), now)
        .expect("permission");
    let now = exchange(&mut c, &mut s, now);
    assert!(c.have_permission(UDP, PEER.ip()));
    c.bind_channel(UDP, PEER, now).expect("bind");
    let now = exchange(&mut c, &mut s, now);
    (c, s, now)
}

fn wrap_ours<'c>(c: &'c mut TurnClient, now: Instant, data: &[u8]) -> &'c [u8] {
    c.send_to(now, PEER, data).expect("send_to").data
}

fn wrap_theirs(c: &mut TurnClientUdp, now: SInstant, data: &[u8], out: &mut [u8]) -> usize {
    let t = c
        .send_to(UDP, PEER, data, now)
        .expect("send_to")
        .expect("a transmit");
    let n = t.data.len();
    t.data.write_into(&mut out[..n])
}

fn wrap_theirs_vec(c: &mut TurnClientUdp, now: SInstant, data: &[u8]) -> Vec<u8> {
    c.send_to(UDP, PEER, data, now)
        .expect("send_to")
        .expect("a transmit")
        .data
        .build()
}

fn unwrap_ours<'a>(c: &mut TurnClient, now: Instant, bytes: &'a [u8]) -> (SocketAddr, &'a [u8]) {
    match c.handle_receive(now, LISTEN, bytes) {
        TurnReceived::Data { peer, data } => (peer, data),
        other => panic!("ours: {other:?}"),
    }
}

fn unwrap_theirs(c: &mut TurnClientUdp, now: SInstant, bytes: &[u8]) -> (SocketAddr, usize) {
    match c.recv(Transmit::new(bytes, UDP, LISTEN, BASE), now) {
        TurnRecvRet::PeerData(d) => (d.peer, d.data().len()),
        other => panic!("turn-client-proto: {other:?}"),
    }
}

/// Checks, outside the timing, that both clients do the same work on `payload`; returns the
/// ChannelData the server sends a client when the peer sends `payload`.
fn check_same_work(
    ours: &mut (TurnClient, TurnServer),
    theirs: &mut (TurnClientUdp, TurnServer, SInstant),
    now: Instant,
    payload: &[u8],
) -> Vec<u8> {
    // Wrap: the same bytes, and the server relays them to the peer as the payload.
    let mine = wrap_ours(&mut ours.0, now, payload).to_vec();
    let tnow = theirs.2;
    let t = theirs
        .0
        .send_to(UDP, PEER, payload, tnow)
        .expect("send_to")
        .expect("a transmit");
    assert!(matches!(t.data, DelayedMessageOrChannelSend::Channel(_)));
    let mut buf = vec![0u8; payload.len() + 4];
    let n = wrap_theirs(&mut theirs.0, tnow, payload, &mut buf);
    assert_eq!(&buf[..n], &mine[..], "the same ChannelData");
    assert_eq!(wrap_theirs_vec(&mut theirs.0, tnow, payload), mine);
    assert_eq!(&mine[..2], &CHANNEL.to_be_bytes());
    assert_eq!(mine.len(), 4 + payload.len(), "UDP: no padding");
    let mut floor = vec![0u8; mine.len()];
    let n = encode_channel_data(CHANNEL, payload, false, &mut floor).expect("encode");
    assert_eq!(&floor[..n], &mine[..]);
    for (s, bytes, snow) in [
        (&mut ours.1, &mine, SInstant::ZERO),
        (&mut theirs.1, &buf, tnow),
    ] {
        let relayed_out = to_server(s, BASE, bytes.clone(), snow);
        assert_eq!(relayed_out.len(), 1);
        assert_eq!((relayed_out[0].from, relayed_out[0].to), (RELAYED, PEER));
        assert_eq!(relayed_out[0].data, payload);
    }

    // Unwrap: each server sends its client the same ChannelData, read as the payload.
    let incoming = from_peer(&mut ours.1, payload, SInstant::ZERO);
    assert_eq!(from_peer(&mut theirs.1, payload, tnow), incoming);
    assert_eq!(incoming, mine, "channel 0x4000 both ways");
    assert_eq!(unwrap_ours(&mut ours.0, now, &incoming), (PEER, payload));
    assert_eq!(
        unwrap_theirs(&mut theirs.0, tnow, &incoming),
        (PEER, payload.len())
    );
    match theirs
        .0
        .recv(Transmit::new(&incoming[..], UDP, LISTEN, BASE), tnow)
    {
        TurnRecvRet::PeerData(d) => assert_eq!(d.data(), payload),
        other => panic!("turn-client-proto: {other:?}"),
    }
    assert_eq!(decode_channel_data(&incoming), Some((CHANNEL, payload)));
    incoming
}

/// Both clients bound, the payloads, and the ChannelData the server sends for each.
struct Setup {
    now: Instant,
    ours: TurnClient,
    theirs: TurnClientUdp,
    /// turn-client-proto's clock when its channel was bound.
    tnow: SInstant,
    payloads: Vec<Vec<u8>>,
    incoming: Vec<Vec<u8>>,
}

fn setup() -> Setup {
    #[allow(clippy::disallowed_methods)] // the bench is the driver: it owns the clock
    let now = Instant::now();
    let mut ours = bound_ours(now);
    let mut theirs = bound_theirs();
    let payloads: Vec<Vec<u8>> = SIZES
        .iter()
        .map(|&n| (0..n).map(|i| (i * 7 + 3) as u8).collect())
        .collect();
    let incoming = payloads
        .iter()
        .map(|p| check_same_work(&mut ours, &mut theirs, now, p))
        .collect();
    Setup {
        now,
        ours: ours.0,
        theirs: theirs.0,
        tnow: theirs.2,
        payloads,
        incoming,
    }
}

fn benches(c: &mut Criterion) {
    let Setup {
        now,
        mut ours,
        mut theirs,
        tnow,
        payloads,
        incoming,
    } = setup();
    let mut out = vec![0u8; 4 + SIZES[1]];

    let mut g = c.benchmark_group("turn_wrap");
    for p in &payloads {
        let n = p.len();
        g.bench_with_input(BenchmarkId::new("ours", n), p, |b, p| {
            b.iter(|| black_box(wrap_ours(&mut ours, now, black_box(p)).len()))
        });
        g.bench_with_input(BenchmarkId::new("turn_client_proto", n), p, |b, p| {
            b.iter(|| black_box(wrap_theirs(&mut theirs, tnow, black_box(p), &mut out)))
        });
        g.bench_with_input(BenchmarkId::new("turn_client_proto_vec", n), p, |b, p| {
            b.iter(|| black_box(wrap_theirs_vec(&mut theirs, tnow, black_box(p))))
        });
        g.bench_with_input(BenchmarkId::new("encode_floor", n), p, |b, p| {
            b.iter(|| black_box(encode_channel_data(CHANNEL, black_box(p), false, &mut out)))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("turn_unwrap");
    for bytes in &incoming {
        let n = bytes.len() - 4;
        g.bench_with_input(BenchmarkId::new("ours", n), bytes, |b, bytes| {
            b.iter(|| black_box(unwrap_ours(&mut ours, now, black_box(bytes))))
        });
        g.bench_with_input(
            BenchmarkId::new("turn_client_proto", n),
            bytes,
            |b, bytes| b.iter(|| black_box(unwrap_theirs(&mut theirs, tnow, black_box(bytes)))),
        );
        g.bench_with_input(BenchmarkId::new("decode_floor", n), bytes, |b, bytes| {
            b.iter(|| black_box(decode_channel_data(black_box(bytes))))
        });
    }
    g.finish();
}

/// `TURN_BENCH_LOOP=<group>/<case>/<payload bytes>:<n>` (a criterion id, such as
/// `turn_wrap/ours/100:1000`) runs that case `n` times after the same setup and exits, without
/// criterion, for an instruction count that does not depend on the load of the machine:
/// `TURN_BENCH_LOOP=turn_unwrap/ours/1200:1000 valgrind --tool=callgrind <bench binary>` (see
/// `docs/PERFORMANCE.md`).
fn run_loop(spec: &str) {
    let usage = "TURN_BENCH_LOOP=<group>/<case>/<payload bytes>:<n>";
    let (id, n) = spec.split_once(':').expect(usage);
    let n: usize = n.parse().expect(usage);
    let mut parts = id.split('/');
    let (group, case, size) = match (parts.next(), parts.next(), parts.next()) {
        (Some(g), Some(c), Some(s)) => (g, c, s.parse::<usize>().expect(usage)),
        _ => panic!("{usage}"),
    };
    let i = SIZES
        .iter()
        .position(|&s| s == size)
        .expect("a payload size");
    let mut s = setup();
    let (p, bytes) = (&s.payloads[i], &s.incoming[i]);
    let mut out = vec![0u8; 4 + SIZES[1]];
    // Dispatched once, outside the loops.
    match (group, case) {
        ("turn_wrap", "ours") => {
            for _ in 0..n {
                black_box(wrap_ours(&mut s.ours, s.now, black_box(p)).len());
            }
        }
        ("turn_wrap", "turn_client_proto") => {
            for _ in 0..n {
                black_box(wrap_theirs(&mut s.theirs, s.tnow, black_box(p), &mut out));
            }
        }
        ("turn_wrap", "turn_client_proto_vec") => {
            for _ in 0..n {
                black_box(wrap_theirs_vec(&mut s.theirs, s.tnow, black_box(p)));
            }
        }
        ("turn_wrap", "encode_floor") => {
            for _ in 0..n {
                black_box(encode_channel_data(CHANNEL, black_box(p), false, &mut out));
            }
        }
        ("turn_unwrap", "ours") => {
            for _ in 0..n {
                black_box(unwrap_ours(&mut s.ours, s.now, black_box(bytes)));
            }
        }
        ("turn_unwrap", "turn_client_proto") => {
            for _ in 0..n {
                black_box(unwrap_theirs(&mut s.theirs, s.tnow, black_box(bytes)));
            }
        }
        ("turn_unwrap", "decode_floor") => {
            for _ in 0..n {
                black_box(decode_channel_data(black_box(bytes)));
            }
        }
        _ => panic!("no case {group}/{case}"),
    }
}

fn main() {
    if let Ok(spec) = std::env::var("TURN_BENCH_LOOP") {
        return run_loop(&spec);
    }
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
