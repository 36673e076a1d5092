//! ICE restart (RFC 8445 §9): what is kept of the previous generation (its selected pairs,
//! which carry data until the new generation selects its own) and what is dropped.

use std::time::Instant;

use crate::candidate::{CandidateKind, ComponentId};
use crate::event::{Event, PairInfo};

use super::IceAgent;
use super::consent::Consent;
use super::creds::Creds;
use super::out::Route;
use super::transaction::TxKind;

/// What is kept of the previous generation during a restart (RFC 8445 §9: the old pair keeps
/// carrying data until the new generation selects one).
#[derive(Debug, Clone)]
pub(super) struct OldGeneration {
    pub(super) local: Creds,
    pub(super) remote: Creds,
    /// Username for requests: `remote:local`.
    pub(super) username: String,
    pub(super) pairs: Vec<OldPair>,
}

/// A selected pair of the previous generation, with its consent.
#[derive(Debug, Clone)]
pub(super) struct OldPair {
    pub(super) component: ComponentId,
    /// How the pair's datagrams leave (from its base to its remote candidate).
    pub(super) route: Route,
    pub(super) priority: u32,
    pub(super) info: PairInfo,
    pub(super) consent: Consent,
}

impl IceAgent {
    /// The restart behind [`IceAgent::restart`] and [`IceAgent::restart_with_credentials`],
    /// with `creds` as the new local credentials.
    pub(super) fn restart_as(&mut self, now: Instant, creds: Creds) {
        self.saw(now);
        // Keep the selected pairs of the old generation (or those it kept itself).
        let mut pairs = Vec::new();
        for c in &self.components {
            if let Some(p) = c.selected.and_then(|id| self.pair(id)) {
                if !c.consent.lost
                    && let Some(route) = self.pair_route(p)
                {
                    pairs.push(OldPair {
                        component: c.id,
                        route,
                        priority: self.prflx_priority(p.local),
                        info: self.pair_info(p),
                        consent: c.consent.clone(),
                    });
                }
            } else if let Some(old) = &self.old {
                pairs.extend(old.pairs.iter().filter(|p| p.component == c.id).cloned());
            }
        }
        self.old = match self.remote_creds.take() {
            Some(remote) if !pairs.is_empty() => Some(OldGeneration {
                local: self.local_creds.clone(),
                username: self.username.clone(),
                remote,
                pairs,
            }),
            _ => self.old.take().filter(|_| !pairs.is_empty()),
        };
        self.generation += 1;
        self.local_creds = creds;
        self.username.clear();
        self.remotes.clear();
        self.prflx_count = 0;
        self.remote_end_of_candidates = false;
        self.pairs.clear();
        self.triggered.clear();
        self.early.clear();
        self.transactions
            .retain(|t| matches!(t.kind, TxKind::OldConsent { .. } | TxKind::Gather { .. }));
        // Peer-reflexive local candidates go; gatherings keep pointing at their host (an index
        // into `locals`, shifted by the removal: stale, it panicked or named another host).
        let mut kept = 0;
        let shifted: Vec<usize> = self
            .locals
            .iter()
            .map(|l| {
                let i = kept;
                kept += usize::from(l.cand.kind != CandidateKind::PeerReflexive);
                i
            })
            .collect();
        for g in &mut self.gathers {
            g.host = shifted[g.host];
        }
        self.locals
            .retain(|l| l.cand.kind != CandidateKind::PeerReflexive);
        for c in &mut self.components {
            c.selected = None;
            c.first_valid_at = None;
            c.nominating = None;
            c.reported_nominated = false;
            c.idle_since = None;
            c.consent = Consent::default();
        }
        // Old consent transactions keep running under their own kind.
        self.events.push_back(Event::LocalCredentials {
            ufrag: self.local_creds.ufrag.clone(),
            pwd: self.local_creds.pwd.clone(),
            generation: self.generation,
        });
        for l in &self.locals {
            self.events.push_back(Event::LocalCandidate(l.cand.clone()));
        }
        self.gathering_complete_sent = false;
        self.maybe_gathering_complete();
        // The connections of the dropped pairs (RFC 6544 §7.1); the old selected pair's stays.
        self.tcp_gc(now);
    }
}
