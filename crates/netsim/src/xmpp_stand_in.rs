//! What stands for an XMPP server on the simulator: a node on the xmpp host's `port` that
//! records where datagrams come from, so that the runner learns the address the server would
//! see for each client's connection through its NATs (what XEP-0279 answers).
//!
//! On `sim` the conformance runner plays the XMPP server itself (it routes the stanzas, answers
//! disco, XEP-0279 and XEP-0215: `docs/TOPOLOGY-FORMAT.md`) and does not log in over the
//! simulator's TCP ([`crate::tcp_stack`]). A client's login is stood for by one UDP datagram: before the run, the runner sends, from each
//! agent's host, one datagram to the server's address and port (from a port of its own, as a
//! client's TCP connection has a socket of its own, not the ICE socket), whose payload names
//! the client (its JID, say: the *tag*). The datagram crosses the networks and NATs like any
//! other and creates the NAT mappings a real connection would; this node records the source it
//! arrives from with the tag, and the runner reads it back ([`XmppStandIn::seen_from`]) as the
//! address the server saw. The node answers nothing.
//!
//! Bounded and deterministic: at most [`MAX_SEEN`] distinct (source, tag) entries in arrival
//! order, tags cut at [`MAX_TAG`] bytes; a repeated entry is counted, not added, and entries
//! beyond the bound are counted in [`XmppStandInStats::dropped`].

use std::net::SocketAddr;
use std::time::Instant;

use crate::node::{Node, Transmit};

/// The most (source, tag) entries kept; more are counted and dropped.
pub const MAX_SEEN: usize = 256;

/// The most bytes of a datagram kept as its tag (a JID's localpart and domainpart fit).
pub const MAX_TAG: usize = 512;

/// A datagram's source as the server saw it, with the tag it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The source address it arrived from: a NAT's public mapping for a client behind one.
    pub from: SocketAddr,
    /// The first [`MAX_TAG`] bytes of its payload.
    pub tag: Vec<u8>,
}

/// Counters of an [`XmppStandIn`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XmppStandInStats {
    /// Datagrams that reached its port.
    pub received: u64,
    /// Datagrams whose source and tag were already recorded.
    pub repeated: u64,
    /// Datagrams not recorded because [`MAX_SEEN`] entries were already kept.
    pub dropped: u64,
}

/// The XMPP server's stand-in on one host. See the [module docs](self).
#[derive(Debug)]
pub struct XmppStandIn {
    port: u16,
    seen: Vec<Seen>,
    stats: XmppStandInStats,
}

impl XmppStandIn {
    /// A stand-in for a server listening on `port`.
    pub fn new(port: u16) -> Self {
        XmppStandIn {
            port,
            seen: Vec::new(),
            stats: XmppStandInStats::default(),
        }
    }

    /// The port it takes datagrams on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every distinct (source, tag) recorded, in order of first arrival.
    pub fn seen(&self) -> &[Seen] {
        &self.seen
    }

    /// The source the latest recorded datagram with this tag came from (a tag longer than
    /// [`MAX_TAG`] is compared by its first [`MAX_TAG`] bytes).
    pub fn seen_from(&self, tag: &[u8]) -> Option<SocketAddr> {
        let tag = &tag[..tag.len().min(MAX_TAG)];
        self.seen
            .iter()
            .rev()
            .find(|s| s.tag == tag)
            .map(|s| s.from)
    }

    /// Its counters.
    pub fn stats(&self) -> XmppStandInStats {
        self.stats
    }
}

impl Node for XmppStandIn {
    fn handle_datagram(&mut self, _now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        if to.port() != self.port {
            return;
        }
        self.stats.received += 1;
        let tag = &data[..data.len().min(MAX_TAG)];
        if self.seen.iter().any(|s| s.from == from && s.tag == tag) {
            self.stats.repeated += 1;
        } else if self.seen.len() >= MAX_SEEN {
            self.stats.dropped += 1;
        } else {
            self.seen.push(Seen {
                from,
                tag: tag.to_vec(),
            });
        }
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self) -> Option<Transmit> {
        None
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse()
            .unwrap_or_else(|_| unreachable!("a literal address"))
    }

    #[test]
    fn records_distinct_sources_bounded() {
        #[allow(clippy::disallowed_methods)] // the base of a test's virtual time
        let t = Instant::now();
        let to = addr("198.51.100.5:5222");
        let mut x = XmppStandIn::new(5222);
        x.handle_datagram(t, addr("198.51.100.10:4000"), to, b"romeo@example.org");
        x.handle_datagram(t, addr("198.51.100.10:4000"), to, b"romeo@example.org");
        x.handle_datagram(
            t,
            addr("198.51.100.10:4000"),
            addr("198.51.100.5:9"),
            b"other port",
        );
        assert_eq!(x.seen().len(), 1);
        assert_eq!(
            x.stats(),
            XmppStandInStats {
                received: 2,
                repeated: 1,
                dropped: 0
            }
        );
        for p in 0..(MAX_SEEN as u16 + 5) {
            x.handle_datagram(t, addr(&format!("198.51.100.20:{}", 10_000 + p)), to, b"j");
        }
        assert_eq!(x.seen().len(), MAX_SEEN);
        assert_eq!(x.stats().dropped, 6);
        assert_eq!(
            x.seen_from(b"romeo@example.org"),
            Some(addr("198.51.100.10:4000"))
        );
        let long = vec![b'a'; MAX_TAG + 10];
        assert_eq!(x.seen_from(&long), None);
    }
}
