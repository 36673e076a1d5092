//! TCP segments: [`TcpPacket`], a whole segment as the simulated hosts' stacks
//! ([`crate::tcp_stack`]) send it and captures ([`crate::pcap`]) write it, and [`TcpSegment`],
//! the same segment as a middlebox sees it: addresses and the control flags (RFC 9293 §3.1), no
//! sequence numbers and no payload. The NAT's TCP table ([`crate::nat_tcp`]) reads that view;
//! it is all RFC 5382 needs to decide mapping, filtering and lifetime.

use std::fmt;
use std::net::SocketAddr;
use std::ops::BitOr;

/// The control bits of a TCP header that a NAT looks at, with their wire values (RFC 9293
/// §3.1), so a capture can write them as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(u8);

impl TcpFlags {
    /// No flag set.
    pub const NONE: TcpFlags = TcpFlags(0);
    /// FIN: the sender has no more data.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// SYN: synchronise sequence numbers (opens a connection).
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// RST: reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// ACK: the acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);

    /// The flags from a header's flag byte (bits other than FIN, SYN, RST and ACK ignored).
    pub fn from_bits(bits: u8) -> TcpFlags {
        TcpFlags(bits & 0x17)
    }

    /// The wire bits.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (TcpFlags::SYN, "SYN"),
            (TcpFlags::ACK, "ACK"),
            (TcpFlags::FIN, "FIN"),
            (TcpFlags::RST, "RST"),
        ];
        let set: Vec<&str> = names
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, n)| *n)
            .collect();
        if set.is_empty() {
            f.write_str("-")
        } else {
            f.write_str(&set.join("|"))
        }
    }
}

/// One TCP segment's addressing and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpSegment {
    /// Where it comes from.
    pub src: SocketAddr,
    /// Where it goes.
    pub dst: SocketAddr,
    /// Its control bits.
    pub flags: TcpFlags,
}

impl TcpSegment {
    /// A segment from `src` to `dst` with `flags`.
    pub fn new(src: SocketAddr, dst: SocketAddr, flags: TcpFlags) -> TcpSegment {
        TcpSegment { src, dst, flags }
    }

    /// A SYN without ACK: the segment that opens a connection (the first of a three-way
    /// handshake, or either of a simultaneous open, RFC 9293 §3.5).
    pub fn is_opening_syn(&self) -> bool {
        self.flags.contains(TcpFlags::SYN) && !self.flags.contains(TcpFlags::ACK)
    }
}

/// A whole TCP segment (RFC 9293 §3.1) between two endpoints: the header fields the
/// simulator's stacks use and the payload. No options are sent (the MSS is fixed, see
/// [`crate::tcp_stack`]), so the header is 20 bytes on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TcpPacket {
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// Sequence number of the first octet (of the SYN when SYN is set).
    pub seq: u32,
    /// Acknowledgment number (significant when ACK is set).
    pub ack: u32,
    /// Control bits.
    pub flags: TcpFlags,
    /// Receive window advertised.
    pub window: u16,
    /// Payload.
    pub payload: Vec<u8>,
}

impl TcpPacket {
    /// The middlebox's view of it.
    pub fn view(&self) -> TcpSegment {
        TcpSegment::new(self.src, self.dst, self.flags)
    }

    /// SEG.LEN of RFC 9293 §3.4: the octets it occupies in sequence space (payload, plus one
    /// each for SYN and FIN).
    pub fn seg_len(&self) -> u32 {
        let n = u32::try_from(self.payload.len()).unwrap_or(u32::MAX);
        n.saturating_add(u32::from(self.flags.contains(TcpFlags::SYN)))
            .saturating_add(u32::from(self.flags.contains(TcpFlags::FIN)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_keep_their_wire_bits() {
        let f = TcpFlags::SYN | TcpFlags::ACK;
        assert_eq!(f.bits(), 0x12);
        assert!(f.contains(TcpFlags::SYN) && !f.contains(TcpFlags::FIN));
        assert_eq!(
            TcpFlags::from_bits(0xff).bits(),
            0x17,
            "PSH, URG, ECE, CWR dropped"
        );
        assert_eq!(f.to_string(), "SYN|ACK");
        assert_eq!(TcpFlags::NONE.to_string(), "-");
        let a = "10.0.0.1:1".parse().expect("addr");
        assert!(TcpSegment::new(a, a, TcpFlags::SYN).is_opening_syn());
        assert!(!TcpSegment::new(a, a, f).is_opening_syn());
    }
}
