//! The same seeds replay the same run.

use std::net::SocketAddr;
use std::time::Duration;

use crate::SEEDS;
use crate::inspect::mask_nonce;
use crate::net::relayed_run;

type Trace = Vec<(usize, Duration, SocketAddr, SocketAddr, Vec<u8>)>;

/// The run of `connect::hosts_apart_connect_through_the_relay` (and 30 s of consent checks
/// after it), as the datagrams the agents sent: agent, virtual time, addresses, bytes (the
/// server's nonce masked, see `mask_nonce`).
fn run(seeds: [u8; 2]) -> Trace {
    let net = relayed_run(seeds);
    let mut trace = Vec::new();
    for (i, p) in net.peers.iter().enumerate() {
        assert_eq!(p.received.len(), 1);
        for w in &p.sent {
            trace.push((i, w.at, w.from, w.to, mask_nonce(&w.data)));
        }
    }
    trace
}

/// The agents' promise (no clock, no OS randomness: the seed and the inputs decide): two runs
/// with the same seeds send the same datagrams, byte for byte, at the same virtual times,
/// relay traffic included; other seeds send others (the comparison sees a difference).
#[test]
fn same_seeds_same_datagrams() {
    let first = run(SEEDS);
    let second = run(SEEDS);
    assert!(first.len() > 20, "{} datagrams", first.len());
    assert_eq!(first.len(), second.len());
    for (k, (a, b)) in first.iter().zip(&second).enumerate() {
        assert_eq!(a, b, "datagram {k}");
    }
    let other = run([SEEDS[0] + 1, SEEDS[1]]);
    assert_ne!(first, other);
}
