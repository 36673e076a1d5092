//! Per component: which pair carries its data (selection), and the controlling agent's regular
//! nomination (RFC 8445 §8.1.1).

use std::time::Instant;

use crate::candidate::ComponentId;
use crate::event::{Event, State};
use crate::role::Role;

use super::IceAgent;
use super::checklist::Triggered;
use super::consent::Consent;
use super::out::Route;
use super::transaction::TxKind;

/// Per component: selection, consent, keepalive, failure.
#[derive(Debug, Clone)]
pub(super) struct Component {
    pub(super) id: ComponentId,
    pub(super) state: State,
    /// The pair data goes on.
    pub(super) selected: Option<u32>,
    pub(super) first_valid_at: Option<Instant>,
    pub(super) nominating: Option<u32>,
    /// Whether the last [`Event::SelectedPair`] said nominated.
    pub(super) reported_nominated: bool,
    /// When the component had no live pair left and no end-of-candidates (RFC 8838 §8).
    pub(super) idle_since: Option<Instant>,
    pub(super) consent: Consent,
}

impl Component {
    pub(super) fn new(id: ComponentId) -> Component {
        Component {
            id,
            state: State::New,
            selected: None,
            first_valid_at: None,
            nominating: None,
            reported_nominated: false,
            idle_since: None,
            consent: Consent::default(),
        }
    }
}

impl IceAgent {
    /// Chooses the pair that carries a component's data: the nominated pair of highest
    /// priority (RFC 8445 §8.1.1; several when an RFC 5245 peer nominates aggressively), else
    /// the valid pair of highest priority (RFC 8445 §12.1.1 allows data on valid pairs).
    pub(super) fn select(&mut self, now: Instant, component: ComponentId) {
        let best = self
            .pairs
            .iter()
            .filter(|p| p.component == component && p.is_valid())
            .max_by_key(|p| (p.nominated(), p.priority))
            .map(|p| (p.id, p.nominated()));
        let Some((id, nominated)) = best else { return };
        let Some(ci) = self.components.iter().position(|c| c.id == component) else {
            return;
        };
        let c = &mut self.components[ci];
        let changed = c.selected != Some(id);
        if changed {
            c.selected = Some(id);
            // RFC 8656 §12: the selected pair's data through a relay goes over a channel.
            if let Some(p) = self.pair(id)
                && let Some(Route::Relay { relay, peer, .. }) = self.pair_route(p)
            {
                self.relay_bind(now, relay, peer);
            }
            let jitter = self.consent_jitter();
            let c = &mut self.components[ci];
            c.consent = Consent {
                expires: Some(now + self.cfg.consent_timeout),
                next_check: self.cfg.consent_interval.map(|i| now + jitter(i)),
                last_sent: Some(now),
                lost: false,
            };
        }
        if nominated {
            // §8.1.2: once nominated, no more ordinary checks for the component; the old
            // generation's pair of the component is released.
            self.triggered.retain(|t| {
                self.pairs
                    .iter()
                    .any(|p| p.id == t.pair && p.component != component)
            });
            for t in &mut self.transactions {
                if let TxKind::Check {
                    pair,
                    consent: false,
                    ..
                } = t.kind
                    && pair != id
                    && self
                        .pairs
                        .iter()
                        .any(|p| p.id == pair && p.component == component)
                {
                    t.cancelled = true;
                }
            }
        }
        if let Some(old) = &mut self.old {
            old.pairs.retain(|p| p.component != component);
            if old.pairs.is_empty() {
                self.old = None;
                self.transactions
                    .retain(|t| !matches!(t.kind, TxKind::OldConsent { .. }));
            }
        }
        // Reported when the pair changes, and once more when it becomes nominated.
        let report = changed || (nominated && !self.components[ci].reported_nominated);
        self.components[ci].reported_nominated = nominated;
        if report {
            self.report_selected(component, id);
        }
    }

    /// An [`Event::SelectedPair`] for pair `id` of `component`, as it is now.
    pub(super) fn report_selected(&mut self, component: ComponentId, id: u32) {
        let Some(p) = self.pair(id) else { return };
        let info = self.pair_info(p);
        self.events.push_back(Event::SelectedPair {
            component,
            local: info.local,
            remote: info.remote,
            nominated: info.nominated,
        });
    }

    /// Controlling agent, regular nomination (RFC 8445 §8.1.1): once a component has a valid
    /// pair and either no pair of higher priority can still succeed or
    /// [`Config::nomination_delay`](crate::Config::nomination_delay) has passed, the best valid pair is checked again with
    /// USE-CANDIDATE.
    pub(super) fn nominate(&mut self, now: Instant) {
        if self.role != Role::Controlling || self.remote_creds.is_none() {
            return;
        }
        for ci in 0..self.components.len() {
            let Some((due, pid)) = self.nomination_due(&self.components[ci]) else {
                continue;
            };
            if due > now {
                continue;
            }
            self.components[ci].nominating = Some(pid);
            if let Some(p) = self.pair_mut(pid) {
                p.nomination_sent();
            }
            self.triggered.push_front(Triggered {
                pair: pid,
                use_candidate: true,
            });
            // The nomination is a check like any other, but it need not wait for Ta.
            if self.transactions.len() < self.cfg.max_transactions {
                self.triggered.pop_front();
                self.send_check(now, pid, true, false);
            }
        }
    }

    /// When the controlling agent nominates on component `c`, and which pair: the valid pair
    /// of highest priority, at once when no pair of higher priority can still succeed, else
    /// [`Config::nomination_delay`](crate::Config::nomination_delay) after the first valid pair.
    pub(super) fn nomination_due(&self, c: &Component) -> Option<(Instant, u32)> {
        if self.role != Role::Controlling
            || self.remote_creds.is_none()
            || c.nominating.is_some()
            || self.component_nominated(c.id)
        {
            return None;
        }
        let first_valid = c.first_valid_at?;
        // A pair already nominated once comes first, whatever became valid since: the peer may
        // have taken that nomination (see MAX_NOMINATIONS), and it is sent again at once.
        let best = self
            .pairs
            .iter()
            .filter(|p| p.component == c.id && p.is_valid())
            .max_by_key(|p| (p.nominations() > 0, p.priority))?;
        if best.nominations() > 0 {
            return Some((first_valid, best.id));
        }
        let better_pending = self
            .pairs
            .iter()
            .any(|p| p.component == c.id && p.priority > best.priority && p.is_live());
        let due = if better_pending {
            first_valid + self.cfg.nomination_delay
        } else {
            first_valid
        };
        Some((due, best.id))
    }
}
