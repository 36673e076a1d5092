//! Reading a whole stanza (an IQ with its payload, or a bare element) into typed values, and
//! writing it back.

use xep0371_model::minidom::Element;
use xep0371_model::{
    DiscoInfo, Error, FromXml, IceNamespace, IceTransport, Iq, IqPayload, Jingle, Parsed, Reader,
    Reading, ns,
};

use crate::render::Payload;
use crate::sic;

/// A stanza read into typed values.
#[derive(Debug, Clone, PartialEq)]
pub struct Stanza {
    /// The IQ envelope, when the root is an `<iq/>`.
    pub iq: Option<Iq>,
    /// The payload (of the IQ, or the root itself).
    pub payload: Payload,
    /// What the lenient reading of a Server IP Check payload forgave.
    pub sic_diagnostics: Vec<xmpp_sic::Diagnostic>,
}

/// Why a stanza could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadFailure {
    /// The model rejected it.
    Model(Error),
    /// The Server IP Check reader rejected it.
    Sic(xmpp_sic::Error),
}

impl ReadFailure {
    /// The rule id.
    pub fn rule_id(&self) -> &str {
        match self {
            ReadFailure::Model(e) => e.rule().map_or("model", |r| r.id),
            ReadFailure::Sic(e) => sic::rule_id(e),
        }
    }

    /// Where the rule is written.
    pub fn section(&self) -> &str {
        match self {
            ReadFailure::Model(e) => e.rule().map_or("", |r| r.source),
            ReadFailure::Sic(_) => "XEP-0279 §2",
        }
    }

    /// The element and attribute named by the failure, as `element/@attribute`.
    pub fn subject(&self) -> String {
        match self {
            ReadFailure::Model(e) => match (e.element(), e.attribute()) {
                (Some(el), Some(a)) => format!("{el}/@{a}"),
                (Some(el), None) => el.to_owned(),
                (None, Some(a)) => a.to_owned(),
                (None, None) => "document".to_owned(),
            },
            ReadFailure::Sic(e) => sic::rule_id(e).trim_start_matches("sic.").to_owned(),
        }
    }
}

impl std::fmt::Display for ReadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadFailure::Model(e) => write!(f, "{e}"),
            ReadFailure::Sic(e) => write!(f, "{e} (XEP-0279 §2 [{}])", sic::rule_id(e)),
        }
    }
}

impl From<Error> for ReadFailure {
    fn from(e: Error) -> Self {
        ReadFailure::Model(e)
    }
}

fn read_payload(
    el: &Element,
    reader: &mut Reader,
    sic_diagnostics: &mut Vec<xmpp_sic::Diagnostic>,
) -> Result<Payload, ReadFailure> {
    let name = el.name();
    let ns = el.ns();
    Ok(if name == "jingle" && ns == ns::JINGLE {
        Payload::Jingle(Jingle::read_with(el, reader)?)
    } else if name == "query" && ns == ns::DISCO_INFO {
        Payload::Disco(DiscoInfo::read_with(el, reader)?)
    } else if name == "transport" && IceNamespace::from_uri(&ns).is_some() {
        Payload::Transport(IceTransport::read_with(el, reader)?)
    } else if let Some((s, d)) = sic::read(el, reader.reading()).map_err(ReadFailure::Sic)? {
        sic_diagnostics.extend(d);
        Payload::Sic(s)
    } else {
        Payload::Other(el.clone())
    })
}

/// Reads `el` under `reading`: an `<iq/>` with its payload, or a bare payload element.
pub fn read(el: &Element, reading: Reading) -> Result<Parsed<Stanza>, ReadFailure> {
    let mut reader = Reader::new(reading);
    let mut sic_diagnostics = Vec::new();
    let stanza = if el.name() == "iq" {
        let iq = Iq::read_with(el, &mut reader)?;
        let payload = match iq.payload.element() {
            Some(p) => read_payload(p, &mut reader, &mut sic_diagnostics)?,
            None => Payload::None,
        };
        Stanza {
            iq: Some(iq),
            payload,
            sic_diagnostics,
        }
    } else {
        let payload = read_payload(el, &mut reader, &mut sic_diagnostics)?;
        Stanza {
            iq: None,
            payload,
            sic_diagnostics,
        }
    };
    Ok(Parsed {
        value: stanza,
        diagnostics: reader.take_diagnostics(),
    })
}

fn payload_element(p: &Payload) -> Option<Element> {
    match p {
        Payload::Jingle(j) => Some(j.into()),
        Payload::Disco(d) => Some(d.into()),
        Payload::Transport(t) => Some(t.into()),
        Payload::Sic(s) => Some(s.to_element()),
        Payload::Other(_) | Payload::None => None,
    }
}

/// Writes the stanza back from its typed values (the IQ's payload rebuilt from the typed
/// payload).
pub fn write(stanza: &Stanza) -> Option<Element> {
    match &stanza.iq {
        None => payload_element(&stanza.payload),
        Some(iq) => {
            let mut iq = iq.clone();
            if let Some(p) = payload_element(&stanza.payload) {
                match &mut iq.payload {
                    IqPayload::Get(e) | IqPayload::Set(e) => *e = p,
                    IqPayload::Result(e) | IqPayload::Error { original: e, .. } => *e = Some(p),
                }
            }
            Some(Element::from(&iq))
        }
    }
}
