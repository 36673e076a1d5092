//! Clients over TCP and TLS over TCP (RFC 8656 §3.1): the connections the server accepted,
//! each a stream of STUN messages and ChannelData handed one frame at a time to the path
//! datagrams take; what becomes of a connection's allocation when the connection ends.
//!
//! Over TLS (feature `tls`), the server presents a certificate of the run's simulated
//! certificate authority ([`crate::tls`]) for its [`TlsIdentity`](super::TlsIdentity)'s name,
//! decrypts before the deframer and encrypts what it sends; a TLS failure breaks the
//! connection like bytes that are not TURN.

use std::net::SocketAddr;
use std::time::Instant;

use super::{FiveTuple, MAX_STREAMS, TurnServer, TurnTransport, Via};
use crate::node::{TcpCommand, TcpConnId, TcpEvent};
use crate::stream_framing::{Deframer, MAX_FRAME};

/// The certificate and key the server presents over TLS.
#[cfg(feature = "tls")]
#[derive(Debug)]
pub(super) struct TlsCert {
    cert: rustls::pki_types::CertificateDer<'static>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
    /// Each connection's TLS draws from a seed derived from this and the connection.
    seed: [u8; 32],
}

#[cfg(feature = "tls")]
impl TlsCert {
    /// The server's certificate, issued for its identity's name by the run's authority, when
    /// it serves TLS.
    pub(super) fn new(config: &super::TurnServerConfig, seed: [u8; 32]) -> Option<TlsCert> {
        let id = config.tls_identity.as_ref()?;
        config.tls_port?;
        if !config.transports.contains(&TurnTransport::Tls) {
            return None;
        }
        let ca = crate::tls::SimCa::new(id.ca_seed).ok()?;
        let mut key_seed = seed;
        key_seed[31] ^= 0x5A;
        let (cert, key) = ca.issue(&id.name, key_seed).ok()?;
        Some(TlsCert { cert, key, seed })
    }

    fn session(&self, conn: TcpConnId) -> Option<crate::tls::SimTls> {
        let mut seed = self.seed;
        for (s, c) in seed.iter_mut().zip(conn.0.to_le_bytes()) {
            *s ^= c;
        }
        crate::tls::SimTls::server(self.cert.clone(), self.key.clone_key(), seed).ok()
    }
}

/// A client's connection.
#[derive(Debug)]
pub(super) struct Stream {
    client: SocketAddr,
    server: SocketAddr,
    /// TLS over the connection (accepted on the TLS port); `None`: plain TCP.
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::SimTls>,
    deframer: Deframer,
}

impl Stream {
    fn five(&self, conn: TcpConnId) -> FiveTuple {
        FiveTuple {
            client: self.client,
            server: self.server,
            via: Via::Stream(conn),
        }
    }
}

impl TurnServer {
    /// Bytes of clients' streams held for frames not yet whole (less than one frame, 65 540
    /// bytes, per connection).
    pub fn stream_bytes_held(&self) -> usize {
        self.streams.values().map(|s| s.deframer.buffered()).sum()
    }

    /// An event of the host's TCP stack ([`TurnServer::claims`] says which are the server's;
    /// others are ignored).
    pub(super) fn stream_event(&mut self, now: Instant, event: TcpEvent) {
        match event {
            TcpEvent::Accepted {
                conn,
                local,
                remote,
                ..
            } => self.accept(conn, local, remote),
            TcpEvent::Data { conn, data } => self.stream_data(now, conn, &data),
            TcpEvent::Closed { conn } => self.ended(conn, true),
            TcpEvent::Reset { conn, .. } => self.ended(conn, false),
            _ => {}
        }
    }

    /// The client ended a connection: its FIN (`fin`; it sends nothing more, so the server
    /// closes its half too, RFC 9293 §3.6), or an RST or its stack giving up.
    fn ended(&mut self, conn: TcpConnId, fin: bool) {
        if !self.forget(conn) {
            return;
        }
        self.stats.tcp.closed += 1;
        if fin {
            self.push_tcp(TcpCommand::Close { conn });
        }
    }

    fn accept(&mut self, conn: TcpConnId, local: SocketAddr, remote: SocketAddr) {
        let transport = self.transport_of(local).unwrap_or(TurnTransport::Tcp);
        #[cfg(feature = "tls")]
        let tls = match transport {
            TurnTransport::Tls => self.tls_cert.as_ref().and_then(|c| c.session(conn)),
            _ => None,
        };
        #[cfg(feature = "tls")]
        let refused = transport == TurnTransport::Tls && tls.is_none();
        #[cfg(not(feature = "tls"))]
        let refused = transport == TurnTransport::Tls;
        if self.streams.len() >= MAX_STREAMS || refused {
            self.stats.tcp.refused += 1;
            self.push_tcp(TcpCommand::Abort { conn });
            return;
        }
        self.stats.tcp.accepted += 1;
        if transport == TurnTransport::Tls {
            self.stats.tcp.tls_accepted += 1;
        }
        self.streams.insert(
            conn,
            Stream {
                client: remote,
                server: local,
                #[cfg(feature = "tls")]
                tls,
                deframer: Deframer::default(),
            },
        );
    }

    /// Sends `data` on the client's connection: as it is over TCP, in TLS records over TLS.
    pub(super) fn stream_send(&mut self, conn: TcpConnId, data: Vec<u8>) {
        #[cfg(feature = "tls")]
        if let Some(tls) = self.streams.get_mut(&conn).and_then(|s| s.tls.as_mut()) {
            let ok = tls.write_plaintext(&data).is_ok();
            let mut out = Vec::new();
            while let Some(records) = tls.poll_ciphertext() {
                out.push(records);
            }
            for data in out {
                self.push_tcp(TcpCommand::Send { conn, data });
            }
            if !ok {
                self.break_stream(conn);
            }
            return;
        }
        self.push_tcp(TcpCommand::Send { conn, data });
    }

    /// A connection that can no longer be followed (bytes that are not TURN, a TLS failure):
    /// an RST, and the allocation goes.
    fn break_stream(&mut self, conn: TcpConnId) {
        self.forget(conn);
        self.stats.tcp.broken += 1;
        self.push_tcp(TcpCommand::Abort { conn });
    }

    /// Bytes of a client's stream: every whole frame goes through [`TurnServer::handle_client`]
    /// as a datagram would; bytes that are not TURN break the connection.
    fn stream_data(&mut self, now: Instant, conn: TcpConnId, data: &[u8]) {
        let Some(stream) = self.streams.get_mut(&conn) else {
            self.stats.dropped += 1;
            return;
        };
        #[cfg(feature = "tls")]
        if let Some(tls) = stream.tls.as_mut() {
            // Decrypted first (RFC 8446 §5); the handshake's answers go back at once.
            let r = tls.handle_ciphertext(data);
            let mut plain = Vec::new();
            tls.read_plaintext(&mut plain);
            let mut out = Vec::new();
            while let Some(records) = tls.poll_ciphertext() {
                out.push(records);
            }
            stream.deframer.push(&plain);
            for data in out {
                self.push_tcp(TcpCommand::Send { conn, data });
            }
            if r.is_err() {
                self.break_stream(conn);
                return;
            }
            return self.stream_frames(now, conn);
        }
        stream.deframer.push(data);
        self.stream_frames(now, conn);
    }

    /// The whole frames a connection's deframer holds, through [`TurnServer::handle_client`].
    fn stream_frames(&mut self, now: Instant, conn: TcpConnId) {
        loop {
            let Some(stream) = self.streams.get_mut(&conn) else {
                return;
            };
            let five = stream.five(conn);
            match stream.deframer.next_frame() {
                Ok(Some(frame)) => self.handle_client(now, five, &frame),
                Ok(None) => {
                    debug_assert!(stream.deframer.buffered() < MAX_FRAME);
                    return;
                }
                Err(_) => {
                    // No way to find the next frame: an RST, and the allocation goes.
                    self.break_stream(conn);
                    return;
                }
            }
        }
    }

    /// Forgets a connection and deletes its allocation; whether it was the server's.
    fn forget(&mut self, conn: TcpConnId) -> bool {
        let Some(stream) = self.streams.remove(&conn) else {
            return false;
        };
        self.end_stream(stream.five(conn));
        true
    }
}
