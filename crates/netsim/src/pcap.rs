//! pcap output: one capture per network, raw IP frames (LINKTYPE_RAW), which Wireshark and
//! tshark open and decode, STUN included.
//!
//! Frames are built here: an IPv4 header (RFC 791, with its checksum) or an IPv6 header (RFC
//! 8200), and a UDP header (RFC 768) with its checksum over the pseudo-header. Timestamps are
//! virtual time since the start of the run, counted from the Unix epoch.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

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
        let Some(frame) = udp_frame(from, to, payload) else {
            return;
        };
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
        self.bytes.extend_from_slice(&frame);
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

/// An IP packet carrying one UDP datagram; `None` for mixed families or an oversize payload.
pub fn udp_frame(from: SocketAddr, to: SocketAddr, payload: &[u8]) -> Option<Vec<u8>> {
    let udp_len = u16::try_from(8 + payload.len()).ok()?;
    let mut udp = Vec::with_capacity(usize::from(udp_len));
    udp.extend_from_slice(&from.port().to_be_bytes());
    udp.extend_from_slice(&to.port().to_be_bytes());
    udp.extend_from_slice(&udp_len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    match (from.ip(), to.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = u16::try_from(20 + udp.len()).ok()?;
            let mut pseudo = sum16(0, &s.octets());
            pseudo = sum16(pseudo, &d.octets());
            pseudo += 17 + u32::from(udp_len);
            let mut c = fold(sum16(pseudo, &udp));
            if c == 0 {
                c = 0xffff;
            }
            udp[6..8].copy_from_slice(&c.to_be_bytes());
            let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
            ip[2..4].copy_from_slice(&total.to_be_bytes());
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            let hc = fold(sum16(0, &ip));
            ip[10..12].copy_from_slice(&hc.to_be_bytes());
            ip.extend_from_slice(&udp);
            Some(ip)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut pseudo = sum16(0, &s.octets());
            pseudo = sum16(pseudo, &d.octets());
            pseudo += u32::from(udp_len) + 17;
            let mut c = fold(sum16(pseudo, &udp));
            if c == 0 {
                c = 0xffff;
            }
            udp[6..8].copy_from_slice(&c.to_be_bytes());
            let mut ip = vec![0x60, 0, 0, 0];
            ip.extend_from_slice(&udp_len.to_be_bytes());
            ip.extend_from_slice(&[17, 64]);
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            ip.extend_from_slice(&udp);
            Some(ip)
        }
        _ => None,
    }
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
}
