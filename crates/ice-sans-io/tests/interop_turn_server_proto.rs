//! Our TURN client against `turn-server-proto` (ystreet/turn-proto, a sans-IO TURN server
//! nobody here wrote), end to end in memory and in virtual time: the long-term credential
//! dance, Send and Data indications, a channel and ChannelData both ways, the refreshes with
//! the server's nonce expiring (438 on a real server), and the close.
#![allow(clippy::unwrap_used)] // fixtures

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_sans_io::turn::{
    AddressFamily, TurnClient, TurnConfig, TurnCredentials, TurnEvent, TurnReceived, TurnState,
};
use turn_server_proto::api::TurnServerApi;
use turn_server_proto::server::TurnServer;
use turn_server_proto::stun::agent::Transmit;
use turn_server_proto::types::{Instant as SInstant, TransportType};

#[path = "support/turn_server_proto.rs"]
mod turn_server_proto_support;
use turn_server_proto_support::serve;

const UDP: TransportType = TransportType::Udp;

fn listen() -> SocketAddr {
    "192.0.2.1:3478".parse().unwrap()
}
fn base() -> SocketAddr {
    "10.0.0.1:5000".parse().unwrap()
}

/// The client, the server, one virtual clock, and what reached the peer.
struct Net {
    client: TurnClient,
    server: TurnServer,
    t0: Instant,
    now: Instant,
    at_peer: Vec<Vec<u8>>,
    at_client: Vec<(SocketAddr, Vec<u8>)>,
    events: Vec<TurnEvent>,
    /// The address the server relays from, and the peer.
    relayed: SocketAddr,
    peer: SocketAddr,
    /// Datagrams the server sent the client.
    delivered: usize,
}

impl Net {
    fn snow(&self) -> SInstant {
        SInstant::from_nanos((self.now - self.t0).as_nanos() as i64)
    }

    /// Delivers a datagram the server sent.
    fn deliver_server_datagram(&mut self, t: Transmit<Vec<u8>>) {
        if t.to == base() {
            assert_eq!(t.from, listen());
            self.delivered += 1;
            let data = match self.client.handle_receive(self.now, t.from, &t.data) {
                TurnReceived::Consumed => return,
                TurnReceived::Data { peer, data } => (peer, data.to_vec()),
                other => panic!("the client dropped a server datagram: {other:?}"),
            };
            self.at_client.push(data);
        } else {
            assert_eq!((t.from, t.to), (self.relayed, self.peer));
            self.at_peer.push(t.data);
        }
    }

    /// Runs the server: its socket requests, then its pending transmits.
    fn run_server(&mut self) {
        let (relayed, now) = (self.relayed, self.snow());
        serve(
            &mut self.server,
            now,
            |family| {
                // The server asks for the family our REQUESTED-ADDRESS-FAMILY named.
                let v6 = family == turn_server_proto::types::AddressFamily::IPV6;
                assert_eq!(v6, relayed.is_ipv6(), "{family:?}");
                relayed
            },
            |_| {},
        );
        while let Some(t) = self.server.poll_transmit(self.snow()) {
            self.deliver_server_datagram(t);
        }
    }

    /// Moves everything until both sides are quiet.
    fn settle(&mut self) {
        for _ in 0..32 {
            let mut sent = Vec::new();
            while let Some(t) = self.client.poll_transmit() {
                assert_eq!((t.local, t.remote), (base(), listen()));
                sent.push(t.data.to_vec());
            }
            self.events
                .extend(std::iter::from_fn(|| self.client.poll_event()));
            let before = self.delivered;
            let quiet = sent.is_empty();
            for d in sent {
                self.send_to_server(base(), d);
            }
            self.run_server();
            if quiet && self.delivered == before {
                return;
            }
        }
        panic!("no quiet state after 32 rounds");
    }

    fn send_to_server(&mut self, from: SocketAddr, data: Vec<u8>) {
        let to = if from == self.peer {
            self.relayed
        } else {
            listen()
        };
        let now = self.snow();
        if let Some(t) = self.server.recv(Transmit::new(data, UDP, from, to), now) {
            let t = t.build();
            self.deliver_server_datagram(Transmit::new(t.data, t.transport, t.from, t.to));
        }
    }

    fn advance_to(&mut self, d: Duration) {
        while let Some(t) = self.client.poll_timeout() {
            if t > self.t0 + d {
                break;
            }
            self.now = t;
            self.client.handle_timeout(t);
            self.settle();
        }
        self.now = self.t0 + d;
        self.client.handle_timeout(self.now);
        self.settle();
    }

    fn take_events(&mut self) -> Vec<TurnEvent> {
        std::mem::take(&mut self.events)
    }
}

#[test]
fn turn_server_proto_allocate_relay_refresh_close() {
    let relayed = "192.0.2.1:49152".parse().unwrap();
    exercise(None, relayed, "198.51.100.9:7000".parse().unwrap());
}

/// RFC 8656 §7.1: REQUESTED-ADDRESS-FAMILY IPv6 over an IPv4 path to the server; the peer and
/// the relayed address are IPv6.
#[test]
fn turn_server_proto_ipv6_allocation() {
    let relayed = "[2001:db8::1]:49152".parse().unwrap();
    exercise(
        Some(AddressFamily::V6),
        relayed,
        "[2001:db8:9::9]:7000".parse().unwrap(),
    );
}

fn exercise(family: Option<AddressFamily>, relayed: SocketAddr, peer: SocketAddr) {
    #[allow(clippy::disallowed_methods)]
    let t0 = Instant::now();
    let mut server = TurnServer::new(UDP, listen(), "example.org".to_string());
    server.add_user("romeo".into(), "wherefore".into());
    // Nonces live 200 s: the refreshes below meet 438 Stale Nonce from a real server.
    server.set_nonce_expiry_duration(Duration::from_secs(200));
    let mut cfg = TurnConfig::default();
    cfg.software = Some("jingle-ice interop");
    cfg.family = family;
    let creds = TurnCredentials::new("romeo", "wherefore");
    let client = TurnClient::new(cfg, listen(), base(), creds, [8; 32]).unwrap();
    let mut net = Net {
        client,
        server,
        t0,
        now: t0,
        at_peer: Vec::new(),
        at_client: Vec::new(),
        events: Vec::new(),
        delivered: 0,
        relayed,
        peer,
    };

    // Allocate: 401, then the signed retry (RFC 8489 §9.2).
    net.client.allocate(net.now).unwrap();
    net.settle();
    let ev = net.take_events();
    let Some(TurnEvent::Allocated {
        relayed: r,
        mapped,
        lifetime,
    }) = ev.first().cloned()
    else {
        panic!("no allocation: {ev:?}");
    };
    assert_eq!(r, relayed);
    assert_eq!(
        mapped,
        Some(base()),
        "XOR-MAPPED-ADDRESS is the client as the server saw it"
    );
    assert_eq!(net.client.state(), TurnState::Allocated);
    assert!(lifetime > Duration::ZERO);

    // A permission, then a Send indication reaches the peer; the peer's answer comes back in a
    // Data indication (RFC 8656 §9, §11).
    net.client.create_permission(net.now, peer.ip()).unwrap();
    net.settle();
    assert_eq!(
        net.take_events(),
        vec![TurnEvent::PermissionCreated { peer: peer.ip() }]
    );
    let t = net
        .client
        .send_to(net.now, peer, b"hello peer")
        .unwrap()
        .data
        .to_vec();
    net.send_to_server(base(), t);
    assert_eq!(net.at_peer.pop().as_deref(), Some(&b"hello peer"[..]));
    net.send_to_server(peer, b"hello client".to_vec());
    assert_eq!(net.at_client.pop(), Some((peer, b"hello client".to_vec())));

    // A channel: ChannelData both ways (RFC 8656 §12).
    let ch = net.client.bind_channel(net.now, peer).unwrap();
    net.settle();
    assert_eq!(
        net.take_events(),
        vec![TurnEvent::ChannelBound { peer, channel: ch }]
    );
    let t = net
        .client
        .send_to(net.now, peer, b"over the channel")
        .unwrap()
        .data
        .to_vec();
    assert_eq!(&t[..2], &ch.to_be_bytes());
    net.send_to_server(base(), t);
    assert_eq!(net.at_peer.pop().as_deref(), Some(&b"over the channel"[..]));
    net.send_to_server(peer, b"and back".to_vec());
    assert_eq!(net.at_client.pop(), Some((peer, b"and back".to_vec())));

    // Twenty virtual minutes: the allocation, the permission and the channel are refreshed
    // (the nonce expires on the way; 438 answered), and relaying still works.
    net.advance_to(Duration::from_secs(1200));
    let ev = net.take_events();
    assert!(
        ev.iter().all(|e| matches!(e, TurnEvent::Refreshed { .. })),
        "only refreshes: {ev:?}"
    );
    assert!(ev.len() >= 2, "{ev:?}");
    assert!(
        net.client.stats().stale_nonces > 0,
        "{:?}",
        net.client.stats()
    );
    assert_eq!(net.client.state(), TurnState::Allocated);
    let t = net
        .client
        .send_to(net.now, peer, b"still here")
        .unwrap()
        .data
        .to_vec();
    net.send_to_server(base(), t);
    assert_eq!(net.at_peer.pop().as_deref(), Some(&b"still here"[..]));
    net.send_to_server(peer, b"me too".to_vec());
    assert_eq!(net.at_client.pop(), Some((peer, b"me too".to_vec())));

    // Close: Refresh with LIFETIME 0 (RFC 8656 §8).
    net.client.close(net.now);
    net.settle();
    assert_eq!(net.take_events(), vec![TurnEvent::Closed]);
    assert_eq!(net.client.state(), TurnState::Closed);
    let s = net.client.stats();
    assert_eq!(
        (
            s.dropped_malformed,
            s.dropped_bad_integrity,
            s.dropped_unknown_transaction
        ),
        (0, 0, 0)
    );
}
