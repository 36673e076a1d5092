//! Configuration and credentials of a [`TurnClient`](super::TurnClient), and the TURN REST
//! credentials helper.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::candidate::Protocol;

/// The address family of the relayed address to ask for (RFC 8656 §7.1).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressFamily {
    /// IPv4 (REQUESTED-ADDRESS-FAMILY 0x01).
    V4,
    /// IPv6 (REQUESTED-ADDRESS-FAMILY 0x02).
    V6,
}

impl AddressFamily {
    /// The value of REQUESTED-ADDRESS-FAMILY (RFC 8656 §18.8).
    pub fn wire_value(self) -> u8 {
        match self {
            AddressFamily::V4 => 0x01,
            AddressFamily::V6 => 0x02,
        }
    }
}

/// How a TURN client reaches its server (RFC 8656 §3.1): the transport between client and
/// server. The relayed transport is UDP whichever it is (REQUESTED-TRANSPORT 17; RFC 6062 TCP
/// allocations are not offered).
///
/// Over [`TurnTransport::Tcp`] and [`TurnTransport::Tls`] the messages go on one connection
/// the caller holds, unframed (STUN messages and ChannelData are self-delimiting, RFC 8656
/// §12.5; ChannelData padded to a multiple of four bytes), and requests are not retransmitted
/// (RFC 8489 §6.2.2). The ICE agent takes one in
/// [`IceAgent::add_turn_server_over`](crate::IceAgent::add_turn_server_over).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TurnTransport {
    /// UDP datagrams to the server (RFC 8656 §3.1's default).
    Udp,
    /// A TCP connection to the server.
    Tcp,
    /// TLS over a TCP connection to the server (RFC 8656 §3.1: TLS 1.2 or later). The caller
    /// runs the TLS client: `server_name` is the name to send (SNI) and to check the
    /// server's certificate against; the agent reads and writes the plaintext.
    Tls {
        /// The server's name for SNI and the certificate check (a DNS name, as in
        /// `turns:` URIs, RFC 7065).
        server_name: String,
    },
}

impl TurnTransport {
    /// Whether the transport is a stream (TCP or TLS).
    pub fn is_stream(&self) -> bool {
        !matches!(self, TurnTransport::Udp)
    }

    /// `"udp"`, `"tcp"` or `"tls"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            TurnTransport::Udp => "udp",
            TurnTransport::Tcp => "tcp",
            TurnTransport::Tls { .. } => "tls",
        }
    }
}

/// Configuration of a [`TurnClient`](super::TurnClient). `TurnConfig::default()` gives the RFC
/// values. Every limit bounds memory: what goes over is refused (an `Err` from the verb) and
/// counted in [`TurnStats`](super::TurnStats).
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct TurnConfig {
    /// The transport to the server. Over UDP requests are retransmitted (RFC 8489 §6.2.1) and
    /// ChannelData is not padded; over TCP (a stream the caller frames) requests are sent once
    /// and time out after Ti = 39.5 s (RFC 8489 §6.2.2), and ChannelData is padded to a
    /// multiple of 4 bytes (RFC 8656 §12.4). Default UDP.
    pub protocol: Protocol,
    /// The family of the relayed address (REQUESTED-ADDRESS-FAMILY, RFC 8656 §7.1); `None`
    /// leaves the attribute out and the server allocates IPv4. Default `None`.
    pub family: Option<AddressFamily>,
    /// The LIFETIME asked for in Allocate and Refresh (RFC 8656 §7.1, §8); `None` leaves it to
    /// the server (600 s by default, RFC 8656 §3.2). Default `None`.
    pub lifetime: Option<Duration>,
    /// How long before expiry the allocation, a permission or a channel is refreshed (RFC 8656
    /// §8, §9, §12: the client refreshes before the lifetime runs out). At most half the
    /// lifetime is used when the lifetime is short. Default 60 s.
    pub refresh_margin: Duration,
    /// The initial RTO (RFC 8489 §6.2.1). Default 500 ms.
    pub rto: Duration,
    /// The cap of the doubled RTO. RFC 8489 doubles without a cap. Default: no cap.
    pub max_rto: Duration,
    /// Requests sent in one transaction, the first included (RFC 8489 §6.2.1 `Rc`). Default 7.
    pub max_requests: u32,
    /// After the last request, the transaction fails when `Rm` times the initial RTO passed
    /// without a response (RFC 8489 §6.2.1 `Rm`). Default 16.
    pub last_wait_factor: u32,
    /// Peer IP addresses with a permission (RFC 8656 §9). Default 64.
    pub max_permissions: usize,
    /// Channels (RFC 8656 §12; at most 4096 exist). Default 64.
    pub max_channels: usize,
    /// Requests in flight. Allocate, Refresh and the close are always sent; a CreatePermission
    /// or ChannelBind (first or refresh) waits for a slot and is counted in
    /// `TurnStats::requests_deferred`. Default 32.
    pub max_transactions: usize,
    /// 438 Stale Nonce answers an Allocate may get before the allocation fails (RFC 8489
    /// §9.2.5 leaves the bound to the client). Other requests retry once. Default 3.
    pub max_stale_nonce: u32,
    /// SOFTWARE in every request (RFC 8489 §14.14); `None` leaves it out. Default `None`.
    pub software: Option<&'static str>,
}

impl Default for TurnConfig {
    fn default() -> Self {
        TurnConfig {
            protocol: Protocol::Udp,
            family: None,
            lifetime: None,
            refresh_margin: Duration::from_secs(60),
            rto: Duration::from_millis(500),
            max_rto: Duration::MAX,
            max_requests: 7,
            last_wait_factor: 16,
            max_permissions: 64,
            max_channels: 64,
            max_transactions: 32,
            max_stale_nonce: 3,
            software: None,
        }
    }
}

/// The long-term credentials of a TURN user (RFC 8489 §9.2).
#[derive(Clone, PartialEq, Eq)]
pub struct TurnCredentials {
    /// USERNAME (at most 512 bytes, RFC 8489 §14.3).
    pub username: String,
    /// The password; the key is `MD5(username ":" realm ":" password)` (RFC 8489 §9.2.2).
    pub password: String,
}

impl fmt::Debug for TurnCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurnCredentials")
            .field("username", &self.username)
            .field("password", &"..")
            .finish()
    }
}

impl TurnCredentials {
    /// RFC 8489 §14.3: a USERNAME of at most 512 bytes.
    pub(crate) fn check(&self) -> Result<(), super::TurnError> {
        if self.username.len() > 512 {
            return Err(super::TurnError::UsernameTooLong);
        }
        Ok(())
    }

    /// Credentials from a username and a password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        TurnCredentials {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The TURN REST scheme (draft-uberti-behave-turn-rest-00 §2.2, what coturn's
    /// `static-auth-secret` and XEP-0215 services use): username `EXPIRY:NAME` with `EXPIRY`
    /// the Unix time (seconds) at which the credentials stop working, password
    /// `base64(HMAC-SHA1(secret, username))`. A pure function: the caller reads the clock.
    pub fn rest(secret: &[u8], expiry_unix: u64, name: &str) -> Self {
        let username = format!("{expiry_unix}:{name}");
        // HMAC takes keys of any length (RFC 2104 §2).
        let mut mac = match Hmac::<Sha1>::new_from_slice(secret) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC accepts keys of every length"),
        };
        mac.update(username.as_bytes());
        // RFC 4648 §4: standard base64 with padding.
        let password = BASE64.encode(mac.finalize().into_bytes());
        TurnCredentials { username, password }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The expected password was computed outside this crate, in a shell:
    /// `echo -n "1735689600:romeo" | openssl dgst -sha1 -hmac "north-pole-secret" -binary | base64`
    /// and python's `base64.b64encode(hmac.new(b"north-pole-secret", b"1735689600:romeo",
    /// hashlib.sha1).digest())`; both print `9P/TVRxFRH/c9oQE8x8s0ETT7iQ=`.
    #[test]
    fn turn_rest_credentials_vector() {
        let c = TurnCredentials::rest(b"north-pole-secret", 1_735_689_600, "romeo");
        assert_eq!(c.username, "1735689600:romeo");
        assert_eq!(c.password, "9P/TVRxFRH/c9oQE8x8s0ETT7iQ=");
        assert!(
            !format!("{c:?}").contains("9P/T"),
            "Debug hides the password"
        );
    }
}
