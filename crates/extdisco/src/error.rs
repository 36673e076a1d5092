//! Rejections, and the diagnostics of what the lenient reading forgave.

use minidom::Element;

/// A rejection. Each variant names the rule it applies; the message cites the section.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// Not an element of this crate (name or namespace); handed back.
    #[error("not an External Service Discovery element: <{} xmlns='{}'>", .0.name(), .0.ns())]
    Mismatch(Box<Element>),
    /// A required attribute is missing (XEP-0215 §2: `host` and `type` are REQUIRED).
    #[error("<{element}/> lacks the required attribute '{name}' (XEP-0215 §2, §10)")]
    MissingAttribute {
        /// The element.
        element: &'static str,
        /// The attribute.
        name: &'static str,
    },
    /// An attribute whose value does not fit its type (XEP-0215 §10).
    #[error("<{element} {name}='{value}'/>: {rule}")]
    InvalidAttribute {
        /// The element.
        element: &'static str,
        /// The attribute.
        name: &'static str,
        /// The value (at most 64 characters of it).
        value: String,
        /// The rule broken, with its section.
        rule: &'static str,
    },
    /// An attribute the schema of this namespace does not define.
    #[error("<{element}/> in {namespace} has no attribute '{name}' ({rule})")]
    UnknownAttribute {
        /// The element.
        element: &'static str,
        /// The namespace.
        namespace: &'static str,
        /// The attribute.
        name: String,
        /// The rule, with its section.
        rule: &'static str,
    },
    /// `expires` not in UTC (XEP-0215 §2: "MUST be expressed in UTC").
    #[error("expires='{value}' is not in UTC (XEP-0215 §2: \"MUST be expressed in UTC\")")]
    ExpiresNotUtc {
        /// The value.
        value: String,
    },
    /// `expires` without a time zone designator (XEP-0082 §3.2).
    #[error("expires='{value}' has no time zone designator (XEP-0082 §3.2 DateTime profile)")]
    ExpiresWithoutTzd {
        /// The value.
        value: String,
    },
    /// A child the schema does not allow.
    #[error("<{element}/> may not contain <{child} xmlns='{child_ns}'/> (XEP-0215 §10)")]
    UnexpectedChild {
        /// The parent.
        element: &'static str,
        /// The child's name.
        child: String,
        /// The child's namespace.
        child_ns: String,
    },
    /// Text where the schema has none.
    #[error("<{element}/> may not contain text (XEP-0215 §10)")]
    UnexpectedText {
        /// The element.
        element: &'static str,
    },
    /// A count or size beyond [`crate::Limits`].
    #[error("{what}: more than {limit}")]
    Limit {
        /// What was counted.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// Not an IQ, or an IQ without what RFC 6120 requires.
    #[error("not a usable IQ: {0}")]
    Iq(&'static str),
}

/// What the lenient reading forgave: the error the strict reading gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic(pub Error);

pub(crate) fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}
