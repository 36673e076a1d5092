//! The driver's TCP half (RFC 6544, RFC 8656 §3.1): listeners for passive and
//! simultaneous-open candidates, the connections the agent asks for ([`Event::Connect`]), the
//! ones that arrive, their reads into [`IceAgent::handle_stream`] and their bounded write
//! queues.
//!
//! Everything here is polled from [`Driver::next`]'s one `poll_fn`: the state lives in
//! [`Tcp`] (the opening futures, each stream and its queue), never in the `next` future, so
//! dropping that future loses nothing. What a poll finds is handed back as a [`TcpInput`]
//! and given to the agent before the next await.
//!
//! [`IceAgent::handle_stream`]: crate::IceAgent::handle_stream

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use super::{Driver, DriverEvent};
use crate::{ConnectionId, Event, Received, TcpType};

/// The bytes a connection may hold waiting to be written. A transmit that does not fit is
/// dropped whole (a stream cannot lose half a frame) and counted.
pub(super) const MAX_WRITE_QUEUE: usize = 256 * 1024;

/// How many bytes one read takes from a connection.
const READ_BUFFER: usize = 16 * 1024;

/// A connection the agent closed is given this long to write what it queued (a TURN
/// release, RFC 8656 §7.2) and to shut down (TLS `close_notify`); then it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// At most this many closing connections linger; beyond, the oldest is dropped at once.
const MAX_CLOSING: usize = 64;

/// The backlog of a candidate's listener.
const BACKLOG: u32 = 128;

/// A connection's byte stream: plain TCP, or (feature `tls`) TLS over it.
pub(super) enum Stream {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Why a connection did not open.
pub(super) enum OpenError {
    /// Binding, connecting, or the time ran out.
    Tcp,
    /// The TLS handshake failed, the certificate was refused, or TLS is not available (no
    /// feature `tls`, no roots, a bad server name).
    Tls,
}

/// What opening a connection gives: the stream and its real local address.
type Opened = Result<(Stream, SocketAddr), OpenError>;

/// A connection being opened for [`Event::Connect`].
struct Opening {
    id: ConnectionId,
    fut: Pin<Box<dyn Future<Output = Opened> + Send>>,
}

/// An open connection.
struct Conn {
    id: ConnectionId,
    stream: Stream,
    /// Bytes waiting to be written, at most [`MAX_WRITE_QUEUE`].
    queue: VecDeque<u8>,
    /// A write failed (found outside a poll): reported as closed at the next poll.
    broken: bool,
}

impl Conn {
    /// Writes from the queue until it is empty or the stream takes no more, then flushes
    /// (TLS records). `Err`: the stream failed.
    fn poll_write_queue(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        while !self.queue.is_empty() {
            let (front, _) = self.queue.as_slices();
            match Pin::new(&mut self.stream).poll_write(cx, front) {
                Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => {
                    self.queue.drain(..n.min(self.queue.len()));
                }
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => return Ok(()),
            }
        }
        match Pin::new(&mut self.stream).poll_flush(cx) {
            Poll::Ready(Err(e)) => Err(e),
            _ => Ok(()),
        }
    }
}

/// What a poll of the TCP half found.
pub(super) enum TcpInput {
    /// A connection arrived on the listener at `local`.
    Accepted {
        local: SocketAddr,
        remote: SocketAddr,
        stream: TcpStream,
    },
    /// Connection `id` opened (and, for TLS, finished its handshake).
    Connected {
        id: ConnectionId,
        local: SocketAddr,
        stream: Stream,
    },
    /// Connection `id` did not open.
    ConnectFailed { id: ConnectionId, why: OpenError },
    /// `len` bytes were read from connection `id` into the buffer ([`Tcp::received`]).
    Read { id: ConnectionId, len: usize },
    /// Connection `id` ended (the peer closed it, or a read or write failed); it is gone.
    Closed { id: ConnectionId },
}

/// The listeners, the connections opening, open and closing.
pub(super) struct Tcp {
    listeners: Vec<(SocketAddr, TcpListener)>,
    opening: Vec<Opening>,
    conns: Vec<Conn>,
    closing: VecDeque<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// The connection [`Self::poll`] reads first, turning round.
    first: usize,
    buf: Vec<u8>,
    pub(super) connect_timeout: Duration,
    #[cfg(feature = "tls")]
    pub(super) tls: super::tls::Tls,
}

impl fmt::Debug for Tcp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tcp")
            .field(
                "listeners",
                &self.listeners.iter().map(|(a, _)| a).collect::<Vec<_>>(),
            )
            .field(
                "opening",
                &self.opening.iter().map(|o| o.id).collect::<Vec<_>>(),
            )
            .field("open", &self.conns.iter().map(|c| c.id).collect::<Vec<_>>())
            .field("closing", &self.closing.len())
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl Tcp {
    pub(super) fn new() -> Tcp {
        Tcp {
            listeners: Vec::new(),
            opening: Vec::new(),
            conns: Vec::new(),
            closing: VecDeque::new(),
            first: 0,
            buf: vec![0; READ_BUFFER],
            // Config::tcp_connect_timeout's default; the agent gives up on its own clock too.
            connect_timeout: Duration::from_secs(10),
            #[cfg(feature = "tls")]
            tls: super::tls::Tls::default(),
        }
    }

    /// The addresses of the listeners.
    pub(super) fn listen_addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.listeners.iter().map(|(a, _)| *a)
    }

    /// The bytes of the read [`Self::poll`] reported.
    pub(super) fn received(&self, len: usize) -> &[u8] {
        self.buf.get(..len).unwrap_or_default()
    }

    /// Starts opening connection `id` (already checked: the stream future owns everything).
    fn open(&mut self, id: ConnectionId, fut: Pin<Box<dyn Future<Output = Opened> + Send>>) {
        self.opening.push(Opening { id, fut });
    }

    /// An open connection, to read and write.
    fn insert(&mut self, id: ConnectionId, stream: Stream) {
        self.conns.push(Conn {
            id,
            stream,
            queue: VecDeque::new(),
            broken: false,
        });
    }

    /// Queues `data` on connection `id`. `false`: no such open connection, or no room (the
    /// transmit is dropped whole).
    pub(super) fn enqueue(&mut self, id: ConnectionId, data: &[u8]) -> bool {
        let Some(c) = self.conns.iter_mut().find(|c| c.id == id) else {
            return false;
        };
        if c.broken || c.queue.len() + data.len() > MAX_WRITE_QUEUE {
            return false;
        }
        c.queue.extend(data);
        true
    }

    /// Writes what the queues hold as far as the sockets take it now, without waiting (the
    /// rest goes out from [`Self::poll`]). A failure is reported by the next poll.
    pub(super) fn write_now(&mut self) {
        let mut cx = Context::from_waker(Waker::noop());
        for c in &mut self.conns {
            if !c.queue.is_empty() && !c.broken && c.poll_write_queue(&mut cx).is_err() {
                c.broken = true;
            }
        }
    }

    /// The agent closed connection `id` ([`Event::Close`]): an opening one is abandoned, an
    /// open one writes what it queued, shuts down (TLS: `close_notify`) and is dropped, within
    /// [`CLOSE_GRACE`]. Returns whether the id was known.
    fn close(&mut self, id: ConnectionId) -> bool {
        if let Some(i) = self.opening.iter().position(|o| o.id == id) {
            self.opening.swap_remove(i);
            return true;
        }
        let Some(i) = self.conns.iter().position(|c| c.id == id) else {
            return false;
        };
        let Conn {
            mut stream, queue, ..
        } = self.conns.swap_remove(i);
        if self.closing.len() >= MAX_CLOSING {
            self.closing.pop_front();
        }
        self.closing.push_back(Box::pin(async move {
            let _ = tokio::time::timeout(CLOSE_GRACE, async move {
                let (a, b) = queue.as_slices();
                stream.write_all(a).await?;
                stream.write_all(b).await?;
                stream.shutdown().await
            })
            .await;
        }));
        true
    }

    /// Sends `data` on connection `id`, waiting for room in its queue.
    pub(super) async fn send(&mut self, id: ConnectionId, data: &[u8]) -> io::Result<()> {
        poll_fn(|cx| {
            let Some(c) = self.conns.iter_mut().find(|c| c.id == id) else {
                return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
            };
            if c.broken {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            // A transmit longer than the queue goes into an empty one.
            let fits =
                |c: &Conn| c.queue.is_empty() || c.queue.len() + data.len() <= MAX_WRITE_QUEUE;
            if !fits(c) {
                if let Err(e) = c.poll_write_queue(cx) {
                    c.broken = true;
                    return Poll::Ready(Err(e));
                }
                if !fits(c) {
                    return Poll::Pending;
                }
            }
            c.queue.extend(data);
            if let Err(e) = c.poll_write_queue(cx) {
                c.broken = true;
                return Poll::Ready(Err(e));
            }
            Poll::Ready(Ok(()))
        })
        .await
    }

    /// Polls everything: writes go on (never reported unless they fail), closing connections
    /// finish, and the first of an opening connection's outcome, an accepted connection or a
    /// read is returned. A connection that ended is removed before it is reported.
    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<TcpInput> {
        for i in 0..self.conns.len() {
            let Some(c) = self.conns.get_mut(i) else {
                break;
            };
            if c.broken || c.poll_write_queue(cx).is_err() {
                let id = self.conns.swap_remove(i).id;
                return Poll::Ready(TcpInput::Closed { id });
            }
        }
        self.closing
            .retain_mut(|f| f.as_mut().poll(cx).is_pending());
        for i in 0..self.opening.len() {
            let Some(o) = self.opening.get_mut(i) else {
                break;
            };
            if let Poll::Ready(opened) = o.fut.as_mut().poll(cx) {
                let id = self.opening.swap_remove(i).id;
                return Poll::Ready(match opened {
                    Ok((stream, local)) => TcpInput::Connected { id, local, stream },
                    Err(why) => TcpInput::ConnectFailed { id, why },
                });
            }
        }
        for (local, listener) in &self.listeners {
            // An accept error (the peer gave up, no file descriptors) is for that connection
            // only; a few in a row are skipped, then the listener waits for the next poll.
            for _ in 0..8 {
                match listener.poll_accept(cx) {
                    Poll::Ready(Ok((stream, remote))) => {
                        return Poll::Ready(TcpInput::Accepted {
                            local: *local,
                            remote,
                            stream,
                        });
                    }
                    Poll::Ready(Err(_)) => continue,
                    Poll::Pending => break,
                }
            }
        }
        let n = self.conns.len();
        for k in 0..n {
            let index = (self.first + k) % n;
            let Some(c) = self.conns.get_mut(index) else {
                continue;
            };
            let mut rb = ReadBuf::new(&mut self.buf);
            match Pin::new(&mut c.stream).poll_read(cx, &mut rb) {
                Poll::Pending => {}
                Poll::Ready(Ok(())) if !rb.filled().is_empty() => {
                    let len = rb.filled().len();
                    self.first = (index + 1) % n;
                    return Poll::Ready(TcpInput::Read { id: c.id, len });
                }
                // The end of the stream (RFC 6544 §7.1 leaves closing to the peer), or an
                // error (a reset, a TLS alert or a bad record).
                Poll::Ready(_) => {
                    let id = self.conns.swap_remove(index).id;
                    return Poll::Ready(TcpInput::Closed { id });
                }
            }
        }
        Poll::Pending
    }
}

/// A listener for a passive or simultaneous-open candidate at `addr`, with `SO_REUSEADDR`
/// and, for simultaneous open, `SO_REUSEPORT`, so that the connections an so candidate opens
/// can be bound to the port it listens on (RFC 6544 §4.1).
fn listen(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = new_socket(addr)?;
    socket.set_reuseaddr(true)?;
    if reuse_port {
        set_reuseport(&socket)?;
    }
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

fn new_socket(addr: SocketAddr) -> io::Result<TcpSocket> {
    if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
}

#[cfg(all(
    unix,
    not(any(
        target_os = "solaris",
        target_os = "illumos",
        target_os = "cygwin",
        target_os = "nuttx"
    ))
))]
fn set_reuseport(socket: &TcpSocket) -> io::Result<()> {
    socket.set_reuseport(true)
}

/// Elsewhere `SO_REUSEADDR` alone lets a connection share the listener's port (Windows), or
/// simultaneous-open candidates cannot open connections from their port.
#[cfg(not(all(
    unix,
    not(any(
        target_os = "solaris",
        target_os = "illumos",
        target_os = "cygwin",
        target_os = "nuttx"
    ))
)))]
fn set_reuseport(_socket: &TcpSocket) -> io::Result<()> {
    Ok(())
}

/// Opens a TCP connection from `from` (port 0: any; else exactly that port, shared with the
/// so candidate's listener) to `to`, within `timeout`.
async fn connect(from: SocketAddr, to: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let open = async {
        let socket = new_socket(to)?;
        if from.port() != 0 {
            socket.set_reuseaddr(true)?;
            set_reuseport(&socket)?;
        }
        socket.bind(from)?;
        socket.connect(to).await
    };
    let stream = tokio::time::timeout(timeout, open)
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
    // Checks and STUN transactions are small and wait for their answers.
    stream.set_nodelay(true)?;
    Ok(stream)
}

// ---- the driver's side: the agent's TCP events and inputs ------------------------------------

impl Driver {
    /// Adds a TCP host candidate (RFC 6544 §4.1) for `component`, and returns its address.
    ///
    /// - [`TcpType::Active`]: no socket; connections are opened from `addr`'s IP, on an
    ///   ephemeral port, when the agent asks. Returns `addr`'s IP with the discard port 9,
    ///   as the candidate is signalled (RFC 6544 §4.5).
    /// - [`TcpType::Passive`]: a listener on `addr` (port 0 picks a free port) with
    ///   `SO_REUSEADDR`; connections that arrive go to the agent. Returns the listening
    ///   address.
    /// - [`TcpType::SimultaneousOpen`]: a listener as for passive, also with `SO_REUSEPORT`
    ///   (Unix), and the agent's connections from this candidate are bound to the same port.
    ///
    /// Call it before [`Self::gather`] so that the candidate is signalled before
    /// end-of-candidates. Must be awaited inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// Binding or listening failed, or the agent refused the candidate (an unspecified
    /// address, a component above [`crate::Config::components`], an address in use by a
    /// candidate of another type): [`io::ErrorKind::InvalidInput`] with the
    /// [`crate::CandidateError`] as its source.
    pub async fn add_tcp_host(
        &mut self,
        component: crate::ComponentId,
        addr: SocketAddr,
        tcp_type: TcpType,
    ) -> io::Result<SocketAddr> {
        let listener = match tcp_type {
            TcpType::Active => None,
            TcpType::Passive => Some(listen(addr, false)?),
            TcpType::SimultaneousOpen => Some(listen(addr, true)?),
        };
        let local = match &listener {
            Some(l) => l.local_addr()?,
            // RFC 6544 §4.5: an active candidate's port is the discard port.
            None => SocketAddr::new(addr.ip(), crate::candidate::ACTIVE_PORT),
        };
        self.agent
            .add_local_tcp_host(component, local, tcp_type)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        if let Some(l) = listener {
            self.tcp.listeners.push((local, l));
        }
        Ok(local)
    }

    /// The addresses the driver listens on for TCP (passive and simultaneous-open candidates).
    pub fn tcp_listen_addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.tcp.listen_addrs()
    }

    /// How long a connection the agent asks for may take to open, TLS handshake included
    /// (default 10 s, as [`crate::Config::tcp_connect_timeout`]; the agent gives up after its
    /// own timeout too, whichever is shorter).
    pub fn set_tcp_connect_timeout(&mut self, timeout: Duration) {
        self.tcp.connect_timeout = timeout;
    }

    /// The agent's TCP events. Returns whether the agent was given an input (a connection
    /// that failed at once), after which it must be drained again.
    pub(super) fn tcp_event(&mut self, e: &Event) -> bool {
        match e {
            Event::Connect { id, from, to, tls } => {
                self.stats.tcp_connects += 1;
                match self.opener(*from, *to, tls.as_deref()) {
                    Ok(fut) => {
                        self.tcp.open(*id, fut);
                        false
                    }
                    Err(why) => {
                        self.connect_failed(*id, &why);
                        true
                    }
                }
            }
            Event::Close { id } => {
                if self.tcp.close(*id) {
                    self.stats.tcp_closed += 1;
                }
                false
            }
            _ => false,
        }
    }

    /// The future that opens a connection for [`Event::Connect`]: TCP, then (with `tls`) the
    /// TLS handshake, all within the connect timeout.
    fn opener(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        tls: Option<&str>,
    ) -> Result<Pin<Box<dyn Future<Output = Opened> + Send>>, OpenError> {
        let timeout = self.tcp.connect_timeout;
        let Some(name) = tls else {
            return Ok(Box::pin(async move {
                let stream = connect(from, to, timeout)
                    .await
                    .map_err(|_| OpenError::Tcp)?;
                let local = stream.local_addr().map_err(|_| OpenError::Tcp)?;
                Ok((Stream::Plain(stream), local))
            }));
        };
        self.tls_opener(from, to, name, timeout)
    }

    #[cfg(feature = "tls")]
    fn tls_opener(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        name: &str,
        timeout: Duration,
    ) -> Result<Pin<Box<dyn Future<Output = Opened> + Send>>, OpenError> {
        let (connector, name) = self.tcp.tls.start(name).ok_or(OpenError::Tls)?;
        Ok(Box::pin(async move {
            let deadline = tokio::time::Instant::now() + timeout;
            let stream = connect(from, to, timeout)
                .await
                .map_err(|_| OpenError::Tcp)?;
            let local = stream.local_addr().map_err(|_| OpenError::Tcp)?;
            // RFC 8656 §3.1: TLS 1.2 or later, the server's certificate checked against the
            // roots and the name (rustls' WebPKI verifier, RFC 6125).
            let tls = tokio::time::timeout_at(deadline, connector.connect(name, stream))
                .await
                .map_err(|_| OpenError::Tls)?
                .map_err(|_| OpenError::Tls)?;
            Ok((Stream::Tls(Box::new(tls)), local))
        }))
    }

    /// Without the `tls` feature the driver runs no TLS: the connection fails at once.
    #[cfg(not(feature = "tls"))]
    fn tls_opener(
        &mut self,
        _from: SocketAddr,
        _to: SocketAddr,
        _name: &str,
        _timeout: Duration,
    ) -> Result<Pin<Box<dyn Future<Output = Opened> + Send>>, OpenError> {
        Err(OpenError::Tls)
    }

    fn connect_failed(&mut self, id: ConnectionId, why: &OpenError) {
        self.stats.tcp_connect_failed += 1;
        if matches!(why, OpenError::Tls) {
            self.stats.tls_failed += 1;
        }
        let now = self.now();
        self.agent.handle_connect_failed(now, id);
    }

    /// Gives the agent what [`Tcp::poll`] found.
    pub(super) fn handle_tcp(&mut self, input: TcpInput) {
        let now = self.now();
        match input {
            TcpInput::Accepted {
                local,
                remote,
                stream,
            } => match self.agent.handle_accepted(now, local, remote) {
                Ok(id) => {
                    self.stats.tcp_accepted += 1;
                    // Small checks waiting for answers, as on connections we open.
                    let _ = stream.set_nodelay(true);
                    self.tcp.insert(id, Stream::Plain(stream));
                }
                // The agent refused it (a limit, an unknown address): dropping it closes it.
                Err(_) => self.stats.tcp_refused += 1,
            },
            TcpInput::Connected { id, local, stream } => {
                self.tcp.insert(id, stream);
                self.agent.handle_connected(now, id, local);
            }
            TcpInput::ConnectFailed { id, why } => self.connect_failed(id, &why),
            TcpInput::Read { id, len } => {
                // RFC 4571 frames (or, to a TURN server, STUN and ChannelData): the agent
                // takes them until the read is used up.
                let mut rest = self.tcp.received(len);
                while let Some(r) = self.agent.handle_stream(now, id, &mut rest) {
                    if let Received::Data { component, data } = r {
                        self.pending.push_back(DriverEvent::Data {
                            component,
                            data: data.to_vec(),
                        });
                    }
                }
            }
            TcpInput::Closed { id } => {
                self.stats.tcp_closed_by_peer += 1;
                self.agent.handle_closed(now, id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A connection's write queue holds at most `MAX_WRITE_QUEUE` bytes: a transmit that does
    /// not fit is refused whole (the driver drops and counts it), never half queued.
    #[test]
    fn a_full_write_queue_refuses_a_transmit_whole() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let stream = TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let mut tcp = Tcp::new();
            let id = crate::ConnectionId(7);
            tcp.insert(id, Stream::Plain(stream));
            let frame = vec![0u8; MAX_WRITE_QUEUE / 4];
            for _ in 0..4 {
                assert!(tcp.enqueue(id, &frame));
            }
            assert!(!tcp.enqueue(id, b"one byte more"));
            assert_eq!(tcp.conns[0].queue.len(), MAX_WRITE_QUEUE);
            assert!(!tcp.enqueue(crate::ConnectionId(8), b"no such connection"));
        });
    }
}
