//! Allocate (RFC 8656 §7), the long-term credential mechanism (RFC 8489 §9.2), Try Alternate
//! (RFC 8489 §10), retransmissions (RFC 8489 §6.2.1), Refresh and close (RFC 8656 §8).

use std::time::Duration;

use ice_sans_io::stun::{Attribute, AttributeType, Class, Message, Method};
use ice_sans_io::turn::{AddressFamily, TurnConfig, TurnEvent, TurnFailure, TurnState};

use crate::script::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn rfc8489_9_2_401_then_signed_retry() {
    let mut h = H::new(TurnConfig::default());
    h.c.allocate(h.now).unwrap();
    let first = h.one();
    let m = Message::decode(&first).unwrap();
    assert_eq!((m.class(), m.method()), (Class::Request, Method::ALLOCATE));
    // RFC 8656 §7.1: REQUESTED-TRANSPORT UDP; RFC 8489 §9.2.3: no credentials at first.
    assert_eq!(
        get(&first, AttributeType::REQUESTED_TRANSPORT),
        Some(Attribute::RequestedTransport(17))
    );
    assert!(m.username().is_none() && !m.has_integrity());
    assert_eq!(h.deliver(&unauthenticated(&first)), Got::Consumed);
    assert!(h.events().is_empty());
    let second = h.one();
    assert_signed(&second, NONCE);
    let m2 = Message::decode(&second).unwrap();
    assert_ne!(m2.transaction_id(), m.transaction_id(), "a new transaction");
    assert_eq!(h.deliver(&allocate_ok(&second, 600)), Got::Consumed);
    assert_eq!(
        h.events(),
        vec![TurnEvent::Allocated {
            relayed: relayed(),
            mapped: Some(mapped()),
            lifetime: secs(600)
        }]
    );
    assert_eq!(h.c.state(), TurnState::Allocated);
    assert_eq!(h.c.relayed_address(), Some(relayed()));
    assert_eq!(h.c.mapped_address(), Some(mapped()));
    // A retransmitted answer to the finished transaction is dropped and counted.
    assert_eq!(
        h.deliver(&allocate_ok(&second, 600)),
        Got::Dropped("UnknownTransaction".into())
    );
}

#[test]
fn rfc8489_9_2_5_401_to_the_signed_request_means_refused_credentials() {
    let mut h = H::new(TurnConfig::default());
    let r = h.signed_allocate();
    h.deliver(&unauthenticated(&r));
    assert_eq!(
        h.events(),
        vec![TurnEvent::AllocationFailed(TurnFailure::Unauthenticated)]
    );
    assert_eq!(h.c.state(), TurnState::Failed);
    assert!(h.sent().is_empty());
}

#[test]
fn rfc8489_9_2_5_401_without_realm_or_nonce_fails() {
    let mut h = H::new(TurnConfig::default());
    h.c.allocate(h.now).unwrap();
    let r = h.one();
    h.deliver(&error(&r, 401, &[Attribute::Realm(REALM)], None));
    assert_eq!(
        h.events(),
        vec![TurnEvent::AllocationFailed(TurnFailure::NoRealmOrNonce)]
    );
}

#[test]
fn rfc8489_9_2_5_438_stale_nonce_retried_with_the_new_nonce_bounded() {
    let mut h = H::new(TurnConfig::default());
    let mut r = h.signed_allocate();
    for i in 0..3 {
        let nonce = format!("nonce-{}", i + 2);
        h.deliver(&error(&r, 438, &[Attribute::Nonce(&nonce)], None));
        r = h.one();
        assert_signed(&r, &nonce);
    }
    h.deliver(&error(&r, 438, &[Attribute::Nonce("nonce-9")], None));
    assert_eq!(
        h.events(),
        vec![TurnEvent::AllocationFailed(TurnFailure::StaleNonceLoop)]
    );
    assert_eq!(h.c.stats().stale_nonces, 3);
}

#[test]
fn rfc8489_10_try_alternate_followed_once() {
    let alternate = "192.0.2.50:3478".parse().unwrap();
    let mut h = H::new(TurnConfig::default());
    let r = h.signed_allocate();
    h.deliver(&error(
        &r,
        300,
        &[Attribute::AlternateServer(alternate)],
        Some(&key()),
    ));
    assert_eq!(
        h.events(),
        vec![TurnEvent::Redirected {
            from: server(),
            to: alternate
        }]
    );
    let mut s = h.sent();
    assert_eq!(s.len(), 1);
    let (to, r) = s.pop().unwrap();
    assert_eq!(to, alternate);
    assert_eq!(h.c.server(), alternate);
    // The realm and nonce were the first server's: start unauthenticated.
    assert!(!Message::decode(&r).unwrap().has_integrity());
    // The old server is now "another address".
    assert_eq!(h.deliver(&unauthenticated(&r)), Got::NotForUs);
    assert_eq!(
        h.deliver_from(alternate, &unauthenticated(&r)),
        Got::Consumed
    );
    let (_, r) = h.sent().pop().unwrap();
    assert_signed(&r, NONCE);
    // A second 300 is not followed.
    h.deliver_from(
        alternate,
        &error(
            &r,
            300,
            &[Attribute::AlternateServer(server())],
            Some(&key()),
        ),
    );
    assert_eq!(
        h.events(),
        vec![TurnEvent::AllocationFailed(TurnFailure::TryAlternate)]
    );
}

#[test]
fn rfc8489_10_try_alternate_without_alternate_server_fails() {
    let mut h = H::new(TurnConfig::default());
    h.c.allocate(h.now).unwrap();
    let r = h.one();
    h.deliver(&error(&r, 300, &[], None));
    assert_eq!(
        h.events(),
        vec![TurnEvent::AllocationFailed(TurnFailure::MissingAttribute(
            AttributeType::ALTERNATE_SERVER
        ))]
    );
}

#[test]
fn rfc8656_7_2_every_error_code_is_a_typed_failure() {
    for (code, want) in [
        (400, TurnFailure::BadRequest),
        (403, TurnFailure::Forbidden),
        (420, TurnFailure::UnknownAttribute),
        (437, TurnFailure::AllocationMismatch),
        (440, TurnFailure::AddressFamilyNotSupported),
        (441, TurnFailure::WrongCredentials),
        (442, TurnFailure::UnsupportedTransport),
        (486, TurnFailure::AllocationQuotaReached),
        (500, TurnFailure::ServerError),
        (508, TurnFailure::InsufficientCapacity),
        (599, TurnFailure::Error { code: 599 }),
    ] {
        let mut h = H::new(TurnConfig::default());
        let r = h.signed_allocate();
        h.deliver(&error(&r, code, &[], Some(&key())));
        assert_eq!(
            h.events(),
            vec![TurnEvent::AllocationFailed(want)],
            "{code}"
        );
        assert_eq!(want.code(), Some(code));
        assert_eq!(h.c.state(), TurnState::Failed);
        // A failed client may try again.
        h.c.allocate(h.now).unwrap();
        assert!(!Message::decode(&h.one()).unwrap().has_integrity());
    }
}

#[test]
fn rfc8489_6_2_1_retransmissions_rc_7_rm_16() {
    let mut h = H::new(TurnConfig::default());
    h.c.allocate(h.now).unwrap();
    let tid = Message::decode(&h.one()).unwrap().transaction_id();
    // RFC 8489 §6.2.1's example: requests at 0, 500, 1500, 3500, 7500, 15500, 31500 ms, and
    // failure at 39500 ms.
    let mut at = vec![0];
    let mut now_ms = 0;
    while let Some(t) = h.c.poll_timeout() {
        now_ms = (t - h.t0).as_millis() as u64;
        h.at(Duration::from_millis(now_ms));
        for (_, b) in h.sent() {
            assert_eq!(Message::decode(&b).unwrap().transaction_id(), tid);
            at.push(now_ms);
        }
    }
    assert_eq!(at, vec![0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(now_ms, 39_500);
    assert_eq!(
        h.events(),
        vec![TurnEvent::AllocationFailed(TurnFailure::Timeout)]
    );
    assert_eq!(h.c.stats().retransmissions, 6);
}

#[test]
fn rfc8489_6_2_2_over_tcp_one_request_and_ti() {
    let mut cfg = TurnConfig::default();
    cfg.protocol = ice_sans_io::Protocol::Tcp;
    let mut h = H::new(cfg);
    h.c.allocate(h.now).unwrap();
    let _ = h.one();
    assert_eq!(
        h.c.poll_timeout(),
        Some(h.t0 + Duration::from_millis(39_500))
    );
    h.at(Duration::from_millis(39_500));
    assert!(h.sent().is_empty());
    assert_eq!(
        h.events(),
        vec![TurnEvent::AllocationFailed(TurnFailure::Timeout)]
    );
}

#[test]
fn rfc8656_7_1_ipv6_family_lifetime_and_software() {
    let mut cfg = TurnConfig::default();
    cfg.family = Some(AddressFamily::V6);
    cfg.lifetime = Some(secs(1200));
    cfg.software = Some("jingle-ice test");
    let mut h = H::new(cfg);
    h.c.allocate(h.now).unwrap();
    let r = h.one();
    assert_eq!(
        get(&r, AttributeType::REQUESTED_ADDRESS_FAMILY),
        Some(Attribute::RequestedAddressFamily(2))
    );
    assert_eq!(
        get(&r, AttributeType::LIFETIME),
        Some(Attribute::Lifetime(1200))
    );
    assert_eq!(
        get(&r, AttributeType::SOFTWARE),
        Some(Attribute::Software("jingle-ice test"))
    );
}

#[test]
fn rfc8656_7_3_success_without_relayed_address_fails() {
    let mut h = H::new(TurnConfig::default());
    let r = h.signed_allocate();
    h.deliver(&ok(&r, &[Attribute::Lifetime(600)]));
    assert_eq!(
        h.events(),
        vec![TurnEvent::AllocationFailed(TurnFailure::MissingAttribute(
            AttributeType::XOR_RELAYED_ADDRESS
        ))]
    );
}

#[test]
fn rfc8489_9_2_5_success_with_bad_or_missing_integrity_is_dropped() {
    let mut h = H::new(TurnConfig::default());
    let r = h.signed_allocate();
    let wrong = ice_sans_io::stun::IntegrityKey::long_term(USER, REALM, "guess");
    let attrs = [
        Attribute::XorRelayedAddress(relayed()),
        Attribute::Lifetime(600),
    ];
    let forged = reply(&r, Class::Success, &attrs, Some(&wrong));
    assert_eq!(h.deliver(&forged), Got::Dropped("BadIntegrity".into()));
    let unsigned = reply(&r, Class::Success, &attrs, None);
    assert_eq!(h.deliver(&unsigned), Got::Dropped("BadIntegrity".into()));
    assert_eq!(
        h.c.state(),
        TurnState::Allocating,
        "the transaction goes on"
    );
    assert_eq!(h.deliver(&allocate_ok(&r, 600)), Got::Consumed);
    assert_eq!(h.c.state(), TurnState::Allocated);
    assert_eq!(h.c.stats().dropped_bad_integrity, 2);
}

#[test]
fn rfc8656_8_refresh_before_expiry_and_438_on_refresh_retries_once() {
    let mut h = H::allocated(TurnConfig::default());
    // Lifetime 600 s, margin 60 s: the Refresh leaves at 540 s.
    assert_eq!(h.c.poll_timeout(), Some(h.t0 + secs(540)));
    h.at(secs(539));
    assert!(h.sent().is_empty());
    h.at(secs(540));
    let r = h.one();
    assert_eq!(Message::decode(&r).unwrap().method(), Method::REFRESH);
    assert_signed(&r, NONCE);
    h.deliver(&error(&r, 438, &[Attribute::Nonce("nonce-2")], None));
    let r = h.one();
    assert_signed(&r, "nonce-2");
    h.deliver(&ok(&r, &[Attribute::Lifetime(300)]));
    assert_eq!(
        h.events(),
        vec![TurnEvent::Refreshed {
            lifetime: secs(300)
        }]
    );
    assert_eq!(h.c.poll_timeout(), Some(h.t0 + secs(540 + 240)));
    // A second round: two 438 in a row lose the allocation.
    h.at(secs(780));
    let r = h.one();
    assert_signed(&r, "nonce-2");
    h.deliver(&error(&r, 438, &[Attribute::Nonce("nonce-3")], None));
    let r = h.one();
    h.deliver(&error(&r, 438, &[Attribute::Nonce("nonce-4")], None));
    assert_eq!(
        h.events(),
        vec![TurnEvent::AllocationLost(TurnFailure::StaleNonceLoop)]
    );
    assert_eq!(h.c.state(), TurnState::Failed);
}

#[test]
fn rfc8656_8_refresh_437_loses_the_allocation() {
    let mut h = H::allocated(TurnConfig::default());
    h.at(secs(540));
    let r = h.one();
    h.deliver(&error(&r, 437, &[], Some(&key())));
    assert_eq!(
        h.events(),
        vec![TurnEvent::AllocationLost(TurnFailure::AllocationMismatch)]
    );
    assert_eq!(h.c.relayed_address(), None);
}

#[test]
fn rfc8656_8_close_is_refresh_with_lifetime_zero() {
    let mut h = H::allocated(TurnConfig::default());
    h.c.close(h.now);
    assert_eq!(h.c.state(), TurnState::Closing);
    let r = h.one();
    assert_eq!(Message::decode(&r).unwrap().method(), Method::REFRESH);
    assert_eq!(
        get(&r, AttributeType::LIFETIME),
        Some(Attribute::Lifetime(0))
    );
    assert_signed(&r, NONCE);
    h.deliver(&ok(&r, &[Attribute::Lifetime(0)]));
    assert_eq!(h.events(), vec![TurnEvent::Closed]);
    assert_eq!(h.c.state(), TurnState::Closed);
    assert_eq!(h.c.poll_timeout(), None);
}

#[test]
fn rfc8656_8_close_without_answer_still_closes() {
    let mut h = H::allocated(TurnConfig::default());
    h.c.close(h.now);
    let _ = h.one();
    while let Some(t) = h.c.poll_timeout() {
        h.at(t - h.t0);
        let _ = h.sent();
    }
    assert_eq!(h.events(), vec![TurnEvent::Closed]);
}

/// Same seed, same bytes: a scripted run replays exactly.
#[test]
fn determinism_same_seed_same_bytes() {
    let run = || {
        let mut h = H::allocated(TurnConfig::default());
        h.c.create_permission(h.now, peer().ip()).unwrap();
        let mut all = h.sent();
        h.at(secs(540));
        all.extend(h.sent());
        all
    };
    assert_eq!(run(), run());
}

/// RFC 8656 §8: a short lifetime is refreshed at half of it; when no Refresh is answered the
/// allocation is gone at expiry, before the transaction's own timeout.
#[test]
fn rfc8656_8_unanswered_refresh_expires_the_allocation() {
    let mut h = H::new(TurnConfig::default());
    let r = h.signed_allocate();
    h.deliver(&allocate_ok(&r, 60));
    let _ = h.events();
    assert_eq!(h.c.poll_timeout(), Some(h.t0 + secs(30)));
    while let Some(t) = h.c.poll_timeout() {
        h.at(t - h.t0);
        let _ = h.sent();
    }
    assert_eq!(
        h.events(),
        vec![TurnEvent::AllocationLost(TurnFailure::Expired)]
    );
    assert_eq!(h.now, h.t0 + secs(60));
    assert_eq!(h.c.state(), TurnState::Failed);
}

/// RFC 8656 §2.2: an allocation over a stream lives on its connection's 5-tuple; when the
/// connection is lost, so is the allocation (allocating: it failed), with nothing left to send
/// and no timer.
#[test]
fn rfc8656_2_2_connection_lost_ends_the_allocation() {
    let mut cfg = TurnConfig::default();
    cfg.protocol = ice_sans_io::Protocol::Tcp;
    let mut h = H::allocated(cfg.clone());
    h.c.handle_connection_lost(TurnFailure::ConnectionClosed);
    assert_eq!(
        h.events(),
        vec![TurnEvent::AllocationLost(TurnFailure::ConnectionClosed)]
    );
    assert_eq!(h.c.state(), TurnState::Failed);
    assert!(h.sent().is_empty());
    assert_eq!(h.c.poll_timeout(), None);

    let mut h = H::new(cfg);
    h.c.allocate(h.now).unwrap();
    h.c.handle_connection_lost(TurnFailure::ConnectFailed);
    assert!(
        h.sent().is_empty(),
        "the queued Allocate is dropped with the connection"
    );
    assert_eq!(
        h.events(),
        vec![TurnEvent::AllocationFailed(TurnFailure::ConnectFailed)]
    );
    // Nothing happens on a client with no allocation.
    h.c.handle_connection_lost(TurnFailure::ConnectionClosed);
    assert!(h.events().is_empty());
}
