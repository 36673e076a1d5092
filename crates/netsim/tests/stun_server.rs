//! The STUN server node, its answers decoded by an independent codec (ice-sans-io's).

use std::net::SocketAddr;
use std::time::Instant;

use ice_netsim::{Node, StunServer};
use ice_sans_io::stun::{Class, Fingerprint, Message, MessageBuilder, Method, TransactionId};

fn request(tid: [u8; 12], fingerprint: bool) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let mut b = MessageBuilder::new(
        &mut buf,
        Class::Request,
        Method::BINDING,
        TransactionId::new(tid),
    )
    .expect("buffer");
    if fingerprint {
        b.add_fingerprint().expect("fits");
    }
    let n = b.finish();
    buf[..n].to_vec()
}

fn from(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

#[test]
fn rfc8489_binding_request_gets_xor_mapped_address_and_fingerprint() {
    for (client, fp) in [("198.51.100.10:40000", true), ("[2001:db8::7]:5000", false)] {
        let response = StunServer::answer(&request([9; 12], fp), from(client)).expect("answered");
        let m = Message::decode(&response).expect("decodes");
        assert_eq!(m.class(), Class::Success);
        assert_eq!(m.method(), Method::BINDING);
        assert_eq!(m.transaction_id(), TransactionId::new([9; 12]));
        assert_eq!(m.mapped_address(), Some(from(client)));
        assert!(!m.is_rfc3489());
        if fp {
            assert_eq!(
                m.fingerprint(),
                Fingerprint::Ok,
                "FINGERPRINT when the request had one"
            );
        }
    }
}

#[test]
fn rfc3489_binding_request_gets_mapped_address_and_the_whole_transaction_id() {
    let mut req = vec![0x00, 0x01, 0x00, 0x00];
    let tid: Vec<u8> = (1..=16).collect();
    req.extend_from_slice(&tid);
    let response = StunServer::answer(&req, from("203.0.113.5:1234")).expect("answered");
    let m = Message::decode(&response).expect("decodes");
    assert!(m.is_rfc3489());
    assert_eq!(m.legacy_transaction_id().to_vec(), tid);
    assert_eq!(m.mapped_address(), Some(from("203.0.113.5:1234")));
}

#[test]
fn anything_else_is_dropped_and_counted() {
    // The base of virtual time: any instant will do.
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let mut server = StunServer::new();
    let to = from("198.51.100.100:3478");
    let mut indication = request([1; 12], false);
    indication[1] = 0x11; // Binding indication
    let mut truncated = request([2; 12], true);
    truncated.pop();
    for junk in [
        &b""[..],
        b"hello, world, not stun!",
        &indication,
        &truncated,
        &[0xff; 20],
    ] {
        server.handle_datagram(now, from("10.0.0.1:1"), to, junk);
    }
    assert!(server.poll_transmit().is_none());
    assert_eq!(server.stats().dropped, 5);
    server.handle_datagram(now, from("10.0.0.1:1"), to, &request([3; 12], false));
    let t = server.poll_transmit().expect("answer");
    assert_eq!(
        (t.from, t.to),
        (to, from("10.0.0.1:1")),
        "answered from where it was reached"
    );
    assert_eq!(server.stats().answered, 1);
}
