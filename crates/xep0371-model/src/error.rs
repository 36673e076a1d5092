//! Errors, the rules they cite, and the strict and lenient readings.

use std::fmt;

use minidom::Element;

/// A normative rule of a specification, cited by every rejection and every diagnostic.
///
/// `id` is stable and short (`"candidate.priority-range"`), `source` names the document and
/// section (`"XEP-0371 §5.3"`), `text` states the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rule {
    /// Stable identifier, used by the conformance suite's errata list.
    pub id: &'static str,
    /// Where the rule is written, e.g. `"RFC 8445 §5.1.2.1"`.
    pub source: &'static str,
    /// The rule, stated briefly.
    pub text: &'static str,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]: {}", self.source, self.id, self.text)
    }
}

/// Every rule this crate checks, as constants so that errors, diagnostics and the conformance
/// suite name them the same way.
pub mod rules {
    use super::Rule;

    macro_rules! rules {
        ($($(#[$m:meta])* $name:ident = $id:literal, $source:literal, $text:literal;)*) => {
            $($(#[$m])* pub const $name: Rule = Rule { id: $id, source: $source, text: $text };)*

            /// Every rule above.
            pub const ALL: &[Rule] = &[$($name),*];
        };
    }

    rules! {
        /// A required attribute of a schema.
        SCHEMA_REQUIRED = "schema.required", "schema", "the attribute is required by the schema";
        /// `xs:unsignedByte`.
        UNSIGNED_BYTE = "xsd.unsigned-byte", "XML Schema xs:unsignedByte", "an integer from 0 to 255";
        /// `xs:unsignedShort`.
        UNSIGNED_SHORT = "xsd.unsigned-short", "XML Schema xs:unsignedShort", "an integer from 0 to 65535";
        /// `xs:boolean`.
        BOOLEAN = "xsd.boolean", "XML Schema xs:boolean", "one of true, false, 1, 0";
        /// `xs:NCName` identifiers.
        NCNAME = "xsd.ncname", "XML Schema xs:NCName", "a name without colons or spaces that does not start with a digit";
        /// Component ID range.
        COMPONENT_RANGE = "candidate.component-range", "RFC 8445 §5.1.1.1", "a component ID is a positive integer from 1 to 256";
        /// Priority range.
        PRIORITY_RANGE = "candidate.priority-range", "RFC 8445 §5.1.2.1", "the priority is a positive integer from 1 to 2^31-1";
        /// Priority as an unsigned 32-bit integer at all.
        PRIORITY_U32 = "candidate.priority-u32", "RFC 8445 §5.1.2.1", "the priority fits a 32-bit unsigned integer";
        /// Foundation grammar.
        FOUNDATION_GRAMMAR = "candidate.foundation-grammar", "RFC 8839 §5.1", "a foundation is 1 to 32 ice-chars (ALPHA / DIGIT / '+' / '/')";
        /// ufrag grammar.
        UFRAG_GRAMMAR = "transport.ufrag-grammar", "RFC 8839 §5.4", "ice-ufrag is 4 to 256 ice-chars";
        /// pwd grammar.
        PWD_GRAMMAR = "transport.pwd-grammar", "RFC 8839 §5.4", "ice-pwd is 22 to 256 ice-chars";
        /// Credentials with candidates.
        CREDENTIALS_WITH_CANDIDATES = "transport.credentials-with-candidates", "XEP-0371 §5.3", "pwd and ufrag MUST be included whenever one or more candidates are sent";
        /// IP literal.
        IP_ADDRESS = "candidate.ip", "XEP-0371 §5.3", "ip is an IPv4 or IPv6 address";
        /// Candidate type enumeration.
        CANDIDATE_TYPE = "candidate.type", "XEP-0371 §5.3", "type is one of host, prflx, relay, srflx";
        /// Protocol enumeration.
        PROTOCOL = "candidate.protocol", "XEP-0371 §5.3", "protocol is udp or tcp, in lower case";
        /// tcptype enumeration.
        TCPTYPE = "candidate.tcptype", "XEP-0371 §5.3", "tcptype is one of active, passive, so";
        /// tcptype only with tcp.
        TCPTYPE_WITH_TCP = "candidate.tcptype-with-tcp", "RFC 6544 §4.5", "tcptype is given for TCP candidates and only for them";
        /// tcptype not in ice-udp:1.
        TCPTYPE_ICE_UDP = "ice-udp.no-tcptype", "XEP-0176 §13", "the ice-udp:1 schema has no tcptype attribute";
        /// Related address for non-host candidates.
        RELATED_ADDRESS = "candidate.related-address", "RFC 8839 §5.1", "rel-addr and rel-port MUST be present for srflx, prflx and relay candidates";
        /// rel-addr and rel-port go together.
        RELATED_PAIR = "candidate.related-pair", "RFC 8839 §5.1", "rel-addr and rel-port are given together";
        /// The transport's content model.
        TRANSPORT_CONTENT = "transport.content-model", "XEP-0371 §13", "a transport holds candidates, or remote-candidates, or elements of other namespaces";
        /// One remote-candidate in ice-udp:1.
        ICE_UDP_ONE_REMOTE = "ice-udp.one-remote-candidate", "XEP-0176 §13", "the ice-udp:1 transport holds at most one remote-candidate";
        /// gathering-complete is an ice:0 element.
        GATHERING_COMPLETE_NS = "ice-udp.no-gathering-complete", "XEP-0371 §7", "gathering-complete is defined in the ice:0 namespace only";
        /// Unknown attribute.
        UNKNOWN_ATTRIBUTE = "schema.unknown-attribute", "schema", "the schema defines no such attribute";
        /// Unknown child in our own namespace.
        UNKNOWN_CHILD = "schema.unknown-child", "schema", "the schema defines no such child element";
        /// Jingle action enumeration.
        JINGLE_ACTION = "jingle.action", "XEP-0166 §7.2", "action is one of the fifteen Jingle actions";
        /// Content creator enumeration.
        CONTENT_CREATOR = "jingle.creator", "XEP-0166 §7.3", "creator is initiator or responder";
        /// Content senders enumeration.
        CONTENT_SENDERS = "jingle.senders", "XEP-0166 §7.3", "senders is one of both, initiator, none, responder";
        /// JIDs.
        JID = "xmpp.jid", "RFC 7622", "a well-formed JID";
        /// IQ types.
        IQ_TYPE = "iq.type", "RFC 6120 §8.2.3", "an IQ has type get, set, result or error";
        /// IQ id.
        IQ_ID = "iq.id", "RFC 6120 §8.1.3", "an IQ MUST have an id";
        /// IQ payload count.
        IQ_PAYLOAD = "iq.payload", "RFC 6120 §8.2.3", "a get or set IQ carries exactly one payload; a result at most one; an error one <error/> and at most the original payload";
        /// Stanza error shape.
        STANZA_ERROR = "iq.error", "RFC 6120 §8.3.2", "an error has a type and one defined condition";
        /// Raw UDP requires all attributes.
        RAW_UDP_REQUIRED = "raw-udp.required", "XEP-0177 §5", "all attributes of a Raw UDP candidate are REQUIRED (type is optional in the schema)";
        /// Limits.
        LIMIT = "limit", "xep0371-model limits", "hostile input is bounded";
        /// A listing must be well-formed XML.
        WELL_FORMED = "xml.well-formed", "XML 1.0 §2.1", "a document is well-formed";
        /// SDP grammar for a=candidate.
        SDP_CANDIDATE = "sdp.candidate", "RFC 8839 §5.1", "candidate-attribute grammar";
    }
}

/// Which reading a parser applies.
///
/// - [`Reading::Strict`]: the schema of the namespace and the ranges of the RFCs. Every
///   deviation is an [`Error`].
/// - [`Reading::Lenient`]: what deployed clients send. The deviations listed in the crate
///   documentation are forgiven and reported as [`Diagnostic`]s; everything else is an [`Error`]
///   as in the strict reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Reading {
    /// Schema and RFC ranges; no forgiveness.
    #[default]
    Strict,
    /// Deployed-client tolerance; forgiven deviations are reported.
    Lenient,
}

/// Bounds applied to hostile input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most `<candidate/>` (and `<remote-candidate/>`) children read from one transport.
    pub max_candidates: usize,
    /// Most `<content/>` children read from one `<jingle/>`.
    pub max_contents: usize,
    /// Most attributes kept as unknown on one element (lenient reading).
    pub max_unknown_attributes: usize,
    /// Longest attribute value accepted for strings the model keeps (ufrag, pwd, id, sid, names).
    pub max_string_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_candidates: 256,
            max_contents: 64,
            max_unknown_attributes: 32,
            max_string_len: 1024,
        }
    }
}

/// A rejection: what was wrong, where, and which rule it breaks.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The element is not the one this type reads; it is handed back, in the style of
    /// xmpp-parsers, so that another parser may try it.
    #[error("expected <{expected} xmlns='{expected_ns}'>, got <{} xmlns='{}'>", .element.name(), .element.ns())]
    Mismatch {
        /// Local name this type reads.
        expected: &'static str,
        /// Namespace (or one of the namespaces) this type reads.
        expected_ns: &'static str,
        /// The element, unchanged.
        element: Box<Element>,
    },
    /// A required attribute is absent.
    #[error("<{element}/> lacks attribute '{attribute}' ({rule})")]
    MissingAttribute {
        /// Element name.
        element: &'static str,
        /// Attribute name.
        attribute: &'static str,
        /// The rule requiring it.
        rule: Rule,
    },
    /// An attribute has a value outside its type or range.
    #[error("<{element} {attribute}='{value}'/> is invalid ({rule})")]
    InvalidAttribute {
        /// Element name.
        element: &'static str,
        /// Attribute name.
        attribute: String,
        /// The value as received (truncated to 64 characters).
        value: String,
        /// The rule broken.
        rule: Rule,
    },
    /// An attribute the schema does not define.
    #[error("<{element}/> has unknown attribute '{attribute}' ({rule})")]
    UnknownAttribute {
        /// Element name.
        element: &'static str,
        /// Attribute name.
        attribute: String,
        /// The rule broken.
        rule: Rule,
    },
    /// A child element that is not allowed here.
    #[error("<{element}/> may not contain <{child} xmlns='{child_ns}'/> ({rule})")]
    UnexpectedChild {
        /// Parent element name.
        element: &'static str,
        /// Child element name.
        child: String,
        /// Child namespace.
        child_ns: String,
        /// The rule broken.
        rule: Rule,
    },
    /// A required child element is absent.
    #[error("<{element}/> lacks child <{child}/> ({rule})")]
    MissingChild {
        /// Parent element name.
        element: &'static str,
        /// Child element name.
        child: &'static str,
        /// The rule requiring it.
        rule: Rule,
    },
    /// Text content where the schema says the element is empty, or bad text content.
    #[error("<{element}/> has invalid text content ({rule})")]
    InvalidText {
        /// Element name.
        element: &'static str,
        /// The rule broken.
        rule: Rule,
    },
    /// More children than [`Limits`] allow.
    #[error("<{element}/> has more than {limit} <{child}/> children ({rule})")]
    TooMany {
        /// Parent element name.
        element: &'static str,
        /// Child element name.
        child: &'static str,
        /// The limit in force.
        limit: usize,
        /// [`rules::LIMIT`].
        rule: Rule,
    },
    /// A rule that spans several attributes or elements.
    #[error("<{element}/>: {rule}")]
    Violation {
        /// Element name.
        element: &'static str,
        /// The rule broken.
        rule: Rule,
    },
    /// A line that is not an RFC 8839 candidate attribute.
    #[error("a=candidate line, field '{field}': {reason} ({rule})")]
    Sdp {
        /// Which field of the grammar failed.
        field: &'static str,
        /// What was wrong.
        reason: String,
        /// [`rules::SDP_CANDIDATE`] or a more precise rule.
        rule: Rule,
    },
    /// Bytes that are not a well-formed XML element.
    #[error("not well-formed XML: {0}")]
    Xml(String),
}

impl Error {
    /// The element the error is about, when it names one.
    pub fn element(&self) -> Option<&str> {
        match self {
            Error::Mismatch { element, .. } => Some(element.name()),
            Error::MissingAttribute { element, .. }
            | Error::InvalidAttribute { element, .. }
            | Error::UnknownAttribute { element, .. }
            | Error::UnexpectedChild { element, .. }
            | Error::MissingChild { element, .. }
            | Error::InvalidText { element, .. }
            | Error::TooMany { element, .. }
            | Error::Violation { element, .. } => Some(element),
            Error::Sdp { .. } | Error::Xml(_) => None,
        }
    }

    /// The attribute the error is about, when it names one.
    pub fn attribute(&self) -> Option<&str> {
        match self {
            Error::MissingAttribute { attribute, .. } => Some(attribute),
            Error::InvalidAttribute { attribute, .. }
            | Error::UnknownAttribute { attribute, .. } => Some(attribute),
            Error::Sdp { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The rule broken, when the error cites one.
    pub fn rule(&self) -> Option<Rule> {
        match self {
            Error::MissingAttribute { rule, .. }
            | Error::InvalidAttribute { rule, .. }
            | Error::UnknownAttribute { rule, .. }
            | Error::UnexpectedChild { rule, .. }
            | Error::MissingChild { rule, .. }
            | Error::InvalidText { rule, .. }
            | Error::TooMany { rule, .. }
            | Error::Violation { rule, .. }
            | Error::Sdp { rule, .. } => Some(*rule),
            Error::Mismatch { .. } => None,
            Error::Xml(_) => Some(rules::WELL_FORMED),
        }
    }

    pub(crate) fn invalid(element: &'static str, attribute: &str, value: &str, rule: Rule) -> Self {
        Error::InvalidAttribute {
            element,
            attribute: attribute.to_owned(),
            value: value.chars().take(64).collect(),
            rule,
        }
    }
}

impl From<minidom::Error> for Error {
    fn from(e: minidom::Error) -> Self {
        Error::Xml(e.to_string())
    }
}

/// What the lenient reading forgave: the error the strict reading would have returned, and what
/// the lenient reading did instead.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// The error of the strict reading.
    pub error: Error,
    /// What was done instead, e.g. `"kept"`, `"ignored"`, `"read as lower case"`.
    pub action: &'static str,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; {}", self.error, self.action)
    }
}

/// A value read from XML, with the diagnostics of the lenient reading (always empty for the
/// strict reading).
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<T> {
    /// The value.
    pub value: T,
    /// What the lenient reading forgave, in document order.
    pub diagnostics: Vec<Diagnostic>,
}

/// The reading in progress: mode, limits and the diagnostics collected so far.
///
/// Users normally call [`FromXml::read`]; a `Reader` is public so that a caller reading several
/// elements (a whole Jingle IQ, say) collects their diagnostics in one place.
#[derive(Debug, Clone)]
pub struct Reader {
    reading: Reading,
    limits: Limits,
    diagnostics: Vec<Diagnostic>,
}

impl Reader {
    /// A reader for `reading` with default [`Limits`].
    pub fn new(reading: Reading) -> Self {
        Reader {
            reading,
            limits: Limits::default(),
            diagnostics: Vec::new(),
        }
    }

    /// The same reader with other limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The reading in force.
    pub fn reading(&self) -> Reading {
        self.reading
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The diagnostics collected so far.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// Takes the diagnostics collected so far.
    pub fn take_diagnostics(&mut self) -> Vec<Diagnostic> {
        std::mem::take(&mut self.diagnostics)
    }

    /// Strict: returns `error`. Lenient: records it with `action` and returns `Ok`.
    pub fn forgive(&mut self, error: Error, action: &'static str) -> Result<(), Error> {
        match self.reading {
            Reading::Strict => Err(error),
            Reading::Lenient => {
                self.diagnostics.push(Diagnostic { error, action });
                Ok(())
            }
        }
    }
}

/// Types read from a minidom [`Element`] under a [`Reading`].
pub trait FromXml: Sized {
    /// Reads `element` with `reader`, which collects diagnostics.
    fn read_with(element: &Element, reader: &mut Reader) -> Result<Self, Error>;

    /// Reads `element` under `reading` with default limits.
    fn read(element: &Element, reading: Reading) -> Result<Parsed<Self>, Error> {
        let mut reader = Reader::new(reading);
        let value = Self::read_with(element, &mut reader)?;
        Ok(Parsed {
            value,
            diagnostics: reader.take_diagnostics(),
        })
    }
}

/// Parses `xml` into an element; an unprefixed root without a namespace (as in the XEP listings,
/// where the stream supplies it) is read in `jabber:client`.
///
/// Documents with a DTD are refused by the XML parser (no entity expansion). Inputs larger than
/// `max_len` bytes are refused before parsing.
pub fn parse_element(xml: &str, max_len: usize) -> Result<Element, Error> {
    if xml.len() > max_len {
        return Err(Error::TooMany {
            element: "document",
            child: "byte",
            limit: max_len,
            rule: rules::LIMIT,
        });
    }
    Element::from_reader_with_prefixes(xml.as_bytes(), Some(crate::ns::CLIENT.to_owned())).map_err(|e| {
        // RFC 6120 §11.1: XMPP forbids DTDs; the parser refuses them, with a message about
        // syntax. Say why instead.
        if xml.contains("<!DOCTYPE") {
            Error::Xml("a document type declaration (DTD) is not allowed in XMPP (RFC 6120 §11.1); entities are never expanded".into())
        } else {
            Error::from(e)
        }
    })
}

/// The strict reading behind every `TryFrom<Element>`: a [`Error::Mismatch`] hands the element
/// back, as xmpp-parsers does.
pub(crate) fn try_from_strict<T: FromXml>(el: Element) -> Result<T, Error> {
    let mut reader = Reader::new(Reading::Strict);
    T::read_with(&el, &mut reader).map_err(|e| match e {
        Error::Mismatch {
            expected,
            expected_ns,
            ..
        } => Error::Mismatch {
            expected,
            expected_ns,
            element: Box::new(el),
        },
        e => e,
    })
}
