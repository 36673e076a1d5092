//! Permissions before relayed datagrams (RFC 8656 §9).

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};

use ice_sans_io::stun::{Class, Method};

use crate::SEEDS;
use crate::inspect::{channel_data, channel_number, is, peer_address, stun};
use crate::net::{HOSTS, Net, Peer, SERVER, Wire, hosts_apart, relayed_run};

/// What an agent relayed: Send indications and ChannelData.
#[derive(Debug, Default)]
struct Relayed {
    sends: usize,
    channel_data: usize,
}

/// Replays what `p` sent to and got from the server, in order, and checks that every Send
/// indication goes to a peer whose IP a CreatePermission or ChannelBind success already
/// reached the agent for, and every ChannelData to a channel a ChannelBind success bound.
fn check_order(p: &Peer) -> Relayed {
    let mut log: Vec<(bool, &Wire)> = p.sent.iter().map(|w| (true, w)).collect();
    log.extend(p.got.iter().map(|w| (false, w)));
    log.sort_by_key(|(_, w)| w.n);
    let mut asked: HashMap<[u8; 12], Vec<IpAddr>> = HashMap::new();
    let mut binding: HashMap<[u8; 12], (u16, SocketAddr)> = HashMap::new();
    let mut permitted: HashSet<IpAddr> = HashSet::new();
    let mut bound: HashMap<u16, SocketAddr> = HashMap::new();
    let mut r = Relayed::default();
    for (sent, w) in log {
        if sent && w.to == SERVER {
            if let Some(m) = stun(&w.data) {
                let tid = *m.transaction_id().as_bytes();
                match (m.class(), m.method()) {
                    (Class::Request, Method::CREATE_PERMISSION) => {
                        let peers = m.attributes().filter_map(|a| match a {
                            ice_sans_io::stun::Attribute::XorPeerAddress(p) => Some(p.ip()),
                            _ => None,
                        });
                        asked.insert(tid, peers.collect());
                    }
                    (Class::Request, Method::CHANNEL_BIND) => {
                        let b = (channel_number(&m).unwrap(), peer_address(&m).unwrap());
                        binding.insert(tid, b);
                    }
                    (Class::Indication, Method::SEND) => {
                        let peer = peer_address(&m).unwrap();
                        assert!(
                            permitted.contains(&peer.ip()),
                            "a Send indication to {peer} at {:?} before its permission",
                            w.at
                        );
                        r.sends += 1;
                    }
                    _ => {}
                }
            } else if let Some((ch, _)) = channel_data(&w.data) {
                assert!(
                    bound.contains_key(&ch),
                    "ChannelData on {ch:#x} at {:?} before its ChannelBind succeeded",
                    w.at
                );
                r.channel_data += 1;
            }
        } else if !sent && w.from == SERVER {
            let Some(m) = stun(&w.data) else { continue };
            if m.class() != Class::Success {
                continue;
            }
            let tid = *m.transaction_id().as_bytes();
            if let Some(ips) = asked.get(&tid) {
                permitted.extend(ips);
            }
            if let Some(&(ch, peer)) = binding.get(&tid) {
                bound.insert(ch, peer);
                permitted.insert(peer.ip());
            }
        }
    }
    r
}

/// The relay's own datagrams are consistent with what it counted: every datagram counted in
/// `Stats::relayed_sent` left as a Send indication or ChannelData, and the TURN client counted
/// the same.
fn check_counted(p: &Peer, r: &Relayed) {
    let s = p.agent.stats();
    assert_eq!(s.relayed_sent, (r.sends + r.channel_data) as u64, "{s:?}");
    let t = p.agent.turn_clients().next().unwrap().stats();
    assert_eq!(
        (t.send_indications, t.channel_data_sent),
        (r.sends as u64, r.channel_data as u64)
    );
}

/// RFC 8656 §9 (a permission for the peer's IP before the server relays to it, §11 and §12
/// for what relays): nothing leaves an agent for a peer through its relay before the
/// server's answer installing the permission reached it; no datagram had to be held back
/// for want of one (`Stats::relay_unsent` 0), and every datagram counted in
/// `Stats::relayed_sent` left as a Send indication or ChannelData. Connectivity checks went as
/// Send indications, application data as ChannelData.
#[test]
fn no_relayed_datagram_before_its_permission() {
    // Consent checks and refreshes on top.
    let net = relayed_run(SEEDS);
    let mut channel_data = 0;
    for p in &net.peers {
        let r = check_order(p);
        println!("{r:?}");
        assert!(r.sends > 0, "{r:?}");
        channel_data += r.channel_data;
        let s = p.agent.stats();
        assert_eq!(s.relay_unsent, 0, "{s:?}");
        assert_eq!(s.relay_permissions_refused, 0, "{s:?}");
        check_counted(p, &r);
    }
    assert!(channel_data > 0);
}

/// RFC 8656 §9 when the permission is slow: the server's first answer to A's CreatePermissions
/// is lost, so A's client retransmits and A's relayed pairs wait for the permission (their
/// checks are held, not sent and not lost on the way out), then connect. Meanwhile B's checks
/// reach A through the relay (the server installed the permission; only its answer was lost),
/// and A's answers, which cannot leave yet, are counted in `Stats::relay_unsent`.
#[test]
fn relayed_checks_wait_for_a_slow_permission() {
    let mut net = Net::new(crate::SEEDS);
    let dropped = Cell::new(false);
    let apart = hosts_apart();
    net.filter = Some(Box::new(move |from, to, data: &[u8]| {
        if from == SERVER
            && to == HOSTS[0]
            && !dropped.get()
            && is(data, Class::Success, Method::CREATE_PERMISSION)
        {
            dropped.set(true);
            return true;
        }
        // Relay only: the hosts cannot reach each other.
        apart(from, to, data)
    }));
    net.start();
    net.connect();
    let a = &net.peers[0];
    let client = a.agent.turn_clients().next().unwrap();
    assert!(client.stats().retransmissions > 0, "{:?}", client.stats());
    let r = check_order(a);
    assert!(r.sends > 0, "{r:?}");
    check_counted(a, &r);
    assert!(a.agent.stats().relay_unsent > 0, "{:?}", a.agent.stats());
}
