//! Connecting through the relay, and the relayed candidate as gathered.

use std::time::Duration;

use ice_sans_io::{CandidateKind, Event};

use crate::SEEDS;
use crate::inspect::channel_data;
use crate::net::{A_PUBLIC, HOSTS, Net, SERVER, Wire, hosts_apart, server_port_only};

const PAYLOADS: [&[u8]; 2] = [b"from A", b"from B"];

/// Connects (started), checks the nominated pairs with `check(local, remote)` on both sides,
/// sends application data both ways and returns the datagrams the agents handed out for it.
fn connect_and_exchange(
    net: &mut Net,
    check: impl Fn(CandidateKind, CandidateKind) -> bool,
) -> [Wire; 2] {
    net.connect();
    for p in &net.peers {
        let (local, remote) = p.nominated_since(Duration::ZERO).expect("nominated");
        assert!(check(local.kind, remote.kind), "{local:?} / {remote:?}");
        // The event says what the getter says.
        let sel = p.agent.selected_pair(1).unwrap();
        assert_eq!((sel.local, sel.remote), (local, remote));
    }
    let wires = [net.send(0, PAYLOADS[0]), net.send(1, PAYLOADS[1])];
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.peers[1].received, vec![PAYLOADS[0].to_vec()]);
    assert_eq!(net.peers[0].received, vec![PAYLOADS[1].to_vec()]);
    assert_eq!(net.lost, 0, "a datagram to an address nobody has");
    wires
}

/// The data an agent sent over a pair with a relayed local candidate went as ChannelData on
/// the channel bound to the peer (RFC 8656 §12.4), and the relay counters moved; over a host
/// base it went as it is, straight to the remote candidate. Returns how many sides relayed.
fn check_data_path(net: &Net, wires: &[Wire; 2]) -> usize {
    let mut relayed = 0;
    for (i, p) in net.peers.iter().enumerate() {
        let sel = p.agent.selected_pair(1).unwrap();
        let w = &wires[i];
        if sel.local.kind == CandidateKind::Relayed {
            relayed += 1;
            assert_eq!((w.from, w.to), (HOSTS[i], SERVER));
            let (ch, payload) = channel_data(&w.data).expect("ChannelData");
            assert_eq!(payload, PAYLOADS[i]);
            let client = p.agent.turn_clients().next().unwrap();
            assert_eq!(client.channel(sel.remote.addr), Some(ch));
            assert!(client.stats().channel_data_sent > 0, "{:?}", client.stats());
            let s = p.agent.stats();
            assert!(s.relayed_sent > 0 && s.relayed_received > 0, "{s:?}");
        } else {
            assert_eq!((w.from, w.to), (HOSTS[i], sel.remote.addr));
            assert_eq!(w.data, PAYLOADS[i]);
        }
    }
    relayed
}

/// RFC 8445 §5.1.1.2, RFC 8656 §11, §12: the hosts cannot reach each other; the agents connect
/// on a pair with a relayed candidate, carry data both ways, and once the pair is selected the
/// relaying side sends ChannelData.
#[test]
fn hosts_apart_connect_through_the_relay() {
    let mut net = Net::new(SEEDS);
    net.filter = Some(hosts_apart());
    net.start();
    let relayed = |k| k == CandidateKind::Relayed;
    let wires = connect_and_exchange(&mut net, |l, r| relayed(l) || relayed(r));
    assert!(check_data_path(&net, &wires) >= 1);
}

/// RFC 8656 §12, relay to relay: the hosts reach the server's listening port only, so only
/// the pair of the two relayed candidates works; the server relays from one of its
/// allocations to the other, and both agents send ChannelData.
#[test]
fn relay_to_relay_through_one_server() {
    let mut net = Net::new(SEEDS);
    net.filter = Some(server_port_only());
    net.start();
    let both = |l, r| l == CandidateKind::Relayed && r == CandidateKind::Relayed;
    let wires = connect_and_exchange(&mut net, both);
    assert_eq!(check_data_path(&net, &wires), 2);
}

/// RFC 8445 §5.1.2.1 (type preference 0 for relayed candidates, 126 for host ones): with the
/// direct path open and every candidate gathered before the first check, the pair selected
/// and nominated is host to host, though the relayed pairs were formed too.
#[test]
fn direct_path_beats_the_relay() {
    let mut net = Net::new(SEEDS);
    // Credentials only once both allocations are done and their permissions installed: all
    // pairs compete from the first check on (otherwise the host pair would win before a
    // relayed pair could be checked).
    net.start_with([crate::net::PASS; 2], false);
    let gathered = |n: &Net| {
        n.peers
            .iter()
            .all(|p| p.position(|e| *e == Event::GatheringComplete).is_some())
    };
    assert!(net.run_until(Duration::from_secs(5), gathered));
    // And the permissions for the peer's addresses installed: the relayed pairs are ready.
    net.run_for(Duration::from_millis(500));
    for (i, p) in net.peers.iter().enumerate() {
        assert!(
            p.agent
                .local_candidates()
                .any(|c| c.kind == CandidateKind::Relayed)
        );
        let client = p.agent.turn_clients().next().unwrap();
        for ip in [HOSTS[1 - i].ip(), SERVER.ip()] {
            assert!(client.has_permission(net.now, ip), "{ip}");
        }
    }
    net.exchange_credentials();
    let host = |l, r| l == CandidateKind::Host && r == CandidateKind::Host;
    let wires = connect_and_exchange(&mut net, host);
    assert_eq!(check_data_path(&net, &wires), 0);
    for p in &net.peers {
        // Host and relayed, with the peer's host and relayed: four pairs.
        assert_eq!(p.agent.pair_count(), 4);
    }
}

/// RFC 8445 §5.1.1.2 and RFC 8656 §7.3: `Event::RelayAllocated` precedes the relayed
/// candidate's `Event::LocalCandidate`; the candidate is at the relayed address the server
/// allocated, with type preference 0 (RFC 8445 §5.1.2.1: priority = 2^24 * 0 + 2^8 * local
/// preference + 256 - component; the local preference ranks the transport to the server,
/// UDP 2 in the top three bits, above the host's preference divided by 8) and the mapped
/// address as related address; the mapped
/// address also gives a server-reflexive candidate (behind A's NAT it differs from the base);
/// `Event::GatheringComplete` comes once, after the allocation.
#[test]
fn relayed_candidate_as_gathered() {
    let mut net = Net::new(SEEDS);
    net.nat_a = true;
    net.start();
    let gathered = |n: &Net| {
        n.peers
            .iter()
            .all(|p| p.position(|e| *e == Event::GatheringComplete).is_some())
    };
    assert!(net.run_until(Duration::from_secs(5), gathered));
    assert_eq!(net.relayed.len(), 2, "one allocation per agent");
    for (i, p) in net.peers.iter().enumerate() {
        let mapped = if i == 0 { A_PUBLIC } else { HOSTS[i] };
        let allocated = p
            .position(|e| matches!(e, Event::RelayAllocated { .. }))
            .expect("allocated");
        let Event::RelayAllocated {
            server,
            base,
            relayed,
        } = p.events[allocated].1
        else {
            unreachable!()
        };
        assert_eq!((server, base), (SERVER, HOSTS[i]));
        assert!(net.relayed.contains(&relayed), "{relayed} not the server's");
        let is_relayed =
            |e: &Event| matches!(e, Event::LocalCandidate(c) if c.kind == CandidateKind::Relayed);
        let at = p.position(is_relayed).expect("relayed candidate");
        assert!(allocated < at, "{:?}", p.events);
        let Event::LocalCandidate(c) = &p.events[at].1 else {
            unreachable!()
        };
        let host = p
            .agent
            .local_candidates()
            .find(|c| c.kind == CandidateKind::Host)
            .unwrap();
        assert_eq!(c.addr, relayed);
        assert_eq!(c.priority >> 24, 0, "type preference");
        let local_pref = (2 << 13) | (u32::from(host.local_preference()) >> 3);
        assert_eq!(c.priority, (local_pref << 8) + 255);
        assert_eq!(c.related, Some(mapped));
        let srflx: Vec<_> = p
            .agent
            .local_candidates()
            .filter(|c| c.kind == CandidateKind::ServerReflexive)
            .map(|c| (c.addr, c.related))
            .collect();
        if i == 0 {
            assert_eq!(srflx, vec![(A_PUBLIC, Some(HOSTS[0]))]);
        } else {
            assert_eq!(srflx, vec![], "the mapped address is the host's: redundant");
        }
        let complete: Vec<usize> = (0..p.events.len())
            .filter(|&k| p.events[k].1 == Event::GatheringComplete)
            .collect();
        assert_eq!(complete.len(), 1, "{:?}", p.events);
        assert!(complete[0] > at);
    }
}
