//! pcap output: one capture per network, raw IP frames (LINKTYPE_RAW), which Wireshark and
//! tshark open and decode, STUN included.
//!
//! Frames are built here: an IPv4 header (RFC 791, with its checksum) or an IPv6 header (RFC
//! 8200), and a UDP header (RFC 768) or a TCP header (RFC 9293 §3.1: ports, sequence and
//! acknowledgment numbers, flags, window, no options) with its checksum over the
//! pseudo-header. Timestamps are virtual time since the start of the run, counted from the
//! Unix epoch.
//!
//! TCP segments carry their real sequence and acknowledgment numbers, flags and window, so
//! Wireshark follows the streams (`tshark -r lan.pcap -q -z follow,tcp,hex,0`) and its TCP
//! analysis marks the simulator's retransmissions as such.
//!
//! **STUN inside ICE-TCP.** RFC 6544 frames every STUN message and every chunk of data on an
//! ICE-TCP connection with RFC 4571's 2-byte length. tshark has no decode-as entry named after
//! RFC 4571, but its RTP dissector reads that framing when RTP is chosen for a TCP port, and
//! its preference `rtp.version0_type` hands each frame whose first two bits are 0 (as STUN's
//! are: "RTP version 0") to the STUN dissector:
//!
//! ```text
//! tshark -r lan.pcap -d tcp.port==PORT,rtp -o rtp.version0_type:STUN -Y stun
//! ```
//!
//! with PORT the port of either end (repeat `-d` for more), checked with tshark 4.0.17: each
//! framed message shows as `RFC 4571 packet len` then `Session Traversal Utilities for NAT`.
//! Frames of application data decode as RTP (or as RTP of a bad version). Decoding the port as
//! `stun` instead would read the length prefix as a STUN message type: that is STUN over TCP
//! without framing (RFC 8489 §6.2.2), which TURN over TCP uses, not ICE-TCP.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::tcp::{TcpFlags, TcpPacket};

/// LINKTYPE_RAW: each packet starts with an IPv4 or IPv6 header.
const LINKTYPE_RAW: u32 = 101;

/// A capture's size limit; packets past it are counted, not written.
pub const MAX_CAPTURE_BYTES: usize = 64 << 20;

/// One network's capture, in memory.
#[derive(Debug, Clone)]
pub struct Capture {
    bytes: Vec<u8>,
    packets: u64,
    truncated: u64,
}

impl Default for Capture {
    fn default() -> Self {
        Self::new()
    }
}

impl Capture {
    /// An empty capture (the global header only).
    pub fn new() -> Self {
        let mut bytes = Vec::with_capacity(4096);
        bytes.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes()); // microsecond timestamps
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&4u16.to_le_bytes());
        bytes.extend_from_slice(&0i32.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(&65_535u32.to_le_bytes());
        bytes.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
        Capture {
            bytes,
            packets: 0,
            truncated: 0,
        }
    }

    /// The pcap file's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Packets written.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Packets not written because the capture reached [`MAX_CAPTURE_BYTES`].
    pub fn truncated(&self) -> u64 {
        self.truncated
    }

    /// Appends a UDP datagram seen at `at` (since the start of the run). A datagram whose
    /// addresses are of different families (which no network carries) is not written.
    pub fn push(&mut self, at: Duration, from: SocketAddr, to: SocketAddr, payload: &[u8]) {
        if let Some(frame) = udp_frame(from, to, payload) {
            self.write(at, &frame);
        }
    }

    /// Appends a TCP segment seen at `at` (since the start of the run), with the addresses it
    /// has on this network. A segment of mixed families is not written.
    pub fn push_tcp(&mut self, at: Duration, p: &TcpPacket) {
        if let Some(frame) = tcp_frame(p) {
            self.write(at, &frame);
        }
    }

    fn write(&mut self, at: Duration, frame: &[u8]) {
        if self.bytes.len() + 16 + frame.len() > MAX_CAPTURE_BYTES {
            self.truncated += 1;
            return;
        }
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let secs = u32::try_from(at.as_secs()).unwrap_or(u32::MAX);
        self.bytes.extend_from_slice(&secs.to_le_bytes());
        self.bytes
            .extend_from_slice(&at.subsec_micros().to_le_bytes());
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.extend_from_slice(frame);
        self.packets += 1;
    }
}

fn sum16(mut acc: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The checksum sum of the pseudo-header of RFC 768 and RFC 9293 §3.1 (IPv4) or RFC 8200
/// §8.1 (IPv6): both addresses, the protocol and the transport length.
fn pseudo_header(src: IpAddr, dst: IpAddr, proto: u8, len: u32) -> u32 {
    let sum = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => sum16(sum16(0, &s.octets()), &d.octets()),
        (IpAddr::V6(s), IpAddr::V6(d)) => sum16(sum16(0, &s.octets()), &d.octets()),
        _ => 0,
    };
    sum + u32::from(proto) + len
}

/// `transport` (a UDP datagram or a TCP segment of protocol `proto`, its checksum filled in)
/// behind an IPv4 header (RFC 791, with its checksum; DF set, TTL 64) or an IPv6 header (RFC
/// 8200, hop limit 64); `None` for mixed families or an oversize packet.
fn ip_packet(src: IpAddr, dst: IpAddr, proto: u8, transport: &[u8]) -> Option<Vec<u8>> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = u16::try_from(20 + transport.len()).ok()?;
            let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
            ip[2..4].copy_from_slice(&total.to_be_bytes());
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            let hc = fold(sum16(0, &ip));
            ip[10..12].copy_from_slice(&hc.to_be_bytes());
            ip.extend_from_slice(transport);
            Some(ip)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let len = u16::try_from(transport.len()).ok()?;
            let mut ip = vec![0x60, 0, 0, 0];
            ip.extend_from_slice(&len.to_be_bytes());
            ip.extend_from_slice(&[proto, 64]);
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            ip.extend_from_slice(transport);
            Some(ip)
        }
        _ => None,
    }
}

/// An IP packet carrying one UDP datagram (RFC 768, with its checksum); `None` for mixed
/// families or an oversize payload.
pub fn udp_frame(from: SocketAddr, to: SocketAddr, payload: &[u8]) -> Option<Vec<u8>> {
    let udp_len = u16::try_from(8 + payload.len()).ok()?;
    let mut udp = Vec::with_capacity(usize::from(udp_len));
    udp.extend_from_slice(&from.port().to_be_bytes());
    udp.extend_from_slice(&to.port().to_be_bytes());
    udp.extend_from_slice(&udp_len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let pseudo = pseudo_header(from.ip(), to.ip(), 17, u32::from(udp_len));
    let mut c = fold(sum16(pseudo, &udp));
    if c == 0 {
        // RFC 768: a computed zero is sent as all ones (zero means "no checksum").
        c = 0xffff;
    }
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    ip_packet(from.ip(), to.ip(), 17, &udp)
}

/// An IP packet carrying one TCP segment: the 20-byte header of RFC 9293 §3.1 (no options)
/// with its checksum, and the payload; `None` for mixed families or an oversize payload.
pub fn tcp_frame(p: &TcpPacket) -> Option<Vec<u8>> {
    let len = u16::try_from(20 + p.payload.len()).ok()?;
    let mut tcp = Vec::with_capacity(usize::from(len));
    tcp.extend_from_slice(&p.src.port().to_be_bytes());
    tcp.extend_from_slice(&p.dst.port().to_be_bytes());
    tcp.extend_from_slice(&p.seq.to_be_bytes());
    // The acknowledgment field is zero when ACK is off (as senders fill it).
    let ack = if p.flags.contains(TcpFlags::ACK) {
        p.ack
    } else {
        0
    };
    tcp.extend_from_slice(&ack.to_be_bytes());
    tcp.push(5 << 4); // data offset: 5 words
    tcp.push(p.flags.bits());
    tcp.extend_from_slice(&p.window.to_be_bytes());
    tcp.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    tcp.extend_from_slice(&p.payload);
    let pseudo = pseudo_header(p.src.ip(), p.dst.ip(), 6, u32::from(len));
    let c = fold(sum16(pseudo, &tcp));
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    ip_packet(p.src.ip(), p.dst.ip(), 6, &tcp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_checksums_verify_to_zero() {
        let frame = udp_frame(
            "10.0.0.1:1000".parse().expect("addr"),
            "10.0.0.2:3478".parse().expect("addr"),
            b"hello",
        )
        .expect("frame");
        assert_eq!(fold(sum16(0, &frame[..20])), 0, "IPv4 header checksum");
        let mut pseudo = sum16(0, &frame[12..20]);
        pseudo += 17 + 13;
        assert_eq!(fold(sum16(pseudo, &frame[20..])), 0, "UDP checksum");
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The UDP frames as the captures wrote them before TCP came (a run's pcap of UDP only
    /// must not change).
    #[test]
    fn udp_frames_keep_their_bytes() {
        let v4 = udp_frame(
            "10.0.0.1:1000".parse().expect("addr"),
            "10.0.0.2:3478".parse().expect("addr"),
            b"hello",
        )
        .expect("frame");
        assert_eq!(
            hex(&v4),
            "4500002100004000401126ca0a0000010a00000203e80d96000d968168656c6c6f"
        );
        let v6 = udp_frame(
            "[2001:db8::1]:1000".parse().expect("addr"),
            "[2001:db8::2]:3478".parse().expect("addr"),
            b"hello",
        )
        .expect("frame");
        assert_eq!(
            hex(&v6),
            "60000000000d114020010db800000000000000000000000120010db8000000000000000000000002\
             03e80d96000d4f0f68656c6c6f"
        );
    }

    #[test]
    fn tcp_checksums_verify_to_zero() {
        for (src, dst) in [
            ("10.0.0.1:49152", "10.0.0.2:443"),
            ("[2001:db8::1]:49152", "[2001:db8::2]:443"),
        ] {
            let p = TcpPacket {
                src: src.parse().expect("addr"),
                dst: dst.parse().expect("addr"),
                seq: 0x0102_0304,
                ack: 0x0a0b_0c0d,
                flags: TcpFlags::ACK | TcpFlags::FIN,
                window: 65_535,
                payload: b"hello".to_vec(),
            };
            let frame = tcp_frame(&p).expect("frame");
            let (ip_len, tcp) = if p.src.is_ipv4() {
                assert_eq!(fold(sum16(0, &frame[..20])), 0, "IPv4 header checksum");
                (20, &frame[20..])
            } else {
                (40, &frame[40..])
            };
            assert_eq!(frame.len(), ip_len + 25);
            let pseudo = pseudo_header(p.src.ip(), p.dst.ip(), 6, 25);
            assert_eq!(fold(sum16(pseudo, tcp)), 0, "TCP checksum");
            assert_eq!(&tcp[4..8], &[1, 2, 3, 4]);
            assert_eq!(&tcp[8..12], &[0x0a, 0x0b, 0x0c, 0x0d]);
            assert_eq!((tcp[12], tcp[13]), (0x50, 0x11));
        }
    }
}
