//! `<service/>`: one external service (XEP-0215 §2, schema §10).

use std::fmt;

use minidom::Element;

use crate::datetime::{DateTime, DateTimeError};
use crate::error::{Error, truncate};
use crate::reader::{Reader, invalid, is_ncname};
use crate::{Version, attr_name, ns};

/// The service type (XEP-0215 §2 "type", REQUIRED; an xs:NCName from the registry of §9.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceType {
    /// `stun` (registered, §9.3.2).
    Stun,
    /// `stuns`: STUN over TLS (RFC 7064 URI scheme; what servers send, not in the registry).
    Stuns,
    /// `turn` (registered, §9.3.2).
    Turn,
    /// `turns`: TURN over TLS (RFC 7065 URI scheme; Prosody's mod_turn_external sends it).
    Turns,
    /// Any other type, e.g. `ftp` in XEP-0215 Example 2. Always an NCName.
    Other(String),
}

impl ServiceType {
    /// The value on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            ServiceType::Stun => "stun",
            ServiceType::Stuns => "stuns",
            ServiceType::Turn => "turn",
            ServiceType::Turns => "turns",
            ServiceType::Other(s) => s,
        }
    }

    /// Reads a type; `None` when the value is not an NCName.
    pub fn parse(s: &str) -> Option<ServiceType> {
        Some(match s {
            "stun" => ServiceType::Stun,
            "stuns" => ServiceType::Stuns,
            "turn" => ServiceType::Turn,
            "turns" => ServiceType::Turns,
            _ if is_ncname(s) => ServiceType::Other(s.to_owned()),
            _ => return None,
        })
    }

    /// Whether this is a TURN server (`turn` or `turns`).
    pub fn is_turn(&self) -> bool {
        matches!(self, ServiceType::Turn | ServiceType::Turns)
    }
}

impl fmt::Display for ServiceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The transport (XEP-0215 §2 "transport", RECOMMENDED; "typically either TCP or UDP").
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// `udp`.
    Udp,
    /// `tcp`.
    Tcp,
    /// Any other NCName.
    Other(String),
}

impl Transport {
    /// The value on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Other(s) => s,
        }
    }

    /// Reads a transport; `None` when the value is not an NCName.
    pub fn parse(s: &str) -> Option<Transport> {
        Some(match s {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            _ if is_ncname(s) => Transport::Other(s.to_owned()),
            _ => return None,
        })
    }
}

/// The `action` of a pushed service (XEP-0215 §2, `urn:xmpp:extdisco:2` only).
///
/// The text of §2 defines "add", "remove" and "modify"; the schema (§10) and Example 5 have
/// "delete" where the text has "remove". Both readings accept both spellings, kept apart so that
/// a service writes back as it was read; [`Action::removes`] is true of both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `add`, the default.
    Add,
    /// `remove` (the text of §2).
    Remove,
    /// `delete` (the schema of §10 and Example 5).
    Delete,
    /// `modify`.
    Modify,
}

impl Action {
    /// The value on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::Remove => "remove",
            Action::Delete => "delete",
            Action::Modify => "modify",
        }
    }

    /// Whether the service leaves the set of known services (`remove` or `delete`).
    pub fn removes(self) -> bool {
        matches!(self, Action::Remove | Action::Delete)
    }
}

/// An xs:boolean as written: `true`, `false`, `1` or `0` (XML Schema Part 2 §3.2.2.1). Prosody
/// writes `restricted="1"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct XsBoolean {
    /// The value.
    pub value: bool,
    /// Written as `1`/`0` rather than `true`/`false`.
    pub numeric: bool,
}

impl From<bool> for XsBoolean {
    fn from(value: bool) -> Self {
        XsBoolean {
            value,
            numeric: false,
        }
    }
}

impl XsBoolean {
    fn parse(s: &str) -> Option<XsBoolean> {
        let (value, numeric) = match s {
            "true" => (true, false),
            "false" => (false, false),
            "1" => (true, true),
            "0" => (false, true),
            _ => return None,
        };
        Some(XsBoolean { value, numeric })
    }

    fn as_str(self) -> &'static str {
        match (self.value, self.numeric) {
            (true, false) => "true",
            (false, false) => "false",
            (true, true) => "1",
            (false, true) => "0",
        }
    }
}

/// One external service: every attribute of XEP-0215 §2 and the `jabber:x:data` child of §4.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// `action` (pushes; `urn:xmpp:extdisco:2` only).
    pub action: Option<Action>,
    /// `expires`: when the credentials expire (XEP-0082 DateTime, UTC; `:2` only).
    pub expires: Option<DateTime>,
    /// `host`: a domain name or an IP address (REQUIRED).
    pub host: String,
    /// `name`: a human-readable label.
    pub name: Option<String>,
    /// `password`.
    pub password: Option<String>,
    /// `port` (xs:unsignedShort).
    pub port: Option<u16>,
    /// `restricted`: credentials are needed and must be asked for if not given (`:2` only).
    pub restricted: Option<XsBoolean>,
    /// `transport`.
    pub transport: Option<Transport>,
    /// `type` (REQUIRED).
    pub type_: ServiceType,
    /// `username`.
    pub username: Option<String>,
    /// The `<x xmlns='jabber:x:data'/>` of extended information (XEP-0215 §4), kept as it is.
    pub extended: Option<Element>,
}

impl Service {
    /// A service with a type and host and nothing else.
    pub fn new(type_: ServiceType, host: impl Into<String>) -> Self {
        Service {
            action: None,
            expires: None,
            host: host.into(),
            name: None,
            password: None,
            port: None,
            restricted: None,
            transport: None,
            type_,
            username: None,
            extended: None,
        }
    }

    /// Whether `restricted` is present and true.
    pub fn is_restricted(&self) -> bool {
        self.restricted.is_some_and(|r| r.value)
    }

    pub(crate) fn read(el: &Element, r: &mut Reader<'_>) -> Result<Service, Error> {
        const E: &str = "service";
        let v2_only = "XEP-0215 §10 schema of urn:xmpp:extdisco:2; version 0.6 (urn:xmpp:extdisco:1) \
                       has no such attribute: it came with 0.7";
        for name in crate::reader::plain_attr_names(el) {
            let name = name.as_str();
            let known = matches!(
                name,
                "host" | "name" | "password" | "port" | "transport" | "type" | "username"
            );
            let v2 = matches!(name, "action" | "expires" | "restricted");
            if known || (v2 && r.version == Version::V2) {
                continue;
            }
            r.forgive(Error::UnknownAttribute {
                element: E,
                namespace: r.version.namespace(),
                name: name.to_owned(),
                rule: if v2 { v2_only } else { "XEP-0215 §10" },
            })?;
        }
        let host = r
            .attr(el, E, "host")?
            .ok_or(Error::MissingAttribute {
                element: E,
                name: "host",
            })?
            .to_owned();
        let type_ = r.attr(el, E, "type")?.ok_or(Error::MissingAttribute {
            element: E,
            name: "type",
        })?;
        let type_ = ServiceType::parse(type_.trim())
            .ok_or_else(|| invalid(E, "type", type_, "XEP-0215 §10: type is an xs:NCName"))?;
        let action = match r.attr(el, E, "action")? {
            None => None,
            Some(a) => Some(match a.trim() {
                "add" => Action::Add,
                "remove" => Action::Remove,
                "delete" => Action::Delete,
                "modify" => Action::Modify,
                _ => {
                    return Err(invalid(
                        E,
                        "action",
                        a,
                        "XEP-0215 §2: add, remove (§10: delete) or modify",
                    ));
                }
            }),
        };
        let expires = match r.attr(el, E, "expires")? {
            None => None,
            Some(x) => Some(read_expires(x.trim(), r)?),
        };
        let port = match r.attr(el, E, "port")? {
            None => None,
            Some(p) => {
                let t = p.trim();
                match t.parse::<u16>() {
                    Ok(n) if t.bytes().all(|b| b.is_ascii_digit()) => Some(n),
                    _ => {
                        return Err(invalid(
                            E,
                            "port",
                            p,
                            "XEP-0215 §10: port is an xs:unsignedShort",
                        ));
                    }
                }
            }
        };
        let restricted = match r.attr(el, E, "restricted")? {
            None => None,
            Some(b) => Some(XsBoolean::parse(b.trim()).ok_or_else(|| {
                invalid(
                    E,
                    "restricted",
                    b,
                    "XEP-0215 §10: restricted is an xs:boolean (true, false, 1, 0)",
                )
            })?),
        };
        let transport = match r.attr(el, E, "transport")? {
            None => None,
            Some(t) => Some(Transport::parse(t.trim()).ok_or_else(|| {
                invalid(E, "transport", t, "XEP-0215 §10: transport is an xs:NCName")
            })?),
        };
        let owned = |s: Option<&str>| s.map(str::to_owned);
        let name = owned(r.attr(el, E, "name")?);
        let password = owned(r.attr(el, E, "password")?);
        let username = owned(r.attr(el, E, "username")?);
        r.no_text(el, E)?;
        let mut extended = None;
        for c in el.children() {
            if c.is("x", ns::XDATA) && extended.is_none() {
                let nodes = count_nodes(c, r.limits.max_extended_nodes);
                if nodes > r.limits.max_extended_nodes {
                    return Err(Error::Limit {
                        what: "elements and texts in the jabber:x:data child of <service/>",
                        limit: r.limits.max_extended_nodes,
                    });
                }
                extended = Some(c.clone());
            } else {
                // XEP-0215 §10: one optional <x xmlns='jabber:x:data'/>, nothing else.
                r.forgive(Error::UnexpectedChild {
                    element: E,
                    child: truncate(c.name()),
                    child_ns: truncate(&c.ns()),
                })?;
            }
        }
        Ok(Service {
            action,
            expires,
            host,
            name,
            password,
            port,
            restricted,
            transport,
            type_,
            username,
            extended,
        })
    }

    pub(crate) fn to_element(&self, version: Version) -> Element {
        let attrs: [(&'static str, Option<String>); 10] = [
            ("action", self.action.map(|a| a.as_str().to_owned())),
            ("expires", self.expires.as_ref().map(DateTime::to_string)),
            ("host", Some(self.host.clone())),
            ("name", self.name.clone()),
            ("password", self.password.clone()),
            ("port", self.port.map(|p| p.to_string())),
            ("restricted", self.restricted.map(|r| r.as_str().to_owned())),
            (
                "transport",
                self.transport.as_ref().map(|t| t.as_str().to_owned()),
            ),
            ("type", Some(self.type_.as_str().to_owned())),
            ("username", self.username.clone()),
        ];
        let mut b = Element::builder("service", version.namespace());
        for (name, value) in attrs {
            if let Some(v) = value {
                b = b.attr(attr_name(name), v);
            }
        }
        if let Some(x) = &self.extended {
            b = b.append(x.clone());
        }
        b.build()
    }
}

fn read_expires(x: &str, r: &mut Reader<'_>) -> Result<DateTime, Error> {
    let rule = "XEP-0215 §2: a XEP-0082 DateTime";
    match DateTime::parse_lenient(x) {
        Ok((dt, absent)) => {
            if absent {
                r.forgive(Error::ExpiresWithoutTzd { value: truncate(x) })?;
            } else if !dt.is_utc() {
                r.forgive(Error::ExpiresNotUtc { value: truncate(x) })?;
            }
            Ok(dt)
        }
        Err(DateTimeError::Syntax | DateTimeError::NoTzd) => {
            Err(invalid("service", "expires", x, rule))
        }
    }
}

/// Elements and texts under `el`, counting no further than just past `limit`.
fn count_nodes(el: &Element, limit: usize) -> usize {
    let mut n = 1;
    let mut stack = vec![el];
    while let Some(e) = stack.pop() {
        for node in e.nodes() {
            n += 1;
            if n > limit {
                return n;
            }
            if let Some(c) = node.as_element() {
                stack.push(c);
            }
        }
    }
    n
}
