//! The disco#info features of XEP-0371 §8 (XEP-0030).

use minidom::Element;

use crate::attrs;
use crate::element;
use crate::error::{Error, FromXml, Reader};
use crate::ns::{self, IceNamespace};

/// A disco#info `<query/>`: a request when empty, a response with identities and features.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiscoInfo {
    /// The node queried.
    pub node: Option<String>,
    /// `(category, type, name)` of each `<identity/>`.
    pub identities: Vec<(String, String, Option<String>)>,
    /// The `var` of each `<feature/>`, in document order.
    pub features: Vec<String>,
    /// Other children (data forms of XEP-0128), kept.
    pub others: Vec<Element>,
}

/// What a peer's features say about Jingle ICE (XEP-0371 §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IceFeatures {
    /// `urn:xmpp:jingle:transports:ice:0`.
    pub ice0: bool,
    /// `urn:xmpp:jingle:transports:ice-udp:1`.
    pub ice_udp1: bool,
    /// `urn:ietf:rfc:3264`: send candidates together, and MUST send remote-candidate (§5.8).
    pub rfc3264: bool,
    /// `urn:xmpp:jingle:transports:raw-udp:1`.
    pub raw_udp1: bool,
}

impl IceFeatures {
    /// Reads the features of a disco#info response.
    pub fn from_features<S: AsRef<str>>(features: &[S]) -> Self {
        let has = |f: &str| features.iter().any(|x| x.as_ref() == f);
        IceFeatures {
            ice0: has(ns::JINGLE_ICE),
            ice_udp1: has(ns::JINGLE_ICE_UDP),
            rfc3264: has(ns::RFC3264),
            raw_udp1: has(ns::JINGLE_RAW_UDP),
        }
    }

    /// The namespace to speak: `ice:0` when advertised, else `ice-udp:1` when advertised.
    pub fn preferred_namespace(&self) -> Option<IceNamespace> {
        if self.ice0 {
            Some(IceNamespace::Ice0)
        } else if self.ice_udp1 {
            Some(IceNamespace::IceUdp1)
        } else {
            None
        }
    }

    /// The features an entity implementing this stack advertises (XEP-0371 §8.1): both ICE
    /// namespaces; `urn:ietf:rfc:3264` only for gateways, so not here.
    pub fn advertised() -> [&'static str; 3] {
        [ns::JINGLE, ns::JINGLE_ICE, ns::JINGLE_ICE_UDP]
    }
}

impl DiscoInfo {
    /// The features as [`IceFeatures`].
    pub fn ice_features(&self) -> IceFeatures {
        IceFeatures::from_features(&self.features)
    }
}

impl FromXml for DiscoInfo {
    fn read_with(el: &Element, reader: &mut Reader) -> Result<Self, Error> {
        const N: &str = "query";
        element::expect(el, N, ns::DISCO_INFO)?;
        let node = attrs::optional_bounded(reader, el, N, "node")?;
        attrs::ignore_unknown_attributes(el, N, &["node"], reader)?;
        let mut d = DiscoInfo {
            node,
            ..DiscoInfo::default()
        };
        let max = reader.limits().max_candidates;
        for c in el.children() {
            element::room_for(N, "feature", d.features.len() + d.identities.len(), max)?;
            if c.is("feature", ns::DISCO_INFO) {
                d.features
                    .push(attrs::require_bounded(reader, c, "feature", "var")?);
            } else if c.is("identity", ns::DISCO_INFO) {
                const I: &str = "identity";
                let cat = attrs::require_bounded(reader, c, I, "category")?;
                let typ = attrs::require_bounded(reader, c, I, "type")?;
                let name = attrs::optional_bounded(reader, c, I, "name")?;
                d.identities.push((cat, typ, name));
            } else {
                d.others.push(c.clone());
            }
        }
        Ok(d)
    }
}

impl From<&DiscoInfo> for Element {
    fn from(d: &DiscoInfo) -> Element {
        let mut b = Element::builder("query", ns::DISCO_INFO);
        b = attrs::attr(b, "node", d.node.as_deref());
        for (cat, typ, name) in &d.identities {
            let mut i = Element::builder("identity", ns::DISCO_INFO);
            i = attrs::attr(i, "category", cat.as_str());
            i = attrs::attr(i, "type", typ.as_str());
            i = attrs::attr(i, "name", name.as_deref());
            b = b.append(i.build());
        }
        for f in &d.features {
            b = b.append(
                attrs::attr(
                    Element::builder("feature", ns::DISCO_INFO),
                    "var",
                    f.as_str(),
                )
                .build(),
            );
        }
        b.append_all(d.others.iter().cloned()).build()
    }
}

crate::macros::impl_try_from!(DiscoInfo);
