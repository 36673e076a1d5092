//! The netns lab's coturn with the topology format's TURN keys (long-term users, a REST
//! `secret`, `lifetime_s`, `alternate`), driven by turn-client-proto 0.7.3 on real sockets in
//! the lab's namespaces. They need root, nftables and coturn, so a plain `cargo test` leaves
//! them out (ignored, with the reason); `cargo xtask ci` runs them in its netns step.
#![cfg(all(feature = "netns", target_os = "linux"))]
#![allow(clippy::unwrap_used)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use ice_netsim::netns::Lab;
use ice_netsim::turn_server::rest_password;
use turn_client_proto::api::{TurnClientApi, TurnConfig, TurnEvent, TurnRecvRet};
use turn_client_proto::types::TurnCredentials;
use turn_client_proto::types::stun::TransportType;
use turn_client_proto::udp::TurnClientUdp;
use turn_support::{CLIENT, PEER, SERVER, STRANGER, addr, long_term, script};

mod turn_support;

const UDP: TransportType = TransportType::Udp;
fn lab(service: &str) -> Lab {
    let topology = script(service);
    Lab::build(&topology).expect("the lab builds (root, nftables and coturn?)")
}

/// A socket bound to `addr` inside `host`'s namespace.
fn socket(lab: &Lab, host: &str, addr: &str) -> UdpSocket {
    let ns = lab.host(host).unwrap().namespace.clone();
    let addr: SocketAddr = addr.parse().unwrap();
    let s = lab.bind_udp(&ns, addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    s
}

/// The machine's clock: coturn checks REST expiries against it, and turn-client-proto's
/// timers run on it here.
#[allow(clippy::disallowed_methods)]
fn wall() -> (Instant, u64) {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (Instant::now(), unix)
}

/// turn-client-proto on a real socket.
struct Client {
    turn: TurnClientUdp,
    socket: UdpSocket,
    base: Instant,
    events: Vec<TurnEvent>,
    received: Vec<(SocketAddr, Vec<u8>)>,
    raw: Vec<Vec<u8>>,
}

impl Client {
    fn new(lab: &Lab, username: &str, password: &str) -> Client {
        let config = TurnConfig::new(TurnCredentials::new(username, password));
        Client {
            turn: TurnClientUdp::allocate(addr(CLIENT), addr(SERVER), config),
            socket: socket(lab, "client", CLIENT),
            base: wall().0,
            events: Vec::new(),
            received: Vec::new(),
            raw: Vec::new(),
        }
    }

    fn now(&self) -> turn_client_proto::types::Instant {
        let nanos = i64::try_from(wall().0.duration_since(self.base).as_nanos()).unwrap();
        turn_client_proto::types::Instant::from_nanos(nanos)
    }

    /// Runs the client for `secs` seconds of the machine's clock.
    fn run(&mut self, secs: f64) {
        let until = wall().0 + Duration::from_secs_f64(secs);
        while wall().0 < until {
            let now = self.now();
            let _ = self.turn.poll(now);
            while let Some(t) = self.turn.poll_transmit(now) {
                self.socket.send_to(&t.data, t.to).unwrap();
            }
            while let Some(e) = self.turn.poll_event() {
                self.events.push(e);
            }
            let mut buf = [0u8; 2048];
            if let Ok((n, from)) = self.socket.recv_from(&mut buf) {
                self.raw.push(buf[..n].to_vec());
                let t = turn_client_proto::api::Transmit::new(&buf[..n], UDP, from, addr(CLIENT));
                if let TurnRecvRet::PeerData(d) = self.turn.recv(t, self.now()) {
                    self.received.push((d.peer, d.data().to_vec()));
                }
            }
        }
    }

    fn relayed(&self) -> Option<SocketAddr> {
        self.events.iter().find_map(|e| match e {
            TurnEvent::AllocationCreated(_, a) => Some(*a),
            _ => None,
        })
    }

    fn failed(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, TurnEvent::AllocationCreateFailed(_)))
    }

    /// The attribute `t` of the first STUN message the server sent with `class_method` type.
    fn attribute(&self, message_type: u16, t: u16) -> Option<Vec<u8>> {
        self.raw.iter().find_map(|d| {
            let m = ice_sans_io::stun::Message::decode(d).ok()?;
            (u16::from_be_bytes([d[0], d[1]]) == message_type).then_some(())?;
            m.raw_attributes()
                .find(|a| a.attr_type.0 == t)
                .map(|a| a.value.to_vec())
        })
    }
}

fn recv(s: &UdpSocket) -> Option<(SocketAddr, Vec<u8>)> {
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 1500];
    s.recv_from(&mut buf)
        .ok()
        .map(|(n, from)| (from, buf[..n].to_vec()))
}

#[test]
#[ignore = "needs root and coturn (.ci/run installs coturn): runs in the netns step of every cargo xtask ci"]
fn long_term_allocation_permissions_and_relaying() {
    let lab = lab(&long_term(""));
    let mut c = Client::new(&lab, "user", "pass");
    c.run(1.0);
    let relayed = c.relayed().expect("coturn allocated");
    assert_eq!(relayed.ip().to_string(), "198.51.100.200");
    let peer = socket(&lab, "peer", PEER);
    let stranger = socket(&lab, "stranger", STRANGER);
    let now = c.now();
    c.turn.create_permission(UDP, addr(PEER).ip(), now).unwrap();
    c.run(0.5);
    let now = c.now();
    let t = c
        .turn
        .send_to(UDP, addr(PEER), b"hello".to_vec(), now)
        .unwrap()
        .unwrap();
    let t = t.build();
    c.socket.send_to(&t.data, t.to).unwrap();
    assert_eq!(recv(&peer), Some((relayed, b"hello".to_vec())));
    peer.send_to(b"world", relayed).unwrap();
    stranger.send_to(b"let me in", relayed).unwrap();
    c.run(0.5);
    assert_eq!(
        c.received,
        vec![(addr(PEER), b"world".to_vec())],
        "only the permitted peer"
    );
}

#[test]
#[ignore = "needs root and coturn (.ci/run installs coturn): runs in the netns step of every cargo xtask ci"]
fn rest_secret_credentials_are_checked_against_the_clock() {
    let lab = lab(r#"{ kind = "turn", port = 3478, realm = "example", secret = "s3cret" }"#);
    let unix = wall().1;
    let user = format!("{}:romeo", unix + 3600);
    let mut c = Client::new(&lab, &user, &rest_password("s3cret", &user));
    c.run(1.0);
    assert!(c.relayed().is_some(), "{:?}", c.events);
    drop(c);

    let user = format!("{}:romeo", unix.saturating_sub(60));
    let mut c = Client::new(&lab, &user, &rest_password("s3cret", &user));
    c.run(2.0);
    assert!(
        c.relayed().is_none() && c.failed(),
        "expired: {:?}",
        c.events
    );
}

/// What coturn grants for `lifetime_s` (max-allocate-lifetime) when the client asks for none,
/// and its 300 Try Alternate for `alternate` (alternate-server).
#[test]
#[ignore = "needs root and coturn (.ci/run installs coturn): runs in the netns step of every cargo xtask ci"]
fn lifetime_and_alternate() {
    let first = lab(&long_term(", lifetime_s = 60"));
    let mut c = Client::new(&first, "user", "pass");
    c.run(1.0);
    assert!(c.relayed().is_some(), "{:?}", c.events);
    // Allocate success (0x0103), LIFETIME (0x000D).
    let lifetime = c.attribute(0x0103, 0x000D).expect("LIFETIME");
    let lifetime = u32::from_be_bytes(lifetime[..4].try_into().unwrap());
    // As the simulator's server: the default lifetime is capped by the maximum too.
    assert_eq!(lifetime, 60);
    drop(c);
    drop(first);

    let second = lab(&long_term(r#", alternate = "turn2:3478""#));
    let mut c = Client::new(&second, "user", "pass");
    c.run(1.0);
    assert!(c.relayed().is_none());
    // Allocate error (0x0113) with ALTERNATE-SERVER (0x8023) naming turn2.
    let alternate = c
        .attribute(0x0113, 0x8023)
        .expect("a 300 with ALTERNATE-SERVER");
    assert_eq!(alternate, [0, 1, 0x0d, 0x96, 198, 51, 100, 201]);
    let errors: Vec<u16> = c
        .raw
        .iter()
        .filter_map(|d| {
            ice_sans_io::stun::Message::decode(d)
                .ok()?
                .error_code()
                .map(|e| e.code)
        })
        .collect();
    // The first, unsigned Allocate is redirected at once, without a 401 (as the simulator's
    // server does).
    assert_eq!(errors.first(), Some(&300), "{errors:?}");
}
