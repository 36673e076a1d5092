//! The tokio driver's TCP path on real sockets (RFC 6544): two drivers on 127.0.0.1 with TCP
//! host candidates only connect and carry data both ways (active with passive, so with so),
//! UDP wins when both are there (the agent's UDP-first preference, carried through the
//! driver), and a refused connection fails its pair. (`required-features = ["tokio"]`.)
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use ice_sans_io::driver::{Driver, DriverEvent};
use ice_sans_io::{Candidate, Config, Event, IceAgent, PairInfo, Protocol, Role, State, TcpType};

const LOOPBACK: &str = "127.0.0.1:0";
const TIMEOUT: Duration = Duration::from_secs(10);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A driver with a UDP host candidate (when `udp`) and the TCP host candidates `tcp`, all on
/// 127.0.0.1, gathering started.
async fn side(role: Role, seed: u8, udp: bool, tcp: &[TcpType]) -> Driver {
    let mut d = Driver::new(IceAgent::new(Config::new(role), [seed; 32]));
    if udp {
        d.add_udp_host(1, LOOPBACK.parse().unwrap()).await.unwrap();
    }
    for &t in tcp {
        let addr = d
            .add_tcp_host(1, LOOPBACK.parse().unwrap(), t)
            .await
            .unwrap();
        match t {
            TcpType::Active => assert_eq!(addr.port(), 9, "RFC 6544 §4.5: the discard port"),
            _ => assert_ne!(addr.port(), 0),
        }
    }
    d.gather();
    d
}

/// Feeds one side's event to the other, as Jingle transport-info would.
fn signal(event: &Event, to: &mut Driver) {
    let now = to.now();
    match event {
        Event::LocalCandidate(c) => to.agent_mut().add_remote_candidate(now, c.clone()).unwrap(),
        Event::GatheringComplete => to.agent_mut().end_of_remote_candidates(now),
        _ => {}
    }
}

async fn next_of(sides: &mut [Driver; 2]) -> (usize, DriverEvent) {
    let [a, b] = sides;
    tokio::select! {
        e = a.next() => (0, e.unwrap()),
        e = b.next() => (1, e.unwrap()),
    }
}

/// Both sides' selected pairs once both are Completed and have each received the other's
/// message (sent after Completed).
async fn connect_and_exchange(sides: &mut [Driver; 2]) -> [PairInfo; 2] {
    for i in 0..2 {
        let (u, p) = sides[i].agent().local_credentials();
        let (u, p) = (u.to_owned(), p.to_owned());
        let other = &mut sides[1 - i];
        let now = other.now();
        other
            .agent_mut()
            .set_remote_credentials(now, &u, &p)
            .unwrap();
    }
    let mut completed = [false; 2];
    let mut sent = false;
    let mut received: [Option<Vec<u8>>; 2] = [None, None];
    while received.iter().any(Option::is_none) {
        if !sent && completed == [true; 2] {
            for (i, side) in sides.iter_mut().enumerate() {
                side.send(1, format!("hello from {i}").as_bytes())
                    .await
                    .unwrap();
            }
            sent = true;
        }
        let (i, event) = next_of(sides).await;
        match event {
            DriverEvent::Ice(Event::StateChanged(State::Completed)) => completed[i] = true,
            DriverEvent::Ice(Event::StateChanged(s @ (State::Failed | State::Disconnected))) => {
                panic!("side {i}: {}", s.as_str())
            }
            DriverEvent::Ice(e) => signal(&e, &mut sides[1 - i]),
            DriverEvent::Data { data, .. } => received[i] = Some(data),
            _ => {}
        }
    }
    assert_eq!(received[0].as_deref(), Some(&b"hello from 1"[..]));
    assert_eq!(received[1].as_deref(), Some(&b"hello from 0"[..]));
    [0, 1].map(|i| sides[i].agent().selected_pair(1).unwrap())
}

fn tcp_type(c: &Candidate) -> Option<TcpType> {
    c.tcp_type
}

#[test]
fn active_and_passive_connect_over_tcp_and_carry_data_both_ways() {
    rt().block_on(async {
        let a = side(Role::Controlling, 1, false, &[TcpType::Active]).await;
        let b = side(Role::Controlled, 2, false, &[TcpType::Passive]).await;
        let listen: Vec<SocketAddr> = b.tcp_listen_addrs().collect();
        let mut sides = [a, b];
        let [pa, pb] = tokio::time::timeout(TIMEOUT, connect_and_exchange(&mut sides))
            .await
            .expect("connected within 10 s");
        assert!(pa.nominated && pb.nominated);
        assert_eq!(pa.local.protocol, Protocol::Tcp);
        assert_eq!(pb.local.protocol, Protocol::Tcp);
        assert_eq!(tcp_type(&pa.remote), Some(TcpType::Passive));
        assert_eq!(tcp_type(&pb.local), Some(TcpType::Passive));
        // A connected to B's listener, from an ephemeral port of its own.
        assert_eq!(pa.remote.addr, listen[0]);
        assert_eq!(pb.base, listen[0]);
        let (sa, sb) = (sides[0].stats(), sides[1].stats());
        assert!(sa.tcp_connects >= 1, "{sa:?}");
        assert_eq!(sa.tcp_connect_failed, 0, "{sa:?}");
        assert!(sb.tcp_accepted >= 1, "{sb:?}");
        assert_eq!(
            sides[0].dropped_transmits() + sides[1].dropped_transmits(),
            0
        );
        // Application data after Completed went over the connection (a framed write).
        assert!(sides[0].agent().stats().tcp_accepted == 0);
        assert!(sides[1].agent().stats().tcp_accepted >= 1);
    });
}

#[test]
fn simultaneous_open_candidates_connect_over_loopback() {
    rt().block_on(async {
        let a = side(Role::Controlling, 3, false, &[TcpType::SimultaneousOpen]).await;
        let b = side(Role::Controlled, 4, false, &[TcpType::SimultaneousOpen]).await;
        let (la, lb) = (
            a.tcp_listen_addrs().next().unwrap(),
            b.tcp_listen_addrs().next().unwrap(),
        );
        let mut sides = [a, b];
        let [pa, pb] = tokio::time::timeout(TIMEOUT, connect_and_exchange(&mut sides))
            .await
            .expect("connected within 10 s");
        // RFC 6544 §6.2: so pairs with so; the connection runs between the two reserved ports
        // (whichever side's SYN made it, the listener's accept or the connect).
        assert_eq!(tcp_type(&pa.local), Some(TcpType::SimultaneousOpen));
        assert_eq!(tcp_type(&pb.local), Some(TcpType::SimultaneousOpen));
        assert_eq!((pa.base, pa.remote.addr), (la, lb));
        assert_eq!((pb.base, pb.remote.addr), (lb, la));
    });
}

#[test]
fn with_udp_and_tcp_candidates_udp_is_selected() {
    rt().block_on(async {
        let a = side(
            Role::Controlling,
            5,
            true,
            &[TcpType::Active, TcpType::Passive],
        )
        .await;
        let b = side(
            Role::Controlled,
            6,
            true,
            &[TcpType::Active, TcpType::Passive],
        )
        .await;
        let mut sides = [a, b];
        let [pa, pb] = tokio::time::timeout(TIMEOUT, connect_and_exchange(&mut sides))
            .await
            .expect("connected within 10 s");
        assert_eq!(pa.local.protocol, Protocol::Udp);
        assert_eq!(pb.local.protocol, Protocol::Udp);
    });
}

#[test]
fn a_refused_connection_fails_its_pair() {
    rt().block_on(async {
        let mut a = side(Role::Controlling, 7, false, &[TcpType::Active]).await;
        // A port nobody listens on: the connect is refused (RST) at once.
        let closed = {
            let l = std::net::TcpListener::bind(LOOPBACK).unwrap();
            l.local_addr().unwrap()
        };
        let now = a.now();
        let agent = a.agent_mut();
        agent
            .set_remote_credentials(now, "peer", "peerpasswordpeerpassword")
            .unwrap();
        let mut passive = Candidate::host(1, closed, "1");
        passive.protocol = Protocol::Tcp;
        passive.tcp_type = Some(TcpType::Passive);
        agent.add_remote_candidate(now, passive).unwrap();
        agent.end_of_remote_candidates(now);
        let started = tokio::time::Instant::now();
        let failed = tokio::time::timeout(TIMEOUT, async {
            loop {
                if let DriverEvent::Ice(Event::StateChanged(State::Failed)) =
                    a.next().await.unwrap()
                {
                    break;
                }
            }
        })
        .await;
        assert!(failed.is_ok(), "no failure within 10 s: {:?}", a.stats());
        // Refused, not timed out: well before the agent's own 10 s connect timeout.
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(a.stats().tcp_connects, 1);
        assert_eq!(a.stats().tcp_connect_failed, 1);
        assert_eq!(a.agent().stats().tcp_connect_failed, 1);
    });
}

/// Without the `tls` feature the driver runs no TLS: a TURN server over TLS fails at once.
#[cfg(not(feature = "tls"))]
#[test]
fn without_the_tls_feature_a_tls_connection_fails_at_once() {
    use ice_sans_io::turn::{TurnCredentials, TurnFailure, TurnTransport};
    rt().block_on(async {
        let mut agent = IceAgent::new(Config::new(Role::Controlling), [8; 32]);
        let server = {
            let l = std::net::TcpListener::bind(LOOPBACK).unwrap();
            l.local_addr().unwrap()
        };
        let tls = TurnTransport::Tls {
            server_name: "turn.example".into(),
        };
        agent
            .add_turn_server_over(server, TurnCredentials::new("u", "p"), tls)
            .unwrap();
        let mut d = Driver::bind(agent, &[(1, LOOPBACK.parse().unwrap())])
            .await
            .unwrap();
        let reason = tokio::time::timeout(TIMEOUT, async {
            loop {
                if let DriverEvent::Ice(Event::RelayFailed { reason, .. }) = d.next().await.unwrap()
                {
                    return reason;
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(reason, TurnFailure::ConnectFailed);
        assert_eq!(d.stats().tls_failed, 1);
    });
}
