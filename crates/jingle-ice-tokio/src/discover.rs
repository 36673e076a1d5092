//! What a client asks before a call: the peer's features (XEP-0030, XEP-0371 §8), its own
//! public address (XEP-0279) and its STUN/TURN servers with credentials (XEP-0215).
//!
//! Each is a request through the [`Connection`]; none is needed for a call, so a server
//! that does not support XEP-0279 or XEP-0215 makes a warning, not a failure.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use ice_sans_io::turn::TurnCredentials;
use tokio_xmpp::jid::FullJid;
use tokio_xmpp::minidom::Element;
use xep0371_model::IceFeatures;
use xmpp_extdisco::{Credentials, Reading, Service, ServiceType, Services, Transport, Version};
use xmpp_sic::{NatHint, Outcome};

use crate::Error;
use crate::connection::{CLIENT, Connection, DISCO_INFO, STANZAS, name};

/// The condition and `type` of an IQ error (RFC 6120 §8.3.3), if `reply` is one.
pub fn iq_error(reply: &Element) -> Option<(Option<&str>, Option<&str>)> {
    if reply.attr("type") != Some("error") {
        return None;
    }
    let error = reply.children().find(|c| c.name() == "error");
    let type_ = error.and_then(|e| e.attr("type"));
    let condition = error.and_then(|e| {
        e.children()
            .find(|c| c.ns() == STANZAS && c.name() != "text")
            .map(|c| c.name())
    });
    Some((type_, condition))
}

/// The peer's disco#info features as XEP-0371 §8 reads them: which ICE namespace to speak.
///
/// # Errors
///
/// No reply ([`Error::Timeout`]), an IQ error ([`Error::Refused`]: an offline resource, say),
/// a result without a disco#info query ([`Error::BadAnswer`]).
pub async fn peer_features(
    conn: &mut Connection,
    peer: &FullJid,
    timeout: Duration,
) -> Result<IceFeatures, Error> {
    let id = conn.new_id();
    let iq = Element::builder("iq", CLIENT)
        .attr(name("id"), id)
        .attr(name("type"), "get")
        .attr(name("to"), peer.to_string())
        .append(Element::bare("query", DISCO_INFO))
        .build();
    let what = format!("disco#info of {peer}");
    let reply = conn.request(iq, timeout).await?;
    refused(&reply, &what)?;
    let query = reply
        .get_child("query", DISCO_INFO)
        .ok_or_else(|| Error::BadAnswer {
            what: what.clone(),
            why: "a result without <query/>".to_owned(),
        })?;
    let features: Vec<&str> = query
        .children()
        .filter(|c| c.is("feature", DISCO_INFO))
        .filter_map(|c| c.attr("var"))
        .collect();
    Ok(IceFeatures::from_features(&features))
}

/// The address the server sees this connection come from (XEP-0279: `sic:1`, then `sic:0`
/// when the server does not know it), with what it says about a NAT.
///
/// # Errors
///
/// The server refused both versions or gave an answer that cannot be read
/// ([`Error::BadAnswer`]), or did not answer ([`Error::Timeout`]).
pub async fn server_address(conn: &mut Connection, timeout: Duration) -> Result<NatHint, Error> {
    let mut client = xmpp_sic::Client::default();
    let what = "XEP-0279 server IP check".to_owned();
    loop {
        let id = conn.new_id();
        let Some((_, request)) = client.request(&id) else {
            return Err(Error::BadAnswer {
                what,
                why: "every version was refused".to_owned(),
            });
        };
        let reply = conn.request(request, timeout).await?;
        match client.handle_reply(&reply) {
            Outcome::Address(address, _) => {
                let local = conn.local_addr();
                let own: Vec<_> = local.iter().map(SocketAddr::ip).collect();
                return Ok(NatHint::new(address, &own, local));
            }
            Outcome::TryNext => {}
            Outcome::Failed(e) => {
                return Err(Error::BadAnswer {
                    what,
                    why: e.to_string(),
                });
            }
        }
    }
}

/// The external services the server offered (XEP-0215), and what went wrong asking.
#[derive(Debug, Clone, Default)]
pub struct ExternalServices {
    /// The version that answered; `None` when none did.
    pub version: Option<Version>,
    /// The services, credentials filled in where a credentials request (§3.3) got them.
    pub services: Vec<Service>,
    /// What went wrong or was forgiven: the server does not support XEP-0215, a credentials
    /// request failed, the lenient reading's diagnostics.
    pub warnings: Vec<String>,
}

/// Asks the account's server for its external services (XEP-0215 §3.1): `urn:xmpp:extdisco:2`,
/// then `:1` when the server does not know it; for a `restricted` STUN or TURN service without
/// credentials, a credentials request (§3.3). Never fails: a server that does not answer or
/// does not support it gives an empty list and a warning (XEP-0215 is optional; a client calls
/// without STUN and TURN then, with host candidates only).
pub async fn external_services(conn: &mut Connection, timeout: Duration) -> ExternalServices {
    let domain = conn.bound_jid().domain().to_string();
    let mut out = ExternalServices::default();
    for version in [Version::V2, Version::V1] {
        let id = conn.new_id();
        let iq = Services::request(version, None).request_iq(&id, &domain);
        let reply = match conn.request(iq, timeout).await {
            Ok(r) => r,
            Err(e) => {
                out.warnings.push(format!("{}: {e}", version.namespace()));
                return out;
            }
        };
        if let Some((_, condition)) = iq_error(&reply) {
            out.warnings.push(format!(
                "{domain} answered {} with {}",
                version.namespace(),
                condition.unwrap_or("an error without condition")
            ));
            // RFC 6120 §8.3.3: not supported; any other error is final.
            if matches!(
                condition,
                Some("service-unavailable" | "feature-not-implemented")
            ) {
                continue;
            }
            return out;
        }
        let Some(el) = reply.get_child("services", version.namespace()) else {
            out.warnings.push(format!(
                "{domain} answered {} without <services/>",
                version.namespace()
            ));
            return out;
        };
        match Services::read(el, Reading::Lenient) {
            Ok(read) => {
                out.warnings.extend(
                    read.diagnostics
                        .iter()
                        .map(|d| format!("forgiven in {domain}'s answer: {}", d.0)),
                );
                out.version = Some(version);
                out.services = read.value.services;
            }
            Err(e) => out.warnings.push(format!("{domain}'s answer: {e}")),
        }
        break;
    }
    if let Some(version) = out.version {
        for i in 0..out.services.len() {
            let s = &out.services[i];
            let wanted = matches!(s.type_, ServiceType::Stun | ServiceType::Turn)
                && s.is_restricted()
                && (s.username.is_none() || s.password.is_none());
            if !wanted {
                continue;
            }
            let request = Credentials::request(version, s.type_.clone(), &s.host, s.port);
            let id = conn.new_id();
            let what = format!("credentials for {} {}", s.type_.as_str(), s.host);
            let got = match conn
                .request(request.request_iq(&id, &domain), timeout)
                .await
            {
                Ok(reply) => credentials_from(&reply, version),
                Err(e) => Err(e.to_string()),
            };
            match got {
                Ok(Some((username, password, expires))) => {
                    let s = &mut out.services[i];
                    s.username = Some(username);
                    s.password = Some(password);
                    s.expires = expires.or(s.expires.take());
                }
                Ok(None) => out.warnings.push(format!("{what}: none in the answer")),
                Err(why) => out.warnings.push(format!("{what}: {why}")),
            }
        }
    }
    out
}

/// The username, password and expiry of the first service of a credentials result.
fn credentials_from(
    reply: &Element,
    version: Version,
) -> Result<Option<(String, String, Option<xmpp_extdisco::DateTime>)>, String> {
    if let Some((_, condition)) = iq_error(reply) {
        return Err(format!(
            "answered {}",
            condition.unwrap_or("an error without condition")
        ));
    }
    let el = reply
        .get_child("credentials", version.namespace())
        .ok_or("a result without <credentials/>")?;
    let read = Credentials::read(el, Reading::Lenient).map_err(|e| e.to_string())?;
    Ok(read
        .value
        .services
        .into_iter()
        .find_map(|s| Some((s.username?, s.password?, s.expires))))
}

/// A TURN server over UDP as a service named it, resolved, with its credentials.
#[derive(Debug, Clone)]
pub struct TurnServer {
    /// The address the agent allocates on.
    pub addr: SocketAddr,
    /// The service's `host` (a name or an address), to recognise it in a later answer.
    pub host: String,
    /// The service's port.
    pub port: u16,
    /// Its credentials.
    pub credentials: TurnCredentials,
}

/// The STUN and TURN port when a service gives none (RFC 8489 §6.2, RFC 8656 §3.1).
pub(crate) const DEFAULT_PORT: u16 = 3478;

/// STUN and TURN servers in the shape the agent takes.
#[derive(Debug, Clone, Default)]
pub struct IceServers {
    /// STUN servers (RFC 8489 Binding over UDP).
    pub stun: Vec<SocketAddr>,
    /// TURN servers over UDP with their credentials.
    pub turn: Vec<TurnServer>,
    /// Services not used, with why (TLS and TCP transports, which the agent does not speak
    /// yet; a host that did not resolve; a TURN service without credentials).
    pub skipped: Vec<String>,
}

impl ExternalServices {
    /// The STUN and TURN services over UDP, their hosts resolved (`host` may be a name) with
    /// the system's resolver; as [`Self::ice_servers_with`].
    pub async fn ice_servers(&self) -> IceServers {
        let mut resolved = Vec::new();
        for s in &self.services {
            let port = s.port.unwrap_or(DEFAULT_PORT);
            if let Ok(mut addrs) = tokio::net::lookup_host((s.host.as_str(), port)).await
                && let Some(addr) = addrs.next()
            {
                resolved.push(((s.host.clone(), port), addr));
            }
        }
        self.ice_servers_with(|host, port| {
            resolved
                .iter()
                .find(|((h, p), _)| h == host && *p == port)
                .map(|(_, a)| *a)
        })
    }

    /// The STUN and TURN services over UDP as the agent takes them, each `host` and port
    /// resolved by `resolve` (`None`: skipped); the rest skipped with the reason: TCP and TLS
    /// transports (which the agent does not speak yet), a TURN service without credentials.
    /// A port left out is 3478 (RFC 8489 §6.2, RFC 8656 §3.1).
    pub fn ice_servers_with(
        &self,
        mut resolve: impl FnMut(&str, u16) -> Option<SocketAddr>,
    ) -> IceServers {
        let mut out = IceServers::default();
        for s in &self.services {
            let label = format!(
                "{} {}:{} ({})",
                s.type_.as_str(),
                s.host,
                s.port.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                s.transport.as_ref().map_or("udp", Transport::as_str)
            );
            let udp = matches!(s.transport, None | Some(Transport::Udp));
            let stun = match s.type_ {
                ServiceType::Stun | ServiceType::Turn if !udp => {
                    out.skipped.push(format!(
                        "{label}: only UDP to STUN and TURN servers for now"
                    ));
                    continue;
                }
                ServiceType::Stun => true,
                ServiceType::Turn => false,
                ServiceType::Stuns | ServiceType::Turns => {
                    out.skipped
                        .push(format!("{label}: no TLS to STUN and TURN servers for now"));
                    continue;
                }
                ServiceType::Other(_) => continue,
            };
            let port = s.port.unwrap_or(DEFAULT_PORT);
            let Some(addr) = resolve(&s.host, port) else {
                out.skipped
                    .push(format!("{label}: the host does not resolve"));
                continue;
            };
            if stun {
                if !out.stun.contains(&addr) {
                    out.stun.push(addr);
                }
                continue;
            }
            match (&s.username, &s.password) {
                (Some(u), Some(p)) => out.turn.push(TurnServer {
                    addr,
                    host: s.host.clone(),
                    port,
                    credentials: TurnCredentials::new(u, p),
                }),
                _ => out.skipped.push(format!("{label}: no credentials")),
            }
        }
        out
    }

    /// The earliest `expires` of a service with credentials.
    pub fn expires(&self) -> Option<SystemTime> {
        self.services
            .iter()
            .filter(|s| s.username.is_some())
            .filter_map(|s| s.expires.as_ref()?.to_system_time())
            .min()
    }

    /// When to ask again so that new allocations get fresh credentials: a tenth of the
    /// remaining validity before [`Self::expires`] (at least 10 s before, never before
    /// `now`); `None` when nothing expires.
    pub fn refresh_at(&self, now: SystemTime) -> Option<SystemTime> {
        let expires = self.expires()?;
        let left = expires.duration_since(now).unwrap_or_default();
        let margin = (left / 10).max(Duration::from_secs(10)).min(left);
        Some(expires - margin)
    }
}

/// `Err` with the condition when `reply` is an IQ error.
fn refused(reply: &Element, what: &str) -> Result<(), Error> {
    if let Some((_, condition)) = iq_error(reply) {
        return Err(Error::Refused {
            what: what.to_owned(),
            from: reply.attr("from").unwrap_or("the server").to_owned(),
            condition: condition.unwrap_or("undefined-condition").to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_extdisco::DateTime;

    fn service(type_: ServiceType, host: &str, transport: Option<Transport>) -> Service {
        let mut s = Service::new(type_, host);
        s.port = Some(3478);
        s.transport = transport;
        s
    }

    #[tokio::test(flavor = "current_thread")]
    async fn udp_services_become_servers_and_the_rest_is_skipped_with_a_reason() {
        let mut turn = service(ServiceType::Turn, "192.0.2.1", Some(Transport::Udp));
        turn.username = Some("1700000000:romeo".into());
        turn.password = Some("pw".into());
        let services = ExternalServices {
            version: Some(Version::V2),
            services: vec![
                service(ServiceType::Stun, "192.0.2.1", None),
                turn,
                service(ServiceType::Turn, "192.0.2.2", Some(Transport::Udp)),
                service(ServiceType::Turn, "192.0.2.1", Some(Transport::Tcp)),
                service(ServiceType::Turns, "192.0.2.1", Some(Transport::Tcp)),
                service(ServiceType::Other("ftp".into()), "192.0.2.9", None),
            ],
            warnings: Vec::new(),
        };
        let servers = services.ice_servers().await;
        assert_eq!(servers.stun, ["192.0.2.1:3478".parse().unwrap()]);
        assert_eq!(servers.turn.len(), 1);
        assert_eq!(servers.turn[0].credentials.username, "1700000000:romeo");
        assert_eq!(servers.turn[0].host, "192.0.2.1");
        assert_eq!(servers.skipped.len(), 3, "{:?}", servers.skipped);
        assert!(servers.skipped[0].contains("no credentials"));
        assert!(servers.skipped[1].contains("only UDP"));
        assert!(servers.skipped[2].contains("no TLS"));
    }

    #[test]
    fn refresh_comes_a_tenth_of_the_validity_before_expiry() {
        let at = |secs: i64| DateTime::from_unix_seconds(secs).unwrap();
        let mut s = service(ServiceType::Turn, "h", None);
        s.username = Some("u".into());
        s.expires = Some(at(1_000_000 + 86_400));
        let services = ExternalServices {
            services: vec![s],
            ..Default::default()
        };
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let due = services.refresh_at(now).unwrap();
        assert_eq!(
            due.duration_since(now).unwrap(),
            Duration::from_secs(86_400 - 8_640)
        );
        // Close to expiry: at least 10 s before, never before now.
        let late = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000 + 86_395);
        assert_eq!(services.refresh_at(late).unwrap(), late);
        assert!(ExternalServices::default().refresh_at(now).is_none());
    }
}
