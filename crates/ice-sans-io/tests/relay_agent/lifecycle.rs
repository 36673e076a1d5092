//! What a restart keeps (the allocation) and what close releases.

use std::time::Duration;

use ice_sans_io::stun::{Class, Method};
use ice_sans_io::turn::TurnState;
use ice_sans_io::{CandidateKind, Event, State};

use crate::SEEDS;
use crate::inspect::{allocates, lifetime, stun};
use crate::net::{HOSTS, Net, SERVER, hosts_apart};

fn relay_allocated(p: &crate::net::Peer) -> Vec<std::net::SocketAddr> {
    p.events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::RelayAllocated { relayed, .. } => Some(*relayed),
            _ => None,
        })
        .collect()
}

/// RFC 8445 §9 (a restart keeps the candidates, new checks on new pairs) with RFC 8656 §9:
/// after `restart` on both agents and the new credentials and candidates signalled, the
/// relayed candidate is announced again at the same address, no Allocate goes out (the
/// allocation is kept: the server allocated nothing more), and the agents connect again
/// through the relay and carry data.
#[test]
fn restart_keeps_the_allocation() {
    let mut net = Net::new(SEEDS);
    net.filter = Some(hosts_apart());
    net.start();
    net.connect();
    let relayed: Vec<_> = net.peers.iter().map(relay_allocated).collect();
    let allocs: Vec<usize> = net.peers.iter().map(|p| allocates(&p.sent)).collect();
    assert_eq!(allocs, [2, 2], "401, then the signed Allocate");
    net.run_for(Duration::from_secs(1));
    let t = net.elapsed();
    net.restart_both();
    let reconnected = |n: &Net| {
        n.both(State::Completed) && n.peers.iter().all(|p| p.nominated_since(t).is_some())
    };
    assert!(net.run_until(t + Duration::from_secs(10), reconnected));
    for (i, p) in net.peers.iter().enumerate() {
        assert_eq!(p.agent.generation(), 1);
        let again: Vec<_> = p
            .local_candidates_since(t)
            .into_iter()
            .filter(|c| c.kind == CandidateKind::Relayed)
            .map(|c| c.addr)
            .collect();
        assert_eq!(again, relayed[i], "agent {i}");
        assert_eq!(relay_allocated(p), relayed[i], "no second allocation");
        assert_eq!(allocates(&p.sent), allocs[i], "agent {i} sent an Allocate");
        let (local, remote) = p.nominated_since(t).unwrap();
        assert!(
            local.kind == CandidateKind::Relayed || remote.kind == CandidateKind::Relayed,
            "{local:?} / {remote:?}"
        );
    }
    assert_eq!(net.relayed.len(), 2);
    net.send(0, b"after restart A");
    net.send(1, b"after restart B");
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.peers[1].received, vec![b"after restart A".to_vec()]);
    assert_eq!(net.peers[0].received, vec![b"after restart B".to_vec()]);
}

/// RFC 8656 §8: `close` sends a Refresh with LIFETIME 0; the server deletes the allocation
/// (closes the relayed socket, and stops relaying what arrives on it) while B's allocation
/// goes on; A's TURN client ends Closed.
#[test]
fn close_releases_the_allocation() {
    let mut net = Net::new(SEEDS);
    net.filter = Some(hosts_apart());
    net.start();
    net.connect();
    let ra = net.peers[0]
        .agent
        .turn_clients()
        .next()
        .unwrap()
        .relayed_address();
    let rb = net.peers[1]
        .agent
        .turn_clients()
        .next()
        .unwrap()
        .relayed_address();
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    // Each allocation has a permission for the other host's IP (pairs with its candidate).
    assert!(net.server_forwards(HOSTS[1], ra));
    assert!(net.server_forwards(HOSTS[0], rb));
    let t = net.elapsed();
    let now = net.now;
    net.peers[0].agent.close(now);
    net.drain();
    net.run_for(Duration::from_secs(1));
    let releases: Vec<Option<u32>> = net.peers[0]
        .sent
        .iter()
        .filter(|w| w.at >= t && w.to == SERVER)
        .filter_map(|w| stun(&w.data))
        .filter(|m| m.class() == Class::Request && m.method() == Method::REFRESH)
        .map(|m| lifetime(&m))
        .collect();
    assert_eq!(releases, [Some(0)]);
    assert_eq!(net.closed, [ra]);
    assert!(!net.server_forwards(HOSTS[1], ra), "still relaying to A");
    assert!(net.server_forwards(HOSTS[0], rb), "B's allocation went too");
    let a = net.peers[0].agent.turn_clients().next().unwrap();
    assert_eq!(a.state(), TurnState::Closed);
}

/// RFC 8838 §4.4 (end-of-candidates once gathering is done) with RFC 8656 §8: `close` while
/// A's Allocate is in flight ends that relay, so gathering is complete: A's
/// `Event::GatheringComplete` comes, and after a restart the new generation's comes too.
/// (Found by this test: the client's `TurnEvent::Closed` was not taken as the end of that
/// relay's gathering, and `GatheringComplete` never came.)
#[test]
fn close_while_allocating_still_completes_gathering() {
    let mut net = Net::new(SEEDS);
    net.start();
    // The signed Allocate is out (10 ms to the server and back: 401, then the retry).
    net.run_for(Duration::from_millis(25));
    assert_eq!(allocates(&net.peers[0].sent), 2);
    let a = &net.peers[0];
    assert!(
        a.position(|e| matches!(e, Event::RelayAllocated { .. }))
            .is_none()
    );
    let now = net.now;
    net.peers[0].agent.close(now);
    net.drain();
    net.run_for(Duration::from_secs(1));
    let complete = |p: &crate::net::Peer, since| {
        p.events
            .iter()
            .any(|(t, e)| *t >= since && *e == Event::GatheringComplete)
    };
    assert!(
        complete(&net.peers[0], Duration::ZERO),
        "no GatheringComplete"
    );
    let t = net.elapsed();
    let now = net.now;
    net.peers[0].agent.restart(now);
    net.drain();
    net.run_for(Duration::from_secs(1));
    assert!(
        complete(&net.peers[0], t),
        "no GatheringComplete after the restart"
    );
}

/// The username of a STUN request, if it carries one.
fn username(data: &[u8]) -> Option<String> {
    stun(data)?.attributes().find_map(|a| match a {
        ice_sans_io::stun::Attribute::Username(u) => Some(u.to_owned()),
        _ => None,
    })
}

/// Credentials fetched again (XEP-0215 §3.3: TURN REST credentials about to expire) and given
/// for the same server start no allocation, and the allocation in use keeps its username (RFC
/// 8656 §5: every later request of an allocation uses the username it was made with, or the
/// server answers 441): over ten minutes of refreshes A signs with the old username only, the
/// server accepts every request and the relayed pair stays up.
#[test]
fn new_credentials_leave_the_allocation_alone() {
    let mut net = Net::new(SEEDS);
    turn_server_proto::api::TurnServerApi::add_user(
        &mut net.server,
        "romeo-fresh".into(),
        "fresh-pass".into(),
    );
    net.filter = Some(hosts_apart());
    net.start();
    net.connect();
    let allocs = allocates(&net.peers[0].sent);
    let t = net.elapsed();
    let now = net.now;
    let a = &mut net.peers[0].agent;
    a.add_turn_server(
        crate::net::SERVER,
        ice_sans_io::turn::TurnCredentials::new("romeo-fresh", "fresh-pass"),
    )
    .unwrap();
    a.handle_timeout(now);
    net.drain();
    net.run_for(Duration::from_secs(600));
    let p = &net.peers[0];
    let signed: Vec<String> = p
        .sent
        .iter()
        .filter(|w| w.at > t && w.to == crate::net::SERVER)
        .filter_map(|w| username(&w.data))
        .collect();
    assert!(!signed.is_empty(), "no request signed after the update");
    assert!(
        signed.iter().all(|u| u == crate::net::USER),
        "another username for the same allocation: {signed:?}"
    );
    assert_eq!(allocates(&p.sent), allocs, "a new Allocate");
    assert!(
        !p.events
            .iter()
            .any(|(_, e)| matches!(e, Event::RelayFailed { .. })),
        "the allocation was lost"
    );
    assert!(net.both(State::Completed));
    let sent = net.send(0, b"still connected");
    assert_eq!(sent.data, b"still connected");
}

/// Found by the `agent` fuzz target: TURN servers added, the agent closed before gathering,
/// then gathering started. Every relay is closed before its Allocate, so none has anything to
/// gather; all of them must be settled by the one timeout that comes due, not one per timeout
/// (which left a deadline at `now` after `handle_timeout(now)`: a driver would spin).
#[test]
fn relays_closed_before_they_start_leave_no_due_deadline() {
    use ice_sans_io::turn::TurnCredentials;
    use ice_sans_io::{Config, IceAgent, Role};
    #[allow(clippy::disallowed_methods)] // a test's origin of time
    let now = std::time::Instant::now();
    let mut agent = IceAgent::new(Config::new(Role::Controlling), [9; 32]);
    agent.add_local_host(1, crate::net::HOSTS[0]).unwrap();
    for port in [3478, 3479, 3480] {
        let server = std::net::SocketAddr::new(crate::net::SERVER.ip(), port);
        agent
            .add_turn_server(server, TurnCredentials::new("u", "p"))
            .unwrap();
    }
    agent.close(now);
    agent.gather(now);
    let mut complete = false;
    for _ in 0..10 {
        while agent.poll_transmit().is_some() {}
        while let Some(e) = agent.poll_event() {
            complete |= e == Event::GatheringComplete;
        }
        let Some(due) = agent.poll_timeout().filter(|t| *t <= now) else {
            break;
        };
        agent.handle_timeout(due.max(now));
        while agent.poll_transmit().is_some() {}
        while let Some(e) = agent.poll_event() {
            complete |= e == Event::GatheringComplete;
        }
        assert!(
            agent.poll_timeout().is_none_or(|t| t > now),
            "a deadline at or before now after handle_timeout(now)"
        );
    }
    assert!(complete, "gathering never completed");
    assert_eq!(agent.turn_clients().count(), 3);
}
