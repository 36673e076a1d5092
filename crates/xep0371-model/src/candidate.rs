//! The `<candidate/>` and `<remote-candidate/>` elements of XEP-0371 §5.3 and XEP-0176.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use minidom::Element;

use crate::attrs::{self, ExtraAttributes};
use crate::element;
use crate::error::{Error, FromXml, Reader, rules};
use crate::macros::string_enum;
use crate::ns::{self, IceNamespace};

string_enum!(
    /// The candidate type (RFC 8445 §5.1.1; XEP-0371 §5.3 `type`).
    CandidateType, "candidate", "type", rules::CANDIDATE_TYPE, {
        /// A host candidate.
        Host = "host",
        /// A peer-reflexive candidate.
        Prflx = "prflx",
        /// A server-reflexive candidate.
        Srflx = "srflx",
        /// A relayed candidate.
        Relay = "relay",
    }
);

impl CandidateType {
    /// The type preference XEP-0371 §5.3 stipulates for its examples (footnote to `priority`):
    /// host 126, peer-reflexive 110, server-reflexive 100; relay 0 as RFC 8445 §5.1.2.2
    /// recommends.
    pub fn xep0371_type_preference(self) -> u8 {
        match self {
            CandidateType::Host => 126,
            CandidateType::Prflx => 110,
            CandidateType::Srflx => 100,
            CandidateType::Relay => 0,
        }
    }
}

string_enum!(
    /// The transport protocol (XEP-0371 §5.3 `protocol`).
    Protocol, "candidate", "protocol", rules::PROTOCOL, {
        /// UDP (RFC 8445).
        Udp = "udp",
        /// TCP (RFC 6544).
        Tcp = "tcp",
    }
);

string_enum!(
    /// The TCP candidate type (RFC 6544 §4.5; XEP-0371 §5.3 `tcptype`).
    TcpType, "candidate", "tcptype", rules::TCPTYPE, {
        /// Active: opens connections, port 9 in SDP.
        Active = "active",
        /// Passive: accepts connections.
        Passive = "passive",
        /// Simultaneous open.
        So = "so",
    }
);

/// RFC 8445 §5.1.2.1: `priority = 2^24 * type preference + 2^8 * local preference + (256 -
/// component ID)`.
pub fn compute_priority(type_preference: u8, local_preference: u16, component: u8) -> u32 {
    (u32::from(type_preference) << 24)
        + (u32::from(local_preference) << 8)
        + (256 - u32::from(component))
}

/// A transport candidate (XEP-0371 §5.3), the same in the `ice:0` and `ice-udp:1` namespaces.
///
/// Optional attributes are `Option`s so that a value read from XML writes back the same
/// attributes; attributes the schema does not define (lenient reading) are kept in
/// [`Candidate::extra`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Component ID, 1 for RTP, 2 for RTCP (RFC 8445 §5.1.1.1).
    pub component: u8,
    /// Foundation (RFC 8445 §5.1.1.3).
    pub foundation: String,
    /// Generation; bumped by an ICE restart (XEP-0371 §5.10). Required in `ice-udp:1`.
    pub generation: Option<u8>,
    /// Unique identifier of the candidate. Required in `ice-udp:1`.
    pub id: Option<String>,
    /// Address of the candidate.
    pub ip: IpAddr,
    /// Network interface index (diagnostic). Required in `ice:0`.
    pub network: Option<u8>,
    /// Port of the candidate.
    pub port: u16,
    /// Priority (RFC 8445 §5.1.2).
    pub priority: u32,
    /// `udp` or `tcp`.
    pub protocol: Protocol,
    /// Related address (the base of a reflexive candidate, RFC 8445 §5.1.1.2).
    pub rel_addr: Option<IpAddr>,
    /// Related port.
    pub rel_port: Option<u16>,
    /// TCP candidate type (RFC 6544); `ice:0` only.
    pub tcptype: Option<TcpType>,
    /// Candidate type.
    pub type_: CandidateType,
    /// Attributes the schema does not define, kept by the lenient reading.
    pub extra: ExtraAttributes,
}

impl Candidate {
    /// A candidate with the required attributes and nothing optional.
    pub fn new(
        component: u8,
        foundation: impl Into<String>,
        addr: SocketAddr,
        priority: u32,
        protocol: Protocol,
        type_: CandidateType,
    ) -> Self {
        Candidate {
            component,
            foundation: foundation.into(),
            generation: None,
            id: None,
            ip: addr.ip(),
            network: None,
            port: addr.port(),
            priority,
            protocol,
            rel_addr: None,
            rel_port: None,
            tcptype: None,
            type_,
            extra: Vec::new(),
        }
    }

    /// The candidate's transport address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    /// The related transport address, when both parts are present.
    pub fn related_addr(&self) -> Option<SocketAddr> {
        Some(SocketAddr::new(self.rel_addr?, self.rel_port?))
    }

    pub(crate) const KNOWN: &'static [&'static str] = &[
        "component",
        "foundation",
        "generation",
        "id",
        "ip",
        "network",
        "port",
        "priority",
        "protocol",
        "rel-addr",
        "rel-port",
        "tcptype",
        "type",
    ];

    /// Reads a `<candidate/>` of the ICE transport in namespace `ns`.
    pub fn read_in(el: &Element, ns: IceNamespace, reader: &mut Reader) -> Result<Self, Error> {
        const N: &str = "candidate";
        element::expect(el, N, ns.as_str())?;
        // Required by one schema only: `generation` and `id` by XEP-0176's, `network` by
        // XEP-0371's.
        let in_udp1 = (ns == IceNamespace::IceUdp1).then_some(rules::SCHEMA_REQUIRED);
        let in_ice0 = (ns == IceNamespace::Ice0).then_some(rules::SCHEMA_REQUIRED);
        let component = attrs::parse_component(N, attrs::require(el, N, "component")?)?;
        let foundation = attrs::require_bounded(reader, el, N, "foundation")?;
        attrs::FOUNDATION.check(reader, N, "foundation", &foundation)?;
        let generation = attrs::required_or_absent(reader, el, N, "generation", in_udp1)?
            .map(|v| attrs::parse_num(N, "generation", v, rules::UNSIGNED_BYTE))
            .transpose()?;
        let id = attrs::required_or_absent(reader, el, N, "id", in_udp1)?;
        if let Some(v) = id {
            if !attrs::is_ncname(v) {
                reader.forgive(Error::invalid(N, "id", v, rules::NCNAME), "kept")?;
            }
        }
        let id = id.map(|v| attrs::bounded(reader, N, "id", v)).transpose()?;
        let ip = attrs::parse_ip(N, "ip", attrs::require(el, N, "ip")?)?;
        let network = attrs::required_or_absent(reader, el, N, "network", in_ice0)?
            .map(|v| attrs::parse_num(N, "network", v, rules::UNSIGNED_BYTE))
            .transpose()?;
        let port = attrs::parse_port(N, "port", attrs::require(el, N, "port")?)?;
        let priority_str = attrs::require(el, N, "priority")?;
        let priority: u32 = attrs::parse_num(N, "priority", priority_str, rules::PRIORITY_U32)?;
        if priority == 0 || priority > 0x7fff_ffff {
            reader.forgive(
                Error::invalid(N, "priority", priority_str, rules::PRIORITY_RANGE),
                "kept",
            )?;
        }
        let protocol_str = attrs::require(el, N, "protocol")?;
        let protocol = match protocol_str.parse::<Protocol>() {
            Ok(p) => p,
            Err(e) => {
                let p = protocol_str
                    .to_ascii_lowercase()
                    .parse::<Protocol>()
                    .map_err(|_| e.clone())?;
                reader.forgive(e, "read as lower case")?;
                p
            }
        };
        let rel_addr = el
            .attr("rel-addr")
            .map(|v| attrs::parse_ip(N, "rel-addr", v))
            .transpose()?;
        let rel_port = el
            .attr("rel-port")
            .map(|v| attrs::parse_port(N, "rel-port", v))
            .transpose()?;
        if rel_addr.is_some() != rel_port.is_some() {
            let attribute = if rel_addr.is_none() {
                "rel-addr"
            } else {
                "rel-port"
            };
            reader.forgive(
                Error::MissingAttribute {
                    element: N,
                    attribute,
                    rule: rules::RELATED_PAIR,
                },
                "kept",
            )?;
        }
        let tcptype = el.attr("tcptype").map(TcpType::from_str).transpose()?;
        if tcptype.is_some() && ns == IceNamespace::IceUdp1 {
            reader.forgive(
                Error::UnknownAttribute {
                    element: N,
                    attribute: "tcptype".into(),
                    rule: rules::TCPTYPE_ICE_UDP,
                },
                "kept",
            )?;
        }
        if tcptype.is_some() != (protocol == Protocol::Tcp) {
            let attribute = if tcptype.is_some() {
                "tcptype"
            } else {
                "protocol"
            };
            reader.forgive(
                Error::InvalidAttribute {
                    element: N,
                    attribute: attribute.into(),
                    value: if tcptype.is_some() {
                        protocol.as_str().into()
                    } else {
                        "tcp".into()
                    },
                    rule: rules::TCPTYPE_WITH_TCP,
                },
                "kept",
            )?;
        }
        let type_: CandidateType = attrs::require(el, N, "type")?.parse()?;
        if type_ != CandidateType::Host && rel_addr.is_none() && rel_port.is_none() {
            reader.forgive(
                Error::MissingAttribute {
                    element: N,
                    attribute: "rel-addr",
                    rule: rules::RELATED_ADDRESS,
                },
                "kept",
            )?;
        }
        let extra = attrs::unknown_attributes(el, N, Self::KNOWN, reader)?;
        attrs::no_text(el, N, reader)?;
        for child in el.children() {
            element::forgive_child(reader, N, child, rules::UNKNOWN_CHILD, "ignored")?;
        }
        Ok(Candidate {
            component,
            foundation,
            generation,
            id,
            ip,
            network,
            port,
            priority,
            protocol,
            rel_addr,
            rel_port,
            tcptype,
            type_,
            extra,
        })
    }

    /// Writes the candidate as a child of a transport in namespace `ns`.
    pub fn to_element(&self, ns: IceNamespace) -> Element {
        let mut b = Element::builder("candidate", ns.as_str());
        b = attrs::attr(b, "component", self.component);
        b = attrs::attr(b, "foundation", self.foundation.as_str());
        b = attrs::attr(b, "generation", self.generation);
        b = attrs::attr(b, "id", self.id.as_deref());
        b = attrs::attr(b, "ip", self.ip.to_string());
        b = attrs::attr(b, "network", self.network);
        b = attrs::attr(b, "port", self.port);
        b = attrs::attr(b, "priority", self.priority);
        b = attrs::attr(b, "protocol", self.protocol.as_str());
        b = attrs::attr(b, "rel-addr", self.rel_addr.map(|a| a.to_string()));
        b = attrs::attr(b, "rel-port", self.rel_port);
        b = attrs::attr(b, "tcptype", self.tcptype.map(TcpType::as_str));
        b = attrs::attr(b, "type", self.type_.as_str());
        attrs::set_extra(b, &self.extra).build()
    }
}

/// `FromXml` and `TryFrom<Element>` for a child of the ICE transport, read in whichever of
/// the two namespaces the element is.
macro_rules! ice_child {
    ($t:ty, $name:literal) => {
        #[doc = concat!("Reads a `<", $name, "/>` in whichever ICE namespace it is.")]
        impl FromXml for $t {
            fn read_with(el: &Element, reader: &mut Reader) -> Result<Self, Error> {
                match IceNamespace::from_uri(&el.ns()) {
                    Some(ns) => <$t>::read_in(el, ns, reader),
                    None => Err(element::mismatch(el, $name, ns::JINGLE_ICE)),
                }
            }
        }

        impl TryFrom<Element> for $t {
            type Error = Error;
            /// The strict reading, in the element's namespace.
            fn try_from(el: Element) -> Result<Self, Error> {
                crate::error::try_from_strict(el)
            }
        }
    };
}

ice_child!(Candidate, "candidate");
ice_child!(RemoteCandidate, "remote-candidate");

/// The in-use candidate of the peer for one component (XEP-0371 §5.8 `remote-candidate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RemoteCandidate {
    /// Component ID.
    pub component: u8,
    /// Address of the peer's candidate.
    pub ip: IpAddr,
    /// Port of the peer's candidate.
    pub port: u16,
}

impl RemoteCandidate {
    /// The candidate's transport address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    /// Reads a `<remote-candidate/>` of the ICE transport in namespace `ns`.
    pub fn read_in(el: &Element, ns: IceNamespace, reader: &mut Reader) -> Result<Self, Error> {
        const N: &str = "remote-candidate";
        element::expect(el, N, ns.as_str())?;
        let component = attrs::parse_component(N, attrs::require(el, N, "component")?)?;
        let ip = attrs::parse_ip(N, "ip", attrs::require(el, N, "ip")?)?;
        let port = attrs::parse_port(N, "port", attrs::require(el, N, "port")?)?;
        // Unknown attributes are reported and ignored: the value is a plain address triple.
        attrs::ignore_unknown_attributes(el, N, &["component", "ip", "port"], reader)?;
        attrs::no_text(el, N, reader)?;
        Ok(RemoteCandidate {
            component,
            ip,
            port,
        })
    }

    /// Writes the element in namespace `ns`.
    pub fn to_element(&self, ns: IceNamespace) -> Element {
        let mut b = Element::builder("remote-candidate", ns.as_str());
        b = attrs::attr(b, "component", self.component);
        b = attrs::attr(b, "ip", self.ip.to_string());
        b = attrs::attr(b, "port", self.port);
        b.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8445_priority_formula() {
        // The all-ones local preference gives the listings' 2130706431 and 1694498815; the
        // footnote of XEP-0371 §5.3 (network 0 -> local preference 4096) gives 2114978047.
        assert_eq!(compute_priority(126, 65535, 1), 2_130_706_431);
        assert_eq!(compute_priority(100, 65535, 1), 1_694_498_815);
        assert_eq!(compute_priority(126, 4096, 1), 2_114_978_047);
        assert_eq!(compute_priority(0, 0, 255), 1);
    }

    #[test]
    fn enums_round_trip_their_strings() {
        for t in CandidateType::ALL {
            assert_eq!(t.as_str().parse::<CandidateType>().unwrap(), *t);
        }
        for t in TcpType::ALL {
            assert_eq!(t.as_str().parse::<TcpType>().unwrap(), *t);
        }
        for t in Protocol::ALL {
            assert_eq!(t.as_str().parse::<Protocol>().unwrap(), *t);
        }
        assert!("HOST".parse::<CandidateType>().is_err());
    }
}
