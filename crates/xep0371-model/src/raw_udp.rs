//! The Raw UDP transport of XEP-0177, as far as the fallback of XEP-0371 §6 uses it.

use std::net::{IpAddr, SocketAddr};

use minidom::Element;

use crate::attrs::{self, ExtraAttributes};
use crate::candidate::CandidateType;
use crate::element;
use crate::error::{Error, FromXml, Reader, rules};
use crate::ns;

/// A Raw UDP candidate (XEP-0177 §5). All attributes but `type` are required by the schema;
/// `component` is an `Option` because the lenient reading forgives its absence (the listings of
/// XEP-0371 §6 omit it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawUdpCandidate {
    /// Component ID.
    pub component: Option<u8>,
    /// Generation.
    pub generation: u8,
    /// Unique identifier.
    pub id: String,
    /// Address.
    pub ip: IpAddr,
    /// Port.
    pub port: u16,
    /// Candidate type, optional.
    pub type_: Option<CandidateType>,
    /// Attributes the schema does not define, kept by the lenient reading.
    pub extra: ExtraAttributes,
}

impl RawUdpCandidate {
    /// The candidate's transport address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    fn read(el: &Element, reader: &mut Reader) -> Result<Self, Error> {
        const N: &str = "candidate";
        let component =
            attrs::required_or_absent(reader, el, N, "component", Some(rules::RAW_UDP_REQUIRED))?
                .map(|v| attrs::parse_component(N, v))
                .transpose()?;
        let generation = attrs::parse_num(
            N,
            "generation",
            attrs::require(el, N, "generation")?,
            rules::UNSIGNED_BYTE,
        )?;
        let id = attrs::require_bounded(reader, el, N, "id")?;
        if !attrs::is_ncname(&id) {
            reader.forgive(Error::invalid(N, "id", &id, rules::NCNAME), "kept")?;
        }
        let ip = attrs::parse_ip(N, "ip", attrs::require(el, N, "ip")?)?;
        let port = attrs::parse_port(N, "port", attrs::require(el, N, "port")?)?;
        let type_ = el.attr("type").map(str::parse).transpose()?;
        let extra = attrs::unknown_attributes(
            el,
            N,
            &["component", "generation", "id", "ip", "port", "type"],
            reader,
        )?;
        attrs::no_text(el, N, reader)?;
        Ok(RawUdpCandidate {
            component,
            generation,
            id,
            ip,
            port,
            type_,
            extra,
        })
    }

    fn to_element(&self) -> Element {
        let mut b = Element::builder("candidate", ns::JINGLE_RAW_UDP);
        b = attrs::attr(b, "component", self.component);
        b = attrs::attr(b, "generation", self.generation);
        b = attrs::attr(b, "id", self.id.as_str());
        b = attrs::attr(b, "ip", self.ip.to_string());
        b = attrs::attr(b, "port", self.port);
        b = attrs::attr(b, "type", self.type_.map(CandidateType::as_str));
        attrs::set_extra(b, &self.extra).build()
    }
}

/// The Raw UDP `<transport/>` (XEP-0177).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawUdpTransport {
    /// Candidates, typically one per component.
    pub candidates: Vec<RawUdpCandidate>,
}

impl FromXml for RawUdpTransport {
    fn read_with(el: &Element, reader: &mut Reader) -> Result<Self, Error> {
        const N: &str = "transport";
        element::expect(el, N, ns::JINGLE_RAW_UDP)?;
        attrs::ignore_unknown_attributes(el, N, &[], reader)?;
        attrs::no_text(el, N, reader)?;
        let mut candidates = Vec::new();
        let max = reader.limits().max_candidates;
        for child in el.children() {
            if child.is("candidate", ns::JINGLE_RAW_UDP) {
                element::room_for(N, "candidate", candidates.len(), max)?;
                candidates.push(RawUdpCandidate::read(child, reader)?);
            } else {
                element::forgive_child(reader, N, child, rules::UNKNOWN_CHILD, "ignored")?;
            }
        }
        Ok(RawUdpTransport { candidates })
    }
}

impl From<&RawUdpTransport> for Element {
    fn from(t: &RawUdpTransport) -> Element {
        Element::builder("transport", ns::JINGLE_RAW_UDP)
            .append_all(t.candidates.iter().map(RawUdpCandidate::to_element))
            .build()
    }
}

crate::macros::impl_try_from!(RawUdpTransport);
