//! RFC 4571 framing (`ice_sans_io::framing`): arbitrary bytes, as a TCP stream arriving in
//! pieces the fuzzer chooses, read by a `Deframer` with a fuzzed maximum frame length.
//!
//! The input: byte 0 chooses the maximum (high bit clear: 65,535, RFC 4571's own; set: the
//! low seven bits times 8), byte 1 the number (mod 16) of piece sizes that follow, each size
//! 1 to 256 bytes, used in turn, and with its high bit set the framing: STUN and ChannelData
//! to a TURN server (`Deframer::stun_stream`, RFC 8656 §12.5) instead of RFC 4571; the rest is
//! the stream. Missing bytes read as zero.
//!
//! For the STUN stream the same properties hold against its own plain reading (STUN messages
//! by their length field, ChannelData padded to 4, anything else breaking the stream, which
//! `finish` reports at the right offset).
//!
//! Properties asserted:
//! - no panic;
//! - the frames returned are exactly those of a plain reading of the stream that are neither
//!   null (RFC 4571 §2) nor longer than the maximum, in order, and the counters count the
//!   others;
//! - round trip: every whole frame of the stream framed again with `frame` gives back the
//!   consumed prefix of the input, byte for byte;
//! - `finish` is `Ok` exactly when the stream ends at a frame boundary, else says how much of
//!   the last frame came and how much is missing;
//! - memory stays bounded: the buffer never allocates past `buffer_limit`, and once the frames
//!   are read out, `push` always takes something.
#![no_main]

use ice_sans_io::framing::{Deframer, FrameError, HEADER_LEN, frame};
use libfuzzer_sys::fuzz_target;

/// Pushes `stream` in pieces of `sizes` (in turn), reading frames out after each push, and
/// checks the memory bound and progress on the way.
fn read_in_pieces(d: &mut Deframer, stream: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut rest = stream;
    let mut turn = 0;
    while !rest.is_empty() {
        let size = if sizes.is_empty() {
            rest.len()
        } else {
            sizes[turn % sizes.len()].min(rest.len())
        };
        turn += 1;
        let mut piece = &rest[..size];
        rest = &rest[size..];
        while !piece.is_empty() {
            let taken = d.push(piece);
            assert!(taken <= piece.len());
            piece = &piece[taken..];
            assert!(
                d.allocated() <= d.buffer_limit(),
                "the buffer grew past its limit"
            );
            assert!(d.buffered() <= d.buffer_limit());
            let before = got.len();
            let max = d.max_frame();
            while let Some(f) = d.next_frame() {
                assert!(!f.is_empty() && f.len() <= max);
                got.push(f.to_vec());
            }
            assert!(
                taken > 0 || got.len() > before,
                "push took nothing and no frame was ready: stuck"
            );
        }
    }
    got
}

/// The STUN stream read plainly: messages from the start by their own headers (RFC 8489 §5,
/// RFC 8656 §12.4, §12.5), and the deframer compared with that.
fn stun_stream(max: usize, sizes: &[usize], stream: &[u8]) {
    let mut whole: Vec<&[u8]> = Vec::new();
    let mut consumed = 0;
    let mut broken = None;
    while let [b0, b1, l0, l1, ..] = stream[consumed..] {
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        let (frame_len, total) = match b0 >> 6 {
            0 if len % 4 == 0 => (20 + len, 20 + len),
            1 if u16::from_be_bytes([b0, b1]) <= 0x4FFF => (4 + len, (4 + len + 3) & !3),
            _ => {
                broken = Some(consumed);
                break;
            }
        };
        if consumed + total > stream.len() {
            break;
        }
        whole.push(&stream[consumed..consumed + frame_len]);
        consumed += total;
    }
    let mut d = Deframer::stun_stream(max);
    let got = read_in_pieces(&mut d, stream, sizes);
    let want: Vec<&[u8]> = whole
        .iter()
        .copied()
        .filter(|f| f.len() <= d.max_frame())
        .collect();
    assert_eq!(got, want);
    assert_eq!(d.is_broken(), broken.is_some());
    match (d.finish(), broken) {
        (Err(FrameError::Unframeable { offset }), Some(at)) => assert_eq!(offset, at as u64),
        (Ok(()), None) => assert_eq!(consumed, stream.len()),
        (Err(FrameError::Truncated { received, missing }), None) => {
            assert_eq!(received, stream.len() - consumed);
            assert!(missing > 0);
        }
        (other, b) => panic!("finish gave {other:?}, broken at {b:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let max_frame: u16 = if byte(0) & 0x80 == 0 {
        u16::MAX
    } else {
        u16::from(byte(0) & 0x7F) * 8
    };
    let n_sizes = usize::from(byte(1) % 16);
    let sizes: Vec<usize> = (0..n_sizes).map(|i| usize::from(byte(2 + i)) + 1).collect();
    let stream = data.get(2 + n_sizes..).unwrap_or(&[]);
    if byte(1) & 0x80 != 0 {
        let max = if byte(0) & 0x80 == 0 {
            usize::MAX
        } else {
            usize::from(byte(0) & 0x7F) * 8
        };
        stun_stream(max, &sizes, stream);
        return;
    }

    // The plain reading: whole frames from the start, and where the last whole one ends.
    let mut whole: Vec<&[u8]> = Vec::new();
    let mut consumed = 0;
    while let [hi, lo, ..] = stream[consumed..] {
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        let end = consumed + HEADER_LEN + len;
        if end > stream.len() {
            break;
        }
        whole.push(&stream[consumed + HEADER_LEN..end]);
        consumed = end;
    }

    let max = usize::from(max_frame);
    let mut d = Deframer::with_max_frame(max_frame);
    let got = read_in_pieces(&mut d, stream, &sizes);

    let want: Vec<&[u8]> = whole
        .iter()
        .copied()
        .filter(|f| !f.is_empty() && f.len() <= max)
        .collect();
    assert_eq!(got, want);
    let stats = d.stats();
    assert_eq!(stats.frames, want.len() as u64);
    assert_eq!(
        stats.bytes,
        want.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    assert_eq!(
        stats.null_frames,
        whole.iter().filter(|f| f.is_empty()).count() as u64
    );
    // An oversized frame is counted when its header is read, so also one the stream cuts.
    let dropped_tail = match stream[consumed..] {
        [hi, lo, ..] => usize::from(u16::from_be_bytes([hi, lo])) > max,
        _ => false,
    };
    assert_eq!(
        stats.dropped,
        whole.iter().filter(|f| f.len() > max).count() as u64 + u64::from(dropped_tail)
    );

    // Round trip: the whole frames, framed again, are the consumed prefix.
    let mut again = Vec::with_capacity(consumed);
    for f in &whole {
        frame(f, &mut again).expect("a frame read is at most 65535 bytes");
    }
    assert_eq!(again, stream[..consumed]);

    // The stream's end: at a boundary, or inside the frame after `consumed`.
    match d.finish() {
        Ok(()) => assert_eq!(consumed, stream.len()),
        Err(FrameError::Truncated { received, missing }) => {
            assert_eq!(received, stream.len() - consumed);
            assert!(missing > 0);
            let tail = &stream[consumed..];
            let total = match *tail {
                [hi, lo, ..] => HEADER_LEN + usize::from(u16::from_be_bytes([hi, lo])),
                _ => HEADER_LEN,
            };
            assert_eq!(received + missing, total);
        }
        Err(e) => panic!("finish gave {e:?}"),
    }
});
