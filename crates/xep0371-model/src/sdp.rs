//! Candidates as RFC 8839 `a=candidate` lines, and back.
//!
//! ```text
//! candidate-attribute = "candidate" ":" foundation SP component-id SP transport SP priority SP
//!                       connection-address SP port SP cand-type [SP rel-addr] [SP rel-port]
//!                       *(SP cand-extension)                               ; RFC 8839 §5.1
//! ```
//!
//! Mapping of the XML attributes without a field of their own: `generation` and `tcptype`
//! (RFC 6544 §4.5) are the extensions of the same names; `network` is the `network-id`
//! extension that WebRTC stacks write; `id` has no SDP form (XEP-0371 §5.3 says "N/A") and is
//! lost. Other extensions (`ufrag`, `network-cost`, ...) are returned in
//! [`SdpCandidate::extensions`].

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::attrs;
use crate::candidate::{Candidate, CandidateType, Protocol, TcpType};
use crate::error::{Error, Rule, rules};

/// Most extension pairs read from one line.
pub const MAX_EXTENSIONS: usize = 32;

/// A candidate read from an SDP line, with the extensions the model has no field for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpCandidate {
    /// The candidate.
    pub candidate: Candidate,
    /// Extension name/value pairs other than `generation`, `tcptype` and `network-id`.
    pub extensions: Vec<(String, String)>,
}

fn sdp_err(field: &'static str, reason: impl Into<String>, rule: Rule) -> Error {
    Error::Sdp {
        field,
        reason: reason.into(),
        rule,
    }
}

fn number<T: std::str::FromStr>(
    field: &'static str,
    s: &str,
    max_digits: usize,
    rule: Rule,
) -> Result<T, Error> {
    if s.is_empty() || s.len() > max_digits || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(sdp_err(
            field,
            format!("'{}' is not 1 to {max_digits} digits", truncate(s)),
            rule,
        ));
    }
    s.parse()
        .map_err(|_| sdp_err(field, format!("'{}' is out of range", truncate(s)), rule))
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

fn address(field: &'static str, s: &str) -> Result<IpAddr, Error> {
    s.parse().map_err(|_| {
        let reason = if s.ends_with(".local") {
            format!(
                "'{}' is an mDNS hostname; candidates carry IP addresses (XEP-0371 §5.3)",
                truncate(s)
            )
        } else {
            format!("'{}' is not an IP address", truncate(s))
        };
        sdp_err(field, reason, rules::IP_ADDRESS)
    })
}

impl Candidate {
    /// The attribute value, `candidate:...`, without the `a=` prefix (as in WebRTC's
    /// `RTCIceCandidate.candidate`).
    pub fn to_sdp(&self) -> String {
        let mut s = format!(
            "candidate:{} {} {} {} {} {} typ {}",
            self.foundation,
            self.component,
            match self.protocol {
                Protocol::Udp => "UDP",
                Protocol::Tcp => "TCP",
            },
            self.priority,
            self.ip,
            self.port,
            self.type_,
        );
        if let Some(a) = self.rel_addr {
            let _ = write!(s, " raddr {a}");
        }
        if let Some(p) = self.rel_port {
            let _ = write!(s, " rport {p}");
        }
        if let Some(t) = self.tcptype {
            let _ = write!(s, " tcptype {t}");
        }
        if let Some(g) = self.generation {
            let _ = write!(s, " generation {g}");
        }
        if let Some(n) = self.network {
            let _ = write!(s, " network-id {n}");
        }
        s
    }

    /// The whole SDP line, `a=candidate:...`.
    pub fn to_sdp_line(&self) -> String {
        format!("a={}", self.to_sdp())
    }

    /// Reads an RFC 8839 candidate line, with or without `a=` and trailing CRLF, as libnice,
    /// Chrome and Firefox write them.
    pub fn from_sdp(line: &str) -> Result<SdpCandidate, Error> {
        const R: Rule = rules::SDP_CANDIDATE;
        let line = line.trim_end_matches(['\r', '\n']);
        let line = line.strip_prefix("a=").unwrap_or(line);
        let rest = line
            .strip_prefix("candidate:")
            .ok_or_else(|| sdp_err("candidate", "the line does not start with 'candidate:'", R))?;
        let mut it = rest.split_ascii_whitespace();
        let mut next = |field: &'static str| it.next().ok_or_else(|| sdp_err(field, "missing", R));

        let foundation = next("foundation")?;
        if !attrs::FOUNDATION.matches(foundation) {
            let (min, max) = attrs::FOUNDATION.len.into_inner();
            return Err(sdp_err(
                "foundation",
                format!("'{}' is not {min} to {max} ice-chars", truncate(foundation)),
                attrs::FOUNDATION.rule,
            ));
        }
        let component: u8 = number(
            "component-id",
            next("component-id")?,
            3,
            rules::COMPONENT_RANGE,
        )?;
        if component == 0 {
            return Err(sdp_err(
                "component-id",
                "0 is not a component ID",
                rules::COMPONENT_RANGE,
            ));
        }
        let transport = next("transport")?;
        let protocol = match transport.to_ascii_lowercase().as_str() {
            "udp" => Protocol::Udp,
            "tcp" => Protocol::Tcp,
            _ => {
                return Err(sdp_err(
                    "transport",
                    format!("'{}' is neither UDP nor TCP", truncate(transport)),
                    rules::PROTOCOL,
                ));
            }
        };
        let priority: u32 = number("priority", next("priority")?, 10, rules::PRIORITY_U32)?;
        let ip = address("connection-address", next("connection-address")?)?;
        let port: u16 = number("port", next("port")?, 5, rules::UNSIGNED_SHORT)?;
        if next("typ")? != "typ" {
            return Err(sdp_err("typ", "expected 'typ'", R));
        }
        let type_str = next("cand-type")?;
        let type_: CandidateType = type_str.parse().map_err(|_| {
            sdp_err(
                "cand-type",
                format!(
                    "'{}' is not host, srflx, prflx or relay",
                    truncate(type_str)
                ),
                rules::CANDIDATE_TYPE,
            )
        })?;

        let mut c = Candidate::new(
            component,
            foundation,
            std::net::SocketAddr::new(ip, port),
            priority,
            protocol,
            type_,
        );
        let mut extensions = Vec::new();
        while let Some(name) = it.next() {
            let value = it.next().ok_or_else(|| {
                sdp_err(
                    "cand-extension",
                    format!("'{}' has no value", truncate(name)),
                    R,
                )
            })?;
            match name {
                "raddr" => c.rel_addr = Some(address("rel-addr", value)?),
                "rport" => c.rel_port = Some(number("rel-port", value, 5, rules::UNSIGNED_SHORT)?),
                "tcptype" => {
                    c.tcptype = Some(value.parse::<TcpType>().map_err(|_| {
                        sdp_err(
                            "tcptype",
                            format!("'{}' is not active, passive or so", truncate(value)),
                            rules::TCPTYPE,
                        )
                    })?)
                }
                "generation" => {
                    c.generation = Some(number("generation", value, 3, rules::UNSIGNED_BYTE)?)
                }
                "network-id" if value.parse::<u8>().is_ok() => c.network = value.parse().ok(),
                _ => {
                    if extensions.len() >= MAX_EXTENSIONS {
                        return Err(sdp_err(
                            "cand-extension",
                            format!("more than {MAX_EXTENSIONS} extensions"),
                            rules::LIMIT,
                        ));
                    }
                    extensions.push((name.to_owned(), value.to_owned()));
                }
            }
        }
        Ok(SdpCandidate {
            candidate: c,
            extensions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libnice_line() {
        // lab-notes: what libnice 0.1.21 writes.
        let c =
            Candidate::from_sdp("a=candidate:1 1 UDP 2015364095 127.0.0.1 52203 typ host").unwrap();
        assert_eq!(c.candidate.protocol, Protocol::Udp);
        assert_eq!(c.candidate.priority, 2_015_364_095);
        assert_eq!(c.candidate.addr(), "127.0.0.1:52203".parse().unwrap());
        assert!(c.extensions.is_empty());
    }

    #[test]
    fn foundation_not_ice_chars() {
        // RFC 8839 §5.1: foundation = 1*32ice-char; '_' is not one, nor is a 33rd char.
        for (f, shown) in [("a_b", "a_b"), (&*"a".repeat(33), &*"a".repeat(33))] {
            let line = format!("candidate:{f} 1 udp 1 192.0.2.1 1 typ host");
            assert_eq!(
                Candidate::from_sdp(&line).unwrap_err(),
                Error::Sdp {
                    field: "foundation",
                    reason: format!("'{shown}' is not 1 to 32 ice-chars"),
                    rule: rules::FOUNDATION_GRAMMAR,
                }
            );
        }
        assert!(Candidate::from_sdp("candidate:+/9Az 1 udp 1 192.0.2.1 1 typ host").is_ok());
    }

    #[test]
    fn chrome_srflx_line() {
        let c = Candidate::from_sdp(
            "candidate:842163049 1 udp 1677729535 203.0.113.7 61665 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag 3x9g network-id 1 network-cost 10",
        )
        .unwrap();
        assert_eq!(c.candidate.type_, CandidateType::Srflx);
        assert_eq!(
            c.candidate.related_addr(),
            Some("0.0.0.0:0".parse().unwrap())
        );
        assert_eq!(c.candidate.generation, Some(0));
        assert_eq!(c.candidate.network, Some(1));
        assert_eq!(
            c.extensions,
            vec![
                ("ufrag".into(), "3x9g".into()),
                ("network-cost".into(), "10".into())
            ]
        );
    }

    #[test]
    fn firefox_tcp_line() {
        let c = Candidate::from_sdp(
            "candidate:2 1 TCP 2105458943 10.0.0.5 9 typ host tcptype active\r\n",
        )
        .unwrap();
        assert_eq!(c.candidate.protocol, Protocol::Tcp);
        assert_eq!(c.candidate.tcptype, Some(TcpType::Active));
        assert_eq!(c.candidate.port, 9);
    }

    #[test]
    fn ipv6_line_round_trips() {
        let line = "a=candidate:Ys1 2 UDP 1694498814 2001:db8::9:1 45664 typ srflx raddr fe80::1 rport 8998 generation 1 network-id 0";
        let c = Candidate::from_sdp(line).unwrap().candidate;
        assert_eq!(c.to_sdp_line(), line);
    }

    #[test]
    fn rejects_with_field_names() {
        let cases = [
            (
                "candidate:1 1 UDP 1 x.local 9 typ host",
                "connection-address",
            ),
            ("candidate:1 0 UDP 1 1.2.3.4 9 typ host", "component-id"),
            ("candidate:1 1 SCTP 1 1.2.3.4 9 typ host", "transport"),
            (
                "candidate:1 1 UDP 99999999999 1.2.3.4 9 typ host",
                "priority",
            ),
            ("candidate:1 1 UDP 1 1.2.3.4 70000 typ host", "port"),
            ("candidate:1 1 UDP 1 1.2.3.4 9 type host", "typ"),
            ("candidate:1 1 UDP 1 1.2.3.4 9 typ cloud", "cand-type"),
            (
                "candidate:1 1 UDP 1 1.2.3.4 9 typ host generation",
                "cand-extension",
            ),
            ("candidate:1 1 UDP 1 1.2.3.4", "port"),
            ("candidate:a-b 1 UDP 1 1.2.3.4 9 typ host", "foundation"),
            ("m=audio 9 UDP/TLS/RTP/SAVPF 111", "candidate"),
        ];
        for (line, field) in cases {
            match Candidate::from_sdp(line) {
                Err(Error::Sdp { field: f, .. }) => assert_eq!(f, field, "{line}"),
                other => panic!("{line}: {other:?}"),
            }
        }
    }
}
