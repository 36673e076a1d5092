//! Consent freshness (RFC 7675) and keepalives (RFC 8445 §11) on the selected pairs, of this
//! generation and of the previous one while a restart runs.

use std::time::{Duration, Instant};

use rand_chacha::rand_core::RngCore;

use crate::event::Event;
use crate::stun::{Class, MessageBuilder, Method};

use super::IceAgent;
use super::out::Route;
use super::transaction::TxKind;

/// RFC 7675 consent and RFC 8445 §11 keepalive state of one selected pair.
#[derive(Debug, Clone, Default)]
pub(super) struct Consent {
    pub(super) expires: Option<Instant>,
    pub(super) next_check: Option<Instant>,
    pub(super) last_sent: Option<Instant>,
    pub(super) lost: bool,
}

impl IceAgent {
    /// A factor in 0.8..1.2 for consent intervals (RFC 7675 §5.1), from the seeded RNG.
    pub(super) fn consent_jitter(&mut self) -> impl Fn(Duration) -> Duration + use<> {
        let f = 0.8 + 0.4 * (f64::from(self.rng.next_u32()) / f64::from(u32::MAX));
        move |d: Duration| d.mul_f64(f)
    }

    pub(super) fn consent_deadline(&self, c: &Consent) -> Option<Instant> {
        let keepalive = c.last_sent.map(|t| t + self.cfg.keepalive_interval);
        // Without consent checks, consent never expires (see `consent`).
        let expires = c.expires.filter(|_| self.cfg.consent_interval.is_some());
        [expires, c.next_check, keepalive]
            .into_iter()
            .flatten()
            .min()
    }

    /// RFC 7675 consent freshness and RFC 8445 §11 keepalives on the selected pairs.
    pub(super) fn consent(&mut self, now: Instant) {
        let interval = self.cfg.consent_interval;
        for ci in 0..self.components.len() {
            let Some(id) = self.components[ci].selected else {
                continue;
            };
            if self.components[ci].consent.lost {
                continue;
            }
            let c = self.components[ci].consent.clone();
            if interval.is_some() && c.expires.is_some_and(|e| e <= now) {
                self.components[ci].consent.lost = true;
                let component = self.components[ci].id;
                self.events.push_back(Event::ConsentLost { component });
                continue;
            }
            if let (Some(i), Some(next)) = (interval, c.next_check)
                && next <= now
            {
                let jitter = self.consent_jitter();
                self.components[ci].consent.next_check = Some(now + jitter(i));
                self.components[ci].consent.last_sent = Some(now);
                if self.transactions.len() < self.cfg.max_transactions {
                    self.send_check(now, id, false, true);
                } else {
                    self.stats.transactions_delayed += 1;
                }
            }
            if let Some(last) = self.components[ci].consent.last_sent
                && last + self.cfg.keepalive_interval <= now
                && let Some(route) = self.pair(id).and_then(|p| self.pair_route(p))
            {
                self.components[ci].consent.last_sent = Some(now);
                self.keepalive(route);
            }
        }
        // The previous generation's pairs during a restart.
        let Some(old) = self.old.clone() else { return };
        for (i, p) in old.pairs.iter().enumerate() {
            if p.consent.lost {
                continue;
            }
            if interval.is_some() && p.consent.expires.is_some_and(|e| e <= now) {
                if let Some(o) = &mut self.old {
                    o.pairs[i].consent.lost = true;
                }
                self.events.push_back(Event::ConsentLost {
                    component: p.component,
                });
                continue;
            }
            if let (Some(iv), Some(next)) = (interval, p.consent.next_check)
                && next <= now
            {
                let jitter = self.consent_jitter();
                if let Some(o) = &mut self.old {
                    o.pairs[i].consent.next_check = Some(now + jitter(iv));
                    o.pairs[i].consent.last_sent = Some(now);
                }
                if self.transactions.len() < self.cfg.max_transactions {
                    self.stats.checks_sent += 1;
                    self.stats.consent_checks_sent += 1;
                    let kind = TxKind::OldConsent {
                        component: p.component,
                    };
                    let rto = self.cfg.min_rto;
                    self.start_transaction(now, kind, p.route, p.priority, rto);
                }
            }
            if let Some(last) = p.consent.last_sent
                && last + self.cfg.keepalive_interval <= now
            {
                if let Some(o) = &mut self.old {
                    o.pairs[i].consent.last_sent = Some(now);
                }
                self.keepalive(p.route);
            }
        }
    }

    pub(super) fn keepalive(&mut self, route: Route) {
        let tid = self.new_tid();
        self.stats.keepalives_sent += 1;
        self.out.push(route, |buf| {
            let mut b = MessageBuilder::new(buf, Class::Indication, Method::BINDING, tid)?;
            b.add_fingerprint()?;
            Ok(b.finish())
        });
    }
}
