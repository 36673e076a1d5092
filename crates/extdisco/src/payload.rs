//! `<services/>` and `<credentials/>`: the payloads of XEP-0215 §3.

use minidom::Element;

use crate::error::{Diagnostic, Error, truncate};
use crate::reader::{Reader, invalid, plain_attr_names};
use crate::service::{Service, ServiceType};
use crate::{Limits, Reading, Version, attr_name, ns};

/// `<services/>`: the request (XEP-0215 §3.1, empty; §3.2 with `type`), the result, and a push
/// (an IQ-set from the server, §3.2) all have this one shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Services {
    /// The namespace it was (or is to be) written in.
    pub version: Version,
    /// `type`: only services of this type are asked for (or listed, or pushed).
    pub type_: Option<ServiceType>,
    /// The services: none in a request.
    pub services: Vec<Service>,
}

/// `<credentials/>`: the request names one service by `host` and `type` (and `port` where
/// several match), the result carries the credentials (XEP-0215 §3.3).
#[derive(Debug, Clone, PartialEq)]
pub struct Credentials {
    /// The namespace it was (or is to be) written in.
    pub version: Version,
    /// The services asked about, or answered.
    pub services: Vec<Service>,
}

/// Either payload, for a reader that does not know which comes.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// `<services/>`.
    Services(Services),
    /// `<credentials/>`.
    Credentials(Credentials),
}

/// A value read, with what the lenient reading forgave (empty under the strict reading).
#[derive(Debug, Clone, PartialEq)]
pub struct Read<T> {
    /// The value.
    pub value: T,
    /// What was forgiven.
    pub diagnostics: Vec<Diagnostic>,
}

fn read_list(
    el: &Element,
    element: &'static str,
    r: &mut Reader<'_>,
) -> Result<Vec<Service>, Error> {
    r.no_text(el, element)?;
    let mut services = Vec::new();
    for c in el.children() {
        if c.is("service", r.version.namespace()) {
            if services.len() == r.limits.max_services {
                return Err(Error::Limit {
                    what: "services in one payload",
                    limit: r.limits.max_services,
                });
            }
            services.push(Service::read(c, r)?);
        } else {
            // XEP-0215 §10: <service/> elements only.
            r.forgive(Error::UnexpectedChild {
                element,
                child: truncate(c.name()),
                child_ns: truncate(&c.ns()),
            })?;
        }
    }
    Ok(services)
}

fn start<'l>(
    el: &Element,
    name: &str,
    reading: Reading,
    limits: &'l Limits,
) -> Result<Reader<'l>, Error> {
    match Version::from_namespace(&el.ns()) {
        Some(version) if el.name() == name => Ok(Reader {
            reading,
            limits,
            version,
            diagnostics: Vec::new(),
        }),
        _ => Err(Error::Mismatch(Box::new(el.clone()))),
    }
}

impl Services {
    /// A request for all services (§3.1) or, with a type, for those of one type (§3.2).
    pub fn request(version: Version, type_: Option<ServiceType>) -> Self {
        Services {
            version,
            type_,
            services: Vec::new(),
        }
    }

    /// Reads `<services/>` with the default [`Limits`].
    pub fn read(el: &Element, reading: Reading) -> Result<Read<Services>, Error> {
        Services::read_with(el, reading, &Limits::default())
    }

    /// Reads `<services/>`.
    pub fn read_with(
        el: &Element,
        reading: Reading,
        limits: &Limits,
    ) -> Result<Read<Services>, Error> {
        let mut r = start(el, "services", reading, limits)?;
        for name in plain_attr_names(el) {
            if name != "type" {
                r.forgive(Error::UnknownAttribute {
                    element: "services",
                    namespace: r.version.namespace(),
                    name,
                    rule: "XEP-0215 §10",
                })?;
            }
        }
        let type_ = match r.attr(el, "services", "type")? {
            None => None,
            Some(t) => Some(ServiceType::parse(t.trim()).ok_or_else(|| {
                invalid("services", "type", t, "XEP-0215 §10: type is an xs:NCName")
            })?),
        };
        let services = read_list(el, "services", &mut r)?;
        Ok(Read {
            value: Services {
                version: r.version,
                type_,
                services,
            },
            diagnostics: r.diagnostics,
        })
    }

    /// The IQ-get of a request (§3.1, §3.2) to `to`: the server's domain, which is where
    /// Prosody answers (an IQ without `to` goes to the account, RFC 6120 §10.3.3).
    pub fn request_iq(&self, id: &str, to: &str) -> Element {
        crate::iq("get", id, Some(to), Element::from(self))
    }
}

impl Credentials {
    /// A request for credentials at the service of this type and host (§3.3).
    pub fn request(version: Version, type_: ServiceType, host: &str, port: Option<u16>) -> Self {
        let mut s = Service::new(type_, host);
        s.port = port;
        Credentials {
            version,
            services: vec![s],
        }
    }

    /// Reads `<credentials/>` with the default [`Limits`].
    pub fn read(el: &Element, reading: Reading) -> Result<Read<Credentials>, Error> {
        Credentials::read_with(el, reading, &Limits::default())
    }

    /// Reads `<credentials/>`.
    pub fn read_with(
        el: &Element,
        reading: Reading,
        limits: &Limits,
    ) -> Result<Read<Credentials>, Error> {
        let mut r = start(el, "credentials", reading, limits)?;
        for name in plain_attr_names(el) {
            r.forgive(Error::UnknownAttribute {
                element: "credentials",
                namespace: r.version.namespace(),
                name,
                rule: "XEP-0215 §10",
            })?;
        }
        let services = read_list(el, "credentials", &mut r)?;
        Ok(Read {
            value: Credentials {
                version: r.version,
                services,
            },
            diagnostics: r.diagnostics,
        })
    }

    /// The IQ-get of a request (§3.3) to `to`, the server's domain.
    pub fn request_iq(&self, id: &str, to: &str) -> Element {
        crate::iq("get", id, Some(to), Element::from(self))
    }
}

impl Payload {
    /// Reads either payload with the default [`Limits`].
    pub fn read(el: &Element, reading: Reading) -> Result<Read<Payload>, Error> {
        Payload::read_with(el, reading, &Limits::default())
    }

    /// Reads either payload.
    pub fn read_with(
        el: &Element,
        reading: Reading,
        limits: &Limits,
    ) -> Result<Read<Payload>, Error> {
        if el.name() == "credentials" {
            let r = Credentials::read_with(el, reading, limits)?;
            Ok(Read {
                value: Payload::Credentials(r.value),
                diagnostics: r.diagnostics,
            })
        } else {
            let r = Services::read_with(el, reading, limits)?;
            Ok(Read {
                value: Payload::Services(r.value),
                diagnostics: r.diagnostics,
            })
        }
    }

    /// The namespace version.
    pub fn version(&self) -> Version {
        match self {
            Payload::Services(s) => s.version,
            Payload::Credentials(c) => c.version,
        }
    }
}

impl From<&Services> for Element {
    fn from(s: &Services) -> Element {
        let mut b = Element::builder("services", s.version.namespace());
        if let Some(t) = &s.type_ {
            b = b.attr(attr_name("type"), t.as_str());
        }
        b.append_all(s.services.iter().map(|x| x.to_element(s.version)))
            .build()
    }
}

impl From<Services> for Element {
    fn from(s: Services) -> Element {
        Element::from(&s)
    }
}

impl From<&Credentials> for Element {
    fn from(c: &Credentials) -> Element {
        Element::builder("credentials", c.version.namespace())
            .append_all(c.services.iter().map(|x| x.to_element(c.version)))
            .build()
    }
}

impl From<Credentials> for Element {
    fn from(c: Credentials) -> Element {
        Element::from(&c)
    }
}

impl From<&Payload> for Element {
    fn from(p: &Payload) -> Element {
        match p {
            Payload::Services(s) => s.into(),
            Payload::Credentials(c) => c.into(),
        }
    }
}

impl From<Payload> for Element {
    fn from(p: Payload) -> Element {
        Element::from(&p)
    }
}

macro_rules! strict_try_from {
    ($t:ty) => {
        impl TryFrom<Element> for $t {
            type Error = Error;
            /// The strict reading with the default limits; an element that is not this payload
            /// comes back in [`Error::Mismatch`].
            fn try_from(el: Element) -> Result<Self, Error> {
                match <$t>::read(&el, Reading::Strict) {
                    Ok(r) => Ok(r.value),
                    Err(Error::Mismatch(_)) => Err(Error::Mismatch(Box::new(el))),
                    Err(e) => Err(e),
                }
            }
        }
    };
}

strict_try_from!(Services);
strict_try_from!(Credentials);
strict_try_from!(Payload);

// The client's acknowledgement of a push is an empty IQ-result (XEP-0215 §3.2, RFC 6120 §8.2.3).
/// The IQ-result a client sends for a push (XEP-0215 §3.2: "the requesting entity would then send
/// an IQ-result"), or `None` when `iq` is not a push (an IQ-set with a `<services/>` payload).
pub fn push_ack(iq: &Element) -> Option<Element> {
    if !iq.is("iq", ns::CLIENT) || iq.attr("type") != Some("set") {
        return None;
    }
    let payload = iq.children().next()?;
    if payload.name() != "services" || Version::from_namespace(&payload.ns()).is_none() {
        return None;
    }
    let mut b = Element::builder("iq", ns::CLIENT)
        .attr(attr_name("type"), "result")
        .attr(attr_name("id"), iq.attr("id").unwrap_or(""));
    if let Some(from) = iq.attr("from") {
        b = b.attr(attr_name("to"), from);
    }
    Some(b.build())
}
