//! The simulator's TURN server over TLS (RFC 8656 §3.1, feature `tls`): a TLS 1.3 client of
//! the simulated authority ([`ice_netsim::tls`]) on the client host's simulated TCP, through a
//! NAT, to the server's `tls_port`; STUN inside the records.
#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_netsim::tls::{SimCa, SimTls};
use ice_netsim::{HostId, Node, Sim, TcpCommand, TcpConnId, TcpEvent, Transmit, tls_ca_seed};
use turn_support::{CLIENT, addr, long_term, script};

mod turn_support;

const TLS_SERVER: &str = "198.51.100.200:5349";

/// A Binding request (RFC 8489 §5) with transaction id `id`, and an Allocate without
/// credentials (RFC 8656 §7.1: REQUESTED-TRANSPORT UDP), which the server answers with 401.
fn binding(id: u8) -> Vec<u8> {
    let mut m = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
    m.extend_from_slice(&[id; 12]);
    m
}

fn allocate(id: u8) -> Vec<u8> {
    let mut m = vec![0x00, 0x03, 0x00, 0x08, 0x21, 0x12, 0xA4, 0x42];
    m.extend_from_slice(&[id; 12]);
    // REQUESTED-TRANSPORT (0x0019): protocol 17, RFFU.
    m.extend_from_slice(&[0x00, 0x19, 0x00, 0x04, 17, 0, 0, 0]);
    m
}

/// A TLS client node: connects, handshakes, sends `requests`, keeps what it decrypts.
struct Client {
    tls: Option<SimTls>,
    server_name: String,
    ca_seed: [u8; 32],
    conn: Option<TcpConnId>,
    cmds: VecDeque<TcpCommand>,
    requests: Vec<Vec<u8>>,
    plain: Vec<u8>,
    /// Every ciphertext byte the server sent.
    wire: Vec<u8>,
    failed: Option<String>,
    ended: bool,
    /// The latest time it was given: commands queued are due then.
    now: Instant,
    /// Bytes sent raw instead of TLS once connected.
    raw: Option<Vec<u8>>,
}

impl Client {
    fn new(now: Instant, server_name: &str, ca_seed: [u8; 32], requests: Vec<Vec<u8>>) -> Client {
        let mut cmds = VecDeque::new();
        cmds.push_back(TcpCommand::Connect {
            token: 1,
            from: addr(CLIENT),
            to: addr(TLS_SERVER),
        });
        Client {
            tls: None,
            server_name: server_name.to_owned(),
            ca_seed,
            conn: None,
            cmds,
            requests,
            plain: Vec::new(),
            wire: Vec::new(),
            failed: None,
            ended: false,
            now,
            raw: None,
        }
    }

    fn flush(&mut self) {
        let (Some(tls), Some(conn)) = (self.tls.as_mut(), self.conn) else {
            return;
        };
        while let Some(data) = tls.poll_ciphertext() {
            self.cmds.push_back(TcpCommand::Send { conn, data });
        }
    }
}

impl Node for Client {
    fn handle_datagram(&mut self, _: Instant, _: SocketAddr, _: SocketAddr, _: &[u8]) {}
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self) -> Option<Transmit> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        // Queued commands go out at the next step: make sure there is one.
        (!self.cmds.is_empty()).then_some(self.now)
    }
    fn poll_tcp(&mut self) -> Option<TcpCommand> {
        self.cmds.pop_front()
    }
    fn handle_tcp(&mut self, now: Instant, event: TcpEvent) {
        self.now = now;
        match event {
            TcpEvent::Connected { conn, .. } => {
                self.conn = Some(conn);
                if let Some(data) = self.raw.take() {
                    self.cmds.push_back(TcpCommand::Send { conn, data });
                    return;
                }
                let ca = SimCa::new(self.ca_seed).unwrap();
                let mut tls = SimTls::client(&self.server_name, &ca, [9; 32]).unwrap();
                for r in &self.requests {
                    tls.write_plaintext(r).unwrap();
                }
                self.tls = Some(tls);
                self.flush();
            }
            TcpEvent::Data { data, .. } => {
                self.wire.extend_from_slice(&data);
                let Some(tls) = self.tls.as_mut() else { return };
                if let Err(e) = tls.handle_ciphertext(&data) {
                    self.failed = Some(e.to_string());
                }
                tls.read_plaintext(&mut self.plain);
                self.flush();
            }
            TcpEvent::Closed { .. } | TcpEvent::Reset { .. } => self.ended = true,
            TcpEvent::ConnectFailed { reason, .. } => self.failed = Some(format!("{reason:?}")),
            _ => {}
        }
    }
}

/// Runs `client` against turn1 (TLS on 5349) for a few virtual seconds.
fn run(server_name: &str, requests: Vec<Vec<u8>>) -> (Client, Sim) {
    let t = script(&long_term(
        r#", transports = ["udp", "tls"], tls_port = 5349"#,
    ));
    let base = t0();
    let mut sim = Sim::new(&t, base);
    sim.enable_capture();
    let mut client = Client::new(base, server_name, tls_ca_seed(t.seed), requests);
    let host = sim.host("client").unwrap();
    {
        let mut nodes: Vec<(HostId, &mut dyn Node)> = vec![(host, &mut client)];
        sim.run_until(base + Duration::from_secs(5), &mut nodes, |_| false)
            .unwrap();
    }
    (client, sim)
}

#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

/// The STUN messages in `bytes` (each by its length field, RFC 8489 §5): (type, length).
fn messages(mut bytes: &[u8]) -> Vec<(u16, usize)> {
    let mut out = Vec::new();
    while bytes.len() >= 20 {
        let ty = u16::from_be_bytes([bytes[0], bytes[1]]);
        let len = 20 + usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        out.push((ty, len));
        bytes = &bytes[len.min(bytes.len())..];
    }
    out
}

#[test]
fn binding_and_allocate_over_tls_through_a_nat() {
    let (client, sim) = run("turn1", vec![binding(1), allocate(2)]);
    assert_eq!(
        client.failed,
        None,
        "{:?}",
        sim.turn_server("turn1").unwrap().stats()
    );
    assert!(client.conn.is_some(), "connected");
    let got = messages(&client.plain);
    // A Binding success (0x0101) and the Allocate's 401 error response (0x0113).
    assert_eq!(
        got.iter().map(|m| m.0).collect::<Vec<_>>(),
        [0x0101, 0x0113]
    );
    let stats = sim.turn_server("turn1").unwrap().stats();
    assert_eq!((stats.tcp.accepted, stats.tcp.tls_accepted), (1, 1));
    // Nothing in the clear: the 401's REALM "example" is inside the records only.
    assert!(!client.wire.windows(7).any(|w| w == b"example"));
    assert!(client.plain.windows(7).any(|w| w == b"example"));
}

/// The certificate names turn1: a client that expects turn2 refuses it (RFC 6125), and the
/// server hears no request.
#[test]
fn a_client_expecting_another_name_refuses_the_certificate() {
    let (client, sim) = run("turn2", vec![binding(1)]);
    assert!(client.failed.is_some());
    assert!(client.plain.is_empty());
    assert_eq!(sim.turn_server("turn1").unwrap().stats().bindings, 0);
}

/// The same seed, the same ciphertext on every network.
#[test]
fn tls_replays_byte_for_byte() {
    let captures =
        |s: &Sim| -> Vec<Vec<u8>> { s.captures().map(|(_, c)| c.bytes().to_vec()).collect() };
    let (a, sa) = run("turn1", vec![binding(1), allocate(2)]);
    let (b, sb) = run("turn1", vec![binding(1), allocate(2)]);
    assert_eq!(a.wire, b.wire);
    assert!(!a.wire.is_empty());
    assert!(captures(&sa) == captures(&sb));
}

/// Garbage instead of a ClientHello: the connection is broken and counted, nothing panics.
#[test]
fn garbage_on_the_tls_port_breaks_the_connection() {
    let t = script(&long_term(
        r#", transports = ["udp", "tls"], tls_port = 5349"#,
    ));
    let base = t0();
    let mut sim = Sim::new(&t, base);
    let mut client = Client::new(base, "turn1", tls_ca_seed(t.seed), Vec::new());
    client.raw = Some(vec![0x16, 0x03, 0x01, 0x00, 0x04, 1, 2, 3, 4]);
    let host = sim.host("client").unwrap();
    {
        let mut nodes: Vec<(HostId, &mut dyn Node)> = vec![(host, &mut client)];
        sim.run_until(base + Duration::from_secs(5), &mut nodes, |_| false)
            .unwrap();
    }
    assert!(client.conn.is_some());
    assert!(client.ended, "the server aborts the connection");
    let stats = sim.turn_server("turn1").unwrap().stats();
    assert_eq!((stats.tcp.tls_accepted, stats.tcp.broken), (1, 1));
    assert_eq!(sim.turn_server("turn1").unwrap().connection_count(), 0);
}
