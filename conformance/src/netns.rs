//! The netns backend of the topology runner (issue #8): the scripts of `conformance/topologies/`
//! on real sockets in Linux network namespaces, with peers the project did not write running as
//! real programs (libnice, [`crate::peers::libnice`]). One script, one seed: the network built
//! by [`ice_netsim::netns::Lab`] (namespaces, veth pairs, nftables NAT routers, coturn for STUN
//! and TURN services), the two sides on real sockets in their hosts' namespaces, on the real
//! clock.
//!
//! - Stacks that run in this process (`ice-sans-io`, `str0m`, `rice`) keep their sans-IO
//!   endpoints ([`Endpoint`]); the runner binds one UDP socket per host address and component
//!   (port [`host_port`]) inside the host's namespace and carries their datagrams. Every
//!   datagram such an endpoint sends crosses the *user-space path*: one hop per network on its
//!   way ([`Topology::path`]), each hop with the network's latency, jitter and loss drawn from
//!   the run's seed ([`ice_netsim::topology::LinkParams::hop`]), since the kernel here has no
//!   netem. Then the kernel routes it, through the NAT routers' rulesets: a NAT router sees the
//!   datagram once all its hops have passed, later than the simulator's router, which sees it
//!   after the first (it shifts times, not outcomes: docs/INTEROP.md, `two-components`).
//! - Their ICE-TCP (RFC 6544) is carried on real TCP sockets in the host's namespace
//!   ([`crate::netns_tcp`]): the endpoint's [`ice_netsim::TcpCommand`]s go to the kernel at
//!   once and what the sockets do comes back as [`ice_netsim::TcpEvent`]s. TCP segments do not
//!   cross the user-space path, so a TCP connection sees no latency, jitter or loss from the
//!   script: latency only shifts times, and scripts that give an ICE-TCP side's path jitter or
//!   loss are skipped with that reason. What the lab's NATs cannot do for TCP
//!   ([`Lab::unsupported`]: conntrack filters TCP address-and-port-dependently and never
//!   hairpins it) skips a script too.
//! - `impl = "libnice"` is a real program in the host's namespace that owns its sockets
//!   ([`Libnice`]); so is coturn, the STUN server. Their datagrams reach the kernel without
//!   the user-space path, so they take their hops where they arrive: a datagram from a STUN
//!   server, or from a libnice peer, is held for the hops from its sender's host to the
//!   receiving socket before the endpoint sees it. What libnice receives (from ours or from
//!   coturn) is not held at all. Scripts that give a libnice side's networks jitter or loss are
//!   skipped with that reason.
//!
//! The signalling path, the application data and the verdict are the simulator's
//! ([`Conductor`], in [`crate::runner`]), so a script means the same on both backends; only
//! time is real, and no run replays exactly (the kernel's port choices and scheduling are not
//! seeded). The user-space path and the arrivals are each a bounded [`DelayLine`], the
//! simulator's queue type.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use ice_netsim::netns::Lab;
use ice_netsim::topology::JingleRole;
use ice_netsim::{DelayLine, Topology, derive_seed};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

use crate::netns_tcp::TcpHost;
use crate::netns_xmpp::{Bridge, XmppCarrier};
use crate::peers::jingle::JingleEndpoint;
use crate::peers::libnice::{self, Libnice};
use crate::peers::make_endpoint;
use crate::runner::conductor::{Conductor, RunResult};
use crate::runner::config::{RunOptions, host_port, peer_config};
use crate::runner::peer::Endpoint;
use crate::runner::xmpp;

/// The longest the loop sleeps before it reads the sockets again.
const POLL: Duration = Duration::from_millis(2);

/// Datagrams held on the user-space path at once, per run; more are dropped and counted.
const MAX_IN_FLIGHT: usize = 4096;

/// Largest datagram read from a socket.
const MAX_DATAGRAM: usize = 65_536;

/// The longest run the backend takes on: its time is real, and CI has a budget.
const MAX_REAL_RUN: Duration = Duration::from_secs(300);

/// Why the netns backend does not run `topology` as written, if it does not.
pub fn skip_reason(topology: &Topology) -> Option<String> {
    // TURN over TLS: `Lab::unsupported` below (coturn gets its certificate from the lab).
    if let Some(reason) = crate::peers::agent_turn_beyond_udp(topology)
        .or_else(|| crate::peers::unsupported_keys(topology))
    {
        return Some(reason);
    }
    if let Some(what) = Lab::unsupported(topology).first() {
        return Some(format!("the lab cannot build it as written: {what}"));
    }
    if let Some(reason) = tcp_impaired(topology) {
        return Some(reason);
    }
    if topology.duration > MAX_REAL_RUN {
        return Some(format!(
            "runs {} s, in real time on this backend (at most {} s here); the simulator runs it \
             in virtual time",
            topology.duration.as_secs(),
            MAX_REAL_RUN.as_secs()
        ));
    }
    for agent in &topology.agents {
        if agent.implementation != "libnice" {
            continue;
        }
        let host = &topology.hosts[agent.host];
        for (_, net) in &host.ips {
            let n = &topology.networks[*net];
            if !n.link.jitter.is_zero() || n.link.loss > 0.0 {
                return Some(format!(
                    "libnice owns its sockets, so the harness cannot add the jitter or loss of \
                     network `{}` to its datagrams (the kernel here has no netem)",
                    n.name
                ));
            }
        }
    }
    None
}

/// Why the script's TCP would not see what it asks for: a network between an ICE-TCP side and
/// the other side has jitter or loss, which the user-space path applies to UDP datagrams only
/// (TCP segments go straight through the kernel, and the kernel here has no netem). Latency
/// alone is no reason: it only shifts times (TCP runs faster here than on the simulator).
fn tcp_impaired(topology: &Topology) -> Option<String> {
    let [a, b] = [JingleRole::Initiator, JingleRole::Responder].map(|r| topology.agent(r));
    if a.tcp.is_empty() && b.tcp.is_empty() {
        return None;
    }
    let (ha, hb) = (&topology.hosts[a.host], &topology.hosts[b.host]);
    for (from, _) in &ha.ips {
        for (to, _) in hb
            .ips
            .iter()
            .filter(|(to, _)| to.is_ipv4() == from.is_ipv4())
        {
            // Both ways: behind a NAT, the way in ends at the NAT's public address.
            let nets = topology
                .path(*from, *to)
                .into_iter()
                .chain(topology.path(*to, *from));
            for net in nets {
                let n = &topology.networks[net];
                if !n.link.jitter.is_zero() || n.link.loss > 0.0 {
                    return Some(format!(
                        "ICE-TCP on real sockets: TCP segments go straight through the kernel, \
                         and the runner's user-space path carries UDP only, so the jitter or \
                         loss of network `{}` would not reach the TCP connections (the \
                         simulator runs it)",
                        n.name
                    ));
                }
            }
        }
    }
    None
}

/// A datagram on the user-space path.
#[derive(Debug)]
struct InFlight {
    side: usize,
    socket: usize,
    to: SocketAddr,
    data: Vec<u8>,
}

/// A datagram received, held for the hops it did not take on its way out.
#[derive(Debug)]
struct Arrival {
    side: usize,
    local: SocketAddr,
    from: SocketAddr,
    data: Vec<u8>,
}

/// The hops of the user-space path from `from` to `to`: the total delay, or `None` when a
/// hop lost the datagram. Two draws per hop, as the simulator draws them.
fn hold(topology: &Topology, rng: &mut ChaCha8Rng, from: IpAddr, to: IpAddr) -> Option<Duration> {
    let mut delay = Duration::ZERO;
    let mut lost = false;
    for net in topology.path(from, to) {
        let (loss_draw, jitter_draw) = (rng.next_u64(), rng.next_u64());
        match topology.networks[net].link.hop(loss_draw, jitter_draw) {
            Some(d) => delay += d,
            None => lost = true,
        }
    }
    (!lost).then_some(delay)
}

/// The sockets of one side that runs in this process, and its user-space path.
struct Wire {
    sockets: Vec<UdpSocket>,
    locals: Vec<SocketAddr>,
    rng: ChaCha8Rng,
    /// Its TCP: the side's [`ice_netsim::TcpCommand`]s on real sockets.
    tcp: TcpHost,
}

/// Counts of the run's datagrams.
#[derive(Debug, Default)]
struct Counts {
    received: u64,
    lost: u64,
    unsent: u64,
}

/// Runs `topology` once on the netns backend (root).
pub fn run(topology: &Topology, options: &RunOptions<'_>) -> Result<RunResult> {
    if let Some(reason) = skip_reason(topology) {
        bail!("{}: not on the netns backend: {reason}", topology.file);
    }
    let seed = options.seed.unwrap_or(topology.seed);
    // The lab derives what it seeds (the TLS services' certificate authority) from the run's
    // seed, as the agents do.
    let mut seeded = topology.clone();
    seeded.seed = seed;
    let lab =
        Lab::build(&seeded).with_context(|| format!("{}: building the lab", topology.file))?;
    // Real time: the clock is the point of this backend.
    #[allow(clippy::disallowed_methods)]
    let base = Instant::now();
    // coturn checks TURN REST expiries against the wall clock.
    #[allow(clippy::disallowed_methods)]
    let unix_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());

    let mut endpoints: Vec<Box<dyn Endpoint>> = Vec::new();
    let mut wires: Vec<Option<Wire>> = Vec::new();
    let mut bridges: Vec<Bridge> = Vec::new();
    let mut learned_by_side = Vec::new();
    for role in [JingleRole::Initiator, JingleRole::Responder] {
        let agent = topology.agent(role);
        let name = &topology.hosts[agent.host].name;
        let host = lab
            .host(name)
            .ok_or_else(|| anyhow!("the lab has no host `{name}`"))?;
        let mut config = peer_config(topology, role, seed, host.ips.clone(), base, unix_now)?;
        if let Some((_, _, server)) = xmpp::via(topology) {
            // The side logs in from its namespace and, with `discover`, asks the server.
            let server_name = &topology.hosts[server].name;
            let (addr, _) = lab
                .xmpp_server(server_name)
                .ok_or_else(|| anyhow!("the lab runs no XMPP server on {server_name}"))?;
            let (_, password) = lab
                .xmpp_account(server_name, name)
                .ok_or_else(|| anyhow!("{server_name} has no account for {name}"))?;
            let (bridge, learned) = Bridge::start(
                &lab,
                &host.namespace,
                addr,
                &config.local_jid,
                &password,
                agent.discover,
            )?;
            if let Some(l) = learned {
                config.take_learned(&l);
                learned_by_side.push((bridges.len(), l));
            }
            bridges.push(bridge);
        }
        if agent.implementation == "libnice" {
            let program = libnice::program()?;
            let peer = Libnice::start(&program, Some(&host.namespace), &config)?;
            endpoints.push(Box::new(JingleEndpoint::new(peer, &config)?));
            wires.push(None);
            continue;
        }
        let endpoint = make_endpoint(&agent.implementation, &config)
            .with_context(|| format!("{}:{}: impl", topology.file, agent.impl_line))?;
        let mut sockets = Vec::new();
        let mut locals = Vec::new();
        for ip in &config.host_ips {
            for c in 1..=config.components {
                let addr = SocketAddr::new(*ip, host_port(c));
                let socket = lab
                    .bind_udp(&host.namespace, addr)
                    .with_context(|| format!("binding {addr} in {}", host.namespace))?;
                socket.set_nonblocking(true)?;
                sockets.push(socket);
                locals.push(addr);
            }
        }
        let label = match role {
            JingleRole::Initiator => "netns path initiator",
            JingleRole::Responder => "netns path responder",
        };
        // Connection ids unique in the run: each side its own range.
        let first_id = ((wires.len() as u64) << 32) + 1;
        endpoints.push(endpoint);
        wires.push(Some(Wire {
            sockets,
            locals,
            rng: ChaCha8Rng::from_seed(derive_seed(seed, label)),
            tcp: TcpHost::new(&host.namespace, first_id),
        }));
    }
    let mut conductor = Conductor::new(topology, endpoints, base, false, seed)?;
    for (side, l) in learned_by_side {
        conductor.set_learned(side, l);
    }
    if let Ok(bridges) = <[Bridge; 2]>::try_from(bridges) {
        conductor.carry_with(Box::new(XmppCarrier { bridges }));
    }
    let deadline = base + topology.duration;
    // Senders whose datagrams skipped the user-space path: STUN servers (coturn) always, and
    // the other side when it is a real program (libnice).
    let services: Vec<IpAddr> = topology
        .hosts
        .iter()
        .filter(|h| h.service.is_some())
        .flat_map(|h| h.ips.iter().map(|(ip, _)| *ip))
        .collect();
    let external = [1, 0].map(|other: usize| {
        if wires[other].is_some() {
            return Vec::new();
        }
        let role = if other == 0 {
            JingleRole::Initiator
        } else {
            JingleRole::Responder
        };
        let host = &topology.hosts[topology.agent(role).host];
        host.ips.iter().map(|(ip, _)| *ip).collect::<Vec<IpAddr>>()
    });
    let mut path = DelayLine::<InFlight>::new(MAX_IN_FLIGHT);
    let mut arrivals = DelayLine::<Arrival>::new(MAX_IN_FLIGHT);
    let mut counts = Counts::default();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut now;
    loop {
        #[allow(clippy::disallowed_methods)]
        {
            now = Instant::now();
        }
        // In: whatever the sockets hold. What coturn or libnice sent crossed no user-space
        // path on its way out, so it takes its hops here, from where it was sent.
        for (side, wire) in wires.iter_mut().enumerate() {
            let Some(wire) = wire else { continue };
            for (socket, local) in wire.sockets.iter().zip(&wire.locals) {
                loop {
                    match socket.recv_from(&mut buf) {
                        Ok((n, from)) => {
                            counts.received += 1;
                            let origin = if services.contains(&from.ip()) {
                                Some(from.ip())
                            } else {
                                external[side]
                                    .iter()
                                    .find(|ip| ip.is_ipv4() == local.is_ipv4())
                                    .copied()
                            };
                            let delay = match origin {
                                Some(o) => hold(topology, &mut wire.rng, o, local.ip()),
                                None => Some(Duration::ZERO),
                            };
                            let arrival = Arrival {
                                side,
                                local: *local,
                                from,
                                data: buf.get(..n).unwrap_or_default().to_vec(),
                            };
                            if !delay.is_some_and(|d| arrivals.hold(now + d, arrival)) {
                                counts.lost += 1;
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        // ICMP errors of earlier sends (port unreachable): nothing arrived.
                        Err(_) => break,
                    }
                }
            }
        }
        // TCP: what the kernel did since (opens, accepts, octets, FINs, errors), to the side.
        for (side, wire) in wires.iter_mut().enumerate() {
            let Some(wire) = wire else { continue };
            wire.tcp.poll_sockets(now);
            while let Some(e) = wire.tcp.poll_event() {
                conductor.endpoint(side).handle_tcp(now, e);
            }
        }
        while let Some((_, a)) = arrivals.pop_due(now) {
            conductor
                .endpoint(a.side)
                .handle_datagram(now, a.from, a.local, &a.data);
        }
        for endpoint in conductor.endpoints() {
            if endpoint.poll_timeout().is_some_and(|t| t <= now) {
                endpoint.handle_timeout(now);
            }
        }
        let over = conductor.turn(now);
        // Out: onto the user-space path, then whatever of it is due onto the sockets.
        for (side, wire) in wires.iter_mut().enumerate() {
            let Some(wire) = wire else { continue };
            while let Some(t) = conductor.endpoint(side).poll_transmit() {
                let Some(socket) = wire.locals.iter().position(|l| *l == t.from) else {
                    counts.unsent += 1;
                    continue;
                };
                let delay = hold(topology, &mut wire.rng, t.from.ip(), t.to.ip());
                let datagram = InFlight {
                    side,
                    socket,
                    to: t.to,
                    data: t.data,
                };
                if !delay.is_some_and(|d| path.hold(now + d, datagram)) {
                    counts.lost += 1;
                }
            }
        }
        // TCP commands go to the kernel at once (no user-space path: docs/INTEROP.md).
        for (side, wire) in wires.iter_mut().enumerate() {
            let Some(wire) = wire else { continue };
            while let Some(cmd) = conductor.endpoint(side).poll_tcp() {
                wire.tcp.command(&lab, now, cmd);
            }
            wire.tcp.flush();
        }
        while let Some((_, d)) = path.pop_due(now) {
            let socket = wires
                .get(d.side)
                .and_then(Option::as_ref)
                .and_then(|w| w.sockets.get(d.socket));
            // A send the kernel refuses (no route: `block_udp`, an unreachable family) is a
            // datagram lost on the way.
            if socket.is_none_or(|s| s.send_to(&d.data, d.to).is_err()) {
                counts.lost += 1;
            }
        }
        if over || now >= deadline {
            break;
        }
        let mut next = now + POLL;
        for t in [
            conductor.next_due(now),
            path.next_due(),
            arrivals.next_due(),
            Some(deadline),
        ]
        .into_iter()
        .flatten()
        {
            next = next.min(t);
        }
        for endpoint in conductor.endpoints() {
            if let Some(t) = endpoint.poll_timeout() {
                next = next.min(t);
            }
        }
        #[allow(clippy::disallowed_methods)]
        let left = next.saturating_duration_since(Instant::now());
        if !left.is_zero() {
            std::thread::sleep(left);
        }
    }
    let (mut result, _) = conductor.finish(now.min(deadline), (counts.received, counts.lost));
    if counts.unsent > 0 {
        result.failures.push(format!(
            "{} datagrams were sent from an address the side has no socket for",
            counts.unsent
        ));
    }
    for wire in wires.iter_mut().flatten() {
        result
            .failures
            .extend(wire.tcp.problems().iter().map(|p| format!("TCP: {p}")));
        let open = wire.tcp.close_all();
        if !open.is_empty() {
            result.failures.push(format!(
                "TCP sockets still open after the run: {}",
                open.join(", ")
            ));
        }
    }
    drop(lab);
    Ok(result)
}
