//! The simulator's STUN server over TCP (RFC 8489 §6.2.2; what RFC 6544 §5.2 gathering
//! needs): a client behind an endpoint-independent mapping NAT opens a connection from a
//! chosen port to the `kind = "stun"` service and writes Binding requests as they are; the
//! answers, decoded by an independent codec (ice-sans-io's), carry the NAT's mapping of that
//! port. Each test names what it checks.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_netsim::stun_server::MAX_TCP_STREAMS;
use ice_netsim::{HostId, Node, Sim, StunServer, TcpCommand, TcpConnId, TcpEvent, Topology};
use ice_netsim::{TcpFailure, Transmit};
use ice_sans_io::stun::{Class, Fingerprint, Message, MessageBuilder, Method, TransactionId};

const CLIENT: &str = "10.0.1.1:7000";
const SERVER: &str = "198.51.100.200:3478";
const NAT_IP: &str = "198.51.100.10";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

fn request(tid: u8) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let mut b = MessageBuilder::new(
        &mut buf,
        Class::Request,
        Method::BINDING,
        TransactionId::new([tid; 12]),
    )
    .expect("buffer");
    b.add_fingerprint().expect("fits");
    let n = b.finish();
    buf[..n].to_vec()
}

fn topology() -> Topology {
    let text = r#"
format = 1
name = "a client behind an EIM NAT and a STUN server"
[[network]]
name = "internet"
cidr = "198.51.100.0/24"
[[network]]
name = "lan"
cidr = "10.0.1.0/24"
[[nat]]
name = "nat"
inside = "lan"
outside = "internet"
public_ip = "198.51.100.10"
mapping = "endpoint-independent"
filtering = "address-and-port-dependent"
[[host]]
name = "client"
network = "lan"
ip = "10.0.1.1"
[[host]]
name = "stun"
network = "internet"
ip = "198.51.100.200"
service = { kind = "stun", port = 3478 }
[[host]]
name = "peer"
network = "internet"
ip = "198.51.100.2"
[[agent]]
host = "client"
impl = "any"
role = "initiator"
[[agent]]
host = "peer"
impl = "any"
role = "responder"
[expect]
outcome = "connected"
"#;
    Topology::parse("stun-tcp.toml", text).expect("script")
}

/// A client that connects from `CLIENT` (also listening there, as an ICE-TCP so candidate
/// does) and writes each of `writes` once connected.
struct Client {
    /// The latest instant the simulator gave (commands waiting are due then).
    clock: Option<Instant>,
    cmds: VecDeque<TcpCommand>,
    writes: Vec<Vec<u8>>,
    conn: Option<TcpConnId>,
    /// The start of the run.
    base: Instant,
    stream: Vec<u8>,
    ended: Option<TcpEvent>,
}

impl Client {
    fn new(base: Instant, writes: Vec<Vec<u8>>) -> Client {
        let mut cmds = VecDeque::new();
        cmds.push_back(TcpCommand::Listen { addr: addr(CLIENT) });
        cmds.push_back(TcpCommand::Connect {
            token: 1,
            from: addr(CLIENT),
            to: addr(SERVER),
        });
        Client {
            clock: None,
            cmds,
            writes,
            conn: None,
            base,
            stream: Vec::new(),
            ended: None,
        }
    }

    /// The STUN messages the server sent, decoded as they stand on the stream.
    fn answers(&self) -> Vec<Message<'_>> {
        let mut out = Vec::new();
        let mut rest = &self.stream[..];
        while rest.len() >= 20 {
            let len = 20 + usize::from(u16::from_be_bytes([rest[2], rest[3]]));
            let (m, tail) = rest.split_at(len.min(rest.len()));
            out.push(Message::decode(m).expect("one STUN message, unframed"));
            rest = tail;
        }
        assert!(rest.is_empty(), "whole messages only");
        out
    }
}

impl Node for Client {
    fn handle_datagram(&mut self, _: Instant, _: SocketAddr, _: SocketAddr, _: &[u8]) {}
    fn handle_timeout(&mut self, now: Instant) {
        self.clock = Some(now);
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        // Commands waiting: due at once (at the start, any instant: the run's base is later).
        if self.cmds.is_empty() {
            None
        } else {
            Some(self.clock.unwrap_or(self.base))
        }
    }
    fn poll_tcp(&mut self) -> Option<TcpCommand> {
        self.cmds.pop_front()
    }
    fn handle_tcp(&mut self, now: Instant, event: TcpEvent) {
        self.clock = Some(now);
        match event {
            TcpEvent::Connected { conn, .. } => {
                self.conn = Some(conn);
                for data in std::mem::take(&mut self.writes) {
                    self.cmds.push_back(TcpCommand::Send { conn, data });
                }
            }
            TcpEvent::Data { data, .. } => self.stream.extend_from_slice(&data),
            e @ (TcpEvent::Closed { .. }
            | TcpEvent::Reset { .. }
            | TcpEvent::ConnectFailed { .. }) => self.ended = Some(e),
            _ => {}
        }
    }
}

/// The origin of virtual time: any instant will do.
#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

/// Runs the client for `secs` seconds of virtual time from its base.
fn run(client: &mut Client, secs: u64) -> Sim {
    let base = client.base;
    let topology = topology();
    let mut sim = Sim::new(&topology, base);
    let host: HostId = sim.host("client").expect("client host");
    let mut nodes: [(HostId, &mut dyn Node); 1] = [(host, client)];
    sim.run_until(base + Duration::from_secs(secs), &mut nodes, |_| false)
        .expect("runs");
    sim
}

/// RFC 8489 §6.2.2, §14.2: a Binding request on a connection is answered on it, unframed,
/// with the XOR-MAPPED-ADDRESS of the connection as the server sees it: the NAT's mapping of
/// the client's port (the address an ICE-TCP so candidate's server-reflexive candidate takes).
#[test]
fn rfc8489_6_2_2_binding_over_tcp_answers_the_nat_mapping() {
    let mut c = Client::new(t0(), vec![request(1)]);
    let _ = run(&mut c, 5);
    let answers = c.answers();
    let [m] = &answers[..] else {
        panic!("one answer: {} bytes", c.stream.len())
    };
    assert_eq!((m.class(), m.method()), (Class::Success, Method::BINDING));
    assert_eq!(m.transaction_id(), TransactionId::new([1; 12]));
    assert_eq!(m.fingerprint(), Fingerprint::Ok);
    let mapped = m.mapped_address().expect("XOR-MAPPED-ADDRESS");
    assert_eq!(
        mapped.ip(),
        addr(&format!("{NAT_IP}:0")).ip(),
        "the NAT's address"
    );
    assert!(c.ended.is_none(), "the server keeps the connection open");
}

/// Several requests in one write and one request cut into byte-sized writes: each answered
/// once, in order (the stream is cut by the STUN length, not by segments).
#[test]
fn requests_in_any_chunking_are_each_answered() {
    let mut writes = vec![[request(1), request(2)].concat()];
    writes.extend(request(3).chunks(1).map(<[u8]>::to_vec));
    let mut c = Client::new(t0(), writes);
    let _ = run(&mut c, 5);
    let tids: Vec<TransactionId> = c.answers().iter().map(Message::transaction_id).collect();
    assert_eq!(
        tids,
        [1, 2, 3].map(|t| TransactionId::new([t; 12])).to_vec()
    );
}

/// Garbage (not STUN, or ChannelData: this server has no channels) after a good request:
/// the request is answered, then the connection is reset; a STUN message that is no Binding
/// request is dropped and the connection goes on.
#[test]
fn garbage_resets_the_connection_other_stun_is_dropped() {
    for garbage in [
        b"\xffnot stun".to_vec(),
        vec![0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4],
    ] {
        let mut c = Client::new(t0(), vec![request(1), garbage.clone()]);
        let _ = run(&mut c, 5);
        assert_eq!(c.answers().len(), 1, "{garbage:?}");
        assert!(
            matches!(
                c.ended,
                Some(TcpEvent::Reset {
                    reason: TcpFailure::Reset,
                    ..
                })
            ),
            "{garbage:?}: {:?}",
            c.ended
        );
    }
    let mut indication = request(2);
    indication[1] = 0x11; // a Binding indication
    let mut c = Client::new(t0(), vec![indication, request(3)]);
    let _ = run(&mut c, 5);
    let answers = c.answers();
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].transaction_id(), TransactionId::new([3; 12]));
    assert!(c.ended.is_none());
}

/// The client closes: the server closes its half too (the client sees the FIN).
#[test]
fn the_server_closes_when_the_client_does() {
    let mut c = Client::new(t0(), vec![request(1)]);
    let base = c.base;
    let mut sim = Sim::new(&topology(), base);
    let host = sim.host("client").expect("client host");
    let mut nodes: [(HostId, &mut dyn Node); 1] = [(host, &mut c)];
    sim.run_until(base + Duration::from_secs(2), &mut nodes, |_| false)
        .expect("runs");
    let conn = c.conn.expect("connected");
    c.cmds.push_back(TcpCommand::Close { conn });
    let mut nodes: [(HostId, &mut dyn Node); 1] = [(host, &mut c)];
    sim.run_until(base + Duration::from_secs(4), &mut nodes, |_| false)
        .expect("runs");
    assert_eq!(c.answers().len(), 1);
    assert!(
        matches!(c.ended, Some(TcpEvent::Closed { .. })),
        "{:?}",
        c.ended
    );
}

/// The node alone: connections beyond `MAX_TCP_STREAMS` are aborted; bytes held stay below
/// one message; an unknown connection's bytes are dropped.
#[test]
fn node_bounds() {
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let mut s = StunServer::new();
    let listener = addr(SERVER);
    s.listen_tcp(listener);
    s.listen_tcp(listener);
    assert_eq!(s.poll_tcp(), Some(TcpCommand::Listen { addr: listener }));
    assert_eq!(s.poll_tcp(), None, "listening twice asks once");
    for i in 0..=MAX_TCP_STREAMS as u64 {
        let e = TcpEvent::Accepted {
            listener,
            conn: TcpConnId(i),
            local: listener,
            remote: addr("198.51.100.10:40000"),
        };
        assert!(s.claims(&e));
        s.handle_tcp(now, e);
    }
    assert_eq!(s.stats().tcp_accepted, MAX_TCP_STREAMS as u64);
    assert_eq!(s.stats().tcp_refused, 1);
    let mut cmds = Vec::new();
    while let Some(c) = s.poll_tcp() {
        cmds.push(c);
    }
    assert_eq!(
        cmds,
        vec![TcpCommand::Abort {
            conn: TcpConnId(MAX_TCP_STREAMS as u64)
        }]
    );
    // Half a request is held, no more.
    let req = request(7);
    s.handle_tcp(
        now,
        TcpEvent::Data {
            conn: TcpConnId(0),
            data: req[..10].to_vec(),
        },
    );
    assert_eq!(s.stream_bytes_held(), 10);
    s.handle_tcp(
        now,
        TcpEvent::Data {
            conn: TcpConnId(0),
            data: req[10..].to_vec(),
        },
    );
    assert_eq!(s.stream_bytes_held(), 0);
    assert!(matches!(
        s.poll_tcp(),
        Some(TcpCommand::Send {
            conn: TcpConnId(0),
            ..
        })
    ));
    assert_eq!(s.stats().tcp_answered, 1);
    // Not its connection: not claimed.
    let foreign = TcpEvent::Data {
        conn: TcpConnId(999),
        data: req,
    };
    assert!(!s.claims(&foreign));
}
