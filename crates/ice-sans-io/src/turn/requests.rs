//! The client's transactions: starting and writing each request (RFC 8656 §7.1, §8.1, §9.1,
//! §12.1, signed as RFC 8489 §9.2.4 says), retransmitting (RFC 8489 §6.2.1), and acting on
//! responses and timeouts.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::stun::{
    Attribute, AttributeType, BuildError, Class, Integrity, IntegrityKey, Message, MessageBuilder,
    Method, TransactionId,
};

use super::{
    Auth, CHANNEL_LIFETIME, PERMISSION_LIFETIME, TurnClient, TurnEvent, TurnFailure, TurnState,
    later,
};

/// REQUESTED-TRANSPORT's value for UDP, the IP protocol number (RFC 8656 §18.7).
const UDP: u8 = 17;
/// Ti, the transaction timeout over a stream (RFC 8489 §6.2.2).
const STREAM_TIMEOUT: Duration = Duration::from_millis(39_500);
/// The lifetime assumed when an Allocate or Refresh success omits LIFETIME (RFC 8656 §3.2's
/// default).
const DEFAULT_LIFETIME: u32 = 600;

/// What a transaction is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TxKind {
    Allocate,
    /// LIFETIME to ask for; `Some(0)` releases the allocation.
    Refresh {
        lifetime: Option<u32>,
    },
    Permission(IpAddr),
    Channel {
        peer: SocketAddr,
        number: u16,
    },
}

impl TxKind {
    fn method(self) -> Method {
        match self {
            TxKind::Allocate => Method::ALLOCATE,
            TxKind::Refresh { .. } => Method::REFRESH,
            TxKind::Permission(_) => Method::CREATE_PERMISSION,
            TxKind::Channel { .. } => Method::CHANNEL_BIND,
        }
    }
}

/// A request in flight.
#[derive(Debug, Clone)]
pub(super) struct Tx {
    tid: TransactionId,
    pub(super) kind: TxKind,
    pub(super) next_at: Instant,
    rto: Duration,
    sent: u32,
    /// Signed with the long-term key (so its success must verify).
    signed: bool,
    /// A 438 was answered already (requests other than Allocate retry once).
    stale_retried: bool,
}

impl TurnClient {
    /// Starts a transaction: a new transaction ID, the first request.
    pub(super) fn start(&mut self, now: Instant, kind: TxKind, stale_retried: bool) {
        let rto = self.cfg.rto;
        let wait = if self.stream() { STREAM_TIMEOUT } else { rto };
        let tx = Tx {
            tid: crate::retransmit::random_tid(&mut self.rng),
            kind,
            next_at: later(now, wait),
            rto,
            sent: 1,
            signed: self.auth.is_some(),
            stale_retried,
        };
        match kind {
            TxKind::Permission(ip) => {
                if let Some(p) = self.permissions.iter_mut().find(|p| p.ip == ip) {
                    p.in_flight = true;
                }
            }
            TxKind::Channel { number, .. } => {
                if let Some(c) = self.channels.iter_mut().find(|c| c.number == number) {
                    c.in_flight = true;
                }
            }
            _ => {}
        }
        self.stats.requests_sent += 1;
        self.write_request(&tx);
        self.txs.push(tx);
    }

    /// Starts the ChannelBind and CreatePermission requests that are due, as transaction
    /// slots allow: channels first, since a ChannelBind refreshes its peer's permission too
    /// (RFC 8656 §12.1) and carries the data path of a selected pair.
    pub(super) fn pump(&mut self, now: Instant) {
        if self.state != TurnState::Allocated {
            return;
        }
        while let Some((peer, number)) = self
            .channels
            .iter()
            .find(|c| !c.in_flight && c.due <= now)
            .map(|c| (c.peer, c.number))
        {
            if !self.slot() {
                return;
            }
            self.start(now, TxKind::Channel { peer, number }, false);
        }
        while let Some(ip) = self
            .permissions
            .iter()
            .find(|p| !p.in_flight && p.due <= now)
            .map(|p| p.ip)
        {
            if !self.slot() {
                return;
            }
            self.start(now, TxKind::Permission(ip), false);
        }
    }

    fn slot(&mut self) -> bool {
        let free = self.txs.len() < self.cfg.max_transactions;
        if !free {
            self.stats.requests_deferred += 1;
        }
        free
    }

    /// RFC 8489 §6.2.1: retransmit at RTO, 2 RTO, ...; after `Rc` requests wait `Rm` times the
    /// initial RTO, then fail. Over a stream, fail after Ti (§6.2.2).
    pub(super) fn timeout_transactions(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.txs.len() {
            if self.txs[i].next_at > now {
                i += 1;
                continue;
            }
            if self.stream() || self.txs[i].sent >= self.cfg.max_requests.max(1) {
                let tx = self.txs.remove(i);
                self.failed(now, tx, TurnFailure::Timeout);
                // A failure may clear the table (a lost allocation).
                i = i.min(self.txs.len());
                continue;
            }
            let tx = &mut self.txs[i];
            tx.sent += 1;
            tx.rto = crate::retransmit::doubled(tx.rto, self.cfg.max_rto);
            let wait = if tx.sent >= self.cfg.max_requests {
                self.cfg.rto.saturating_mul(self.cfg.last_wait_factor)
            } else {
                tx.rto
            };
            tx.next_at = later(now, wait);
            let tx = tx.clone();
            self.stats.retransmissions += 1;
            self.write_request(&tx);
            i += 1;
        }
    }

    /// Writes the request of `tx` (first transmission or retransmission).
    fn write_request(&mut self, tx: &Tx) {
        let auth = if tx.signed { self.auth.as_ref() } else { None };
        let (cfg, creds, tid, kind) = (&self.cfg, &self.creds, tx.tid, tx.kind);
        let server = self.server;
        let write = |buf: &mut [u8]| -> Result<usize, BuildError> {
            let mut b = MessageBuilder::new(buf, Class::Request, kind.method(), tid)?;
            match kind {
                TxKind::Allocate => {
                    // RFC 8656 §7.1: REQUESTED-TRANSPORT, and REQUESTED-ADDRESS-FAMILY for
                    // anything but the default IPv4.
                    b.add(&Attribute::RequestedTransport(UDP))?;
                    if let Some(f) = cfg.family {
                        b.add(&Attribute::RequestedAddressFamily(f.wire_value()))?;
                    }
                    if let Some(l) = cfg.lifetime {
                        let l = u32::try_from(l.as_secs()).unwrap_or(u32::MAX);
                        b.add(&Attribute::Lifetime(l))?;
                    }
                }
                TxKind::Refresh { lifetime } => {
                    if let Some(l) = lifetime {
                        b.add(&Attribute::Lifetime(l))?;
                    }
                }
                TxKind::Permission(ip) => {
                    // RFC 8656 §9.1: the port of XOR-PEER-ADDRESS is ignored.
                    b.add(&Attribute::XorPeerAddress(SocketAddr::new(ip, 0)))?;
                }
                TxKind::Channel { peer, number } => {
                    b.add(&Attribute::ChannelNumber(number))?;
                    b.add(&Attribute::XorPeerAddress(peer))?;
                }
            }
            if let Some(s) = cfg.software {
                b.add(&Attribute::Software(s))?;
            }
            // RFC 8489 §9.2.4: USERNAME, REALM, NONCE, MESSAGE-INTEGRITY with the long-term key.
            if let Some(a) = auth {
                b.add(&Attribute::Username(&creds.username))?;
                b.add(&Attribute::Realm(&a.realm))?;
                b.add(&Attribute::Nonce(&a.nonce))?;
                b.add_integrity(&a.key)?;
            }
            b.add_fingerprint()?;
            Ok(b.finish())
        };
        self.out.push(server, write);
    }

    /// A response to the transaction at `i`.
    pub(super) fn on_response(&mut self, now: Instant, i: usize, msg: &Message<'_>) -> bool {
        let tx = &self.txs[i];
        if tx.signed
            && let Some(a) = &self.auth
        {
            // RFC 8489 §9.2.5: a success must carry a correct MESSAGE-INTEGRITY; a present but
            // wrong one is never taken.
            match (msg.verify_integrity(&a.key), msg.class()) {
                (Integrity::Bad, _) | (Integrity::Absent, Class::Success) => return false,
                _ => {}
            }
        }
        let tx = self.txs.remove(i);
        self.stats.responses += 1;
        if msg.class() == Class::Success {
            self.on_success(now, tx, msg);
            // A slot is free: what waited for one goes.
            self.pump(now);
            return true;
        }
        let Some(code) = msg.error_code().map(|e| e.code) else {
            self.failed(
                now,
                tx,
                TurnFailure::MissingAttribute(AttributeType::ERROR_CODE),
            );
            return true;
        };
        match code {
            401 => self.on_unauthenticated(now, tx, msg),
            438 => self.on_stale_nonce(now, tx, msg),
            300 if tx.kind == TxKind::Allocate => self.on_try_alternate(now, tx, msg),
            code => self.failed(now, tx, TurnFailure::from_code(code)),
        }
        true
    }

    /// RFC 8489 §9.2.5: a 401 to the unsigned first request carries REALM and NONCE; retry
    /// signed. A 401 to a signed request means the credentials are refused.
    fn on_unauthenticated(&mut self, now: Instant, tx: Tx, msg: &Message<'_>) {
        if tx.signed {
            return self.failed(now, tx, TurnFailure::Unauthenticated);
        }
        let (Some(realm), Some(nonce)) = (realm(msg), nonce(msg)) else {
            return self.failed(now, tx, TurnFailure::NoRealmOrNonce);
        };
        let key = IntegrityKey::long_term(&self.creds.username, realm, &self.creds.password);
        self.auth = Some(Auth {
            realm: realm.to_owned(),
            nonce: nonce.to_owned(),
            key,
        });
        self.start(now, tx.kind, tx.stale_retried);
    }

    /// RFC 8489 §9.2.5: 438 Stale Nonce: take the new NONCE (and REALM) and retry. Allocate
    /// retries up to `max_stale_nonce` times, any other request once.
    fn on_stale_nonce(&mut self, now: Instant, tx: Tx, msg: &Message<'_>) {
        let Some(nonce) = nonce(msg) else {
            return self.failed(now, tx, TurnFailure::StaleNonceLoop);
        };
        let retry = match tx.kind {
            TxKind::Allocate => {
                self.stale_nonces += 1;
                self.stale_nonces <= self.cfg.max_stale_nonce
            }
            _ => !tx.stale_retried,
        };
        if !retry {
            return self.failed(now, tx, TurnFailure::StaleNonceLoop);
        }
        self.stats.stale_nonces += 1;
        let realm = realm(msg)
            .map(str::to_owned)
            .or_else(|| self.auth.as_ref().map(|a| a.realm.clone()));
        let Some(realm) = realm else {
            return self.failed(now, tx, TurnFailure::NoRealmOrNonce);
        };
        let key = IntegrityKey::long_term(&self.creds.username, &realm, &self.creds.password);
        self.auth = Some(Auth {
            realm,
            nonce: nonce.to_owned(),
            key,
        });
        self.start(now, tx.kind, true);
    }

    /// RFC 8489 §10: 300 Try Alternate to an Allocate: start over, unauthenticated, with the
    /// server in ALTERNATE-SERVER, once.
    fn on_try_alternate(&mut self, now: Instant, tx: Tx, msg: &Message<'_>) {
        let alternate = match msg.get(AttributeType::ALTERNATE_SERVER) {
            Some(Attribute::AlternateServer(a)) => a,
            _ => {
                let missing = TurnFailure::MissingAttribute(AttributeType::ALTERNATE_SERVER);
                return self.failed(now, tx, missing);
            }
        };
        if self.redirected || alternate == self.server || alternate.is_ipv4() != self.base.is_ipv4()
        {
            return self.failed(now, tx, TurnFailure::TryAlternate);
        }
        self.redirected = true;
        let from = std::mem::replace(&mut self.server, alternate);
        self.events.push_back(TurnEvent::Redirected {
            from,
            to: alternate,
        });
        // The realm and nonce belonged to the other server (RFC 8489 §10).
        self.auth = None;
        self.stale_nonces = 0;
        self.start(now, TxKind::Allocate, false);
    }

    fn on_success(&mut self, now: Instant, tx: Tx, msg: &Message<'_>) {
        let lifetime = || match msg.get(AttributeType::LIFETIME) {
            Some(Attribute::Lifetime(l)) => l,
            _ => DEFAULT_LIFETIME,
        };
        match tx.kind {
            TxKind::Allocate => {
                // RFC 8656 §7.3: XOR-RELAYED-ADDRESS, LIFETIME, XOR-MAPPED-ADDRESS.
                let Some(Attribute::XorRelayedAddress(relayed)) =
                    msg.get(AttributeType::XOR_RELAYED_ADDRESS)
                else {
                    let missing = TurnFailure::MissingAttribute(AttributeType::XOR_RELAYED_ADDRESS);
                    return self.failed(now, tx, missing);
                };
                let mapped = match msg.get(AttributeType::XOR_MAPPED_ADDRESS) {
                    Some(Attribute::XorMappedAddress(m)) => Some(m),
                    _ => None,
                };
                let lifetime = Duration::from_secs(u64::from(lifetime()));
                self.state = TurnState::Allocated;
                self.relayed = Some(relayed);
                self.mapped = mapped;
                self.set_lifetime(now, lifetime);
                self.events.push_back(TurnEvent::Allocated {
                    relayed,
                    mapped,
                    lifetime,
                });
                self.pump(now);
            }
            TxKind::Refresh { lifetime: Some(0) } => self.closed(),
            TxKind::Refresh { .. } => {
                let lifetime = Duration::from_secs(u64::from(lifetime()));
                if lifetime.is_zero() {
                    return self.lost(TurnFailure::Expired);
                }
                self.set_lifetime(now, lifetime);
                self.events.push_back(TurnEvent::Refreshed { lifetime });
            }
            TxKind::Permission(ip) => self.permission_installed(now, ip),
            TxKind::Channel { peer, number } => {
                // RFC 8656 §12.1: a ChannelBind also installs or refreshes the permission.
                self.permission_installed(now, peer.ip());
                let due = self.refresh_time(now, CHANNEL_LIFETIME);
                if let Some(c) = self.channels.iter_mut().find(|c| c.number == number) {
                    c.in_flight = false;
                    c.due = due;
                    c.expires_at = Some(later(now, CHANNEL_LIFETIME));
                    if !c.bound {
                        c.bound = true;
                        let channel = c.number;
                        self.events
                            .push_back(TurnEvent::ChannelBound { peer, channel });
                    }
                }
            }
        }
    }

    fn set_lifetime(&mut self, now: Instant, lifetime: Duration) {
        self.lifetime = lifetime;
        self.expires_at = Some(later(now, lifetime));
        self.refresh_at = Some(self.refresh_time(now, lifetime));
    }

    fn permission_installed(&mut self, now: Instant, ip: IpAddr) {
        let due = self.refresh_time(now, PERMISSION_LIFETIME);
        let Some(p) = self.permissions.iter_mut().find(|p| p.ip == ip) else {
            return;
        };
        let first = p.expires_at.is_none();
        p.expires_at = Some(later(now, PERMISSION_LIFETIME));
        // A ChannelBind's success does not end a CreatePermission in flight.
        if !self.txs.iter().any(|t| t.kind == TxKind::Permission(ip)) {
            p.in_flight = false;
            p.due = due;
        }
        if first {
            self.events
                .push_back(TurnEvent::PermissionCreated { peer: ip });
        }
    }

    /// The transaction `tx` failed for `reason`.
    pub(super) fn failed(&mut self, now: Instant, tx: Tx, reason: TurnFailure) {
        match tx.kind {
            TxKind::Allocate => {
                self.state = TurnState::Failed;
                self.auth = None;
                self.events.push_back(TurnEvent::AllocationFailed(reason));
            }
            TxKind::Refresh { lifetime: Some(0) } => self.closed(),
            TxKind::Refresh { .. } => self.lost(reason),
            TxKind::Permission(peer) => {
                self.permissions.retain(|p| p.ip != peer);
                self.events
                    .push_back(TurnEvent::PermissionFailed { peer, reason });
            }
            TxKind::Channel { peer, number } => {
                self.channels.retain(|c| c.number != number);
                self.events.push_back(TurnEvent::ChannelFailed {
                    peer,
                    channel: number,
                    reason,
                });
            }
        }
        self.pump(now);
    }

    /// The method of the transaction at `i`.
    pub(super) fn tx_method(&self, i: usize) -> Method {
        self.txs[i].kind.method()
    }

    /// The index of the transaction `tid`.
    pub(super) fn transaction(&self, tid: TransactionId) -> Option<usize> {
        self.txs.iter().position(|t| t.tid == tid)
    }
}

fn realm<'a>(msg: &Message<'a>) -> Option<&'a str> {
    match msg.get(AttributeType::REALM)? {
        Attribute::Realm(r) => Some(r),
        _ => None,
    }
}

fn nonce<'a>(msg: &Message<'a>) -> Option<&'a str> {
    match msg.get(AttributeType::NONCE)? {
        Attribute::Nonce(n) => Some(n),
        _ => None,
    }
}
