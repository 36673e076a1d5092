#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::fmt;

use minidom::Element;

pub mod answer;
mod datetime;
mod error;
mod payload;
mod reader;
mod service;

pub use answer::{Answer, Auth, ConfiguredService, RestUser, answer};
pub use datetime::{DateTime, DateTimeError, Tzd};
pub use error::{Diagnostic, Error};
pub use payload::{Credentials, Payload, Read, Services, push_ack};
pub use service::{Action, Service, ServiceType, Transport, XsBoolean};

/// Namespaces.
pub mod ns {
    /// XEP-0215 version 0.7 and later.
    pub const EXTDISCO2: &str = "urn:xmpp:extdisco:2";
    /// XEP-0215 versions 0.5 and 0.6 (Prosody still answers it).
    pub const EXTDISCO1: &str = "urn:xmpp:extdisco:1";
    /// XEP-0004 data forms: the extended information of XEP-0215 §4.
    pub const XDATA: &str = "jabber:x:data";
    /// RFC 6120 client namespace.
    pub const CLIENT: &str = "jabber:client";
    /// RFC 6120 stanza errors.
    pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
}

/// The namespace version of XEP-0215 a payload belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// `urn:xmpp:extdisco:1` (XEP-0215 0.5, 0.6): no `action`, `expires` or `restricted`.
    V1,
    /// `urn:xmpp:extdisco:2` (XEP-0215 0.7 and later).
    V2,
}

impl Version {
    /// The namespace, which is also the disco#info feature (XEP-0215 §5).
    pub fn namespace(self) -> &'static str {
        match self {
            Version::V1 => ns::EXTDISCO1,
            Version::V2 => ns::EXTDISCO2,
        }
    }

    /// The version of a namespace.
    pub fn from_namespace(ns: &str) -> Option<Self> {
        match ns {
            ns::EXTDISCO1 => Some(Version::V1),
            ns::EXTDISCO2 => Some(Version::V2),
            _ => None,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Version::V1 => "extdisco:1",
            Version::V2 => "extdisco:2",
        })
    }
}

/// Which reading a parser applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reading {
    /// The XEP as written.
    #[default]
    Strict,
    /// Also what deployed servers send (Prosody's `restricted` and `expires` in
    /// `urn:xmpp:extdisco:1`, a date-time without a zone or not in UTC, unknown attributes and
    /// children dropped), each forgiveness recorded as a [`Diagnostic`].
    Lenient,
}

/// Bounds on what a reader accepts from the network: past them, [`Error::Limit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// `<service/>` elements in one payload.
    pub max_services: usize,
    /// Bytes in one attribute value.
    pub max_attribute_len: usize,
    /// Elements and text nodes in the `jabber:x:data` child of one service.
    pub max_extended_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_services: 64,
            max_attribute_len: 1024,
            max_extended_nodes: 256,
        }
    }
}

/// The disco#info features of an entity that answers both namespaces (XEP-0215 §5).
pub const FEATURES: [&str; 2] = [ns::EXTDISCO2, ns::EXTDISCO1];

/// The versions a disco#info feature list advertises, newest first.
pub fn supported_versions<S: AsRef<str>>(features: &[S]) -> Vec<Version> {
    [Version::V2, Version::V1]
        .into_iter()
        .filter(|v| features.iter().any(|f| f.as_ref() == v.namespace()))
        .collect()
}

pub(crate) fn attr_name(s: &'static str) -> minidom::rxml::NcName {
    match minidom::rxml::NcName::try_from(s) {
        Ok(n) => n,
        Err(_) => unreachable!("attribute names of this crate are NCNames"),
    }
}

pub(crate) fn iq(type_: &str, id: &str, to: Option<&str>, payload: Element) -> Element {
    let mut b = Element::builder("iq", ns::CLIENT)
        .attr(attr_name("id"), id)
        .attr(attr_name("type"), type_);
    if let Some(to) = to {
        b = b.attr(attr_name("to"), to);
    }
    b.append(payload).build()
}
