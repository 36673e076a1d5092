//! The TCP of one in-process side on the netns backend: the [`Node`](ice_netsim::Node) interface's
//! [`TcpCommand`]s carried out on real, non-blocking TCP sockets created inside the side's host
//! namespace, and what those sockets do reported back as [`TcpEvent`]s, as the simulator's
//! [`ice_netsim::TcpStack`] reports them. The kernel does the TCP (RFC 9293): handshakes,
//! retransmission, simultaneous open; this module only owns the sockets and the bookkeeping.
//!
//! - **Where sockets live.** A socket belongs to the namespace of the thread that created it,
//!   so each socket is made on a short-lived thread that entered the host's namespace
//!   ([`Lab::spawn_in`], as the UDP sockets are); binding, connecting and all I/O then happen on
//!   the runner's thread.
//! - **Listen**: `SO_REUSEADDR` and `SO_REUSEPORT`, so that a `Connect` may bind the same port:
//!   RFC 6544 §4.5 simultaneous-open candidates connect from the port they listen on (and a
//!   passive candidate's port is shared with nothing else). Backlog [`BACKLOG`].
//! - **Connect**: the same options when `from` names a port (bound exactly), port 0 for an
//!   ephemeral one; a non-blocking `connect`, answered by [`TcpEvent::Connected`] once the
//!   socket has a peer and no pending error (`SO_ERROR`), or [`TcpEvent::ConnectFailed`] with
//!   the kernel's reason, or [`TcpFailure::TimedOut`] after [`CONNECT_TIMEOUT`] (the kernel's
//!   own SYN retries take about two minutes).
//! - **Send** appends to the connection's buffer (at most [`MAX_SEND_BUFFER`] octets; a `Send`
//!   that does not fit is refused whole and counted, as the simulator's stack does); each turn
//!   writes what the kernel takes, partial writes keeping the rest.
//! - **Close**: a FIN after the queued octets (`shutdown(SHUT_WR)`, RFC 9293 §3.6); the socket
//!   is closed once the peer's FIN arrived too (its data keeps arriving until then). **Abort**:
//!   `SO_LINGER` 0 and close, which sends an RST (RFC 9293 §3.10.5); no event follows.
//! - What arrives: octets → [`TcpEvent::Data`] (at most [`MAX_READ_PER_TURN`] per connection per
//!   turn), end of stream → [`TcpEvent::Closed`], an error (an RST, a timeout) →
//!   [`TcpEvent::Reset`] and the socket is closed. Connections to a listener →
//!   [`TcpEvent::Accepted`].
//!
//! Bounded like the simulator's stack: [`MAX_CONNECTIONS`] connections and opens,
//! [`MAX_LISTENERS`] listeners. Every socket's inode is recorded when it is made;
//! [`TcpHost::close_all`] closes them all at the end of a run and checks in `/proc/self/fd` that
//! none is still open.
//!
//! The user-space path of [`crate::netns`] carries UDP only: TCP segments go straight through
//! the kernel, so a TCP path has no latency, jitter or loss from the script.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use ice_netsim::netns::Lab;
use ice_netsim::{TcpCommand, TcpConnId, TcpEvent, TcpFailure};
use socket2::{Domain, Protocol, Socket, Type};

/// The longest a `Connect` may take before it fails with [`TcpFailure::TimedOut`].
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Octets queued for sending on one connection at most.
pub const MAX_SEND_BUFFER: usize = 4 << 20;

/// Connections (opening, established or closing) of one side at most.
pub const MAX_CONNECTIONS: usize = 256;

/// Listeners of one side at most.
pub const MAX_LISTENERS: usize = 64;

/// Octets read from one connection in one turn at most (the rest waits for the next turn).
pub const MAX_READ_PER_TURN: usize = 1 << 20;

/// The listen backlog.
pub const BACKLOG: i32 = 64;

/// Counts of what the host could not carry out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TcpCounts {
    /// Commands for an unknown connection or over a bound.
    pub bad_commands: u64,
    /// `Send`s refused: over [`MAX_SEND_BUFFER`], or after `Close`.
    pub send_refused: u64,
    /// Connections accepted and closed at once for want of room ([`MAX_CONNECTIONS`]).
    pub accept_refused: u64,
}

/// A `Connect` under way.
struct Opening {
    token: u64,
    socket: Socket,
    to: SocketAddr,
    since: Instant,
}

/// An established connection.
struct Conn {
    stream: TcpStream,
    /// Octets not yet written.
    out: VecDeque<u8>,
    /// The node asked for `Close`.
    closing: bool,
    /// Our FIN is out (`shutdown(SHUT_WR)` done).
    fin_sent: bool,
    /// The peer's FIN arrived (reported as [`TcpEvent::Closed`]).
    fin_received: bool,
}

/// The TCP of one side's host on real sockets. See the [module docs](self).
pub struct TcpHost {
    namespace: String,
    next_id: u64,
    listeners: Vec<(SocketAddr, TcpListener)>,
    opening: Vec<Opening>,
    conns: BTreeMap<TcpConnId, Conn>,
    events: VecDeque<TcpEvent>,
    /// The inodes of every socket made (`socket:[N]` as `/proc/self/fd` shows them).
    made: BTreeSet<String>,
    /// What went wrong that the node has no event for (a `Listen` that could not bind): run
    /// failures.
    problems: Vec<String>,
    counts: TcpCounts,
}

impl std::fmt::Debug for TcpHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpHost")
            .field("namespace", &self.namespace)
            .field("listeners", &self.listeners.len())
            .field("opening", &self.opening.len())
            .field("conns", &self.conns.len())
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

/// What `/proc/self/fd/FD` names: `socket:[INODE]` for a socket.
fn fd_target(fd: i32) -> Option<String> {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// The kernel's reason for a failed open, in the node's words.
fn failure(e: &std::io::Error) -> TcpFailure {
    match e.kind() {
        ErrorKind::ConnectionRefused => TcpFailure::Refused,
        ErrorKind::TimedOut => TcpFailure::TimedOut,
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => TcpFailure::Unreachable,
        ErrorKind::AddrInUse | ErrorKind::AddrNotAvailable => TcpFailure::AddressInUse,
        ErrorKind::InvalidInput | ErrorKind::Unsupported => TcpFailure::BadAddress,
        _ => TcpFailure::Reset,
    }
}

impl TcpHost {
    /// The TCP of a host in `namespace`; its connection ids start at `first_id` (give each side
    /// its own range, as the simulator does, so ids are unique in the run).
    pub fn new(namespace: &str, first_id: u64) -> TcpHost {
        TcpHost {
            namespace: namespace.to_owned(),
            next_id: first_id,
            listeners: Vec::new(),
            opening: Vec::new(),
            conns: BTreeMap::new(),
            events: VecDeque::new(),
            made: BTreeSet::new(),
            problems: Vec::new(),
            counts: TcpCounts::default(),
        }
    }

    /// Counts of what could not be carried out.
    pub fn counts(&self) -> TcpCounts {
        self.counts
    }

    /// Problems the node has no event for (a listener that could not be set up).
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// A new TCP socket for `addr`'s family, made inside the host's namespace, non-blocking,
    /// with `SO_REUSEADDR` and `SO_REUSEPORT` when `share` (RFC 6544 §4.5: an so candidate
    /// connects from the port it listens on).
    fn socket(&mut self, lab: &Lab, addr: SocketAddr, share: bool) -> std::io::Result<Socket> {
        let domain = Domain::for_address(addr);
        let socket = lab
            .spawn_in(&self.namespace, move || {
                Socket::new(domain, Type::STREAM, Some(Protocol::TCP))
            })?
            .join()
            .map_err(|_| std::io::Error::other("the thread making a TCP socket panicked"))?
            .map_err(std::io::Error::other)??;
        if let Some(t) = fd_target(socket.as_raw_fd()) {
            self.made.insert(t);
        }
        socket.set_nonblocking(true)?;
        if share {
            socket.set_reuse_address(true)?;
            socket.set_reuse_port(true)?;
        }
        Ok(socket)
    }

    fn alloc_id(&mut self) -> TcpConnId {
        let id = TcpConnId(self.next_id);
        self.next_id += 1;
        id
    }

    fn room(&self) -> bool {
        self.conns.len() + self.opening.len() < MAX_CONNECTIONS
    }

    /// Carries out one command of the node.
    pub fn command(&mut self, lab: &Lab, now: Instant, cmd: TcpCommand) {
        match cmd {
            TcpCommand::Listen { addr } => {
                if self.listeners.len() >= MAX_LISTENERS {
                    self.counts.bad_commands += 1;
                    self.problems
                        .push(format!("listen on {addr}: over {MAX_LISTENERS} listeners"));
                    return;
                }
                let listener = self.socket(lab, addr, true).and_then(|s| {
                    s.bind(&addr.into())?;
                    s.listen(BACKLOG)?;
                    Ok(TcpListener::from(s))
                });
                match listener {
                    Ok(l) => self.listeners.push((addr, l)),
                    Err(e) => self.problems.push(format!("listen on {addr}: {e}")),
                }
            }
            TcpCommand::Unlisten { addr } => {
                let before = self.listeners.len();
                self.listeners.retain(|(a, _)| *a != addr);
                if self.listeners.len() == before {
                    self.counts.bad_commands += 1;
                }
            }
            TcpCommand::Connect { token, from, to } => {
                if !self.room() {
                    self.events.push_back(TcpEvent::ConnectFailed {
                        token,
                        reason: TcpFailure::TooManyConnections,
                    });
                    return;
                }
                if from.is_ipv4() != to.is_ipv4() || to.port() == 0 {
                    self.events.push_back(TcpEvent::ConnectFailed {
                        token,
                        reason: TcpFailure::BadAddress,
                    });
                    return;
                }
                let opened = self.socket(lab, from, from.port() != 0).and_then(|s| {
                    s.bind(&from.into())?;
                    match s.connect(&to.into()) {
                        Ok(()) => {}
                        // A non-blocking connect under way (EINPROGRESS).
                        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                    Ok(s)
                });
                match opened {
                    Ok(socket) => self.opening.push(Opening {
                        token,
                        socket,
                        to,
                        since: now,
                    }),
                    Err(e) => self.events.push_back(TcpEvent::ConnectFailed {
                        token,
                        reason: failure(&e),
                    }),
                }
            }
            TcpCommand::Send { conn, data } => {
                let Some(c) = self.conns.get_mut(&conn) else {
                    self.counts.bad_commands += 1;
                    return;
                };
                if c.closing || c.out.len() + data.len() > MAX_SEND_BUFFER {
                    self.counts.send_refused += 1;
                    return;
                }
                c.out.extend(data);
            }
            TcpCommand::Close { conn } => match self.conns.get_mut(&conn) {
                Some(c) => c.closing = true,
                None => self.counts.bad_commands += 1,
            },
            TcpCommand::Abort { conn } => match self.conns.remove(&conn) {
                // SO_LINGER 0: closing sends an RST and forgets the connection.
                Some(c) => {
                    let _ = socket2::SockRef::from(&c.stream).set_linger(Some(Duration::ZERO));
                }
                None => self.counts.bad_commands += 1,
            },
            _ => self.counts.bad_commands += 1,
        }
    }

    /// Reads the sockets: opens that completed or failed, connections accepted, octets, FINs
    /// and errors, as events ([`TcpHost::poll_event`]); then writes what is queued.
    pub fn poll_sockets(&mut self, now: Instant) {
        self.poll_opening(now);
        self.poll_listeners();
        self.poll_conns();
        self.flush();
    }

    fn established(&mut self, stream: TcpStream) -> TcpConnId {
        // Checks are small and answered at once: no Nagle (RFC 9293 §3.7.4 allows turning it off).
        let _ = stream.set_nodelay(true);
        let id = self.alloc_id();
        self.conns.insert(
            id,
            Conn {
                stream,
                out: VecDeque::new(),
                closing: false,
                fin_sent: false,
                fin_received: false,
            },
        );
        id
    }

    fn poll_opening(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.opening.len() {
            let o = &self.opening[i];
            // SO_ERROR first: a failed open has no peer and a pending error.
            let outcome = match o.socket.take_error() {
                Ok(Some(e)) | Err(e) => Some(Err(failure(&e))),
                Ok(None) => match o.socket.peer_addr() {
                    Ok(_) => Some(Ok(())),
                    Err(_) if now.saturating_duration_since(o.since) >= CONNECT_TIMEOUT => {
                        Some(Err(TcpFailure::TimedOut))
                    }
                    Err(_) => None,
                },
            };
            let Some(outcome) = outcome else {
                i += 1;
                continue;
            };
            let o = self.opening.swap_remove(i);
            match outcome {
                Ok(()) => {
                    let local = o.socket.local_addr().ok().and_then(|a| a.as_socket());
                    let stream = TcpStream::from(o.socket);
                    match local {
                        Some(local) => {
                            let conn = self.established(stream);
                            self.events.push_back(TcpEvent::Connected {
                                token: o.token,
                                conn,
                                local,
                                remote: o.to,
                            });
                        }
                        None => self.events.push_back(TcpEvent::ConnectFailed {
                            token: o.token,
                            reason: TcpFailure::BadAddress,
                        }),
                    }
                }
                Err(reason) => self.events.push_back(TcpEvent::ConnectFailed {
                    token: o.token,
                    reason,
                }),
            }
        }
    }

    fn poll_listeners(&mut self) {
        let mut accepted = Vec::new();
        for (listener, l) in &self.listeners {
            loop {
                match l.accept() {
                    Ok((stream, remote)) => accepted.push((*listener, stream, remote)),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    // A connection reset before it was accepted, say: nothing to report.
                    Err(_) => break,
                }
            }
        }
        for (listener, stream, remote) in accepted {
            if let Some(t) = fd_target(stream.as_raw_fd()) {
                self.made.insert(t);
            }
            let local = stream.local_addr();
            if !self.room() || stream.set_nonblocking(true).is_err() {
                self.counts.accept_refused += 1;
                let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                continue;
            }
            let Ok(local) = local else {
                self.counts.accept_refused += 1;
                continue;
            };
            let conn = self.established(stream);
            self.events.push_back(TcpEvent::Accepted {
                listener,
                conn,
                local,
                remote,
            });
        }
    }

    fn poll_conns(&mut self) {
        let mut buf = [0u8; 16 * 1024];
        let mut gone = Vec::new();
        for (&conn, c) in &mut self.conns {
            let mut read = 0;
            while !c.fin_received && read < MAX_READ_PER_TURN {
                match c.stream.read(&mut buf) {
                    Ok(0) => {
                        c.fin_received = true;
                        self.events.push_back(TcpEvent::Closed { conn });
                    }
                    Ok(n) => {
                        read += n;
                        self.events.push_back(TcpEvent::Data {
                            conn,
                            data: buf.get(..n).unwrap_or_default().to_vec(),
                        });
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.events.push_back(TcpEvent::Reset {
                            conn,
                            reason: reset_reason(&e),
                        });
                        gone.push(conn);
                        break;
                    }
                }
            }
        }
        for conn in gone {
            self.conns.remove(&conn);
        }
    }

    /// Writes what is queued; a connection closing whose octets are all out gets its FIN, and
    /// one whose FINs crossed both ways is closed.
    pub fn flush(&mut self) {
        let mut gone = Vec::new();
        for (&conn, c) in &mut self.conns {
            while !c.out.is_empty() {
                let (front, _) = c.out.as_slices();
                match c.stream.write(front) {
                    Ok(0) => break,
                    Ok(n) => {
                        c.out.drain(..n);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        if !c.closing {
                            self.events.push_back(TcpEvent::Reset {
                                conn,
                                reason: reset_reason(&e),
                            });
                        }
                        gone.push(conn);
                        break;
                    }
                }
            }
            if c.closing && c.out.is_empty() && !c.fin_sent {
                // RFC 9293 §3.6: the FIN follows the queued octets.
                let _ = c.stream.shutdown(Shutdown::Write);
                c.fin_sent = true;
            }
            if c.fin_sent && c.fin_received {
                gone.push(conn);
            }
        }
        for conn in gone {
            self.conns.remove(&conn);
        }
    }

    /// The next event for the node.
    pub fn poll_event(&mut self) -> Option<TcpEvent> {
        self.events.pop_front()
    }

    /// Closes every socket (connections are aborted: the run is over) and checks that none of
    /// the sockets this host made is still open in the process; returns those that are.
    pub fn close_all(&mut self) -> Vec<String> {
        for (_, c) in std::mem::take(&mut self.conns) {
            let _ = socket2::SockRef::from(&c.stream).set_linger(Some(Duration::ZERO));
        }
        self.opening.clear();
        self.listeners.clear();
        self.events.clear();
        let open: BTreeSet<String> = std::fs::read_dir("/proc/self/fd")
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| std::fs::read_link(e.path()).ok())
                    .map(|p| p.to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        self.made.intersection(&open).cloned().collect()
    }
}

/// Why an established connection ended.
fn reset_reason(e: &std::io::Error) -> TcpFailure {
    match e.kind() {
        ErrorKind::TimedOut => TcpFailure::TimedOut,
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => TcpFailure::Unreachable,
        _ => TcpFailure::Reset,
    }
}

impl Drop for TcpHost {
    fn drop(&mut self) {
        let _ = self.close_all();
    }
}
