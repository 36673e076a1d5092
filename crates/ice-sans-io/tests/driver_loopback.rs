//! The tokio driver on real sockets: the example `two_agents_loopback`, run and checked.
//! (`required-features = ["tokio"]` in Cargo.toml; `cargo xtask ci` tests with the feature.)
#![allow(clippy::unwrap_used)]

#[path = "../examples/two_agents_loopback.rs"]
#[allow(dead_code)]
mod example;

use ice_sans_io::{CandidateKind, State};

#[test]
fn two_drivers_connect_over_loopback_and_exchange_data() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let s = rt
        .block_on(async { tokio::time::timeout(example::TIMEOUT, example::run()).await })
        .expect("connected within 10 s")
        .unwrap();
    assert_eq!(s.received[0], b"hello from b");
    assert_eq!(s.received[1], b"hello from a");
    let [(a_state, a), (b_state, b)] = &s.sides;
    assert_eq!((*a_state, *b_state), (State::Completed, State::Completed));
    assert!(a.nominated && b.nominated);
    // Each side's pair is the other's, mirrored, between the two host candidates.
    assert_eq!((a.base, a.remote.addr), (b.remote.addr, b.base));
    assert_eq!(
        (a.local.kind, a.remote.kind),
        (CandidateKind::Host, CandidateKind::Host)
    );
    assert!(a.base.ip().is_loopback());
    assert_ne!(a.base, b.base);
}

#[test]
fn bind_refuses_an_unspecified_address_and_send_needs_a_pair() {
    use ice_sans_io::driver::{Driver, SendDataError};
    use ice_sans_io::{Config, IceAgent, Role, SendError};

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let agent = IceAgent::new(Config::new(Role::Controlling), [3; 32]);
        let err = Driver::bind(agent, &[(1, "0.0.0.0:0".parse().unwrap())])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);

        let agent = IceAgent::new(Config::new(Role::Controlling), [3; 32]);
        let mut d = Driver::bind(agent, &[(1, "127.0.0.1:0".parse().unwrap())])
            .await
            .unwrap();
        let local: Vec<_> = d.local_addrs().collect();
        assert_eq!(local.len(), 1);
        assert_ne!(local[0].port(), 0);
        assert!(matches!(
            d.send(1, b"too early").await,
            Err(SendDataError::Agent(SendError::NotConnected))
        ));
        assert!(matches!(
            d.send(2, b"no such component").await,
            Err(SendDataError::Agent(SendError::UnknownComponent(2)))
        ));
    });
}
