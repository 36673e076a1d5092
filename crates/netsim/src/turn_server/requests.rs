//! The requests of a client (RFC 8656 §7 to §12): Allocate, Refresh, CreatePermission and
//! ChannelBind, after the credential checks.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::allocation::Allocation;
use super::auth::Auth;
use super::{
    CHANNEL_LIFETIME, FiveTuple, MAX_ALLOCATIONS, MAX_CHANNELS, MAX_PERMISSIONS,
    PERMISSION_LIFETIME, TurnServer, Via, secs,
};
use crate::stun_wire::{self as wire, Builder, Message};

impl TurnServer {
    pub(super) fn handle_request(&mut self, now: Instant, m: &Message<'_>, five: FiveTuple) {
        let unknown = m.unknown_required();
        if let (wire::ALLOCATE, Some(alternate), None) = (
            m.method,
            self.config.alternate,
            m.attr(wire::ATTR_MESSAGE_INTEGRITY),
        ) {
            // RFC 8489 §10 lets the 300 go unauthenticated; coturn 4.6.1 answers the first,
            // unsigned Allocate so, and so does this server (a signed one gets a signed 300).
            self.stats.redirected += 1;
            let r = Builder::new(m.method, wire::ERROR, m.txid)
                .error(300, "Try Alternate")
                .address(wire::ATTR_ALTERNATE_SERVER, alternate)
                .finish(None);
            return self.reply(five, r);
        }
        let auth = self.authenticate(now, m, five.client);
        let (username, key) = match auth {
            Auth::Ok { username, key } => (username, key),
            Auth::Refused(r) => return self.reply(five, r),
        };
        if !unknown.is_empty() {
            let list: Vec<u8> = unknown.iter().flat_map(|t| t.to_be_bytes()).collect();
            self.stats.errors += 1;
            let r = Builder::new(m.method, wire::ERROR, m.txid)
                .error(420, "Unknown Attribute")
                .attr(wire::ATTR_UNKNOWN_ATTRIBUTES, &list)
                .finish(Some(&key));
            return self.reply(five, r);
        }
        // RFC 8656 §5: requests on an existing allocation must come from its user (441).
        if let Some(a) = self.allocations.get(&five) {
            if a.username != username {
                let r = self.error(m, &key, 441, "Wrong Credentials");
                return self.reply(five, r);
            }
        }
        let response = match m.method {
            wire::ALLOCATE => self.allocate(now, m, five, username, key),
            wire::REFRESH => self.refresh(now, m, five, &key),
            wire::CREATE_PERMISSION | wire::CHANNEL_BIND => self.permit(now, m, five, &key),
            _ => self.error(m, &key, 400, "Bad Request"),
        };
        self.reply(five, response);
    }

    fn allocate(
        &mut self,
        now: Instant,
        m: &Message<'_>,
        five: FiveTuple,
        username: String,
        key: [u8; 16],
    ) -> Vec<u8> {
        if let Some(a) = self.allocations.get(&five) {
            // RFC 8656 §7.2: a retransmission gets the same answer; anything else is 437.
            if a.allocate_txid == m.txid {
                return a.allocate_response.clone();
            }
            return self.error(m, &key, 437, "Allocation Mismatch");
        }
        match m.attr(wire::ATTR_REQUESTED_TRANSPORT) {
            None => return self.error(m, &key, 400, "Bad Request"),
            Some(v) if v.first() != Some(&17) => {
                return self.error(m, &key, 442, "Unsupported Transport Protocol");
            }
            Some(_) => {}
        }
        if let Some(alternate) = self.config.alternate {
            self.stats.redirected += 1;
            return Builder::new(m.method, wire::ERROR, m.txid)
                .error(300, "Try Alternate")
                .address(wire::ATTR_ALTERNATE_SERVER, alternate)
                .finish(Some(&key));
        }
        let v6 = match m.attr(wire::ATTR_REQUESTED_ADDRESS_FAMILY) {
            None => false,
            Some([0x01, ..]) => false,
            Some([0x02, ..]) => true,
            Some(_) => return self.error(m, &key, 440, "Address Family not Supported"),
        };
        let Some(ip) = self
            .config
            .relay_ips
            .iter()
            .copied()
            .find(|ip| ip.is_ipv6() == v6)
        else {
            return self.error(m, &key, 440, "Address Family not Supported");
        };
        if self.allocations.len() >= MAX_ALLOCATIONS {
            return self.error(m, &key, 486, "Allocation Quota Reached");
        }
        let Some(port) = self.relay_port(ip) else {
            return self.error(m, &key, 508, "Insufficient Capacity");
        };
        let relayed = SocketAddr::new(ip, port);
        let lifetime = self.lifetime(m.u32(wire::ATTR_LIFETIME));
        let response = Builder::new(m.method, wire::SUCCESS, m.txid)
            .xor_address(wire::ATTR_XOR_RELAYED_ADDRESS, relayed)
            .attr(wire::ATTR_LIFETIME, &secs(lifetime))
            .xor_address(wire::ATTR_XOR_MAPPED_ADDRESS, five.client)
            .finish(Some(&key));
        self.stats.allocations += 1;
        if let Via::Stream(_) = five.via {
            self.stats.tcp.allocations += 1;
        }
        self.relays.insert(relayed, five);
        self.allocations.insert(
            five,
            Allocation {
                relayed,
                expires: now + lifetime,
                username,
                allocate_txid: m.txid,
                allocate_response: response.clone(),
                permissions: BTreeMap::new(),
                channels: BTreeMap::new(),
            },
        );
        response
    }

    fn refresh(&mut self, now: Instant, m: &Message<'_>, five: FiveTuple, key: &[u8]) -> Vec<u8> {
        let requested = m.u32(wire::ATTR_LIFETIME);
        let lifetime = if requested == Some(0) {
            Duration::ZERO
        } else {
            self.lifetime(requested)
        };
        let Some(a) = self.allocations.get_mut(&five) else {
            return self.error(m, key, 437, "Allocation Mismatch");
        };
        if lifetime.is_zero() {
            self.end(five);
        } else {
            a.expires = now + lifetime;
            self.stats.refreshes += 1;
        }
        Builder::new(m.method, wire::SUCCESS, m.txid)
            .attr(wire::ATTR_LIFETIME, &secs(lifetime))
            .finish(Some(key))
    }

    /// CreatePermission (RFC 8656 §10) and ChannelBind (§12.2), which installs a permission too.
    fn permit(&mut self, now: Instant, m: &Message<'_>, five: FiveTuple, key: &[u8]) -> Vec<u8> {
        let peers: Option<Vec<SocketAddr>> = m
            .attrs(wire::ATTR_XOR_PEER_ADDRESS)
            .map(|v| Message::xor_address(v, &m.txid))
            .collect();
        let Some(a) = self.allocations.get(&five) else {
            return self.error(m, key, 437, "Allocation Mismatch");
        };
        let Some(peers) = peers.filter(|p| !p.is_empty() && p.len() <= MAX_PERMISSIONS) else {
            return self.error(m, key, 400, "Bad Request");
        };
        if peers.iter().any(|p| p.is_ipv4() != a.relayed.is_ipv4()) {
            return self.error(m, key, 443, "Peer Address Family Mismatch");
        }
        let fresh = peers
            .iter()
            .filter(|p| !a.permissions.contains_key(&p.ip()))
            .count();
        if a.permissions.len() + fresh > MAX_PERMISSIONS {
            return self.error(m, key, 508, "Insufficient Capacity");
        }
        let mut bind = None;
        if m.method == wire::CHANNEL_BIND {
            let number = m
                .attr(wire::ATTR_CHANNEL_NUMBER)
                .and_then(|v| Some(u16::from_be_bytes([*v.first()?, *v.get(1)?])));
            let peer = peers[0];
            let ok = number
                .filter(|n| (0x4000..=0x4FFF).contains(n))
                .filter(|n| {
                    // The channel is free or bound to this peer; the peer has no other channel.
                    a.channels.get(n).is_none_or(|(p, _)| *p == peer)
                        && a.channels.iter().all(|(c, (p, _))| c == n || *p != peer)
                });
            let Some(number) = ok.filter(|_| peers.len() == 1) else {
                return self.error(m, key, 400, "Bad Request");
            };
            if !a.channels.contains_key(&number) && a.channels.len() >= MAX_CHANNELS {
                return self.error(m, key, 508, "Insufficient Capacity");
            }
            bind = Some((number, peer));
        }
        // Looked up above; `get` and `self.error` borrowed it shared until here.
        let Some(a) = self.allocations.get_mut(&five) else {
            return self.error(m, key, 437, "Allocation Mismatch");
        };
        if let Some((number, peer)) = bind {
            a.channels.insert(number, (peer, now + CHANNEL_LIFETIME));
            self.stats.channel_binds += 1;
        }
        for p in &peers {
            a.permissions.insert(p.ip(), now + PERMISSION_LIFETIME);
            self.stats.permissions += 1;
        }
        Builder::new(m.method, wire::SUCCESS, m.txid).finish(Some(key))
    }
}
