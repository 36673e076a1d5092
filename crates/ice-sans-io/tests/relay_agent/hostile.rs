//! Garbage "from" the TURN server's address, to a base that has an allocation on it.

use std::time::Duration;

use ice_sans_io::stun::{Attribute, Class, MessageBuilder, Method, TransactionId};
use ice_sans_io::turn::{TurnDrop, looks_like_channel_data};
use ice_sans_io::{DropReason, Received, State, Stats};
use proptest::prelude::*;

use crate::SEEDS;
use crate::inspect::channel_data;
use crate::net::{Net, SERVER, server_port_only};

/// Both agents connected relay to relay, each with a channel bound to the other.
fn connected() -> Net {
    let mut net = Net::new(SEEDS);
    net.filter = Some(server_port_only());
    net.start();
    net.connect();
    net.run_for(Duration::from_millis(100));
    net
}

fn message(class: Class, method: Method, attrs: &[Attribute<'_>]) -> Vec<u8> {
    let mut buf = vec![0u8; 512];
    let mut b = MessageBuilder::new(&mut buf, class, method, TransactionId::new([7; 12])).unwrap();
    for a in attrs {
        b.add(a).unwrap();
    }
    let n = b.finish();
    buf.truncate(n);
    buf
}

/// Every drop counter of the agent's stats, summed.
fn drops(s: &Stats) -> u64 {
    s.dropped_malformed
        + s.dropped_unauthenticated
        + s.refused
        + s.dropped_unknown_transaction
        + s.dropped_unknown_address
        + s.dropped_unhandled
        + s.dropped_relay
}

/// The channel A's TURN client bound to B's relayed address.
fn bound_channel(net: &Net) -> u16 {
    let remote = net.peers[0].agent.selected_pair(1).unwrap().remote.addr;
    let client = net.peers[0].agent.turn_clients().next().unwrap();
    client.channel(remote).expect("a channel")
}

/// RFC 8656 §12.5 (ChannelData shorter than its length, or on a channel not bound: discarded),
/// §11.4 (a Data indication from a peer without a permission, or without its attributes:
/// discarded), RFC 8489 §6.3.3 (a response to no transaction: discarded): each crafted
/// datagram from the server's address is `Received::Dropped(DropReason::Relay(_))` with the
/// TURN client's reason and counted in `Stats::dropped_relay`; the session goes on.
#[test]
fn crafted_garbage_from_the_server_is_dropped_and_counted() {
    let mut net = connected();
    let ch = bound_channel(&net).to_be_bytes();
    let stranger = "198.51.100.1:9".parse().unwrap();
    let cases: Vec<(&str, Vec<u8>, TurnDrop)> = vec![
        ("empty", vec![], TurnDrop::Malformed),
        ("0xFF bytes", vec![0xFF; 50], TurnDrop::Malformed),
        (
            "ChannelData shorter than its length",
            vec![ch[0], ch[1], 0x00, 0x10, 1, 2, 3],
            TurnDrop::Malformed,
        ),
        (
            "ChannelData header cut",
            vec![ch[0], ch[1], 0x00],
            TurnDrop::Malformed,
        ),
        (
            "ChannelData on a channel not bound",
            vec![0x4F, 0xFF, 0x00, 0x04, 1, 2, 3, 4],
            TurnDrop::UnknownChannel,
        ),
        (
            "Data indication from a peer without a permission",
            message(
                Class::Indication,
                Method::DATA,
                &[Attribute::XorPeerAddress(stranger), Attribute::Data(b"x")],
            ),
            TurnDrop::NoPermission,
        ),
        (
            "Data indication without DATA",
            message(
                Class::Indication,
                Method::DATA,
                &[Attribute::XorPeerAddress(stranger)],
            ),
            TurnDrop::Malformed,
        ),
        (
            "Allocate success to no transaction",
            message(
                Class::Success,
                Method::ALLOCATE,
                &[Attribute::Lifetime(600)],
            ),
            TurnDrop::UnknownTransaction,
        ),
        (
            "Send indication from the server",
            message(
                Class::Indication,
                Method::SEND,
                &[Attribute::XorPeerAddress(stranger), Attribute::Data(b"x")],
            ),
            TurnDrop::Unexpected,
        ),
    ];
    let mut truncated = message(Class::Success, Method::REFRESH, &[Attribute::Lifetime(600)]);
    truncated.truncate(24);
    let mut cases = cases;
    cases.push(("Refresh success cut short", truncated, TurnDrop::Malformed));
    for (what, bytes, why) in &cases {
        let before = net.peers[0].agent.stats().dropped_relay;
        let r = net.inject(0, SERVER, bytes);
        assert_eq!(r, Received::Dropped(DropReason::Relay(*why)), "{what}");
        assert_eq!(
            net.peers[0].agent.stats().dropped_relay,
            before + 1,
            "{what}"
        );
    }
    assert_eq!(net.peers[0].agent.stats().dropped_relay, cases.len() as u64);
    // Nothing broke.
    net.send(0, b"still A");
    net.send(1, b"still B");
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.peers[1].received, vec![b"still A".to_vec()]);
    assert_eq!(net.peers[0].received, vec![b"still B".to_vec()]);
    assert!(net.both(State::Completed));
}

/// Bytes shaped like ChannelData (a channel number, any length) or like a TURN message (a
/// TURN method, the magic cookie, any length and body), or anything.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    let body = proptest::collection::vec(any::<u8>(), 0..80);
    prop_oneof![
        body.clone(),
        (0x4000u16..=0x4003, any::<u16>(), body.clone()).prop_map(|(ch, len, b)| {
            let mut v = ch.to_be_bytes().to_vec();
            v.extend(len.to_be_bytes());
            v.extend(b);
            v
        }),
        (3u16..=9, 0u16..4, any::<u16>(), body).prop_map(|(method, class, len, b)| {
            // Method and class bits as RFC 8489 §5 lays them out (class bits 4 and 8).
            let t = (method & 0xF) | ((class & 1) << 4) | ((class & 2) << 7);
            let mut v = t.to_be_bytes().to_vec();
            v.extend(len.to_be_bytes());
            v.extend(0x2112_A442u32.to_be_bytes());
            v.extend([9; 12]);
            v.extend(b);
            v
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any bytes from the server's address to a connected agent: never a panic; dropped and
    /// counted once in the drop counters, or, for ChannelData on the bound channel, the
    /// relayed datagram it carries (then counted in `Stats::relayed_received`). The session
    /// stays up.
    #[test]
    fn any_bytes_from_the_server_are_dropped_or_relayed(
        inputs in proptest::collection::vec(hostile_bytes(), 1..16),
    ) {
        let mut net = connected();
        let ch = bound_channel(&net);
        for bytes in &inputs {
            let before = net.peers[0].agent.stats().clone();
            let r = net.inject(0, SERVER, bytes);
            let after = net.peers[0].agent.stats().clone();
            let on_channel = looks_like_channel_data(bytes)
                && channel_data(bytes).is_some_and(|(n, _)| n == ch);
            prop_assert_eq!(after.relayed_received - before.relayed_received, u64::from(on_channel));
            match r {
                Received::Dropped(_) => prop_assert_eq!(drops(&after), drops(&before) + 1),
                Received::Data { .. } => prop_assert!(on_channel, "{:?}", r),
                Received::Stun => prop_assert!(false, "taken as STUN: {:02x?}", bytes),
            }
        }
        net.run_for(Duration::from_millis(100));
        prop_assert!(net.both(State::Completed));
    }
}
