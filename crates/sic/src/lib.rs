#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use jid::{FullJid, Jid};
use minidom::Element;

/// Namespaces.
pub mod ns {
    /// XEP-0279 version 0.1: `<ip/>`.
    pub const SIC0: &str = "urn:xmpp:sic:0";
    /// XEP-0279 version 0.2: `<address><ip/><port/></address>`.
    pub const SIC1: &str = "urn:xmpp:sic:1";
    /// RFC 6120 client namespace.
    pub const CLIENT: &str = "jabber:client";
    /// RFC 6120 stanza errors.
    pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
}

/// The version of XEP-0279 a payload belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// Version 0.1, `urn:xmpp:sic:0`: `<ip>ADDRESS</ip>`.
    Sic0,
    /// Version 0.2, `urn:xmpp:sic:1`: `<address><ip/><port/></address>`.
    Sic1,
}

impl Version {
    /// The namespace, which is also the disco#info feature (XEP-0279 §3).
    pub fn namespace(self) -> &'static str {
        match self {
            Version::Sic0 => ns::SIC0,
            Version::Sic1 => ns::SIC1,
        }
    }

    /// `sic:0` or `sic:1`.
    pub fn short_name(self) -> &'static str {
        match self {
            Version::Sic0 => "sic:0",
            Version::Sic1 => "sic:1",
        }
    }

    /// The version of a namespace.
    pub fn from_namespace(ns: &str) -> Option<Self> {
        match ns {
            ns::SIC0 => Some(Version::Sic0),
            ns::SIC1 => Some(Version::Sic1),
            _ => None,
        }
    }

    fn element_name(self) -> &'static str {
        match self {
            Version::Sic0 => "ip",
            Version::Sic1 => "address",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short_name())
    }
}

/// Which reading a parser applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reading {
    /// The XEP as written.
    #[default]
    Strict,
    /// Also what deployed servers send: ejabberd's `<address xmlns='urn:xmpp:sic:0'>`, reported
    /// as a diagnostic.
    Lenient,
}

/// A rejection.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// Not a Server IP Check element; handed back.
    #[error("not a Server IP Check element: <{} xmlns='{}'>", .0.name(), .0.ns())]
    Mismatch(Box<Element>),
    /// `<address/>` in `urn:xmpp:sic:0`: ejabberd's shape, accepted by the lenient reading only.
    #[error(
        "<address xmlns='urn:xmpp:sic:0'/> is not defined by XEP-0279 (version 0.1 has <ip/>; ejabberd sends it)"
    )]
    Sic0Address,
    /// A response without an address.
    #[error("<{element}/> carries no <ip/> (XEP-0279 §2)")]
    MissingIp {
        /// The element.
        element: &'static str,
    },
    /// More than one `<ip/>` or `<port/>`.
    #[error("<address/> has more than one <{child}/> (XEP-0279 §2: the client's address and port)")]
    Duplicate {
        /// The repeated child.
        child: &'static str,
    },
    /// Text that is not an IP address.
    #[error("<ip>{value}</ip> is not an IP address (XEP-0279 §2)")]
    InvalidIp {
        /// The text (truncated to 64 characters).
        value: String,
    },
    /// Text that is not a port.
    #[error(
        "<port>{value}</port> is not a port from 1 to 65535 (XEP-0279 §2; schema: xs:positiveInteger)"
    )]
    InvalidPort {
        /// The text (truncated to 64 characters).
        value: String,
    },
    /// A child the XEP does not define.
    #[error("<{element}/> may not contain <{child} xmlns='{child_ns}'/>")]
    UnexpectedChild {
        /// The parent.
        element: &'static str,
        /// The child.
        child: String,
        /// Its namespace.
        child_ns: String,
    },
    /// Not an IQ, or an IQ without what RFC 6120 requires.
    #[error("not a usable IQ: {0}")]
    Iq(&'static str),
    /// The server answered with an error.
    #[error("the server answered {condition} (type {type_})")]
    Server {
        /// The defined condition, e.g. `service-unavailable`.
        condition: String,
        /// The error type.
        type_: String,
    },
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// A request: `<ip xmlns='urn:xmpp:sic:0'/>` or `<address xmlns='urn:xmpp:sic:1'/>`, carried in
/// an IQ-get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// The version asked for.
    pub version: Version,
}

impl Request {
    /// The IQ-get to send, with no `to` (RFC 6120 §10.3.3: handled by the server on behalf of
    /// the account, as XEP-0279 §2 shows).
    pub fn iq(&self, id: &str) -> Element {
        Element::builder("iq", ns::CLIENT)
            .attr(name("id"), id)
            .attr(name("type"), "get")
            .append(Element::from(*self))
            .build()
    }
}

impl From<Request> for Element {
    fn from(r: Request) -> Element {
        Element::bare(r.version.element_name(), r.version.namespace())
    }
}

impl TryFrom<Element> for Request {
    type Error = Error;
    fn try_from(el: Element) -> Result<Self, Error> {
        match Version::from_namespace(&el.ns()) {
            Some(v)
                if el.name() == v.element_name()
                    && el.children().next().is_none()
                    && el.text().trim().is_empty() =>
            {
                Ok(Request { version: v })
            }
            _ => Err(Error::Mismatch(Box::new(el))),
        }
    }
}

/// The address the server sees: the payload of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address {
    /// The version it was (or is to be) written in.
    pub version: Version,
    /// The client's IP address as the server sees it.
    pub ip: IpAddr,
    /// The client's source port (version 0.2 only; optional there).
    pub port: Option<u16>,
}

/// What the lenient reading forgave.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic(pub Error);

impl Address {
    /// The address as a socket address, when the port is known.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        Some(SocketAddr::new(self.ip, self.port?))
    }

    /// Reads a response payload in either version. Children of `<address/>` may come in any
    /// order (ejabberd puts `<port/>` first). Whitespace around the text is ignored.
    pub fn read(el: &Element, reading: Reading) -> Result<(Address, Vec<Diagnostic>), Error> {
        let version = Version::from_namespace(&el.ns())
            .ok_or_else(|| Error::Mismatch(Box::new(el.clone())))?;
        let mut diagnostics = Vec::new();
        match (version, el.name()) {
            (Version::Sic0, "ip") => {
                let text = el.text();
                if text.trim().is_empty() {
                    return Err(Error::MissingIp { element: "ip" });
                }
                let ip = parse_ip(&text)?;
                Ok((
                    Address {
                        version,
                        ip,
                        port: None,
                    },
                    diagnostics,
                ))
            }
            (_, "address") => {
                if version == Version::Sic0 {
                    match reading {
                        Reading::Strict => return Err(Error::Sic0Address),
                        Reading::Lenient => diagnostics.push(Diagnostic(Error::Sic0Address)),
                    }
                }
                let (mut ip, mut port) = (None, None);
                for c in el.children() {
                    match c.name() {
                        "ip" if c.ns() == el.ns() => {
                            if ip.replace(parse_ip(&c.text())?).is_some() {
                                return Err(Error::Duplicate { child: "ip" });
                            }
                        }
                        "port" if c.ns() == el.ns() => {
                            if port.replace(parse_port(&c.text())?).is_some() {
                                return Err(Error::Duplicate { child: "port" });
                            }
                        }
                        _ => {
                            return Err(Error::UnexpectedChild {
                                element: "address",
                                child: c.name().to_owned(),
                                child_ns: c.ns(),
                            });
                        }
                    }
                }
                let ip = ip.ok_or(Error::MissingIp { element: "address" })?;
                Ok((Address { version, ip, port }, diagnostics))
            }
            _ => Err(Error::Mismatch(Box::new(el.clone()))),
        }
    }
}

fn parse_ip(text: &str) -> Result<IpAddr, Error> {
    text.trim().parse().map_err(|_| Error::InvalidIp {
        value: truncate(text.trim()),
    })
}

fn parse_port(text: &str) -> Result<u16, Error> {
    let t = text.trim();
    match t.parse::<u16>() {
        Ok(p) if p > 0 && t.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
        _ => Err(Error::InvalidPort { value: truncate(t) }),
    }
}

impl From<Address> for Element {
    /// Version 0.1 carries the address only; the port is not written.
    fn from(a: Address) -> Element {
        match a.version {
            Version::Sic0 => Element::builder("ip", ns::SIC0)
                .append(a.ip.to_string())
                .build(),
            Version::Sic1 => {
                let mut b = Element::builder("address", ns::SIC1).append(
                    Element::builder("ip", ns::SIC1)
                        .append(a.ip.to_string())
                        .build(),
                );
                if let Some(p) = a.port {
                    b = b.append(
                        Element::builder("port", ns::SIC1)
                            .append(p.to_string())
                            .build(),
                    );
                }
                b.build()
            }
        }
    }
}

impl TryFrom<Element> for Address {
    type Error = Error;
    /// The strict reading.
    fn try_from(el: Element) -> Result<Self, Error> {
        match Address::read(&el, Reading::Strict) {
            Ok((a, _)) => Ok(a),
            Err(Error::Mismatch(_)) => Err(Error::Mismatch(Box::new(el))),
            Err(e) => Err(e),
        }
    }
}

fn name(s: &'static str) -> minidom::rxml::NcName {
    match minidom::rxml::NcName::try_from(s) {
        Ok(n) => n,
        Err(_) => unreachable!("attribute names of this crate are NCNames"),
    }
}

fn error_iq(
    to: Option<&str>,
    from: Option<&str>,
    id: &str,
    type_: &str,
    condition: &str,
) -> Element {
    let mut b = Element::builder("iq", ns::CLIENT)
        .attr(name("id"), id)
        .attr(name("type"), "error");
    if let Some(to) = to {
        b = b.attr(name("to"), to);
    }
    if let Some(from) = from {
        b = b.attr(name("from"), from);
    }
    b.append(
        Element::builder("error", ns::CLIENT)
            .attr(name("type"), type_)
            .append(Element::bare(condition, ns::STANZAS))
            .build(),
    )
    .build()
}

/// The server's answer to one IQ, without I/O (XEP-0279 §2 and §5).
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Not a Server IP Check request: the caller handles the IQ otherwise.
    NotSic,
    /// The reply to send.
    Reply(Element),
}

/// The server side: answers a request from a client session.
///
/// `session` is the full JID of the session the IQ came from; `seen_from` the address its
/// connection comes from (`None` when unknown, e.g. behind a proxy that hides it).
pub fn answer(iq: &Element, session: &FullJid, seen_from: Option<SocketAddr>) -> Answer {
    if iq.name() != "iq" {
        return Answer::NotSic;
    }
    let Some(payload) = iq
        .children()
        .find(|c| Version::from_namespace(&c.ns()).is_some())
    else {
        return Answer::NotSic;
    };
    let id = iq.attr("id").unwrap_or("");
    let session_str = session.to_string();
    let server = session.domain().to_string();
    // Replies come from the entity addressed: the account when `to` is absent.
    let from = iq
        .attr("to")
        .map(str::to_owned)
        .unwrap_or_else(|| session.to_bare().to_string());
    let err = |type_: &str, condition: &str| {
        Answer::Reply(error_iq(
            Some(&session_str),
            Some(&from),
            id,
            type_,
            condition,
        ))
    };
    let request = match Request::try_from(payload.clone()) {
        Ok(r) if iq.attr("type") == Some("get") && iq.children().count() == 1 => r,
        // A set, a request with content, or a second payload: malformed.
        _ => return err("modify", "bad-request"),
    };
    if let Some(to) = iq.attr("to") {
        let Ok(to) = to.parse::<Jid>() else {
            return err("modify", "jid-malformed");
        };
        // XEP-0279 §5: "a server MUST NOT return the IP address of another client ... it MUST
        // return a <forbidden/> error."
        if to.to_bare() != session.to_bare() {
            if to.node().is_none() && to.domain().as_str() == server {
                // Addressed to the server itself: the XEP defines the request on the account,
                // as Prosody's mod_ipcheck does.
                return err("cancel", "service-unavailable");
            }
            return err("auth", "forbidden");
        }
        if to.is_full() && to.to_string() != session_str {
            return err("auth", "forbidden");
        }
    }
    let Some(addr) = seen_from else {
        return err("cancel", "service-unavailable");
    };
    let address = Address {
        version: request.version,
        ip: addr.ip(),
        port: Some(addr.port()),
    };
    let reply = Element::builder("iq", ns::CLIENT)
        .attr(name("id"), id)
        .attr(name("type"), "result")
        .attr(name("to"), session_str.as_str())
        .attr(name("from"), from.as_str())
        .append(Element::from(address))
        .build();
    Answer::Reply(reply)
}

/// What the address a server reports says about the client's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatHint {
    /// The address the server sees.
    pub seen: Address,
    /// Whether it is none of the client's own addresses: the client is behind a NAT (or a
    /// proxy), and its private addresses are of no use to a peer on the Internet.
    pub behind_nat: bool,
    /// Whether the port differs from the local port of the connection (when both are known):
    /// the NAT does not preserve ports.
    pub port_changed: Option<bool>,
}

impl NatHint {
    /// Compares the address the server sees with the client's own addresses and the local
    /// address of its connection to the server.
    pub fn new(seen: Address, own: &[IpAddr], local: Option<SocketAddr>) -> Self {
        let own_ip = own.contains(&seen.ip) || local.is_some_and(|l| l.ip() == seen.ip);
        let port_changed = match (seen.port, local) {
            (Some(p), Some(l)) => Some(p != l.port()),
            _ => None,
        };
        NatHint {
            seen,
            behind_nat: !own_ip,
            port_changed,
        }
    }
}

/// The client side: which request to send next and how to read the answer. Asks `sic:1` first
/// and falls back to `sic:0` when the server does not know it.
#[derive(Debug, Clone)]
pub struct Client {
    versions: Vec<Version>,
    reading: Reading,
}

impl Default for Client {
    fn default() -> Self {
        Client {
            versions: vec![Version::Sic1, Version::Sic0],
            reading: Reading::Lenient,
        }
    }
}

/// What the client makes of a reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The address, with what the lenient reading forgave.
    Address(Address, Vec<Diagnostic>),
    /// The server does not know this version: send [`Client::request`] again, which now asks
    /// the next version.
    TryNext,
    /// A final failure.
    Failed(Error),
}

impl Client {
    /// A client that tries the given versions in order, with the given reading of answers.
    pub fn new(versions: &[Version], reading: Reading) -> Self {
        Client {
            versions: versions.to_vec(),
            reading,
        }
    }

    /// The request to send now, or `None` when every version was tried.
    pub fn request(&self, id: &str) -> Option<(Version, Element)> {
        let v = *self.versions.first()?;
        Some((v, Request { version: v }.iq(id)))
    }

    /// Reads the reply to the request of [`Client::request`].
    pub fn handle_reply(&mut self, reply: &Element) -> Outcome {
        if reply.name() != "iq" {
            return Outcome::Failed(Error::Iq("the reply is not an <iq/>"));
        }
        match reply.attr("type") {
            Some("result") => match reply.children().next() {
                Some(p) => match Address::read(p, self.reading) {
                    Ok((a, d)) => Outcome::Address(a, d),
                    Err(e) => Outcome::Failed(e),
                },
                None => Outcome::Failed(Error::MissingIp { element: "iq" }),
            },
            Some("error") => {
                let error = reply.children().find(|c| c.name() == "error");
                let condition = error
                    .and_then(|e| {
                        e.children()
                            .find(|c| c.ns() == ns::STANZAS && c.name() != "text")
                    })
                    .map_or_else(|| "undefined-condition".to_owned(), |c| c.name().to_owned());
                let type_ = error
                    .and_then(|e| e.attr("type"))
                    .unwrap_or("cancel")
                    .to_owned();
                // RFC 6120 §8.3.3: a server that does not know the namespace answers
                // service-unavailable (or feature-not-implemented).
                if matches!(
                    condition.as_str(),
                    "service-unavailable" | "feature-not-implemented"
                ) && self.versions.len() > 1
                {
                    self.versions.remove(0);
                    return Outcome::TryNext;
                }
                Outcome::Failed(Error::Server { condition, type_ })
            }
            _ => Outcome::Failed(Error::Iq("the reply is neither a result nor an error")),
        }
    }
}

/// The disco#info features of an entity that implements both versions (XEP-0279 §3).
pub const FEATURES: [&str; 2] = [ns::SIC1, ns::SIC0];

/// The versions a disco#info feature list advertises, newest first.
pub fn supported_versions<S: AsRef<str>>(features: &[S]) -> Vec<Version> {
    [Version::Sic1, Version::Sic0]
        .into_iter()
        .filter(|v| features.iter().any(|f| f.as_ref() == v.namespace()))
        .collect()
}
