//! The network half resolved, one function per table, in the order [`super::resolve`] calls
//! them (which is the order errors are detected in): the top level, `[link]`, `[[network]]`,
//! `[[nat]]`, `[[host]]`.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use crate::nat::{NatConfig, TCP_ESTABLISHED_TIMEOUT};

use crate::turn_server::TurnAuth;

use super::network::{Cidr, Host, LinkParams, Nat, Network, Service, TurnTransport};
use super::raw::{
    FORMAT, MAX_ELEMENTS, RawHost, RawLink, RawNat, RawNetwork, RawScript, RawService,
};
use super::source::{Source, TopologyError, find, ms, strings};

/// Addresses taken so far by NATs and hosts, to refuse duplicates.
#[derive(Default)]
pub(super) struct Taken(Vec<IpAddr>);

impl Taken {
    fn take(
        &mut self,
        src: &Source<'_>,
        ip: IpAddr,
        span: &Range<usize>,
    ) -> Result<(), TopologyError> {
        if self.0.contains(&ip) {
            Err(src.err(span, format!("address {ip} is used twice")))
        } else {
            self.0.push(ip);
            Ok(())
        }
    }
}

/// The top level: `format`, the element counts and `duration_ms`.
pub(super) fn top_level(src: &Source<'_>, raw: &RawScript) -> Result<Duration, TopologyError> {
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
    match &raw.duration_ms {
        Some(d) if *d.get_ref() == 0 || *d.get_ref() > 24 * 3600 * 1000 => {
            Err(src.err(&d.span(), "duration_ms must be in 1..=86400000"))
        }
        Some(d) => Ok(ms(*d.get_ref())),
        None => Ok(ms(30_000)),
    }
}

/// Link parameters: `defaults` with the keys given overriding them.
fn link_params(
    src: &Source<'_>,
    defaults: LinkParams,
    latency_ms: Option<u64>,
    jitter_ms: Option<u64>,
    loss: Option<&Spanned<f64>>,
) -> Result<LinkParams, TopologyError> {
    Ok(LinkParams {
        latency: latency_ms.map_or(defaults.latency, ms),
        jitter: jitter_ms.map_or(defaults.jitter, ms),
        loss: match loss {
            Some(l) => check_loss(src, l)?,
            None => defaults.loss,
        },
    })
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

/// An error at `name` when one of `earlier` (the names of the `table`s before it) is the same.
fn defined_once<'a>(
    src: &Source<'_>,
    table: &str,
    mut earlier: impl Iterator<Item = &'a String>,
    name: &Spanned<String>,
) -> Result<(), TopologyError> {
    if earlier.any(|x| x == name.get_ref()) {
        return Err(src.err(
            &name.span(),
            format!("{table} `{}` is defined twice", name.get_ref()),
        ));
    }
    Ok(())
}

/// `[link]`: the defaults of every hop.
pub(super) fn link(src: &Source<'_>, raw: Option<&RawLink>) -> Result<LinkParams, TopologyError> {
    let defaults = LinkParams::default();
    match raw {
        Some(l) => link_params(src, defaults, l.latency_ms, l.jitter_ms, l.loss.as_ref()),
        None => Ok(defaults),
    }
}

/// `[[network]]`s, each with `link` overridden by its own keys.
pub(super) fn networks(
    src: &Source<'_>,
    raw: &[RawNetwork],
    link: LinkParams,
) -> Result<Vec<Network>, TopologyError> {
    let mut networks: Vec<Network> = Vec::new();
    for n in raw {
        defined_once(src, "network", networks.iter().map(|x| &x.name), &n.name)?;
        let cidr: Cidr = n
            .cidr
            .get_ref()
            .parse()
            .map_err(|m: String| src.err(&n.cidr.span(), m))?;
        networks.push(Network {
            name: n.name.get_ref().clone(),
            cidr,
            link: link_params(src, link, n.latency_ms, n.jitter_ms, n.loss.as_ref())?,
        });
    }
    Ok(networks)
}

/// The index of the network named `name`, or an error at its place.
fn network_index(
    src: &Source<'_>,
    networks: &[Network],
    name: &Spanned<String>,
) -> Result<usize, TopologyError> {
    let names: Vec<&str> = networks.iter().map(|n| n.name.as_str()).collect();
    find(&names, name).ok_or_else(|| {
        src.err(
            &name.span(),
            format!("no network is named `{}`", name.get_ref()),
        )
    })
}

/// The longest `tcp_timeout_s` a script may give (a day).
const MAX_TCP_TIMEOUT_S: u64 = 86_400;

/// `[[nat]]`s: their networks and public addresses checked, at most one per inside network,
/// no loop of NATs.
pub(super) fn nats(
    src: &Source<'_>,
    raw: &[RawNat],
    networks: &[Network],
    taken: &mut Taken,
) -> Result<Vec<Nat>, TopologyError> {
    let mut nats: Vec<Nat> = Vec::new();
    for n in raw {
        defined_once(src, "nat", nats.iter().map(|x| &x.name), &n.name)?;
        let inside = network_index(src, networks, &n.inside)?;
        let outside = network_index(src, networks, &n.outside)?;
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
        taken.take(src, public_ip, &n.public_ip.span())?;
        let udp_timeout = match &n.udp_timeout_s {
            Some(t) if *t.get_ref() == 0 => {
                return Err(src.err(&t.span(), "udp_timeout_s must be at least 1"));
            }
            Some(t) => Duration::from_secs(*t.get_ref()),
            None => Duration::from_secs(120),
        };
        // RFC 5382 REQ-5 asks for at least 7440 s; shorter is allowed on purpose (a script
        // testing expiry), zero and more than a day are mistakes.
        let tcp_timeout = match &n.tcp_timeout_s {
            Some(t) if !(1..=MAX_TCP_TIMEOUT_S).contains(t.get_ref()) => {
                return Err(src.err(
                    &t.span(),
                    format!("tcp_timeout_s must be between 1 and {MAX_TCP_TIMEOUT_S}"),
                ));
            }
            Some(t) => Duration::from_secs(*t.get_ref()),
            None => TCP_ESTABLISHED_TIMEOUT,
        };
        nats.push(Nat {
            name: n.name.get_ref().clone(),
            inside,
            outside,
            config: NatConfig {
                public_ip,
                mapping: n.mapping,
                filtering: n.filtering,
                port_preservation: n.port_preservation,
                hairpinning: n.hairpinning,
                udp_timeout,
                block_udp: n.block_udp,
                block_tcp: n.block_tcp,
                tcp_timeout,
            },
        });
    }
    // NAT chains must not loop (a network behind itself).
    for start in 0..nats.len() {
        let mut net = nats[start].outside;
        for _ in 0..=nats.len() {
            match nats.iter().position(|x| x.inside == net) {
                Some(i) if i == start => {
                    return Err(src.err(&raw[start].outside.span(), "the NATs form a loop"));
                }
                Some(i) => net = nats[i].outside,
                None => break,
            }
        }
    }
    Ok(nats)
}

/// `[[host]]`s: names unique among hosts and NATs, every address in one of the host's
/// networks and every network holding one of its addresses, the service checked.
pub(super) fn hosts(
    src: &Source<'_>,
    raw: &[RawHost],
    networks: &[Network],
    nats: &[Nat],
    taken: &mut Taken,
) -> Result<Vec<Host>, TopologyError> {
    let net_names: Vec<&str> = networks.iter().map(|n| n.name.as_str()).collect();
    let mut hosts: Vec<Host> = Vec::new();
    for h in raw {
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
            taken.take(src, addr, &ip.span())?;
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
        hosts.push(Host {
            name: h.name.get_ref().clone(),
            ips: resolved,
            service: h.service.as_ref().map(|s| service(src, s)).transpose()?,
        });
    }
    // `alternate` and `external_services` may name a host declared later: resolved once all
    // are known.
    for (i, h) in raw.iter().enumerate() {
        let Some(s) = h.service.as_ref().map(Spanned::get_ref) else {
            continue;
        };
        if let Some(a) = &s.alternate {
            let addr = alternate(src, &hosts, a)?;
            if let Some(Service::Turn { alternate, .. }) = hosts[i].service.as_mut() {
                *alternate = Some(addr);
            }
        }
        if let Some(list) = &s.external_services {
            let resolved = external_services(src, &hosts, list)?;
            if let Some(Service::Xmpp {
                external_services, ..
            }) = hosts[i].service.as_mut()
            {
                *external_services = resolved;
            }
        }
    }
    accounts(src, raw, &hosts)?;
    Ok(hosts)
}

/// When the script has an xmpp service, the hosts that run none get the account
/// `HOSTNAME@DOMAIN` there: their names must be JID localparts (RFC 7622 §3.3: none of
/// `"&'/:<>@`, no spaces or control characters, at most 1023 bytes).
fn accounts(src: &Source<'_>, raw: &[RawHost], hosts: &[Host]) -> Result<(), TopologyError> {
    if !hosts
        .iter()
        .any(|h| matches!(h.service, Some(Service::Xmpp { .. })))
    {
        return Ok(());
    }
    for (h, r) in hosts.iter().zip(raw) {
        let bad = h.name.is_empty()
            || h.name.len() > 1023
            || h.name
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "\"&'/:<>@".contains(c));
        if h.service.is_none() && bad {
            return Err(src.err(
                &r.name.span(),
                format!(
                    "host `{}` gets an account on the script's xmpp service, and its name is not \
                     a JID localpart (no spaces, none of \"&'/:<>@)",
                    h.name
                ),
            ));
        }
    }
    Ok(())
}

/// A turn service's `alternate`: `IP:PORT`, or `HOST:PORT` naming a host that runs a turn
/// service on that port (its first address).
fn alternate(
    src: &Source<'_>,
    hosts: &[Host],
    a: &Spanned<String>,
) -> Result<SocketAddr, TopologyError> {
    if let Ok(addr) = a.get_ref().parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bad = || {
        src.err(
            &a.span(),
            format!("alternate `{}` is not HOST:PORT", a.get_ref()),
        )
    };
    let (name, port) = a.get_ref().rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = hosts
        .iter()
        .find(|h| h.name == name)
        .ok_or_else(|| src.err(&a.span(), format!("alternate names no host `{name}`")))?;
    match &host.service {
        Some(Service::Turn { port: p, .. }) if *p == port => {
            Ok(SocketAddr::new(host.ips[0].0, port))
        }
        _ => Err(src.err(
            &a.span(),
            format!("host `{name}` runs no turn service on port {port}"),
        )),
    }
}

/// The keys a turn service takes.
const TURN_KEYS: &[&str] = &[
    "port",
    "username",
    "password",
    "realm",
    "secret",
    "transports",
    "tls_port",
    "lifetime_s",
    "alternate",
];

/// The keys an xmpp service takes.
const XMPP_KEYS: &[&str] = &["port", "domain", "external_services", "ipcheck"];

/// An error at the service when it was given a key of another kind's (`what` is "a stun
/// service", ...): the message names the first such key and the keys it takes.
fn only(
    src: &Source<'_>,
    s: &Spanned<RawService>,
    what: &str,
    allowed: &[&str],
) -> Result<(), TopologyError> {
    match s
        .get_ref()
        .given_keys()
        .into_iter()
        .find(|k| !allowed.contains(k))
    {
        None => Ok(()),
        Some(k) => {
            let list = allowed
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ");
            Err(src.err(&s.span(), format!("{what} takes only {list}, not `{k}`")))
        }
    }
}

/// An xmpp service's `domain`: a DNS name (RFC 7622 §3.2: a JID's domainpart; letters, digits
/// and hyphens in dot-separated labels of 1 to 63 characters, 253 at most). IP literals and
/// internationalised names are refused: the lab writes it into Prosody's configuration and
/// the accounts' JIDs.
fn domain(src: &Source<'_>, d: &Spanned<String>) -> Result<String, TopologyError> {
    let text = d.get_ref();
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let all_digits = text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if text.len() > 253 || !text.split('.').all(label_ok) || all_digits {
        return Err(src.err(
            &d.span(),
            format!(
                "domain `{text}` is not a DNS name (letters, digits and hyphens in dot-separated labels)"
            ),
        ));
    }
    Ok(text.clone())
}

/// An xmpp service, its `external_services` still empty (resolved by [`external_services`]
/// once every host is known).
fn xmpp(src: &Source<'_>, s: &Spanned<RawService>) -> Result<Service, TopologyError> {
    only(src, s, "an xmpp service", XMPP_KEYS)?;
    let r = s.get_ref();
    Ok(Service::Xmpp {
        domain: match &r.domain {
            Some(d) => domain(src, d)?,
            None => "example.org".to_owned(),
        },
        // RFC 6120 §14.7: xmpp-client, 5222.
        port: r.port.unwrap_or(5222),
        external_services: Vec::new(),
        ipcheck: r.ipcheck.unwrap_or(false),
    })
}

/// An xmpp service's `external_services`: each `HOST:PORT` names a host that runs a stun or
/// turn service on that port, at most once.
fn external_services(
    src: &Source<'_>,
    hosts: &[Host],
    list: &Spanned<Vec<Spanned<String>>>,
) -> Result<Vec<(usize, u16)>, TopologyError> {
    if list.get_ref().len() > MAX_ELEMENTS {
        return Err(src.err(
            &list.span(),
            format!("more than the {MAX_ELEMENTS} entries allowed"),
        ));
    }
    let mut out: Vec<(usize, u16)> = Vec::new();
    for e in list.get_ref() {
        let text = e.get_ref();
        let bad = || src.err(&e.span(), format!("`{text}` is not HOST:PORT"));
        let (name, port) = text.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let i = hosts
            .iter()
            .position(|h| h.name == name)
            .ok_or_else(|| src.err(&e.span(), format!("no host is named `{name}`")))?;
        match &hosts[i].service {
            Some(Service::Stun { port: p } | Service::Turn { port: p, .. }) if *p == port => {}
            _ => {
                return Err(src.err(
                    &e.span(),
                    format!("host `{name}` runs no stun or turn service on port {port}"),
                ));
            }
        }
        if out.contains(&(i, port)) {
            return Err(src.err(&e.span(), format!("`{text}` is listed twice")));
        }
        out.push((i, port));
    }
    Ok(out)
}

/// A host's `service`.
fn service(src: &Source<'_>, s: &Spanned<RawService>) -> Result<Service, TopologyError> {
    let r = s.get_ref();
    let port = r.port.unwrap_or(3478);
    match r.kind.get_ref().as_str() {
        "stun" => {
            only(src, s, "a stun service", &["port"])?;
            Ok(Service::Stun { port })
        }
        "xmpp" => xmpp(src, s),
        "turn" => {
            only(src, s, "a turn service", TURN_KEYS)?;
            let auth = match (&r.username, &r.password, &r.secret) {
                (Some(u), Some(p), None) => TurnAuth::LongTerm {
                    username: u.clone(),
                    password: p.clone(),
                },
                (None, None, Some(secret)) => TurnAuth::Secret(secret.clone()),
                (_, _, Some(_)) => {
                    return Err(src.err(
                        &s.span(),
                        "a turn service takes username and password, or secret, not both",
                    ));
                }
                _ => {
                    return Err(src.err(
                        &s.span(),
                        "a turn service needs username and password, or secret",
                    ));
                }
            };
            let transports = match &r.transports {
                None => vec![TurnTransport::Udp],
                Some(list) => {
                    if list.get_ref().is_empty() {
                        return Err(src.err(&list.span(), "transports is empty"));
                    }
                    let mut out: Vec<TurnTransport> = Vec::new();
                    for t in list.get_ref() {
                        let tt: TurnTransport = t
                            .get_ref()
                            .parse()
                            .map_err(|e: String| src.err(&t.span(), e))?;
                        if out.contains(&tt) {
                            return Err(src.err(&t.span(), format!("transport `{tt}` given twice")));
                        }
                        out.push(tt);
                    }
                    out
                }
            };
            let tls = transports.contains(&TurnTransport::Tls);
            let tls_port = match &r.tls_port {
                Some(p) if !tls => {
                    return Err(src.err(&p.span(), "tls_port needs \"tls\" in transports"));
                }
                Some(p) => Some(*p.get_ref()),
                None => tls.then_some(5349),
            };
            let lifetime = match &r.lifetime_s {
                None => Duration::from_secs(600),
                Some(l) if *l.get_ref() == 0 || *l.get_ref() > u64::from(u32::MAX) => {
                    return Err(src.err(&l.span(), "lifetime_s must be in 1..=4294967295"));
                }
                Some(l) => Duration::from_secs(*l.get_ref()),
            };
            Ok(Service::Turn {
                port,
                realm: r.realm.clone().unwrap_or_else(|| "example".to_owned()),
                auth,
                transports,
                tls_port,
                lifetime,
                alternate: None,
            })
        }
        other => Err(src.err(
            &r.kind.span(),
            format!("unknown service kind `{other}` (stun | turn | xmpp)"),
        )),
    }
}
