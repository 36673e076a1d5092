//! Clients over TCP (RFC 8656 §3.1): the connections the server accepted, each a stream of
//! STUN messages and ChannelData handed one frame at a time to the path datagrams take; what
//! becomes of a connection's allocation when the connection ends.

use std::net::SocketAddr;
use std::time::Instant;

use super::framing::{Deframer, MAX_FRAME};
use super::{FiveTuple, MAX_STREAMS, TurnServer, TurnTransport, Via};
use crate::node::{TcpCommand, TcpConnId, TcpEvent};

/// A client's connection.
#[derive(Debug)]
pub(super) struct Stream {
    client: SocketAddr,
    server: SocketAddr,
    /// What carries the frames: TCP now; TLS would decrypt before the deframer.
    transport: TurnTransport,
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
        if self.streams.len() >= MAX_STREAMS {
            self.stats.tcp.refused += 1;
            self.push_tcp(TcpCommand::Abort { conn });
            return;
        }
        self.stats.tcp.accepted += 1;
        self.streams.insert(
            conn,
            Stream {
                client: remote,
                server: local,
                transport: TurnTransport::Tcp,
                deframer: Deframer::default(),
            },
        );
    }

    /// Bytes of a client's stream: every whole frame goes through [`TurnServer::handle_client`]
    /// as a datagram would; bytes that are not TURN break the connection.
    fn stream_data(&mut self, now: Instant, conn: TcpConnId, data: &[u8]) {
        let Some(stream) = self.streams.get_mut(&conn) else {
            self.stats.dropped += 1;
            return;
        };
        debug_assert_eq!(stream.transport, TurnTransport::Tcp);
        stream.deframer.push(data);
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
                    self.forget(conn);
                    self.stats.tcp.broken += 1;
                    self.push_tcp(TcpCommand::Abort { conn });
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
