//! `transfer`: a sender and a receiver over a seeded in-memory link that loses, delays,
//! reorders, duplicates and queues datagrams, in virtual time. The bytes must arrive exactly,
//! the digests must match, a seed must replay the same run, hostile bytes must not panic.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jingle_ice_conformance::transfer::wire::{self, Kind};
use jingle_ice_conformance::transfer::{
    FailReason, Receiver, ReceiverState, Sender, SenderState, TransferConfig, TransferStats, hex,
};
use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

const MS: Duration = Duration::from_millis(1);
const MIB: usize = 1 << 20;

fn t0() -> Instant {
    #[allow(clippy::disallowed_methods, reason = "the origin of virtual time")]
    Instant::now()
}

/// What the link does to each datagram.
#[derive(Debug, Clone)]
struct Net {
    /// Probability of loss, in millionths, each direction.
    loss_ppm: u32,
    /// Probability that a datagram is delivered twice, in millionths.
    dup_ppm: u32,
    /// One-way delay before jitter.
    delay: Duration,
    /// Each datagram is delayed by up to this much more (uniformly): datagrams overtake each
    /// other.
    jitter: Duration,
    /// A bottleneck: bytes per second and the datagrams its queue holds (drop-tail), if any.
    bottleneck: Option<(u64, usize)>,
}

impl Net {
    fn lossy(loss_percent: u32) -> Net {
        Net {
            loss_ppm: loss_percent * 10_000,
            dup_ppm: 0,
            delay: 20 * MS,
            jitter: 30 * MS,
            bottleneck: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum To {
    Receiver,
    Sender,
}

/// Datagrams in flight, ordered by (arrival, sequence number): deterministic.
struct Link {
    net: Net,
    rng: ChaCha8Rng,
    queue: BTreeMap<(Instant, u64), (To, Vec<u8>)>,
    n: u64,
    /// When the bottleneck (sender to receiver) is free again.
    free_at: Option<Instant>,
    /// Datagrams the bottleneck's queue refused.
    overflow: u64,
}

impl Link {
    fn new(net: Net, seed: u64) -> Link {
        Link {
            net,
            rng: ChaCha8Rng::seed_from_u64(seed),
            queue: BTreeMap::new(),
            n: 0,
            free_at: None,
            overflow: 0,
        }
    }

    fn draw(&mut self, ppm: u32) -> bool {
        ((u64::from(self.rng.next_u32()) * 1_000_000) >> 32) < u64::from(ppm)
    }

    fn jitter(&mut self) -> Duration {
        let j = self.net.jitter.as_nanos() as u64;
        if j == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(self.rng.next_u64() % j)
        }
    }

    fn send(&mut self, now: Instant, to: To, datagram: Vec<u8>) {
        if self.draw(self.net.loss_ppm) {
            return;
        }
        let mut depart = now;
        if let (To::Receiver, Some((rate, slots))) = (to, self.net.bottleneck) {
            let free = self.free_at.unwrap_or(now).max(now);
            let per = Duration::from_nanos(1_500 * 1_000_000_000 / rate);
            if free.saturating_duration_since(now) > per * slots as u32 {
                self.overflow += 1;
                return;
            }
            let wire = Duration::from_nanos(datagram.len() as u64 * 1_000_000_000 / rate);
            depart = free + wire;
            self.free_at = Some(depart);
        }
        let copies = if self.draw(self.net.dup_ppm) { 2 } else { 1 };
        for _ in 0..copies {
            let at = depart + self.net.delay + self.jitter();
            self.n += 1;
            self.queue.insert((at, self.n), (to, datagram.clone()));
        }
    }

    fn next(&self) -> Option<Instant> {
        self.queue.keys().next().map(|k| k.0)
    }

    fn pop_due(&mut self, now: Instant) -> Option<(To, Vec<u8>)> {
        let (&key, _) = self.queue.iter().next()?;
        if key.0 > now {
            return None;
        }
        self.queue.remove(&key)
    }
}

/// What a run produced.
#[derive(Debug)]
struct Run {
    source: Vec<u8>,
    received: Vec<u8>,
    sender: SenderState,
    receiver: ReceiverState,
    sender_stats: TransferStats,
    receiver_stats: TransferStats,
    elapsed: Duration,
    overflow: u64,
}

impl Run {
    fn datagrams(&self) -> (u64, u64) {
        (
            self.sender_stats.datagrams_sent,
            self.receiver_stats.datagrams_sent,
        )
    }

    /// Every byte in order, both digests equal to the SHA-256 of the source.
    fn assert_delivered(&self) {
        assert!(
            self.received == self.source,
            "{} of {} bytes, not the same",
            self.received.len(),
            self.source.len()
        );
        let want: [u8; 32] = Sha256::digest(&self.source).into();
        let SenderState::Done {
            sha256,
            peer_sha256,
        } = self.sender
        else {
            panic!("sender {:?}, receiver {:?}", self.sender, self.receiver);
        };
        assert_eq!((hex(&sha256), hex(&peer_sha256)), (hex(&want), hex(&want)));
        assert_eq!(
            self.receiver,
            ReceiverState::Done {
                sha256: want,
                peer_sha256: want
            }
        );
    }
}

/// Sends `len` bytes (from `seed`) from a sender to a receiver over `net`, until the sender is
/// done or failed (at most an hour of virtual time).
fn run(seed: u64, len: usize, net: Net, config: TransferConfig) -> Run {
    let mut source = vec![0; len];
    ChaCha8Rng::seed_from_u64(seed ^ 0x5eed).fill_bytes(&mut source);
    let start = t0();
    let mut now = start;
    let id = seed as u32 | 1;
    let mut sender = Sender::new(id, len as u64, Some("file.bin".into()), config.clone())
        .expect("a valid sender");
    let mut receiver = Receiver::new(config).expect("a valid receiver");
    let mut link = Link::new(net, seed);
    let mut reader = &source[..];
    let mut received = Vec::new();
    loop {
        sender
            .read_from(&mut reader)
            .expect("the source has every byte");
        while let Some(d) = sender.poll_transmit(now) {
            link.send(now, To::Receiver, d);
        }
        while let Some(d) = receiver.poll_transmit(now) {
            link.send(now, To::Sender, d);
        }
        receiver
            .write_to(&mut received)
            .expect("a Vec takes every byte");
        if matches!(
            sender.state(),
            SenderState::Done { .. } | SenderState::Failed(_)
        ) {
            break;
        }
        let next = [link.next(), sender.poll_timeout(), receiver.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else { break };
        now = now.max(next);
        assert!(
            now - start < Duration::from_secs(3600),
            "an hour of virtual time"
        );
        if let Some((to, d)) = link.pop_due(now) {
            match to {
                To::Receiver => receiver.handle_datagram(now, &d),
                To::Sender => sender.handle_datagram(now, &d),
            }
        }
        if sender.poll_timeout().is_some_and(|t| t <= now) {
            sender.handle_timeout(now);
        }
        if receiver.poll_timeout().is_some_and(|t| t <= now) {
            receiver.handle_timeout(now);
        }
    }
    if !matches!(
        receiver.state(),
        ReceiverState::Waiting | ReceiverState::Failed(_)
    ) {
        assert_eq!(receiver.name(), Some("file.bin"));
    }
    Run {
        source,
        received,
        sender: sender.state(),
        receiver: receiver.state(),
        sender_stats: sender.stats().clone(),
        receiver_stats: receiver.stats().clone(),
        elapsed: now - start,
        overflow: link.overflow,
    }
}

fn report(what: &str, r: &Run) {
    println!(
        "{what}: {} bytes in {:.2} s virtual: sender {} datagrams ({} retransmissions, {} fast, {} timeouts), receiver {} datagrams ({} duplicates, {} beyond the window), {} queue drops",
        r.source.len(),
        r.elapsed.as_secs_f64(),
        r.sender_stats.datagrams_sent,
        r.sender_stats.retransmissions,
        r.sender_stats.fast_retransmits,
        r.sender_stats.timeouts,
        r.receiver_stats.datagrams_sent,
        r.receiver_stats.duplicates,
        r.receiver_stats.beyond_window,
        r.overflow,
    );
}

#[test]
fn a_mebibyte_without_loss_takes_one_datagram_per_chunk() {
    let net = Net {
        jitter: Duration::ZERO,
        ..Net::lossy(0)
    };
    let r = run(1, MIB, net, TransferConfig::default());
    report("0% loss", &r);
    r.assert_delivered();
    // 1,049 chunks, the Start and the End; no retransmission.
    assert_eq!(r.sender_stats.datagrams_sent, 1049 + 2);
    assert_eq!(r.sender_stats.retransmissions, 0);
    assert_eq!(r.sender_stats.dropped() + r.receiver_stats.dropped(), 0);
}

#[test]
fn reordering_alone_costs_few_retransmissions() {
    // Up to 30 ms of jitter on 20 ms of delay: a burst arrives in any order.
    let r = run(1, MIB, Net::lossy(0), TransferConfig::default());
    report("0% loss, reordering", &r);
    r.assert_delivered();
    assert!(r.sender_stats.retransmissions < 30, "{:?}", r.sender_stats);
}

#[test]
fn a_mebibyte_through_ten_percent_loss_and_reordering_arrives_exactly() {
    let r = run(7, MIB, Net::lossy(10), TransferConfig::default());
    report("10% loss", &r);
    r.assert_delivered();
    assert!(r.sender_stats.retransmissions > 50, "{:?}", r.sender_stats);
    // Retransmissions stay near the loss: not every chunk twice.
    assert!(r.sender_stats.retransmissions < 400, "{:?}", r.sender_stats);
    assert!(r.receiver_stats.duplicates > 0 || r.sender_stats.fast_retransmits > 0);
    assert!(r.elapsed < Duration::from_secs(120), "{:?}", r.elapsed);
}

#[test]
fn the_same_seed_replays_the_same_run() {
    let net = Net {
        dup_ppm: 50_000,
        ..Net::lossy(10)
    };
    let a = run(42, 200_000, net.clone(), TransferConfig::default());
    let b = run(42, 200_000, net.clone(), TransferConfig::default());
    a.assert_delivered();
    assert_eq!(a.datagrams(), b.datagrams());
    assert_eq!(a.sender_stats, b.sender_stats);
    assert_eq!(a.receiver_stats, b.receiver_stats);
    assert_eq!(a.elapsed, b.elapsed);
    let c = run(43, 200_000, net, TransferConfig::default());
    c.assert_delivered();
    assert_ne!((a.datagrams(), a.elapsed), (c.datagrams(), c.elapsed));
}

#[test]
fn duplicated_datagrams_are_counted_and_harmless() {
    let net = Net {
        dup_ppm: 200_000,
        ..Net::lossy(5)
    };
    let r = run(3, 300_000, net, TransferConfig::default());
    report("20% duplicates", &r);
    r.assert_delivered();
    assert!(r.receiver_stats.duplicates > 20, "{:?}", r.receiver_stats);
}

#[test]
fn a_slow_bottleneck_is_not_drowned() {
    // 1 Mbit/s, a queue of 16 datagrams, 50 ms of delay: a window of 64 would overflow the
    // queue again and again; the congestion window keeps the losses few.
    let net = Net {
        loss_ppm: 0,
        dup_ppm: 0,
        delay: 50 * MS,
        jitter: Duration::ZERO,
        bottleneck: Some((125_000, 16)),
    };
    let r = run(5, MIB, net, TransferConfig::default());
    report("1 Mbit/s bottleneck", &r);
    r.assert_delivered();
    assert!(
        r.overflow < 105,
        "{} queue drops for 1049 chunks",
        r.overflow
    );
    // 1 MiB at 1 Mbit/s is 8.4 s at best.
    assert!(r.elapsed < Duration::from_secs(14), "{:?}", r.elapsed);
}

#[test]
fn a_zero_byte_transfer_completes() {
    let r = run(9, 0, Net::lossy(0), TransferConfig::default());
    r.assert_delivered();
    assert_eq!(r.datagrams(), (2, 2));
    // And through loss.
    let r = run(9, 0, Net::lossy(30), TransferConfig::default());
    r.assert_delivered();
}

#[test]
fn a_small_window_and_odd_chunks_still_deliver() {
    let config = TransferConfig {
        chunk_len: 333,
        window: 3,
        ..TransferConfig::default()
    };
    let r = run(11, 50_001, Net::lossy(15), config);
    r.assert_delivered();
}

#[test]
fn losing_everything_fails_after_the_no_progress_timeout() {
    let r = run(13, 100_000, Net::lossy(100), TransferConfig::default());
    report("100% loss", &r);
    assert_eq!(
        r.sender,
        SenderState::Failed(FailReason::NoProgress(Duration::from_secs(15)))
    );
    assert_eq!(r.elapsed, Duration::from_secs(15));
    assert_eq!(
        r.receiver,
        ReceiverState::Failed(FailReason::NoProgress(Duration::from_secs(15)))
    );
    assert!(r.received.is_empty());
    // Backoff: 300, 600, 1200, 2400 ms then 3 s: 7 expiries in 15 s.
    assert_eq!(r.sender_stats.timeouts, 7);
}

#[test]
fn a_transfer_beyond_the_receivers_maximum_fails_both_ends() {
    let config = TransferConfig {
        max_total_len: 10_000,
        ..TransferConfig::default()
    };
    let r = run(17, 10_001, Net::lossy(0), config);
    assert!(matches!(
        r.receiver,
        ReceiverState::Failed(FailReason::TooLong {
            total_len: 10_001,
            max: 10_000
        })
    ));
    assert!(matches!(
        r.sender,
        SenderState::Failed(FailReason::NoProgress(_))
    ));
}

#[test]
fn both_directions_share_one_link_and_demultiplex_by_the_first_byte() {
    // Each side sends 20 kB to the other; one datagram stream each way carries both.
    let now0 = t0();
    let mut now = now0;
    let config = TransferConfig::default();
    let data = [vec![1u8; 20_000], vec![2u8; 20_000]];
    let mut senders: Vec<Sender> = (0..2)
        .map(|i| Sender::new(100 + i, 20_000, None, config.clone()).unwrap())
        .collect();
    let mut receivers: Vec<Receiver> = (0..2)
        .map(|_| Receiver::new(config.clone()).unwrap())
        .collect();
    let mut readers = [&data[0][..], &data[1][..]];
    let mut got = [Vec::new(), Vec::new()];
    let mut link = Link {
        net: Net {
            loss_ppm: 0,
            ..Net::lossy(10)
        },
        ..Link::new(Net::lossy(10), 99)
    };
    // A STUN Binding request and a ChannelData message share the path (not lost).
    link.send(
        now,
        To::Receiver,
        vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42],
    );
    link.send(now, To::Sender, vec![0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4]);
    link.net.loss_ppm = 100_000;
    let mut stun_like = 0;
    for _ in 0..100_000 {
        for side in 0..2 {
            let to = if side == 0 { To::Receiver } else { To::Sender };
            senders[side].read_from(&mut readers[side]).unwrap();
            while let Some(d) = senders[side].poll_transmit(now) {
                link.send(now, to, d);
            }
            while let Some(d) = receivers[side].poll_transmit(now) {
                link.send(now, to, d);
            }
            receivers[side].write_to(&mut got[side]).unwrap();
        }
        if senders
            .iter()
            .all(|s| matches!(s.state(), SenderState::Done { .. }))
        {
            break;
        }
        let deadlines = senders
            .iter()
            .map(Sender::poll_timeout)
            .chain(receivers.iter().map(Receiver::poll_timeout));
        let Some(next) = deadlines.chain([link.next()]).flatten().min() else {
            break;
        };
        now = now.max(next);
        if let Some((to, d)) = link.pop_due(now) {
            // To::Receiver: from side 0 to side 1.
            let side = if to == To::Receiver { 1 } else { 0 };
            if !wire::is_transfer_datagram(&d) {
                stun_like += 1;
            } else if Kind::of(d[0]).is_some_and(Kind::to_receiver) {
                receivers[side].handle_datagram(now, &d);
            } else {
                senders[side].handle_datagram(now, &d);
            }
        }
        for s in &mut senders {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.handle_timeout(now);
            }
        }
        for r in &mut receivers {
            if r.poll_timeout().is_some_and(|t| t <= now) {
                r.handle_timeout(now);
            }
        }
    }
    assert_eq!(stun_like, 2);
    let stats = senders
        .iter()
        .map(Sender::stats)
        .chain(receivers.iter().map(Receiver::stats));
    let misrouted: u64 = stats.map(|s| s.wrong_id + s.unexpected + s.malformed).sum();
    assert_eq!(
        misrouted, 0,
        "each end got only its own transfer's datagrams"
    );
    assert_eq!(
        (got[1].as_slice(), got[0].as_slice()),
        (&data[0][..], &data[1][..])
    );
    assert_eq!(
        (receivers[1].id(), receivers[0].id()),
        (Some(100), Some(101))
    );
    assert!(now - now0 < Duration::from_secs(30));
}

/// The datagrams of a short lossless transfer, both ways, to mutate.
fn sample_datagrams() -> Vec<Vec<u8>> {
    let now = t0();
    let config = TransferConfig {
        chunk_len: 100,
        ..TransferConfig::default()
    };
    let mut s = Sender::new(77, 450, Some("x".into()), config.clone()).expect("a valid sender");
    let mut r = Receiver::new(config).expect("a valid receiver");
    s.read_from(&mut &[3u8; 450][..]).expect("450 bytes");
    let mut all = Vec::new();
    for _ in 0..10 {
        while let Some(d) = s.poll_transmit(now) {
            r.handle_datagram(now, &d);
            all.push(d);
        }
        while let Some(d) = r.poll_transmit(now) {
            s.handle_datagram(now, &d);
            all.push(d);
        }
    }
    assert!(matches!(s.state(), SenderState::Done { .. }));
    all
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any seed, loss up to 25%, duplicates, reordering, chunk and window sizes: the exact
    /// bytes and the right SHA-256 arrive. (The no-progress timeout is long here: losing
    /// everything for 15 s is a failure the protocol must report, not this property's.)
    #[test]
    fn random_loss_and_reordering_deliver_exactly(
        seed in any::<u64>(),
        len in 0usize..60_000,
        loss in 0u32..=25,
        dup_ppm in 0u32..100_000,
        jitter_ms in 0u32..100,
        chunk_len in prop::sample::select(vec![1usize, 100, 999, 1000, 1400]),
        window in 1u32..=64,
    ) {
        let len = if chunk_len == 1 { len % 500 } else { len };
        let net = Net { dup_ppm, jitter: jitter_ms * MS, ..Net::lossy(loss) };
        let config = TransferConfig {
            chunk_len,
            window,
            no_progress_timeout: Duration::from_secs(120),
            ..TransferConfig::default()
        };
        let r = run(seed, len, net, config);
        r.assert_delivered();
    }

    /// Whatever decodes is the canonical encoding of what it decodes to.
    #[test]
    fn decoding_is_canonical(bytes in prop::collection::vec(any::<u8>(), 0..64), first in 0x80u8..0x86) {
        let mut bytes = bytes;
        if let Some(b) = bytes.first_mut() {
            *b = first;
        }
        if let Ok(d) = wire::decode(&bytes) {
            prop_assert_eq!(d.encode().expect("what decodes encodes"), bytes);
        }
    }

    /// Every valid message round-trips.
    #[test]
    fn messages_round_trip(
        id in any::<u32>(),
        kind in 0u8..5,
        n in any::<u64>(),
        small in 1u16..=16384,
        name in "[a-zA-Z0-9 ._é-]{1,60}",
        payload in prop::collection::vec(any::<u8>(), 1..1500),
        sha in any::<[u8; 32]>(),
    ) {
        let message = match kind {
            0 => wire::Message::Start {
                total_len: n % (u64::from(small) << 20),
                chunk_len: small,
                name: (name != "." && name != "..").then_some(name.as_str()),
            },
            1 => wire::Message::Data { seq: n as u32, payload: &payload },
            2 => wire::Message::Ack(wire::AckInfo {
                next_expected: n as u32,
                bitmap: n.rotate_left(7),
                start_received: n & 1 == 1,
            }),
            3 => wire::Message::End { sha256: sha },
            _ => wire::Message::EndAck { sha256: sha },
        };
        let d = wire::Datagram { id, message };
        let bytes = d.encode().expect("a valid message encodes");
        prop_assert!((128..=191).contains(&bytes[0]));
        prop_assert_eq!(wire::decode(&bytes), Ok(d));
    }

    /// Arbitrary bytes never panic either end, and are all counted as dropped.
    #[test]
    fn garbage_is_dropped_and_counted(datagrams in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..80), 1..40)) {
        let now = t0();
        let mut r = Receiver::new(TransferConfig::default()).unwrap();
        let mut s = Sender::new(5, 5000, None, TransferConfig::default()).unwrap();
        for d in &datagrams {
            r.handle_datagram(now, d);
            s.handle_datagram(now, d);
            let _ = r.poll_transmit(now);
            let _ = s.poll_transmit(now);
            let _ = r.poll_bytes();
        }
        prop_assert!(r.bytes_received() <= r.total_len().unwrap_or(0));
        prop_assert_eq!(s.stats().datagrams_received, datagrams.len() as u64);
    }

    /// Valid datagrams of a transfer with bytes flipped, cut or appended, in any order: no
    /// panic, nothing past the announced length, and every one that decodes again is either
    /// taken or counted.
    #[test]
    fn mutated_datagrams_never_panic(
        picks in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..200),
    ) {
        let originals = sample_datagrams();
        let now = t0();
        let mut r = Receiver::new(TransferConfig { window: 8, ..TransferConfig::default() }).unwrap();
        let mut s = Sender::new(77, 450, Some("x".into()), TransferConfig { chunk_len: 100, ..TransferConfig::default() }).unwrap();
        s.read_from(&mut &[3u8; 450][..]).unwrap();
        while s.poll_transmit(now).is_some() {}
        for (which, at, byte, how) in picks {
            let mut d = originals[which.index(originals.len())].clone();
            let i = at.index(d.len());
            match how {
                0 => d[i] ^= byte.max(1),
                1 => d.truncate(i),
                2 => d.push(byte),
                _ => {}
            }
            r.handle_datagram(now, &d);
            s.handle_datagram(now, &d);
            while r.poll_transmit(now).is_some() {}
            while s.poll_transmit(now).is_some() {}
            let _ = r.poll_bytes();
        }
        prop_assert!(r.bytes_received() <= r.total_len().unwrap_or(0));
        prop_assert!(s.bytes_acked() <= 450);
    }
}
