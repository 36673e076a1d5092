//! A driver on real UDP sockets for tokio (feature `tokio`): one socket per host candidate,
//! the agent's timers on tokio's clock, datagrams in and out.
//!
//! The agent stays sans-IO; this module is the only place of the crate that reads a clock. It
//! is small on purpose: a Jingle client usually owns its sockets and drives [`IceAgent`]
//! itself, as [`Driver::next`] shows.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use ice_sans_io::driver::{Driver, DriverEvent};
//! use ice_sans_io::{Config, Event, IceAgent, Role};
//!
//! let agent = IceAgent::new(Config::new(Role::Controlling), [7; 32]);
//! let mut driver = Driver::bind(agent, &[(1, "0.0.0.0:0".parse().unwrap())]).await?;
//! let now = driver.now();
//! driver.agent_mut().set_remote_credentials(now, "ufrag", "passwordpasswordpassword").ok();
//! loop {
//!     match driver.next().await? {
//!         DriverEvent::Ice(Event::LocalCandidate(c)) => { /* signal it */ }
//!         DriverEvent::Data { component, data } => { /* application data */ }
//!         _ => {}
//!     }
//! }
//! # }
//! ```

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::task::Poll;
use std::time::Instant;

use tokio::io::ReadBuf;
use tokio::net::UdpSocket;

use crate::agent::SendError;
use crate::{ComponentId, Datagram, Event, IceAgent, Protocol, Received};

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

/// One [`IceAgent`] and its UDP sockets.
#[derive(Debug)]
pub struct Driver {
    agent: IceAgent,
    sockets: Vec<UdpSocket>,
    buf: Vec<u8>,
    pending: VecDeque<DriverEvent>,
    send_errors: u64,
}

impl Driver {
    /// Binds one UDP socket per `(component, address)` (port 0 picks a free port) and adds each
    /// socket's actual address to `agent` as a host candidate, then starts gathering
    /// ([`IceAgent::gather`]). Unspecified addresses (`0.0.0.0`) cannot be candidates: bind to
    /// each interface address.
    pub async fn bind(
        mut agent: IceAgent,
        hosts: &[(ComponentId, SocketAddr)],
    ) -> io::Result<Driver> {
        let mut sockets = Vec::with_capacity(hosts.len());
        for (component, addr) in hosts {
            let socket = UdpSocket::bind(addr).await?;
            let local = socket.local_addr()?;
            agent
                .add_local_host(*component, local)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            sockets.push(socket);
        }
        let mut driver = Driver {
            agent,
            sockets,
            buf: vec![0; 65536],
            pending: VecDeque::new(),
            send_errors: 0,
        };
        let now = driver.now();
        driver.agent.gather(now);
        Ok(driver)
    }

    /// The clock the driver gives the agent.
    pub fn now(&self) -> Instant {
        #[allow(clippy::disallowed_methods)]
        Instant::now()
    }

    /// The agent, for getters.
    pub fn agent(&self) -> &IceAgent {
        &self.agent
    }

    /// The agent, for verbs (remote credentials and candidates, restarts). The next call to
    /// [`Self::next`] or [`Self::flush`] sends what they produce.
    pub fn agent_mut(&mut self) -> &mut IceAgent {
        &mut self.agent
    }

    /// The local addresses of the sockets.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect()
    }

    /// Datagrams the operating system refused to send (an unreachable network, say). ICE
    /// expects some checks to go nowhere, so these do not stop the driver.
    pub fn send_errors(&self) -> u64 {
        self.send_errors
    }

    /// Sends application data over the component's selected pair.
    pub async fn send(&mut self, component: ComponentId, data: &[u8]) -> Result<(), SendError> {
        let now = self.now();
        let t = self.agent.send(now, component, data)?;
        if let Some(s) = self
            .sockets
            .iter()
            .find(|s| s.local_addr().ok() == Some(t.local))
            && s.send_to(t.data, t.remote).await.is_err()
        {
            self.send_errors += 1;
        }
        Ok(())
    }

    /// Sends what the agent has to send and collects its events (the drain rule).
    pub async fn flush(&mut self) {
        while let Some(t) = self.agent.poll_transmit() {
            let socket = self
                .sockets
                .iter()
                .find(|s| s.local_addr().ok() == Some(t.local));
            match socket {
                Some(s) => {
                    if s.send_to(t.data, t.remote).await.is_err() {
                        self.send_errors += 1;
                    }
                }
                None => self.send_errors += 1,
            }
        }
        while let Some(e) = self.agent.poll_event() {
            self.pending.push_back(DriverEvent::Ice(e));
        }
    }

    /// Runs the agent until it has something to report: receives datagrams, fires its timers
    /// and sends what it asks to. Cancel-safe: dropping the future loses nothing.
    pub async fn next(&mut self) -> io::Result<DriverEvent> {
        loop {
            self.flush().await;
            if let Some(e) = self.pending.pop_front() {
                return Ok(e);
            }
            let deadline = self.agent.poll_timeout();
            let sockets = &self.sockets;
            let buf = &mut self.buf;
            let recv = poll_fn(|cx| {
                for (i, s) in sockets.iter().enumerate() {
                    let mut rb = ReadBuf::new(buf);
                    if let Poll::Ready(r) = s.poll_recv_from(cx, &mut rb) {
                        let n = rb.filled().len();
                        return Poll::Ready(r.map(|from| (i, from, n)));
                    }
                }
                Poll::Pending
            });
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = recv => {
                    let (i, from, n) = match r {
                        Ok(r) => r,
                        // An ICMP error of an earlier send, reported on some systems: ICE
                        // expects unreachable candidates.
                        Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset) => continue,
                        Err(e) => return Err(e),
                    };
                    let local = self.sockets[i].local_addr()?;
                    let now = self.now();
                    let d = Datagram { local, remote: from, protocol: Protocol::Udp, data: &self.buf[..n] };
                    if let Received::Data { component, data } = self.agent.handle_receive(now, d) {
                        self.pending.push_back(DriverEvent::Data { component, data: data.to_vec() });
                    }
                }
                () = sleep => {
                    let now = self.now();
                    self.agent.handle_timeout(now);
                }
            }
        }
    }
}
