//! What the netns lab cannot build as written ([`Lab::unsupported`]) and the link impairments
//! it leaves to a runner ([`Lab::impairments`]): pure functions of a script, no root needed,
//! kept apart from the lab's building and tearing down (`netns.rs`).

use crate::nat::Behaviour;
use crate::netns::Lab;
use crate::topology::{Host, Service, Topology, TurnTransport};

impl Lab {
    /// Why the lab cannot build `topology` as written, whatever a runner does around it, one
    /// `name: key ...` string per reason; empty when it can. A runner reports such a script as
    /// not run (skipped, with these reasons), never as passed.
    ///
    /// - A TURN service with `transports` "tls" in a lab built without the feature `tls`:
    ///   coturn serves TLS, but only that feature makes its certificate (from the run's
    ///   simulated authority, [`crate::tls_ca_seed`]).
    /// - **ICE-TCP behind a NAT whose TCP the kernel does not treat as the script says.** The
    ///   rulesets of [`crate::nft`] learn their port map and contacted set from UDP only, so
    ///   Linux conntrack filters TCP address-and-port-dependently whatever `filtering` says
    ///   (an unsolicited inbound SYN is always dropped, RFC 5382 §5's strictest filter) and
    ///   never hairpins TCP. An agent with `tcp` candidates behind (directly or through
    ///   nested NATs) a NAT with `filtering` other than "address-and-port-dependent", or with
    ///   `hairpinning = true`, would test something else: refused. (The simulator's
    ///   [`TcpNatTable`](crate::nat_tcp::TcpNatTable) follows both keys for TCP.) Mapping,
    ///   `block_tcp` and `tcp_timeout_s` the lab does apply to TCP.
    ///
    /// Link impairments are not here: see [`Lab::impairments`].
    pub fn unsupported(topology: &Topology) -> Vec<String> {
        let mut v = Vec::new();
        for h in &topology.hosts {
            if let Some(Service::Turn { transports, .. }) = &h.service {
                if !cfg!(feature = "tls") && transports.contains(&TurnTransport::Tls) {
                    v.push(format!("{}: transports \"tls\"", h.name));
                }
            }
        }
        for agent in topology.agents.iter().filter(|a| !a.tcp.is_empty()) {
            let host = &topology.hosts[agent.host];
            for nat in nats_above(topology, host) {
                let nat = &topology.nats[nat];
                let filtering = nat.config.filtering;
                if filtering != Behaviour::AddressAndPortDependent {
                    v.push(format!(
                        "{}: filtering \"{filtering}\" with an ICE-TCP agent ({}) behind it: \
                         Linux conntrack filters TCP address-and-port-dependently (the \
                         ruleset's port map is learned from UDP only)",
                        nat.name, host.name
                    ));
                }
                if nat.config.hairpinning {
                    v.push(format!(
                        "{}: hairpinning with an ICE-TCP agent ({}) behind it: the ruleset \
                         hairpins UDP only",
                        nat.name, host.name
                    ));
                }
            }
        }
        v
    }

    /// The link impairments of `topology` the namespaces do not apply (the kernel here has no
    /// netem), as `network: key` strings: `jitter_ms` and `loss`. Latency is not applied
    /// either, but is not listed: every network has some. A runner applies all three in user
    /// space to the datagrams it carries, as the conformance runner does with
    /// [`crate::topology::LinkParams::hop`] per hop of [`crate::Topology::path`], or skips the
    /// script.
    pub fn impairments(topology: &Topology) -> Vec<String> {
        let mut v = Vec::new();
        for n in &topology.networks {
            if !n.link.jitter.is_zero() {
                v.push(format!("{}: jitter_ms", n.name));
            }
            if n.link.loss > 0.0 {
                v.push(format!("{}: loss", n.name));
            }
        }
        v
    }
}

/// The NATs `host` sits behind: those whose inside is one of its networks, then those whose
/// inside is the outside of one found, and so on (each once).
fn nats_above(topology: &Topology, host: &Host) -> Vec<usize> {
    let mut found: Vec<usize> = Vec::new();
    let mut networks: Vec<usize> = host.ips.iter().map(|(_, n)| *n).collect();
    while let Some(net) = networks.pop() {
        for (i, nat) in topology.nats.iter().enumerate() {
            if nat.inside == net && !found.contains(&i) {
                found.push(i);
                networks.push(nat.outside);
            }
        }
    }
    found.sort_unstable();
    found
}
