//! Server-reflexive gathering (RFC 8445 §5.1.1.2): one Binding request from each host
//! candidate to each STUN server of its address family, the candidates the responses give,
//! and when gathering is complete (relayed candidates are gathered in `relay`).
//!
//! **Over TCP** (RFC 6544 §5.2): a passive or simultaneous-open (so) host candidate gathers
//! too, on a connection the caller holds ([`Event::Connect`] from the candidate's own
//! address, the port its listener has, to the server; `tcp.rs` keeps it in its table as the
//! gathering's). Once it is open one Binding request goes out on it as it is: STUN on a
//! stream to a server delimits itself (RFC 8489 §6.2.2, no RFC 4571 header), and it is not
//! retransmitted; the transaction times out after Ti ([`Config::stun_tcp_timeout`], 39.5 s,
//! RFC 8489 §6.2.2). The XOR-MAPPED-ADDRESS is the NAT's mapping of the candidate's port: a
//! server-reflexive candidate of the same tcptype whose base is the host candidate (§5.2),
//! with §4.2's server-reflexive direction preference (so 6, active 4, passive 2). The
//! connection is then closed ([`Event::Close`]); an endpoint-independent mapping NAT (RFC
//! 5382 REQ-1) keeps the mapping while the connection closes (REQ-5: four minutes), so the
//! pairs' connections from the same port go out on it, which is what lets two agents behind
//! such NATs meet by TCP simultaneous open on their server-reflexive so candidates. A
//! connection that fails, closes or carries no STUN ends the gathering without a candidate;
//! either way it counts for [`Event::GatheringComplete`].
//!
//! Active candidates gather nothing. RFC 6544 §5.2 notes that server-reflexive active
//! candidates can be derived from the passive or so ones (same IP, the mapped IP); the agent
//! does not signal them: an active candidate is never connected to (§4.5: port 9), so at the
//! peer it meets only passive candidates, whose pairs are pruned and made from the checks
//! that arrive (§6.2), where the NAT's address is learned as peer-reflexive anyway (§7.2.2).
//! Such a candidate would change no pair on either side.
//!
//! [`Config::stun_tcp_timeout`]: crate::Config::stun_tcp_timeout

use std::net::SocketAddr;
use std::time::Instant;

use crate::candidate::{
    Candidate, CandidateKind, MAX_TCP_OTHER_PREF, Protocol, TcpType, priority, tcp_local_preference,
};
use crate::event::{DropReason, Event};
use crate::stun::{Class, Fingerprint, Message, Method};
use crate::transmit::ConnectionId;

use super::IceAgent;
use super::local::check_address;
use super::out::Route;
use super::transaction::TxKind;

/// Server-reflexive gathering from one host address to one STUN server.
#[derive(Debug, Clone)]
pub(super) struct Gather {
    pub(super) host: usize,
    pub(super) server: SocketAddr,
    pub(super) started: bool,
    pub(super) done: bool,
    /// Over TCP (a passive or so host candidate): the connection to the server, from
    /// [`Event::Connect`] until it is closed.
    pub(super) conn: Option<ConnectionId>,
}

impl IceAgent {
    pub(super) fn add_gather(&mut self, host: usize, server: SocketAddr) {
        if self.locals[host].base.is_ipv4() != server.is_ipv4() {
            return;
        }
        self.gathers.push(Gather {
            host,
            server,
            started: false,
            done: false,
            conn: None,
        });
        self.gathering_complete_sent = false;
    }

    pub(super) fn maybe_gathering_complete(&mut self) {
        if self.gather_requested
            && !self.gathering_complete_sent
            && self.gathers.iter().all(|g| g.done)
            && self.relays.iter().all(|r| r.done)
        {
            self.gathering_complete_sent = true;
            self.events.push_back(Event::GatheringComplete);
        }
    }

    pub(super) fn gathered(&mut self, gather: usize, msg: &Message<'_>) {
        let Some(g) = self.gathers.get_mut(gather) else {
            return;
        };
        g.done = true;
        let (host, server) = (g.host, g.server);
        if msg.class() == Class::Success
            && let Some(mapped) = msg.mapped_address()
        {
            self.add_server_reflexive(host, mapped, server);
        }
        self.maybe_gathering_complete();
    }

    /// A server-reflexive candidate of host candidate `host` at `mapped`, the address a STUN
    /// server (or a TURN server's Allocate, RFC 8656 §7.3) at `server` saw. Of a TCP host
    /// candidate, a TCP candidate of its tcptype (RFC 6544 §5.2).
    pub(super) fn add_server_reflexive(
        &mut self,
        host: usize,
        mapped: SocketAddr,
        server: SocketAddr,
    ) {
        if check_address(mapped).is_err() {
            return;
        }
        // RFC 8445 §5.1.3: redundant if another candidate has the same address and base (and
        // transport: a UDP and a TCP candidate may share an address).
        let base = self.locals[host].base;
        let protocol = self.locals[host].cand.protocol;
        if self
            .locals
            .iter()
            .any(|l| l.cand.addr == mapped && l.base == base && l.cand.protocol == protocol)
        {
            return;
        }
        let cand = match self.locals[host].tcp_type() {
            None => {
                self.derived_candidate(host, CandidateKind::ServerReflexive, mapped, server, base)
            }
            Some(t) => self.tcp_server_reflexive(host, t, mapped, server),
        };
        self.add_local(cand, base, None);
    }

    /// RFC 6544 §4.2, §5.2: the server-reflexive TCP candidate of TCP host candidate `host`
    /// (tcptype `t`) at `mapped`: the server-reflexive direction preference of `t` with the
    /// host's `other-pref`, the TCP type preference of server-reflexive candidates, the host's
    /// address as related address, and a foundation of its own (RFC 8445 §5.1.1.3: type,
    /// base IP, server IP, protocol).
    fn tcp_server_reflexive(
        &mut self,
        host: usize,
        t: TcpType,
        mapped: SocketAddr,
        server: SocketAddr,
    ) -> Candidate {
        let h = &self.locals[host].cand;
        let (component, related) = (h.component, h.addr);
        let other = h.local_preference() & MAX_TCP_OTHER_PREF;
        let kind = CandidateKind::ServerReflexive;
        let pref = tcp_local_preference(kind, t, other);
        Candidate {
            component,
            foundation: self.foundation(kind, related.ip(), Some(server.ip()), Protocol::Tcp),
            protocol: Protocol::Tcp,
            priority: priority(kind.tcp_type_preference(), pref, component),
            addr: mapped,
            kind,
            related: Some(related),
            tcp_type: Some(t),
        }
    }

    /// Starts the next gathering not started yet (paced by Ta, RFC 8445 §5.1.1.2): its
    /// Binding request over UDP, or its connection over TCP. Returns whether one started.
    pub(super) fn start_gather(&mut self, now: Instant) -> bool {
        if !self.gather_requested {
            return false;
        }
        // Gatherings that cannot start (the connection limit) are done at once and the next
        // one is tried in the same pace, so that none is left as work due at once.
        while let Some(g) = self.gathers.iter().position(|g| !g.started) {
            self.gathers[g].started = true;
            let (base, server) = (
                self.locals[self.gathers[g].host].base,
                self.gathers[g].server,
            );
            if self.locals[self.gathers[g].host].tcp_type().is_none() {
                self.stats.gathering_requests_sent += 1;
                let rto = self.cfg.gathering_rto;
                let route = Route::udp(base, server);
                self.start_transaction(now, TxKind::Gather { gather: g }, route, 0, rto);
                return true;
            }
            // RFC 6544 §5.2: from the candidate's own port, the one the peer is told.
            match self.tcp_open_gather(now, g, base, server) {
                Some(id) => {
                    self.gathers[g].conn = Some(id);
                    return true;
                }
                None => {
                    self.gathers[g].done = true;
                    self.maybe_gathering_complete();
                }
            }
        }
        false
    }

    /// The connection of TCP gathering `g` is open at `local`: the Binding request on it
    /// (RFC 8489 §6.2.2: sent once, answered within Ti or never).
    pub(super) fn gather_connected(
        &mut self,
        now: Instant,
        g: usize,
        id: ConnectionId,
        local: SocketAddr,
    ) {
        let Some(server) = self.gathers.get(g).filter(|g| !g.done).map(|g| g.server) else {
            self.tcp_close_id(now, id);
            return;
        };
        if self.transactions.len() >= self.cfg.max_transactions {
            self.stats.transactions_delayed += 1;
            self.tcp_close_id(now, id);
            return;
        }
        self.stats.gathering_requests_sent += 1;
        let route = Route::Stream {
            conn: id,
            local,
            remote: server,
        };
        let ti = self.cfg.stun_tcp_timeout;
        self.start_transaction(now, TxKind::Gather { gather: g }, route, 0, ti);
        // No retransmission on a stream: the first deadline, Ti, is the last.
        if let Some(tx) = self.transactions.last_mut() {
            tx.sent = self.cfg.max_requests.max(1);
        }
    }

    /// A message from the STUN server on TCP gathering `g`'s connection `id` (RFC 8489
    /// §6.2.2: one STUN message, cut by the connection's reader): the answer to its Binding
    /// request gives the candidate, and the connection is closed. `None` when it was taken;
    /// anything else is dropped with the reason and the connection waits on.
    pub(super) fn receive_gather_stream(
        &mut self,
        now: Instant,
        g: usize,
        id: ConnectionId,
        frame: &[u8],
    ) -> Option<DropReason> {
        let Ok(msg) = Message::decode(frame) else {
            return Some(DropReason::Malformed);
        };
        if let Fingerprint::Bad { .. } = msg.fingerprint() {
            return Some(DropReason::BadFingerprint);
        }
        if msg.method() != Method::BINDING || !matches!(msg.class(), Class::Success | Class::Error)
        {
            return Some(DropReason::Unhandled);
        }
        let tid = msg.transaction_id();
        let Some(ti) = self
            .transactions
            .iter()
            .position(|t| t.tid == tid && t.kind == TxKind::Gather { gather: g })
        else {
            return Some(DropReason::UnknownTransaction);
        };
        self.transactions.remove(ti);
        self.stats.responses_received += 1;
        self.gathered(g, &msg);
        self.tcp_close_id(now, id);
        None
    }

    /// The connection of TCP gathering `g` is gone (failed to open, closed, broken, or
    /// closed by the agent): the gathering is done, with whatever it got.
    pub(super) fn gather_connection_lost(&mut self, g: usize) {
        let Some(gather) = self.gathers.get_mut(g) else {
            return;
        };
        gather.conn = None;
        if gather.done {
            return;
        }
        gather.done = true;
        self.transactions
            .retain(|t| t.kind != TxKind::Gather { gather: g });
        self.maybe_gathering_complete();
    }

    /// Gathering `g`'s transaction timed out (RFC 8489 §6.2.1 over UDP, Ti over TCP): done
    /// without a candidate, and over TCP its connection closed.
    pub(super) fn gather_timed_out(&mut self, now: Instant, g: usize) {
        let Some(gather) = self.gathers.get_mut(g) else {
            return;
        };
        gather.done = true;
        if let Some(id) = gather.conn {
            self.tcp_close_id(now, id);
        }
        self.maybe_gathering_complete();
    }
}
