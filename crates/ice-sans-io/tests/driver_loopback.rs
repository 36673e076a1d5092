//! The tokio driver on real sockets: the example `two_agents_loopback`, run and checked.
#![allow(clippy::unwrap_used)]

#[path = "../examples/two_agents_loopback.rs"]
#[allow(dead_code)]
mod example;

use std::time::Duration;

use ice_sans_io::State;

#[test]
fn two_drivers_connect_over_loopback_and_exchange_data() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let s = rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(10), example::run()).await })
        .expect("connected within 10 s")
        .unwrap();
    assert_eq!(s.a_received, b"hello from b");
    assert_eq!(s.b_received, b"hello from a");
    let (a_state, a) = &s.sides[0];
    let (b_state, b) = &s.sides[1];
    assert_eq!((*a_state, *b_state), (State::Completed, State::Completed));
    assert!(a.nominated && b.nominated);
    // Each side's pair is the other's, mirrored.
    assert_eq!((a.base, a.remote.addr), (b.remote.addr, b.base));
    assert!(a.base.ip().is_loopback());
}
