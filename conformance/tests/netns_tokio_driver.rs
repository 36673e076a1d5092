//! Our agent through the tokio driver of ice-sans-io (the way an application runs it) in a
//! netns lab: each side on its own thread inside its host's namespace, with its own runtime,
//! both behind port-restricted cone NATs (nftables) with coturn as STUN server. The candidates
//! and credentials cross between the threads as Jingle transport-info would carry them.
//!
//! Ignored in a plain `cargo test` (root, nftables, coturn); `cargo xtask ci` runs it in its
//! netns step with `--ignored`, where it fails loudly when any is missing.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ice_netsim::Topology;
use ice_netsim::netns::Lab;
use ice_sans_io::driver::{Driver, DriverEvent};
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
