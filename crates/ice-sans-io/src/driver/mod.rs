//! A driver on real sockets for tokio (feature `tokio`): UDP sockets and TCP connections for
//! the agent's candidates, the agent's timers on tokio's clock, datagrams and streams in and
//! out; with feature `tls`, TLS to TURN servers.
//!
//! The agent stays sans-IO; this module is the only place of the crate that reads a clock. It
//! is small on purpose: a Jingle client usually owns its sockets and drives [`IceAgent`]
//! itself, as [`Driver::next`] shows.
//!
//! Signalling stays with the caller: [`Driver::agent_mut`] reaches the agent's verbs (remote
//! credentials and candidates, end-of-candidates, restarts, STUN and TURN servers), and
//! [`Driver::next`] returns the agent's events (local candidates to signal, state changes) and
//! the application data received. `examples/two_agents_loopback.rs` connects two drivers.
//!
//! # What the driver does with each path
//!
//! - **UDP** (`udp.rs`): one socket per [`Driver::add_udp_host`] (or [`Driver::bind`]),
//!   whose address becomes a host candidate. The agent's datagrams leave without waiting; one
//!   the socket cannot take at once is dropped and counted, as a full router queue would.
//! - **ICE-TCP** (RFC 6544, `tcp.rs`): [`Driver::add_tcp_host`] adds an active, passive or
//!   simultaneous-open candidate, with a listener for the latter two. On the agent's
//!   [`Event::Connect`] the driver opens the connection (bound to the candidate's IP with an
//!   ephemeral port, or to the so candidate's own port) within
//!   [`Driver::set_tcp_connect_timeout`] and reports it open with its real local address, or
//!   failed; connections that arrive on a listener go to
//!   [`IceAgent::handle_accepted`] (a refused one is closed). Each read goes to
//!   [`IceAgent::handle_stream`] until it is used up; the end of a stream or an error is
//!   [`IceAgent::handle_closed`]. The agent's framed transmits are queued on their connection
//!   (at most 256 KiB each; a transmit that does not fit is dropped whole and counted) and
//!   written as the socket takes them; on [`Event::Close`] the connection writes what it
//!   queued, shuts down and is dropped.
//! - **TURN over TCP** (RFC 8656 §3.1): the same connections, asked for by a TURN server
//!   added with [`IceAgent::add_turn_server_over`]; the agent cuts the server's stream itself.
//! - **TURN over TLS** (feature `tls`, `tls.rs`): for `Event::Connect { tls: Some(name) }`
//!   the driver runs a rustls client (TLS 1.3 or 1.2, SNI `name`, the certificate checked
//!   against the roots of [`Driver::set_tls_config`] or the platform's) and reports the
//!   connection open after the handshake; the agent sees plaintext only. Without the feature
//!   such a connection fails at once ([`DriverStats::tls_failed`]).
//!
//! `Event::Connect` and `Event::Close` are the driver's business: it acts on them and still
//! returns them from [`Driver::next`], for logs.
//!
//! ```
//! use ice_sans_io::driver::{Driver, DriverEvent};
//! use ice_sans_io::{Config, Event, IceAgent, Role, TcpType};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! # rt.block_on(async {
//! let agent = IceAgent::new(Config::new(Role::Controlling), [7; 32]);
//! let mut driver = Driver::new(agent);
//! // One UDP socket for component 1, on a port the system picks. Bind to each interface
//! // address: an unspecified address (0.0.0.0) cannot be a candidate.
//! driver.add_udp_host(1, "127.0.0.1:0".parse()?).await?;
//! // A passive ICE-TCP candidate: a listener on a free port (RFC 6544 §4.1).
//! driver.add_tcp_host(1, "127.0.0.1:0".parse()?, TcpType::Passive).await?;
//! // The host candidates are complete: gathering starts (STUN and TURN servers added to the
//! // agent are asked).
//! driver.gather();
//! // The peer's credentials, from its session-initiate or session-accept.
//! let now = driver.now();
//! driver
//!     .agent_mut()
//!     .set_remote_credentials(now, "peerufrag", "peerpasswordpeerpassword")?;
//! loop {
//!     match driver.next().await? {
//!         DriverEvent::Ice(Event::LocalCandidate(c)) => println!("signal {c}"),
//!         DriverEvent::Ice(Event::GatheringComplete) => break, // signal end-of-candidates
//!         DriverEvent::Data { component, data } => println!("component {component}: {data:?}"),
//!         _ => {}
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```

mod tcp;
#[cfg(feature = "tls")]
mod tls;
mod udp;

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::Poll;
use std::time::Instant;

use tokio::net::UdpSocket;

#[cfg(feature = "tls")]
pub use self::tls::{DriverTlsConfig, TlsSetupError};
/// The rustls the driver runs (feature `tls`), for a [`rustls::RootCertStore`] or a
/// [`rustls::ClientConfig`] of the right version.
#[cfg(feature = "tls")]
pub use tokio_rustls::rustls;

use crate::{ComponentId, ConnectionId, Datagram, Event, IceAgent, Protocol, Received, SendError};

use self::tcp::{Tcp, TcpInput};
use self::udp::{Udp, is_icmp_error};

/// What [`Driver::next`] returns.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverEvent {
    /// An event of the agent.
    Ice(Event),
    /// Application data received over a valid pair (a UDP datagram, or one RFC 4571 frame of
    /// a TCP connection).
    Data {
        /// The component it belongs to.
        component: ComponentId,
        /// The bytes.
        data: Vec<u8>,
    },
}

/// Why [`Driver::send`] did not send.
#[non_exhaustive]
#[derive(Debug)]
pub enum SendDataError {
    /// The agent has no pair to send on ([`IceAgent::send`]).
    Agent(SendError),
    /// The agent chose a local address that is none of the driver's sockets (a host candidate
    /// added through [`Driver::agent_mut`] rather than [`Driver::add_udp_host`]).
    NoSocket(SocketAddr),
    /// The agent chose a TCP connection the driver does not hold (open).
    NoConnection(ConnectionId),
    /// The operating system refused the datagram, or the connection failed.
    Io(io::Error),
}

impl fmt::Display for SendDataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendDataError::Agent(e) => write!(f, "cannot send: {e}"),
            SendDataError::NoSocket(a) => write!(f, "cannot send: no socket on {a}"),
            SendDataError::NoConnection(id) => write!(f, "cannot send: no connection {id}"),
            SendDataError::Io(e) => write!(f, "cannot send: {e}"),
        }
    }
}

impl std::error::Error for SendDataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SendDataError::Agent(e) => Some(e),
            SendDataError::NoSocket(_) | SendDataError::NoConnection(_) => None,
            SendDataError::Io(e) => Some(e),
        }
    }
}

impl From<SendError> for SendDataError {
    fn from(e: SendError) -> Self {
        SendDataError::Agent(e)
    }
}

impl From<io::Error> for SendDataError {
    fn from(e: io::Error) -> Self {
        SendDataError::Io(e)
    }
}

/// The driver's counters (the agent's own are [`IceAgent::stats`]).
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// UDP datagrams of the agent not sent: the operating system refused them (an
    /// unreachable network, a full send buffer) or they named a local address with no
    /// socket.
    pub udp_dropped: u64,
    /// TCP transmits of the agent not written: their connection's queue was full, or the
    /// driver held no open connection of that id.
    pub tcp_dropped: u64,
    /// Connections the agent asked for ([`Event::Connect`]).
    pub tcp_connects: u64,
    /// Of those, the ones that failed to open (refused, unreachable, timed out, TLS failed).
    pub tcp_connect_failed: u64,
    /// Of those, the ones whose TLS failed: the handshake, the certificate, no roots, a bad
    /// server name, or no feature `tls`.
    pub tls_failed: u64,
    /// Connections accepted on a listener and taken by the agent.
    pub tcp_accepted: u64,
    /// Connections accepted on a listener that the agent refused (closed at once).
    pub tcp_refused: u64,
    /// Connections that ended under the driver (the peer closed or reset them, a read or a
    /// write failed), reported to the agent.
    pub tcp_closed_by_peer: u64,
    /// Connections closed because the agent asked ([`Event::Close`]).
    pub tcp_closed: u64,
}

/// What woke [`Driver::next`] up.
enum Input {
    /// The agent's deadline passed.
    Timeout,
    /// A datagram on a UDP socket.
    Datagram(udp::Recv),
    /// Something on the TCP side.
    Tcp(TcpInput),
}

/// One [`IceAgent`] and its sockets: a UDP socket per UDP host candidate, a listener per
/// passive or simultaneous-open TCP candidate, the TCP connections the agent asks for or
/// accepts.
///
/// Every input the driver gives the agent (a datagram, stream bytes, a connection's outcome, a
/// timeout, [`Self::send`]) is followed by the agent's drain rule: its transmits sent or
/// queued, its TCP events acted on, then its events queued for [`Self::next`]. After calling
/// verbs through [`Self::agent_mut`], call [`Self::next`] (or [`Self::flush`]) to send what
/// they produced.
#[derive(Debug)]
pub struct Driver {
    agent: IceAgent,
    udp: Udp,
    tcp: Tcp,
    /// Whether [`Self::wait`] looks at TCP before UDP this time (they take turns, so that
    /// neither starves the other).
    tcp_first: bool,
    pending: VecDeque<DriverEvent>,
    stats: DriverStats,
}

impl Driver {
    /// A driver for `agent`, with no socket yet. Add host candidates with
    /// [`Self::add_udp_host`] and [`Self::add_tcp_host`], then call [`Self::gather`].
    ///
    /// The agent should have no host candidate of its own: datagrams it sends from an address
    /// the driver has no socket for are dropped.
    pub fn new(agent: IceAgent) -> Driver {
        Driver {
            agent,
            udp: Udp::new(),
            tcp: Tcp::new(),
            tcp_first: false,
            pending: VecDeque::new(),
            stats: DriverStats::default(),
        }
    }

    /// Binds one UDP socket per `(component, address)` (port 0 picks a free port), adds each
    /// socket's actual address to `agent` as a host candidate, then starts gathering
    /// ([`IceAgent::gather`]; STUN and TURN servers added to the agent beforehand are asked).
    /// [`Self::new`], [`Self::add_udp_host`] for each and [`Self::gather`], in one call.
    ///
    /// # Errors
    ///
    /// As [`Self::add_udp_host`].
    pub async fn bind(agent: IceAgent, hosts: &[(ComponentId, SocketAddr)]) -> io::Result<Driver> {
        let mut driver = Driver::new(agent);
        for &(component, addr) in hosts {
            driver.add_udp_host(component, addr).await?;
        }
        driver.gather();
        Ok(driver)
    }

    /// Binds a UDP socket on `addr` (port 0 picks a free port) and adds its actual address to
    /// the agent as a host candidate of `component` (RFC 8445 §5.1.1.1). Returns that address.
    ///
    /// Unspecified addresses (`0.0.0.0`, `::`) cannot be candidates: bind to each interface
    /// address.
    ///
    /// # Errors
    ///
    /// Binding failed, or the agent refused the address (an unspecified address, or a
    /// component above [`crate::Config::components`]): [`io::ErrorKind::InvalidInput`] with
    /// the [`crate::CandidateError`] as its source.
    pub async fn add_udp_host(
        &mut self,
        component: ComponentId,
        addr: SocketAddr,
    ) -> io::Result<SocketAddr> {
        let socket = UdpSocket::bind(addr).await?;
        let local = socket.local_addr()?;
        self.agent
            .add_local_host(component, local)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.udp.push(local, socket);
        Ok(local)
    }

    /// Declares the host candidates complete and starts gathering ([`IceAgent::gather`]):
    /// server-reflexive candidates from the agent's STUN servers, relayed ones from its TURN
    /// servers (over TCP or TLS on connections the driver opens), then
    /// [`Event::GatheringComplete`].
    pub fn gather(&mut self) {
        let now = self.now();
        self.agent.gather(now);
    }

    /// The time the driver gives the agent: tokio's clock, the one its timers run on (the
    /// system's monotonic clock, unless a test paused tokio's time).
    pub fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    /// The agent, for getters ([`IceAgent::state`], [`IceAgent::selected_pair`], …).
    pub fn agent(&self) -> &IceAgent {
        &self.agent
    }

    /// The agent, for verbs (remote credentials and candidates, end-of-candidates, restarts),
    /// with [`Self::now`] as their `now`. The next call to [`Self::next`] or [`Self::flush`]
    /// sends what they produce.
    pub fn agent_mut(&mut self) -> &mut IceAgent {
        &mut self.agent
    }

    /// The local addresses of the UDP sockets, in the order they were added.
    pub fn local_addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.udp.addrs()
    }

    /// The driver's counters.
    pub fn stats(&self) -> &DriverStats {
        &self.stats
    }

    /// Transmits of the agent (checks, responses, keepalives, TURN requests) that were not
    /// sent: [`DriverStats::udp_dropped`] and [`DriverStats::tcp_dropped`]. ICE expects
    /// datagrams to get lost and retransmits checks, so these do not stop the driver.
    pub fn dropped_transmits(&self) -> u64 {
        self.stats.udp_dropped + self.stats.tcp_dropped
    }

    /// Sends application data over the component's selected pair: over UDP waiting for room
    /// in the socket's send buffer, over TCP waiting for room in the connection's write queue
    /// (the bytes are written as the socket takes them, by this call and by [`Self::next`]).
    ///
    /// Not cancel-safe: dropped while it waits, the data is lost (the agent counted it sent).
    ///
    /// # Errors
    ///
    /// The component has no pair to send on or lost consent ([`SendDataError::Agent`]), the
    /// pair's socket or connection is not the driver's ([`SendDataError::NoSocket`],
    /// [`SendDataError::NoConnection`]), or the operating system refused the datagram or the
    /// connection failed ([`SendDataError::Io`]).
    pub async fn send(&mut self, component: ComponentId, data: &[u8]) -> Result<(), SendDataError> {
        let now = self.now();
        let t = self.agent.send(now, component, data)?;
        match t.connection {
            None => {
                let socket = self
                    .udp
                    .socket(t.local)
                    .ok_or(SendDataError::NoSocket(t.local))?;
                socket.send_to(t.data, t.remote).await?;
            }
            Some(id) => {
                let framed = t.data.to_vec();
                self.tcp.send(id, &framed).await.map_err(|e| {
                    if e.kind() == io::ErrorKind::NotConnected {
                        SendDataError::NoConnection(id)
                    } else {
                        SendDataError::Io(e)
                    }
                })?;
            }
        }
        self.flush();
        Ok(())
    }

    /// The agent's drain rule: sends every datagram it has to send and queues its TCP
    /// transmits on their connections, acts on its TCP events ([`Event::Connect`],
    /// [`Event::Close`]), then queues its events for [`Self::next`]. Never waits: a datagram
    /// the socket cannot take at once is dropped (and counted in [`Self::stats`]), as a full
    /// router queue would, and ICE retransmits it; queued TCP bytes are written as far as the
    /// sockets take them now, the rest by [`Self::next`].
    pub fn flush(&mut self) {
        loop {
            while let Some(t) = self.agent.poll_transmit() {
                match t.connection {
                    None => {
                        if !self.udp.try_send(&t) {
                            self.stats.udp_dropped += 1;
                        }
                    }
                    Some(id) => {
                        if !self.tcp.enqueue(id, t.data) {
                            self.stats.tcp_dropped += 1;
                        }
                    }
                }
            }
            let mut again = false;
            while let Some(e) = self.agent.poll_event() {
                // A connection that fails at once is reported to the agent here, which may
                // produce more transmits and events: drain again.
                again |= self.tcp_event(&e);
                self.pending.push_back(DriverEvent::Ice(e));
            }
            if !again {
                break;
            }
        }
        self.tcp.write_now();
    }

    /// Runs the agent until it has something to report: receives datagrams and stream bytes,
    /// opens, accepts and closes connections, fires its timers and sends what it asks to.
    /// Events come in the agent's order; application data comes as it arrives.
    ///
    /// Cancel-safe: dropping the future (in a `tokio::select!` branch that lost, say) loses
    /// nothing. Everything in flight (connections opening, write queues) lives in the driver,
    /// and whatever a poll finds (a datagram, a read, an accepted or opened connection) is
    /// handed to the agent within the same poll.
    ///
    /// # Errors
    ///
    /// A UDP socket failed to receive. ICMP errors of earlier sends, which some systems report
    /// on the next receive, are ignored: ICE expects unreachable candidates. TCP failures are
    /// the agent's business (a failed connect or a closed connection), never an error here.
    /// The driver can be used again after an error.
    pub async fn next(&mut self) -> io::Result<DriverEvent> {
        loop {
            self.flush();
            if let Some(e) = self.pending.pop_front() {
                return Ok(e);
            }
            let input = self.wait().await;
            let now = self.now();
            match input {
                Input::Timeout => self.agent.handle_timeout(now),
                Input::Tcp(t) => self.handle_tcp(t),
                Input::Datagram(udp::Recv { local, len, from }) => {
                    let from = match from {
                        Ok(from) => from,
                        Err(e) if is_icmp_error(&e) => continue,
                        Err(e) => return Err(e),
                    };
                    let Some(data) = self.udp.received(len) else {
                        continue;
                    };
                    let datagram = Datagram {
                        local,
                        remote: from,
                        protocol: Protocol::Udp,
                        data,
                    };
                    if let Received::Data { component, data } =
                        self.agent.handle_receive(now, datagram)
                    {
                        self.pending.push_back(DriverEvent::Data {
                            component,
                            data: data.to_vec(),
                        });
                    }
                }
            }
        }
    }

    /// Waits for the agent's deadline ([`IceAgent::poll_timeout`]), a datagram, or something
    /// on the TCP side, whichever comes first; TCP writes go on meanwhile. The deadline is
    /// looked at first, so that a flood of datagrams cannot hold back retransmissions and
    /// consent checks; UDP and TCP take turns.
    async fn wait(&mut self) -> Input {
        let deadline = self
            .agent
            .poll_timeout()
            .map(|d| tokio::time::sleep_until(tokio::time::Instant::from_std(d)));
        let mut sleep = pin!(deadline);
        let udp = &mut self.udp;
        let tcp = &mut self.tcp;
        let tcp_first = &mut self.tcp_first;
        poll_fn(|cx| {
            if let Some(sleep) = sleep.as_mut().as_pin_mut()
                && sleep.poll(cx).is_ready()
            {
                return Poll::Ready(Input::Timeout);
            }
            *tcp_first = !*tcp_first;
            if *tcp_first && let Poll::Ready(t) = tcp.poll(cx) {
                return Poll::Ready(Input::Tcp(t));
            }
            if let Poll::Ready(r) = udp.poll_recv(cx) {
                return Poll::Ready(Input::Datagram(r));
            }
            if !*tcp_first && let Poll::Ready(t) = tcp.poll(cx) {
                return Poll::Ready(Input::Tcp(t));
            }
            Poll::Pending
        })
        .await
    }
}
