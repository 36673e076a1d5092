//! The ICE half of a script: `[[agent]]`, `[signalling]` and `[expect]`, parsed and resolved
//! for the runner.
//!
//! These tables speak ICE and Jingle (implementations, roles, components, trickle, candidate
//! types `host | srflx | prflx | relay`, transport protocols `udp | tcp`). The simulator and the
//! netns lab never read them: they build and run the network half ([`super::network`]). They
//! are read here, beside the network half, so that one parser reads the one file format and
//! every error has the same style and places; the only thing this half takes from the network
//! half is the hosts, to resolve an agent's host and its STUN and TURN servers.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::network::{Host, Service, TurnTransport};
use super::source::{OneOrMany, Source, TopologyError, find, ms, strings};

// ---- The raw shape (serde) --------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawRole {
    Initiator,
    Responder,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAgent {
    host: Spanned<String>,
    #[serde(rename = "impl")]
    implementation: Spanned<String>,
    role: Spanned<RawRole>,
    #[serde(default)]
    stun: Vec<Spanned<String>>,
    #[serde(default)]
    turn: Vec<Spanned<String>>,
    components: Option<Spanned<u8>>,
    trickle: Option<bool>,
    share: Option<Spanned<String>>,
    discover: Option<Spanned<bool>>,
    #[serde(default)]
    tcp: Vec<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSignalling {
    latency_ms: Option<u64>,
    via: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawOutcome {
    Connected,
    Failed,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpect {
    outcome: RawOutcome,
    local_type: Option<OneOrMany>,
    remote_type: Option<OneOrMany>,
    protocol: Option<Spanned<String>>,
    max_connect_ms: Option<u64>,
    #[serde(default)]
    data: bool,
    #[serde(default)]
    hold_ms: u64,
    relay_transport: Option<Spanned<String>>,
    data_bytes: Option<Spanned<u64>>,
}

// ---- The resolved values ----------------------------------------------------------------------

/// The Jingle role of an agent: the initiator is the ICE controlling agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JingleRole {
    /// Sends session-initiate; ICE controlling.
    Initiator,
    /// Answers with session-accept; ICE controlled.
    Responder,
}

/// An `[[agent]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    /// Index of its host in [`Topology::hosts`](super::Topology::hosts).
    pub host: usize,
    /// The implementation (`ice-sans-io`, `str0m`, `rice`, `libnice`, ...): the runner checks it.
    pub implementation: String,
    /// Line of the `impl` key, for the runner's errors.
    pub impl_line: usize,
    /// Jingle role.
    pub role: JingleRole,
    /// STUN servers, resolved to the service's address.
    pub stun: Vec<SocketAddr>,
    /// TURN servers, in the order of the `turn` list.
    pub turn: Vec<TurnServerRef>,
    /// Number of components (1 for a data channel, 2 for RTP with RTCP).
    pub components: u8,
    /// Candidates go out in transport-info as found.
    pub trickle: bool,
    /// What may leave before the session is accepted (XEP-0371 §11.1).
    pub share: Share,
    /// `discover` (default false): the agent learns its STUN and TURN servers (XEP-0215) and
    /// its public address (XEP-0279) from the server of [`Signalling::via`], which every
    /// checked script with `discover` has; its `stun` and `turn` lists are then empty.
    pub discover: bool,
    /// `tcp`: the ICE-TCP candidate types to gather (RFC 6544 §4.5), in the script's order,
    /// each once; empty (the default) gathers no TCP candidate.
    pub tcp: Vec<IceTcpType>,
}

/// An ICE-TCP candidate type an agent gathers (RFC 6544 §4.5; XEP-0371 `tcptype`), as scripts
/// name it. The simulator interprets no ICE: this is what the script asks of the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IceTcpType {
    /// `active`: opens connections.
    Active,
    /// `passive`: accepts connections.
    Passive,
    /// `so`: simultaneous open.
    So,
}

impl IceTcpType {
    /// The name used in scripts (and in RFC 6544 §4.5's SDP).
    pub fn as_str(self) -> &'static str {
        match self {
            IceTcpType::Active => "active",
            IceTcpType::Passive => "passive",
            IceTcpType::So => "so",
        }
    }
}

impl std::fmt::Display for IceTcpType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entry of an agent's `turn` list: `HOST:PORT`, or an RFC 7065 URI `turn:HOST[:PORT]`
/// (with an optional `?transport=udp|tcp`) or `turns:HOST[:PORT]` (TLS over TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnServerRef {
    /// The server's address (its host's first address, the port the entry names: RFC 7065's
    /// defaults 3478 for `turn` and 5349 for `turns` when the URI names none).
    pub addr: SocketAddr,
    /// Index of its host in [`Topology::hosts`](super::Topology::hosts).
    pub host: usize,
    /// How the agent reaches it.
    pub transport: TurnTransport,
}

/// An agent's `share`: what may leave before the session is accepted (XEP-0371 §11.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Share {
    /// Every candidate (the default, as before).
    #[default]
    All,
    /// Relayed candidates only.
    RelayOnly,
    /// Nothing.
    Nothing,
}

impl Share {
    /// The name used in scripts.
    pub fn as_str(self) -> &'static str {
        match self {
            Share::All => "all",
            Share::RelayOnly => "relay-only",
            Share::Nothing => "nothing",
        }
    }
}

/// The `[signalling]` path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signalling {
    /// One-way delay of the XMPP path.
    pub latency: Duration,
    /// `via`: the index in [`Topology::hosts`](super::Topology::hosts) of the host whose xmpp
    /// service carries the Jingle stanzas (each agent logs in to it from its own host); `None`:
    /// the runner carries them itself, as before.
    pub via: Option<usize>,
}

/// What the run must produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Both agents select a pair.
    Connected,
    /// Both agents report ICE failure.
    Failed,
}

impl Outcome {
    /// The name used in scripts and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Connected => "connected",
            Outcome::Failed => "failed",
        }
    }
}

/// The `[expect]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// `connected` or `failed`.
    pub outcome: Outcome,
    /// Allowed types of the initiator's local candidate of the selected pair (empty: any).
    pub local_type: Vec<String>,
    /// Allowed types of the initiator's remote candidate of the selected pair (empty: any).
    pub remote_type: Vec<String>,
    /// `udp` or `tcp`, when given.
    pub protocol: Option<String>,
    /// Budget from session-initiate to both pairs selected.
    pub max_connect: Option<Duration>,
    /// Application datagrams must cross the pair both ways.
    pub data: bool,
    /// The pair must still carry data this long after connecting.
    pub hold: Duration,
    /// For a relayed local candidate: how its agent reaches the TURN server, when given.
    pub relay_transport: Option<TurnTransport>,
    /// `data_bytes` (default 0, at most [`MAX_DATA_BYTES`]): bytes of application data each
    /// side sends over the selected pair after connecting, all of which must arrive intact.
    pub data_bytes: u64,
}

/// The largest `data_bytes` a script may ask for (1 GiB): the runner holds what it checks.
pub const MAX_DATA_BYTES: u64 = 1 << 30;

// ---- Resolution, one function per table -------------------------------------------------------

/// A `host:port` of an agent's `stun` or `turn` list: the service's address and its host.
fn service_address(
    src: &Source<'_>,
    hosts: &[Host],
    s: &Spanned<String>,
    turn: bool,
) -> Result<(SocketAddr, usize), TopologyError> {
    let text = s.get_ref();
    let (name, port) = text
        .rsplit_once(':')
        .ok_or_else(|| src.err(&s.span(), format!("`{text}` is not HOST:PORT")))?;
    let port: u16 = port
        .parse()
        .map_err(|_| src.err(&s.span(), format!("`{port}` is not a port")))?;
    let i = hosts
        .iter()
        .position(|h| h.name == name)
        .ok_or_else(|| src.err(&s.span(), format!("no host is named `{name}`")))?;
    let ok = match &hosts[i].service {
        Some(Service::Stun { port: p }) => !turn && *p == port,
        // A TURN server answers Binding requests too (RFC 8656 §2).
        Some(Service::Turn { port: p, .. }) => *p == port,
        Some(Service::Xmpp { .. }) | None => false,
    };
    if !ok {
        return Err(src.err(
            &s.span(),
            format!(
                "host `{name}` runs no {} service on port {port}",
                if turn { "turn" } else { "stun" }
            ),
        ));
    }
    Ok((SocketAddr::new(hosts[i].ips[0].0, port), i))
}

/// An entry of an agent's `turn` list (see [`TurnServerRef`]): the service must serve the
/// transport on that port.
fn turn_server(
    src: &Source<'_>,
    hosts: &[Host],
    s: &Spanned<String>,
) -> Result<TurnServerRef, TopologyError> {
    let text = s.get_ref();
    let err = |m: String| src.err(&s.span(), m);
    let (rest, transport, default_port) = if let Some(rest) = text.strip_prefix("turns:") {
        (rest, TurnTransport::Tls, 5349)
    } else if let Some(rest) = text.strip_prefix("turn:") {
        (rest, TurnTransport::Udp, 3478)
    } else {
        let (addr, host) = service_address(src, hosts, s, true)?;
        return Ok(TurnServerRef {
            addr,
            host,
            transport: TurnTransport::Udp,
        });
    };
    let (authority, transport) = match rest.split_once('?') {
        None => (rest, transport),
        Some((a, q)) => {
            let t = match (transport, q) {
                (TurnTransport::Udp, "transport=udp") => TurnTransport::Udp,
                (TurnTransport::Udp, "transport=tcp") => TurnTransport::Tcp,
                (TurnTransport::Tls, "transport=tcp") => TurnTransport::Tls,
                _ => {
                    return Err(err(format!(
                        "`{text}`: the query must be `transport=udp` or `transport=tcp` (RFC 7065; `turns` takes tcp only)"
                    )));
                }
            };
            (a, t)
        }
    };
    let (name, port) = match authority.rsplit_once(':') {
        Some((n, p)) => (
            n,
            p.parse::<u16>()
                .map_err(|_| err(format!("`{p}` is not a port")))?,
        ),
        None => (authority, default_port),
    };
    let host = hosts
        .iter()
        .position(|h| h.name == name)
        .ok_or_else(|| err(format!("no host is named `{name}`")))?;
    let serves = match &hosts[host].service {
        Some(Service::Turn {
            port: p,
            transports,
            tls_port,
            ..
        }) => {
            transports.contains(&transport)
                && if transport == TurnTransport::Tls {
                    *tls_port == Some(port)
                } else {
                    *p == port
                }
        }
        _ => false,
    };
    if !serves {
        return Err(err(format!(
            "host `{name}` runs no turn service over {transport} on port {port}"
        )));
    }
    Ok(TurnServerRef {
        addr: SocketAddr::new(hosts[host].ips[0].0, port),
        host,
        transport,
    })
}

/// An agent's `share`.
fn share(src: &Source<'_>, s: Option<&Spanned<String>>) -> Result<Share, TopologyError> {
    match s.map(|s| (s, s.get_ref().as_str())) {
        None | Some((_, "all")) => Ok(Share::All),
        Some((_, "relay-only")) => Ok(Share::RelayOnly),
        Some((_, "nothing")) => Ok(Share::Nothing),
        Some((s, other)) => Err(src.err(
            &s.span(),
            format!("unknown share `{other}` (all | relay-only | nothing)"),
        )),
    }
}

/// An agent's `tcp` list: each of `active`, `passive`, `so` at most once.
fn tcp_types(src: &Source<'_>, list: &[Spanned<String>]) -> Result<Vec<IceTcpType>, TopologyError> {
    let mut out = Vec::new();
    for t in list {
        let ty = match t.get_ref().as_str() {
            "active" => IceTcpType::Active,
            "passive" => IceTcpType::Passive,
            "so" => IceTcpType::So,
            other => {
                return Err(src.err(
                    &t.span(),
                    format!("unknown tcp candidate type `{other}` (active | passive | so)"),
                ));
            }
        };
        if out.contains(&ty) {
            return Err(src.err(&t.span(), format!("tcp lists `{ty}` twice")));
        }
        out.push(ty);
    }
    Ok(out)
}

/// `[[agent]]`s: each on a host of its own that runs no service, its servers resolved (or
/// `discover`, with `signalling`'s `via`); exactly one initiator and one responder.
pub(super) fn agents(
    src: &Source<'_>,
    raw: &[RawAgent],
    hosts: &[Host],
    signalling: &Signalling,
) -> Result<Vec<Agent>, TopologyError> {
    let host_names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    let mut agents: Vec<Agent> = Vec::new();
    for a in raw {
        let host = find(&host_names, &a.host).ok_or_else(|| {
            src.err(
                &a.host.span(),
                format!("no host is named `{}`", a.host.get_ref()),
            )
        })?;
        if hosts[host].service.is_some() {
            return Err(src.err(
                &a.host.span(),
                "an agent cannot run on a host that runs a service",
            ));
        }
        if agents.iter().any(|x| x.host == host) {
            return Err(src.err(&a.host.span(), "two agents on one host"));
        }
        let components = match &a.components {
            Some(c) if !(1..=2).contains(c.get_ref()) => {
                return Err(src.err(&c.span(), "components must be 1 or 2"));
            }
            Some(c) => *c.get_ref(),
            None => 1,
        };
        let discover = discover(src, a, signalling)?;
        agents.push(Agent {
            host,
            implementation: a.implementation.get_ref().clone(),
            impl_line: src.line_of(a.implementation.span().start),
            role: match a.role.get_ref() {
                RawRole::Initiator => JingleRole::Initiator,
                RawRole::Responder => JingleRole::Responder,
            },
            stun: a
                .stun
                .iter()
                .map(|s| service_address(src, hosts, s, false).map(|(addr, _)| addr))
                .collect::<Result<_, _>>()?,
            turn: a
                .turn
                .iter()
                .map(|s| turn_server(src, hosts, s))
                .collect::<Result<_, _>>()?,
            components,
            trickle: a.trickle.unwrap_or(true),
            share: share(src, a.share.as_ref())?,
            discover,
            tcp: tcp_types(src, &a.tcp)?,
        });
    }
    let initiators = agents
        .iter()
        .filter(|a| a.role == JingleRole::Initiator)
        .count();
    if agents.len() != 2 || initiators != 1 {
        let span = raw.first().map_or(0..0, |a| a.role.span());
        let mut e = src.err(
            &span,
            format!(
                "a script needs exactly two agents, one initiator and one responder (found {} agents, {initiators} initiators)",
                agents.len()
            ),
        );
        if raw.is_empty() {
            e.key = "agent".to_owned();
        }
        return Err(e);
    }
    Ok(agents)
}

/// An agent's `discover`: it needs a server to discover from, and replaces the agent's own
/// `stun` and `turn` lists (the contract: "instead of the stun/turn lists").
fn discover(
    src: &Source<'_>,
    a: &RawAgent,
    signalling: &Signalling,
) -> Result<bool, TopologyError> {
    let Some(d) = a.discover.as_ref().filter(|d| *d.get_ref()) else {
        return Ok(false);
    };
    if signalling.via.is_none() {
        return Err(src.err(
            &d.span(),
            "discover = true needs [signalling] via: the xmpp server to discover from",
        ));
    }
    if let Some(list) = [("stun", &a.stun), ("turn", &a.turn)]
        .into_iter()
        .find(|(_, l)| !l.is_empty())
    {
        return Err(src.err(
            &d.span(),
            format!(
                "discover = true takes the agent's servers from the xmpp server (XEP-0215) \
                 instead of its `{}` list: give one or the other",
                list.0
            ),
        ));
    }
    Ok(true)
}

/// `[signalling]`: `via` must name a host that runs an xmpp service.
pub(super) fn signalling(
    src: &Source<'_>,
    raw: Option<&RawSignalling>,
    hosts: &[Host],
) -> Result<Signalling, TopologyError> {
    let via = match raw.and_then(|s| s.via.as_ref()) {
        None => None,
        Some(v) => {
            let name = v.get_ref();
            let i = hosts
                .iter()
                .position(|h| h.name == *name)
                .ok_or_else(|| src.err(&v.span(), format!("no host is named `{name}`")))?;
            if !matches!(hosts[i].service, Some(Service::Xmpp { .. })) {
                return Err(src.err(&v.span(), format!("host `{name}` runs no xmpp service")));
            }
            Some(i)
        }
    };
    Ok(Signalling {
        latency: ms(raw.and_then(|s| s.latency_ms).unwrap_or(50)),
        via,
    })
}

/// Candidate types of `local_type` or `remote_type` (none given: any).
fn candidate_types(src: &Source<'_>, v: Option<&OneOrMany>) -> Result<Vec<String>, TopologyError> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let list = strings(src, v)?;
    for t in &list {
        if !matches!(t.as_str(), "host" | "srflx" | "prflx" | "relay") {
            return Err(src.err(
                &v.span(),
                format!("unknown candidate type `{t}` (host | srflx | prflx | relay)"),
            ));
        }
    }
    Ok(list)
}

/// `[expect]`. `protocol` is checked before the candidate types.
pub(super) fn expect(src: &Source<'_>, e: &RawExpect) -> Result<Expect, TopologyError> {
    let protocol = match &e.protocol {
        None => None,
        Some(p) if matches!(p.get_ref().as_str(), "udp" | "tcp") => Some(p.get_ref().clone()),
        Some(p) => {
            return Err(src.err(
                &p.span(),
                format!("unknown protocol `{}` (udp | tcp)", p.get_ref()),
            ));
        }
    };
    let relay_transport = match &e.relay_transport {
        None => None,
        Some(t) => Some(
            t.get_ref()
                .parse::<TurnTransport>()
                .map_err(|m| src.err(&t.span(), m))?,
        ),
    };
    let data_bytes = match &e.data_bytes {
        None => 0,
        Some(n) if *n.get_ref() > MAX_DATA_BYTES => {
            return Err(src.err(
                &n.span(),
                format!("data_bytes must be at most {MAX_DATA_BYTES} (1 GiB)"),
            ));
        }
        Some(n) if *n.get_ref() > 0 && matches!(e.outcome, RawOutcome::Failed) => {
            return Err(src.err(
                &n.span(),
                "data_bytes needs outcome = \"connected\": a failed run delivers no data",
            ));
        }
        Some(n) => *n.get_ref(),
    };
    Ok(Expect {
        outcome: match e.outcome {
            RawOutcome::Connected => Outcome::Connected,
            RawOutcome::Failed => Outcome::Failed,
        },
        local_type: candidate_types(src, e.local_type.as_ref())?,
        remote_type: candidate_types(src, e.remote_type.as_ref())?,
        protocol,
        max_connect: e.max_connect_ms.map(ms),
        data: e.data,
        hold: ms(e.hold_ms),
        relay_transport,
        data_bytes,
    })
}
