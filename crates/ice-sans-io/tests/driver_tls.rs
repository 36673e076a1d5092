//! The tokio driver's TLS to a TURN server (feature `tls`, RFC 8656 §3.1) on real sockets: a
//! small tokio-rustls server on 127.0.0.1 presents a certificate of a test authority (made
//! with rcgen, as `ice_netsim::tls::SimCa` makes the simulator's) and speaks TURN through the
//! scripted server of `tests/relay_tcp/server.rs` (401, then the signed Allocate's success,
//! Refresh). The driver trusts that authority only ([`DriverTlsConfig::with_roots`]); the agent
//! sees plaintext. (`required-features = ["tls"]`; `cargo xtask ci` tests with the feature.)
#![allow(clippy::unwrap_used)]

#[path = "relay_tcp/server.rs"]
#[allow(dead_code)]
mod server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ice_sans_io::driver::{Driver, DriverEvent, DriverTlsConfig, rustls};
use ice_sans_io::stun::{Class, Method};
use ice_sans_io::turn::{TurnCredentials, TurnFailure, TurnTransport};
use ice_sans_io::{CandidateKind, Config, Event, IceAgent, Role};
use server::{PASS, Seen, TurnOverStream, USER};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::RootCertStore;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const NAME: &str = "turn.example";
const TIMEOUT: Duration = Duration::from_secs(10);

/// A certificate authority for the tests: a fresh ECDSA P-256 root that issues server
/// certificates.
struct TestCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    fn new() -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "driver_tls test authority");
        let key = rcgen::KeyPair::generate().unwrap();
        TestCa {
            issuer: rcgen::CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    /// A root store that trusts this authority only.
    fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.issuer.der().clone()).unwrap();
        roots
    }

    /// A server certificate for `name` and its key.
    fn issue(&self, name: &str) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (cert.der().clone(), der)
    }
}

fn relayed() -> SocketAddr {
    "192.0.2.50:49152".parse().unwrap()
}

/// What the server saw: the client's messages, and whether it released the allocation.
type Served = Result<(Vec<Seen>, bool), String>;

/// A TLS TURN server on 127.0.0.1 with a certificate for `NAME` from `ca`, serving one
/// connection until the client closes it.
async fn tls_turn_server(ca: &TestCa) -> (SocketAddr, JoinHandle<Served>) {
    let (cert, key) = ca.issue(NAME);
    #[allow(deprecated, reason = "the ring provider, as the driver's")]
    let provider = rustls::crypto::ring::default_provider();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (tcp, peer) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut tls = acceptor
            .accept(tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let mut turn = TurnOverStream::new(relayed(), peer);
        let mut buf = vec![0u8; 4096];
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let (back, _udp) = turn.client_wrote(&buf[..n]);
                    tls.write_all(&back).await.map_err(|e| e.to_string())?;
                }
            }
        }
        Ok((turn.seen.clone(), turn.released))
    });
    (addr, task)
}

/// A driver with one UDP host candidate and the TURN server at `server` over TLS as `name`,
/// trusting `ca` only; gathering started.
async fn driver(server: SocketAddr, name: &str, ca: &TestCa) -> Driver {
    let mut agent = IceAgent::new(Config::new(Role::Controlling), [11; 32]);
    let tls = TurnTransport::Tls {
        server_name: name.into(),
    };
    agent
        .add_turn_server_over(server, TurnCredentials::new(USER, PASS), tls)
        .unwrap();
    let mut d = Driver::new(agent);
    d.set_tls_config(DriverTlsConfig::with_roots(ca.roots()).unwrap());
    d.add_udp_host(1, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    d.gather();
    d
}

/// The driver's events until gathering completes.
async fn gather(d: &mut Driver) -> Vec<Event> {
    let mut seen = Vec::new();
    tokio::time::timeout(TIMEOUT, async {
        loop {
            if let DriverEvent::Ice(e) = d.next().await.unwrap() {
                let done = e == Event::GatheringComplete;
                seen.push(e);
                if done {
                    break;
                }
            }
        }
    })
    .await
    .expect("gathering completes within 10 s");
    seen
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn the_turn_client_allocates_over_tls_and_releases_with_close_notify() {
    rt().block_on(async {
        let ca = TestCa::new();
        let (addr, served) = tls_turn_server(&ca).await;
        let mut d = driver(addr, NAME, &ca).await;
        let events = gather(&mut d).await;
        assert!(
            events.contains(&Event::RelayAllocated {
                server: addr,
                base: d.local_addrs().next().unwrap(),
                relayed: relayed(),
            }),
            "{events:?}"
        );
        let relayed_candidate = events.iter().any(|e| {
            matches!(e, Event::LocalCandidate(c)
                if c.kind == CandidateKind::Relayed && c.addr == relayed())
        });
        assert!(relayed_candidate, "{events:?}");
        assert!(matches!(
            d.agent().relay_transport(relayed()),
            Some(TurnTransport::Tls { .. })
        ));
        assert_eq!(d.stats().tls_failed, 0);
        assert_eq!(d.stats().tcp_connects, 1);

        // Closing releases the allocation (RFC 8656 §7.2, LIFETIME 0) on the connection, then
        // closes it: the release is written before the shutdown.
        let now = d.now();
        d.agent_mut().close(now);
        d.flush();
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            loop {
                let _ = d.next().await;
            }
        })
        .await;
        let (seen, released) = tokio::time::timeout(TIMEOUT, served)
            .await
            .expect("the server saw the end of the stream")
            .unwrap()
            .unwrap();
        // RFC 8489 §9.2: the first Allocate unsigned (answered 401 over TLS), then signed.
        assert_eq!(
            seen[..2],
            [
                Seen::Stun(Method::ALLOCATE, Class::Request, false),
                Seen::Stun(Method::ALLOCATE, Class::Request, true),
            ]
        );
        assert!(released, "{seen:?}");
        assert_eq!(d.stats().tcp_closed, 1);
    });
}

/// The certificate names `turn.example`; a client expecting another name refuses it (RFC
/// 6125): the connect fails, and with it the relay.
#[test]
fn a_wrong_server_name_fails_the_connect() {
    rt().block_on(async {
        let ca = TestCa::new();
        let (addr, served) = tls_turn_server(&ca).await;
        let mut d = driver(addr, "other.example", &ca).await;
        let events = gather(&mut d).await;
        let failed = events.iter().find_map(|e| match e {
            Event::RelayFailed { reason, .. } => Some(*reason),
            _ => None,
        });
        assert_eq!(failed, Some(TurnFailure::ConnectFailed), "{events:?}");
        assert_eq!(d.stats().tls_failed, 1);
        assert_eq!(d.stats().tcp_connect_failed, 1);
        let served = tokio::time::timeout(TIMEOUT, served)
            .await
            .unwrap()
            .unwrap();
        assert!(served.is_err(), "the handshake must fail: {served:?}");
    });
}

/// A certificate of an authority the driver does not trust is refused.
#[test]
fn an_untrusted_authority_fails_the_connect() {
    rt().block_on(async {
        let ca = TestCa::new();
        let other = TestCa::new();
        let (addr, _served) = tls_turn_server(&ca).await;
        let mut d = driver(addr, NAME, &other).await;
        let events = gather(&mut d).await;
        assert!(
            events.iter().any(|e| matches!(
                e,
                Event::RelayFailed {
                    reason: TurnFailure::ConnectFailed,
                    ..
                }
            )),
            "{events:?}"
        );
        assert_eq!(d.stats().tls_failed, 1);
    });
}
