//! TLS over the simulated TCP, deterministic (feature `tls`).
//!
//! The simulator replays a run bit for bit from its seed, captures included; TLS draws random
//! numbers (the hello randoms, the ephemeral key share) and so, as shipped, never gives the
//! same bytes twice. This module runs real TLS 1.3 (rustls on ring, RFC 8446) with every
//! random draw taken from a seed:
//!
//! - a [`rustls::crypto::CryptoProvider`] whose `secure_random` draws from the RNG of the
//!   connection being driven (each [`SimTls`] owns a ChaCha8 RNG seeded by its caller; the RNG is
//!   lent to rustls for the length of each call, so nothing is shared between connections or
//!   threads), and whose one key exchange group is X25519 (RFC 7748) with its private key drawn
//!   from that RNG;
//! - Ed25519 certificates (RFC 8410), whose signatures are deterministic (RFC 8032 §5.1.6),
//!   from a simulated certificate authority ([`SimCa`]) whose keys come from a seed;
//! - TLS 1.3 only, one cipher suite (TLS_AES_128_GCM_SHA256), no session tickets and no
//!   resumption, and a clock fixed at [`CERT_TIME`] for certificate validity.
//!
//! A draw outside a driven call fails the handshake instead of taking the system's randomness.
//! This is for the simulator only: keys from a seed protect nothing.
//!
//! The endpoints are sans-IO, like everything in the simulator: ciphertext in with
//! [`SimTls::handle_ciphertext`], out with [`SimTls::poll_ciphertext`]; plaintext in with
//! [`SimTls::write_plaintext`], out with [`SimTls::read_plaintext`].
//!
//! ```
//! use ice_netsim::tls::{SimCa, SimTls};
//!
//! let ca = SimCa::new([1; 32]).unwrap();
//! let (cert, key) = ca.issue("turn1", [2; 32]).unwrap();
//! let mut client = SimTls::client("turn1", &ca, [3; 32]).unwrap();
//! let mut server = SimTls::server(cert, key, [4; 32]).unwrap();
//! client.write_plaintext(b"hello").unwrap();
//! let mut got = Vec::new();
//! for _ in 0..4 {
//!     while let Some(bytes) = client.poll_ciphertext() {
//!         server.handle_ciphertext(&bytes).unwrap();
//!     }
//!     while let Some(bytes) = server.poll_ciphertext() {
//!         client.handle_ciphertext(&bytes).unwrap();
//!     }
//!     server.read_plaintext(&mut got);
//! }
//! assert_eq!(got, b"hello");
//! assert!(!client.is_handshaking() && !server.is_handshaking());
//! ```

use std::cell::RefCell;
use std::fmt;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::client::Resumption;
use rustls::crypto::{
    ActiveKeyExchange, CryptoProvider, GetRandomFailed, SecureRandom, SharedSecret,
    SupportedKxGroup,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::NoServerSessionStorage;
use rustls::time_provider::TimeProvider;
use rustls::{ClientConfig, ClientConnection, Connection, NamedGroup, RootCertStore, ServerConfig};
use rustls::{ServerConnection, version};

/// The time the simulated TLS endpoints read for certificate validity: 2025-01-01T00:00:00Z
/// (the simulator's TURN REST epoch). [`SimCa`]'s certificates are valid from 1975 to 4096
/// (rcgen's defaults), so any fixed time works; this one is the simulator's.
pub const CERT_TIME: Duration = Duration::from_secs(1_735_689_600);

/// The largest plaintext [`SimTls::read_plaintext`] holds before the connection is failed
/// (rustls buffers what it decrypted until read; the owner reads after every input).
pub const MAX_PLAINTEXT_BUFFER: usize = 1 << 20;

/// The PEM label of a certificate (RFC 7468 §5.1).
pub const PEM_CERTIFICATE: &str = "CERTIFICATE";

/// The PEM label of a PKCS #8 private key (RFC 7468 §10).
pub const PEM_PRIVATE_KEY: &str = "PRIVATE KEY";

/// What the simulated TLS refuses.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// rustls refused: a handshake failure, a bad record, a certificate not trusted.
    Tls(rustls::Error),
    /// The certificate authority could not make a certificate.
    Certificate(rcgen::Error),
    /// A server name that is neither a DNS name nor an IP address.
    BadServerName(String),
    /// Writing plaintext or reading records failed inside rustls' buffers.
    Io(std::io::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Tls(e) => write!(f, "TLS: {e}"),
            TlsError::Certificate(e) => write!(f, "certificate: {e}"),
            TlsError::BadServerName(n) => write!(f, "`{n}` is no server name"),
            TlsError::Io(e) => write!(f, "TLS buffers: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

impl From<rustls::Error> for TlsError {
    fn from(e: rustls::Error) -> Self {
        TlsError::Tls(e)
    }
}

impl From<rcgen::Error> for TlsError {
    fn from(e: rcgen::Error) -> Self {
        TlsError::Certificate(e)
    }
}

// ---- randomness lent to rustls -----------------------------------------------------------------

thread_local! {
    /// The RNG of the connection being driven on this thread, for the length of one call.
    static LENT: RefCell<Option<ChaCha8Rng>> = const { RefCell::new(None) };
}

/// Runs `f` with `rng` lent to the provider's randomness on this thread, then takes it back.
fn with_rng<R>(rng: &mut ChaCha8Rng, f: impl FnOnce() -> R) -> R {
    let placeholder = ChaCha8Rng::from_seed([0; 32]);
    let lent = std::mem::replace(rng, placeholder);
    LENT.with(|l| *l.borrow_mut() = Some(lent));
    let r = f();
    if let Some(back) = LENT.with(|l| l.borrow_mut().take()) {
        *rng = back;
    }
    r
}

/// Fills `buf` from the lent RNG; fails outside a driven call.
fn draw(buf: &mut [u8]) -> Result<(), GetRandomFailed> {
    LENT.with(|l| match l.borrow_mut().as_mut() {
        Some(rng) => {
            rng.fill_bytes(buf);
            Ok(())
        }
        None => Err(GetRandomFailed),
    })
}

/// The provider's randomness: the lent RNG.
#[derive(Debug)]
struct Lent;

impl SecureRandom for Lent {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        draw(buf)
    }
}

/// X25519 (RFC 7748 §5) with the private key drawn from the lent RNG.
#[derive(Debug)]
struct SeededX25519;

/// The u-coordinate of the base point (RFC 7748 §4.1).
const BASE_POINT: [u8; 32] = {
    let mut b = [0u8; 32];
    b[0] = 9;
    b
};

impl SupportedKxGroup for SeededX25519 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        let mut private = [0u8; 32];
        draw(&mut private).map_err(|_| rustls::Error::FailedToGetRandomBytes)?;
        let public = x25519_dalek::x25519(private, BASE_POINT);
        Ok(Box::new(ActiveX25519 { private, public }))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

struct ActiveX25519 {
    private: [u8; 32],
    public: [u8; 32],
}

impl ActiveKeyExchange for ActiveX25519 {
    fn complete(self: Box<Self>, peer_pub_key: &[u8]) -> Result<SharedSecret, rustls::Error> {
        let peer: [u8; 32] = peer_pub_key
            .try_into()
            .map_err(|_| rustls::Error::from(rustls::PeerMisbehaved::InvalidKeyShare))?;
        let shared = x25519_dalek::x25519(self.private, peer);
        // RFC 7748 §6.1: an all-zero result means a small-order point; RFC 8446 §7.4.2 asks
        // the endpoint to abort.
        if shared == [0; 32] {
            return Err(rustls::PeerMisbehaved::InvalidKeyShare.into());
        }
        Ok(SharedSecret::from(&shared[..]))
    }

    fn pub_key(&self) -> &[u8] {
        &self.public
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

/// The clock rustls reads: [`CERT_TIME`].
#[derive(Debug)]
struct FixedTime;

impl TimeProvider for FixedTime {
    fn current_time(&self) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(CERT_TIME))
    }
}

/// ring's provider with the randomness, the key exchange and the suites made deterministic.
fn provider() -> Arc<CryptoProvider> {
    #[allow(
        deprecated,
        reason = "deprecated for lacking post-quantum key exchange; its key exchange is replaced \
                  here by the seeded X25519, and its signature algorithms and key loading kept"
    )]
    let ring = rustls::crypto::ring::default_provider();
    Arc::new(CryptoProvider {
        cipher_suites: vec![rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256],
        kx_groups: vec![&SeededX25519],
        secure_random: &Lent,
        ..ring
    })
}

/// An Ed25519 key (RFC 8410) from 32 seed bytes, as PKCS #8 v1 DER (RFC 5958): the fixed
/// prefix of the algorithm identifier, then the seed as the private key.
fn ed25519_pkcs8(seed: [u8; 32]) -> Vec<u8> {
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(&seed);
    der
}

fn key_pair(seed: [u8; 32]) -> Result<KeyPair, TlsError> {
    let der = PrivatePkcs8KeyDer::from(ed25519_pkcs8(seed));
    Ok(KeyPair::from_pkcs8_der_and_sign_algo(
        &der,
        &rcgen::PKCS_ED25519,
    )?)
}

// ---- the certificate authority -----------------------------------------------------------------

/// A simulated certificate authority: an Ed25519 root from a seed that issues server
/// certificates, and the root store that trusts it. The same seed gives the same certificates.
pub struct SimCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl fmt::Debug for SimCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimCa").finish_non_exhaustive()
    }
}

impl SimCa {
    /// The authority whose key comes from `seed`.
    pub fn new(seed: [u8; 32]) -> Result<SimCa, TlsError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "ice-netsim simulated CA");
        let issuer = CertifiedIssuer::self_signed(params, key_pair(seed)?)?;
        Ok(SimCa { issuer })
    }

    /// The root certificate (DER).
    pub fn certificate(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A root store that trusts this authority only.
    pub fn roots(&self) -> Result<RootCertStore, TlsError> {
        let mut roots = RootCertStore::empty();
        roots.add(self.certificate())?;
        Ok(roots)
    }

    /// A server certificate for `name` (a DNS name, or an IP address as text), signed by this
    /// authority, and its private key (from `seed`).
    pub fn issue(
        &self,
        name: &str,
        seed: [u8; 32],
    ) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), TlsError> {
        let mut params = CertificateParams::new(vec![name.to_owned()])?;
        params.distinguished_name.push(DnType::CommonName, name);
        let key = key_pair(seed)?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ed25519_pkcs8(seed)));
        Ok((cert.der().clone(), der))
    }
}

/// `der` in PEM (RFC 7468 §2): the label's header and footer around the base64 of the DER,
/// 64 characters a line. What real TLS servers (coturn's `cert` and `pkey`) read.
pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

// ---- the endpoints -----------------------------------------------------------------------------

/// One end of a simulated TLS connection: real TLS 1.3 records, every random draw from the
/// seed given at construction. See the [module docs](self).
pub struct SimTls {
    conn: Connection,
    rng: ChaCha8Rng,
}

impl fmt::Debug for SimTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimTls")
            .field("handshaking", &self.conn.is_handshaking())
            .finish_non_exhaustive()
    }
}

impl SimTls {
    /// A client for `server_name` (checked against the server's certificate) that trusts
    /// `ca`'s certificates only. Its ClientHello is ready at once ([`SimTls::poll_ciphertext`]).
    pub fn client(server_name: &str, ca: &SimCa, seed: [u8; 32]) -> Result<SimTls, TlsError> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| TlsError::BadServerName(server_name.to_owned()))?;
        let mut config = ClientConfig::builder_with_details(provider(), Arc::new(FixedTime))
            .with_protocol_versions(&[&version::TLS13])?
            .with_root_certificates(ca.roots()?)
            .with_no_client_auth();
        config.resumption = Resumption::disabled();
        let config = Arc::new(config);
        let mut rng = ChaCha8Rng::from_seed(seed);
        let conn = with_rng(&mut rng, || ClientConnection::new(config, name))?;
        Ok(SimTls {
            conn: conn.into(),
            rng,
        })
    }

    /// A server presenting `cert` (from [`SimCa::issue`]) with its `key`.
    pub fn server(
        cert: CertificateDer<'static>,
        key: PrivateKeyDer<'static>,
        seed: [u8; 32],
    ) -> Result<SimTls, TlsError> {
        let mut config = ServerConfig::builder_with_details(provider(), Arc::new(FixedTime))
            .with_protocol_versions(&[&version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)?;
        // No tickets and no session cache: nothing random after the handshake, nothing kept.
        config.send_tls13_tickets = 0;
        config.session_storage = Arc::new(NoServerSessionStorage {});
        let config = Arc::new(config);
        let mut rng = ChaCha8Rng::from_seed(seed);
        let conn = with_rng(&mut rng, || ServerConnection::new(config))?;
        Ok(SimTls {
            conn: conn.into(),
            rng,
        })
    }

    /// Whether the handshake is still going on (plaintext written meanwhile waits for it).
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Ciphertext from the peer (stream bytes, in pieces of any size). An error means the
    /// connection is over (an alert for the peer may wait in [`SimTls::poll_ciphertext`]).
    pub fn handle_ciphertext(&mut self, mut bytes: &[u8]) -> Result<(), TlsError> {
        let conn = &mut self.conn;
        with_rng(&mut self.rng, || {
            while !bytes.is_empty() {
                let n = conn.read_tls(&mut bytes).map_err(TlsError::Io)?;
                if n == 0 {
                    break;
                }
                let state = conn.process_new_packets()?;
                if state.plaintext_bytes_to_read() > MAX_PLAINTEXT_BUFFER {
                    return Err(TlsError::Io(std::io::Error::other(
                        "plaintext not read: the buffer is full",
                    )));
                }
            }
            Ok(())
        })
    }

    /// Moves the plaintext received so far to the end of `out`.
    pub fn read_plaintext(&mut self, out: &mut Vec<u8>) {
        // `WouldBlock` when there is none; a clean close reads as 0 bytes: both end the read.
        let _ = self.conn.reader().read_to_end(out);
    }

    /// Plaintext to send (sent once the handshake is done).
    pub fn write_plaintext(&mut self, data: &[u8]) -> Result<(), TlsError> {
        let conn = &mut self.conn;
        with_rng(&mut self.rng, || conn.writer().write_all(data)).map_err(TlsError::Io)
    }

    /// Sends a close_notify alert (RFC 8446 §6.1): nothing more is written.
    pub fn close(&mut self) {
        let conn = &mut self.conn;
        with_rng(&mut self.rng, || conn.send_close_notify());
    }

    /// The next ciphertext to send on the stream.
    pub fn poll_ciphertext(&mut self) -> Option<Vec<u8>> {
        if !self.conn.wants_write() {
            return None;
        }
        let mut out = Vec::new();
        let conn = &mut self.conn;
        let _ = with_rng(&mut self.rng, || conn.write_tls(&mut out));
        (!out.is_empty()).then_some(out)
    }
}
