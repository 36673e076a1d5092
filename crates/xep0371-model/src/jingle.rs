//! The Jingle envelope of XEP-0166 that the XEP-0371 listings use.

use jid::Jid;
use minidom::Element;

use crate::attrs::{self, ExtraAttributes};
use crate::element;
use crate::error::{Error, FromXml, Reader, rules};
use crate::macros::string_enum;
use crate::ns::{self, IceNamespace};
use crate::raw_udp::RawUdpTransport;
use crate::transport::IceTransport;

string_enum!(
    /// A Jingle action (XEP-0166 §7.2).
    Action, "jingle", "action", rules::JINGLE_ACTION, {
        /// Accept a content-add.
        ContentAccept = "content-accept",
        /// Add a content.
        ContentAdd = "content-add",
        /// Change a content's senders.
        ContentModify = "content-modify",
        /// Reject a content-add.
        ContentReject = "content-reject",
        /// Remove a content.
        ContentRemove = "content-remove",
        /// Description parameters.
        DescriptionInfo = "description-info",
        /// Security parameters.
        SecurityInfo = "security-info",
        /// Accept the session.
        SessionAccept = "session-accept",
        /// Session information.
        SessionInfo = "session-info",
        /// Start a session.
        SessionInitiate = "session-initiate",
        /// End a session.
        SessionTerminate = "session-terminate",
        /// Accept a transport-replace.
        TransportAccept = "transport-accept",
        /// Transport information: candidates, end-of-candidates, restarts.
        TransportInfo = "transport-info",
        /// Reject a transport-replace.
        TransportReject = "transport-reject",
        /// Replace a content's transport (XEP-0371 §6 fallback).
        TransportReplace = "transport-replace",
    }
);

string_enum!(
    /// Which party created a content (XEP-0166 §7.3).
    Creator, "content", "creator", rules::CONTENT_CREATOR, {
        /// The session initiator.
        Initiator = "initiator",
        /// The session responder.
        Responder = "responder",
    }
);

string_enum!(
    /// Which parties send media of a content (XEP-0166 §7.3); `both` when absent.
    Senders, "content", "senders", rules::CONTENT_SENDERS, {
        /// Both parties.
        Both = "both",
        /// The initiator only.
        Initiator = "initiator",
        /// Neither.
        None = "none",
        /// The responder only.
        Responder = "responder",
    }
);

/// The transport of a content.
#[derive(Debug, Clone, PartialEq)]
pub enum Transport {
    /// ICE, either namespace.
    Ice(IceTransport),
    /// Raw UDP (XEP-0177).
    RawUdp(RawUdpTransport),
    /// Any other transport, kept as it came.
    Other(Element),
}

impl Transport {
    /// The ICE transport, if this is one.
    pub fn as_ice(&self) -> Option<&IceTransport> {
        match self {
            Transport::Ice(t) => Some(t),
            _ => None,
        }
    }

    /// The namespace of the transport element.
    pub fn namespace(&self) -> String {
        match self {
            Transport::Ice(t) => t.namespace.as_str().to_owned(),
            Transport::RawUdp(_) => ns::JINGLE_RAW_UDP.to_owned(),
            Transport::Other(el) => el.ns(),
        }
    }
}

impl FromXml for Transport {
    fn read_with(el: &Element, reader: &mut Reader) -> Result<Self, Error> {
        let ns = el.ns();
        if IceNamespace::from_uri(&ns).is_some() {
            Ok(Transport::Ice(IceTransport::read_with(el, reader)?))
        } else if ns == ns::JINGLE_RAW_UDP {
            Ok(Transport::RawUdp(RawUdpTransport::read_with(el, reader)?))
        } else {
            Ok(Transport::Other(el.clone()))
        }
    }
}

impl From<&Transport> for Element {
    fn from(t: &Transport) -> Element {
        match t {
            Transport::Ice(t) => t.into(),
            Transport::RawUdp(t) => t.into(),
            Transport::Other(el) => el.clone(),
        }
    }
}

/// A `<content/>` (XEP-0166 §7.3). The description is kept opaque.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    /// Who created the content.
    pub creator: Creator,
    /// The content's name, unique within the session together with `creator`.
    pub name: String,
    /// Who sends; `None` means absent (`both`).
    pub senders: Option<Senders>,
    /// `disposition`, absent meaning `session`.
    pub disposition: Option<String>,
    /// The application description, opaque.
    pub description: Option<Element>,
    /// The transport.
    pub transport: Option<Transport>,
    /// Other children (security, extensions), kept.
    pub others: Vec<Element>,
    /// Attributes the schema does not define, kept by the lenient reading.
    pub extra: ExtraAttributes,
}

impl Content {
    /// A content with a creator and a name and nothing else.
    pub fn new(creator: Creator, name: impl Into<String>) -> Self {
        Content {
            creator,
            name: name.into(),
            senders: None,
            disposition: None,
            description: None,
            transport: None,
            others: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// The ICE transport of the content, if it has one.
    pub fn ice(&self) -> Option<&IceTransport> {
        self.transport.as_ref().and_then(Transport::as_ice)
    }
}

impl FromXml for Content {
    fn read_with(el: &Element, reader: &mut Reader) -> Result<Self, Error> {
        const N: &str = "content";
        element::expect(el, N, ns::JINGLE)?;
        let creator = attrs::require(el, N, "creator")?.parse()?;
        let name = attrs::require_bounded(reader, el, N, "name")?;
        let senders = el.attr("senders").map(str::parse).transpose()?;
        let disposition = attrs::optional_bounded(reader, el, N, "disposition")?;
        let extra = attrs::unknown_attributes(
            el,
            N,
            &["creator", "name", "senders", "disposition"],
            reader,
        )?;
        attrs::no_text(el, N, reader)?;
        let mut c = Content {
            creator,
            name,
            senders,
            disposition,
            description: None,
            transport: None,
            others: Vec::new(),
            extra,
        };
        for child in el.children() {
            if child.ns() == ns::JINGLE {
                element::forgive_child(reader, N, child, rules::UNKNOWN_CHILD, "kept")?;
                c.others.push(child.clone());
            } else if child.name() == "description" && c.description.is_none() {
                c.description = Some(child.clone());
            } else if child.name() == "transport" && c.transport.is_none() {
                c.transport = Some(Transport::read_with(child, reader)?);
            } else {
                c.others.push(child.clone());
            }
        }
        Ok(c)
    }
}

impl From<&Content> for Element {
    fn from(c: &Content) -> Element {
        let mut b = Element::builder("content", ns::JINGLE);
        b = attrs::attr(b, "creator", c.creator.as_str());
        b = attrs::attr(b, "name", c.name.as_str());
        b = attrs::attr(b, "senders", c.senders.map(Senders::as_str));
        b = attrs::attr(b, "disposition", c.disposition.as_deref());
        b = attrs::set_extra(b, &c.extra);
        b = b.append_all(c.description.iter().cloned());
        b = b.append_all(c.transport.iter().map(Element::from));
        b.append_all(c.others.iter().cloned()).build()
    }
}

crate::macros::impl_try_from!(Content);

/// The `<jingle/>` element (XEP-0166 §7.1).
#[derive(Debug, Clone, PartialEq)]
pub struct Jingle {
    /// The action.
    pub action: Action,
    /// Session ID.
    pub sid: String,
    /// The initiator's full JID.
    pub initiator: Option<Jid>,
    /// The responder's full JID.
    pub responder: Option<Jid>,
    /// Contents.
    pub contents: Vec<Content>,
    /// `<reason/>`, opaque.
    pub reason: Option<Element>,
    /// Children of other namespaces, kept.
    pub others: Vec<Element>,
    /// Attributes the schema does not define, kept by the lenient reading.
    pub extra: ExtraAttributes,
}

impl Jingle {
    /// A `<jingle/>` with an action and a session ID and nothing else.
    pub fn new(action: Action, sid: impl Into<String>) -> Self {
        Jingle {
            action,
            sid: sid.into(),
            initiator: None,
            responder: None,
            contents: Vec::new(),
            reason: None,
            others: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// The ICE transports of all contents, with their contents.
    pub fn ice_transports(&self) -> impl Iterator<Item = (&Content, &IceTransport)> {
        self.contents.iter().filter_map(|c| c.ice().map(|t| (c, t)))
    }
}

impl FromXml for Jingle {
    fn read_with(el: &Element, reader: &mut Reader) -> Result<Self, Error> {
        const N: &str = "jingle";
        element::expect(el, N, ns::JINGLE)?;
        let action = attrs::require(el, N, "action")?.parse()?;
        let sid = attrs::require_bounded(reader, el, N, "sid")?;
        if sid.is_empty() || sid.chars().any(char::is_whitespace) {
            return Err(Error::invalid(N, "sid", &sid, rules::NCNAME));
        }
        let initiator = el
            .attr("initiator")
            .map(|v| attrs::parse_jid(N, "initiator", v))
            .transpose()?;
        let responder = el
            .attr("responder")
            .map(|v| attrs::parse_jid(N, "responder", v))
            .transpose()?;
        let extra =
            attrs::unknown_attributes(el, N, &["action", "sid", "initiator", "responder"], reader)?;
        attrs::no_text(el, N, reader)?;
        let mut j = Jingle {
            action,
            sid,
            initiator,
            responder,
            contents: Vec::new(),
            reason: None,
            others: Vec::new(),
            extra,
        };
        let max = reader.limits().max_contents;
        for child in el.children() {
            if child.is("content", ns::JINGLE) {
                element::room_for(N, "content", j.contents.len(), max)?;
                j.contents.push(Content::read_with(child, reader)?);
            } else if child.is("reason", ns::JINGLE) && j.reason.is_none() {
                j.reason = Some(child.clone());
            } else if child.ns() == ns::JINGLE {
                element::forgive_child(reader, N, child, rules::UNKNOWN_CHILD, "kept")?;
                j.others.push(child.clone());
            } else {
                j.others.push(child.clone());
            }
        }
        Ok(j)
    }
}

impl From<&Jingle> for Element {
    fn from(j: &Jingle) -> Element {
        let mut b = Element::builder("jingle", ns::JINGLE);
        b = attrs::attr(b, "action", j.action.as_str());
        b = attrs::attr(b, "initiator", j.initiator.as_ref().map(Jid::to_string));
        b = attrs::attr(b, "responder", j.responder.as_ref().map(Jid::to_string));
        b = attrs::attr(b, "sid", j.sid.as_str());
        b = attrs::set_extra(b, &j.extra);
        b = b.append_all(j.contents.iter().map(Element::from));
        b = b.append_all(j.reason.iter().cloned());
        b.append_all(j.others.iter().cloned()).build()
    }
}

crate::macros::impl_try_from!(Jingle);
