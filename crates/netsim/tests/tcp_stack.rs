//! A host's TCP stack alone: bounded random tests with hostile input (it never panics, never
//! spins, stays within its bounds) and with a channel that drops, duplicates and reorders
//! (the stream still arrives intact). Each case prints its seed on failure.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ice_netsim::tcp::{TcpFlags, TcpPacket};
use ice_netsim::tcp_stack::{MAX_CONNECTIONS, TcpStack};
use ice_netsim::{TcpCommand, TcpConnId, TcpEvent, derive_seed};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

fn a(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

fn t0() -> Instant {
    #[allow(clippy::disallowed_methods)]
    Instant::now()
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.next_u32() as usize % items.len()]
}

/// A segment made up from nothing, or from something the stack sent (so that sequence and
/// acknowledgment numbers are sometimes right, reaching the deeper checks).
fn hostile_segment(rng: &mut ChaCha8Rng, seen: &[TcpPacket]) -> TcpPacket {
    let remotes = [
        a("10.0.0.2:80"),
        a("10.0.0.3:5000"),
        a("[2001:db8::1]:1"),
        a("10.0.0.2:49152"),
    ];
    let locals = [
        a("10.0.0.1:80"),
        a("10.0.0.1:81"),
        a("10.0.0.9:80"),
        a("10.0.0.1:49152"),
    ];
    let mut p = TcpPacket {
        src: pick(rng, &remotes),
        dst: pick(rng, &locals),
        seq: rng.next_u32(),
        ack: rng.next_u32(),
        flags: TcpFlags::from_bits(rng.next_u32() as u8),
        window: rng.next_u32() as u16,
        payload: vec![0x5a; (rng.next_u32() % 3000) as usize],
    };
    if let Some(last) = seen.get(rng.next_u32() as usize % seen.len().max(1)) {
        if rng.next_u32() % 2 == 0 {
            // An answer to what the stack sent: its addresses swapped, numbers near its own.
            p.src = last.dst;
            p.dst = last.src;
            p.ack = last
                .seq
                .wrapping_add(last.seg_len())
                .wrapping_add(rng.next_u32() % 3)
                .wrapping_sub(1);
            p.seq = last
                .ack
                .wrapping_add(rng.next_u32() % 2000)
                .wrapping_sub(500);
            if rng.next_u32() % 3 == 0 {
                p.payload.clear();
            }
        }
    }
    p
}

fn hostile_command(rng: &mut ChaCha8Rng, conns: &[TcpConnId]) -> TcpCommand {
    let conn = match conns.get(rng.next_u32() as usize % conns.len().max(1)) {
        Some(c) if rng.next_u32() % 4 != 0 => *c,
        _ => TcpConnId(u64::from(rng.next_u32())),
    };
    let addrs = [
        a("10.0.0.1:0"),
        a("10.0.0.1:80"),
        a("10.0.0.2:80"),
        a("[2001:db8::1]:0"),
        a("0.0.0.0:0"),
        a("10.0.0.3:5000"),
    ];
    match rng.next_u32() % 7 {
        0 => TcpCommand::Listen {
            addr: pick(rng, &addrs),
        },
        1 => TcpCommand::Unlisten {
            addr: pick(rng, &addrs),
        },
        2 | 3 => TcpCommand::Connect {
            token: u64::from(rng.next_u32()),
            from: pick(rng, &addrs),
            to: pick(rng, &addrs),
        },
        4 => TcpCommand::Send {
            conn,
            data: vec![1; (rng.next_u32() % 5000) as usize],
        },
        5 => TcpCommand::Close { conn },
        _ => TcpCommand::Abort { conn },
    }
}

#[test]
fn hostile_segments_and_commands_never_panic_nor_spin() {
    for seed in 0..40u64 {
        let mut rng = ChaCha8Rng::from_seed(derive_seed(seed, "hostile"));
        let ip: IpAddr = "10.0.0.1".parse().expect("ip");
        let mut stack = TcpStack::new(vec![ip], 1, derive_seed(seed, "stack"));
        stack.handle_command(
            t0(),
            TcpCommand::Listen {
                addr: a("10.0.0.1:80"),
            },
        );
        let mut now = t0();
        let mut seen: Vec<TcpPacket> = Vec::new();
        let mut conns: Vec<TcpConnId> = Vec::new();
        for _ in 0..3000 {
            match rng.next_u32() % 3 {
                0 => {
                    let p = hostile_segment(&mut rng, &seen);
                    stack.handle_segment(now, p);
                }
                1 => {
                    let cmd = hostile_command(&mut rng, &conns);
                    stack.handle_command(now, cmd);
                }
                _ => {
                    now += Duration::from_millis(u64::from(rng.next_u32() % 3000));
                    stack.handle_timeout(now);
                    if let Some(t) = stack.poll_timeout() {
                        assert!(t > now, "seed {seed}: a timer due at once after it ran");
                    }
                }
            }
            while let Some(p) = stack.poll_segment() {
                assert!(
                    p.payload.len() <= 1400,
                    "seed {seed}: a segment over the MSS"
                );
                if seen.len() > 64 {
                    seen.remove(0);
                }
                seen.push(p);
            }
            while let Some(e) = stack.poll_event() {
                if let TcpEvent::Connected { conn, .. } | TcpEvent::Accepted { conn, .. } = e {
                    conns.push(conn);
                }
            }
            assert!(
                stack.connections().count() <= MAX_CONNECTIONS,
                "seed {seed}"
            );
        }
        let stats = stack.stats();
        assert!(
            stats.no_connection + stats.dropped + stats.bad_commands > 0,
            "seed {seed}: hostile input was counted: {stats:?}"
        );
    }
}

/// Two stacks joined by a channel that loses, duplicates and reorders segments.
#[test]
fn a_stream_survives_a_channel_that_drops_duplicates_and_reorders() {
    for seed in 0..20u64 {
        let mut rng = ChaCha8Rng::from_seed(derive_seed(seed, "channel"));
        let (ip_a, ip_b): (IpAddr, IpAddr) = (
            "10.0.0.1".parse().expect("ip"),
            "10.0.0.2".parse().expect("ip"),
        );
        let mut stacks = [
            TcpStack::new(vec![ip_a], 1, derive_seed(seed, "a")),
            TcpStack::new(vec![ip_b], 1 << 32, derive_seed(seed, "b")),
        ];
        let mut now = t0();
        stacks[1].handle_command(
            now,
            TcpCommand::Listen {
                addr: a("10.0.0.2:80"),
            },
        );
        stacks[0].handle_command(
            now,
            TcpCommand::Connect {
                token: 1,
                from: a("10.0.0.1:0"),
                to: a("10.0.0.2:80"),
            },
        );
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut got = Vec::new();
        let mut closed = false;
        // Segments in the channel: (due, segment).
        let mut channel: Vec<(Instant, TcpPacket)> = Vec::new();
        for _ in 0..200_000 {
            for (i, s) in stacks.iter_mut().enumerate() {
                while let Some(p) = s.poll_segment() {
                    let copies = match rng.next_u32() % 20 {
                        0 | 1 => 0, // lost
                        2 => 2,     // duplicated
                        _ => 1,
                    };
                    for _ in 0..copies {
                        let delay = Duration::from_millis(10 + u64::from(rng.next_u32() % 30));
                        channel.push((now + delay, p.clone()));
                    }
                }
                while let Some(e) = s.poll_event() {
                    match e {
                        TcpEvent::Connected { conn, .. } if i == 0 => {
                            s.handle_command(
                                now,
                                TcpCommand::Send {
                                    conn,
                                    data: data.clone(),
                                },
                            );
                            s.handle_command(now, TcpCommand::Close { conn });
                        }
                        TcpEvent::Data { data, .. } => got.extend_from_slice(&data),
                        TcpEvent::Closed { .. } => closed = true,
                        TcpEvent::ConnectFailed { .. } | TcpEvent::Reset { .. } => {
                            panic!("seed {seed}: {e:?}")
                        }
                        _ => {}
                    }
                }
            }
            if closed {
                break;
            }
            let next_segment = channel.iter().map(|(t, _)| *t).min();
            let next_timer = stacks.iter().filter_map(TcpStack::poll_timeout).min();
            let Some(next) = [next_segment, next_timer].into_iter().flatten().min() else {
                break;
            };
            now = now.max(next);
            if let Some(i) = channel.iter().position(|(t, _)| *t <= now) {
                let (_, p) = channel.remove(i);
                let to = usize::from(p.dst.ip() == ip_b);
                stacks[to].handle_segment(now, p);
            } else {
                for s in &mut stacks {
                    s.handle_timeout(now);
                }
            }
        }
        assert!(
            closed,
            "seed {seed}: the FIN arrived ({} of {} bytes)",
            got.len(),
            data.len()
        );
        assert!(
            got == data,
            "seed {seed}: the stream arrived intact and in order"
        );
    }
}
