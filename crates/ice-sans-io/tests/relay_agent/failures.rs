//! A TURN server that refuses the credentials, and one that never answers.

use std::time::Duration;

use ice_sans_io::turn::TurnFailure;
use ice_sans_io::{CandidateKind, Event, State};

use crate::SEEDS;
use crate::inspect::allocates;
use crate::net::{Net, PASS, Peer, SERVER, server_unreachable};

fn relay_failed(p: &Peer) -> Vec<(Duration, usize, TurnFailure)> {
    (0..p.events.len())
        .filter_map(|k| match &p.events[k] {
            (
                t,
                Event::RelayFailed {
                    server,
                    base,
                    reason,
                },
            ) => {
                assert_eq!((*server, *base), (SERVER, p.host));
                Some((*t, k, *reason))
            }
            _ => None,
        })
        .collect()
}

fn gathering_complete(p: &Peer) -> Vec<(Duration, usize)> {
    (0..p.events.len())
        .filter(|&k| p.events[k].1 == Event::GatheringComplete)
        .map(|k| (p.events[k].0, k))
        .collect()
}

fn all_gathered(n: &Net) -> bool {
    n.peers.iter().all(|p| !gathering_complete(p).is_empty())
}

/// RFC 8489 §9.2.5 (a 401 to a signed request: the credentials are refused), RFC 8445
/// §5.1.1.2 (gathering goes on without the relay): A's password is wrong; A gets
/// `Event::RelayFailed` with the 401, no relayed candidate, `Event::GatheringComplete` after
/// the failure, and the agents connect host to host.
#[test]
fn wrong_password_fails_the_relay_not_the_session() {
    let mut net = Net::new(SEEDS);
    net.start_with(["not the password", PASS], true);
    assert!(net.run_until(Duration::from_secs(5), all_gathered));
    net.connect();
    let a = &net.peers[0];
    let failed = relay_failed(a);
    let [(at, k, reason)] = failed[..] else {
        panic!("{:?}", a.events)
    };
    println!("RelayFailed after {at:?}: {reason:?} ({reason})");
    assert_eq!(reason.code(), Some(401), "{reason:?}");
    // Two round trips (401 with the nonce, 401 to the signed retry), no retransmission wait.
    assert!(at < Duration::from_secs(1), "{at:?}");
    assert_eq!(allocates(&a.sent), 2);
    let [(_, complete)] = gathering_complete(a)[..] else {
        panic!("{:?}", a.events)
    };
    assert!(complete > k);
    assert!(
        !a.agent
            .local_candidates()
            .any(|c| c.kind == CandidateKind::Relayed)
    );
    // B's allocation is fine.
    assert!(relay_failed(&net.peers[1]).is_empty());
    for p in &net.peers {
        let (local, remote) = p.nominated_since(Duration::ZERO).unwrap();
        assert_eq!(
            (local.kind, remote.kind),
            (CandidateKind::Host, CandidateKind::Host)
        );
        assert_eq!(p.agent.state(), State::Completed);
    }
}

/// RFC 8489 §6.2.1: nothing reaches the server; the Allocate is sent Rc = 7 times (RTO 500 ms,
/// doubling) and fails after Rm * RTO = 8 s more, 39.5 s after the first, with
/// `TurnFailure::Timeout`; `Event::GatheringComplete` follows then, not before. The agents
/// connect host to host meanwhile.
#[test]
fn silent_server_times_out_after_39_5_s() {
    let mut net = Net::new(SEEDS);
    net.filter = Some(server_unreachable());
    net.start();
    net.connect();
    assert!(gathering_complete(&net.peers[0]).is_empty());
    assert!(net.run_until(Duration::from_secs(60), all_gathered));
    for (i, p) in net.peers.iter().enumerate() {
        let requests: Vec<Duration> = p
            .sent
            .iter()
            .filter(|w| w.to == SERVER)
            .map(|w| w.at)
            .collect();
        assert_eq!(requests.len(), 7, "Rc");
        assert_eq!(allocates(&p.sent), 7);
        let gaps: Vec<u64> = requests
            .windows(2)
            .map(|w| (w[1] - w[0]).as_millis() as u64)
            .collect();
        assert_eq!(gaps, [500, 1000, 2000, 4000, 8000, 16000]);
        let failed = relay_failed(p);
        let [(at, k, reason)] = failed[..] else {
            panic!("{:?}", p.events)
        };
        assert_eq!(reason, TurnFailure::Timeout);
        assert_eq!(at - requests[0], Duration::from_millis(39_500), "agent {i}");
        let [(complete_at, complete)] = gathering_complete(p)[..] else {
            panic!("{:?}", p.events)
        };
        assert_eq!(complete_at, at);
        assert!(complete > k);
        assert_eq!(p.agent.state(), State::Completed);
    }
}
