//! The server side: the answer a server gives for its configured services (XEP-0215 §3), with
//! TURN credentials made from a shared secret by the TURN REST scheme
//! (draft-uberti-behave-turn-rest-00 §2.2, as coturn's `use-auth-secret` and Prosody's
//! mod_external_services make them). No I/O and no clock: the caller passes the time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use jid::FullJid;
use minidom::Element;
use sha1::Sha1;

use crate::datetime::DateTime;
use crate::payload::{Credentials, Payload, Services};
use crate::service::{Service, ServiceType, Transport, XsBoolean};
use crate::{Reading, Version, attr_name, ns};

/// What the REST username names after the expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestUser {
    /// The expiry alone (`"%d"`: Prosody without `turn_external_user`).
    None,
    /// `EXPIRY:NAME` with a configured name.
    Fixed(String),
    /// `EXPIRY:NAME` with the bare JID of the asking account.
    Account,
}

/// How a configured service's clients authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No credentials (STUN, or a `turns` entry handed out without them as Prosody does).
    None,
    /// Fixed credentials, given to everyone who asks.
    Static {
        /// The username.
        username: String,
        /// The password.
        password: String,
    },
    /// TURN REST credentials: `username = "EXPIRY[:NAME]"`, `password =
    /// base64(HMAC-SHA1(secret, username))`, EXPIRY the Unix time `ttl` after the request.
    Rest {
        /// The secret shared with the TURN server (coturn's `static-auth-secret`).
        secret: Vec<u8>,
        /// How long the credentials live.
        ttl: Duration,
        /// What follows the expiry in the username.
        user: RestUser,
    },
}

/// One service in the server's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredService {
    /// `stun`, `stuns`, `turn`, `turns` or another type.
    pub type_: ServiceType,
    /// Domain name or IP address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Transport.
    pub transport: Transport,
    /// A human-readable label.
    pub name: Option<String>,
    /// Credentials.
    pub auth: Auth,
}

impl ConfiguredService {
    /// The `<service/>` handed out at `now` to `account`. In `urn:xmpp:extdisco:2` a service
    /// with credentials is marked `restricted="1"` and REST credentials carry `expires`; in
    /// `:1`, whose schema has neither attribute, both are left out.
    pub fn service(&self, version: Version, account: &str, now: SystemTime) -> Service {
        let mut s = Service::new(self.type_.clone(), self.host.clone());
        s.port = Some(self.port);
        s.transport = Some(self.transport.clone());
        s.name.clone_from(&self.name);
        let v2 = version == Version::V2;
        match &self.auth {
            Auth::None => {}
            Auth::Static { username, password } => {
                s.username = Some(username.clone());
                s.password = Some(password.clone());
            }
            Auth::Rest { secret, ttl, user } => {
                let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
                let expiry = now.saturating_add(*ttl).as_secs();
                let username = match user {
                    RestUser::None => expiry.to_string(),
                    RestUser::Fixed(name) => format!("{expiry}:{name}"),
                    RestUser::Account => format!("{expiry}:{account}"),
                };
                s.password = Some(rest_password(secret, &username));
                s.username = Some(username);
                if v2 {
                    s.expires = i64::try_from(expiry)
                        .ok()
                        .and_then(DateTime::from_unix_seconds);
                }
            }
        }
        if v2 && self.auth != Auth::None {
            s.restricted = Some(XsBoolean {
                value: true,
                numeric: true,
            });
        }
        s
    }
}

/// `base64(HMAC-SHA1(secret, username))` (TURN REST §2.2; RFC 4648 §4 base64 with padding).
pub fn rest_password(secret: &[u8], username: &str) -> String {
    let mut mac = match Hmac::<Sha1>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(username.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// The server's answer to one IQ.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Not an External Service Discovery request to the server (no `<services/>` or
    /// `<credentials/>` payload, or addressed to another entity than the server's domain): the
    /// caller handles or routes the IQ otherwise.
    NotExtdisco,
    /// The reply to send.
    Reply(Element),
}

/// Answers a request from the client session `session` with the configured `services`, at the
/// time `now` given by the caller.
///
/// Requests are answered when addressed to the session's domain or without `to`. A services
/// request (§3.1) gets every service, or those of the asked `type` (§3.2, the `type` echoed as
/// in Example 4). A credentials request (§3.3) gets each configured service of the named host
/// and type (and port, when given), with fresh credentials; `item-not-found` when none matches.
/// A set, several payloads, services in a services request, a credentials request without
/// a service or a payload that does not read (leniently) get `bad-request`.
pub fn answer(
    iq: &Element,
    session: &FullJid,
    services: &[ConfiguredService],
    now: SystemTime,
) -> Answer {
    if !iq.is("iq", ns::CLIENT) {
        return Answer::NotExtdisco;
    }
    let Some(payload) = iq.children().find(|c| {
        Version::from_namespace(&c.ns()).is_some() && matches!(c.name(), "services" | "credentials")
    }) else {
        return Answer::NotExtdisco;
    };
    let domain = session.domain().as_str();
    if iq.attr("to").is_some_and(|to| to != domain) {
        return Answer::NotExtdisco;
    }
    let id = iq.attr("id").unwrap_or("");
    let reply = |type_: &str, child: Element| {
        Answer::Reply(
            Element::builder("iq", ns::CLIENT)
                .attr(attr_name("id"), id)
                .attr(attr_name("type"), type_)
                .attr(attr_name("to"), session.to_string())
                .attr(attr_name("from"), domain)
                .append(child)
                .build(),
        )
    };
    let error = |type_: &str, condition: &str| {
        reply(
            "error",
            Element::builder("error", ns::CLIENT)
                .attr(attr_name("type"), type_)
                .append(Element::bare(condition, ns::STANZAS))
                .build(),
        )
    };
    if iq.attr("type") != Some("get") || iq.children().count() != 1 {
        return error("modify", "bad-request");
    }
    let Ok(read) = Payload::read(payload, Reading::Lenient) else {
        return error("modify", "bad-request");
    };
    let account = session.to_bare().to_string();
    match read.value {
        // XEP-0215 §3.1, §3.2.
        Payload::Services(request) => {
            if !request.services.is_empty() {
                return error("modify", "bad-request");
            }
            let list = services
                .iter()
                .filter(|c| request.type_.as_ref().is_none_or(|t| *t == c.type_))
                .map(|c| c.service(request.version, &account, now))
                .collect();
            reply(
                "result",
                Services {
                    version: request.version,
                    type_: request.type_,
                    services: list,
                }
                .into(),
            )
        }
        // XEP-0215 §3.3: "a <service/> element which MUST include the 'host' and 'type'
        // attributes ... (the 'port' attribute MAY be provided ...)".
        Payload::Credentials(request) => {
            if request.services.is_empty() {
                return error("modify", "bad-request");
            }
            let list: Vec<Service> = services
                .iter()
                .filter(|c| {
                    request.services.iter().any(|r| {
                        r.type_ == c.type_ && r.host == c.host && r.port.is_none_or(|p| p == c.port)
                    })
                })
                .map(|c| c.service(request.version, &account, now))
                .collect();
            if list.is_empty() {
                // §3.3: "If the server cannot obtain credentials at the service, it returns an
                // appropriate stanza error, such as <item-not-found/>".
                return error("cancel", "item-not-found");
            }
            reply(
                "result",
                Credentials {
                    version: request.version,
                    services: list,
                }
                .into(),
            )
        }
    }
}
