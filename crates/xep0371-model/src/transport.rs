//! The ICE `<transport/>` element: XEP-0371 (`ice:0`) and XEP-0176 (`ice-udp:1`).

use minidom::Element;

use crate::attrs::{self, ExtraAttributes};
use crate::candidate::{Candidate, Protocol, RemoteCandidate};
use crate::element;
use crate::error::{Error, FromXml, Reader, rules};
use crate::ns;
// Public here since the crate's first release; defined in `ns` with the namespaces it names.
pub use crate::ns::IceNamespace;

/// An ICE transport (XEP-0371 §5.3, §5.8, §7), in either namespace.
///
/// The value knows the namespace it came from ([`IceTransport::namespace`]) and writes back in
/// it; [`IceTransport::convert`] moves it to the other one.
#[derive(Debug, Clone, PartialEq)]
pub struct IceTransport {
    /// The namespace of the element.
    pub namespace: IceNamespace,
    /// Username fragment (RFC 8445 §5.3).
    pub ufrag: Option<String>,
    /// Password (RFC 8445 §5.3).
    pub pwd: Option<String>,
    /// RFC 8445 compliance (`a=ice-options:ice2`); absent means RFC 5245 may be assumed.
    pub ice2: Option<bool>,
    /// Candidates.
    pub candidates: Vec<Candidate>,
    /// The in-use candidates of the peer, one per component (XEP-0371 §5.8).
    pub remote_candidates: Vec<RemoteCandidate>,
    /// The end-of-candidates indication (XEP-0371 §7).
    pub gathering_complete: bool,
    /// Children of other namespaces (the schema's `##other`), such as a XEP-0320 fingerprint.
    pub others: Vec<Element>,
    /// Attributes the schema does not define, kept by the lenient reading.
    pub extra: ExtraAttributes,
}

/// What [`IceTransport::convert`] could not carry into the target namespace.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Dropped {
    /// `ice2` has no counterpart in `ice-udp:1`.
    Ice2(bool),
    /// `gathering-complete` has no counterpart in `ice-udp:1`.
    GatheringComplete,
    /// `ice-udp:1` carries UDP candidates only.
    TcpCandidate(Box<Candidate>),
    /// `ice-udp:1` carries at most one remote candidate.
    RemoteCandidate(RemoteCandidate),
}

impl IceTransport {
    /// An empty transport in `namespace`, with credentials.
    pub fn new(namespace: IceNamespace, ufrag: impl Into<String>, pwd: impl Into<String>) -> Self {
        IceTransport {
            namespace,
            ufrag: Some(ufrag.into()),
            pwd: Some(pwd.into()),
            ice2: None,
            candidates: Vec::new(),
            remote_candidates: Vec::new(),
            gathering_complete: false,
            others: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// The same transport in `target`'s namespace, and what could not be carried.
    ///
    /// Moving to `ice-udp:1` drops `ice2`, `gathering-complete`, TCP candidates and all
    /// remote candidates but the first, fills a missing `generation` with 0 and a missing `id`
    /// with `cand<index>`, since XEP-0176 requires both, and removes `tcptype`. Moving to `ice:0`
    /// fills a missing `network` with 0, since XEP-0371 requires it.
    pub fn convert(mut self, target: IceNamespace) -> (IceTransport, Vec<Dropped>) {
        let mut dropped = Vec::new();
        self.namespace = target;
        match target {
            IceNamespace::IceUdp1 => {
                if let Some(v) = self.ice2.take() {
                    dropped.push(Dropped::Ice2(v));
                }
                if std::mem::take(&mut self.gathering_complete) {
                    dropped.push(Dropped::GatheringComplete);
                }
                let (udp, tcp): (Vec<_>, Vec<_>) = self
                    .candidates
                    .into_iter()
                    .partition(|c| c.protocol == Protocol::Udp);
                dropped.extend(tcp.into_iter().map(|c| Dropped::TcpCandidate(Box::new(c))));
                self.candidates = udp;
                for (i, c) in self.candidates.iter_mut().enumerate() {
                    c.generation.get_or_insert(0);
                    c.id.get_or_insert_with(|| format!("cand{i}"));
                    c.tcptype = None;
                }
                if self.remote_candidates.len() > 1 {
                    dropped.extend(
                        self.remote_candidates
                            .drain(1..)
                            .map(Dropped::RemoteCandidate),
                    );
                }
            }
            IceNamespace::Ice0 => {
                for c in &mut self.candidates {
                    c.network.get_or_insert(0);
                }
            }
        }
        (self, dropped)
    }

    const KNOWN: &'static [&'static str] = &["ufrag", "pwd", "ice2"];
}

impl FromXml for IceTransport {
    fn read_with(el: &Element, reader: &mut Reader) -> Result<Self, Error> {
        const N: &str = "transport";
        let namespace = match IceNamespace::from_uri(&el.ns()) {
            Some(ns) if el.name() == N => ns,
            _ => return Err(element::mismatch(el, N, ns::JINGLE_ICE)),
        };
        let ufrag = attrs::optional_bounded(reader, el, N, "ufrag")?;
        if let Some(u) = &ufrag {
            attrs::UFRAG.check(reader, N, "ufrag", u)?;
        }
        let pwd = attrs::optional_bounded(reader, el, N, "pwd")?;
        if let Some(p) = &pwd {
            attrs::PWD.check(reader, N, "pwd", p)?;
        }
        let ice2 = el
            .attr("ice2")
            .map(|v| attrs::parse_bool(N, "ice2", v))
            .transpose()?;
        if ice2.is_some() && namespace == IceNamespace::IceUdp1 {
            reader.forgive(
                Error::UnknownAttribute {
                    element: N,
                    attribute: "ice2".into(),
                    rule: rules::UNKNOWN_ATTRIBUTE,
                },
                "kept",
            )?;
        }
        let extra = attrs::unknown_attributes(el, N, Self::KNOWN, reader)?;
        attrs::no_text(el, N, reader)?;

        let mut t = IceTransport {
            namespace,
            ufrag,
            pwd,
            ice2,
            candidates: Vec::new(),
            remote_candidates: Vec::new(),
            gathering_complete: false,
            others: Vec::new(),
            extra,
        };
        let max = reader.limits().max_candidates;
        for child in el.children() {
            let own = child.ns() == namespace.as_str();
            match child.name() {
                "candidate" if own => {
                    element::room_for(N, "candidate", t.candidates.len(), max)?;
                    t.candidates
                        .push(Candidate::read_in(child, namespace, reader)?);
                }
                "remote-candidate" if own => {
                    element::room_for(N, "remote-candidate", t.remote_candidates.len(), max)?;
                    t.remote_candidates
                        .push(RemoteCandidate::read_in(child, namespace, reader)?);
                }
                "gathering-complete" if own => {
                    if namespace == IceNamespace::IceUdp1 {
                        element::forgive_child(
                            reader,
                            N,
                            child,
                            rules::GATHERING_COMPLETE_NS,
                            "read as end-of-candidates",
                        )?;
                    }
                    attrs::no_text(child, "gathering-complete", reader)?;
                    t.gathering_complete = true;
                }
                _ if own => {
                    element::forgive_child(reader, N, child, rules::UNKNOWN_CHILD, "kept")?;
                    t.others.push(child.clone());
                }
                _ => t.others.push(child.clone()),
            }
        }
        if !t.candidates.is_empty() && !t.remote_candidates.is_empty() {
            reader.forgive(
                Error::Violation {
                    element: N,
                    rule: rules::TRANSPORT_CONTENT,
                },
                "kept both",
            )?;
        }
        if namespace == IceNamespace::IceUdp1 && t.remote_candidates.len() > 1 {
            reader.forgive(
                Error::Violation {
                    element: N,
                    rule: rules::ICE_UDP_ONE_REMOTE,
                },
                "kept all",
            )?;
        }
        if !t.candidates.is_empty() && (t.ufrag.is_none() || t.pwd.is_none()) {
            reader.forgive(
                Error::MissingAttribute {
                    element: N,
                    attribute: if t.ufrag.is_none() { "ufrag" } else { "pwd" },
                    rule: rules::CREDENTIALS_WITH_CANDIDATES,
                },
                "read as absent",
            )?;
        }
        Ok(t)
    }
}

crate::macros::impl_try_from!(IceTransport);

impl From<&IceTransport> for Element {
    fn from(t: &IceTransport) -> Element {
        let ns = t.namespace;
        let mut b = Element::builder("transport", ns.as_str());
        b = attrs::attr(b, "pwd", t.pwd.as_deref());
        b = attrs::attr(b, "ufrag", t.ufrag.as_deref());
        b = attrs::attr(b, "ice2", t.ice2.map(|v| if v { "true" } else { "false" }));
        b = attrs::set_extra(b, &t.extra);
        b = b.append_all(t.candidates.iter().map(|c| c.to_element(ns)));
        b = b.append_all(t.remote_candidates.iter().map(|c| c.to_element(ns)));
        if t.gathering_complete {
            b = b.append(Element::bare("gathering-complete", ns.as_str()));
        }
        b = b.append_all(t.others.iter().cloned());
        b.build()
    }
}
