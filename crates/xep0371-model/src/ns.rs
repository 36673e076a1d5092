//! Namespace constants, in the style of xmpp-parsers' `ns` module, and [`IceNamespace`], the
//! two namespaces of the ICE transport as a type.

use std::fmt;

/// XEP-0166 Jingle.
pub const JINGLE: &str = "urn:xmpp:jingle:1";
/// XEP-0166 Jingle error conditions.
pub const JINGLE_ERRORS: &str = "urn:xmpp:jingle:errors:1";
/// XEP-0371 Jingle ICE transport (the primary namespace of this crate).
pub const JINGLE_ICE: &str = "urn:xmpp:jingle:transports:ice:0";
/// XEP-0176 Jingle ICE-UDP transport, what deployed clients speak today.
pub const JINGLE_ICE_UDP: &str = "urn:xmpp:jingle:transports:ice-udp:1";
/// XEP-0177 Jingle Raw UDP transport.
pub const JINGLE_RAW_UDP: &str = "urn:xmpp:jingle:transports:raw-udp:1";
/// XEP-0030 disco#info.
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// The SDP offer/answer feature of XEP-0371 §8.2.
pub const RFC3264: &str = "urn:ietf:rfc:3264";
/// RFC 6120 client stream content namespace.
pub const CLIENT: &str = "jabber:client";
/// RFC 6120 stanza error conditions.
pub const XMPP_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

/// The namespace an ICE transport was read from or is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IceNamespace {
    /// `urn:xmpp:jingle:transports:ice:0` (XEP-0371).
    Ice0,
    /// `urn:xmpp:jingle:transports:ice-udp:1` (XEP-0176), what deployed clients speak.
    IceUdp1,
}

impl IceNamespace {
    /// The namespace URI.
    pub fn as_str(self) -> &'static str {
        match self {
            IceNamespace::Ice0 => JINGLE_ICE,
            IceNamespace::IceUdp1 => JINGLE_ICE_UDP,
        }
    }

    /// The namespace for a URI, if it is one of the two.
    pub fn from_uri(uri: &str) -> Option<Self> {
        match uri {
            JINGLE_ICE => Some(IceNamespace::Ice0),
            JINGLE_ICE_UDP => Some(IceNamespace::IceUdp1),
            _ => None,
        }
    }
}

impl fmt::Display for IceNamespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
