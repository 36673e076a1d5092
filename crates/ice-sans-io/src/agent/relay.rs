//! Relayed candidates (RFC 8445 §5.1.1.2, RFC 8656): one [`TurnClient`] per host candidate
//! and TURN server of its address family, driven by the agent.
//!
//! - The allocations are gathered like server-reflexive candidates: paced by Ta among the
//!   gathering requests once [`IceAgent::gather`](super::IceAgent::gather) was called, and
//!   counted for [`Event::GatheringComplete`].
//! - An allocation gives a relayed local candidate (type preference 0, RFC 8445 §5.1.1.2; its
//!   related address is the mapped address the server saw, XEP-0371 `rel-addr`), whose base is
//!   itself: it pairs with every remote candidate of its family, and its pairs are pruned only
//!   against pairs of the same base (RFC 8445 §6.1.2.4), that is never against a host pair.
//!   The XOR-MAPPED-ADDRESS of the Allocate also gives a server-reflexive candidate, as a
//!   Binding response from a STUN server would (RFC 8445 §5.1.1.2).
//! - Each pair on a relayed candidate asks for a permission for the remote IP (RFC 8656 §9);
//!   its checks wait until the permission is installed, so the first check is not lost to the
//!   server's filter. The selected pair gets a channel (RFC 8656 §12): its data travels as
//!   ChannelData, four bytes of overhead instead of a Send indication's 36.
//! - Everything that arrives from a TURN server on the base the client sends from goes through
//!   the client first: responses are its own, Data indications and ChannelData are unwrapped
//!   and taken as datagrams that arrived on the relayed candidate, and what is not for the
//!   client (a Binding response when one server does STUN and TURN) goes on to the agent.
//! - A failed allocation is an [`Event::RelayFailed`] and gathering goes on without it; a lost
//!   one fails its pairs (the agent selects another valid pair if it has one). A restart keeps
//!   the allocations (new pairs ask for the permissions they need), [`IceAgent::close`]
//!   releases them (RFC 8656 §8: a Refresh with LIFETIME 0).

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use rand_chacha::rand_core::RngCore;

use crate::candidate::{CandidateKind, Protocol};
use crate::event::{Datagram, DropReason, Event, Received};
use crate::turn::{TurnClient, TurnCredentials, TurnEvent, TurnReceived};

use super::IceAgent;
use super::out::Route;

/// A TURN server the application gave, with its credentials.
#[derive(Debug, Clone)]
pub(super) struct TurnServer {
    pub(super) addr: SocketAddr,
    pub(super) credentials: TurnCredentials,
}

/// The allocation of one host candidate on one TURN server.
#[derive(Debug)]
pub(super) struct Relay {
    /// The server as the application gave it (the client may follow a 300 to another).
    pub(super) server: SocketAddr,
    /// The host candidate's address: the socket the client sends from.
    pub(super) base: SocketAddr,
    pub(super) client: TurnClient,
    /// The Allocate went out.
    pub(super) started: bool,
    /// Allocated or failed: done for gathering.
    pub(super) done: bool,
}

impl IceAgent {
    /// A relay from host candidate `host` through `server`, unless the families differ or it
    /// exists. Not started before gathering is.
    pub(super) fn add_relay(&mut self, host: usize, server: usize) {
        let base = self.locals[host].base;
        let TurnServer { addr, credentials } = self.turn_servers[server].clone();
        if base.is_ipv4() != addr.is_ipv4()
            || self
                .relays
                .iter()
                .any(|r| r.base == base && r.server == addr)
        {
            return;
        }
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        // The username was checked by `add_turn_server`, the families just now.
        let Ok(client) = TurnClient::new(self.cfg.turn.clone(), addr, base, credentials, seed)
        else {
            return;
        };
        self.relays.push(Relay {
            server: addr,
            base,
            client,
            started: false,
            done: false,
        });
        self.gathering_complete_sent = false;
    }

    /// Sends the Allocate of the next relay not started yet (paced with the gathering
    /// requests, RFC 8445 §5.1.1.2). Returns whether one went out.
    pub(super) fn start_relay(&mut self, now: Instant) -> bool {
        if !self.gather_requested {
            return false;
        }
        // Relays closed before they started (`close`) have nothing to gather: each is done at
        // once, and the next one is tried in the same pace, so that no relay that cannot start
        // is left as work for a timer that would then be due again at once.
        while let Some(r) = self.relays.iter_mut().find(|r| !r.started) {
            r.started = true;
            if r.client.allocate(now).is_err() {
                r.done = true;
                self.maybe_gathering_complete();
                continue;
            }
            self.stats.relay_allocations += 1;
            return true;
        }
        false
    }

    /// Moves what the TURN clients have to send into the agent's queue and takes their
    /// events, until none of them has anything left (an event may make another client send).
    pub(super) fn drain_relays(&mut self, now: Instant) {
        loop {
            let mut any = false;
            for i in 0..self.relays.len() {
                while let Some(t) = self.relays[i].client.poll_transmit() {
                    any = true;
                    self.out.push_bytes(Route::udp(t.local, t.remote), t.data);
                }
                while let Some(e) = self.relays[i].client.poll_event() {
                    any = true;
                    self.relay_event(now, i, e);
                }
            }
            if !any {
                break;
            }
        }
    }

    fn relay_event(&mut self, now: Instant, i: usize, e: TurnEvent) {
        let (server, base) = (self.relays[i].server, self.relays[i].base);
        match e {
            TurnEvent::Allocated {
                relayed, mapped, ..
            } => {
                self.relays[i].done = true;
                self.events.push_back(Event::RelayAllocated {
                    server,
                    base,
                    relayed,
                });
                self.add_relayed(i, relayed, mapped);
                self.maybe_gathering_complete();
            }
            TurnEvent::AllocationFailed(reason) => {
                self.relays[i].done = true;
                self.events.push_back(Event::RelayFailed {
                    server,
                    base,
                    reason,
                });
                self.maybe_gathering_complete();
            }
            TurnEvent::AllocationLost(reason) => {
                self.events.push_back(Event::RelayFailed {
                    server,
                    base,
                    reason,
                });
                self.fail_relay_pairs(now, i, None);
            }
            TurnEvent::PermissionFailed { peer, .. } => {
                self.fail_relay_pairs(now, i, Some(peer));
            }
            // Closed while allocating (`close`): done for gathering, without a candidate.
            TurnEvent::Closed if !self.relays[i].done => {
                self.relays[i].done = true;
                self.maybe_gathering_complete();
            }
            _ => {}
        }
    }

    /// The relayed candidate of relay `i` (RFC 8445 §5.1.1.2), and the server-reflexive one
    /// its mapped address gives, paired with the remote candidates.
    fn add_relayed(&mut self, i: usize, relayed: SocketAddr, mapped: Option<SocketAddr>) {
        let (server, base) = (self.relays[i].server, self.relays[i].base);
        let Some(host) = self
            .locals
            .iter()
            .position(|l| l.is_udp_host() && l.base == base)
        else {
            return;
        };
        if let Some(m) = mapped {
            self.add_server_reflexive(host, m, server);
        }
        if self.locals.iter().any(|l| l.cand.addr == relayed) {
            return;
        }
        // XEP-0371 `rel-addr`: the mapped address (RFC 8445 §5.1.1.2), else the base.
        let related = mapped.unwrap_or(base);
        let cand = self.derived_candidate(host, CandidateKind::Relayed, relayed, server, related);
        let l = self.add_local(cand, relayed, Some(i));
        for r in 0..self.remotes.len() {
            self.form_pair(l, r);
        }
    }

    /// The pairs on relay `i` (to `peer` only, when given) fail: the allocation or the
    /// permission is gone.
    fn fail_relay_pairs(&mut self, now: Instant, i: usize, peer: Option<IpAddr>) {
        let ids: Vec<u32> = self
            .pairs
            .iter()
            .filter(|p| {
                self.locals[p.local].relay == Some(i)
                    && peer.is_none_or(|ip| self.remotes[p.remote].addr.ip() == ip)
            })
            .map(|p| p.id)
            .collect();
        for id in ids {
            self.pair_failed(now, id);
        }
    }

    /// A pair on relay `i` to `peer` was formed: RFC 8656 §9, a permission before anything is
    /// sent to it through the relay.
    pub(super) fn relay_permit(&mut self, i: usize, peer: IpAddr) {
        let Some(now) = self.last_now else { return };
        if let Some(r) = self.relays.get_mut(i)
            && r.client.create_permission(now, peer).is_err()
        {
            self.stats.relay_permissions_refused += 1;
        }
    }

    /// The selected pair goes through relay `i` to `peer`: a channel (RFC 8656 §12).
    pub(super) fn relay_bind(&mut self, now: Instant, i: usize, peer: SocketAddr) {
        if let Some(r) = self.relays.get_mut(i) {
            // Over the channel limit the data keeps going in Send indications.
            let _ = r.client.bind_channel(now, peer);
        }
    }

    /// Whether a datagram on `route` can leave now: through a relay, only to a peer with an
    /// installed permission (RFC 8656 §9).
    pub(super) fn route_ready(&self, route: Route) -> bool {
        match route {
            Route::Direct { .. } | Route::Tcp { .. } => true,
            Route::Relay { relay, peer, .. } => self.last_now.is_some_and(|now| {
                self.relays
                    .get(relay)
                    .is_some_and(|r| r.client.has_permission(now, peer.ip()))
            }),
        }
    }

    /// A datagram from a TURN server on the base its client sends from goes through the
    /// client: `None` when it is not the client's (the agent takes it as any other).
    pub(super) fn receive_from_relay<'a>(
        &mut self,
        now: Instant,
        d: &Datagram<'a>,
    ) -> Option<Received<'a>> {
        let i = self
            .relays
            .iter()
            .position(|r| r.base == d.local && r.client.server() == d.remote)?;
        match self.relays[i].client.handle_receive(now, d.remote, d.data) {
            TurnReceived::NotForUs => None,
            TurnReceived::Consumed => Some(Received::Stun),
            TurnReceived::Dropped(why) => Some(Received::Dropped(DropReason::Relay(why))),
            TurnReceived::Data { peer, data } => {
                self.stats.relayed_received += 1;
                let relayed = self.relays[i].client.relayed_address()?;
                // Taken as arriving on the relayed candidate; never through a relay again.
                Some(self.receive_direct(
                    now,
                    Datagram {
                        local: relayed,
                        remote: peer,
                        protocol: Protocol::Udp,
                        data,
                    },
                    None,
                ))
            }
        }
    }

    /// Releases every allocation (RFC 8656 §8).
    pub(super) fn close_relays(&mut self, now: Instant) {
        for r in &mut self.relays {
            r.client.close(now);
        }
        self.drain_relays(now);
    }
}

/// The TURN client a datagram on `route` leaves through, if it is relayed.
pub(super) fn client(relays: &mut [Relay], route: Route) -> Option<&mut TurnClient> {
    match route {
        Route::Relay { relay, .. } => relays.get_mut(relay).map(|r| &mut r.client),
        Route::Direct { .. } | Route::Tcp { .. } => None,
    }
}
