//! The data path (RFC 8656 §11, §12): Send indications and ChannelData from a client to its
//! peers, datagrams from peers to the client as Data indications or ChannelData.

use std::net::SocketAddr;
use std::time::Instant;

use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::{FiveTuple, TurnServer, Via};
use crate::stun_wire::{self as wire, Builder};

/// The most data a Data indication carries: 65 532 bytes of attributes (RFC 8489 §5) less
/// XOR-PEER-ADDRESS of an IPv6 peer (24) and DATA's header (4).
const MAX_DATA_INDICATION: usize = 65_532 - 24 - 4;

impl TurnServer {
    /// A Send indication (RFC 8656 §11.2) or ChannelData (§12.4) from a client.
    pub(super) fn relay_out(
        &mut self,
        now: Instant,
        five: FiveTuple,
        peer: Option<SocketAddr>,
        data: &[u8],
    ) {
        let Some(a) = self.allocations.get(&five) else {
            self.stats.dropped += 1;
            return;
        };
        match peer {
            Some(peer) if a.permitted(now, peer.ip()) => {
                let from = a.relayed;
                self.stats.relayed_to_peer += 1;
                self.push(from, peer, data.to_vec());
            }
            _ => self.stats.no_permission += 1,
        }
    }

    /// A datagram from a peer to a relayed address (RFC 8656 §11.3, §12.5).
    pub(super) fn relay_in(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        relayed: SocketAddr,
        data: &[u8],
    ) {
        let Some(five) = self.relays.get(&relayed).copied() else {
            self.stats.dropped += 1;
            return;
        };
        let Some(a) = self.allocations.get(&five) else {
            self.stats.dropped += 1;
            return;
        };
        if !a.permitted(now, peer.ip()) {
            self.stats.no_permission += 1;
            return;
        }
        let out = match a.channels.iter().find(|(_, (p, _))| *p == peer) {
            Some((number, _)) => {
                let Ok(len) = u16::try_from(data.len()) else {
                    self.stats.dropped += 1;
                    return;
                };
                let mut out = Vec::with_capacity(4 + data.len());
                out.extend_from_slice(&number.to_be_bytes());
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(data);
                if let Via::Stream(_) = five.via {
                    // RFC 8656 §12.5: over TCP "the ChannelData message MUST be padded to a
                    // multiple of four bytes"; the length field does not count the padding.
                    out.resize(out.len().next_multiple_of(4), 0);
                }
                out
            }
            None if data.len() > MAX_DATA_INDICATION => {
                // The message's length field could not hold it (RFC 8489 §5: 16 bits, a
                // multiple of 4); on a stream a wrong length would misalign every later frame.
                self.stats.dropped += 1;
                return;
            }
            None => wire::finish_plain(
                Builder::new(wire::DATA, wire::INDICATION, self.txid_for(peer, data))
                    .xor_address(wire::ATTR_XOR_PEER_ADDRESS, peer)
                    .attr(wire::ATTR_DATA, data),
            ),
        };
        self.stats.relayed_to_client += 1;
        self.reply(five, out);
    }

    /// A Data indication's transaction id: deterministic (a hash of what it carries under the
    /// seed's key); RFC 8489 §6 asks only that it be unlikely to repeat.
    fn txid_for(&self, peer: SocketAddr, data: &[u8]) -> [u8; 12] {
        let mut txid = [0u8; 12];
        if let Ok(mut m) = Hmac::<Sha1>::new_from_slice(&self.nonce_key) {
            m.update(b"data");
            m.update(peer.to_string().as_bytes());
            m.update(data);
            txid.copy_from_slice(&m.finalize().into_bytes()[..12]);
        }
        txid
    }
}
