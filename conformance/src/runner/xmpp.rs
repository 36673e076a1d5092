//! The XMPP server of `[signalling] via` and what an agent with `discover = true` learns from
//! it (XEP-0279, XEP-0215), for both backends.
//!
//! The JIDs: with `via`, each agent logs in as `HOSTNAME@DOMAIN/ice` (its host's account,
//! `docs/TOPOLOGY-FORMAT.md`), and the stanzas carry those JIDs. On `sim` the runner plays the
//! server with the project's own server-side code: [`learn_in_process`] puts the client's
//! requests (those `jingle-ice-tokio` sends) through `xmpp_sic::answer` and
//! `xmpp_extdisco::answer` with the script's services ([`configured_services`], the list the
//! netns lab gives Prosody) and reads the answers back with the client-side readers. On
//! `netns` a real Prosody answers and [`Learned::from_discovery`] takes what
//! `jingle-ice-tokio` made of it.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result, bail};
use ice_netsim::Topology;
use ice_netsim::topology::Service;
use ice_netsim::turn_server::TurnAuth;
use jingle_ice_tokio::xmpp_extdisco::{
    self, Auth, ConfiguredService, Reading, RestUser, ServiceType, Services, Transport, Version,
};
use jingle_ice_tokio::{ExternalServices, IceServers};
use serde_json::json;
use xep0371_model::jid::FullJid;
use xep0371_model::minidom::Element;
use xmpp_sic::NatHint;

/// The resource every agent binds when signalling goes `via` a server.
pub const RESOURCE: &str = "ice";
/// How long the REST credentials of a `secret` live (Prosody's `ttl` default, mod_turn_external's
/// `turn_external_ttl`), as the lab configures Prosody.
pub const REST_TTL: Duration = Duration::from_secs(86_400);

/// The xmpp service of `[signalling] via`: (domain, port), when there is one.
pub fn via(topology: &Topology) -> Option<(&str, u16, usize)> {
    let h = topology.signalling.via?;
    match &topology.hosts.get(h)?.service {
        Some(Service::Xmpp { domain, port, .. }) => Some((domain.as_str(), *port, h)),
        _ => None,
    }
}

/// The full JID of the agent on `host` when signalling goes via a server.
pub fn account_jid(topology: &Topology, host: usize) -> Option<String> {
    let (domain, _, _) = via(topology)?;
    Some(format!(
        "{}@{domain}/{RESOURCE}",
        topology.hosts.get(host)?.name
    ))
}

/// The services of the xmpp host's `external_services` ([`Topology::offered_services`], the
/// list the netns lab gives Prosody) as XEP-0215 server-side configuration: REST credentials
/// for a `secret` with the username the expiry alone, as Prosody's mod_external_services makes
/// them.
pub fn configured_services(topology: &Topology, xmpp_host: usize) -> Vec<ConfiguredService> {
    topology
        .offered_services(xmpp_host)
        .into_iter()
        .map(|o| ConfiguredService {
            type_: ServiceType::parse(o.type_).unwrap_or(ServiceType::Other(o.type_.to_owned())),
            host: o.ip.to_string(),
            port: o.port,
            transport: Transport::parse(o.transport)
                .unwrap_or(Transport::Other(o.transport.to_owned())),
            name: None,
            auth: match o.auth {
                None => Auth::None,
                Some(TurnAuth::LongTerm { username, password }) => Auth::Static {
                    username: username.clone(),
                    password: password.clone(),
                },
                Some(TurnAuth::Secret(secret)) => Auth::Rest {
                    secret: secret.as_bytes().to_vec(),
                    ttl: REST_TTL,
                    user: RestUser::None,
                },
            },
        })
        .collect()
}

/// What an agent learned from its server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Learned {
    /// The address the server saw its connection come from (XEP-0279), when it answered.
    pub sic: Option<SocketAddr>,
    /// Whether that address is none of the agent's own.
    pub behind_nat: Option<bool>,
    /// Each service offered, as `type host:port/transport`.
    pub services: Vec<String>,
    /// STUN servers the agent got.
    pub stun: Vec<SocketAddr>,
    /// TURN servers the agent got, with their credentials.
    pub turn: Vec<(SocketAddr, ice_sans_io::turn::TurnCredentials)>,
    /// What went wrong or was left out.
    pub warnings: Vec<String>,
}

impl Learned {
    /// From what `jingle-ice-tokio` asked a real server.
    pub fn from_discovery(
        hint: Result<NatHint, String>,
        services: &ExternalServices,
        servers: &IceServers,
    ) -> Learned {
        let mut l = Learned::default();
        match hint {
            Ok(h) => {
                l.sic = Some(seen_addr(&h.seen));
                l.behind_nat = Some(h.behind_nat);
            }
            Err(e) => l.warnings.push(format!("XEP-0279: {e}")),
        }
        l.take_services(services, servers);
        l
    }

    fn take_services(&mut self, services: &ExternalServices, servers: &IceServers) {
        self.warnings.extend(services.warnings.iter().cloned());
        self.warnings.extend(servers.skipped.iter().cloned());
        self.services = services
            .services
            .iter()
            .map(|s| {
                format!(
                    "{} {}:{}/{}",
                    s.type_.as_str(),
                    s.host,
                    s.port.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                    s.transport.as_ref().map_or("udp", Transport::as_str)
                )
            })
            .collect();
        self.stun = servers.stun.clone();
        self.turn = servers
            .turn
            .iter()
            .map(|t| (t.addr, t.credentials.clone()))
            .collect();
    }

    /// The JSON of `--json`: `sic`, `behind_nat`, `services`, `warnings`.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "sic": self.sic.map(|a| a.to_string()),
            "behind_nat": self.behind_nat,
            "services": self.services,
            "stun": self.stun.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "turn": self.turn.iter().map(|(a, c)| json!({"addr": a.to_string(), "username": c.username})).collect::<Vec<_>>(),
            "warnings": self.warnings,
        })
    }
}

/// What the agent of `jid` learns from the server of `xmpp_host` that the runner plays: the
/// XEP-0279 answer for `seen_from` (the address the server saw, `None` when no datagram
/// reached it) when the service has `ipcheck`, and the XEP-0215 answer at `now` (the time the
/// TURN servers check REST credentials against). Each request is the one `jingle-ice-tokio`
/// sends, each answer the server side's, read back with the client side's reader.
pub fn learn_in_process(
    topology: &Topology,
    xmpp_host: usize,
    jid: &str,
    own: &[std::net::IpAddr],
    seen_from: Option<SocketAddr>,
    now: SystemTime,
) -> Result<Learned> {
    let Some(Service::Xmpp {
        domain, ipcheck, ..
    }) = topology
        .hosts
        .get(xmpp_host)
        .and_then(|h| h.service.as_ref())
    else {
        bail!("host {xmpp_host} runs no xmpp service");
    };
    let session: FullJid = jid.parse().with_context(|| format!("the JID {jid}"))?;
    let mut learned = Learned::default();
    // XEP-0279 (sic:1 first, as the client asks).
    let mut client = xmpp_sic::Client::default();
    loop {
        let Some((_, request)) = client.request("sic") else {
            learned
                .warnings
                .push("XEP-0279: every version was refused".to_owned());
            break;
        };
        let reply = if *ipcheck {
            match xmpp_sic::answer(&request, &session, seen_from) {
                xmpp_sic::Answer::Reply(r) => r,
                xmpp_sic::Answer::NotSic => bail!("xmpp_sic::answer did not take its own request"),
            }
        } else {
            not_supported(&request, domain)
        };
        match client.handle_reply(&reply) {
            xmpp_sic::Outcome::Address(a, _) => {
                let hint = NatHint::new(a, own, None);
                learned.sic = Some(seen_addr(&a));
                learned.behind_nat = Some(hint.behind_nat);
                break;
            }
            xmpp_sic::Outcome::TryNext => {}
            xmpp_sic::Outcome::Failed(e) => {
                learned.warnings.push(format!("XEP-0279: {e}"));
                break;
            }
        }
    }
    // XEP-0215: the services request of extdisco:2 to the domain.
    let configured = configured_services(topology, xmpp_host);
    let request = Services::request(Version::V2, None).request_iq("extdisco", domain);
    let reply = match xmpp_extdisco::answer(&request, &session, &configured, now) {
        xmpp_extdisco::Answer::Reply(r) => r,
        xmpp_extdisco::Answer::NotExtdisco => {
            bail!("xmpp_extdisco::answer did not take its own request")
        }
    };
    let el = reply
        .get_child("services", Version::V2.namespace())
        .context("the XEP-0215 answer has no <services/>")?;
    let read = Services::read(el, Reading::Strict).context("our own XEP-0215 answer")?;
    let services = ExternalServices {
        version: Some(Version::V2),
        services: read.value.services,
        warnings: Vec::new(),
    };
    let servers = services
        .ice_servers_with(|host, port| host.parse().ok().map(|ip| SocketAddr::new(ip, port)));
    learned.take_services(&services, &servers);
    Ok(learned)
}

/// The address an XEP-0279 answer gives, port 0 when it gives none (sic:0 has no port).
fn seen_addr(a: &xmpp_sic::Address) -> SocketAddr {
    a.socket_addr().unwrap_or(SocketAddr::new(a.ip, 0))
}

/// A server without XEP-0279: `service-unavailable` (RFC 6120 §8.3.3).
fn not_supported(request: &Element, domain: &str) -> Element {
    let id = request.attr("id").unwrap_or("x");
    format!(
        "<iq xmlns='jabber:client' type='error' id='{id}' from='{domain}'>\
         <error type='cancel'><service-unavailable \
         xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )
    .parse()
    .unwrap_or_else(|_| Element::bare("iq", "jabber:client"))
}
