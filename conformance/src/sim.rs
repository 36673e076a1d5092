//! The simulator backend of the topology runner: one script, one seed, in virtual time on
//! [`ice_netsim::Sim`]: build the network, place the two sides (Jingle endpoints with their ICE
//! stacks, [`Endpoint`], built by [`make_endpoint`]), let the [`Conductor`] carry every stanza
//! they send over the signalling path (XML text, `[signalling] latency_ms`), send the
//! application data the script asks for and check `[expect]`, and write a pcap per network
//! when asked.
//!
//! A side of `impl = "ice-sans-io"` is a `jingle-ice-glue` session
//! ([`crate::peers::ours::Ours`]); a foreign stack is its adapter inside
//! [`crate::peers::jingle::JingleEndpoint`]. So a run ours↔ours goes through two glue
//! sessions, ours↔str0m through one glue session and the endpoint, and every stanza on the path
//! (the IQ-sets and their IQ-results) is real XML, read back by the glue or by the model's
//! strict reader. Holding back signalling (a responder's until session-initiate arrived,
//! everything of a side that does not trickle until its gathering completed) is the endpoints'
//! business. Whatever an endpoint reports as wrong in the signalling (a refusal, an IQ-error,
//! an IQ timeout) is a failure of the run.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ice_netsim::topology::JingleRole;
use ice_netsim::{HostId, Node, Sim, TcpCommand, TcpEvent, Topology, Transmit};

use crate::peers::make_endpoint;
use crate::runner::conductor::{Conductor, RunResult};
use crate::runner::config::{RunOptions, peer_config};
use crate::runner::peer::Endpoint;
use crate::runner::signal::Sent;
use crate::runner::xmpp;

/// Loop turns at one virtual instant after which the run is stopped as stalled.
const MAX_ROUNDS_AT_ONE_INSTANT: usize = 100_000;
/// An endpoint as a simulator node.
struct AsNode<'a>(&'a mut dyn Endpoint);

impl Node for AsNode<'_> {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        self.0.handle_datagram(now, from, to, data);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now);
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.0.poll_transmit()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }
    fn poll_tcp(&mut self) -> Option<TcpCommand> {
        self.0.poll_tcp()
    }
    fn handle_tcp(&mut self, now: Instant, event: TcpEvent) {
        self.0.handle_tcp(now, event);
    }
}

/// Runs `topology` once.
pub fn run(topology: &Topology, options: &RunOptions<'_>) -> Result<RunResult> {
    run_inner(topology, options, false).map(|(r, _)| r)
}

/// Runs `topology` once and returns, with the result, every stanza the signalling path
/// carried, in the order sent.
pub fn run_with_transcript(
    topology: &Topology,
    options: &RunOptions<'_>,
) -> Result<(RunResult, Vec<Sent>)> {
    run_inner(topology, options, true)
}
fn run_inner(
    topology: &Topology,
    options: &RunOptions<'_>,
    transcript: bool,
) -> Result<(RunResult, Vec<Sent>)> {
    let seed = options.seed.unwrap_or(topology.seed);
    // The start of virtual time; results do not depend on it (only differences are used).
    #[allow(clippy::disallowed_methods)]
    let t0 = Instant::now();
    let mut topology = topology.clone();
    topology.seed = seed;
    let mut sim = Sim::new(&topology, t0);
    if options.pcap.is_some() {
        sim.enable_capture();
    }
    // With `[signalling] via`, the agents log in first (the runner plays the server); the run
    // starts once their logins have crossed the network.
    let (base, seen) = log_in(&mut sim, &topology, t0)?;
    let mut endpoints = Vec::new();
    let mut hosts = Vec::new();
    let mut learned = Vec::new();
    for role in [JingleRole::Initiator, JingleRole::Responder] {
        let agent = topology.agent(role);
        let host = HostId(agent.host);
        let mut config = peer_config(
            &topology,
            role,
            seed,
            sim.host_ips(host),
            base,
            ice_netsim::turn_server::REST_EPOCH,
        )?;
        if let (true, Some((_, _, server))) = (agent.discover, xmpp::via(&topology)) {
            let rest_now = std::time::UNIX_EPOCH
                + std::time::Duration::from_secs(ice_netsim::turn_server::REST_EPOCH)
                + base.saturating_duration_since(t0);
            let l = xmpp::learn_in_process(
                &topology,
                server,
                &config.local_jid,
                &config.host_ips,
                seen.iter()
                    .find(|(j, _)| *j == config.local_jid)
                    .and_then(|(_, a)| *a),
                rest_now,
            )?;
            config.take_learned(&l);
            learned.push((endpoints.len(), l));
        }
        let endpoint = make_endpoint(&agent.implementation, &config)
            .with_context(|| format!("{}:{}: impl", topology.file, agent.impl_line))?;
        endpoints.push(endpoint);
        hosts.push(host);
    }
    let mut conductor = Conductor::new(&topology, endpoints, base, transcript, seed)?;
    for (side, l) in learned {
        conductor.set_learned(side, l);
    }
    let deadline = base + topology.duration;

    let mut now = base;
    let mut same_instant = 0usize;
    loop {
        if conductor.turn(now) {
            break;
        }

        // The next thing to happen: a datagram, an agent's timer, a stanza, the hold timer.
        let due = conductor.next_due(now);
        let [a, b] = conductor.endpoints();
        let mut a = AsNode(a);
        let mut b = AsNode(b);
        let mut nodes: [(HostId, &mut dyn Node); 2] = [(hosts[0], &mut a), (hosts[1], &mut b)];
        // Whatever signalling or data made the peers send at `now` goes out now.
        sim.step(now, &mut nodes)
            .with_context(|| format!("seed {seed}"))?;
        let next = [sim.next_time(&nodes), due].into_iter().flatten().min();
        match next {
            Some(t) if t <= deadline => {
                if t <= now {
                    same_instant += 1;
                    if same_instant > MAX_ROUNDS_AT_ONE_INSTANT {
                        bail!(
                            "seed {seed}: no progress at {} ms: a peer keeps asking for the same instant",
                            now.saturating_duration_since(base).as_millis()
                        );
                    }
                } else {
                    same_instant = 0;
                }
                now = now.max(t);
                sim.step(now, &mut nodes)
                    .with_context(|| format!("seed {seed}"))?;
            }
            _ => {
                now = deadline;
                break;
            }
        }
    }

    let stats = sim.stats();
    let (result, log) = conductor.finish(now, (stats.delivered, stats.lost));
    if let Some(dir) = options.pcap {
        write_pcaps(&sim, &topology, dir)?;
    }
    Ok((result, log))
}

/// Writes `DIR/<script>-<network>.pcap` for every network.
fn write_pcaps(sim: &Sim, topology: &Topology, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let stem = Path::new(&topology.file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("topology");
    for (network, capture) in sim.captures() {
        let path = dir.join(format!("{stem}-{network}.pcap"));
        std::fs::write(&path, capture.bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The port each agent's login leaves from (a client's TCP connection has a socket of its own,
/// not the ICE socket's).
const LOGIN_PORT: u16 = 40_000;
/// The longest the logins may take to cross the network.
const LOGIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// A JID and the address the server saw its login come from (`None`: it did not arrive).
type Seen = (String, Option<SocketAddr>);

/// One datagram to send, then nothing: an agent's login as the simulator's XMPP stand-in sees
/// it.
struct Login(Option<Transmit>);

impl Node for Login {
    fn handle_datagram(&mut self, _: Instant, _: SocketAddr, _: SocketAddr, _: &[u8]) {}
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.0.take()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

/// With `[signalling] via`: each agent's host sends its login (a datagram naming its JID,
/// `ice_netsim::xmpp_stand_in`) to the server, and the address the server saw is what XEP-0279
/// answers. Returns when the run starts (after the logins, or `t0`) and each JID with the
/// address seen (`None`: the login did not arrive).
fn log_in(sim: &mut Sim, topology: &Topology, t0: Instant) -> Result<(Instant, Vec<Seen>)> {
    let Some((_, port, server)) = xmpp::via(topology) else {
        return Ok((t0, Vec::new()));
    };
    let Some(&(server_ip, _)) = topology.hosts[server].ips.first() else {
        bail!(
            "the xmpp host {} has no address",
            topology.hosts[server].name
        );
    };
    let mut logins = Vec::new();
    for agent in &topology.agents {
        let host = HostId(agent.host);
        let Some(ip) = sim
            .host_ips(host)
            .into_iter()
            .find(|ip| ip.is_ipv4() == server_ip.is_ipv4())
        else {
            continue;
        };
        let Some(jid) = xmpp::account_jid(topology, agent.host) else {
            continue;
        };
        let login = Login(Some(Transmit {
            from: SocketAddr::new(ip, LOGIN_PORT),
            to: SocketAddr::new(server_ip, port),
            data: jid.clone().into_bytes(),
        }));
        logins.push((host, jid, login));
    }
    let mut now = t0;
    {
        let mut nodes: Vec<(HostId, &mut dyn Node)> = logins
            .iter_mut()
            .map(|(h, _, l)| (*h, l as &mut dyn Node))
            .collect();
        sim.step(now, &mut nodes)?;
        while let Some(t) = sim.next_time(&nodes).filter(|t| *t <= t0 + LOGIN_TIME) {
            now = now.max(t);
            sim.step(now, &mut nodes)?;
        }
    }
    let name = &topology.hosts[server].name;
    let stand_in = sim
        .xmpp_server(name)
        .with_context(|| format!("the simulator has no XMPP stand-in on {name}"))?;
    let seen = logins
        .into_iter()
        .map(|(_, jid, _)| {
            let from = stand_in.seen_from(jid.as_bytes());
            (jid, from)
        })
        .collect();
    Ok((now, seen))
}
