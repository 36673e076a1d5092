#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// First: the macros every other module uses, reached by path.
mod macros;

mod attrs;
pub mod candidate;
pub mod disco;
mod element;
pub mod error;
pub mod iq;
pub mod jingle;
pub mod ns;
pub mod raw_udp;
pub mod sdp;
pub mod transport;

pub use attrs::ExtraAttributes;
pub use candidate::{
    Candidate, CandidateType, Protocol, RemoteCandidate, TcpType, compute_priority,
};
pub use disco::{DiscoInfo, IceFeatures};
pub use error::{
    Diagnostic, Error, FromXml, Limits, Parsed, Reader, Reading, Rule, parse_element, rules,
};
pub use iq::{DefinedCondition, ErrorType, Iq, IqPayload, JingleCondition, StanzaError};
pub use jingle::{Action, Content, Creator, Jingle, Senders, Transport};
pub use ns::IceNamespace;
pub use raw_udp::{RawUdpCandidate, RawUdpTransport};
pub use sdp::SdpCandidate;
pub use transport::{Dropped, IceTransport};

pub use jid;
pub use minidom;
