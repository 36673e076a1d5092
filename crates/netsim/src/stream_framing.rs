//! The messages of a client's stream to the simulator's servers (TCP, and what TLS decrypts):
//! a byte stream cut into STUN messages and ChannelData, written from the RFCs for netsim's
//! servers alone (the project's ICE agent and TURN client have a splitter of their own; they
//! share no code, so each is tested against the other's reading of the RFCs). The TURN server
//! (`turn_server/stream.rs`) and the STUN server's TCP (`stun_server.rs`, which takes STUN
//! messages only and treats ChannelData as bytes that do not belong) both use it.
//!
//! - RFC 8489 §6.2.2: over a stream, a STUN message is delimited by the length field of its
//!   header (20 bytes, the first two bits 00, the length a multiple of 4: RFC 8489 §5).
//! - RFC 8656 §12.5: "Over TCP and TLS-over-TCP, the ChannelData message MUST be padded to a
//!   multiple of four bytes in order to ensure the alignment of subsequent messages. The
//!   padding is not reflected in the length field of the ChannelData message". A channel
//!   number is 0x4000..=0x4FFF (RFC 8656 §12); 0x5000..=0x7FFF are reserved.
//!
//! Anything else at the start of a frame (the first two bits 10 or 11, a STUN length that is
//! not a multiple of 4, a reserved channel number) means the stream is not TURN, or lost its
//! alignment: there is no way to find the next frame, so [`Deframer::next_frame`] reports
//! [`Garbage`] and the server closes the connection.
//!
//! Memory: between calls the deframer holds less than one frame ([`MAX_FRAME`] bytes); it
//! never allocates for a frame before its bytes have arrived.

/// The largest frame on a stream: ChannelData with 65 535 bytes of data and its padding
/// (4 + 65 535 + 1); a STUN message is at most 20 + 65 532.
pub(crate) const MAX_FRAME: usize = 4 + 65_535 + 1;

/// Why a stream is not TURN (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Garbage {
    /// The first two bits are 10 or 11: neither STUN (00) nor ChannelData (01).
    NotTurn(u8),
    /// A STUN header whose length is not a multiple of 4 (RFC 8489 §5).
    StunLength(u16),
    /// ChannelData of a reserved channel number, 0x5000..=0x7FFF (RFC 8656 §12).
    ReservedChannel(u16),
}

/// A stream's bytes, cut into frames.
#[derive(Debug, Default)]
pub(crate) struct Deframer {
    buf: Vec<u8>,
    /// Bytes of `buf` already returned.
    at: usize,
    /// Set once the stream broke: nothing more is read from it.
    broken: Option<Garbage>,
}

/// The sizes of the frame at the start of `head`: (its bytes without padding, its bytes on the
/// stream), or `None` when `head` holds less than the 4 bytes that tell.
fn frame_size(head: &[u8]) -> Option<Result<(usize, usize), Garbage>> {
    let [b0, b1, l0, l1, ..] = *head else {
        return None;
    };
    let len = u16::from_be_bytes([l0, l1]);
    Some(match b0 >> 6 {
        // RFC 8489 §5, §6.2.2: a STUN message, 20 bytes of header and `len` of attributes.
        0 if len % 4 == 0 => Ok((20 + usize::from(len), 20 + usize::from(len))),
        0 => Err(Garbage::StunLength(len)),
        // RFC 8656 §12.4, §12.5: ChannelData, 4 bytes of header, `len` of data, padded.
        1 => {
            let number = u16::from_be_bytes([b0, b1]);
            if number > 0x4FFF {
                Err(Garbage::ReservedChannel(number))
            } else {
                let bytes = 4 + usize::from(len);
                Ok((bytes, bytes.next_multiple_of(4)))
            }
        }
        _ => Err(Garbage::NotTurn(b0)),
    })
}

impl Deframer {
    /// Appends bytes of the stream (ignored once it broke).
    pub(crate) fn push(&mut self, data: &[u8]) {
        if self.broken.is_some() {
            return;
        }
        if self.at > 0 {
            self.buf.drain(..self.at);
            self.at = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next whole frame (STUN message, or ChannelData without its padding); `Ok(None)`
    /// while its bytes have not all arrived; `Err` once the stream is not TURN (and from then
    /// on).
    pub(crate) fn next_frame(&mut self) -> Result<Option<Vec<u8>>, Garbage> {
        if let Some(g) = self.broken {
            return Err(g);
        }
        let rest = &self.buf[self.at..];
        match frame_size(rest) {
            None => Ok(None),
            Some(Err(g)) => {
                self.broken = Some(g);
                self.buf = Vec::new();
                self.at = 0;
                Err(g)
            }
            Some(Ok((bytes, on_stream))) => {
                if rest.len() < on_stream {
                    return Ok(None);
                }
                let frame = rest[..bytes].to_vec();
                self.at += on_stream;
                if self.at == self.buf.len() {
                    self.buf.clear();
                    self.at = 0;
                }
                Ok(Some(frame))
            }
        }
    }

    /// Bytes held (of a frame not yet whole).
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len() - self.at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A STUN header of a Binding request with `len` bytes of attributes (zeros).
    fn stun(len: u16, txid: u8) -> Vec<u8> {
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&len.to_be_bytes());
        m.extend_from_slice(&0x2112_A442u32.to_be_bytes());
        m.extend_from_slice(&[txid; 12]);
        m.resize(20 + usize::from(len), 0);
        m
    }

    fn channel(number: u16, data: &[u8]) -> Vec<u8> {
        let mut c = number.to_be_bytes().to_vec();
        c.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
        c.extend_from_slice(data);
        c
    }

    fn padded(mut c: Vec<u8>) -> Vec<u8> {
        c.resize(c.len().next_multiple_of(4), 0xEE);
        c
    }

    /// Every frame of `stream` fed in chunks of `chunk` bytes.
    fn frames(stream: &[u8], chunk: usize) -> (Vec<Vec<u8>>, Option<Garbage>, usize) {
        let mut d = Deframer::default();
        let mut out = Vec::new();
        let mut max_held = 0;
        for part in stream.chunks(chunk) {
            d.push(part);
            loop {
                match d.next_frame() {
                    Ok(Some(f)) => out.push(f),
                    Ok(None) => break,
                    Err(g) => return (out, Some(g), max_held),
                }
            }
            max_held = max_held.max(d.buffered());
        }
        (out, None, max_held)
    }

    #[test]
    fn rfc8656_12_5_padded_channel_data_between_stun_messages_in_any_chunking() {
        let expected = vec![
            stun(8, 1),
            channel(0x4000, b"hello"),
            channel(0x4FFF, b""),
            stun(0, 2),
            channel(0x4001, b"four"),
            channel(0x4002, &[7; 1201]),
        ];
        let stream: Vec<u8> = expected
            .iter()
            .flat_map(|f| {
                if f[0] & 0xC0 == 0x40 {
                    padded(f.clone())
                } else {
                    f.clone()
                }
            })
            .collect();
        for chunk in 1..=stream.len() {
            let (got, broken, held) = frames(&stream, chunk);
            assert_eq!((got, broken), (expected.clone(), None), "chunks of {chunk}");
            assert!(held < MAX_FRAME);
        }
    }

    #[test]
    fn bytes_that_are_not_turn_break_the_stream_after_the_frames_before_them() {
        for (garbage, why) in [
            (vec![0x80, 0, 0, 0], Garbage::NotTurn(0x80)),
            (vec![0xC1, 2, 3, 4], Garbage::NotTurn(0xC1)),
            (vec![0x00, 0x01, 0x00, 0x05], Garbage::StunLength(5)),
            (
                vec![0x50, 0x00, 0x00, 0x04],
                Garbage::ReservedChannel(0x5000),
            ),
            (
                vec![0x7F, 0xFF, 0x00, 0x00],
                Garbage::ReservedChannel(0x7FFF),
            ),
        ] {
            let mut stream = stun(4, 9);
            stream.extend_from_slice(&garbage);
            stream.extend_from_slice(&stun(0, 10));
            for chunk in [1, 3, 24, 100] {
                let (got, broken) = {
                    let (g, b, _) = frames(&stream, chunk);
                    (g, b)
                };
                assert_eq!(got, vec![stun(4, 9)], "{garbage:?} in chunks of {chunk}");
                assert_eq!(broken, Some(why));
            }
        }
        // Once broken, it stays broken and holds nothing.
        let mut d = Deframer::default();
        d.push(&[0xFF; 10]);
        assert!(d.next_frame().is_err());
        d.push(&stun(0, 1));
        assert!(d.next_frame().is_err());
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn the_largest_frames_are_read_and_nothing_is_held_for_a_header_alone() {
        let big = stun(65_532, 3);
        let data = vec![1u8; 65_535];
        let mut stream = big.clone();
        stream.extend(padded(channel(0x4123, &data)));
        let (got, broken, held) = frames(&stream, 4096);
        assert_eq!(broken, None);
        assert_eq!(got, vec![big, channel(0x4123, &data)]);
        assert!(held < MAX_FRAME, "{held}");
        let mut d = Deframer::default();
        d.push(&[0x00, 0x01, 0xFF]);
        assert_eq!(
            d.next_frame(),
            Ok(None),
            "three bytes do not tell the length"
        );
    }
}
