//! What arrives from the server: responses, Data indications (RFC 8656 §11.4) and ChannelData
//! (§12.5).

use std::net::SocketAddr;
use std::time::Instant;

use crate::stun::{Attribute, Class, Message, Method};

use super::{TurnClient, TurnDrop, TurnReceived, decode_channel_data, looks_like_channel_data};

/// The methods of RFC 8656; anything else from the server (Binding) is not the client's.
fn is_turn_method(m: Method) -> bool {
    matches!(
        m,
        Method::ALLOCATE
            | Method::REFRESH
            | Method::SEND
            | Method::DATA
            | Method::CREATE_PERMISSION
            | Method::CHANNEL_BIND
    )
}

impl TurnClient {
    /// Takes a datagram that arrived on the base from `from`. Bytes from any other address
    /// than the server, and STUN messages of other methods, are [`TurnReceived::NotForUs`];
    /// everything else is consumed, handed back as peer data, or dropped and counted. Never
    /// panics, whatever the bytes.
    pub fn handle_receive<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &'a [u8],
    ) -> TurnReceived<'a> {
        if from != self.server {
            return TurnReceived::NotForUs;
        }
        let r = if looks_like_channel_data(data) {
            self.channel_data(data)
        } else {
            self.stun(now, data)
        };
        if let TurnReceived::Dropped(why) = r {
            let s = &mut self.stats;
            *match why {
                TurnDrop::Malformed => &mut s.dropped_malformed,
                TurnDrop::NoPermission => &mut s.dropped_no_permission,
                TurnDrop::UnknownChannel => &mut s.dropped_unknown_channel,
                TurnDrop::UnknownTransaction => &mut s.dropped_unknown_transaction,
                TurnDrop::BadIntegrity => &mut s.dropped_bad_integrity,
                TurnDrop::Unexpected => &mut s.dropped_unexpected,
            } += 1;
        }
        r
    }

    /// RFC 8656 §12.5: ChannelData on a bound channel is data from its peer.
    fn channel_data<'a>(&mut self, data: &'a [u8]) -> TurnReceived<'a> {
        let Some((number, payload)) = decode_channel_data(data) else {
            return TurnReceived::Dropped(TurnDrop::Malformed);
        };
        match self.channels.iter().find(|c| c.number == number && c.bound) {
            Some(c) => {
                self.stats.channel_data_received += 1;
                TurnReceived::Data {
                    peer: c.peer,
                    data: payload,
                }
            }
            None => TurnReceived::Dropped(TurnDrop::UnknownChannel),
        }
    }

    fn stun<'a>(&mut self, now: Instant, data: &'a [u8]) -> TurnReceived<'a> {
        let msg = match Message::decode(data) {
            Ok(m) => m,
            Err(_) => {
                return match Message::peek_header(data) {
                    Some((_, m, _)) if !is_turn_method(m) => TurnReceived::NotForUs,
                    _ => TurnReceived::Dropped(TurnDrop::Malformed),
                };
            }
        };
        if !is_turn_method(msg.method()) {
            return TurnReceived::NotForUs;
        }
        match msg.class() {
            Class::Indication if msg.method() == Method::DATA => self.data_indication(now, &msg),
            Class::Success | Class::Error => match self.transaction(msg.transaction_id()) {
                Some(i) if msg.method() == self.tx_method(i) => {
                    if self.on_response(now, i, &msg) {
                        TurnReceived::Consumed
                    } else {
                        TurnReceived::Dropped(TurnDrop::BadIntegrity)
                    }
                }
                _ => TurnReceived::Dropped(TurnDrop::UnknownTransaction),
            },
            _ => TurnReceived::Dropped(TurnDrop::Unexpected),
        }
    }

    /// RFC 8656 §11.4: XOR-PEER-ADDRESS and DATA, from a peer with a permission.
    fn data_indication<'a>(&mut self, now: Instant, msg: &Message<'a>) -> TurnReceived<'a> {
        let (mut peer, mut payload) = (None, None);
        for a in msg.attributes() {
            match a {
                Attribute::XorPeerAddress(p) if peer.is_none() => peer = Some(p),
                Attribute::Data(d) if payload.is_none() => payload = Some(d),
                _ => {}
            }
        }
        let (Some(peer), Some(data)) = (peer, payload) else {
            return TurnReceived::Dropped(TurnDrop::Malformed);
        };
        // A permission being installed counts: the server may have it before its answer
        // reaches us.
        let permitted = self
            .permission(peer.ip())
            .is_some_and(|p| p.in_flight || p.expires_at.is_some_and(|e| e > now));
        if !permitted {
            return TurnReceived::Dropped(TurnDrop::NoPermission);
        }
        self.stats.data_indications += 1;
        TurnReceived::Data { peer, data }
    }
}
