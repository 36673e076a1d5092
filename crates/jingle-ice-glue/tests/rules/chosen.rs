//! Chosen credentials, interface numbers, early gathering, restarts with chosen credentials, a gateway that replaces the transport before accepting.

use super::*;

#[test]
fn chosen_credentials_interface_numbers_and_early_gathering() {
    let now = t0();
    let mut s = romeo(Config::allowing(Allowance::PresenceSubscription), 40);
    // RFC 8445 §5.3 lengths: refused with the agent's reason, nothing changed.
    assert!(matches!(
        s.set_local_credentials("8hh", R_PWD),
        Err(jingle_ice_glue::Error::Credentials(_))
    ));
    s.set_local_credentials(R_UFRAG, R_PWD).unwrap();
    // XEP-0371 §5.3 `network`: the interface of the candidate's base.
    s.add_local_host_on_network(now, 1, "10.0.1.1:8998".parse().unwrap(), 1)
        .unwrap();
    s.add_local_host(now, 1, "192.0.2.9:9000".parse().unwrap())
        .unwrap();
    // Gathering before the offer: the agent's candidates come out as events.
    s.gather(now);
    let (out, ev) = drain(&mut s);
    assert!(out.is_empty(), "nothing is signalled before initiate");
    let locals = ev
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Ice(jingle_ice_glue::ice_sans_io::Event::LocalCandidate(_))
            )
        })
        .count();
    assert_eq!(locals, 2);
    assert!(ev.contains(&Event::Ice(
        jingle_ice_glue::ice_sans_io::Event::GatheringComplete
    )));
    s.initiate(now, None).unwrap();
    let (out, _) = drain(&mut s);
    let init = &sets(&out, Action::SessionInitiate)[0];
    let Some(Transport::Ice(t)) = &init.contents[0].transport else {
        panic!("{init:?}")
    };
    assert_eq!(
        (t.ufrag.as_deref(), t.pwd.as_deref()),
        (Some(R_UFRAG), Some(R_PWD))
    );
    let networks: Vec<(String, Option<u8>)> = t
        .candidates
        .iter()
        .map(|c| (c.addr().to_string(), c.network))
        .collect();
    assert_eq!(
        networks,
        [
            ("10.0.1.1:8998".to_owned(), Some(1)),
            ("192.0.2.9:9000".to_owned(), Some(0))
        ]
    );
    // Once offered, only a restart changes them.
    assert_eq!(
        s.set_local_credentials("g7qs", "bv71hdn38hgb39hf6xlk33"),
        Err(jingle_ice_glue::Error::WrongPhase(Phase::Pending))
    );
}

#[test]
fn restart_with_chosen_credentials() {
    let mut n = Net::new(
        [
            Config::allowing(Allowance::AllowList),
            Config::allowing(Allowance::AllowList),
        ],
        [41, 42],
    );
    n.connect();
    let now = n.now;
    let (old, _) = n.s[0].agent().local_credentials();
    let old = old.to_owned();
    // The same ufrag is no restart (RFC 8445 §9); a refused restart changes nothing.
    assert!(matches!(
        n.s[0].restart_with_credentials(now, &old, "bv71hdn38hgb39hf6xlk33"),
        Err(jingle_ice_glue::Error::Credentials(_))
    ));
    assert!(!n.s[0].restart_pending());
    n.s[0]
        .restart_with_credentials(now, "g7qs", "bv71hdn38hgb39hf6xlk33")
        .unwrap();
    n.drain();
    assert!(n.run_until(Duration::from_secs(10), |n| {
        n.s.iter().all(|s| s.agent().generation() == 1)
            && n.both(jingle_ice_glue::ice_sans_io::State::Completed)
    }));
    assert_eq!(
        n.s[1].agent().remote_credentials(),
        Some(("g7qs", "bv71hdn38hgb39hf6xlk33"))
    );
    assert!(n.refused.iter().all(Vec::is_empty), "{:?}", n.refused);
}

#[test]
fn xep0371_6_gateway_replaces_before_accepting() {
    // Listings 9 to 16: the responder (a gateway) answers session-initiate with
    // transport-replace, then accepts the session on raw UDP.
    let mut n = Net::new(
        [
            Config::allowing(Allowance::AllowList),
            Config::allowing(Allowance::AllowList),
        ],
        [43, 44],
    );
    n.auto_accept = false;
    n.initiate();
    assert!(n.run_until(Duration::from_secs(1), |n| n.s[1].phase() == Phase::Pending));
    let now = n.now;
    n.s[1]
        .replace_with_raw_udp(now, "10.1.1.104:13540".parse().unwrap())
        .unwrap();
    n.drain();
    assert!(n.run_until(Duration::from_secs(1), |n| n.s[1].is_raw_udp()));
    let now = n.now;
    n.s[1].accept(now, None).unwrap();
    n.drain();
    assert!(n.run_until(Duration::from_secs(1), |n| n.s[0].phase() == Phase::Active));
    assert!(n.s[0].is_raw_udp());
    assert_eq!(
        n.s[0].raw_udp_remote(),
        Some("10.1.1.104:13540".parse().unwrap())
    );
    assert!(n.refused.iter().all(Vec::is_empty), "{:?}", n.refused);
}
