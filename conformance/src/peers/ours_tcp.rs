//! The TCP connections of [`super::ours::Ours`]: the agent's connections (RFC 6544 ICE-TCP, and
//! TURN over TCP or TLS, RFC 8656 §3.1: it decides, the caller holds them) carried by the
//! host's TCP, through the [`Node`] interface's [`TcpCommand`]s and [`TcpEvent`]s (the
//! simulator's TCP stack on sim, real sockets on netns).
//!
//! One table, two names per connection: the agent's [`ConnectionId`] and the host's
//! [`TcpConnId`]. A connection the agent asked for is known by its id from
//! [`ice_sans_io::Event::Connect`] on (its token is the id's number) and by both once the host
//! reports it connected; one the host accepted is known by both once the agent took it. A
//! connection the agent closes while it is still opening is closed as soon as it opens.
//!
//! **TLS.** A `Connect` with `tls: Some(name)` (TURN over TLS) gets a TLS 1.3 client
//! ([`SimTls`]) over the connection: it trusts the run's simulated certificate authority only
//! (from [`PeerConfig::tls_ca_seed`](crate::runner::config::PeerConfig::tls_ca_seed)), checks
//! the server's certificate against `name`, and draws its randomness from the side's seed, so a
//! run still replays exactly. The agent hears `connected` once the handshake is done and sees
//! plaintext only; a handshake that fails is a failed connect, a record that fails later a
//! closed connection.
//!
//! [`Node`]: ice_netsim::Node

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use ice_netsim::tls::{SimCa, SimTls};
use ice_netsim::topology::IceTcpType;
use ice_netsim::{TcpCommand, TcpConnId, TcpEvent, derive_seed};
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

/// A connection the agent asked for, not yet open.
#[derive(Debug)]
struct Opening {
    id: ConnectionId,
    /// The server name, for TLS.
    tls: Option<String>,
}

/// TLS on an open connection.
#[derive(Debug)]
struct Tls {
    session: SimTls,
    /// The connection's local address, for the agent once the handshake is done.
    local: SocketAddr,
    /// The agent was told the connection is open (the handshake finished).
    reported: bool,
}

/// The connection table and the commands for the host. See the [module docs](self).
#[derive(Debug)]
pub(super) struct Connections {
    /// Connects asked for and not yet answered, by token.
    opening: BTreeMap<u64, Opening>,
    /// Of those, the ones the agent closed meanwhile: closed when they open.
    closed_while_opening: BTreeSet<ConnectionId>,
    by_agent: BTreeMap<ConnectionId, TcpConnId>,
    by_host: BTreeMap<TcpConnId, ConnectionId>,
    tls: BTreeMap<ConnectionId, Tls>,
    /// The run's certificate authority's seed, and the authority once a TLS client needs it.
    ca_seed: [u8; 32],
    ca: Option<SimCa>,
    /// The side's seed: each TLS client's seed is derived from it and the connection's id.
    seed: [u8; 32],
    commands: VecDeque<TcpCommand>,
}

impl Connections {
    /// An empty table; TLS clients trust the authority of `ca_seed` and draw from `seed`.
    pub(super) fn new(ca_seed: [u8; 32], seed: [u8; 32]) -> Connections {
        Connections {
            opening: BTreeMap::new(),
            closed_while_opening: BTreeSet::new(),
            by_agent: BTreeMap::new(),
            by_host: BTreeMap::new(),
            tls: BTreeMap::new(),
            ca_seed,
            ca: None,
            seed,
            commands: VecDeque::new(),
        }
    }

    /// Listens on `addr` (a passive or simultaneous-open candidate's address).
    pub(super) fn listen(&mut self, addr: SocketAddr) {
        self.commands.push_back(TcpCommand::Listen { addr });
    }

    /// The agent's [`ice_sans_io::Event::Connect`].
    pub(super) fn connect(
        &mut self,
        id: ConnectionId,
        from: SocketAddr,
        to: SocketAddr,
        tls: Option<String>,
    ) {
        let token = u64::from(id.get());
        self.opening.insert(token, Opening { id, tls });
        self.commands
            .push_back(TcpCommand::Connect { token, from, to });
    }

    /// The agent's [`ice_sans_io::Event::Close`]: a TLS connection says close_notify first
    /// (RFC 8446 §6.1).
    pub(super) fn close(&mut self, id: ConnectionId) {
        if let Some(conn) = self.by_agent.remove(&id) {
            self.by_host.remove(&conn);
            if let Some(mut t) = self.tls.remove(&id) {
                t.session.close();
                self.flush(conn, &mut t.session);
            }
            self.commands.push_back(TcpCommand::Close { conn });
        } else if self.opening.values().any(|o| o.id == id) {
            self.closed_while_opening.insert(id);
        }
    }

    /// Bytes the agent sends on its connection `id` (framed as the connection wants): `Err`
    /// with the reason when they cannot go.
    pub(super) fn send(&mut self, id: ConnectionId, data: &[u8]) -> Result<(), String> {
        let Some(&conn) = self.by_agent.get(&id) else {
            return Err(format!(
                "the agent sent on {id}, which the host does not hold"
            ));
        };
        match self.tls.remove(&id) {
            Some(mut t) => {
                let r = t.session.write_plaintext(data);
                self.flush(conn, &mut t.session);
                self.tls.insert(id, t);
                r.map_err(|e| format!("{id}: {e}"))
            }
            None => {
                self.commands.push_back(TcpCommand::Send {
                    conn,
                    data: data.to_vec(),
                });
                Ok(())
            }
        }
    }

    /// The TLS records `session` has for the peer, as sends on `conn`.
    fn flush(&mut self, conn: TcpConnId, session: &mut SimTls) {
        while let Some(data) = session.poll_ciphertext() {
            self.commands.push_back(TcpCommand::Send { conn, data });
        }
    }

    /// The next command for the host.
    pub(super) fn poll_command(&mut self) -> Option<TcpCommand> {
        self.commands.pop_front()
    }

    /// A TLS client for `name` on connection `id`.
    fn tls_client(&mut self, id: ConnectionId, name: &str) -> Result<SimTls, String> {
        if self.ca.is_none() {
            self.ca = Some(SimCa::new(self.ca_seed).map_err(|e| e.to_string())?);
        }
        let ca = self.ca.as_ref().ok_or("no certificate authority")?;
        let seed = derive_seed(
            u64::from_le_bytes(self.seed[..8].try_into().unwrap_or_default()),
            &format!("tls client {id}"),
        );
        SimTls::client(name, ca, seed).map_err(|e| format!("TLS to {name}: {e}"))
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
                let opening = self.opening.remove(&token)?;
                let id = opening.id;
                if self.closed_while_opening.remove(&id) {
                    self.commands.push_back(TcpCommand::Close { conn });
                    return None;
                }
                self.by_agent.insert(id, conn);
                self.by_host.insert(conn, id);
                match opening.tls {
                    None => session.handle_connected(now, id, local),
                    Some(name) => match self.tls_client(id, &name) {
                        Ok(mut client) => {
                            // The ClientHello goes out at once (RFC 8446 §4.1.2).
                            self.flush(conn, &mut client);
                            self.tls.insert(
                                id,
                                Tls {
                                    session: client,
                                    local,
                                    reported: false,
                                },
                            );
                        }
                        Err(e) => {
                            self.forget(conn);
                            self.commands.push_back(TcpCommand::Abort { conn });
                            session.handle_connect_failed(now, id);
                            return Some(e);
                        }
                    },
                }
            }
            TcpEvent::ConnectFailed { token, .. } => {
                let opening = self.opening.remove(&token)?;
                if !self.closed_while_opening.remove(&opening.id) {
                    session.handle_connect_failed(now, opening.id);
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
                let plain = match self.tls.remove(&id) {
                    None => bytes,
                    Some(t) => match self.decrypt(session, now, id, conn, t, &bytes) {
                        Ok(plain) => plain,
                        Err(e) => return Some(e),
                    },
                };
                let mut rest = plain.as_slice();
                while let Some(r) = session.handle_stream(now, id, &mut rest) {
                    if let Received::Data { data: d, .. } = r {
                        data.push_back(d.to_vec());
                    }
                }
            }
            TcpEvent::Closed { conn } => {
                // The peer's FIN: ours follows (RFC 9293 §3.6), and the agent forgets it.
                self.commands.push_back(TcpCommand::Close { conn });
                self.lost(session, now, conn);
            }
            TcpEvent::Reset { conn, .. } => self.lost(session, now, conn),
            other => return Some(format!("an unexpected TCP event: {other:?}")),
        }
        None
    }

    /// Ciphertext on TLS connection `id`: the plaintext it carried. The agent hears
    /// `connected` when the handshake finishes; a TLS failure closes the connection and tells
    /// the agent (a failed connect during the handshake, a closed connection after).
    fn decrypt(
        &mut self,
        session: &mut Session,
        now: Instant,
        id: ConnectionId,
        conn: TcpConnId,
        mut t: Tls,
        bytes: &[u8],
    ) -> Result<Vec<u8>, String> {
        let r = t.session.handle_ciphertext(bytes);
        self.flush(conn, &mut t.session);
        if let Err(e) = r {
            self.forget(conn);
            self.commands.push_back(TcpCommand::Close { conn });
            if t.reported {
                session.handle_closed(now, id);
            } else {
                session.handle_connect_failed(now, id);
            }
            return Err(format!("{id}: {e}"));
        }
        if !t.reported && !t.session.is_handshaking() {
            t.reported = true;
            session.handle_connected(now, id, t.local);
        }
        let mut plain = Vec::new();
        t.session.read_plaintext(&mut plain);
        self.tls.insert(id, t);
        Ok(plain)
    }

    /// Forgets host connection `conn` in every table; returns the agent's id for it.
    fn forget(&mut self, conn: TcpConnId) -> Option<ConnectionId> {
        let id = self.by_host.remove(&conn)?;
        self.by_agent.remove(&id);
        self.tls.remove(&id);
        Some(id)
    }

    /// The peer closed or reset `conn`, or it broke: the agent forgets it (a TLS connection
    /// whose handshake had not finished is a failed connect to the agent).
    fn lost(&mut self, session: &mut Session, now: Instant, conn: TcpConnId) {
        let unreported = self
            .by_host
            .get(&conn)
            .and_then(|id| self.tls.get(id))
            .is_some_and(|t| !t.reported);
        if let Some(id) = self.forget(conn) {
            if unreported {
                session.handle_connect_failed(now, id);
            } else {
                session.handle_closed(now, id);
            }
        }
    }
}
