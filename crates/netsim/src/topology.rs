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

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

/// The only format this version reads.
pub const FORMAT: u32 = 1;

/// Scripts larger than this are refused before parsing (a script is a few kilobytes).
pub const MAX_SCRIPT_BYTES: usize = 1 << 20;

/// Element counts above which a script is refused (the simulator's memory stays bounded).
pub const MAX_ELEMENTS: usize = 256;

/// A script that cannot be used: where, which key, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {key}: {message}")]
pub struct TopologyError {
    /// The file name as given to [`Topology::parse`].
    pub file: String,
    /// 1-based line of the offending key or value (the first line when unknown).
    pub line: usize,
    /// The key, qualified by its table (`nat[1].mapping`), or `-` when none applies.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// A mapping or filtering behaviour of RFC 4787 (§4.1 mapping, §5 filtering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Behaviour {
    /// The same mapping (or no filtering) whatever the remote endpoint.
    EndpointIndependent,
    /// One mapping (or filter) per remote IP address.
    AddressDependent,
    /// One mapping (or filter) per remote IP address and port.
    AddressAndPortDependent,
}

impl Behaviour {
    /// The name used in scripts.
    pub fn as_str(self) -> &'static str {
        match self {
            Behaviour::EndpointIndependent => "endpoint-independent",
            Behaviour::AddressDependent => "address-dependent",
            Behaviour::AddressAndPortDependent => "address-and-port-dependent",
        }
    }
}

impl fmt::Display for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Delay, jitter and loss of one hop across a network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkParams {
    /// One-way delay per hop.
    pub latency: Duration,
    /// Uniform extra delay in `[0, jitter]` per datagram and hop.
    pub jitter: Duration,
    /// Probability in `[0, 1]` that a datagram is dropped on a hop.
    pub loss: f64,
}

impl Default for LinkParams {
    fn default() -> Self {
        LinkParams {
            latency: Duration::from_millis(20),
            jitter: Duration::ZERO,
            loss: 0.0,
        }
    }
}

impl LinkParams {
    /// One datagram's hop on a link with these parameters, from two uniform draws of the
    /// run's seeded RNG: the delay, or `None` when the datagram is lost. Both backends draw
    /// through here (the simulator per hop, the netns backend's user-space path per hop of
    /// the datagrams it carries), so the same draws mean the same fate.
    pub fn hop(&self, loss_draw: u64, jitter_draw: u64) -> Option<Duration> {
        if self.loss > 0.0 && (loss_draw >> 11) as f64 / (1u64 << 53) as f64 <= self.loss {
            return None;
        }
        let jitter_us = u64::try_from(self.jitter.as_micros()).unwrap_or(u64::MAX);
        let extra = if jitter_us == 0 {
            0
        } else {
            jitter_draw % jitter_us.saturating_add(1)
        };
        Some(self.latency + Duration::from_micros(extra))
    }
}

/// An IP prefix: `198.51.100.0/24`, `2001:db8::/64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The network address (host bits as written).
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// Whether `ip` is inside the prefix (and of the same family).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not a prefix (ADDRESS/LENGTH)"))?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{addr}` is not an IP address"))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| format!("`{prefix}` is not a prefix length"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(format!("prefix length {prefix} is longer than {max}"));
        }
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A `[[network]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// Its name.
    pub name: String,
    /// Its prefix.
    pub cidr: Cidr,
    /// Its hops: `[link]` with this network's overrides applied.
    pub link: LinkParams,
}

/// A `[[nat]]`: a router with one interface inside and one (`public_ip`) outside.
#[derive(Debug, Clone, PartialEq)]
pub struct Nat {
    /// Its name.
    pub name: String,
    /// Index of the inside network in [`Topology::networks`].
    pub inside: usize,
    /// Index of the outside network.
    pub outside: usize,
    /// Its address on the outside network.
    pub public_ip: IpAddr,
    /// RFC 4787 §4.1.
    pub mapping: Behaviour,
    /// RFC 4787 §5.
    pub filtering: Behaviour,
    /// Keep the internal port as the external one while it is free (RFC 4787 §4.2.1).
    pub port_preservation: bool,
    /// RFC 4787 §6.
    pub hairpinning: bool,
    /// Lifetime of a mapping after the last outbound datagram that used it (RFC 4787 §4.3).
    pub udp_timeout: Duration,
    /// Drop every UDP datagram that would cross it.
    pub block_udp: bool,
}

/// A service a host runs, answered by the simulator itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Service {
    /// A STUN server (RFC 8489 and RFC 3489 Binding requests).
    Stun {
        /// UDP port.
        port: u16,
    },
    /// A TURN server (RFC 8656).
    Turn {
        /// UDP port.
        port: u16,
        /// Long-term credential user name.
        username: String,
        /// Long-term credential password.
        password: String,
        /// Realm.
        realm: String,
    },
}

impl Service {
    /// The port it listens on.
    pub fn port(&self) -> u16 {
        match self {
            Service::Stun { port } | Service::Turn { port, .. } => *port,
        }
    }
}

/// A `[[host]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    /// Its name.
    pub name: String,
    /// Its addresses, each with the index of its network in [`Topology::networks`].
    pub ips: Vec<(IpAddr, usize)>,
    /// The service it runs, if any.
    pub service: Option<Service>,
}

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
    /// Index of its host in [`Topology::hosts`].
    pub host: usize,
    /// The implementation (`ice-sans-io`, `str0m`, `rice`, `libnice`, ...): the runner checks it.
    pub implementation: String,
    /// Line of the `impl` key, for the runner's errors.
    pub impl_line: usize,
    /// Jingle role.
    pub role: JingleRole,
    /// STUN servers, resolved to the service's address.
    pub stun: Vec<SocketAddr>,
    /// TURN servers: the service's address and the host index of the service.
    pub turn: Vec<(SocketAddr, usize)>,
    /// Number of components (1 for a data channel, 2 for RTP with RTCP).
    pub components: u8,
    /// Candidates go out in transport-info as found.
    pub trickle: bool,
}

/// The `[signalling]` path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signalling {
    /// One-way delay of the XMPP path.
    pub latency: Duration,
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
}

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

// ---- The raw shape of the file (serde) -------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    format: Spanned<i64>,
    name: String,
    seed: Option<u64>,
    duration_ms: Option<Spanned<u64>>,
    link: Option<RawLink>,
    #[serde(default, rename = "network")]
    networks: Vec<RawNetwork>,
    #[serde(default, rename = "nat")]
    nats: Vec<RawNat>,
    #[serde(default, rename = "host")]
    hosts: Vec<RawHost>,
    #[serde(default, rename = "agent")]
    agents: Vec<RawAgent>,
    signalling: Option<RawSignalling>,
    expect: RawExpect,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLink {
    latency_ms: Option<u64>,
    jitter_ms: Option<u64>,
    loss: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    name: Spanned<String>,
    cidr: Spanned<String>,
    latency_ms: Option<u64>,
    jitter_ms: Option<u64>,
    loss: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNat {
    name: Spanned<String>,
    inside: Spanned<String>,
    outside: Spanned<String>,
    public_ip: Spanned<String>,
    mapping: Behaviour,
    filtering: Behaviour,
    #[serde(default)]
    port_preservation: bool,
    #[serde(default)]
    hairpinning: bool,
    udp_timeout_s: Option<Spanned<u64>>,
    #[serde(default)]
    block_udp: bool,
}

/// A string or an array of strings (`network`, `local_type`, `remote_type`).
type OneOrMany = Spanned<toml::Value>;

/// The strings of a [`OneOrMany`], or an error at its place.
fn strings(src: &Source<'_>, v: &OneOrMany) -> Result<Vec<String>, TopologyError> {
    let bad = || src.err(&v.span(), "expected a string or an array of strings");
    match v.get_ref() {
        toml::Value::String(s) => Ok(vec![s.clone()]),
        toml::Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(bad))
            .collect(),
        _ => Err(bad()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    name: Spanned<String>,
    network: OneOrMany,
    ip: Option<Spanned<String>>,
    ips: Option<Spanned<Vec<Spanned<String>>>>,
    service: Option<Spanned<RawService>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    kind: Spanned<String>,
    port: Option<u16>,
    username: Option<String>,
    password: Option<String>,
    realm: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawRole {
    Initiator,
    Responder,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
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
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSignalling {
    latency_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawOutcome {
    Connected,
    Failed,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    outcome: RawOutcome,
    local_type: Option<OneOrMany>,
    remote_type: Option<OneOrMany>,
    protocol: Option<Spanned<String>>,
    max_connect_ms: Option<u64>,
    #[serde(default)]
    data: bool,
    #[serde(default)]
    hold_ms: u64,
}

// ---- Errors with places ----------------------------------------------------------------------

struct Source<'a> {
    file: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// The key at `span`, qualified by the table header above it: `[[nat]]` number 2 and key
    /// `mapping` give `nat[2].mapping`. Works for spans of keys and of values.
    fn key_at(&self, span: &Range<usize>) -> String {
        let start = span.start.min(self.text.len());
        let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |i| start + i);
        let line = &self.text[line_start..line_end];
        let key = match line.split_once('=') {
            Some((k, _)) => k.trim().to_owned(),
            None => {
                // A span inside an inline table or array spanning lines, or a bare key.
                self.text[start..span.end.min(self.text.len())]
                    .trim()
                    .to_owned()
            }
        };
        let key = key.trim_matches('"').to_owned();
        match self.table_at(line_start) {
            Some(table) if !key.is_empty() => format!("{table}.{key}"),
            Some(table) => table,
            None if key.is_empty() => "-".to_owned(),
            None => key,
        }
    }

    /// The table or array-of-tables entry in force at `offset` (`link`, `nat[2]`).
    fn table_at(&self, offset: usize) -> Option<String> {
        let mut current: Option<String> = None;
        let mut counts: Vec<(String, usize)> = Vec::new();
        for line in self.text[..offset.min(self.text.len())].split_inclusive('\n') {
            let t = line.trim();
            if let Some(name) = t.strip_prefix("[[").and_then(|r| r.split_once("]]")) {
                let name = name.0.trim().to_owned();
                let n = match counts.iter_mut().find(|(k, _)| *k == name) {
                    Some((_, n)) => {
                        *n += 1;
                        *n
                    }
                    None => {
                        counts.push((name.clone(), 1));
                        1
                    }
                };
                current = Some(format!("{name}[{n}]"));
            } else if let Some(name) = t.strip_prefix('[').and_then(|r| r.split_once(']')) {
                current = Some(name.0.trim().to_owned());
            }
        }
        current
    }

    fn err(&self, span: &Range<usize>, message: impl Into<String>) -> TopologyError {
        TopologyError {
            file: self.file.to_owned(),
            line: self.line_of(span.start),
            key: self.key_at(span),
            message: message.into(),
        }
    }

    fn err_key(&self, key: &str, message: impl Into<String>) -> TopologyError {
        TopologyError {
            file: self.file.to_owned(),
            line: 1,
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn check_loss(src: &Source<'_>, loss: &Spanned<f64>) -> Result<f64, TopologyError> {
    let v = *loss.get_ref();
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(src.err(
            &loss.span(),
            format!("loss {v} is not a probability in [0, 1]"),
        ))
    }
}

fn find(names: &[&str], wanted: &Spanned<String>) -> Option<usize> {
    names.iter().position(|n| *n == wanted.get_ref().as_str())
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
        let raw: RawScript = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().to_owned();
            // serde names an unknown or missing key in backquotes; the span points at the key
            // (unknown) or at the table (missing).
            let mut error = src.err(&span, message.clone());
            if let Some(name) = message
                .strip_prefix("unknown field `")
                .and_then(|r| r.split_once('`'))
                .map(|(n, _)| n)
            {
                let table = src.table_at(span.start);
                error.key = table.map_or(name.to_owned(), |t| format!("{t}.{name}"));
            } else if let Some(name) = message
                .strip_prefix("missing field `")
                .and_then(|r| r.split_once('`'))
                .map(|(n, _)| n)
            {
                let table = src.table_at(span.start);
                error.key = table.map_or(name.to_owned(), |t| format!("{t}.{name}"));
            }
            if span == (0..0) {
                error.line = 1;
            }
            error
        })?;
        resolve(&src, raw)
    }
}

fn resolve(src: &Source<'_>, raw: RawScript) -> Result<Topology, TopologyError> {
    if *raw.format.get_ref() != i64::from(FORMAT) {
        return Err(src.err(
            &raw.format.span(),
            format!(
                "format {} is not known to this version, which reads format {FORMAT}",
                raw.format.get_ref()
            ),
        ));
    }
    for (what, n) in [
        ("network", raw.networks.len()),
        ("nat", raw.nats.len()),
        ("host", raw.hosts.len()),
    ] {
        if n > MAX_ELEMENTS {
            return Err(src.err_key(
                what,
                format!("{n} entries, more than the {MAX_ELEMENTS} allowed"),
            ));
        }
    }
    let duration = match &raw.duration_ms {
        Some(d) if *d.get_ref() == 0 || *d.get_ref() > 24 * 3600 * 1000 => {
            return Err(src.err(&d.span(), "duration_ms must be in 1..=86400000"));
        }
        Some(d) => ms(*d.get_ref()),
        None => ms(30_000),
    };
    let raw_link = raw.link.unwrap_or_default();
    let defaults = LinkParams::default();
    let link = LinkParams {
        latency: raw_link.latency_ms.map_or(defaults.latency, ms),
        jitter: raw_link.jitter_ms.map_or(defaults.jitter, ms),
        loss: match &raw_link.loss {
            Some(l) => check_loss(src, l)?,
            None => defaults.loss,
        },
    };

    // Networks.
    let mut networks = Vec::new();
    for n in &raw.networks {
        if networks
            .iter()
            .any(|x: &Network| x.name == *n.name.get_ref())
        {
            return Err(src.err(
                &n.name.span(),
                format!("network `{}` is defined twice", n.name.get_ref()),
            ));
        }
        let cidr: Cidr = n
            .cidr
            .get_ref()
            .parse()
            .map_err(|m: String| src.err(&n.cidr.span(), m))?;
        networks.push(Network {
            name: n.name.get_ref().clone(),
            cidr,
            link: LinkParams {
                latency: n.latency_ms.map_or(link.latency, ms),
                jitter: n.jitter_ms.map_or(link.jitter, ms),
                loss: match &n.loss {
                    Some(l) => check_loss(src, l)?,
                    None => link.loss,
                },
            },
        });
    }
    let net_names: Vec<&str> = networks.iter().map(|n| n.name.as_str()).collect();
    let network_index = |name: &Spanned<String>| {
        find(&net_names, name).ok_or_else(|| {
            src.err(
                &name.span(),
                format!("no network is named `{}`", name.get_ref()),
            )
        })
    };

    // Addresses taken so far, to refuse duplicates.
    let mut taken: Vec<IpAddr> = Vec::new();
    let mut take = |ip: IpAddr, span: &Range<usize>| {
        if taken.contains(&ip) {
            Err(src.err(span, format!("address {ip} is used twice")))
        } else {
            taken.push(ip);
            Ok(())
        }
    };

    // NAT routers.
    let mut nats: Vec<Nat> = Vec::new();
    for n in &raw.nats {
        if nats.iter().any(|x| x.name == *n.name.get_ref()) {
            return Err(src.err(
                &n.name.span(),
                format!("nat `{}` is defined twice", n.name.get_ref()),
            ));
        }
        let inside = network_index(&n.inside)?;
        let outside = network_index(&n.outside)?;
        if inside == outside {
            return Err(src.err(
                &n.outside.span(),
                "a NAT's inside and outside must be different networks",
            ));
        }
        let public_ip: IpAddr = n.public_ip.get_ref().parse().map_err(|_| {
            src.err(
                &n.public_ip.span(),
                format!("`{}` is not an IP address", n.public_ip.get_ref()),
            )
        })?;
        if !networks[outside].cidr.contains(public_ip) {
            return Err(src.err(
                &n.public_ip.span(),
                format!(
                    "{public_ip} is not inside the outside network {} ({})",
                    networks[outside].name, networks[outside].cidr
                ),
            ));
        }
        if networks[inside].cidr.addr.is_ipv4() != public_ip.is_ipv4() {
            return Err(src.err(
                &n.public_ip.span(),
                "the inside network and the public address must be of the same address family",
            ));
        }
        if let Some(other) = nats.iter().find(|x| x.inside == inside) {
            return Err(src.err(
                &n.inside.span(),
                format!(
                    "network `{}` already has a NAT, `{}`: a network has at most one way out",
                    networks[inside].name, other.name
                ),
            ));
        }
        take(public_ip, &n.public_ip.span())?;
        let udp_timeout = match &n.udp_timeout_s {
            Some(t) if *t.get_ref() == 0 => {
                return Err(src.err(&t.span(), "udp_timeout_s must be at least 1"));
            }
            Some(t) => Duration::from_secs(*t.get_ref()),
            None => Duration::from_secs(120),
        };
        nats.push(Nat {
            name: n.name.get_ref().clone(),
            inside,
            outside,
            public_ip,
            mapping: n.mapping,
            filtering: n.filtering,
            port_preservation: n.port_preservation,
            hairpinning: n.hairpinning,
            udp_timeout,
            block_udp: n.block_udp,
        });
    }
    // NAT chains must not loop (a network behind itself).
    for start in 0..nats.len() {
        let mut net = nats[start].outside;
        for _ in 0..=nats.len() {
            match nats.iter().position(|x| x.inside == net) {
                Some(i) if i == start => {
                    return Err(src.err(&raw.nats[start].outside.span(), "the NATs form a loop"));
                }
                Some(i) => net = nats[i].outside,
                None => break,
            }
        }
    }

    // Hosts.
    let mut hosts: Vec<Host> = Vec::new();
    for h in &raw.hosts {
        if hosts.iter().any(|x| x.name == *h.name.get_ref())
            || nats.iter().any(|x| x.name == *h.name.get_ref())
        {
            return Err(src.err(
                &h.name.span(),
                format!("the name `{}` is used twice", h.name.get_ref()),
            ));
        }
        let nets_span = h.network.span();
        let net_names_given = strings(src, &h.network)?;
        if net_names_given.is_empty() {
            return Err(src.err(&nets_span, "a host needs a network"));
        }
        let nets = net_names_given
            .iter()
            .map(|n| {
                net_names
                    .iter()
                    .position(|x| x == n)
                    .ok_or_else(|| src.err(&nets_span, format!("no network is named `{n}`")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let ips: Vec<Spanned<String>> = match (&h.ip, &h.ips) {
            (Some(ip), None) => vec![ip.clone()],
            (None, Some(ips)) if !ips.get_ref().is_empty() => ips.get_ref().clone(),
            (None, Some(ips)) => return Err(src.err(&ips.span(), "ips is empty")),
            (Some(_), Some(ips)) => return Err(src.err(&ips.span(), "give ip or ips, not both")),
            (None, None) => return Err(src.err(&h.name.span(), "a host needs ip or ips")),
        };
        let mut resolved = Vec::new();
        for ip in &ips {
            let addr: IpAddr = ip.get_ref().parse().map_err(|_| {
                src.err(
                    &ip.span(),
                    format!("`{}` is not an IP address", ip.get_ref()),
                )
            })?;
            let Some(&net) = nets.iter().find(|&&n| networks[n].cidr.contains(addr)) else {
                return Err(src.err(
                    &ip.span(),
                    format!(
                        "{addr} is in none of the host's networks ({})",
                        nets.iter()
                            .map(|&n| format!("{} {}", networks[n].name, networks[n].cidr))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            };
            take(addr, &ip.span())?;
            resolved.push((addr, net));
        }
        for (&net, name) in nets.iter().zip(&net_names_given) {
            if !resolved.iter().any(|&(_, n)| n == net) {
                return Err(src.err(
                    &nets_span,
                    format!("none of the host's addresses is in network `{name}`"),
                ));
            }
        }
        let service = match &h.service {
            None => None,
            Some(s) => {
                let r = s.get_ref();
                match r.kind.get_ref().as_str() {
                    "stun" => {
                        if r.username.is_some() || r.password.is_some() || r.realm.is_some() {
                            return Err(src.err(&s.span(), "a stun service takes only `port`"));
                        }
                        Some(Service::Stun {
                            port: r.port.unwrap_or(3478),
                        })
                    }
                    "turn" => match (&r.username, &r.password) {
                        (Some(u), Some(p)) => Some(Service::Turn {
                            port: r.port.unwrap_or(3478),
                            username: u.clone(),
                            password: p.clone(),
                            realm: r.realm.clone().unwrap_or_else(|| "example".to_owned()),
                        }),
                        _ => {
                            return Err(
                                src.err(&s.span(), "a turn service needs username and password")
                            );
                        }
                    },
                    other => {
                        return Err(src.err(
                            &r.kind.span(),
                            format!("unknown service kind `{other}` (stun | turn)"),
                        ));
                    }
                }
            }
        };
        hosts.push(Host {
            name: h.name.get_ref().clone(),
            ips: resolved,
            service,
        });
    }
    let host_names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();

    // Agents.
    let resolve_service =
        |s: &Spanned<String>, turn: bool| -> Result<(SocketAddr, usize), TopologyError> {
            let text = s.get_ref();
            let (name, port) = text
                .rsplit_once(':')
                .ok_or_else(|| src.err(&s.span(), format!("`{text}` is not HOST:PORT")))?;
            let port: u16 = port
                .parse()
                .map_err(|_| src.err(&s.span(), format!("`{port}` is not a port")))?;
            let i = host_names
                .iter()
                .position(|n| *n == name)
                .ok_or_else(|| src.err(&s.span(), format!("no host is named `{name}`")))?;
            let ok = match &hosts[i].service {
                Some(Service::Stun { port: p }) => !turn && *p == port,
                // A TURN server answers Binding requests too (RFC 8656 §2).
                Some(Service::Turn { port: p, .. }) => *p == port,
                None => false,
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
        };
    let mut agents = Vec::new();
    for a in &raw.agents {
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
        if agents.iter().any(|x: &Agent| x.host == host) {
            return Err(src.err(&a.host.span(), "two agents on one host"));
        }
        let components = match &a.components {
            Some(c) if !(1..=2).contains(c.get_ref()) => {
                return Err(src.err(&c.span(), "components must be 1 or 2"));
            }
            Some(c) => *c.get_ref(),
            None => 1,
        };
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
                .map(|s| resolve_service(s, false).map(|(addr, _)| addr))
                .collect::<Result<_, _>>()?,
            turn: a
                .turn
                .iter()
                .map(|s| resolve_service(s, true))
                .collect::<Result<_, _>>()?,
            components,
            trickle: a.trickle.unwrap_or(true),
        });
    }
    let initiators = agents
        .iter()
        .filter(|a| a.role == JingleRole::Initiator)
        .count();
    if agents.len() != 2 || initiators != 1 {
        let span = raw.agents.first().map_or(0..0, |a| a.role.span());
        let mut e = src.err(
            &span,
            format!(
                "a script needs exactly two agents, one initiator and one responder (found {} agents, {initiators} initiators)",
                agents.len()
            ),
        );
        if raw.agents.is_empty() {
            e.key = "agent".to_owned();
        }
        return Err(e);
    }

    let signalling = Signalling {
        latency: ms(raw.signalling.unwrap_or_default().latency_ms.unwrap_or(50)),
    };

    let types = |v: Option<OneOrMany>| -> Result<Vec<String>, TopologyError> {
        let Some(v) = v else { return Ok(Vec::new()) };
        let list = strings(src, &v)?;
        for t in &list {
            if !matches!(t.as_str(), "host" | "srflx" | "prflx" | "relay") {
                return Err(src.err(
                    &v.span(),
                    format!("unknown candidate type `{t}` (host | srflx | prflx | relay)"),
                ));
            }
        }
        Ok(list)
    };
    let e = raw.expect;
    let protocol = match e.protocol {
        None => None,
        Some(p) if matches!(p.get_ref().as_str(), "udp" | "tcp") => Some(p.into_inner()),
        Some(p) => {
            return Err(src.err(
                &p.span(),
                format!("unknown protocol `{}` (udp | tcp)", p.get_ref()),
            ));
        }
    };
    let expect = Expect {
        outcome: match e.outcome {
            RawOutcome::Connected => Outcome::Connected,
            RawOutcome::Failed => Outcome::Failed,
        },
        local_type: types(e.local_type)?,
        remote_type: types(e.remote_type)?,
        protocol,
        max_connect: e.max_connect_ms.map(ms),
        data: e.data,
        hold: ms(e.hold_ms),
    };

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
        let behind = self.nats.iter().find(|n| n.public_ip == to);
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

    /// The agent with Jingle role `role` (a checked script has exactly one of each).
    pub fn agent(&self, role: JingleRole) -> &Agent {
        self.agents
            .iter()
            .find(|a| a.role == role)
            .unwrap_or(&self.agents[0])
    }
}
