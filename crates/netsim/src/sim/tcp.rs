//! The TCP half of [`Sim`]: the hosts' stacks driven by commands and timers, their segments
//! routed through the NATs' RFC 5382 tables, their events handed out in the order raised.

use std::time::Instant;

use super::{Body, Dest, Fate, HostId, HostState, Owner, Proto, Sim};
use crate::nat::NatDrop;
use crate::nat_tcp::{TcpNatStats, TcpNatTable};
use crate::node::{TcpCommand, TcpConnId, TcpEvent};
use crate::tcp::{TcpPacket, TcpSegment};
use crate::tcp_stack::{MAX_EVENTS, TcpConnInfo, TcpStackStats};

/// TCP counters of the whole network ([`SimStats::tcp`](super::SimStats::tcp)); the UDP
/// fields of [`SimStats`](super::SimStats) do not count segments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimTcpStats {
    /// Segments the hosts' stacks sent.
    pub sent: u64,
    /// Segments that reached a host's stack.
    pub delivered: u64,
    /// Hops lost to the link's loss.
    pub lost: u64,
    /// Segments with no route.
    pub no_route: u64,
    /// Segments over [`MAX_IN_FLIGHT`](super::MAX_IN_FLIGHT).
    pub overflow: u64,
    /// Segments dropped by a NAT (see [`Sim::tcp_nat_stats`] for why).
    pub nat_dropped: u64,
    /// Events of a stack whose host had no node in [`Sim::step`].
    pub unclaimed_events: u64,
    /// Commands naming no host.
    pub bad_host: u64,
}

impl Sim {
    /// A command to the TCP stack of `host`, as the host's node would give it
    /// ([`crate::Node::poll_tcp`]); what it sends leaves at once, what it reports waits in
    /// [`Sim::poll_tcp_event`].
    pub fn tcp_command(&mut self, now: Instant, host: HostId, cmd: TcpCommand) {
        let Some(h) = self.hosts.get_mut(host.0) else {
            self.stats.tcp.bad_host += 1;
            return;
        };
        h.tcp.handle_command(now, cmd);
        self.flush_tcp(now, host.0);
    }

    /// The next event of a host's TCP stack, in the order the stacks raised them.
    #[must_use]
    pub fn poll_tcp_event(&mut self) -> Option<(HostId, TcpEvent)> {
        let host = self.tcp_order.pop_front()?;
        let h = self.hosts.get_mut(host.0)?;
        h.tcp_announced = h.tcp_announced.saturating_sub(1);
        h.tcp.poll_event().map(|e| (host, e))
    }

    /// The counters of the TCP stack of `host`.
    pub fn tcp_stats(&self, host: HostId) -> Option<TcpStackStats> {
        self.hosts.get(host.0).map(|h| h.tcp.stats())
    }

    /// A live connection of `host`.
    pub fn tcp_connection(&self, host: HostId, conn: TcpConnId) -> Option<TcpConnInfo> {
        self.hosts.get(host.0)?.tcp.connection(conn)
    }

    /// The TCP counters of the NAT named `name`.
    pub fn tcp_nat_stats(&self, name: &str) -> Option<TcpNatStats> {
        self.tcp_nat_table(name).map(TcpNatTable::stats)
    }

    /// The TCP translation table of the NAT named `name`.
    pub fn tcp_nat_table(&self, name: &str) -> Option<&TcpNatTable> {
        self.nats.iter().find(|n| n.name == name).map(|n| &n.tcp)
    }

    /// When the next TCP timer of a host is due.
    pub(super) fn tcp_next_timer(&self) -> Option<Instant> {
        self.hosts.iter().filter_map(|h| h.tcp.poll_timeout()).min()
    }

    /// Runs the TCP timers due at `now`, host by host.
    pub(super) fn run_tcp_timers(&mut self, now: Instant) {
        for i in 0..self.hosts.len() {
            if self.hosts[i].tcp.poll_timeout().is_some_and(|t| t <= now) {
                self.hosts[i].tcp.handle_timeout(now);
                self.flush_tcp(now, i);
            }
        }
    }

    /// Carries out what host `h`'s built-in service asks of the host's stack (a TURN server's
    /// listeners, its answers on its connections), then flushes the stack.
    pub(super) fn service_tcp_commands(&mut self, now: Instant, h: usize) {
        let Some(HostState {
            service: Some(service),
            tcp,
            ..
        }) = self.hosts.get_mut(h)
        else {
            return;
        };
        let node = service.node();
        let mut any = false;
        while let Some(cmd) = node.poll_tcp() {
            tcp.handle_command(now, cmd);
            any = true;
        }
        if any {
            self.flush_tcp(now, h);
        }
    }

    /// Hands host `h`'s built-in service, in order, the new events of the host's stack that
    /// are its own (its listeners' and connections'), leaving the others in order for the
    /// host's node; carries out the service's TCP commands and sends its datagrams.
    fn serve_tcp_events(&mut self, now: Instant, h: usize) {
        let Some(HostState {
            service: Some(service),
            tcp,
            tcp_announced,
            ..
        }) = self.hosts.get_mut(h)
        else {
            return;
        };
        let mut datagrams = Vec::new();
        let mut i = *tcp_announced;
        // Each round takes an event or passes one; a service's commands may add events (none
        // of the TURN server's do), so the rounds are bounded all the same.
        for _ in 0..2 * MAX_EVENTS {
            let Some(e) = tcp.peek_event(i) else {
                break;
            };
            if service.tcp_node_for(e).is_none() {
                i += 1;
                continue;
            }
            let Some(e) = tcp.take_event(i) else {
                break;
            };
            let node = service.node();
            node.handle_tcp(now, e);
            while let Some(cmd) = node.poll_tcp() {
                tcp.handle_command(now, cmd);
            }
            while let Some(t) = node.poll_transmit() {
                datagrams.push(t);
            }
        }
        for t in datagrams {
            self.send(now, HostId(h), t);
        }
    }

    /// Sends what host `h`'s stack queued and records the order of its new events (after its
    /// built-in service took its own).
    fn flush_tcp(&mut self, now: Instant, h: usize) {
        self.serve_tcp_events(now, h);
        let Some(host) = self.hosts.get_mut(h) else {
            return;
        };
        let pending = host.tcp.pending_events();
        for _ in host.tcp_announced..pending {
            self.tcp_order.push_back(HostId(h));
        }
        host.tcp_announced = pending;
        let mut segments = Vec::new();
        while let Some(p) = host.tcp.poll_segment() {
            segments.push(p);
        }
        for p in segments {
            self.stats.tcp.sent += 1;
            let net = self.hosts[h]
                .ips
                .iter()
                .find(|(ip, _)| *ip == p.src.ip())
                .map(|(_, net)| *net);
            match net {
                Some(net) => self.route(now, net, p.src, p.dst, Body::Tcp(p)),
                None => self.count(Proto::Tcp, Fate::NoRoute),
            }
        }
    }

    /// A segment at the end of its hop: into a host's stack, or through a NAT (RFC 5382).
    pub(super) fn arrive_tcp(&mut self, now: Instant, dest: Dest, p: TcpPacket) {
        match dest {
            Dest::Owner(Owner::Host(h)) => {
                self.count(Proto::Tcp, Fate::Delivered);
                self.hosts[h].tcp.handle_segment(now, p);
                self.flush_tcp(now, h);
            }
            Dest::Owner(Owner::NatOutside(n)) => {
                let nat = &mut self.nats[n];
                let inside = nat.inside;
                match nat.tcp.inbound(now, p.view()) {
                    Ok(seg) => self.route(now, inside, seg.src, seg.dst, Body::Tcp(p)),
                    Err(_) => self.count(Proto::Tcp, Fate::NatDropped),
                }
            }
            Dest::NatInside(n) => {
                let nat = &mut self.nats[n];
                let view = p.view();
                let result: Result<(usize, TcpSegment), NatDrop> =
                    if p.dst.ip() == nat.tcp.config().public_ip {
                        nat.tcp.hairpin(now, view).map(|s| (nat.inside, s))
                    } else {
                        nat.tcp.outbound(now, view).map(|s| (nat.outside, s))
                    };
                match result {
                    Ok((net, seg)) => self.route(now, net, seg.src, seg.dst, Body::Tcp(p)),
                    Err(_) => self.count(Proto::Tcp, Fate::NatDropped),
                }
            }
        }
    }
}
