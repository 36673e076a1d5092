//! An allocation's state (RFC 8656 §5): its relayed address, lifetime, permissions and
//! channels; how lifetimes are granted, relayed ports chosen and expired state removed.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::{DEFAULT_LIFETIME, FiveTuple, MAX_ALLOCATIONS, TurnServer, Via};

#[derive(Debug)]
pub(super) struct Allocation {
    pub(super) relayed: SocketAddr,
    pub(super) expires: Instant,
    pub(super) username: String,
    pub(super) allocate_txid: [u8; 12],
    pub(super) allocate_response: Vec<u8>,
    pub(super) permissions: BTreeMap<IpAddr, Instant>,
    /// Channel number to (peer, expiry).
    pub(super) channels: BTreeMap<u16, (SocketAddr, Instant)>,
}

impl Allocation {
    pub(super) fn permitted(&self, now: Instant, peer: IpAddr) -> bool {
        self.permissions.get(&peer).is_some_and(|&t| t > now)
    }
}

impl TurnServer {
    /// Removes what expired by `now`.
    pub(super) fn expire(&mut self, now: Instant) {
        let ended: Vec<_> = self
            .allocations
            .iter()
            .filter(|(_, a)| a.expires <= now)
            .map(|(k, _)| *k)
            .collect();
        for k in ended {
            self.end(k);
        }
        for a in self.allocations.values_mut() {
            a.permissions.retain(|_, t| *t > now);
            a.channels.retain(|_, (_, t)| *t > now);
        }
    }

    /// Removes the allocation of `five` (expired, deleted by a Refresh with LIFETIME 0, or its
    /// connection ended).
    pub(super) fn end(&mut self, five: FiveTuple) {
        if let Some(a) = self.allocations.remove(&five) {
            self.relays.remove(&a.relayed);
            self.stats.allocations_ended += 1;
        }
    }

    /// Removes the allocation of a connection that ended (RFC 8656 §3.1: over TCP the
    /// allocation lives as long as its connection; coturn deletes it then too).
    pub(super) fn end_stream(&mut self, five: FiveTuple) {
        debug_assert!(matches!(five.via, Via::Stream(_)));
        if self.allocations.contains_key(&five) {
            self.end(five);
            self.stats.tcp.allocations_closed += 1;
        }
    }

    /// The lifetime granted for a request's LIFETIME (RFC 8656 §7.2, capped by the maximum).
    pub(super) fn lifetime(&self, requested: Option<u32>) -> Duration {
        let max = self.config.max_lifetime;
        let default = DEFAULT_LIFETIME.min(max);
        requested.map_or(default, |s| {
            Duration::from_secs(u64::from(s)).min(max).max(default)
        })
    }

    /// A free relayed port, taken in order from the range.
    pub(super) fn relay_port(&mut self, ip: IpAddr) -> Option<u16> {
        let range = self.config.relay_ports.clone();
        let span = usize::from(range.end() - range.start()) + 1;
        for _ in 0..span.min(MAX_ALLOCATIONS + 1) {
            let port = self.next_port;
            self.next_port = if port >= *range.end() {
                *range.start()
            } else {
                port + 1
            };
            if port != self.config.port && !self.relays.contains_key(&SocketAddr::new(ip, port)) {
                return Some(port);
            }
        }
        None
    }

    /// The next expiry, if anything is alive.
    pub(super) fn next_expiry(&self) -> Option<Instant> {
        self.allocations
            .values()
            .flat_map(|a| {
                std::iter::once(a.expires)
                    .chain(a.permissions.values().copied())
                    .chain(a.channels.values().map(|(_, t)| *t))
            })
            .min()
    }
}
