//! The IQ stanza (RFC 6120 §8.2.3) and stanza errors with the Jingle conditions of XEP-0166 §10.

use jid::Jid;
use minidom::Element;

use crate::attrs;
use crate::element;
use crate::error::{Error, FromXml, Reader, rules};
use crate::macros::string_enum;
use crate::ns;

/// What an IQ carries, by type.
#[derive(Debug, Clone, PartialEq)]
pub enum IqPayload {
    /// `type='get'` with its one payload.
    Get(Element),
    /// `type='set'` with its one payload.
    Set(Element),
    /// `type='result'` with at most one payload.
    Result(Option<Element>),
    /// `type='error'`, with the original payload when the error echoes it.
    Error {
        /// The error.
        error: StanzaError,
        /// The payload of the request, if echoed.
        original: Option<Element>,
    },
}

impl IqPayload {
    /// The `type` attribute.
    pub fn type_str(&self) -> &'static str {
        match self {
            IqPayload::Get(_) => "get",
            IqPayload::Set(_) => "set",
            IqPayload::Result(_) => "result",
            IqPayload::Error { .. } => "error",
        }
    }

    /// The payload element (for an error, the echoed original).
    pub fn element(&self) -> Option<&Element> {
        match self {
            IqPayload::Get(e) | IqPayload::Set(e) => Some(e),
            IqPayload::Result(e) | IqPayload::Error { original: e, .. } => e.as_ref(),
        }
    }
}

/// An `<iq/>` stanza with typed JIDs.
///
/// Listings and test stanzas carry no namespace on `<iq/>` (the stream supplies it); read them
/// with [`crate::parse_element`], which puts an unqualified root in `jabber:client`. The writer
/// uses `jabber:client`.
#[derive(Debug, Clone, PartialEq)]
pub struct Iq {
    /// Sender.
    pub from: Option<Jid>,
    /// Recipient.
    pub to: Option<Jid>,
    /// Request identifier; a reply carries the request's.
    pub id: String,
    /// Type and payload.
    pub payload: IqPayload,
}

impl Iq {
    /// An IQ-set carrying `payload`.
    pub fn set(
        from: Option<Jid>,
        to: Option<Jid>,
        id: impl Into<String>,
        payload: impl Into<Element>,
    ) -> Self {
        Iq {
            from,
            to,
            id: id.into(),
            payload: IqPayload::Set(payload.into()),
        }
    }

    /// An IQ-get carrying `payload`.
    pub fn get(
        from: Option<Jid>,
        to: Option<Jid>,
        id: impl Into<String>,
        payload: impl Into<Element>,
    ) -> Self {
        Iq {
            from,
            to,
            id: id.into(),
            payload: IqPayload::Get(payload.into()),
        }
    }

    /// The empty IQ-result that acknowledges this request (addresses swapped, same id).
    pub fn result_reply(&self) -> Iq {
        Iq {
            from: self.to.clone(),
            to: self.from.clone(),
            id: self.id.clone(),
            payload: IqPayload::Result(None),
        }
    }

    /// The IQ-error that answers this request with `error`.
    pub fn error_reply(&self, error: StanzaError) -> Iq {
        Iq {
            from: self.to.clone(),
            to: self.from.clone(),
            id: self.id.clone(),
            payload: IqPayload::Error {
                error,
                original: None,
            },
        }
    }

    /// Whether `reply` answers this request: result or error, same id, addresses swapped (an
    /// absent address on either side matches anything, since the server fills it in).
    pub fn is_answered_by(&self, reply: &Iq) -> bool {
        fn same(a: &Option<Jid>, b: &Option<Jid>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
        }
        matches!(
            reply.payload,
            IqPayload::Result(_) | IqPayload::Error { .. }
        ) && reply.id == self.id
            && same(&reply.from, &self.to)
            && same(&reply.to, &self.from)
    }
}

impl FromXml for Iq {
    fn read_with(el: &Element, reader: &mut Reader) -> Result<Self, Error> {
        const N: &str = "iq";
        if el.name() != N || !(el.ns() == ns::CLIENT || el.ns() == "jabber:server") {
            return Err(element::mismatch(el, N, ns::CLIENT));
        }
        let jid = |attr: &'static str| -> Result<Option<Jid>, Error> {
            el.attr(attr)
                .map(|v| attrs::parse_jid(N, attr, v))
                .transpose()
        };
        let from = jid("from")?;
        let to = jid("to")?;
        let id = match el.attr("id") {
            Some(v) => attrs::bounded(reader, N, "id", v)?,
            None => {
                return Err(Error::MissingAttribute {
                    element: N,
                    attribute: "id",
                    rule: rules::IQ_ID,
                });
            }
        };
        let type_ = el.attr("type").ok_or(Error::MissingAttribute {
            element: N,
            attribute: "type",
            rule: rules::IQ_TYPE,
        })?;
        attrs::ignore_unknown_attributes(el, N, &["from", "to", "id", "type"], reader)?;
        attrs::no_text(el, N, reader)?;
        let children: Vec<&Element> = el.children().collect();
        let one = |allow_none: bool| -> Result<Option<Element>, Error> {
            match children.as_slice() {
                [] if allow_none => Ok(None),
                [c] => Ok(Some((*c).clone())),
                _ => Err(Error::Violation {
                    element: N,
                    rule: rules::IQ_PAYLOAD,
                }),
            }
        };
        let payload = match type_ {
            "get" => IqPayload::Get(one(false)?.ok_or(Error::Violation {
                element: N,
                rule: rules::IQ_PAYLOAD,
            })?),
            "set" => IqPayload::Set(one(false)?.ok_or(Error::Violation {
                element: N,
                rule: rules::IQ_PAYLOAD,
            })?),
            "result" => IqPayload::Result(one(true)?),
            "error" => {
                let mut error = None;
                let mut original = None;
                for c in &children {
                    // RFC 6120 §8.3.1: one <error/> child, qualified by the stanza's namespace;
                    // anything else is the echoed original payload. A second <error/> would be
                    // ambiguous (which one is the error?), so it is refused.
                    if c.name() == "error" && c.ns() == el.ns() {
                        if error.is_some() {
                            return Err(Error::Violation {
                                element: N,
                                rule: rules::IQ_PAYLOAD,
                            });
                        }
                        error = Some(StanzaError::read_with(c, reader)?);
                    } else if original.is_none() {
                        original = Some((*c).clone());
                    } else {
                        return Err(Error::Violation {
                            element: N,
                            rule: rules::IQ_PAYLOAD,
                        });
                    }
                }
                let error = error.ok_or(Error::MissingChild {
                    element: N,
                    child: "error",
                    rule: rules::STANZA_ERROR,
                })?;
                IqPayload::Error { error, original }
            }
            other => return Err(Error::invalid(N, "type", other, rules::IQ_TYPE)),
        };
        Ok(Iq {
            from,
            to,
            id,
            payload,
        })
    }
}

impl From<&Iq> for Element {
    fn from(iq: &Iq) -> Element {
        let mut b = Element::builder("iq", ns::CLIENT);
        b = attrs::attr(b, "from", iq.from.as_ref().map(Jid::to_string));
        b = attrs::attr(b, "id", iq.id.as_str());
        b = attrs::attr(b, "to", iq.to.as_ref().map(Jid::to_string));
        b = attrs::attr(b, "type", iq.payload.type_str());
        match &iq.payload {
            IqPayload::Get(e) | IqPayload::Set(e) => b = b.append(e.clone()),
            IqPayload::Result(e) => b = b.append_all(e.iter().cloned()),
            IqPayload::Error { error, original } => {
                b = b.append_all(original.iter().cloned());
                b = b.append(Element::from(error));
            }
        }
        b.build()
    }
}

crate::macros::impl_try_from!(Iq);

string_enum!(
    /// The error type (RFC 6120 §8.3.2).
    ErrorType, "error", "type", rules::STANZA_ERROR, {
        /// Retry after providing credentials.
        Auth = "auth",
        /// Do not retry.
        Cancel = "cancel",
        /// Proceed; the condition was only a warning.
        Continue = "continue",
        /// Retry after changing the data sent.
        Modify = "modify",
        /// Retry after waiting.
        Wait = "wait",
    }
);

string_enum!(
    /// The defined conditions of RFC 6120 §8.3.3.
    DefinedCondition, "error", "condition", rules::STANZA_ERROR, {
        /// bad-request
        BadRequest = "bad-request",
        /// conflict
        Conflict = "conflict",
        /// feature-not-implemented
        FeatureNotImplemented = "feature-not-implemented",
        /// forbidden
        Forbidden = "forbidden",
        /// gone
        Gone = "gone",
        /// internal-server-error
        InternalServerError = "internal-server-error",
        /// item-not-found
        ItemNotFound = "item-not-found",
        /// jid-malformed
        JidMalformed = "jid-malformed",
        /// not-acceptable
        NotAcceptable = "not-acceptable",
        /// not-allowed
        NotAllowed = "not-allowed",
        /// not-authorized
        NotAuthorized = "not-authorized",
        /// policy-violation
        PolicyViolation = "policy-violation",
        /// recipient-unavailable
        RecipientUnavailable = "recipient-unavailable",
        /// redirect
        Redirect = "redirect",
        /// registration-required
        RegistrationRequired = "registration-required",
        /// remote-server-not-found
        RemoteServerNotFound = "remote-server-not-found",
        /// remote-server-timeout
        RemoteServerTimeout = "remote-server-timeout",
        /// resource-constraint
        ResourceConstraint = "resource-constraint",
        /// service-unavailable
        ServiceUnavailable = "service-unavailable",
        /// subscription-required
        SubscriptionRequired = "subscription-required",
        /// undefined-condition
        UndefinedCondition = "undefined-condition",
        /// unexpected-request
        UnexpectedRequest = "unexpected-request",
    }
);

string_enum!(
    /// The Jingle-specific error conditions (XEP-0166 §10, `urn:xmpp:jingle:errors:1`).
    JingleCondition, "error", "jingle condition", rules::STANZA_ERROR, {
        /// The request cannot occur at this point in the state machine.
        OutOfOrder = "out-of-order",
        /// The request was sent while the initiator awaited a reply on a similar request.
        TieBreak = "tie-break",
        /// The `sid` is unknown to the recipient.
        UnknownSession = "unknown-session",
        /// The informational payload is not supported.
        UnsupportedInfo = "unsupported-info",
        /// The information must be sent over an encrypted channel (XEP-0166 §12).
        SecurityRequired = "security-required",
    }
);

impl JingleCondition {
    /// The XMPP condition and error type XEP-0166 pairs with this condition (§10 table; types
    /// from its examples, `cancel` for out-of-order, which has none).
    pub fn stanza_condition(self) -> (ErrorType, DefinedCondition) {
        match self {
            JingleCondition::OutOfOrder => (ErrorType::Cancel, DefinedCondition::UnexpectedRequest),
            JingleCondition::TieBreak => (ErrorType::Cancel, DefinedCondition::Conflict),
            JingleCondition::UnknownSession => (ErrorType::Cancel, DefinedCondition::ItemNotFound),
            JingleCondition::UnsupportedInfo => {
                (ErrorType::Modify, DefinedCondition::FeatureNotImplemented)
            }
            JingleCondition::SecurityRequired => {
                (ErrorType::Cancel, DefinedCondition::NotAcceptable)
            }
        }
    }
}

/// A stanza error (RFC 6120 §8.3), with an optional Jingle condition.
#[derive(Debug, Clone, PartialEq)]
pub struct StanzaError {
    /// Error type.
    pub type_: ErrorType,
    /// Defined condition.
    pub condition: DefinedCondition,
    /// Jingle-specific condition (XEP-0166 §10).
    pub jingle: Option<JingleCondition>,
    /// Human-readable text.
    pub text: Option<String>,
    /// Other application-specific conditions, kept.
    pub others: Vec<Element>,
}

impl StanzaError {
    /// An error with a defined condition only.
    pub fn new(type_: ErrorType, condition: DefinedCondition) -> Self {
        StanzaError {
            type_,
            condition,
            jingle: None,
            text: None,
            others: Vec::new(),
        }
    }

    /// The error XEP-0166 prescribes for a Jingle condition.
    pub fn jingle(condition: JingleCondition) -> Self {
        let (type_, defined) = condition.stanza_condition();
        StanzaError {
            jingle: Some(condition),
            ..StanzaError::new(type_, defined)
        }
    }

    /// `bad-request` (type modify), e.g. for a malformed transport.
    pub fn bad_request(text: Option<String>) -> Self {
        StanzaError {
            text,
            ..StanzaError::new(ErrorType::Modify, DefinedCondition::BadRequest)
        }
    }
}

impl FromXml for StanzaError {
    fn read_with(el: &Element, reader: &mut Reader) -> Result<Self, Error> {
        const N: &str = "error";
        if el.name() != N {
            return Err(element::mismatch(el, N, ns::CLIENT));
        }
        let type_ = attrs::require(el, N, "type")?.parse()?;
        attrs::ignore_unknown_attributes(el, N, &["type", "by"], reader)?;
        let mut condition = None;
        let mut jingle = None;
        let mut text = None;
        let mut others = Vec::new();
        for c in el.children() {
            if c.ns() == ns::XMPP_STANZAS {
                if c.name() == "text" {
                    text = Some(attrs::bounded(reader, N, "text", &c.text())?);
                } else if condition.is_none() {
                    condition = Some(c.name().parse::<DefinedCondition>()?);
                } else {
                    return Err(Error::Violation {
                        element: N,
                        rule: rules::STANZA_ERROR,
                    });
                }
            } else if c.ns() == ns::JINGLE_ERRORS && jingle.is_none() {
                jingle = Some(c.name().parse::<JingleCondition>()?);
            } else {
                others.push(c.clone());
            }
        }
        let condition = condition.ok_or(Error::MissingChild {
            element: N,
            child: "defined condition",
            rule: rules::STANZA_ERROR,
        })?;
        Ok(StanzaError {
            type_,
            condition,
            jingle,
            text,
            others,
        })
    }
}

impl From<&StanzaError> for Element {
    fn from(e: &StanzaError) -> Element {
        let mut b = Element::builder("error", ns::CLIENT);
        b = attrs::attr(b, "type", e.type_.as_str());
        b = b.append(Element::bare(e.condition.as_str(), ns::XMPP_STANZAS));
        if let Some(t) = &e.text {
            b = b.append(
                Element::builder("text", ns::XMPP_STANZAS)
                    .append(t.as_str())
                    .build(),
            );
        }
        if let Some(j) = e.jingle {
            b = b.append(Element::bare(j.as_str(), ns::JINGLE_ERRORS));
        }
        b.append_all(e.others.iter().cloned()).build()
    }
}

crate::macros::impl_try_from!(StanzaError);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FromXml, Reading, parse_element};

    fn request() -> Iq {
        let j = crate::Jingle::new(crate::Action::TransportInfo, "a73sjjvkla37jfea");
        Iq::set(
            Some("juliet@capulet.lit/balcony".parse().unwrap()),
            Some("romeo@montague.lit/orchard".parse().unwrap()),
            "hb2f164w",
            &j,
        )
    }

    /// XEP-0166 §7.2.16 (tie-break), example "Initiator returns conflict error on tie-break".
    #[test]
    fn xep0166_example_tie_break() {
        let spec = "<iq from='romeo@montague.lit/orchard' id='hb2f164w' to='juliet@capulet.lit/balcony' type='error'>
  <error type='cancel'>
    <conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
    <tie-break xmlns='urn:xmpp:jingle:errors:1'/>
  </error>
</iq>";
        let from_spec = Iq::try_from(parse_element(spec, 1 << 16).unwrap()).unwrap();
        let built = request().error_reply(StanzaError::jingle(JingleCondition::TieBreak));
        assert_eq!(built, from_spec);
        assert!(request().is_answered_by(&built));
        assert_eq!(Iq::try_from(Element::from(&built)).unwrap(), built);
    }

    /// XEP-0166 §6.7, example "Unknown-session error".
    #[test]
    fn xep0166_example_unknown_session() {
        let spec = "<iq from='romeo@montague.lit/orchard' id='ur71vs62' to='juliet@capulet.lit/balcony' type='error'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><unknown-session xmlns='urn:xmpp:jingle:errors:1'/></error></iq>";
        let iq = Iq::try_from(parse_element(spec, 1 << 16).unwrap()).unwrap();
        match iq.payload {
            IqPayload::Error {
                error,
                original: None,
            } => {
                assert_eq!(error, StanzaError::jingle(JingleCondition::UnknownSession));
            }
            other => panic!("{other:?}"),
        }
    }

    /// Found by the `transport` fuzz target: with two `<error/>` children, writing back put the
    /// second (kept as the "original payload") first, and the re-read took it as the error.
    #[test]
    fn two_error_children_are_refused_and_a_foreign_error_is_the_original() {
        let two = "<iq id='a' type='error'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error><error type='cancel'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>";
        let el = parse_element(two, 1 << 16).unwrap();
        for reading in [Reading::Strict, Reading::Lenient] {
            let e = Iq::read(&el, reading).unwrap_err();
            assert_eq!(e.rule(), Some(rules::IQ_PAYLOAD), "{e}");
        }
        // An <error/> of another namespace is a payload like any other, before or after the error.
        for xml in [
            "<iq id='a' type='error'><error xmlns='urn:example'/><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
            "<iq id='a' type='error'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error><error xmlns='urn:example'/></iq>",
        ] {
            let iq = Iq::try_from(parse_element(xml, 1 << 16).unwrap()).unwrap();
            let IqPayload::Error { error, original } = &iq.payload else {
                panic!("{iq:?}")
            };
            assert_eq!(error.condition, DefinedCondition::ItemNotFound);
            assert_eq!(
                original.as_ref().map(|o| o.ns()),
                Some("urn:example".to_owned())
            );
            let again = Iq::try_from(Element::from(&iq)).unwrap();
            assert_eq!(again, iq);
        }
    }

    #[test]
    fn every_jingle_condition_round_trips() {
        for c in JingleCondition::ALL {
            let e = StanzaError::jingle(*c);
            assert_eq!(StanzaError::try_from(Element::from(&e)).unwrap(), e);
        }
        let e = StanzaError::bad_request(Some("bad candidate".into()));
        assert_eq!(StanzaError::try_from(Element::from(&e)).unwrap(), e);
    }

    #[test]
    fn replies_and_malformed_iqs() {
        let r = request().result_reply();
        assert!(request().is_answered_by(&r));
        let mut other = r.clone();
        other.id = "x".into();
        assert!(!request().is_answered_by(&other));
        for (xml, attr) in [
            ("<iq type='set'><a xmlns='x'/></iq>", Some("id")),
            ("<iq id='1' type='set'/>", None),
            ("<iq id='1' type='sideways'/>", Some("type")),
            ("<iq id='1' type='result' to='@@'/>", Some("to")),
            (
                "<iq id='1' type='get'><a xmlns='x'/><b xmlns='x'/></iq>",
                None,
            ),
            ("<iq id='1' type='error'/>", None),
        ] {
            let e = Iq::try_from(parse_element(xml, 1 << 16).unwrap()).unwrap_err();
            assert_eq!(e.attribute(), attr, "{xml}: {e}");
            assert_eq!(e.element(), Some("iq"), "{xml}: {e}");
        }
    }
}
