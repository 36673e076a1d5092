//! Candidates (RFC 8445 §5.1): types, priorities and foundations.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// A component of a data stream (RFC 8445 §4): 1 for RTP or a single-component stream, 2 for
/// RTCP. XEP-0371 §5.3 allows 1 to 255; the agent accepts 1 to 256 as RFC 8445 §5.1.2.1 does.
pub type ComponentId = u16;

/// Transport protocol of a candidate.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// UDP (RFC 8445).
    Udp,
    /// TCP (RFC 6544): candidates with a [`TcpType`], each pair's datagrams framed (RFC 4571)
    /// on a connection the caller holds ([`crate::IceAgent::add_local_tcp_host`]).
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

/// The TCP candidate type (RFC 6544 §4.5; XEP-0371 §5.3 `tcptype`): which way the candidate
/// makes its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TcpType {
    /// Opens connections and accepts none. Signalled with port [`ACTIVE_PORT`] (RFC 6544 §4.5).
    Active,
    /// Accepts connections and opens none.
    Passive,
    /// Simultaneous open (`so`): both ends open a connection to each other at once.
    SimultaneousOpen,
}

impl TcpType {
    /// The type as SDP (RFC 6544 §4.5) and XEP-0371 (§5.3) write it: `active`, `passive`, `so`.
    pub fn as_str(self) -> &'static str {
        match self {
            TcpType::Active => "active",
            TcpType::Passive => "passive",
            TcpType::SimultaneousOpen => "so",
        }
    }
}

impl fmt::Display for TcpType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `tcptype` value that is none of `active`, `passive`, `so`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownTcpType;

impl fmt::Display for UnknownTcpType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tcptype is one of active, passive, so (RFC 6544 §4.5)")
    }
}

impl std::error::Error for UnknownTcpType {}

impl FromStr for TcpType {
    type Err = UnknownTcpType;

    /// Exactly as written on the wire (RFC 6544 §4.5's grammar is lower case): `active`,
    /// `passive`, `so`.
    fn from_str(s: &str) -> Result<TcpType, UnknownTcpType> {
        match s {
            "active" => Ok(TcpType::Active),
            "passive" => Ok(TcpType::Passive),
            "so" => Ok(TcpType::SimultaneousOpen),
            _ => Err(UnknownTcpType),
        }
    }
}

/// The port an active TCP candidate is signalled with (RFC 6544 §4.5: the discard port, 9):
/// an active candidate opens connections from an ephemeral port, so it has no port to
/// announce. A receiver ignores it.
pub const ACTIVE_PORT: u16 = 9;

/// The largest `other-pref` of RFC 6544 §4.2 (13 bits). §4.2: with a single IP address it
/// SHOULD be this value.
pub const MAX_TCP_OTHER_PREF: u16 = 8191;

/// The `direction-pref` RFC 6544 §4.2 RECOMMENDS (0 to 7, higher is preferred).
///
/// Host, UDP-tunneled and relayed candidates: active 6, passive 4, S-O 2. NAT-assisted and
/// server-reflexive: S-O 6, active 4, passive 2 (through a NAT, simultaneous open is what gets
/// past filtering). §4.2 names no value for peer-reflexive candidates; they are a NAT's
/// mapping like server-reflexive ones and get the same.
pub const fn tcp_direction_preference(kind: CandidateKind, tcptype: TcpType) -> u16 {
    match kind {
        CandidateKind::Host | CandidateKind::Relayed => match tcptype {
            TcpType::Active => 6,
            TcpType::Passive => 4,
            TcpType::SimultaneousOpen => 2,
        },
        CandidateKind::ServerReflexive | CandidateKind::PeerReflexive => match tcptype {
            TcpType::SimultaneousOpen => 6,
            TcpType::Active => 4,
            TcpType::Passive => 2,
        },
    }
}

/// The local preference of a TCP candidate (RFC 6544 §4.2):
/// `local preference = 2^13 * direction-pref + other-pref`, with the direction preference of
/// [`tcp_direction_preference`]. `other_pref` (0 to [`MAX_TCP_OTHER_PREF`]; larger values are
/// clamped) ranks the IP addresses of one host: §4.2 asks that two candidates with the same
/// type preference and direction preference have different ones, and 8191 when there is one
/// address.
///
/// The type preference stays that of RFC 8445 §5.1.2.2 (§4.2: "the same formula and candidate
/// type preferences SHOULD be used"), so the priority is [`priority`]`(kind.type_preference(),
/// tcp_local_preference(..), component)`.
///
/// UDP candidates keep their own local preference ([`default_local_preference`]). When a
/// stream gathers both, which transport ranks higher is local policy under §4.2. The two local
/// preference policies alone do not settle it (a TCP local preference runs up to 57,343,
/// above the 32,767 the default UDP policy gives the first IPv4 address), so the agent settles
/// it with the type preference: see [`CandidateKind::tcp_type_preference`].
pub const fn tcp_local_preference(kind: CandidateKind, tcptype: TcpType, other_pref: u16) -> u16 {
    let other = if other_pref > MAX_TCP_OTHER_PREF {
        MAX_TCP_OTHER_PREF
    } else {
        other_pref
    };
    (tcp_direction_preference(kind, tcptype) << 13) + other
}

/// Whether a local and a remote TCP candidate of these types form a pair (RFC 6544 §6.2):
/// active with passive, passive with active, S-O with S-O. Every other combination would have
/// two ends that both wait, or both connect without simultaneous open.
pub const fn tcp_types_pair(local: TcpType, remote: TcpType) -> bool {
    matches!(
        (local, remote),
        (TcpType::Active, TcpType::Passive)
            | (TcpType::Passive, TcpType::Active)
            | (TcpType::SimultaneousOpen, TcpType::SimultaneousOpen)
    )
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

    /// The type preference of a TCP candidate of this kind: the agent's policy for streams
    /// that offer UDP and TCP (RFC 6544 §4.2 leaves it local: "the same formula and candidate
    /// type preferences SHOULD be used", and UDP first is the usual choice, for its latency and
    /// because TCP's retransmissions stall real-time media). Host 90, peer-reflexive 80,
    /// server-reflexive 70, relayed 0 (the values libwebrtc uses for host and peer-reflexive
    /// TCP).
    ///
    /// Every direct TCP candidate ranks below every direct UDP one (host 126, prflx 110, srflx
    /// 100), whatever the local preferences: a pair's priority is led by the lower of its two
    /// candidates' priorities (RFC 8445 §6.1.2.3), so a TCP pair ranks below every UDP pair
    /// whose two ends are direct, and the agent checks, nominates and selects UDP first when
    /// both work. A direct TCP pair still ranks above a relayed UDP one (type preference 0):
    /// a direct path, even over TCP, spares the TURN server. The ranking of TCP candidates among
    /// themselves is RFC 6544 §4.2's ([`tcp_local_preference`]).
    pub const fn tcp_type_preference(self) -> u32 {
        match self {
            CandidateKind::Host => 90,
            CandidateKind::PeerReflexive => 80,
            CandidateKind::ServerReflexive => 70,
            CandidateKind::Relayed => 0,
        }
    }

    /// The type preference of a candidate of this kind on `protocol`: [`Self::type_preference`]
    /// for UDP, [`Self::tcp_type_preference`] for TCP.
    pub const fn type_preference_on(self, protocol: Protocol) -> u32 {
        match protocol {
            Protocol::Udp => self.type_preference(),
            Protocol::Tcp => self.tcp_type_preference(),
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
    /// The TCP candidate type (RFC 6544 §4.5): `Some` for a TCP candidate, `None` for a UDP
    /// one. The agent refuses a remote candidate where the two disagree.
    pub tcp_type: Option<TcpType>,
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
            tcp_type: None,
        }
    }
}

impl fmt::Display for Candidate {
    /// The candidate in the shape of an RFC 8839 `candidate-attribute` value, with RFC 6544
    /// §4.5's `tcptype` extension after the related address for a TCP candidate.
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
        // RFC 6544 §4.5: `[SP rel-addr] [SP rel-port] SP tcp-type-ext`, `tcp-type-ext =
        // "tcptype" SP tcp-type`.
        if let Some(t) = self.tcp_type {
            write!(f, " tcptype {t}")?;
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

    /// RFC 6544 §4.5: the three values as SDP and XEP-0371 write them, both ways.
    #[test]
    fn rfc6544_4_5_tcptype_strings() {
        for t in [TcpType::Active, TcpType::Passive, TcpType::SimultaneousOpen] {
            assert_eq!(t.as_str().parse::<TcpType>(), Ok(t));
            assert_eq!(t.to_string(), t.as_str());
        }
        assert_eq!("so".parse::<TcpType>(), Ok(TcpType::SimultaneousOpen));
        for bad in ["", "Active", "s-o", "simultaneous-open", "active "] {
            assert_eq!(bad.parse::<TcpType>(), Err(UnknownTcpType), "{bad:?}");
        }
        assert_eq!(ACTIVE_PORT, 9);
    }

    /// RFC 6544 §4.2: `local pref = 2^13 * direction-pref + other-pref`; host and relayed
    /// active 6, passive 4, S-O 2; server-reflexive S-O 6, active 4, passive 2.
    #[test]
    fn rfc6544_4_2_local_preference() {
        use CandidateKind::*;
        use TcpType::*;
        let direction = |k, t| tcp_local_preference(k, t, 0) >> 13;
        for k in [Host, Relayed] {
            assert_eq!(
                [
                    direction(k, Active),
                    direction(k, Passive),
                    direction(k, SimultaneousOpen)
                ],
                [6, 4, 2]
            );
        }
        for k in [ServerReflexive, PeerReflexive] {
            assert_eq!(
                [
                    direction(k, SimultaneousOpen),
                    direction(k, Active),
                    direction(k, Passive)
                ],
                [6, 4, 2]
            );
        }
        assert_eq!(tcp_local_preference(Host, Active, 8191), 6 * 8192 + 8191);
        assert_eq!(tcp_local_preference(Host, Active, 8191), 57_343);
        assert_eq!(tcp_local_preference(ServerReflexive, Passive, 0), 16_384);
        // other-pref is 13 bits: larger values are clamped, never spill into direction-pref.
        assert_eq!(
            tcp_local_preference(Host, Passive, u16::MAX),
            tcp_local_preference(Host, Passive, MAX_TCP_OTHER_PREF)
        );
        assert!(tcp_local_preference(Host, Passive, 8191) < tcp_local_preference(Host, Active, 0));
        // What the doc says of mixed gathering: the default UDP policy's first IPv4 address
        // ranks below a host active TCP candidate, the first IPv6 one above.
        let udp = |ip: &str| {
            default_local_preference(LocalPreferenceInput {
                ip: ip.parse().unwrap(),
                index: 0,
            })
        };
        assert!(udp("192.0.2.1") < tcp_local_preference(Host, Active, 8191));
        assert!(udp("2001:db8::1") > tcp_local_preference(Host, Active, 8191));
        // The whole priority (RFC 8445 §5.1.2.1 with the §4.2 local preference): a host
        // active candidate, one address, component 1.
        assert_eq!(
            priority(
                Host.type_preference(),
                tcp_local_preference(Host, Active, 8191),
                1
            ),
            (126 << 24) + (57_343 << 8) + 255
        );
    }

    /// RFC 6544 §6.2: active pairs with passive, passive with active, S-O with S-O; nothing
    /// else.
    #[test]
    fn rfc6544_6_2_pairing() {
        use TcpType::*;
        let all = [Active, Passive, SimultaneousOpen];
        let mut pairs = Vec::new();
        for l in all {
            for r in all {
                if tcp_types_pair(l, r) {
                    pairs.push((l, r));
                }
            }
        }
        assert_eq!(
            pairs,
            [
                (Active, Passive),
                (Passive, Active),
                (SimultaneousOpen, SimultaneousOpen)
            ]
        );
    }

    /// RFC 6544 §4.5: `tcptype` follows the related address in the SDP grammar.
    #[test]
    fn rfc6544_4_5_display_writes_tcptype() {
        let mut c = Candidate::host(1, "192.0.2.1:9".parse().unwrap(), "1");
        c.protocol = Protocol::Tcp;
        c.tcp_type = Some(TcpType::Active);
        assert!(
            c.to_string()
                .ends_with(" 192.0.2.1 9 typ host tcptype active")
        );
        c.kind = CandidateKind::PeerReflexive;
        c.related = Some("10.0.0.1:9".parse().unwrap());
        c.tcp_type = Some(TcpType::SimultaneousOpen);
        assert!(
            c.to_string()
                .ends_with(" typ prflx raddr 10.0.0.1 rport 9 tcptype so")
        );
        let udp = Candidate::host(1, "192.0.2.1:5000".parse().unwrap(), "1");
        assert!(!udp.to_string().contains("tcptype"));
    }

    /// The UDP-first policy: the best direct TCP candidate ranks below the worst direct UDP
    /// one (server-reflexive, local preference 0), and so does every pair with a TCP end.
    #[test]
    fn tcp_ranks_below_direct_udp() {
        use CandidateKind::*;
        let best_tcp = priority(Host.tcp_type_preference(), u16::MAX, 1);
        let worst_udp = priority(ServerReflexive.type_preference(), 0, 256);
        assert!(best_tcp < worst_udp);
        assert!(
            priority(Relayed.type_preference(), u16::MAX, 1)
                < priority(ServerReflexive.tcp_type_preference(), 0, 256)
        );
        for k in [Host, PeerReflexive, ServerReflexive, Relayed] {
            assert_eq!(k.type_preference_on(Protocol::Udp), k.type_preference());
            assert_eq!(k.type_preference_on(Protocol::Tcp), k.tcp_type_preference());
        }
        assert!(Host.tcp_type_preference() > PeerReflexive.tcp_type_preference());
        assert!(PeerReflexive.tcp_type_preference() > ServerReflexive.tcp_type_preference());
    }
}
