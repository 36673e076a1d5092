//! Topology scripts, format 1: parsed, checked and resolved.
//!
//! The format is a contract with users (`shared/topology-format.md`, kept in this repository as
//! `docs/TOPOLOGY-FORMAT.md`): a script that follows it runs unchanged on any later version that
//! still says `format = 1`. Unknown keys are errors, never ignored, and every error names the
//! file, the line and the key.
//!
//! [`Topology::parse`] reads a script into plain values with every name resolved to an index,
//! every address checked against its network and every default applied; nothing in the result
//! needs checking again.
//!
//! A script has two halves. The network half (`[link]`, `[[network]]`, `[[nat]]`, `[[host]]`)
//! is what the simulator and the netns lab build; the ICE half (`[[agent]]`, `[signalling]`,
//! `[expect]`) is the runner's: netsim reads and checks it but never interprets it.
//!
//! Inside: `raw` is the file as serde reads it, `source` turns spans into errors with their
//! places, `network` and `scenario` hold the resolved values of the two halves, and `resolve`
//! and `scenario` resolve them, one function per table, called in order by one short function.

mod network;
mod raw;
mod resolve;
mod scenario;
mod source;

use std::net::IpAddr;
use std::time::Duration;

/// Re-exported from [`crate::nat`], where the NAT table it configures lives.
pub use crate::nat::Behaviour;
pub use network::{Cidr, Host, LinkParams, Nat, Network, OfferedService, Service, TurnTransport};
pub use raw::{FORMAT, MAX_ELEMENTS, MAX_SCRIPT_BYTES};
pub use scenario::{
    Agent, Expect, IceTcpType, JingleRole, MAX_DATA_BYTES, Outcome, Share, Signalling,
    TurnServerRef,
};
pub use source::TopologyError;

use raw::RawScript;
use source::Source;

/// A parsed, checked topology script.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    /// The file name given to [`Topology::parse`].
    pub file: String,
    /// `name`.
    pub name: String,
    /// `seed` (default 0): drives agent RNGs, jitter and loss.
    pub seed: u64,
    /// `duration_ms` (default 30 000): the virtual-time budget.
    pub duration: Duration,
    /// `[link]` with its defaults.
    pub link: LinkParams,
    /// `[[network]]`s in file order.
    pub networks: Vec<Network>,
    /// `[[nat]]`s in file order.
    pub nats: Vec<Nat>,
    /// `[[host]]`s in file order.
    pub hosts: Vec<Host>,
    /// `[[agent]]`s in file order (exactly two: one initiator, one responder).
    pub agents: Vec<Agent>,
    /// `[signalling]`.
    pub signalling: Signalling,
    /// `[expect]`.
    pub expect: Expect,
}

impl Topology {
    /// Reads a script. `file` is only used to name the place of an error.
    pub fn parse(file: &str, text: &str) -> Result<Topology, TopologyError> {
        let src = Source { file, text };
        if text.len() > MAX_SCRIPT_BYTES {
            return Err(src.err_key(
                "-",
                format!(
                    "the script has {} bytes, more than the {MAX_SCRIPT_BYTES} allowed",
                    text.len()
                ),
            ));
        }
        let raw: RawScript = toml::from_str(text).map_err(|e| src.serde_err(&e))?;
        resolve(&src, raw)
    }
}

/// The tables of a script resolved in order: each may refer only to what comes before it, and
/// the first error found is the one reported.
fn resolve(src: &Source<'_>, raw: RawScript) -> Result<Topology, TopologyError> {
    // The network half.
    let duration = resolve::top_level(src, &raw)?;
    let link = resolve::link(src, raw.link.as_ref())?;
    let networks = resolve::networks(src, &raw.networks, link)?;
    let mut taken = resolve::Taken::default();
    let nats = resolve::nats(src, &raw.nats, &networks, &mut taken)?;
    let hosts = resolve::hosts(src, &raw.hosts, &networks, &nats, &mut taken)?;
    // The ICE half.
    let signalling = scenario::signalling(src, raw.signalling.as_ref(), &hosts)?;
    let agents = scenario::agents(src, &raw.agents, &hosts, &signalling)?;
    let expect = scenario::expect(src, &raw.expect)?;
    Ok(Topology {
        file: src.file.to_owned(),
        name: raw.name,
        seed: raw.seed.unwrap_or(0),
        duration,
        link,
        networks,
        nats,
        hosts,
        agents,
        signalling,
        expect,
    })
}

impl Topology {
    /// The index of the host named `name`.
    pub fn host_index(&self, name: &str) -> Option<usize> {
        self.hosts.iter().position(|h| h.name == name)
    }

    /// The index of the network whose prefix holds `ip`.
    pub fn network_of(&self, ip: IpAddr) -> Option<usize> {
        self.networks.iter().position(|n| n.cidr.contains(ip))
    }

    /// The networks (indices) a datagram from `from` to `to` crosses, one hop each: the
    /// sender's network, the networks between (NAT routers join a NAT's inside and outside),
    /// and, when `to` is a NAT's public address, the NAT's inside network last. Empty when
    /// no path exists. Static: it does not know whether a NAT would let the datagram through
    /// (the netns backend's kernel decides that; its user-space path only needs the hops).
    pub fn path(&self, from: IpAddr, to: IpAddr) -> Vec<usize> {
        let Some(src) = self.network_of(from) else {
            return Vec::new();
        };
        let behind = self.nats.iter().find(|n| n.config.public_ip == to);
        let Some(dst) = behind.map(|n| n.outside).or_else(|| self.network_of(to)) else {
            return Vec::new();
        };
        // Breadth-first over networks; NATs are the edges.
        let mut previous: Vec<Option<usize>> = vec![None; self.networks.len()];
        let mut seen = vec![false; self.networks.len()];
        let mut queue = std::collections::VecDeque::from([src]);
        seen[src] = true;
        while let Some(n) = queue.pop_front() {
            if n == dst {
                break;
            }
            for nat in &self.nats {
                for (a, b) in [(nat.inside, nat.outside), (nat.outside, nat.inside)] {
                    if a == n && !seen[b] {
                        seen[b] = true;
                        previous[b] = Some(n);
                        queue.push_back(b);
                    }
                }
            }
        }
        if !seen[dst] {
            return Vec::new();
        }
        let mut path = vec![dst];
        while let Some(p) = previous[*path.last().unwrap_or(&src)] {
            path.push(p);
        }
        path.reverse();
        if let Some(nat) = behind {
            path.push(nat.inside);
        }
        path
    }

    /// Where the script names TURN over TLS (a service's `transports`, an agent's `turns:`
    /// URI, `expect.relay_transport`), one `where: what` entry each: what a backend whose TURN
    /// server serves no TLS cannot run (the simulator's serves it with the feature `tls`,
    /// [`crate::Sim::unsupported`]). TLS is listed wherever it is named, as a script naming it
    /// cannot run as written on a backend whose server does not serve it. Whether a runner's *agents* use TURN over TCP is the
    /// runner's business: [`Topology::agent_turn_transports`] lists what they are asked to use.
    pub fn turn_unsupported(&self) -> Vec<String> {
        let mut v = Vec::new();
        for h in &self.hosts {
            if let Some(Service::Turn { transports, .. }) = &h.service {
                for t in transports.iter().filter(|t| **t == TurnTransport::Tls) {
                    v.push(format!("{}: transports \"{t}\"", h.name));
                }
            }
        }
        v.extend(
            self.agent_turn_transports()
                .into_iter()
                .filter(|(t, _)| *t == TurnTransport::Tls)
                .map(|(_, what)| what),
        );
        v
    }

    /// Where the ICE half asks an agent to reach a TURN server other than over UDP (an agent's
    /// `turn` URI with `transport=tcp` or `turns:`, `expect.relay_transport`), each with the
    /// transport and a `where: what` entry, in the script's order.
    pub fn agent_turn_transports(&self) -> Vec<(TurnTransport, String)> {
        let mut v = Vec::new();
        for a in &self.agents {
            for t in a.turn.iter().filter(|t| t.transport != TurnTransport::Udp) {
                v.push((
                    t.transport,
                    format!(
                        "agent on {}: turn over {} to {}",
                        self.hosts[a.host].name, t.transport, self.hosts[t.host].name
                    ),
                ));
            }
        }
        if let Some(t) = self
            .expect
            .relay_transport
            .filter(|t| *t != TurnTransport::Udp)
        {
            v.push((t, format!("expect: relay_transport \"{t}\"")));
        }
        v
    }

    /// The XEP-0215 services the xmpp service of host `xmpp_host` hands out, in the order of its
    /// `external_services`: each entry gives one service per transport the named service
    /// serves: a stun service `stun`/`udp`; a turn service `turn`/`udp`, `turn`/`tcp` when its
    /// `transports` name tcp, and `turns`/`tcp` on its `tls_port` when they name tls. Empty
    /// when the host runs no xmpp service.
    pub fn offered_services(&self, xmpp_host: usize) -> Vec<OfferedService<'_>> {
        let Some(Service::Xmpp {
            external_services, ..
        }) = self.hosts.get(xmpp_host).and_then(|h| h.service.as_ref())
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for &(h, port) in external_services {
            let Some(host) = self.hosts.get(h) else {
                continue;
            };
            let Some(&(ip, _)) = host.ips.first() else {
                continue;
            };
            let entry = |type_, transport, port, auth| OfferedService {
                type_,
                transport,
                ip,
                port,
                auth,
            };
            match &host.service {
                Some(Service::Stun { .. }) => out.push(entry("stun", "udp", port, None)),
                Some(Service::Turn {
                    auth,
                    transports,
                    tls_port,
                    ..
                }) => {
                    for t in transports {
                        match (t, tls_port) {
                            (TurnTransport::Udp, _) => {
                                out.push(entry("turn", "udp", port, Some(auth)));
                            }
                            (TurnTransport::Tcp, _) => {
                                out.push(entry("turn", "tcp", port, Some(auth)));
                            }
                            (TurnTransport::Tls, Some(tls)) => {
                                out.push(entry("turns", "tcp", *tls, Some(auth)));
                            }
                            (TurnTransport::Tls, None) => {}
                        }
                    }
                }
                Some(Service::Xmpp { .. }) | None => {}
            }
        }
        out
    }

    /// The agent with Jingle role `role` (a checked script has exactly one of each).
    pub fn agent(&self, role: JingleRole) -> &Agent {
        self.agents
            .iter()
            .find(|a| a.role == role)
            .unwrap_or(&self.agents[0])
    }
}
