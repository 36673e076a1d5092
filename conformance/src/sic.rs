//! The payloads of XEP-0279 Server IP Check in a stanza, read with the `xmpp-sic` crate.

use xep0371_model::minidom::Element;
use xmpp_sic::{Address, Diagnostic, Error, Reading, Request, Version};

/// A Server IP Check payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sic {
    /// A request (`<ip/>` or `<address/>`, empty).
    Request(Request),
    /// A response.
    Address(Address),
}

impl Sic {
    /// The element, written back.
    pub fn to_element(&self) -> Element {
        match self {
            Sic::Request(r) => (*r).into(),
            Sic::Address(a) => (*a).into(),
        }
    }
}

/// Reads `el` as a Server IP Check payload: `Ok(None)` when it is none.
pub fn read(
    el: &Element,
    reading: xep0371_model::Reading,
) -> Result<Option<(Sic, Vec<Diagnostic>)>, Error> {
    if Version::from_namespace(&el.ns()).is_none() {
        return Ok(None);
    }
    if let Ok(r) = Request::try_from(el.clone()) {
        return Ok(Some((Sic::Request(r), Vec::new())));
    }
    let reading = match reading {
        xep0371_model::Reading::Strict => Reading::Strict,
        xep0371_model::Reading::Lenient => Reading::Lenient,
    };
    match Address::read(el, reading) {
        Ok((a, d)) => Ok(Some((Sic::Address(a), d))),
        Err(Error::Mismatch(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The rule id of a Server IP Check error.
pub fn rule_id(e: &Error) -> &'static str {
    match e {
        Error::Sic0Address => "sic.sic0-address",
        Error::MissingIp { .. } | Error::InvalidIp { .. } => "sic.ip",
        Error::InvalidPort { .. } => "sic.port",
        Error::Duplicate { .. } | Error::UnexpectedChild { .. } => "sic.address-shape",
        _ => "sic",
    }
}
