//! Two clients of `jingle-ice-tokio` call each other through a real Prosody on loopback:
//! disco#info answered by the connection (XEP-0371 §8), session-initiate, session-accept and
//! transport-info routed by the server, a connected pair, datagrams both ways, and a hang-up
//! that the callee sees as session-terminate.
//!
//! Ignored in the test step because it needs Debian's prosody; `cargo xtask ci` runs it in
//! its Prosody step with `--ignored`.

mod prosody_support;

use std::time::Duration;

use jingle_ice_tokio::jingle_ice_glue::Event;
use jingle_ice_tokio::{
    Call, CallConfig, CallEvent, ConnectOptions, Connection, external_services, peer_features,
};
use prosody_support::{HOST, Prosody, Setup};
use tokio_xmpp::jid::{FullJid, Jid};

const ROMEO: (&str, &str) = ("romeo", "montague");
const JULIET: (&str, &str) = ("juliet", "capulet");
const PACKAGES: &str = "install Debian's prosody";

async fn login(p: &Prosody, (user, password): (&str, &str), resource: &str) -> Connection {
    let jid: Jid = format!("{user}@{HOST}/{resource}").parse().expect("a JID");
    match Connection::login(p.addr(), jid, password, ConnectOptions::default()).await {
        Ok(c) => c,
        Err(e) => panic!("{e}\n{}", p.log_tail()),
    }
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs Debian's prosody (.ci/run installs it): runs in every cargo xtask ci (step interop: Prosody), locally with -- --ignored"]
async fn two_clients_call_through_prosody() {
    let setup = Setup {
        template: prosody_support::config(&[], ""),
        required: &[],
        packages: PACKAGES,
    };
    let prosody = Prosody::start("prosody_call", &[ROMEO, JULIET], &setup);
    let mut romeo = login(&prosody, ROMEO, "orchard").await;
    let juliet = login(&prosody, JULIET, "balcony").await;
    let juliet_jid: FullJid = juliet.bound_jid().clone();
    assert_eq!(juliet_jid.resource().as_str(), "balcony");

    // A server without XEP-0215: a warning, no services, no failure.
    let services = external_services(&mut romeo, Duration::from_secs(5)).await;
    assert!(services.services.is_empty(), "{services:?}");
    assert!(
        services
            .warnings
            .iter()
            .any(|w| w.contains("service-unavailable") || w.contains("feature-not-implemented")),
        "{services:?}"
    );

    // XEP-0371 §8: Juliet's connection answers disco#info with both ICE namespaces.
    let features = peer_features(&mut romeo, &juliet_jid, Duration::from_secs(5))
        .await
        .expect("Juliet's features");
    assert!(features.ice0 && features.ice_udp1, "{features:?}");

    let callee = async move {
        let mut call = Call::wait_incoming(juliet, CallConfig::default())
            .await
            .expect("an incoming call");
        // The host candidate's event, then the offer.
        loop {
            match call.next().await.expect("an event") {
                CallEvent::Session(Event::Initiated { .. }) => break,
                CallEvent::Session(Event::Ice(_)) => {}
                other => panic!("expected Initiated, got {other:?}"),
            }
        }
        call.accept(None).expect("accept");
        let pair = call
            .connected(Duration::from_secs(10))
            .await
            .expect("Juliet connected");
        // Echo three datagrams, then wait for the hang-up.
        for _ in 0..3 {
            let d = call.recv().await.expect("a datagram");
            call.send(&d).await.expect("the echo");
        }
        let ended = loop {
            match call.next().await {
                Ok(CallEvent::Session(Event::Terminated { .. })) => break true,
                Ok(_) => {}
                Err(e) => panic!("Juliet: {e}"),
            }
        };
        (pair, ended)
    };
    let caller = async move {
        let mut call = Call::initiate(romeo, juliet_jid, CallConfig::default())
            .await
            .expect("the call");
        // Cancel-safety: until the pair is up, `next` is dropped every millisecond by a timer
        // that wins the select; nothing it had received may be lost, or the call would stall.
        let mut cancelled = 0u32;
        tokio::time::timeout(Duration::from_secs(10), async {
            while call.selected_pair().is_none() {
                tokio::select! {
                    e = call.next() => { e.expect("an event"); }
                    () = tokio::time::sleep(Duration::from_millis(1)) => cancelled += 1,
                }
            }
        })
        .await
        .expect("a pair within 10 s while next() is cancelled every millisecond");
        assert!(cancelled > 0, "the timer never won: nothing was cancelled");
        let pair = call
            .connected(Duration::from_secs(10))
            .await
            .expect("Romeo connected");
        let mut echoed = Vec::new();
        for i in 0..3u8 {
            let msg = [0x80, i, 0xAA];
            // Until Juliet is connected too, a datagram may go unanswered: send again.
            let got = loop {
                call.send(&msg).await.expect("send");
                if let Ok(Ok(d)) =
                    tokio::time::timeout(Duration::from_millis(300), call.recv()).await
                {
                    break d;
                }
            };
            echoed.push(got);
        }
        let connected_after = call.connected_after();
        let conn = call.hang_up("success", Duration::from_secs(2)).await;
        conn.close().await;
        (pair, echoed, connected_after)
    };
    let ((jpair, ended), (rpair, echoed, after)) = tokio::join!(callee, caller);
    assert!(ended, "Juliet saw no session-terminate");
    assert_eq!(echoed.len(), 3);
    for (i, e) in echoed.iter().enumerate() {
        assert_eq!(e[1], i as u8, "echo {i} out of order: {echoed:?}");
    }
    assert!(after.is_some());
    // Host candidates on loopback: each side's selected pair is the other's mirror.
    assert_eq!(rpair.remote.addr, jpair.local.addr);
    assert_eq!(jpair.remote.addr, rpair.local.addr);
}

/// TURN REST credentials that live 15 s (mod_external_services' `ttl`): the call asks for the
/// services again before they expire (`CallConfig::refresh_services`) and takes the new
/// credentials of the TURN server it uses (nothing listens there: the relay fails and the call
/// connects on host candidates, which is all this test needs).
#[tokio::test(flavor = "current_thread")]
#[ignore = "needs Debian's prosody (.ci/run installs it): runs in every cargo xtask ci (step interop: Prosody), locally with -- --ignored"]
async fn a_call_asks_for_services_again_before_they_expire() {
    let setup = Setup {
        template: prosody_support::config(
            &["external_services"],
            r#"
external_services = {
	{ type = "turn", host = "127.0.0.1", port = 3479, transport = "udp", secret = "s3cret", ttl = 15 };
}
"#,
        ),
        required: &["external_services"],
        packages: PACKAGES,
    };
    let prosody = Prosody::start("prosody_call_refresh", &[ROMEO, JULIET], &setup);
    let mut romeo = login(&prosody, ROMEO, "orchard").await;
    let juliet = login(&prosody, JULIET, "balcony").await;
    let juliet_jid: FullJid = juliet.bound_jid().clone();
    let services = external_services(&mut romeo, Duration::from_secs(5)).await;
    assert_eq!(services.services.len(), 1, "{services:?}");
    #[allow(clippy::disallowed_methods)] // XEP-0215 `expires` is wall-clock time
    let now = std::time::SystemTime::now();
    let due = services.refresh_at(now).expect("credentials that expire");
    assert!(due.duration_since(now).unwrap_or_default() <= Duration::from_secs(15));
    let mut config = CallConfig::default();
    config.servers = services.ice_servers().await;
    config.refresh_services = Some(due);
    assert_eq!(config.servers.turn.len(), 1, "{:?}", config.servers);

    let callee = async move {
        let mut call = Call::wait_incoming(juliet, CallConfig::default())
            .await
            .expect("an incoming call");
        loop {
            if let CallEvent::Session(Event::Initiated { .. }) = call.next().await.expect("event") {
                break;
            }
        }
        call.accept(None).expect("accept");
        // Keep answering until Romeo hangs up.
        loop {
            match call.next().await {
                Ok(CallEvent::Session(Event::Terminated { .. })) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    let caller = async move {
        let mut call = Call::initiate(romeo, juliet_jid, config)
            .await
            .expect("the call");
        let refreshed = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match call.next().await.expect("event") {
                    CallEvent::ServicesRefreshed { updated } => return updated,
                    CallEvent::Warning(w) => panic!("{w}"),
                    _ => {}
                }
            }
        })
        .await
        .expect("the services asked again within 20 s");
        let conn = call.hang_up("success", Duration::from_secs(2)).await;
        conn.close().await;
        refreshed
    };
    let ((), updated) = tokio::join!(callee, caller);
    assert_eq!(
        updated, 1,
        "the TURN server's credentials were not replaced"
    );
}

/// `Connection::from_client` takes a tokio-xmpp client built by the caller (here plaintext
/// through tokio-xmpp's own connector; with TLS it would be `Client::new` and tokio-xmpp's TLS
/// features): it waits until the client is online, then works like a login of ours.
#[tokio::test(flavor = "current_thread")]
#[ignore = "needs Debian's prosody (.ci/run installs it): runs in every cargo xtask ci (step interop: Prosody), locally with -- --ignored"]
async fn a_connection_from_a_client_built_by_the_caller() {
    let setup = Setup {
        template: prosody_support::config(&[], ""),
        required: &[],
        packages: PACKAGES,
    };
    let prosody = Prosody::start("prosody_call_from_client", &[ROMEO, JULIET], &setup);
    let jid: Jid = format!("{}@{HOST}/own", ROMEO.0).parse().expect("a JID");
    let client = tokio_xmpp::Client::new_plaintext(
        jid,
        ROMEO.1,
        tokio_xmpp::connect::DnsConfig::Addr {
            addr: prosody.addr().to_string(),
        },
        tokio_xmpp::xmlstream::Timeouts::tight(),
    );
    let mut romeo = Connection::from_client(client, ConnectOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", prosody.log_tail()));
    assert_eq!(romeo.bound_jid().resource().as_str(), "own");
    assert_eq!(
        romeo.local_addr(),
        None,
        "tokio-xmpp's connector does not tell"
    );
    let juliet = login(&prosody, JULIET, "balcony").await;
    let features = peer_features(&mut romeo, juliet.bound_jid(), Duration::from_secs(5))
        .await
        .expect("Juliet's features");
    assert!(features.ice0, "{features:?}");
    romeo.close().await;
    juliet.close().await;
}
