//! The TURN client driven by the fuzzer: the input is a script of operations on one client
//! (bytes of any kind from the server, answers to its requests that are well formed but carry
//! fuzzed classes, codes and attributes, ChannelData and Data indications, permissions,
//! channels, data to send, time passing, close and re-allocate), with every poller drained
//! after each operation.
//!
//! The script is read byte by byte; past its end every read is zero, so any input is a valid
//! script.
//!
//! Properties asserted after every operation:
//! - no panic;
//! - every datagram the client sends is a STUN message that decodes with a valid FINGERPRINT
//!   (requests), or a Send indication / ChannelData that unwraps to the data given to
//!   `send_to` (round trip);
//! - data handed back by `handle_receive` is a slice of the bytes given;
//! - no spin: after `handle_timeout(t)`, `poll_timeout()` is later than `t` or `None`.
#![no_main]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ice_sans_io::stun::{
    Attribute, AttributeType, Class, ErrorCode, IntegrityKey, Message, MessageBuilder, Method,
    TransactionId,
};
use ice_sans_io::turn::{
    TurnClient, TurnConfig, TurnCredentials, TurnReceived, decode_channel_data,
    looks_like_channel_data,
};
use libfuzzer_sys::fuzz_target;

const USER: &str = "romeo";
const PASS: &str = "wherefore";
const REALM: &str = "example.org";

#[path = "script.rs"]
mod script;
use script::Script;

fn server() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], 3478))
}

fn peer(i: u8) -> SocketAddr {
    SocketAddr::from(([198, 51, 100, i % 4], 7000 + u16::from(i % 3)))
}

/// An answer to `req` built from the script: class, code, a choice of attributes, signed or
/// not.
fn answer(s: &mut Script<'_>, req: &[u8], key: &IntegrityKey) -> Option<Vec<u8>> {
    let m = Message::decode(req).ok()?;
    let mut buf = vec![0u8; 1024];
    let success = s.byte() % 2 == 0;
    let class = if success {
        Class::Success
    } else {
        Class::Error
    };
    let mut b = MessageBuilder::new(&mut buf, class, m.method(), m.transaction_id()).ok()?;
    if !success {
        let code = [
            300, 400, 401, 403, 420, 437, 438, 440, 441, 442, 443, 486, 500, 508, 699,
        ][usize::from(s.byte()) % 15];
        b.add(&Attribute::ErrorCode(ErrorCode { code, reason: "" }))
            .ok()?;
    }
    let which = s.byte();
    let nonce = format!("n{}", s.byte() % 4);
    if which & 1 != 0 {
        b.add(&Attribute::Realm(REALM)).ok()?;
    }
    if which & 2 != 0 {
        b.add(&Attribute::Nonce(&nonce)).ok()?;
    }
    if which & 4 != 0 {
        b.add(&Attribute::XorRelayedAddress(SocketAddr::from((
            [192, 0, 2, 1],
            50000,
        ))))
        .ok()?;
    }
    if which & 8 != 0 {
        b.add(&Attribute::XorMappedAddress(SocketAddr::from((
            [203, 0, 113, 5],
            6000,
        ))))
        .ok()?;
    }
    if which & 16 != 0 {
        b.add(&Attribute::Lifetime(u32::from(s.u16()))).ok()?;
    }
    if which & 32 != 0 {
        let alt = SocketAddr::from(([192, 0, 2, s.byte() % 3], 3478));
        b.add(&Attribute::AlternateServer(alt)).ok()?;
    }
    if which & 64 != 0 {
        b.add_integrity(key).ok()?;
    }
    let n = b.finish();
    buf.truncate(n);
    Some(buf)
}

fn data_indication(from: SocketAddr, data: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 512];
    let mut b = MessageBuilder::new(
        &mut buf,
        Class::Indication,
        Method::DATA,
        TransactionId::new([1; 12]),
    )
    .expect("room for a header");
    let _ = b.add(&Attribute::XorPeerAddress(from));
    let _ = b.add(&Attribute::Data(data));
    let n = b.finish();
    buf.truncate(n);
    buf
}

/// Drains the pollers; keeps the requests sent for answers; checks each datagram.
fn drain(c: &mut TurnClient, requests: &mut Vec<Vec<u8>>) {
    while let Some(t) = c.poll_transmit() {
        let m = Message::decode(t.data).expect("the client sends STUN that decodes");
        assert!(
            m.fingerprint().is_ok(),
            "requests carry a valid FINGERPRINT"
        );
        assert_eq!(m.class(), Class::Request);
        if m.has_integrity() {
            assert_eq!(m.username(), Some(USER));
        }
        if requests.len() < 16 {
            requests.push(t.data.to_vec());
        }
    }
    while c.poll_event().is_some() {}
}

fuzz_target!(|data: &[u8]| {
    let mut s = Script(data);
    let mut cfg = TurnConfig::default();
    cfg.max_permissions = usize::from(s.byte() % 5) + 1;
    cfg.max_channels = usize::from(s.byte() % 5) + 1;
    cfg.max_transactions = usize::from(s.byte() % 4) + 1;
    if s.byte() % 4 == 0 {
        cfg.protocol = ice_sans_io::Protocol::Tcp;
    }
    let key = IntegrityKey::long_term(USER, REALM, PASS);
    let base = SocketAddr::from(([10, 0, 0, 1], 5000));
    let creds = TurnCredentials::new(USER, PASS);
    let Ok(mut c) = TurnClient::new(cfg, server(), base, creds, [9; 32]) else {
        return;
    };
    #[allow(clippy::disallowed_methods)]
    let mut now = Instant::now();
    let mut requests: Vec<Vec<u8>> = Vec::new();
    let _ = c.allocate(now);
    drain(&mut c, &mut requests);
    for _ in 0..256 {
        if s.done() {
            break;
        }
        match s.byte() % 10 {
            0 => {
                let raw = {
                    let n = s.byte();
                    s.bytes(usize::from(n))
                };
                let from = if s.byte() % 8 == 0 {
                    peer(0)
                } else {
                    c.server()
                };
                if let TurnReceived::Data { data, .. } = c.handle_receive(now, from, raw) {
                    let range = raw.as_ptr_range();
                    assert!(range.contains(&data.as_ptr()) || data.is_empty());
                }
            }
            1 => {
                if !requests.is_empty() {
                    let req = requests.remove(usize::from(s.byte()) % requests.len());
                    if let Some(a) = answer(&mut s, &req, &key) {
                        let _ = c.handle_receive(now, c.server(), &a);
                    }
                }
            }
            2 => {
                now += Duration::from_millis(u64::from(s.u16()) * 20);
                c.handle_timeout(now);
                drain(&mut c, &mut requests);
                if let Some(t) = c.poll_timeout() {
                    assert!(t > now, "no spin: {t:?} after handle_timeout({now:?})");
                }
            }
            3 => {
                let ip: IpAddr = peer(s.byte()).ip();
                let _ = c.create_permission(now, ip);
            }
            4 => {
                let _ = c.bind_channel(now, peer(s.byte()));
            }
            5 => {
                let p = peer(s.byte());
                let payload = {
                    let n = s.byte();
                    s.bytes(usize::from(n))
                };
                if let Ok(t) = c.send_to(now, p, payload) {
                    if looks_like_channel_data(t.data) {
                        let (ch, d) = decode_channel_data(t.data).expect("ChannelData unwraps");
                        assert_eq!(d, payload);
                        assert_eq!(Some(ch), c.channel(p));
                    } else {
                        let m = Message::decode(t.data).expect("a Send indication decodes");
                        assert_eq!((m.class(), m.method()), (Class::Indication, Method::SEND));
                        assert_eq!(m.get(AttributeType::DATA), Some(Attribute::Data(payload)));
                        assert_eq!(
                            m.get(AttributeType::XOR_PEER_ADDRESS),
                            Some(Attribute::XorPeerAddress(p))
                        );
                    }
                }
            }
            6 => {
                let ch = 0x4000 + u16::from(s.byte() % 6);
                let payload = {
                    let n = s.byte();
                    s.bytes(usize::from(n))
                };
                let mut buf = Vec::with_capacity(payload.len() + 8);
                buf.extend_from_slice(&ch.to_be_bytes());
                buf.extend_from_slice(&(payload.len() as u16).to_be_bytes());
                buf.extend_from_slice(payload);
                buf.resize(buf.len() + usize::from(s.byte() % 4), 0);
                if let TurnReceived::Data { peer, data } = c.handle_receive(now, c.server(), &buf) {
                    assert_eq!(data, payload);
                    assert_eq!(c.channel(peer), Some(ch));
                }
            }
            7 => {
                let p = peer(s.byte());
                let payload = {
                    let n = s.byte();
                    s.bytes(usize::from(n))
                };
                let msg = data_indication(p, payload);
                if let TurnReceived::Data { peer, data } = c.handle_receive(now, c.server(), &msg) {
                    assert_eq!((peer, data), (p, payload));
                }
            }
            8 => c.close(now),
            _ => {
                let _ = c.allocate(now);
            }
        }
        drain(&mut c, &mut requests);
    }
});
