//! Candidates (RFC 8445 §5.1): types, priorities and foundations.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// A component of a data stream (RFC 8445 §4): 1 for RTP or a single-component stream, 2 for
/// RTCP. XEP-0371 §5.3 allows 1 to 255; the agent accepts 1 to 256 as RFC 8445 §5.1.2.1 does.
pub type ComponentId = u16;

/// Transport protocol of a candidate.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// UDP (RFC 8445).
    Udp,
    /// TCP (RFC 6544). Accepted in the vocabulary so that callers can carry such candidates,
    /// but the agent does not pair them yet: [`crate::IceAgent::add_remote_candidate`] refuses
    /// them with [`crate::CandidateError::UnsupportedProtocol`].
    Tcp,
}

impl Protocol {
    /// The protocol as SDP and XEP-0371 write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
        }
    }
}

/// Candidate type (RFC 8445 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CandidateKind {
    /// An address of a local interface.
    Host,
    /// Learned from a connectivity check (RFC 8445 §7.2.5.3.1, §7.3.1.3).
    PeerReflexive,
    /// The address a STUN server saw (RFC 8445 §5.1.1.2).
    ServerReflexive,
    /// An address on a TURN relay.
    Relayed,
}

impl CandidateKind {
    /// The type preference XEP-0371 §5.3 stipulates for the priority formula of RFC 8445
    /// §5.1.2.1: host 126, peer-reflexive 110, server-reflexive 100, relayed 0 (the values RFC
    /// 8445 §5.1.2.2 recommends).
    pub const fn type_preference(self) -> u32 {
        match self {
            CandidateKind::Host => 126,
            CandidateKind::PeerReflexive => 110,
            CandidateKind::ServerReflexive => 100,
            CandidateKind::Relayed => 0,
        }
    }

    /// The type as SDP and XEP-0371 write it.
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateKind::Host => "host",
            CandidateKind::PeerReflexive => "prflx",
            CandidateKind::ServerReflexive => "srflx",
            CandidateKind::Relayed => "relay",
        }
    }
}

/// RFC 8445 §5.1.2.1: `priority = 2^24 * type preference + 2^8 * local preference + (256 -
/// component ID)`.
///
/// `component` is clamped to 1..=256, `type_preference` to 0..=126.
pub const fn priority(type_preference: u32, local_preference: u16, component: ComponentId) -> u32 {
    let tp = if type_preference > 126 {
        126
    } else {
        type_preference
    };
    let c = if component == 0 {
        1
    } else if component > 256 {
        256
    } else {
        component as u32
    };
    (tp << 24) + ((local_preference as u32) << 8) + (256 - c)
}

/// What the local preference policy is asked about: one host address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalPreferenceInput {
    /// The interface address.
    pub ip: IpAddr,
    /// How many host addresses of the same family and component were added before this one
    /// (0 for the first).
    pub index: usize,
}

/// The local preference policy (RFC 8445 §5.1.2.1): a number from 0 to 65535 for each host
/// address; higher is preferred. RFC 8445 asks that two addresses of one family and component
/// get different values. Replace it through [`crate::Config::local_preference`].
pub type LocalPreferencePolicy = fn(LocalPreferenceInput) -> u16;

/// The default local preference policy, after RFC 8421 §4 for dual-stack hosts: IPv6 above
/// IPv4 (65535 and 32767 for the first address of each), link-local and IPv4-mapped IPv6
/// addresses lowest, and each further address of a family one lower than the previous one, so
/// that the caller's order decides among addresses of one family.
pub fn default_local_preference(input: LocalPreferenceInput) -> u16 {
    let base: u16 = match input.ip {
        IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80 => 8191,
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => 8191,
        IpAddr::V6(_) => 65535,
        IpAddr::V4(_) => 32767,
    };
    base.saturating_sub(u16::try_from(input.index.min(8000)).unwrap_or(8000))
}

/// A candidate, local or remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The component (1 for the only one of most streams).
    pub component: ComponentId,
    /// The foundation (RFC 8445 §5.1.1.3): 1 to 32 ice-chars.
    pub foundation: String,
    /// Transport protocol.
    pub protocol: Protocol,
    /// Priority (RFC 8445 §5.1.2).
    pub priority: u32,
    /// The transport address.
    pub addr: SocketAddr,
    /// The candidate type.
    pub kind: CandidateKind,
    /// The related address (`raddr`/`rport`): the base of a reflexive candidate. For local
    /// candidates the agent fills it in; for remote ones it is informative only.
    pub related: Option<SocketAddr>,
}

impl Candidate {
    /// The local preference inside the priority (RFC 8445 §5.1.2.1: bits 8 to 23).
    pub fn local_preference(&self) -> u16 {
        ((self.priority >> 8) & 0xFFFF) as u16
    }

    /// A remote host candidate with the priority RFC 8445 §5.1.2 gives with the default local
    /// preference. Mainly for tests and examples; real remote candidates come from signalling.
    pub fn host(component: ComponentId, addr: SocketAddr, foundation: &str) -> Candidate {
        Candidate {
            component,
            foundation: foundation.to_owned(),
            protocol: Protocol::Udp,
            priority: priority(
                CandidateKind::Host.type_preference(),
                default_local_preference(LocalPreferenceInput {
                    ip: addr.ip(),
                    index: 0,
                }),
                component,
            ),
            addr,
            kind: CandidateKind::Host,
            related: None,
        }
    }
}

impl fmt::Display for Candidate {
    /// The candidate in the shape of an RFC 8839 `candidate-attribute` value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {} typ {}",
            self.foundation,
            self.component,
            self.protocol.as_str(),
            self.priority,
            self.addr.ip(),
            self.addr.port(),
            self.kind.as_str()
        )?;
        if let Some(r) = self.related {
            write!(f, " raddr {} rport {}", r.ip(), r.port())?;
        }
        Ok(())
    }
}

/// Whether `s` is a valid foundation: 1 to 32 ice-chars (RFC 8445 §5.1.1.3, RFC 8839 §5.1).
pub fn is_valid_foundation(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(is_ice_char)
}

/// Whether `s` is a ufrag or password the agent takes from the peer: 1 to 256 ice-chars
/// (RFC 8445 §5.3, RFC 8839 §5.4). Ours must also be at least 4 (ufrag) and 22 (password)
/// long; the peer's may be shorter, as some deployed clients send them.
pub fn is_valid_credential(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_CREDENTIAL_LEN && s.bytes().all(is_ice_char)
}

/// Longest accepted ufrag or password (RFC 8445 §5.3: 256 characters).
pub const MAX_CREDENTIAL_LEN: usize = 256;

/// RFC 8839 §5.1: `ice-char = ALPHA / DIGIT / "+" / "/"`.
pub(crate) fn is_ice_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8445 §5.1.2.1 and the XEP-0371 §5.3 footnote: with type preference 126, local
    /// preference 65535 and component 1 the priority is 2130706431 (the value in the XEP's
    /// listings).
    #[test]
    fn rfc8445_5_1_2_1_priority_formula() {
        assert_eq!(priority(126, 65535, 1), 2_130_706_431);
        assert_eq!(priority(126, 65535, 2), 2_130_706_430);
        assert_eq!(priority(100, 65535, 1), 1_694_498_815);
        assert_eq!(priority(110, 65535, 1), 1_862_270_975);
        assert_eq!(priority(0, 0, 256), 0);
    }

    #[test]
    fn default_local_preference_is_unique_per_family_and_prefers_ipv6() {
        let v4 = |index| {
            default_local_preference(LocalPreferenceInput {
                ip: "192.0.2.1".parse().unwrap(),
                index,
            })
        };
        let v6 = default_local_preference(LocalPreferenceInput {
            ip: "2001:db8::1".parse().unwrap(),
            index: 0,
        });
        let ll = default_local_preference(LocalPreferenceInput {
            ip: "fe80::1".parse().unwrap(),
            index: 0,
        });
        assert!(v6 > v4(0) && v4(0) > v4(1) && v4(1) > ll);
        assert_eq!(v4(usize::MAX), 32767 - 8000);
    }

    #[test]
    fn foundations() {
        assert!(is_valid_foundation("1"));
        assert!(is_valid_foundation("a+/Z9"));
        assert!(!is_valid_foundation(""));
        assert!(!is_valid_foundation("a b"));
        assert!(!is_valid_foundation(&"a".repeat(33)));
    }
}
