//! The UDP sockets of a call: one per local address, polled in turn so that none starves the
//! others (as `ice_sans_io::driver` does for a bare agent).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::task::{Context, Poll};

use tokio::io::ReadBuf;
use tokio::net::UdpSocket;

/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;

/// A datagram that arrived: the socket's index, its length in the buffer, the sender.
pub(crate) struct Arrived {
    pub(crate) index: usize,
    pub(crate) len: usize,
    pub(crate) from: io::Result<SocketAddr>,
}

#[derive(Debug)]
pub(crate) struct Sockets {
    list: Vec<(SocketAddr, UdpSocket)>,
    first: usize,
    pub(crate) buf: Vec<u8>,
    /// Datagrams the operating system did not take at once (ICE retransmits).
    pub(crate) dropped: u64,
}

impl Sockets {
    /// One socket per address, on a port the system picks.
    pub(crate) async fn bind(ips: &[IpAddr]) -> io::Result<Sockets> {
        let mut list = Vec::with_capacity(ips.len());
        for ip in ips {
            let socket = UdpSocket::bind(SocketAddr::new(*ip, 0)).await?;
            list.push((socket.local_addr()?, socket));
        }
        Ok(Sockets {
            list,
            first: 0,
            buf: vec![0; MAX_DATAGRAM],
            dropped: 0,
        })
    }

    pub(crate) fn addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.list.iter().map(|(a, _)| *a)
    }

    pub(crate) fn addr(&self, index: usize) -> Option<SocketAddr> {
        self.list.get(index).map(|(a, _)| *a)
    }

    pub(crate) fn socket(&self, local: SocketAddr) -> Option<&UdpSocket> {
        self.list.iter().find(|(a, _)| *a == local).map(|(_, s)| s)
    }

    /// Sends without waiting; a datagram the socket cannot take now is dropped and counted,
    /// as a full router queue would drop it.
    pub(crate) fn try_send(&mut self, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        let sent = self
            .socket(local)
            .is_some_and(|s| s.try_send_to(data, remote).is_ok());
        if !sent {
            self.dropped += 1;
        }
    }

    /// The next datagram of any socket, into [`Self::buf`].
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Arrived> {
        let n = self.list.len();
        for k in 0..n {
            let index = (self.first + k) % n;
            let Some((_, socket)) = self.list.get(index) else {
                continue;
            };
            let mut rb = ReadBuf::new(&mut self.buf);
            if let Poll::Ready(from) = socket.poll_recv_from(cx, &mut rb) {
                let len = rb.filled().len();
                self.first = (index + 1) % n;
                return Poll::Ready(Arrived { index, len, from });
            }
        }
        Poll::Pending
    }
}

/// An error that a receive reports for an earlier send (an ICMP port unreachable on sockets
/// that report them): ICE expects unreachable candidates.
pub(crate) fn is_icmp_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}
