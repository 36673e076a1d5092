//! The agent's TURN client over TCP and TLS (RFC 8656 §3.1): agent A, whose UDP a firewall
//! drops, reaches a TURN server over a connection it holds and relays to agent B over UDP
//! (`net.rs`, with the scripted server of `server.rs`). Each test names what it checks.
#![allow(clippy::unwrap_used)] // fixtures

mod net;
mod server;

use std::time::Duration;

use ice_sans_io::stun::{Class, Method};
use ice_sans_io::turn::{TurnFailure, TurnState, TurnTransport};
use ice_sans_io::{CandidateKind, Config, Event, Protocol, Role, State};

use net::{Answer, Chunking, Net, conn_local, host_a, mapped, relayed, server};
use server::Seen;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn allocated(n: &Net) -> bool {
    n.saw_a(|e| matches!(e, Event::RelayAllocated { .. }))
}

fn relay_failed(n: &Net) -> Option<TurnFailure> {
    n.events_a.iter().find_map(|(_, e)| match e {
        Event::RelayFailed { reason, .. } => Some(*reason),
        _ => None,
    })
}

/// A's TURN allocation over `transport` and a session through it, connected.
fn connected(transport: TurnTransport, chunking: Chunking) -> Net {
    let mut n = Net::new();
    n.chunking = chunking;
    n.start(transport);
    assert!(
        n.run_until(secs(10), |n| n.both(State::Completed)),
        "not connected: {:?} {:?}",
        n.a.state(),
        n.b.state()
    );
    n
}

/// RFC 8656 §3.1, §7.1, RFC 8489 §9.2: the agent asks for a connection from its host IP to
/// the server, sends the Allocate on it unframed, takes the 401 and the signed retry, and
/// signals the relayed candidate; nothing of the TURN client's leaves over UDP.
#[test]
fn rfc8656_3_1_allocation_over_tcp_after_401() {
    let mut n = Net::new();
    n.start(TurnTransport::Tcp);
    assert!(n.run_until(secs(5), allocated));
    let [(id, from, to, tls)] = &n.connects[..] else {
        panic!("one connection: {:?}", n.connects);
    };
    assert_eq!((*from, *to, tls.as_deref()), (addr0(), server(), None));
    // Every message on the connection is STUN as it is: no RFC 4571 length in front.
    let first = &n.written[0];
    assert_eq!((first.0, first.1), (*id, Protocol::Tcp));
    assert_eq!(&first.2[..2], &[0x00, 0x03], "an Allocate request");
    let len = usize::from(u16::from_be_bytes([first.2[2], first.2[3]]));
    assert_eq!(first.2.len(), 20 + len, "one STUN message per write");
    assert_eq!(
        n.server.seen[..2],
        [
            Seen::Stun(Method::ALLOCATE, Class::Request, false),
            Seen::Stun(Method::ALLOCATE, Class::Request, true),
        ]
    );
    // The relayed candidate, related to the mapped address of the connection.
    let relayed_cand = n
        .events_a
        .iter()
        .find_map(|(_, e)| match e {
            Event::LocalCandidate(c) if c.kind == CandidateKind::Relayed => Some(c.clone()),
            _ => None,
        })
        .expect("a relayed candidate");
    assert_eq!(relayed_cand.addr, relayed());
    assert_eq!(relayed_cand.protocol, Protocol::Udp);
    assert_eq!(relayed_cand.related, Some(mapped()));
    // The mapped address is a TCP mapping: no server-reflexive UDP candidate from it.
    assert!(!n.saw_a(
        |e| matches!(e, Event::LocalCandidate(c) if c.kind == CandidateKind::ServerReflexive)
    ));
    assert_eq!(n.a.relay_transport(relayed()), Some(TurnTransport::Tcp));
    assert_eq!(n.a.relay_transport(host_a()), None);
    let client = n.a.turn_clients().next().unwrap();
    assert_eq!(client.state(), TurnState::Allocated);
    assert_eq!(client.base(), conn_local());
    assert!(n.saw_a(|e| matches!(e, Event::GatheringComplete)));
}

fn addr0() -> std::net::SocketAddr {
    std::net::SocketAddr::new(host_a().ip(), 0)
}

/// RFC 8445 §5.1.2.1: the relayed candidate's local preference says the server is reached
/// over TCP: rank 1 in the top three bits (UDP 2, TLS 0), the host's preference below.
#[test]
fn rfc8445_5_1_2_1_relay_over_tcp_ranks_below_over_udp() {
    let n = connected(TurnTransport::Tcp, Chunking::Whole);
    let host =
        n.a.local_candidates()
            .find(|c| c.kind == CandidateKind::Host)
            .unwrap();
    let relayed_cand =
        n.a.local_candidates()
            .find(|c| c.kind == CandidateKind::Relayed)
            .unwrap();
    assert_eq!(relayed_cand.priority >> 24, 0, "type preference 0");
    assert_eq!(
        relayed_cand.local_preference(),
        (1 << 13) | (host.local_preference() >> 3)
    );
    // RFC 8445 §5.1.1.3: another transport protocol to the server, another foundation than
    // the host's.
    assert_ne!(relayed_cand.foundation, host.foundation);
}

/// Data through the relay over the stream: checks in Send indications until the selected
/// pair's channel is bound (RFC 8656 §11, §12), then ChannelData padded to a multiple of
/// four bytes both ways (§12.5), and the application's data crosses each way.
fn data_through_the_relay(chunking: Chunking) {
    let mut n = connected(TurnTransport::Tcp, chunking);
    let p = n.a.selected_pair(1).unwrap();
    assert_eq!(p.local.kind, CandidateKind::Relayed);
    assert!(
        n.server.count(Method::SEND) > 0,
        "checks in Send indications first"
    );
    assert!(n.run_until(secs(15), |n| !n.server.channels.is_empty()));
    n.run_for(secs(1));
    n.send(true, b"hello");
    n.send(false, b"hi back");
    n.run_for(secs(1));
    assert_eq!(n.received_b, vec![b"hello".to_vec()]);
    assert_eq!(n.received_a, vec![b"hi back".to_vec()]);
    let cd = n.server.channel_data();
    let last = cd.last().expect("ChannelData from A");
    assert_eq!(last.len(), 12, "4 + 5 bytes, padded to 12 (RFC 8656 §12.5)");
    assert!(cd.iter().all(|c| c.len() % 4 == 0));
    // Every Transmit on the connection is TCP on it, and none is framed (RFC 4571).
    assert!(n.written.iter().all(|w| w.1 == Protocol::Tcp));
    assert!(n.a.stats().relayed_sent > 0 && n.a.stats().relayed_received > 0);
    assert_eq!(n.a.stats().tcp_frames_dropped, 0);
}

#[test]
fn rfc8656_12_5_data_over_the_stream_send_then_padded_channel_data() {
    data_through_the_relay(Chunking::Whole);
}

/// The server's stream handed over one byte at a time.
#[test]
fn rfc8656_12_5_stream_one_byte_at_a_time() {
    data_through_the_relay(Chunking::Bytes);
}

/// TLS (RFC 8656 §3.1): the connect request carries the server name; the agent sees the
/// plaintext as for TCP; relayed-over-TLS ranks lowest (rank 0).
#[test]
fn rfc8656_3_1_tls_server_name_in_connect() {
    let tls = TurnTransport::Tls {
        server_name: "turn.example.org".into(),
    };
    let n = connected(tls.clone(), Chunking::Whole);
    assert_eq!(n.connects[0].3.as_deref(), Some("turn.example.org"));
    assert_eq!(n.a.relay_transport(relayed()), Some(tls));
    let host =
        n.a.local_candidates()
            .find(|c| c.kind == CandidateKind::Host)
            .unwrap();
    let r =
        n.a.local_candidates()
            .find(|c| c.kind == CandidateKind::Relayed)
            .unwrap();
    assert_eq!(r.local_preference(), host.local_preference() >> 3);
}

/// A connection that cannot be opened fails the relay: `RelayFailed` with `ConnectFailed`,
/// and gathering completes without it.
#[test]
fn connect_refused_is_relay_failed() {
    let mut n = Net::new();
    n.answer = Answer::Refuse;
    n.start(TurnTransport::Tcp);
    n.run_for(secs(1));
    assert_eq!(relay_failed(&n), Some(TurnFailure::ConnectFailed));
    assert!(n.saw_a(|e| matches!(e, Event::GatheringComplete)));
    assert!(!n.saw_a(|e| matches!(e, Event::RelayAllocated { .. })));
    assert_eq!(n.a.stats().tcp_connect_failed, 1);
    assert!(n.closed_by_a.is_empty(), "a failed connect is not closed");
}

/// A connect nobody answers is given up after `tcp_connect_timeout` and closed.
#[test]
fn connect_unanswered_times_out() {
    let mut n = Net::new();
    n.answer = Answer::Silence;
    n.start(TurnTransport::Tcp);
    n.run_for(secs(9));
    assert_eq!(relay_failed(&n), None);
    n.run_for(secs(2));
    assert_eq!(relay_failed(&n), Some(TurnFailure::ConnectFailed));
    assert_eq!(n.closed_by_a, vec![n.connects[0].0]);
    assert!(n.saw_a(|e| matches!(e, Event::GatheringComplete)));
}

/// The connection closes under a working session: the allocation is gone with it (RFC 8656
/// §2.2), `RelayFailed` says so, and the pairs on the relayed candidate fail. The component
/// lost its selected pair: it goes back to the pairs the nomination set aside (RFC 8445
/// §8.1.2 stopped their checks), here A's host pair, checked again over UDP; A's firewall
/// drops it, so that pair fails too and, nothing being left, the component fails (after the
/// peer's end-of-candidates: at once), instead of staying in Checking forever.
#[test]
fn connection_closed_loses_the_allocation_and_its_pairs() {
    let mut n = connected(TurnTransport::Tcp, Chunking::Whole);
    let id = n.open.take().unwrap();
    let now = n.now;
    let lost_at = n.elapsed();
    let checks_before = n.a.stats().checks_sent;
    n.a.handle_closed(now, id);
    n.drain();
    assert_eq!(relay_failed(&n), Some(TurnFailure::ConnectionClosed));
    assert_eq!(
        n.a.turn_clients().next().unwrap().state(),
        TurnState::Failed
    );
    assert!(
        n.closed_by_a.is_empty(),
        "the caller closed it: no Close asked"
    );
    // The relayed pair failed and nothing else is valid: no pair carries data.
    assert_eq!(n.a.selected_pair(1), None);
    assert_eq!(n.a.state(), State::Checking);
    assert!(n.a.send(n.now, 1, b"x").is_err());
    // The host pair is checked again (RFC 8489 §6.2.1: 7 requests, 15.5 s here), fails, and
    // the component with it.
    assert!(
        n.run_until(secs(30), |n| n.a.state() == State::Failed),
        "A stuck in {:?}",
        n.a.state()
    );
    assert!(
        n.a.stats().checks_sent > checks_before,
        "the host pair checked again"
    );
    let failed_at = n
        .events_a
        .iter()
        .find_map(|(t, e)| match e {
            Event::ComponentFailed {
                component: 1,
                reason,
            } => Some((*t, *reason)),
            _ => None,
        })
        .expect("ComponentFailed");
    assert_eq!(failed_at.1, ice_sans_io::FailReason::AllPairsFailed);
    let took = failed_at.0 - lost_at;
    assert!(took >= secs(15) && took < secs(17), "failed after {took:?}");
    assert_eq!(n.a.selected_pair(1), None);
}

/// The same end when the allocation is lost to a failed Refresh (RFC 8656 §7.5, 437): the
/// relayed pair fails, the host pair is checked again and fails, and so does the component.
#[test]
fn failed_refresh_loses_the_pair_and_the_component_fails() {
    let mut n = connected(TurnTransport::Tcp, Chunking::Whole);
    n.server.refuse_refresh = true;
    // The client refreshes a minute before the 600 s lifetime runs out.
    assert!(n.run_until(secs(600), |n| relay_failed(n).is_some()));
    assert_eq!(relay_failed(&n), Some(TurnFailure::AllocationMismatch));
    let lost_at = n.elapsed();
    assert_eq!(n.a.selected_pair(1), None);
    assert!(
        n.run_until(lost_at + secs(20), |n| n.a.state() == State::Failed),
        "A stuck in {:?}",
        n.a.state()
    );
}

/// The same loss when the host pair can work (A's firewall opened meanwhile): A checks it,
/// nominates it, and both agents are on it, Completed again, and data crosses directly.
#[test]
fn connection_closed_another_pair_takes_over() {
    let mut n = connected(TurnTransport::Tcp, Chunking::Whole);
    n.udp_a_open = true;
    let id = n.open.take().unwrap();
    let now = n.now;
    n.a.handle_closed(now, id);
    n.drain();
    assert_eq!(n.a.state(), State::Checking);
    assert!(
        n.run_until(secs(10), |n| n.both(State::Completed)
            && n.a
                .selected_pair(1)
                .is_some_and(|p| p.local.kind == CandidateKind::Host)
            && n.b
                .selected_pair(1)
                .is_some_and(|p| p.remote.kind == CandidateKind::Host)),
        "A {:?}, B {:?}",
        n.a.state(),
        n.b.state()
    );
    let b = n.b.selected_pair(1).unwrap();
    assert_eq!(
        b.remote.kind,
        CandidateKind::Host,
        "B moved to the host pair too"
    );
    assert!(b.nominated);
    n.send(true, b"direct");
    n.send(false, b"direct back");
    n.run_for(secs(1));
    assert_eq!(n.received_b, vec![b"direct".to_vec()]);
    assert_eq!(n.received_a, vec![b"direct back".to_vec()]);
}

/// Bytes that are no STUN and no ChannelData on the server's stream break it: dropped and
/// counted, the connection closed (`Event::Close`), the allocation lost.
#[test]
fn garbage_on_the_stream_closes_the_connection() {
    let mut n = connected(TurnTransport::Tcp, Chunking::Whole);
    let id = n.open.unwrap();
    n.feed_a(id, &[0xff, 0xee, 0x00, 0x01, 1, 2, 3]);
    assert!(n.stream_log.iter().any(|l| l.contains("BadStream")));
    assert_eq!(n.a.stats().tcp_streams_broken, 1);
    assert_eq!(n.closed_by_a, vec![id]);
    assert_eq!(relay_failed(&n), Some(TurnFailure::BadStream));
    // Later bytes on the forgotten id are dropped as for no connection.
    let mut rest: &[u8] = &[0, 1, 0, 0];
    let r = n.a.handle_stream(n.now, id, &mut rest);
    assert!(format!("{r:?}").contains("UnknownConnection"));
}

/// `close` writes the release (Refresh with LIFETIME 0, RFC 8656 §8) on the connection and
/// then asks for the connection to be closed, at once.
#[test]
fn rfc8656_8_close_releases_then_closes() {
    let mut n = connected(TurnTransport::Tcp, Chunking::Whole);
    let id = n.open.unwrap();
    let now = n.now;
    let before = n.written.len();
    n.a.close(now);
    n.drain();
    assert_eq!(n.closed_by_a, vec![id]);
    let release = &n.written[before..];
    assert!(
        !release.is_empty(),
        "the release is written before the close"
    );
    n.run_for(secs(1));
    assert!(n.server.released, "the server read the release");
    assert_eq!(
        n.a.turn_clients().next().unwrap().state(),
        TurnState::Closed
    );
}

/// RFC 8489 §10: a 300 over a stream would need a connection to the alternate server, which
/// the agent does not open: the relay fails with `TryAlternate` and its connection closes.
#[test]
fn rfc8489_10_try_alternate_over_a_stream_fails_the_relay() {
    let mut n = Net::new();
    n.server.refuse_allocate = Some((300, Some("192.0.2.9:3478".parse().unwrap())));
    n.start(TurnTransport::Tcp);
    n.run_for(secs(2));
    assert_eq!(relay_failed(&n), Some(TurnFailure::TryAlternate));
    assert_eq!(n.closed_by_a, vec![n.connects[0].0]);
    assert_eq!(
        n.server.count(Method::ALLOCATE),
        2,
        "no Allocate to another server"
    );
}

/// Limits: at `max_tcp_connections` no connection is asked for and the relay fails; a
/// message from the server longer than `max_tcp_frame` (plus a STUN header) is skipped and
/// counted, and the stream goes on.
#[test]
fn limits_connections_and_message_size() {
    let mut cfg = Config::new(Role::Controlling);
    cfg.max_tcp_connections = 0;
    let mut n = Net::with_config(cfg);
    n.start(TurnTransport::Tcp);
    n.run_for(secs(1));
    assert!(n.connects.is_empty());
    assert_eq!(relay_failed(&n), Some(TurnFailure::ConnectFailed));
    assert_eq!(n.a.stats().tcp_refused, 1);

    let mut cfg = Config::new(Role::Controlling);
    cfg.max_tcp_frame = 200;
    let mut n = Net::with_config(cfg);
    n.start(TurnTransport::Tcp);
    assert!(n.run_until(secs(10), |n| n.both(State::Completed)));
    let id = n.open.unwrap();
    // A Data indication of 400 bytes from B's address: too long, skipped.
    let big = n.server.peer_sent(net::host_b(), &[0x55; 400]).unwrap();
    n.feed_a(id, &big);
    assert_eq!(n.a.stats().tcp_frames_dropped, 1);
    n.send(false, b"still there");
    n.run_for(secs(1));
    assert_eq!(n.received_a, vec![b"still there".to_vec()]);
    assert_eq!(n.a.stats().tcp_streams_broken, 0);
}
