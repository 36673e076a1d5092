//! The two sides a topology run can place, each behind the runner's interfaces
//! ([`crate::runner::peer`]): this project's stack as a `jingle-ice-glue` session ([`ours`]),
//! and the adapters of stacks nobody here wrote ([`str0m`], [`rice`] in process, [`libnice`] a
//! program on real sockets), which [`jingle`] puts in a small Jingle endpoint. What two
//! adapters share is in [`common`]; the adapters' unit tests against ours (`interop`) run on
//! the `testbed` module.
//! [`make_endpoint`] builds a side from the name a script gives it, for either backend.
//!
//! Adapters depend on [`crate::runner`] (the interfaces, the configuration, the signalling's
//! names) and on [`common`], never on each other.

use anyhow::{Result, bail};

use crate::runner::config::PeerConfig;
use crate::runner::peer::Endpoint;

pub mod common;
#[cfg(test)]
mod interop;
pub mod jingle;
#[cfg(target_os = "linux")]
pub mod libnice;
pub mod ours;
mod ours_tcp;
pub mod rice;
pub mod str0m;
#[cfg(test)]
mod testbed;

/// Implementations the simulator can run, as scripts name them.
pub const SIM_IMPLS: &[&str] = &["ice-sans-io", "str0m", "rice"];

/// Implementations that exist only on real sockets (the netns backend).
pub const NETNS_ONLY_IMPLS: &[&str] = &["libnice"];

/// The skip reason of a script that names TURN over TLS where the simulator's TURN server
/// serves none (`what`: `Sim::unsupported`, which is empty when ice-netsim is built with its
/// `tls` feature, as this crate builds it; the netns lab says the same through
/// `Lab::unsupported`).
pub fn turn_unsupported(what: &[String]) -> Option<String> {
    (!what.is_empty()).then(|| {
        format!(
            "TURN over TLS is not served by this simulator (built without its tls feature): {}",
            what.join(", ")
        )
    })
}

/// Implementations the runner gives TURN servers reached over TCP or TLS to (RFC 8656 §3.1):
/// ours, whose connections the host's TCP carries.
pub const TURN_STREAM_IMPLS: &[&str] = &["ice-sans-io"];

/// The skip reason of a script that asks a side for TURN over TCP or TLS (a `turn` URI with
/// `transport=tcp` or `turns:`) that its implementation is not given here, or asks
/// `expect.relay_transport` of such a side.
pub fn agent_turn_beyond_udp(topology: &ice_netsim::Topology) -> Option<String> {
    let foreign = topology.agents.iter().find(|a| {
        !TURN_STREAM_IMPLS.contains(&a.implementation.as_str())
            && a.turn
                .iter()
                .any(|t| t.transport != ice_netsim::topology::TurnTransport::Udp)
    })?;
    // Listed only for the skip reason, so only when there is one.
    let what: Vec<String> = topology
        .agent_turn_transports()
        .into_iter()
        .map(|(_, what)| what)
        .collect();
    Some(format!(
        "the {} side is given no TURN over TCP or TLS by this runner: {}",
        foreign.implementation,
        what.join(", ")
    ))
}

/// Implementations the runner gives a script's `turn` servers to.
pub const TURN_IMPLS: &[&str] = &["ice-sans-io", "libnice", "rice"];

/// Implementations whose side applies a script's `share` (XEP-0371 §11.1): the adapters of
/// foreign stacks send every candidate they gather.
pub const SHARE_IMPLS: &[&str] = &["ice-sans-io"];

/// Implementations the runner gives a script's `tcp` candidate types to (RFC 6544): ours, whose
/// connections the host's TCP carries (the simulator's TCP stack, or real sockets on the netns
/// backend: `crate::netns_tcp`), and libnice (netns only), which owns its sockets and gathers
/// only the types of [`libnice::TCP_TYPES`].
pub const TCP_IMPLS: &[&str] = &["ice-sans-io", "libnice"];

/// The ICE-TCP candidate types `implementation` cannot gather (`None`: all of them).
fn tcp_types_missing(
    implementation: &str,
    types: &[ice_netsim::topology::IceTcpType],
) -> Option<String> {
    #[cfg(target_os = "linux")]
    if implementation == "libnice" {
        let missing: Vec<String> = types
            .iter()
            .filter(|t| !libnice::TCP_TYPES.contains(t))
            .map(|t| format!("\"{t}\""))
            .collect();
        return (!missing.is_empty()).then(|| missing.join(", "));
    }
    let _ = (implementation, types);
    None
}

/// The skip reason of a script that gives a side a key its implementation does not take here
/// (`turn` servers, a `share` other than "all", `tcp` candidate types): run anyway, it would
/// test something else.
pub fn unsupported_keys(topology: &ice_netsim::Topology) -> Option<String> {
    topology.agents.iter().find_map(|a| {
        let name = a.implementation.as_str();
        if !a.turn.is_empty() && !TURN_IMPLS.contains(&name) {
            Some(format!("the {name} side is given no TURN servers by this runner yet"))
        } else if !a.tcp.is_empty() && !TCP_IMPLS.contains(&name) {
            Some(format!(
                "the {name} side is given no ICE-TCP candidates by this runner yet (tcp = [{}])",
                a.tcp
                    .iter()
                    .map(|t| format!("\"{t}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        } else if let Some(missing) = tcp_types_missing(name, &a.tcp) {
            Some(format!(
                "the {name} side gathers no ICE-TCP candidates of type {missing} (RFC 6544 §4.5)"
            ))
        } else if a.share != ice_netsim::topology::Share::All && !SHARE_IMPLS.contains(&name) {
            Some(format!(
                "the {name} adapter sends every candidate it gathers: it cannot apply share = \"{}\"",
                a.share.as_str()
            ))
        } else {
            None
        }
    })
}

/// Builds the side for `implementation`: a glue session for ours, the Jingle endpoint around
/// the adapter for a foreign stack.
pub fn make_endpoint(implementation: &str, config: &PeerConfig) -> Result<Box<dyn Endpoint>> {
    Ok(match implementation {
        "ice-sans-io" => Box::new(ours::Ours::new(config)?),
        "str0m" => Box::new(jingle::JingleEndpoint::new(
            str0m::Str0m::new(config)?,
            config,
        )?),
        "rice" => Box::new(jingle::JingleEndpoint::new(
            rice::Rice::new(config)?,
            config,
        )?),
        other if NETNS_ONLY_IMPLS.contains(&other) => {
            bail!("impl `{other}` runs only on the netns backend (--backend netns)")
        }
        other => bail!(
            "unknown impl `{other}` (the simulator runs {})",
            SIM_IMPLS.join(", ")
        ),
    })
}
