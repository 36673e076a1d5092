//! TLS to TURN servers (feature `tls`; RFC 8656 §3.1): a rustls client, on the *ring*
//! provider, through tokio-rustls.
//!
//! For [`Event::Connect`](crate::Event::Connect) with `tls: Some(name)` the driver opens the
//! TCP connection, runs the TLS handshake as a client (TLS 1.3 or 1.2, SNI `name` after RFC
//! 6066 §3), checks the server's certificate chain against the roots of its
//! [`DriverTlsConfig`] and `name` (rustls' WebPKI verifier, RFC 6125), and only then reports
//! the connection open to the agent, which reads and writes plaintext. A failed handshake or a
//! refused certificate is [`IceAgent::handle_connect_failed`](crate::IceAgent::handle_connect_failed)
//! (the relay fails with `TurnFailure::ConnectFailed`), counted in
//! [`DriverStats::tls_failed`](super::DriverStats::tls_failed); a TLS alert or a bad record
//! later is [`IceAgent::handle_closed`](crate::IceAgent::handle_closed). On
//! [`Event::Close`](crate::Event::Close) the driver sends `close_notify`.
//!
//! The roots are the platform's (rustls-native-certs, loaded at the first TLS connection) unless
//! the caller gives its own with [`Driver::set_tls_config`].

use std::fmt;
use std::sync::Arc;

use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use super::Driver;

/// How the driver runs TLS to TURN servers: the roots it trusts, or a whole rustls
/// [`ClientConfig`]. Cheap to clone.
#[derive(Clone)]
pub struct DriverTlsConfig {
    client: Arc<ClientConfig>,
}

impl fmt::Debug for DriverTlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DriverTlsConfig").finish_non_exhaustive()
    }
}

/// Why a [`DriverTlsConfig`] could not be made.
#[non_exhaustive]
#[derive(Debug)]
pub enum TlsSetupError {
    /// rustls refused the configuration.
    Rustls(rustls::Error),
    /// The platform's store gave no usable root certificate; the loader's errors, as text.
    NoPlatformRoots(String),
}

impl fmt::Display for TlsSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsSetupError::Rustls(e) => write!(f, "TLS configuration: {e}"),
            TlsSetupError::NoPlatformRoots(e) => {
                write!(f, "no root certificates from the platform: {e}")
            }
        }
    }
}

impl std::error::Error for TlsSetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsSetupError::Rustls(e) => Some(e),
            TlsSetupError::NoPlatformRoots(_) => None,
        }
    }
}

impl From<rustls::Error> for TlsSetupError {
    fn from(e: rustls::Error) -> Self {
        TlsSetupError::Rustls(e)
    }
}

impl DriverTlsConfig {
    /// Trusts `roots` only (a private TURN deployment's authority, or a test's). TLS 1.3 and
    /// 1.2 (RFC 8656 §3.1 asks for 1.2 or later), the *ring* provider's suites.
    ///
    /// # Errors
    ///
    /// rustls refused the protocol versions for the provider (it does not for *ring*).
    pub fn with_roots(roots: RootCertStore) -> Result<DriverTlsConfig, TlsSetupError> {
        #[allow(
            deprecated,
            reason = "deprecated for lacking post-quantum key exchange; the crate uses ring \
                      to stay off aws-lc, and X25519 is what TURN servers offer today"
        )]
        let provider = rustls::crypto::ring::default_provider();
        let client = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(DriverTlsConfig {
            client: Arc::new(client),
        })
    }

    /// Trusts the platform's root certificates (rustls-native-certs: the system's store on
    /// Linux, the keychain on macOS, the certificate store on Windows).
    ///
    /// # Errors
    ///
    /// No usable root came from the platform ([`TlsSetupError::NoPlatformRoots`]).
    pub fn platform() -> Result<DriverTlsConfig, TlsSetupError> {
        let found = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
            return Err(TlsSetupError::NoPlatformRoots(errors.join("; ")));
        }
        DriverTlsConfig::with_roots(roots)
    }

    /// A rustls client configuration of the caller's (client certificates, other providers,
    /// a custom verifier). It should allow TLS 1.2 or later only (RFC 8656 §3.1).
    pub fn from_client_config(client: Arc<ClientConfig>) -> DriverTlsConfig {
        DriverTlsConfig { client }
    }
}

/// The driver's TLS state: the configuration given, or the platform's loaded on first use.
#[derive(Default)]
pub(super) struct Tls {
    config: Option<DriverTlsConfig>,
    /// Loading the platform's roots failed once: not tried again.
    platform_failed: bool,
}

impl Tls {
    /// A connector and the server name for one connection; `None` when TLS cannot run (no
    /// roots, or `name` is no DNS name or IP address).
    pub(super) fn start(&mut self, name: &str) -> Option<(TlsConnector, ServerName<'static>)> {
        let name = ServerName::try_from(name.to_owned()).ok()?;
        if self.config.is_none() && !self.platform_failed {
            match DriverTlsConfig::platform() {
                Ok(c) => self.config = Some(c),
                Err(_) => self.platform_failed = true,
            }
        }
        let config = self.config.as_ref()?;
        Some((TlsConnector::from(Arc::clone(&config.client)), name))
    }
}

impl Driver {
    /// Sets how TLS to TURN servers runs (feature `tls`): the roots trusted, or a whole rustls
    /// configuration. Without it, the platform's roots are loaded at the first TLS connection.
    /// Applies to the connections opened after the call.
    pub fn set_tls_config(&mut self, config: DriverTlsConfig) {
        self.tcp.tls.config = Some(config);
        self.tcp.tls.platform_failed = false;
    }
}
