//! Plaintext TCP to one socket address, recording what it saw of its connections.
//!
//! tokio-xmpp's own plaintext connector resolves a host name and hides the connection's local
//! address; XEP-0279's NAT hint compares that address with the one the server reports, and a
//! failed login is explained better when we know whether a TCP connection was made at all.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio_xmpp::connect::ServerConnector;
use tokio_xmpp::jid::Jid;
use tokio_xmpp::xmlstream::{PendingFeaturesRecv, StreamHeader, Timeouts, initiate_stream};

/// What the connector saw of the connections it opened.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// The local address of the last connection.
    pub(crate) local: Option<SocketAddr>,
    /// The last error, in words.
    pub(crate) last_error: Option<String>,
    /// How many TCP connections were made.
    pub(crate) connections: u32,
}

/// Plaintext TCP to `server` (tokio-xmpp's `insecure-tcp`), for servers on a trusted network
/// such as a test lab; TLS needs a connector of tokio-xmpp's TLS features, given to
/// [`crate::Connection::from_client`].
#[derive(Debug, Clone)]
pub(crate) struct RecordingConnector {
    pub(crate) server: SocketAddr,
    pub(crate) seen: Arc<Mutex<Seen>>,
}

impl RecordingConnector {
    pub(crate) fn record(&self, f: impl FnOnce(&mut Seen)) {
        // A poisoned lock only means a panic elsewhere; the record is still usable.
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut seen);
    }
}

impl ServerConnector for RecordingConnector {
    type Stream = BufStream<TcpStream>;

    async fn connect(
        &self,
        jid: &Jid,
        ns: &'static str,
        timeouts: Timeouts,
    ) -> Result<
        (
            PendingFeaturesRecv<Self::Stream>,
            sasl::common::ChannelBinding,
        ),
        tokio_xmpp::Error,
    > {
        let tcp = match TcpStream::connect(self.server).await {
            Ok(tcp) => tcp,
            Err(e) => {
                self.record(|s| s.last_error = Some(format!("connecting to {}: {e}", self.server)));
                return Err(e.into());
            }
        };
        let local = tcp.local_addr().ok();
        self.record(|s| {
            s.local = local;
            s.connections += 1;
        });
        let header = StreamHeader {
            to: Some(Cow::Borrowed(jid.domain().as_str())),
            from: None,
            id: None,
        };
        let pending = initiate_stream(BufStream::new(tcp), ns, header, timeouts)
            .await
            .inspect_err(|e| self.record(|s| s.last_error = Some(format!("stream header: {e}"))))?;
        Ok((pending, sasl::common::ChannelBinding::None))
    }
}
