//! The driver's UDP half: one socket per UDP host candidate, datagrams in and out.

use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use tokio::io::ReadBuf;
use tokio::net::UdpSocket;

use crate::Transmit;

/// The largest UDP payload; longer datagrams cannot arrive.
const MAX_DATAGRAM: usize = 65_535;

/// A datagram received: socket `local` received `len` bytes into the buffer
/// ([`Udp::received`]), from the address given (or the error the receive reported).
pub(super) struct Recv {
    pub(super) local: SocketAddr,
    pub(super) len: usize,
    pub(super) from: io::Result<SocketAddr>,
}

/// The UDP sockets, each with its local address (the address of its host candidate).
#[derive(Debug)]
pub(super) struct Udp {
    sockets: Vec<(SocketAddr, UdpSocket)>,
    /// The socket [`Self::poll_recv`] polls first, turning round so that none starves the
    /// others.
    first: usize,
    buf: Vec<u8>,
}

impl Udp {
    pub(super) fn new() -> Udp {
        Udp {
            sockets: Vec::new(),
            first: 0,
            buf: vec![0; MAX_DATAGRAM],
        }
    }

    /// Adds a socket bound by the caller, at its local address.
    pub(super) fn push(&mut self, local: SocketAddr, socket: UdpSocket) {
        self.sockets.push((local, socket));
    }

    /// The local addresses, in the order the sockets were added.
    pub(super) fn addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.sockets.iter().map(|(addr, _)| *addr)
    }

    /// The socket bound to `local`.
    pub(super) fn socket(&self, local: SocketAddr) -> Option<&UdpSocket> {
        self.sockets
            .iter()
            .find(|(addr, _)| *addr == local)
            .map(|(_, s)| s)
    }

    /// Sends `t` without waiting; returns whether the operating system took it.
    pub(super) fn try_send(&self, t: &Transmit<'_>) -> bool {
        self.socket(t.local)
            .is_some_and(|socket| socket.try_send_to(t.data, t.remote).is_ok())
    }

    /// The bytes of the datagram [`Self::poll_recv`] reported.
    pub(super) fn received(&self, len: usize) -> Option<&[u8]> {
        self.buf.get(..len)
    }

    /// A datagram from any socket, the one after the last socket that had one first.
    pub(super) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Recv> {
        let n = self.sockets.len();
        for k in 0..n {
            let index = (self.first + k) % n;
            let Some((local, socket)) = self.sockets.get(index) else {
                continue;
            };
            let mut rb = ReadBuf::new(&mut self.buf);
            if let Poll::Ready(from) = socket.poll_recv_from(cx, &mut rb) {
                let len = rb.filled().len();
                self.first = (index + 1) % n;
                return Poll::Ready(Recv {
                    local: *local,
                    len,
                    from,
                });
            }
        }
        Poll::Pending
    }
}

/// An error that a receive reports for an earlier send (an ICMP port unreachable, on Windows
/// and on sockets with `IP_RECVERR`).
pub(super) fn is_icmp_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}
