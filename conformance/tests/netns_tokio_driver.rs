//! Our agent through the tokio driver of ice-sans-io (the way an application runs it) in a
//! netns lab: each side on its own thread inside its host's namespace, with its own runtime,
//! both behind port-restricted cone NATs (nftables) with coturn as STUN server. The candidates
//! and credentials cross between the threads as Jingle transport-info would carry them.
//!
//! A second test has the driver reach the lab's coturn over TLS (RFC 8656 §3.1, feature `tls`
//! of ice-sans-io) from behind a NAT, trusting the run's simulated authority only.
//!
//! Ignored in a plain `cargo test` (root, nftables, coturn); `cargo xtask ci` runs them in its
//! netns step with `--ignored`, where they fail loudly when any is missing.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ice_netsim::netns::Lab;
use ice_netsim::tls::SimCa;
use ice_netsim::{Topology, tls_ca_seed};
use ice_sans_io::driver::{Driver, DriverEvent, DriverTlsConfig};
use ice_sans_io::turn::{TurnCredentials, TurnFailure, TurnTransport};
use ice_sans_io::{CandidateKind, Config, Event, IceAgent, Role, State};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

const SCRIPT: &str = include_str!("../topologies/nat-eim-apdf--eim-apdf.toml");

/// What one side tells the other (the content of session-initiate, session-accept and
/// transport-info).
#[derive(Debug)]
enum Signal {
    Credentials(String, String),
    Candidate(ice_sans_io::Candidate),
    Done,
}

/// What a side saw.
#[derive(Debug)]
struct Seen {
    local: CandidateKind,
    remote: CandidateKind,
    base: SocketAddr,
    received: Vec<u8>,
}

/// One side: binds on `ip`, asks `stun`, signals through `out`, reads `inbox`, connects, sends
/// one datagram and waits for the other side's.
async fn side(
    role: Role,
    ip: IpAddr,
    stun: SocketAddr,
    out: UnboundedSender<Signal>,
    mut inbox: UnboundedReceiver<Signal>,
) -> Result<Seen, String> {
    let seed = if role == Role::Controlling {
        [1; 32]
    } else {
        [2; 32]
    };
    let mut agent = IceAgent::new(Config::new(role), seed);
    agent.add_stun_server(stun);
    let (ufrag, pwd) = agent.local_credentials();
    let _ = out.send(Signal::Credentials(ufrag.to_owned(), pwd.to_owned()));
    let mut driver = Driver::bind(agent, &[(1, SocketAddr::new(ip, 0))])
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let mut sent = false;
    let mut inbox_open = true;
    loop {
        tokio::select! {
            signal = inbox.recv(), if inbox_open => {
                let now = driver.now();
                let agent = driver.agent_mut();
                match signal {
                    Some(Signal::Credentials(u, p)) => agent
                        .set_remote_credentials(now, &u, &p)
                        .map_err(|e| format!("credentials: {e}"))?,
                    Some(Signal::Candidate(c)) => agent
                        .add_remote_candidate(now, c)
                        .map_err(|e| format!("candidate: {e}"))?,
                    Some(Signal::Done) => agent.end_of_remote_candidates(now),
                    None => inbox_open = false,
                }
                driver.flush();
            }
            event = driver.next() => match event.map_err(|e| format!("socket: {e}"))? {
                DriverEvent::Ice(Event::LocalCandidate(c)) => {
                    let _ = out.send(Signal::Candidate(c));
                }
                DriverEvent::Ice(Event::GatheringComplete) => {
                    let _ = out.send(Signal::Done);
                }
                DriverEvent::Ice(Event::StateChanged(State::Completed)) if !sent => {
                    driver
                        .send(1, format!("hello from {role:?}").as_bytes())
                        .await
                        .map_err(|e| format!("send: {e}"))?;
                    sent = true;
                }
                DriverEvent::Ice(Event::StateChanged(s @ (State::Failed | State::Disconnected))) => {
                    return Err(format!("{role:?}: {}", s.as_str()));
                }
                DriverEvent::Data { data, .. } => {
                    let pair = driver.agent().selected_pair(1).ok_or("no selected pair")?;
                    // Our datagram may still be on its way: keep the agent running a moment.
                    let until = tokio::time::Instant::now() + Duration::from_millis(500);
                    while let Ok(e) = tokio::time::timeout_at(until, driver.next()).await {
                        e.map_err(|e| format!("socket: {e}"))?;
                    }
                    return Ok(Seen {
                        local: pair.local.kind,
                        remote: pair.remote.kind,
                        base: pair.base,
                        received: data,
                    });
                }
                _ => {}
            }
        }
    }
}

#[test]
#[ignore = "needs root, nftables and coturn: run by `cargo xtask ci` (netns step)"]
fn the_tokio_driver_connects_across_two_nats_one_runtime_per_namespace() {
    let topology = Topology::parse("nat-eim-apdf--eim-apdf.toml", SCRIPT).unwrap();
    let lab = Lab::build(&topology).unwrap();
    let stun = topology.agents[0].stun[0];
    let (to_b, from_a) = unbounded_channel();
    let (to_a, from_b) = unbounded_channel();
    let mut threads = Vec::new();
    for (name, role, out, inbox) in [
        ("romeo", Role::Controlling, to_b, from_b),
        ("juliet", Role::Controlled, to_a, from_a),
    ] {
        let host = lab.host(name).unwrap();
        let ip = host.ips[0];
        let thread = lab
            .spawn_in(&host.namespace, move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                rt.block_on(async {
                    tokio::time::timeout(Duration::from_secs(15), side(role, ip, stun, out, inbox))
                        .await
                        .map_err(|_| format!("{role:?}: no connection within 15 s"))?
                })
            })
            .unwrap();
        threads.push(thread);
    }
    let seen: Vec<Seen> = threads
        .into_iter()
        .map(|t| t.join().unwrap().unwrap().unwrap())
        .collect();
    drop(lab);
    for (i, s) in seen.iter().enumerate() {
        let other = if i == 0 { "Controlled" } else { "Controlling" };
        assert_eq!(s.received, format!("hello from {other}").as_bytes());
        // Behind EIM + APDF NATs only the server-reflexive pair works (RFC 4787 §4.1, §5):
        // the local candidate is the srflx one (or a peer-reflexive one at the same address),
        // its base the host's private address.
        assert!(
            matches!(
                s.local,
                CandidateKind::ServerReflexive | CandidateKind::PeerReflexive
            ),
            "{s:?}"
        );
        assert!(
            matches!(
                s.remote,
                CandidateKind::ServerReflexive | CandidateKind::PeerReflexive
            ),
            "{s:?}"
        );
        assert!(s.base.ip().to_string().starts_with("10.0."), "{s:?}");
    }
}

/// A client behind an EIM/APDF NAT, and coturn on turn1 listening for TLS on 5349 with a
/// certificate for `turn1` of the run's simulated authority (`netns_turn_tls.rs` in ice-netsim
/// checks the lab side).
const TURN_TLS_SCRIPT: &str = r#"
format = 1
name = "the tokio driver to coturn over TLS from behind a NAT"
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
port_preservation = true
[[host]]
name = "client"
network = "lan"
ip = "10.0.1.1"
[[host]]
name = "peer"
network = "internet"
ip = "198.51.100.2"
[[host]]
name = "turn1"
network = "internet"
ip = "198.51.100.200"
service = { kind = "turn", port = 3478, realm = "example", username = "user", password = "pass", transports = ["udp", "tls"], tls_port = 5349 }
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

/// A driver on `ip` with coturn at `server` over TLS as `name`, trusting the authority of
/// `ca_seed` only: the relayed address, or why the relay failed.
async fn allocate_over_tls(
    ip: IpAddr,
    server: SocketAddr,
    name: &'static str,
    ca_seed: [u8; 32],
) -> Result<Result<SocketAddr, TurnFailure>, String> {
    let mut agent = IceAgent::new(Config::new(Role::Controlling), [3; 32]);
    let tls = TurnTransport::Tls {
        server_name: name.into(),
    };
    agent
        .add_turn_server_over(server, TurnCredentials::new("user", "pass"), tls)
        .map_err(|e| format!("turn server: {e}"))?;
    let roots = SimCa::new(ca_seed)
        .and_then(|ca| ca.roots())
        .map_err(|e| format!("roots: {e}"))?;
    let mut driver = Driver::new(agent);
    driver.set_tls_config(DriverTlsConfig::with_roots(roots).map_err(|e| e.to_string())?);
    driver
        .add_udp_host(1, SocketAddr::new(ip, 0))
        .await
        .map_err(|e| format!("bind: {e}"))?;
    driver.gather();
    loop {
        match driver.next().await.map_err(|e| format!("socket: {e}"))? {
            DriverEvent::Ice(Event::RelayAllocated { relayed, .. }) => {
                // Release the allocation (Refresh with LIFETIME 0, RFC 8656 §7.2) and close
                // with close_notify; coturn's answer is not waited for.
                let now = driver.now();
                driver.agent_mut().close(now);
                driver.flush();
                let _ = tokio::time::timeout(Duration::from_millis(300), driver.next()).await;
                return Ok(Ok(relayed));
            }
            DriverEvent::Ice(Event::RelayFailed { reason, .. }) => return Ok(Err(reason)),
            _ => {}
        }
    }
}

#[test]
#[ignore = "needs root, nftables and coturn: run by `cargo xtask ci` (netns step)"]
fn the_tokio_driver_allocates_on_coturn_over_tls_from_behind_a_nat() {
    let topology = Topology::parse("turn-tls.toml", TURN_TLS_SCRIPT).unwrap();
    let lab = Lab::build(&topology).unwrap();
    let server: SocketAddr = "198.51.100.200:5349".parse().unwrap();
    let ca_seed = tls_ca_seed(topology.seed);
    let host = lab.host("client").unwrap();
    let ip = host.ips[0];
    let run = |name: &'static str| {
        lab.spawn_in(&host.namespace, move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                tokio::time::timeout(
                    Duration::from_secs(15),
                    allocate_over_tls(ip, server, name, ca_seed),
                )
                .await
                .map_err(|_| format!("{name}: no outcome within 15 s"))?
            })
        })
        .unwrap()
        .join()
        .unwrap()
        .unwrap()
    };
    // The certificate names turn1: the handshake succeeds, the agent allocates over it
    // (401, then the signed Allocate), and coturn relays from its public address.
    let relayed = run("turn1").unwrap().unwrap();
    assert_eq!(relayed.ip(), server.ip());
    // A client expecting another name refuses the certificate: the connect fails.
    assert_eq!(run("turn2").unwrap(), Err(TurnFailure::ConnectFailed));
    drop(lab);
}
