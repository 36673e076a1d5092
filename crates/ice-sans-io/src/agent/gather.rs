//! Server-reflexive gathering (RFC 8445 §5.1.1.2): one Binding request from each host
//! candidate to each STUN server of its address family, the candidates the responses give,
//! and when gathering is complete (relayed candidates are gathered in `relay`).

use std::net::SocketAddr;
use std::time::Instant;

use crate::candidate::CandidateKind;
use crate::event::Event;
use crate::stun::{Class, Message};

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
    /// server (or a TURN server's Allocate, RFC 8656 §7.3) at `server` saw.
    pub(super) fn add_server_reflexive(
        &mut self,
        host: usize,
        mapped: SocketAddr,
        server: SocketAddr,
    ) {
        if check_address(mapped).is_err() {
            return;
        }
        // RFC 8445 §5.1.3: redundant if another candidate has the same address and base.
        let base = self.locals[host].base;
        if self
            .locals
            .iter()
            .any(|l| l.cand.addr == mapped && l.base == base)
        {
            return;
        }
        let cand =
            self.derived_candidate(host, CandidateKind::ServerReflexive, mapped, server, base);
        self.add_local(cand, base, None);
    }

    pub(super) fn start_gather(&mut self, now: Instant) -> bool {
        if !self.gather_requested {
            return false;
        }
        let Some(g) = self.gathers.iter().position(|g| !g.started) else {
            return false;
        };
        self.gathers[g].started = true;
        let route = Route::udp(
            self.locals[self.gathers[g].host].base,
            self.gathers[g].server,
        );
        self.stats.gathering_requests_sent += 1;
        let rto = self.cfg.gathering_rto;
        self.start_transaction(now, TxKind::Gather { gather: g }, route, 0, rto);
        true
    }
}
