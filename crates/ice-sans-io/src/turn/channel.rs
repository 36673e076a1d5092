//! ChannelData framing (RFC 8656 §12.4): a 4-byte header (channel number, length) and the
//! application data, padded to a multiple of 4 bytes over stream transports only.

/// The first channel number (RFC 8656 §12).
pub const CHANNEL_MIN: u16 = 0x4000;
/// The last channel number (RFC 8656 §12; 0x5000-0x7FFF are reserved).
pub const CHANNEL_MAX: u16 = 0x4FFF;
/// The ChannelData header length.
pub const CHANNEL_HEADER_LEN: usize = 4;

/// Whether `n` is a channel number a client may bind (RFC 8656 §12).
pub fn is_channel_number(n: u16) -> bool {
    (CHANNEL_MIN..=CHANNEL_MAX).contains(&n)
}

/// Whether bytes start like ChannelData rather than STUN: the first two bits are 0b01 (RFC
/// 8656 §12, RFC 7983's demultiplexing by the first byte, 64 to 79).
pub fn looks_like_channel_data(buf: &[u8]) -> bool {
    buf.first().is_some_and(|b| (0x40..=0x4F).contains(b))
}

/// The length of ChannelData carrying `data_len` bytes, padded when `pad` (RFC 8656 §12.4).
pub fn channel_data_len(data_len: usize, pad: bool) -> usize {
    let n = CHANNEL_HEADER_LEN + data_len;
    if pad { (n + 3) & !3 } else { n }
}

/// Writes ChannelData for `channel` with `data` into `out`; returns its length. Padding
/// (zeros, RFC 8656 §12.4: required over stream transports, not over UDP) when `pad`. `None`
/// when the channel number is not one, `data` is longer than 65535 bytes, or `out` is too
/// small.
pub fn encode_channel_data(channel: u16, data: &[u8], pad: bool, out: &mut [u8]) -> Option<usize> {
    let len = u16::try_from(data.len()).ok()?;
    if !is_channel_number(channel) {
        return None;
    }
    let total = channel_data_len(data.len(), pad);
    let out = out.get_mut(..total)?;
    out[..2].copy_from_slice(&channel.to_be_bytes());
    out[2..4].copy_from_slice(&len.to_be_bytes());
    out[4..4 + data.len()].copy_from_slice(data);
    out[4 + data.len()..].fill(0);
    Some(total)
}

/// Reads ChannelData: the channel number and the data, borrowed. Padded and unpadded
/// messages are both taken (RFC 8656 §12.5: bytes after the length are padding); a datagram
/// shorter than the length claims is `None` ("silently discarded"), as is a number outside
/// 0x4000-0x4FFF.
pub fn decode_channel_data(buf: &[u8]) -> Option<(u16, &[u8])> {
    let h: &[u8; 4] = buf.get(..CHANNEL_HEADER_LEN)?.try_into().ok()?;
    let channel = u16::from_be_bytes([h[0], h[1]]);
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    if !is_channel_number(channel) {
        return None;
    }
    let data = buf.get(CHANNEL_HEADER_LEN..CHANNEL_HEADER_LEN + len)?;
    // More than three bytes of padding is not padding.
    (buf.len() - CHANNEL_HEADER_LEN - len <= 3).then_some((channel, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8656 §12.4: channel number, length of the data (padding excluded), the data, and
    /// over streams zero padding to a multiple of 4; over UDP none.
    #[test]
    fn rfc8656_12_4_channel_data_framing() {
        let mut out = [0xAAu8; 16];
        assert_eq!(
            encode_channel_data(0x4001, b"hello", false, &mut out),
            Some(9)
        );
        assert_eq!(&out[..9], b"\x40\x01\x00\x05hello");
        assert_eq!(
            encode_channel_data(0x4001, b"hello", true, &mut out),
            Some(12)
        );
        assert_eq!(&out[..12], b"\x40\x01\x00\x05hello\0\0\0");
        assert_eq!(encode_channel_data(0x4FFF, b"", true, &mut out), Some(4));
        assert_eq!(encode_channel_data(0x5000, b"x", false, &mut out), None);
        assert_eq!(encode_channel_data(0x3FFF, b"x", false, &mut out), None);
        assert_eq!(encode_channel_data(0x4000, &[0; 13], false, &mut out), None);
    }

    /// RFC 8656 §12.5: padded and unpadded both read; a short datagram is discarded.
    #[test]
    fn rfc8656_12_5_channel_data_receive_padded_or_not() {
        assert_eq!(
            decode_channel_data(b"\x40\x01\x00\x05hello"),
            Some((0x4001, &b"hello"[..]))
        );
        assert_eq!(
            decode_channel_data(b"\x40\x01\x00\x05hello\0\0\0"),
            Some((0x4001, &b"hello"[..]))
        );
        assert_eq!(decode_channel_data(b"\x40\x01\x00\x06hello"), None);
        assert_eq!(decode_channel_data(b"\x40\x01\x00\x01hello"), None);
        assert_eq!(decode_channel_data(b"\x50\x00\x00\x00"), None);
        assert_eq!(decode_channel_data(b"\x40\x00\x00"), None);
        assert_eq!(
            decode_channel_data(b"\x40\x00\x00\x00"),
            Some((0x4000, &b""[..]))
        );
        assert!(looks_like_channel_data(b"\x4f"));
        assert!(!looks_like_channel_data(b"\x00\x01"));
    }
}
