//! The simulator's TURN server (`ice_netsim::TurnServer`) driven by the fuzzer: the input is a
//! script of operations from two clients and two peers (bytes of any kind to the listening
//! port or to a relayed address; requests of every TURN method, signed with the right
//! long-term key and the nonce the server gave, or not, with fuzzed attributes; Send
//! indications; ChannelData; time passing), with the server's output drained after each one.
//!
//! The script is read byte by byte; past its end every read is zero, so any input is a valid
//! script. Requests are signed so that the fuzzer reaches allocations, permissions and channels,
//! which random bytes would never authenticate.
//!
//! Properties asserted after every operation:
//! - no panic;
//! - every datagram leaves from the listening address or from a relayed address of a live
//!   allocation;
//! - what goes to a client from the listening port is STUN that decodes, or ChannelData;
//! - what goes to a peer leaves from a relayed address (the server never answers a peer from
//!   its listening port);
//! - allocations stay within `MAX_ALLOCATIONS`.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_netsim::turn_server::{MAX_ALLOCATIONS, TurnAuth};
use ice_netsim::{Node, TurnServer, TurnServerConfig};
use ice_sans_io::stun::{
    Attribute, AttributeType, Class, IntegrityKey, Message, MessageBuilder, Method, TransactionId,
};
use libfuzzer_sys::fuzz_target;

#[path = "script.rs"]
mod script;
use script::Script;

const USER: &str = "romeo";
const PASS: &str = "wherefore";
const REALM: &str = "example";
const PORT: u16 = 3478;

fn listening() -> SocketAddr {
    SocketAddr::from(([198, 51, 100, 200], PORT))
}

fn client(i: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1 + i % 2], 5000))
}

fn peer(i: u8) -> SocketAddr {
    SocketAddr::from(([203, 0, 113, 5 + i % 2], 6000 + u16::from(i % 3)))
}

/// A request (or, for SEND, an indication) of a TURN method with fuzzed attributes, signed
/// with the long-term key and `nonce` when the script says so.
fn request(s: &mut Script<'_>, nonce: &str, relays: &[SocketAddr]) -> Option<Vec<u8>> {
    let methods = [
        Method::ALLOCATE,
        Method::REFRESH,
        Method::CREATE_PERMISSION,
        Method::CHANNEL_BIND,
        Method::SEND,
        Method::BINDING,
    ];
    let method = methods[s.below(methods.len())];
    let class = if method == Method::SEND {
        Class::Indication
    } else {
        Class::Request
    };
    let mut tid = [0u8; 12];
    tid[0] = s.byte();
    tid[1] = s.byte();
    let mut buf = vec![0u8; 1024];
    let mut b = MessageBuilder::new(&mut buf, class, method, TransactionId::new(tid)).ok()?;
    let which = s.byte();
    if which & 1 != 0 {
        let transport = if s.bool() { 17 } else { s.byte() };
        b.add(&Attribute::RequestedTransport(transport)).ok()?;
    }
    if which & 2 != 0 {
        b.add(&Attribute::Lifetime(u32::from(s.u16()))).ok()?;
    }
    if which & 4 != 0 {
        // A peer, or (rarely) a relayed address or the server itself.
        let p = match s.below(4) {
            0 => relays.first().copied().unwrap_or_else(listening),
            _ => peer(s.byte()),
        };
        b.add(&Attribute::XorPeerAddress(p)).ok()?;
    }
    if which & 8 != 0 {
        let channel = if s.bool() {
            0x4000 + s.u16() % 4
        } else {
            s.u16()
        };
        b.add(&Attribute::ChannelNumber(channel)).ok()?;
    }
    if which & 16 != 0 {
        let n = s.below(64);
        let data = s.bytes(n).to_vec();
        b.add(&Attribute::Data(&data)).ok()?;
    }
    if which & 32 != 0 {
        b.add(&Attribute::RequestedAddressFamily(if s.bool() {
            1
        } else {
            2
        }))
        .ok()?;
    }
    if which & 64 != 0 {
        let user = if s.byte() % 8 == 0 { "mercutio" } else { USER };
        b.add(&Attribute::Username(user)).ok()?;
        b.add(&Attribute::Realm(REALM)).ok()?;
        b.add(&Attribute::Nonce(nonce)).ok()?;
        let password = if s.byte() % 8 == 0 { "wrong" } else { PASS };
        b.add_integrity(&IntegrityKey::long_term(user, REALM, password))
            .ok()?;
    }
    if which & 128 != 0 {
        b.add_fingerprint().ok()?;
    }
    let n = b.finish();
    buf.truncate(n);
    Some(buf)
}

/// ChannelData (RFC 8656 §12.4) on channel `number` carrying `data`, padded or not.
fn channel_data(number: u16, data: &[u8], pad: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + data.len() + 3);
    out.extend_from_slice(&number.to_be_bytes());
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
    if pad {
        out.resize(out.len().next_multiple_of(4), 0);
    }
    out
}

/// Drains the server; checks each datagram; learns the nonce of a 401 or 438.
fn drain(server: &mut TurnServer, nonce: &mut String) {
    while let Some(t) = server.poll_transmit() {
        let relays: Vec<SocketAddr> = server.relayed_addresses().collect();
        assert!(
            t.from == listening() || relays.contains(&t.from),
            "a datagram from {} (neither the listening address nor a relayed one)",
            t.from
        );
        if t.from == listening() {
            assert!(
                t.to.ip() != peer(0).ip() && t.to.ip() != peer(1).ip(),
                "the listening port answered a peer"
            );
            let is_channel_data = t.data.first().is_some_and(|b| (0x40..0x50).contains(b));
            if !is_channel_data {
                let m = Message::decode(&t.data).expect("what the server sends decodes");
                if m.class() == Class::Error
                    && let Some(Attribute::Nonce(n)) = m.get(AttributeType::NONCE)
                {
                    *nonce = n.to_owned();
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut s = Script(data);
    let start = Instant::now();
    let mut now = start;
    let auth = TurnAuth::LongTerm {
        username: USER.to_owned(),
        password: PASS.to_owned(),
    };
    let mut config = TurnServerConfig::new(PORT, auth, vec![listening().ip()]);
    config.max_lifetime = Duration::from_secs(u64::from(s.u16() % 1200) + 1);
    let mut server = TurnServer::new(config, start, [s.byte(); 32]);
    let mut nonce = String::from("none-yet");
    for _ in 0..96 {
        if s.0.is_empty() {
            break;
        }
        let relays: Vec<SocketAddr> = server.relayed_addresses().collect();
        match s.below(6) {
            0 => {
                let n = s.below(96);
                let bytes = s.bytes(n).to_vec();
                server.handle_datagram(now, client(s.byte()), listening(), &bytes);
            }
            1 => {
                // A peer's datagram to a relayed address (or to a port nothing holds).
                let to = match relays.get(s.below(4)) {
                    Some(r) => *r,
                    None => SocketAddr::new(listening().ip(), 49152 + s.u16() % 8),
                };
                let n = s.below(96);
                let bytes = s.bytes(n).to_vec();
                server.handle_datagram(now, peer(s.byte()), to, &bytes);
            }
            2 | 3 => {
                if let Some(m) = request(&mut s, &nonce, &relays) {
                    server.handle_datagram(now, client(s.byte()), listening(), &m);
                }
            }
            4 => {
                let number = 0x4000 + s.u16() % 4;
                let n = s.below(96);
                let payload = s.bytes(n).to_vec();
                let pad = s.bool();
                let from = client(s.byte());
                server.handle_datagram(
                    now,
                    from,
                    listening(),
                    &channel_data(number, &payload, pad),
                );
            }
            _ => {
                now += Duration::from_millis(u64::from(s.u16()) * 50);
                server.handle_timeout(now);
            }
        }
        drain(&mut server, &mut nonce);
        assert!(server.allocation_count() <= MAX_ALLOCATIONS);
    }
});
