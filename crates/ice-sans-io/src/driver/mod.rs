//! A driver on real UDP sockets for tokio (feature `tokio`): one socket per host candidate,
//! the agent's timers on tokio's clock, datagrams in and out.
//!
//! The agent stays sans-IO; this module is the only place of the crate that reads a clock. It
//! is small on purpose: a Jingle client usually owns its sockets and drives [`IceAgent`]
//! itself, as [`Driver::next`] shows.
//!
//! Signalling stays with the caller: [`Driver::agent_mut`] reaches the agent's verbs (remote
//! credentials and candidates, end-of-candidates, restarts), and [`Driver::next`] returns the
//! agent's events (local candidates to signal, state changes) and the application data
//! received. `examples/two_agents_loopback.rs` connects two drivers.
//!
//! ```
//! use ice_sans_io::driver::{Driver, DriverEvent};
//! use ice_sans_io::{Config, Event, IceAgent, Role};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! # rt.block_on(async {
//! let agent = IceAgent::new(Config::new(Role::Controlling), [7; 32]);
//! // One socket for component 1, on a port the system picks. Bind to each interface address:
//! // an unspecified address (0.0.0.0) cannot be a candidate.
//! let mut driver = Driver::bind(agent, &[(1, "127.0.0.1:0".parse()?)]).await?;
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

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::Poll;
use std::time::Instant;

use tokio::io::ReadBuf;
use tokio::net::UdpSocket;

use crate::{ComponentId, Datagram, Event, IceAgent, Protocol, Received, SendError};

/// The largest UDP payload; longer datagrams cannot arrive.
const MAX_DATAGRAM: usize = 65_535;

/// What [`Driver::next`] returns.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverEvent {
    /// An event of the agent.
    Ice(Event),
    /// Application data received over a valid pair.
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
    /// added through [`Driver::agent_mut`] rather than [`Driver::bind`]).
    NoSocket(SocketAddr),
    /// The operating system refused the datagram.
    Io(io::Error),
}

impl fmt::Display for SendDataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendDataError::Agent(e) => write!(f, "cannot send: {e}"),
            SendDataError::NoSocket(a) => write!(f, "cannot send: no socket on {a}"),
            SendDataError::Io(e) => write!(f, "cannot send: {e}"),
        }
    }
}

impl std::error::Error for SendDataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SendDataError::Agent(e) => Some(e),
            SendDataError::NoSocket(_) => None,
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

/// What woke [`Driver::next`] up.
enum Input {
    /// The agent's deadline passed.
    Timeout,
    /// Socket `index` received `len` bytes into the buffer, from the address given.
    Datagram {
        index: usize,
        len: usize,
        from: io::Result<SocketAddr>,
    },
}

/// One [`IceAgent`] and its UDP sockets, one per host candidate.
///
/// Every input the driver gives the agent (a datagram, a timeout, [`Self::send`]) is followed
/// by the agent's drain rule: its datagrams sent, then its events queued for [`Self::next`].
/// After calling verbs through [`Self::agent_mut`], call [`Self::next`] (or [`Self::flush`])
/// to send what they produced.
#[derive(Debug)]
pub struct Driver {
    agent: IceAgent,
    /// Each socket with its local address (the address of its host candidate).
    sockets: Vec<(SocketAddr, UdpSocket)>,
    /// The socket [`Self::next`] polls first, turning round so that none starves the others.
    first_socket: usize,
    buf: Vec<u8>,
    pending: VecDeque<DriverEvent>,
    dropped_transmits: u64,
}

impl Driver {
    /// Binds one UDP socket per `(component, address)` (port 0 picks a free port), adds each
    /// socket's actual address to `agent` as a host candidate, then starts gathering
    /// ([`IceAgent::gather`]; STUN servers added to the agent beforehand are asked).
    ///
    /// Unspecified addresses (`0.0.0.0`, `::`) cannot be candidates: bind to each interface
    /// address. The agent should have no host candidate of its own: datagrams it sends from
    /// an address the driver has no socket for are dropped.
    ///
    /// # Errors
    ///
    /// Binding failed, or the agent refused the address (an unspecified address, or a
    /// component above [`crate::Config::components`]): [`io::ErrorKind::InvalidInput`] with
    /// the [`crate::CandidateError`] as its source.
    pub async fn bind(
        mut agent: IceAgent,
        hosts: &[(ComponentId, SocketAddr)],
    ) -> io::Result<Driver> {
        let mut sockets = Vec::with_capacity(hosts.len());
        for &(component, addr) in hosts {
            let socket = UdpSocket::bind(addr).await?;
            let local = socket.local_addr()?;
            agent
                .add_local_host(component, local)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            sockets.push((local, socket));
        }
        let mut driver = Driver {
            agent,
            sockets,
            first_socket: 0,
            buf: vec![0; MAX_DATAGRAM],
            pending: VecDeque::new(),
            dropped_transmits: 0,
        };
        let now = driver.now();
        driver.agent.gather(now);
        Ok(driver)
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

    /// The local addresses of the sockets, in the order of [`Self::bind`]'s `hosts`.
    pub fn local_addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.sockets.iter().map(|(addr, _)| *addr)
    }

    /// Datagrams of the agent (checks, responses, keepalives) that were not sent: the
    /// operating system refused them (an unreachable network, a full send buffer) or they
    /// named a local address with no socket. ICE expects datagrams to get lost and
    /// retransmits checks, so these do not stop the driver.
    pub fn dropped_transmits(&self) -> u64 {
        self.dropped_transmits
    }

    /// Sends application data over the component's selected pair, waiting for room in the
    /// socket's send buffer.
    ///
    /// # Errors
    ///
    /// The component has no pair to send on or lost consent ([`SendDataError::Agent`]), or the
    /// operating system refused the datagram ([`SendDataError::Io`]).
    pub async fn send(&mut self, component: ComponentId, data: &[u8]) -> Result<(), SendDataError> {
        let now = self.now();
        let t = self.agent.send(now, component, data)?;
        let (_, socket) = self
            .sockets
            .iter()
            .find(|(addr, _)| *addr == t.local)
            .ok_or(SendDataError::NoSocket(t.local))?;
        socket.send_to(t.data, t.remote).await?;
        self.flush();
        Ok(())
    }

    /// The agent's drain rule: sends every datagram it has to send, then queues its events
    /// for [`Self::next`]. Never waits: a datagram the socket cannot take at once is dropped
    /// (and counted in [`Self::dropped_transmits`]), as a full router queue would, and ICE
    /// retransmits it.
    pub fn flush(&mut self) {
        while let Some(t) = self.agent.poll_transmit() {
            // UDP only for now: the driver adds no TCP candidates, so the agent never asks for
            // a connection (a framed TCP transmit would have none to go on). The tokio TCP
            // path (RFC 6544 connections for `Event::Connect`, accepts, stream reads) comes
            // next.
            if t.connection.is_some() {
                self.dropped_transmits += 1;
                continue;
            }
            let sent = self
                .sockets
                .iter()
                .find(|(addr, _)| *addr == t.local)
                .is_some_and(|(_, socket)| socket.try_send_to(t.data, t.remote).is_ok());
            if !sent {
                self.dropped_transmits += 1;
            }
        }
        while let Some(e) = self.agent.poll_event() {
            // `Event::Connect` (ICE-TCP) is passed on like every event but not acted on: the
            // driver holds UDP sockets only, and without a TCP candidate of its own the agent
            // never asks. The tokio TCP path comes next; until then an unanswered Connect
            // fails its pair after `Config::tcp_connect_timeout`.
            self.pending.push_back(DriverEvent::Ice(e));
        }
    }

    /// Runs the agent until it has something to report: receives datagrams, fires its timers
    /// and sends what it asks to. Events come in the agent's order; application data comes
    /// as it arrives.
    ///
    /// Cancel-safe: dropping the future (in a `tokio::select!` branch that lost, say) loses
    /// nothing, since every datagram received is handled within the same poll.
    ///
    /// # Errors
    ///
    /// A socket failed to receive. ICMP errors of earlier sends, which some systems report on
    /// the next receive, are ignored: ICE expects unreachable candidates. The driver can be
    /// used again after an error.
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
                Input::Datagram { index, len, from } => {
                    let from = match from {
                        Ok(from) => from,
                        Err(e) if is_icmp_error(&e) => continue,
                        Err(e) => return Err(e),
                    };
                    let Some(&(local, _)) = self.sockets.get(index) else {
                        continue;
                    };
                    let Some(data) = self.buf.get(..len) else {
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

    /// Waits for the agent's deadline ([`IceAgent::poll_timeout`]) or a datagram on any
    /// socket, whichever comes first. The deadline is looked at first, so that a flood of
    /// datagrams cannot hold back retransmissions and consent checks.
    async fn wait(&mut self) -> Input {
        let deadline = self
            .agent
            .poll_timeout()
            .map(|d| tokio::time::sleep_until(tokio::time::Instant::from_std(d)));
        let mut sleep = pin!(deadline);
        let sockets = &self.sockets;
        let buf = &mut self.buf;
        let first = &mut self.first_socket;
        poll_fn(|cx| {
            if let Some(sleep) = sleep.as_mut().as_pin_mut()
                && sleep.poll(cx).is_ready()
            {
                return Poll::Ready(Input::Timeout);
            }
            let n = sockets.len();
            for k in 0..n {
                let index = (*first + k) % n;
                let Some((_, socket)) = sockets.get(index) else {
                    continue;
                };
                let mut rb = ReadBuf::new(buf);
                if let Poll::Ready(from) = socket.poll_recv_from(cx, &mut rb) {
                    let len = rb.filled().len();
                    *first = (index + 1) % n;
                    return Poll::Ready(Input::Datagram { index, len, from });
                }
            }
            Poll::Pending
        })
        .await
    }
}

/// An error that a receive reports for an earlier send (an ICMP port unreachable, on Windows
/// and on sockets with `IP_RECVERR`).
fn is_icmp_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}
