//! STUN transactions (RFC 8489 §6.2.1 as RFC 8445 §14 paces them): starting one per Ta,
//! retransmitting with a doubling RTO, timing out, and writing each request.

use std::time::{Duration, Instant};

use crate::candidate::ComponentId;
use crate::role::Role;
use crate::stun::{
    Attribute, BuildError, Class, IntegrityKey, MessageBuilder, Method, TransactionId,
};

use super::IceAgent;
use super::out::Route;

/// What a transaction is for, which says what its response or its timeout does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TxKind {
    /// A connectivity check (or a consent check) on a pair of the current generation.
    Check {
        pair: u32,
        use_candidate: bool,
        role: Role,
        consent: bool,
    },
    /// A consent check on the previous generation's selected pair of a component.
    OldConsent { component: ComponentId },
    /// Server-reflexive gathering.
    Gather { gather: usize },
}

/// A request in flight, kept for its retransmissions and to match its response.
#[derive(Debug, Clone)]
pub(super) struct Transaction {
    pub(super) tid: TransactionId,
    pub(super) kind: TxKind,
    /// How the request leaves, retransmissions included; the response comes back the
    /// reverse way.
    pub(super) route: Route,
    /// The PRIORITY sent (checks).
    pub(super) priority: u32,
    pub(super) first_sent: Instant,
    pub(super) next_at: Instant,
    pub(super) rto: Duration,
    pub(super) sent: u32,
    /// Retransmissions stopped (RFC 8445 §7.3.1.4): a response is still taken, a timeout is
    /// no failure.
    pub(super) cancelled: bool,
}

impl IceAgent {
    /// Whether pacing has a new transaction to start: a gathering or an allocation not started
    /// yet, or a check to send.
    pub(super) fn has_new_work(&self) -> bool {
        (self.gather_requested
            && (self.gathers.iter().any(|g| !g.started) || self.relays.iter().any(|r| !r.started)))
            || (self.remote_creds.is_some()
                && (self.triggered.iter().any(|t| {
                    self.triggered_useful(*t)
                        && self.pair(t.pair).is_some_and(|p| self.pair_ready(p))
                }) || self.next_ordinary_check().is_some()))
    }

    pub(super) fn new_tid(&mut self) -> TransactionId {
        crate::retransmit::random_tid(&mut self.rng)
    }

    pub(super) fn timeout_transactions(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.transactions.len() {
            let tx = &self.transactions[i];
            if tx.next_at > now {
                i += 1;
                continue;
            }
            if tx.cancelled || tx.sent >= self.cfg.max_requests.max(1) {
                let tx = self.transactions.remove(i);
                match tx.kind {
                    TxKind::Check {
                        pair,
                        consent: false,
                        use_candidate: true,
                        ..
                    } if !tx.cancelled && self.pair(pair).is_some_and(|p| p.may_renominate()) => {
                        // Nominate the same pair again (see `Pair::may_renominate`).
                        for c in &mut self.components {
                            if c.nominating == Some(pair) {
                                c.nominating = None;
                            }
                        }
                    }
                    TxKind::Check {
                        pair,
                        consent: false,
                        ..
                    } if !tx.cancelled => self.pair_failed(now, pair),
                    // A check stopped by a nomination (RFC 8445 §8.1.2) whose pair has no
                    // other check in flight: see `Pair::check_abandoned`.
                    TxKind::Check {
                        pair,
                        consent: false,
                        ..
                    } if !self.transactions.iter().any(|t| {
                        matches!(t.kind, TxKind::Check { pair: p, consent: false, .. } if p == pair)
                    }) =>
                    {
                        if let Some(p) = self.pair_mut(pair) {
                            p.check_abandoned();
                        }
                    }
                    TxKind::Gather { gather } => self.gather_timed_out(now, gather),
                    _ => {}
                }
                continue;
            }
            let tx = tx.clone();
            self.transactions[i].sent += 1;
            let rto = crate::retransmit::doubled(tx.rto, self.cfg.max_rto);
            self.transactions[i].rto = rto;
            self.transactions[i].next_at = now + rto;
            // RFC 8489 §6.2.2: over TCP the request is not sent again (the stream delivers
            // it); the transaction keeps UDP's schedule only to time out (see the README's
            // deviations: RFC 8489's Ti is 39.5 s).
            if tx.route.connection().is_none() {
                self.stats.retransmissions += 1;
                self.write_request(&tx);
            }
            i += 1;
        }
    }

    /// RFC 8445 §6.1.4.2 and §14.2: one new transaction per Ta.
    pub(super) fn pace(&mut self, now: Instant) {
        if self.next_pace.is_some_and(|t| t > now) {
            return;
        }
        if !self.has_new_work() {
            return;
        }
        if self.transactions.len() >= self.cfg.max_transactions {
            self.stats.transactions_delayed += 1;
            return;
        }
        if self.start_gather(now) || self.start_relay(now) || self.start_check(now) {
            self.next_pace = Some(now + self.cfg.ta);
        }
    }

    /// Sends the first request of a new transaction and keeps it for retransmissions.
    pub(super) fn start_transaction(
        &mut self,
        now: Instant,
        kind: TxKind,
        route: Route,
        priority: u32,
        rto: Duration,
    ) {
        let tx = Transaction {
            tid: self.new_tid(),
            kind,
            route,
            priority,
            first_sent: now,
            next_at: now + rto,
            rto,
            sent: 1,
            cancelled: false,
        };
        self.write_request(&tx);
        self.transactions.push(tx);
    }

    /// RFC 8445 §14.3: `RTO = MAX(500 ms, Ta * (Num-Waiting + Num-In-Progress))`.
    pub(super) fn check_rto(&self) -> Duration {
        let n = self.pairs.iter().filter(|p| p.is_pending()).count();
        self.cfg
            .min_rto
            .max(self.cfg.ta * u32::try_from(n).unwrap_or(u32::MAX))
            .min(self.cfg.max_rto.max(self.cfg.min_rto))
    }

    pub(super) fn send_check(&mut self, now: Instant, id: u32, use_candidate: bool, consent: bool) {
        let Some(p) = self.pair(id) else { return };
        let Some(route) = self.pair_route(p) else {
            // RFC 6544 §7.1: a TCP pair's check begins with its connection.
            if !consent {
                self.tcp_connect(now, id, use_candidate);
            }
            return;
        };
        let prio = self.prflx_priority(p.local);
        if !consent && let Some(p) = self.pair_mut(id) {
            p.start_check();
        }
        let rto = self.check_rto();
        // Never two checks of one pair in flight: the new one replaces the old, but a plain
        // check does not replace a nomination.
        if !consent
            && !use_candidate
            && self.transactions.iter().any(
                |t| matches!(t.kind, TxKind::Check { pair, use_candidate: true, .. } if pair == id),
            )
        {
            return;
        }
        // A cancelled transaction stays until its timeout: RFC 8445 §7.3.1.4 still takes its
        // response (removed, that response would be dropped, and two peers whose checks cross
        // on a long path would cancel and replace each other's checks forever).
        self.transactions.retain(|t| {
            t.cancelled
                || !matches!(t.kind, TxKind::Check { pair, consent: c, .. } if pair == id && c == consent)
        });
        self.stats.checks_sent += 1;
        if consent {
            self.stats.consent_checks_sent += 1;
        }
        let kind = TxKind::Check {
            pair: id,
            use_candidate,
            role: self.role,
            consent,
        };
        self.start_transaction(now, kind, route, prio, rto);
    }

    /// Writes the request of a transaction (first transmission or retransmission).
    pub(super) fn write_request(&mut self, tx: &Transaction) {
        let software = self.cfg.software;
        match tx.kind {
            TxKind::Gather { .. } => {
                let tid = tx.tid;
                self.out.push(tx.route, |buf| {
                    let mut b = MessageBuilder::new(buf, Class::Request, Method::BINDING, tid)?;
                    if let Some(s) = software {
                        b.add(&Attribute::Software(s))?;
                    }
                    b.add_fingerprint()?;
                    Ok(b.finish())
                });
            }
            TxKind::Check {
                use_candidate,
                role,
                ..
            } => {
                let Some(remote) = &self.remote_creds else {
                    return;
                };
                let (tid, prio, tie) = (tx.tid, tx.priority, self.tie_breaker);
                self.out.push(tx.route, |buf| {
                    write_check(
                        buf,
                        tid,
                        &self.username,
                        prio,
                        role,
                        tie,
                        use_candidate,
                        &remote.key,
                        software,
                    )
                });
            }
            TxKind::OldConsent { .. } => {
                let Some(old) = &self.old else { return };
                let (tid, prio, role, tie) = (tx.tid, tx.priority, self.role, self.tie_breaker);
                let (username, key) = (&old.username, &old.remote.key);
                self.out.push(tx.route, |buf| {
                    write_check(buf, tid, username, prio, role, tie, false, key, software)
                });
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn write_check(
    buf: &mut [u8],
    tid: TransactionId,
    username: &str,
    prio: u32,
    role: Role,
    tie: u64,
    use_candidate: bool,
    key: &IntegrityKey,
    software: Option<&str>,
) -> Result<usize, BuildError> {
    // RFC 8445 §7.1.1 / §7.2.2: USERNAME, PRIORITY, ICE-CONTROLLING or ICE-CONTROLLED,
    // USE-CANDIDATE, MESSAGE-INTEGRITY, FINGERPRINT.
    let mut b = MessageBuilder::new(buf, Class::Request, Method::BINDING, tid)?;
    if let Some(s) = software {
        b.add(&Attribute::Software(s))?;
    }
    b.add(&Attribute::Username(username))?;
    b.add(&Attribute::Priority(prio))?;
    match role {
        Role::Controlling => b.add(&Attribute::IceControlling(tie))?,
        Role::Controlled => b.add(&Attribute::IceControlled(tie))?,
    }
    // RFC 8445 §7.1.2: never USE-CANDIDATE when controlled.
    if use_candidate && role == Role::Controlling {
        b.add(&Attribute::UseCandidate)?;
    }
    b.add_integrity(key)?;
    b.add_fingerprint()?;
    Ok(b.finish())
}
