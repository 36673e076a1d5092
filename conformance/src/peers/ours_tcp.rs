//! The ICE-TCP connections of [`super::ours::Ours`]: the agent's connections (RFC 6544: it
//! decides, the caller holds them) carried by the host's TCP, through the [`Node`] interface's
//! [`TcpCommand`]s and [`TcpEvent`]s (the simulator's TCP stack on sim).
//!
//! One table, two names per connection: the agent's [`ConnectionId`] and the host's
//! [`TcpConnId`]. A connection the agent asked for is known by its id from
//! [`ice_sans_io::Event::Connect`] on (its token is the id's number) and by both once the host
//! reports it connected; one the host accepted is known by both once the agent took it. A
//! connection the agent closes while it is still opening is closed as soon as it opens.
//!
//! [`Node`]: ice_netsim::Node

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use ice_netsim::topology::IceTcpType;
use ice_netsim::{TcpCommand, TcpConnId, TcpEvent};
use ice_sans_io::{ConnectionId, Received, TcpType};
use jingle_ice_glue::Session;

/// The agent's type for a script's `tcp` entry: the runner's one conversion.
pub(super) fn tcp_type(t: IceTcpType) -> TcpType {
    match t {
        IceTcpType::Active => TcpType::Active,
        IceTcpType::Passive => TcpType::Passive,
        IceTcpType::So => TcpType::SimultaneousOpen,
    }
}

/// The connection table and the commands for the host. See the [module docs](self).
#[derive(Debug, Default)]
pub(super) struct Connections {
    /// Connects asked for and not yet answered: token → the agent's id.
    opening: BTreeMap<u64, ConnectionId>,
    /// Of those, the ones the agent closed meanwhile: closed when they open.
    closed_while_opening: BTreeSet<ConnectionId>,
    by_agent: BTreeMap<ConnectionId, TcpConnId>,
    by_host: BTreeMap<TcpConnId, ConnectionId>,
    commands: VecDeque<TcpCommand>,
}

impl Connections {
    /// Listens on `addr` (a passive or simultaneous-open candidate's address).
    pub(super) fn listen(&mut self, addr: SocketAddr) {
        self.commands.push_back(TcpCommand::Listen { addr });
    }

    /// The agent's [`ice_sans_io::Event::Connect`].
    pub(super) fn connect(&mut self, id: ConnectionId, from: SocketAddr, to: SocketAddr) {
        let token = u64::from(id.get());
        self.opening.insert(token, id);
        self.commands
            .push_back(TcpCommand::Connect { token, from, to });
    }

    /// The agent's [`ice_sans_io::Event::Close`].
    pub(super) fn close(&mut self, id: ConnectionId) {
        if let Some(conn) = self.by_agent.remove(&id) {
            self.by_host.remove(&conn);
            self.commands.push_back(TcpCommand::Close { conn });
        } else if self.opening.values().any(|o| *o == id) {
            self.closed_while_opening.insert(id);
        }
    }

    /// Bytes the agent sends on its connection `id` (already framed): `false` when the host
    /// holds no such connection.
    pub(super) fn send(&mut self, id: ConnectionId, data: &[u8]) -> bool {
        let Some(&conn) = self.by_agent.get(&id) else {
            return false;
        };
        self.commands.push_back(TcpCommand::Send {
            conn,
            data: data.to_vec(),
        });
        true
    }

    /// The next command for the host.
    pub(super) fn poll_command(&mut self) -> Option<TcpCommand> {
        self.commands.pop_front()
    }

    /// What the host reports, handed to the session; application data received goes to
    /// `data`. Returns a description of anything the table could not place.
    pub(super) fn handle(
        &mut self,
        session: &mut Session,
        now: Instant,
        event: TcpEvent,
        data: &mut VecDeque<Vec<u8>>,
    ) -> Option<String> {
        match event {
            TcpEvent::Connected {
                token, conn, local, ..
            } => {
                let id = self.opening.remove(&token)?;
                if self.closed_while_opening.remove(&id) {
                    self.commands.push_back(TcpCommand::Close { conn });
                    return None;
                }
                self.by_agent.insert(id, conn);
                self.by_host.insert(conn, id);
                session.handle_connected(now, id, local);
            }
            TcpEvent::ConnectFailed { token, .. } => {
                let id = self.opening.remove(&token)?;
                if !self.closed_while_opening.remove(&id) {
                    session.handle_connect_failed(now, id);
                }
            }
            TcpEvent::Accepted {
                conn,
                local,
                remote,
                ..
            } => match session.handle_accepted(now, local, remote) {
                Ok(id) => {
                    self.by_agent.insert(id, conn);
                    self.by_host.insert(conn, id);
                }
                // The agent takes no more (or nothing on that address): close it.
                Err(_) => self.commands.push_back(TcpCommand::Abort { conn }),
            },
            TcpEvent::Data { conn, data: bytes } => {
                let Some(&id) = self.by_host.get(&conn) else {
                    return Some(format!(
                        "{} bytes on {conn}, which is no connection of the agent",
                        bytes.len()
                    ));
                };
                let mut rest = bytes.as_slice();
                while let Some(r) = session.handle_stream(now, id, &mut rest) {
                    if let Received::Data { data: d, .. } = r {
                        data.push_back(d.to_vec());
                    }
                }
            }
            TcpEvent::Closed { conn } => {
                // The peer's FIN: ours follows (RFC 9293 §3.6), and the agent forgets it.
                self.commands.push_back(TcpCommand::Close { conn });
                if let Some(id) = self.by_host.remove(&conn) {
                    self.by_agent.remove(&id);
                    session.handle_closed(now, id);
                }
            }
            TcpEvent::Reset { conn, .. } => {
                if let Some(id) = self.by_host.remove(&conn) {
                    self.by_agent.remove(&id);
                    session.handle_closed(now, id);
                }
            }
            other => return Some(format!("an unexpected TCP event: {other:?}")),
        }
        None
    }
}
