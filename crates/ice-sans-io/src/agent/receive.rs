//! Receiving: demultiplexing a datagram (RFC 7983), answering checks (RFC 8445 §7.3), checks
//! that arrive before the remote credentials, peer-reflexive candidates learned from checks
//! and responses, role conflicts, and responses to our requests (RFC 8445 §7.2.5).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::candidate::{Candidate, CandidateKind, MAX_CREDENTIAL_LEN, TcpType};
use crate::event::{Datagram, DropReason, Event, Received};
use crate::role::Role;
use crate::stun::{
    Attribute, Class, ErrorCode, Fingerprint, Integrity, IntegrityKey, Message, MessageBuilder,
    Method, TransactionId, UnknownAttributes,
};
use crate::transmit::ConnectionId;

use super::IceAgent;
use super::checklist::Triggered;
use super::local::Local;
use super::out::Route;
use super::transaction::{Transaction, TxKind};

/// A check that arrived before the remote credentials it names (RFC 8445 §7.3.1).
#[derive(Debug, Clone)]
pub(super) struct EarlyCheck {
    pub(super) local: usize,
    pub(super) remote: SocketAddr,
    pub(super) remote_ufrag: String,
    pub(super) priority: u32,
    pub(super) use_candidate: bool,
    /// The TCP connection it arrived on (`None` for UDP).
    pub(super) conn: Option<ConnectionId>,
}

impl IceAgent {
    pub(super) fn receive<'a>(&mut self, now: Instant, d: Datagram<'a>) -> Received<'a> {
        // From a TURN server on a relay's base: its client's first (ChannelData would pass for
        // application data below, RFC 7983).
        if let Some(r) = self.receive_from_relay(now, &d) {
            return r;
        }
        self.receive_direct(now, d, None)
    }

    /// A datagram that arrived on a base: a host candidate's socket, or a relayed candidate
    /// (unwrapped by its TURN client), or a frame on TCP connection `conn` (RFC 6544 §3: each
    /// frame is taken as a datagram on the connection).
    pub(super) fn receive_direct<'a>(
        &mut self,
        now: Instant,
        d: Datagram<'a>,
        conn: Option<ConnectionId>,
    ) -> Received<'a> {
        // RFC 7983 §7: first byte 0..=3 is STUN; anything else goes to the application.
        match d.data.first() {
            Some(0..=3) => {}
            Some(_) => return self.app_data(d, conn),
            None => return Received::Dropped(DropReason::Malformed),
        }
        let local = match conn {
            Some(c) => self.tcp_local_of(c),
            None => self.locals.iter().position(|l| l.is_udp_base_at(d.local)),
        };
        let Some(local) = local else {
            return Received::Dropped(DropReason::UnknownLocalAddress);
        };
        let msg = match Message::decode(d.data) {
            Ok(m) => m,
            Err(_) => {
                // RFC 8489 §6.3: a malformed request gets a 400 when its header can be read.
                if let Some((Class::Request, Method::BINDING, tid)) = Message::peek_header(d.data) {
                    self.push_error(
                        self.reply_route(&d, conn),
                        tid,
                        ErrorCode::BAD_REQUEST,
                        None,
                        None,
                    );
                }
                return Received::Dropped(DropReason::Malformed);
            }
        };
        if let Fingerprint::Bad { .. } = msg.fingerprint() {
            return Received::Dropped(DropReason::BadFingerprint);
        }
        if msg.method() != Method::BINDING || msg.is_rfc3489() {
            return Received::Dropped(DropReason::Unhandled);
        }
        match msg.class() {
            Class::Request => self.answer_check(now, local, d, conn, &msg),
            // RFC 8445 §11: keepalives need no answer.
            Class::Indication => Received::Stun,
            Class::Success | Class::Error => self.handle_response(now, d, conn, &msg),
        }
    }

    pub(super) fn app_data<'a>(&self, d: Datagram<'a>, conn: Option<ConnectionId>) -> Received<'a> {
        let on_pair = self.pairs.iter().find(|p| {
            p.is_valid()
                && self
                    .pair_route(p)
                    .is_some_and(|r| r.is_reverse_of(d.local, d.remote, conn))
        });
        if let Some(p) = on_pair {
            return Received::Data {
                component: p.component,
                data: d.data,
            };
        }
        if let Some(old) = &self.old
            && let Some(p) = old
                .pairs
                .iter()
                .find(|p| p.route.is_reverse_of(d.local, d.remote, conn))
        {
            return Received::Data {
                component: p.component,
                data: d.data,
            };
        }
        Received::Dropped(DropReason::UnknownPeer)
    }

    /// Counts a dropped datagram or frame in the stats, by its reason.
    pub(super) fn count_drop(&mut self, why: DropReason) {
        let s = &mut self.stats;
        match why {
            DropReason::Malformed => s.dropped_malformed += 1,
            DropReason::BadFingerprint => s.dropped_malformed += 1,
            DropReason::Unauthenticated => s.dropped_unauthenticated += 1,
            DropReason::Refused => s.refused += 1,
            DropReason::UnknownTransaction => s.dropped_unknown_transaction += 1,
            DropReason::UnknownLocalAddress | DropReason::UnknownPeer => {
                s.dropped_unknown_address += 1
            }
            DropReason::Unhandled => s.dropped_unhandled += 1,
            DropReason::Relay(_) => s.dropped_relay += 1,
            // Counted where they are found (`handle_stream`).
            DropReason::UnknownConnection | DropReason::BadStream => {}
            DropReason::TcpDatagram => s.dropped_tcp_datagrams += 1,
        }
    }

    pub(super) fn push_error(
        &mut self,
        route: Route,
        tid: TransactionId,
        code: ErrorCode<'static>,
        key: Option<IntegrityKey>,
        unknown: Option<&[u8]>,
    ) {
        self.out.push(route, |buf| {
            let mut b = MessageBuilder::new(buf, Class::Error, Method::BINDING, tid)?;
            b.add(&Attribute::ErrorCode(code))?;
            if let Some(u) = unknown.and_then(UnknownAttributes::from_bytes) {
                b.add(&Attribute::UnknownAttributes(u))?;
            }
            if let Some(k) = &key {
                b.add_integrity(k)?;
            }
            b.add_fingerprint()?;
            Ok(b.finish())
        });
    }

    /// Answers a request with an error (signed with `key` when the request was authenticated)
    /// and drops it.
    pub(super) fn refuse<'a>(
        &mut self,
        d: &Datagram<'_>,
        conn: Option<ConnectionId>,
        tid: TransactionId,
        code: ErrorCode<'static>,
        key: Option<IntegrityKey>,
        unknown: &[u8],
    ) -> Received<'a> {
        let unknown = (!unknown.is_empty()).then_some(unknown);
        self.push_error(self.reply_route(d, conn), tid, code, key, unknown);
        Received::Dropped(if code.code == 401 {
            DropReason::Unauthenticated
        } else {
            DropReason::Refused
        })
    }

    /// RFC 8445 §7.3: answering a connectivity check.
    pub(super) fn answer_check<'a>(
        &mut self,
        now: Instant,
        local: usize,
        d: Datagram<'a>,
        conn: Option<ConnectionId>,
        msg: &Message<'_>,
    ) -> Received<'a> {
        let tid = msg.transaction_id();
        // RFC 8489 §9.1.3: without USERNAME and MESSAGE-INTEGRITY, 400.
        let (Some(username), true) = (msg.username(), msg.has_integrity()) else {
            return self.refuse(&d, conn, tid, ErrorCode::BAD_REQUEST, None, &[]);
        };
        // XEP-0371 §5.6 fn. 33, RFC 8445 §7.2.2: USERNAME is `our-ufrag:their-ufrag`.
        let (ours, theirs) = username.split_once(':').unwrap_or((username, ""));
        let old_gen = ours != self.local_creds.ufrag;
        let key = if !old_gen {
            Some(self.local_creds.key.clone())
        } else {
            let old = self.old.as_ref().filter(|o| o.local.ufrag == ours);
            old.map(|o| o.local.key.clone())
        };
        // RFC 8489 §9.1.3: an unknown username or a bad MESSAGE-INTEGRITY, 401 unsigned.
        let Some(key) = key.filter(|k| msg.verify_integrity(k) == Integrity::Ok) else {
            return self.refuse(&d, conn, tid, ErrorCode::UNAUTHENTICATED, None, &[]);
        };
        // RFC 8489 §6.3.1: unknown comprehension-required attributes, 420.
        let mut unknown = [0u8; 32];
        let mut n = 0;
        for t in msg.unknown_comprehension_required() {
            if n + 2 <= unknown.len() {
                unknown[n..n + 2].copy_from_slice(&t.0.to_be_bytes());
                n += 2;
            }
        }
        if n > 0 {
            return self.refuse(
                &d,
                conn,
                tid,
                ErrorCode::UNKNOWN_ATTRIBUTE,
                Some(key),
                &unknown[..n],
            );
        }
        // RFC 8445 §7.1.1: PRIORITY and one of ICE-CONTROLLING / ICE-CONTROLLED are required.
        let (Some(prio), controlling, controlled) =
            (msg.priority(), msg.ice_controlling(), msg.ice_controlled())
        else {
            return self.refuse(&d, conn, tid, ErrorCode::BAD_REQUEST, Some(key), &[]);
        };
        if controlling.is_none() && controlled.is_none() {
            return self.refuse(&d, conn, tid, ErrorCode::BAD_REQUEST, Some(key), &[]);
        }
        // RFC 8445 §7.3.1.1: role conflicts. We answer 487 when we keep our role; we switch
        // when the peer's tie-breaker wins (controlling) or ours does (controlled).
        if !old_gen {
            let conflict = match (self.role, controlling, controlled) {
                (Role::Controlling, Some(theirs), _) => Some(self.tie_breaker >= theirs),
                (Role::Controlled, None, Some(theirs)) => Some(self.tie_breaker < theirs),
                _ => None,
            };
            match conflict {
                Some(true) => {
                    return self.refuse(&d, conn, tid, ErrorCode::ROLE_CONFLICT, Some(key), &[]);
                }
                Some(false) => self.switch_role(),
                None => {}
            }
        }
        // RFC 8445 §7.3.1.2: success with XOR-MAPPED-ADDRESS, signed with our password.
        let remote = d.remote;
        let route = self.reply_route(&d, conn);
        self.out.push(route, |buf| {
            let mut b = MessageBuilder::new(buf, Class::Success, Method::BINDING, tid)?;
            b.add(&Attribute::XorMappedAddress(remote))?;
            b.add_integrity(&key)?;
            b.add_fingerprint()?;
            Ok(b.finish())
        });
        self.stats.checks_received += 1;
        if old_gen {
            return Received::Stun;
        }
        let use_candidate = msg.use_candidate();
        match &self.remote_creds {
            Some(r) if r.ufrag == theirs => {
                self.learn_from_check(now, local, remote, prio, use_candidate, conn);
            }
            _ => {
                // RFC 8445 §7.3.1 / RFC 8838 §7: remembered until the credentials arrive.
                if let Some(e) = self.early.iter_mut().find(|e| {
                    e.local == local
                        && e.remote == remote
                        && e.conn == conn
                        && e.remote_ufrag == theirs
                }) {
                    // A repeat on the same pair (the controlling peer's nomination, say, sent
                    // once its first check succeeded) must not lose its USE-CANDIDATE: §7.3.1
                    // applies §7.3.1.5 to every check received before the credentials.
                    e.use_candidate |= use_candidate;
                    e.priority = prio;
                } else if self.early.len() < self.cfg.max_early_checks
                    && theirs.len() <= MAX_CREDENTIAL_LEN
                {
                    self.early.push(EarlyCheck {
                        local,
                        remote,
                        remote_ufrag: theirs.to_owned(),
                        priority: prio,
                        use_candidate,
                        conn,
                    });
                } else {
                    self.stats.dropped_early_checks += 1;
                }
            }
        }
        Received::Stun
    }

    /// RFC 8445 §7.3.1.3 (peer-reflexive remote candidates), §7.3.1.4 (triggered checks) and
    /// §7.3.1.5 (nomination by the controlling peer). On TCP (`conn`), the pair takes the
    /// connection the check came on unless it has an open one (RFC 6544 §7.2), and a
    /// peer-reflexive remote candidate gets the TCP type that meets the local one's: active
    /// for a connection accepted on a passive candidate, so on a simultaneous-open one.
    pub(super) fn learn_from_check(
        &mut self,
        now: Instant,
        local: usize,
        remote: SocketAddr,
        prio: u32,
        use_candidate: bool,
        conn: Option<ConnectionId>,
    ) {
        // A connection closed while the check waited for the credentials.
        if conn.is_some_and(|c| !self.tcp_known(c)) {
            return;
        }
        let component = self.locals[local].cand.component;
        let protocol = self.locals[local].cand.protocol;
        let r =
            match self.remotes.iter().position(|c| {
                c.addr == remote && c.component == component && c.protocol == protocol
            }) {
                Some(r) => r,
                None => {
                    if self.prflx_count >= self.cfg.max_peer_reflexive
                        || self.remotes.len() >= self.cfg.max_remote_candidates
                    {
                        self.stats.dropped_candidates += 1;
                        return;
                    }
                    // A foundation unlike any other remote one.
                    let mut n = self.prflx_count;
                    let foundation = loop {
                        let f = format!("prflx{n}");
                        if !self.remotes.iter().any(|c| c.foundation == f) {
                            break f;
                        }
                        n += 1;
                    };
                    self.prflx_count += 1;
                    // RFC 6544 §7.2.2: the type that pairs with the local candidate's.
                    let tcp_type = self.locals[local].tcp_type().map(|t| match t {
                        TcpType::Passive => TcpType::Active,
                        TcpType::Active => TcpType::Passive,
                        TcpType::SimultaneousOpen => TcpType::SimultaneousOpen,
                    });
                    self.remotes.push(Candidate {
                        component,
                        foundation,
                        protocol,
                        priority: prio,
                        addr: remote,
                        kind: CandidateKind::PeerReflexive,
                        related: None,
                        tcp_type,
                    });
                    if let Some(c) = self.components.iter_mut().find(|c| c.id == component) {
                        c.idle_since = None;
                    }
                    self.remotes.len() - 1
                }
            };
        let Some(id) = self.form_pair_from_check(local, r) else {
            return;
        };
        // RFC 6544 §7.1: the pair's connection, unless it has an open one already.
        let open = self
            .pair(id)
            .and_then(|p| p.conn)
            .is_some_and(|c| self.tcp_route(c).is_some());
        let controlled = self.role == Role::Controlled;
        let Some(p) = self.pair_mut(id) else { return };
        if conn.is_some() && !open {
            p.conn = conn;
        }
        if controlled && use_candidate {
            p.use_candidate_received();
        }
        if p.is_valid() {
            // §7.3.1.5: the controlling peer nominates a valid pair.
            if controlled && use_candidate && !p.nominated() {
                p.nominate();
                self.select(now, component);
            }
            return;
        }
        // §7.3.1.4: a triggered check; one in flight is cancelled (no more retransmissions,
        // its response still taken).
        if p.retrigger() {
            for t in &mut self.transactions {
                if matches!(t.kind, TxKind::Check { pair, consent: false, .. } if pair == id) {
                    t.cancelled = true;
                }
            }
        }
        if !self.triggered.iter().any(|t| t.pair == id) {
            self.triggered.push_back(Triggered {
                pair: id,
                use_candidate: false,
            });
        }
    }

    /// RFC 8445 §7.2.5: a response to one of our requests.
    pub(super) fn handle_response<'a>(
        &mut self,
        now: Instant,
        d: Datagram<'a>,
        conn: Option<ConnectionId>,
        msg: &Message<'_>,
    ) -> Received<'a> {
        let tid = msg.transaction_id();
        let Some(ti) = self.transactions.iter().position(|t| t.tid == tid) else {
            return Received::Dropped(DropReason::UnknownTransaction);
        };
        let tx = self.transactions[ti].clone();
        match tx.kind {
            // Over TCP the answer comes on the gathering's connection (`gather.rs`).
            TxKind::Gather { .. } if tx.route.connection().is_some() => {
                Received::Dropped(DropReason::UnknownTransaction)
            }
            TxKind::Gather { gather } => {
                self.transactions.remove(ti);
                self.stats.responses_received += 1;
                self.gathered(gather, msg);
                Received::Stun
            }
            TxKind::OldConsent { component } => {
                let Some(old) = &self.old else {
                    return Received::Dropped(DropReason::UnknownTransaction);
                };
                if msg.verify_integrity(&old.remote.key) != Integrity::Ok {
                    return Received::Dropped(DropReason::Unauthenticated);
                }
                self.transactions.remove(ti);
                self.stats.responses_received += 1;
                if msg.class() == Class::Success
                    && let Some(old) = &mut self.old
                    && let Some(p) = old.pairs.iter_mut().find(|p| p.component == component)
                {
                    p.consent.expires = Some(now + self.cfg.consent_timeout);
                }
                Received::Stun
            }
            TxKind::Check {
                pair,
                use_candidate,
                role,
                consent,
            } => {
                let Some(remote) = &self.remote_creds else {
                    return Received::Dropped(DropReason::UnknownTransaction);
                };
                // RFC 8445 §7.2.5.1: responses are signed with the peer's password.
                if msg.verify_integrity(&remote.key) != Integrity::Ok {
                    return Received::Dropped(DropReason::Unauthenticated);
                }
                self.transactions.remove(ti);
                self.stats.responses_received += 1;
                if self.pair(pair).is_none() {
                    return Received::Stun;
                }
                // RFC 8445 §7.2.5.2.1: the 5-tuple must be symmetric.
                if !tx.route.is_reverse_of(d.local, d.remote, conn) {
                    self.pair_failed(now, pair);
                    return Received::Stun;
                }
                if msg.class() == Class::Error {
                    let code = msg.error_code().map_or(0, |e| e.code);
                    if code == 487 {
                        // RFC 8445 §7.2.5.1: switch role (unless already switched since the
                        // request was sent) and check again.
                        if role == self.role {
                            self.switch_role();
                        }
                        // A consent check (RFC 7675) is no check-list check: its selected,
                        // nominated pair stays valid (made Waiting, it would never be checked
                        // again, §8.1.2, and its data would be dropped); the next consent
                        // check goes out in the new role.
                        if !consent {
                            if let Some(p) = self.pair_mut(pair) {
                                p.retrigger();
                            }
                            self.triggered.push_back(Triggered {
                                pair,
                                use_candidate: false,
                            });
                        }
                    } else if !consent {
                        // RFC 8445 §7.2.5.2.4: an unrecoverable error.
                        self.pair_failed(now, pair);
                    }
                    return Received::Stun;
                }
                let rtt = (tx.sent == 1).then(|| now.saturating_duration_since(tx.first_sent));
                if consent {
                    let ci = self
                        .components
                        .iter()
                        .position(|c| c.selected == Some(pair));
                    if let Some(ci) = ci {
                        self.components[ci].consent.expires = Some(now + self.cfg.consent_timeout);
                    }
                    if let (Some(p), Some(rtt)) = (self.pair_mut(pair), rtt) {
                        p.record_rtt(rtt);
                    }
                    return Received::Stun;
                }
                self.check_succeeded(now, pair, msg, &tx, use_candidate, rtt);
                Received::Stun
            }
        }
    }

    /// RFC 8445 §7.2.5.3.
    pub(super) fn check_succeeded(
        &mut self,
        now: Instant,
        id: u32,
        msg: &Message<'_>,
        tx: &Transaction,
        use_candidate: bool,
        rtt: Option<Duration>,
    ) {
        let Some(mapped) = msg.mapped_address() else {
            self.pair_failed(now, id);
            return;
        };
        let Some(p) = self.pair(id) else { return };
        let (local, component) = (p.local, p.component);
        let protocol = self.locals[local].cand.protocol;
        // §7.2.5.3.1: a mapped address that is no local candidate is a peer-reflexive one.
        let known = self.locals.iter().position(|l| {
            l.cand.addr == mapped && l.cand.component == component && l.cand.protocol == protocol
        });
        let mapped_local = match known {
            Some(i) => i,
            // On TCP the peer saw the connection's own local address (an active candidate's
            // ephemeral port): no NAT between, the pair's candidate itself.
            None if matches!(tx.route, Route::Tcp { local: l, .. } if l == mapped) => local,
            // Over the limit, the pair's own base stands for the mapped address (the 5-tuple
            // checked is the same); counted.
            None if self
                .locals
                .iter()
                .filter(|l| l.cand.kind == CandidateKind::PeerReflexive)
                .count()
                >= self.cfg.max_peer_reflexive =>
            {
                self.stats.dropped_candidates += 1;
                local
            }
            None => {
                let foundation = self.foundation(
                    CandidateKind::PeerReflexive,
                    self.locals[local].base.ip(),
                    None,
                    protocol,
                );
                let tcp_type = self.locals[local].tcp_type();
                let related = match tcp_type {
                    Some(_) => self.locals[local].cand.addr,
                    None => self.locals[local].base,
                };
                self.locals.push(Local {
                    cand: Candidate {
                        component,
                        foundation,
                        protocol,
                        priority: tx.priority,
                        addr: mapped,
                        kind: CandidateKind::PeerReflexive,
                        related: Some(related),
                        tcp_type,
                    },
                    base: self.locals[local].base,
                    relay: self.locals[local].relay,
                });
                self.locals.len() - 1
            }
        };
        let controlled = self.role == Role::Controlled;
        let Some(p) = self.pair_mut(id) else { return };
        // §8.1.1 (controlling, our USE-CANDIDATE) and §7.3.1.5 (controlled, theirs).
        p.succeed(mapped_local, rtt, use_candidate, controlled);
        // §7.2.5.3.3: unfreeze the pairs of the same foundation.
        let (l, r) = (p.local, p.remote);
        self.unfreeze_foundation(l, r);
        if let Some(c) = self.components.iter_mut().find(|c| c.id == component) {
            c.first_valid_at.get_or_insert(now);
            if use_candidate && c.nominating == Some(id) {
                c.nominating = None;
            }
        }
        self.select(now, component);
    }

    /// Answers go back the way the request came: from the base it arrived on (through its
    /// relay, for a relayed candidate) to its source; on TCP, on its connection (RFC 6544
    /// §7.2).
    pub(super) fn reply_route(&self, d: &Datagram<'_>, conn: Option<ConnectionId>) -> Route {
        if let Some(conn) = conn {
            return Route::Tcp {
                conn,
                local: d.local,
                remote: d.remote,
            };
        }
        match self.locals.iter().find(|l| l.is_udp_base_at(d.local)) {
            Some(l) => l.route_to(d.remote),
            None => Route::udp(d.local, d.remote),
        }
    }

    pub(super) fn switch_role(&mut self) {
        self.role = self.role.flip();
        self.recompute_pair_priorities();
        self.events.push_back(Event::RoleChanged(self.role));
    }
}
