//! Tests of the framing: RFC 4571 and the STUN stream.

use super::*;
use proptest::prelude::*;

/// Feeds `stream` in the given pieces, reading frames out after each push.
fn read_all(d: &mut Deframer, pieces: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    for piece in pieces {
        let mut rest = *piece;
        loop {
            let taken = d.push(rest);
            rest = &rest[taken..];
            while let Some(f) = d.next_frame() {
                got.push(f.to_vec());
            }
            assert!(d.allocated() <= d.buffer_limit());
            if rest.is_empty() {
                break;
            }
            assert!(taken > 0, "push took nothing after the frames were read");
        }
    }
    got
}

/// `stream` cut into pieces of the sizes in `cuts`, taken in turn.
fn cut<'a>(stream: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    let mut rest = stream;
    for &c in cuts.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (a, b) = rest.split_at(c.clamp(1, rest.len()));
        pieces.push(a);
        rest = b;
    }
    pieces
}

fn framed(frames: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        frame(f, &mut out).unwrap();
    }
    out
}

/// RFC 4571 §2: a 16-bit length in network byte order, then the bytes.
#[test]
fn rfc4571_2_header_is_16_bit_big_endian() {
    let mut out = vec![0xAA];
    frame(&[1, 2, 3], &mut out).unwrap();
    assert_eq!(out, [0xAA, 0, 3, 1, 2, 3]);
    let mut out = Vec::new();
    frame(&[7; 300], &mut out).unwrap();
    assert_eq!(&out[..2], &[0x01, 0x2C]);
}

#[test]
fn round_trip() {
    let stream = framed(&[b"one", b"two", b"three"]);
    let mut d = Deframer::new();
    assert_eq!(
        read_all(&mut d, &[&stream]),
        [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
    );
    assert!(d.at_boundary());
    assert_eq!(d.finish(), Ok(()));
    let s = d.stats();
    assert_eq!((s.frames, s.bytes, s.null_frames, s.dropped), (3, 11, 0, 0));
}

#[test]
fn one_byte_at_a_time() {
    let stream = framed(&[b"stun", &[9; 1000], b"x"]);
    let pieces: Vec<&[u8]> = stream.chunks(1).collect();
    let mut d = Deframer::new();
    let got = read_all(&mut d, &pieces);
    assert_eq!(got, [b"stun".to_vec(), vec![9; 1000], b"x".to_vec()]);
    assert_eq!(d.finish(), Ok(()));
}

#[test]
fn many_frames_in_one_push() {
    let frames: Vec<Vec<u8>> = (0..500u16).map(|i| i.to_be_bytes().repeat(3)).collect();
    let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let stream = framed(&refs);
    let mut d = Deframer::new();
    assert_eq!(d.push(&stream), stream.len());
    let mut got = Vec::new();
    while let Some(f) = d.next_frame() {
        got.push(f.to_vec());
    }
    assert_eq!(got, frames);
    assert_eq!(d.stats().frames, 500);
}

#[test]
fn frame_split_across_pushes_at_every_offset() {
    let stream = framed(&[b"before", b"the frame that is split", b"after"]);
    for cut in 0..=stream.len() {
        let mut d = Deframer::new();
        let got = read_all(&mut d, &[&stream[..cut], &stream[cut..]]);
        assert_eq!(
            got,
            [
                b"before".to_vec(),
                b"the frame that is split".to_vec(),
                b"after".to_vec()
            ],
            "cut at {cut}"
        );
        assert_eq!(d.finish(), Ok(()));
    }
}

/// Frames over the configured maximum are skipped and counted; those after it are read:
/// the length says where the next frame begins, so framing stays in step.
#[test]
fn over_the_limit_is_skipped_and_counted() {
    let stream = framed(&[b"ok", &[1; 100], b"fine"]);
    for size in [1, 3, 7, stream.len()] {
        let pieces: Vec<&[u8]> = stream.chunks(size).collect();
        let mut d = Deframer::with_max_frame(10);
        assert_eq!(d.buffer_limit(), 2 * 12);
        let got = read_all(&mut d, &pieces);
        assert_eq!(got, [b"ok".to_vec(), b"fine".to_vec()], "pieces of {size}");
        let s = d.stats();
        assert_eq!((s.frames, s.dropped, s.dropped_bytes), (2, 1, 100));
        assert!(d.allocated() <= 24);
        assert_eq!(d.finish(), Ok(()));
    }
}

/// RFC 4571 §2: "Zero is a valid value for LENGTH, and it codes the null packet." Not an
/// error; skipped and counted, never returned.
#[test]
fn rfc4571_2_null_packet_is_skipped_and_counted() {
    let stream = framed(&[b"", b"a", b"", b"", b"b", b""]);
    assert_eq!(&stream[..2], &[0, 0]);
    let mut d = Deframer::new();
    assert_eq!(read_all(&mut d, &[&stream]), [b"a".to_vec(), b"b".to_vec()]);
    assert_eq!(d.stats().null_frames, 4);
    assert_eq!(d.finish(), Ok(()));
}

#[test]
fn max_length_65535() {
    let big = vec![0x5A; MAX_DATAGRAM];
    let mut stream = Vec::new();
    frame(&big, &mut stream).unwrap();
    assert_eq!(&stream[..2], &[0xFF, 0xFF]);
    frame(b"next", &mut stream).unwrap();
    let mut d = Deframer::new();
    let pieces: Vec<&[u8]> = stream.chunks(4096).collect();
    let got = read_all(&mut d, &pieces);
    assert_eq!(got, [big, b"next".to_vec()]);
    assert!(d.allocated() <= d.buffer_limit());
    assert_eq!(
        d.buffer_limit(),
        BUFFERED_FRAMES * (HEADER_LEN + MAX_DATAGRAM)
    );
}

#[test]
fn too_long_is_refused() {
    let mut out = vec![1];
    assert_eq!(
        frame(&vec![0; MAX_DATAGRAM + 1], &mut out),
        Err(FrameError::TooLong { len: 65_536 })
    );
    assert_eq!(out, [1], "out is left as it was");
    let mut buf = vec![0; 70_000];
    assert_eq!(
        frame_in_place(&mut buf, 65_536),
        Err(FrameError::TooLong { len: 65_536 })
    );
}

#[test]
fn in_place() {
    let mut buf = [0u8; 16];
    buf[2..7].copy_from_slice(b"hello");
    assert_eq!(frame_in_place(&mut buf, 5).unwrap(), b"\x00\x05hello");
    assert_eq!(
        frame_in_place(&mut buf, 15),
        Err(FrameError::BufferTooSmall {
            needed: 17,
            got: 16
        })
    );
}

/// A full buffer takes nothing until its frames are read; then it takes again.
#[test]
fn backpressure() {
    let stream = framed(&[&[1; 8], &[2; 8], &[3; 8]]);
    let mut d = Deframer::with_max_frame(8);
    assert_eq!(d.push(&stream), 20);
    assert_eq!(d.push(&stream[20..]), 0);
    assert_eq!(d.next_frame(), Some(&[1; 8][..]));
    assert_eq!(d.next_frame(), Some(&[2; 8][..]));
    assert_eq!(d.next_frame(), None);
    assert_eq!(d.push(&stream[20..]), 10);
    assert_eq!(d.next_frame(), Some(&[3; 8][..]));
    assert!(d.at_boundary());
}

#[test]
fn truncated_stream() {
    let mut d = Deframer::new();
    assert_eq!(d.finish(), Ok(()));
    d.push(&[0]);
    assert_eq!(
        d.finish(),
        Err(FrameError::Truncated {
            received: 1,
            missing: 1
        })
    );
    d.push(&[4, b'a']);
    assert_eq!(d.next_frame(), None);
    assert_eq!(
        d.finish(),
        Err(FrameError::Truncated {
            received: 3,
            missing: 3
        })
    );
    // The header and 3 bytes of an oversized frame of 20.
    let mut d = Deframer::with_max_frame(10);
    d.push(&[0, 20, 1, 2, 3]);
    assert_eq!(d.next_frame(), None);
    assert_eq!(
        d.finish(),
        Err(FrameError::Truncated {
            received: 5,
            missing: 17
        })
    );
    assert!(
        FrameError::Truncated {
            received: 5,
            missing: 17
        }
        .to_string()
        .contains("RFC 4571")
    );
}

/// A STUN message of `attrs` bytes of attributes (a multiple of 4): Binding request header
/// (RFC 8489 §5: type, length, magic cookie, transaction ID), then `attrs` bytes of 0xA5.
fn stun_msg(attrs: usize, id: u8) -> Vec<u8> {
    let mut m = vec![0x00, 0x01];
    m.extend_from_slice(&u16::try_from(attrs).unwrap().to_be_bytes());
    m.extend_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
    m.extend_from_slice(&[id; 12]);
    m.extend(std::iter::repeat_n(0xA5, attrs));
    m
}

/// ChannelData on channel `ch` with `data` (RFC 8656 §12.4), and its padding for a stream.
fn channel_msg(ch: u16, data: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut m = ch.to_be_bytes().to_vec();
    m.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
    m.extend_from_slice(data);
    let mut padded = m.clone();
    padded.resize((m.len() + 3) & !3, 0);
    (m, padded)
}

/// RFC 8656 §12.5 and RFC 8489 §6.2.2: STUN and ChannelData on one stream, told apart by
/// their first bits (RFC 7983 §7), ChannelData padded to 4; read at every cut.
#[test]
fn rfc8656_12_5_stun_stream_splits_messages() {
    let a = stun_msg(8, 1);
    let (b, b_padded) = channel_msg(0x4000, b"hello");
    let c = stun_msg(0, 2);
    let (d, d_padded) = channel_msg(0x4FFF, b"four");
    let stream = [a.clone(), b_padded, c.clone(), d_padded].concat();
    assert_eq!(stream.len(), 28 + 12 + 20 + 8);
    for cut in 0..=stream.len() {
        let mut dd = Deframer::stun_stream(1500);
        let got = read_all(&mut dd, &[&stream[..cut], &stream[cut..]]);
        assert_eq!(
            got,
            [a.clone(), b.clone(), c.clone(), d.clone()],
            "cut {cut}"
        );
        assert_eq!(dd.finish(), Ok(()));
    }
    let pieces: Vec<&[u8]> = stream.chunks(1).collect();
    let mut dd = Deframer::stun_stream(1500);
    assert_eq!(read_all(&mut dd, &pieces).len(), 4);
    assert_eq!(dd.framing(), Framing::StunStream);
    let s = dd.stats();
    assert_eq!((s.frames, s.bytes), (4, (28 + 9 + 20 + 8) as u64));
}

/// Bytes that are neither STUN (first bits 00, length a multiple of 4) nor ChannelData of
/// a channel in 0x4000..=0x4FFF break the stream: what came before is read, nothing after.
#[test]
fn stun_stream_unframeable_bytes_break_the_stream() {
    let a = stun_msg(4, 1);
    let mut bad_stun = stun_msg(4, 2);
    bad_stun[3] = 5; // a length that is not a multiple of 4 (RFC 8489 §5)
    for bad in [
        vec![0x80, 0, 0, 0],                // first bits 10: RTP/RTCP or DTLS, not here
        vec![0xC0, 0, 0, 0],                // 11
        vec![0x50, 0x00, 0, 4, 1, 2, 3, 4], // channel 0x5000: reserved (RFC 8656 §12)
        bad_stun,
    ] {
        let stream = [a.clone(), bad.clone(), stun_msg(0, 3)].concat();
        let mut d = Deframer::stun_stream(1500);
        let got = read_all(&mut d, &[&stream[..3], &stream[3..]]);
        assert_eq!(got, std::slice::from_ref(&a), "{bad:02x?}");
        assert!(d.is_broken());
        assert_eq!(d.finish(), Err(FrameError::Unframeable { offset: 24 }));
        assert!(!d.at_boundary());
        assert_eq!(d.push(&[0; 100]), 100, "a broken stream takes everything");
        assert_eq!(d.next_frame(), None);
        assert_eq!(
            d.stats().unframeable_bytes,
            (stream.len() - 24 + 100) as u64
        );
    }
    assert!(
        FrameError::Unframeable { offset: 24 }
            .to_string()
            .contains("byte 24")
    );
}

/// A message over the maximum is skipped whole (its padding too), the next one read; a
/// stream that ends inside a message says what it lacked.
#[test]
fn stun_stream_oversized_and_truncated() {
    let big = stun_msg(200, 1);
    let (ch, ch_padded) = channel_msg(0x4001, &[7; 101]);
    let after = stun_msg(4, 2);
    let stream = [big, ch_padded, after.clone()].concat();
    for size in [1, 5, stream.len()] {
        let pieces: Vec<&[u8]> = stream.chunks(size).collect();
        let mut d = Deframer::stun_stream(100);
        let got = read_all(&mut d, &pieces);
        assert_eq!(got, std::slice::from_ref(&after), "pieces of {size}");
        assert_eq!(d.stats().dropped, 2);
        assert!(d.allocated() <= d.buffer_limit());
        assert_eq!(d.finish(), Ok(()));
    }
    let mut d = Deframer::stun_stream(1500);
    d.push(&ch[..3]);
    assert_eq!(
        d.finish(),
        Err(FrameError::Truncated {
            received: 3,
            missing: 1
        })
    );
    d.push(&ch[3..10]);
    assert_eq!(d.next_frame(), None);
    assert_eq!(
        d.finish(),
        Err(FrameError::Truncated {
            received: 10,
            missing: 98
        })
    );
    assert_eq!(Deframer::stun_stream(usize::MAX).max_frame(), 65_555);
}

proptest! {
    /// Any split of any sequence of frames decodes to the same frames, with any maximum:
    /// those over it counted as dropped, the null packets as null.
    #[test]
    fn any_split_decodes_the_same(
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20),
        cuts in proptest::collection::vec(1usize..400, 1..30),
        max_frame in prop_oneof![Just(u16::MAX), 1u16..200],
    ) {
        let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        let stream = framed(&refs);
        let pieces = cut(&stream, &cuts);
        let mut d = Deframer::with_max_frame(max_frame);
        let got = read_all(&mut d, &pieces);
        let max = usize::from(max_frame);
        let want: Vec<Vec<u8>> =
            frames.iter().filter(|f| !f.is_empty() && f.len() <= max).cloned().collect();
        prop_assert_eq!(&got, &want);
        let s = d.stats();
        prop_assert_eq!(s.frames, want.len() as u64);
        prop_assert_eq!(s.bytes, want.iter().map(Vec::len).sum::<usize>() as u64);
        prop_assert_eq!(s.null_frames, frames.iter().filter(|f| f.is_empty()).count() as u64);
        let over: Vec<&Vec<u8>> = frames.iter().filter(|f| f.len() > max).collect();
        prop_assert_eq!(s.dropped, over.len() as u64);
        prop_assert_eq!(s.dropped_bytes, over.iter().map(|f| f.len()).sum::<usize>() as u64);
        prop_assert_eq!(d.finish(), Ok(()));
        prop_assert!(d.allocated() <= d.buffer_limit());
    }

    /// Any split of any sequence of STUN messages and ChannelData reads back the same
    /// messages (ChannelData without its padding), those over the maximum skipped.
    #[test]
    fn stun_stream_any_split_decodes_the_same(
        msgs in proptest::collection::vec(
            (any::<bool>(), 0usize..150, 0x4000u16..=0x4FFF, any::<u8>()), 0..20),
        cuts in proptest::collection::vec(1usize..400, 1..30),
        max in prop_oneof![Just(65_555usize), 4usize..200],
    ) {
        let mut stream = Vec::new();
        let mut all = Vec::new();
        for (i, &(is_stun, n, ch, fill)) in msgs.iter().enumerate() {
            if is_stun {
                let m = stun_msg(n & !3, i as u8);
                stream.extend_from_slice(&m);
                all.push(m);
            } else {
                let (m, padded) = channel_msg(ch, &vec![fill; n]);
                stream.extend_from_slice(&padded);
                all.push(m);
            }
        }
        let pieces = cut(&stream, &cuts);
        let mut d = Deframer::stun_stream(max);
        let got = read_all(&mut d, &pieces);
        let want: Vec<Vec<u8>> = all.iter().filter(|m| m.len() <= max).cloned().collect();
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(d.stats().dropped, (all.len() - want.len()) as u64);
        prop_assert_eq!(d.finish(), Ok(()));
        prop_assert!(!d.is_broken());
        prop_assert!(d.allocated() <= d.buffer_limit());
    }
}
