//! The check list (RFC 8445 §6.1.2): candidate pairs and their states, pairing, pruning, and
//! the choice of the next check (the triggered-check queue first, then the ordinary checks).
//!
//! A [`Pair`] changes state only through its own methods ([`Pair::succeed`], [`Pair::fail`],
//! [`Pair::nominate`], [`Pair::retrigger`], …); [`PairState`] is private to this module. Pairs
//! are kept sorted by priority and found by a stable id; they name their candidates by index
//! into the agent's `locals` and `remotes`.

use std::time::{Duration, Instant};

use crate::candidate::{Candidate, ComponentId, TcpType, tcp_types_pair};
use crate::event::PairInfo;
use crate::role::Role;
use crate::transmit::ConnectionId;

use super::IceAgent;
use super::out::Route;

/// RFC 8445 §6.1.2.6 pair states. Private: the rest of the agent asks the pair
/// ([`Pair::is_valid`], …) and changes it through its methods ([`Pair::succeed`], …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PairState {
    Frozen,
    Waiting,
    InProgress,
    Succeeded,
    Failed,
}

/// A candidate pair of the check list, found by its stable `id`.
#[derive(Debug, Clone)]
pub(super) struct Pair {
    pub(super) id: u32,
    pub(super) component: ComponentId,
    /// Index of the host candidate (the base) in `locals`.
    pub(super) local: usize,
    /// Index in `remotes`.
    pub(super) remote: usize,
    pub(super) priority: u64,
    state: PairState,
    /// The local candidate whose address the peer saw (RFC 8445 §7.2.5.3.2).
    mapped_local: Option<usize>,
    /// Nominated (RFC 8445 §8.1.1 controlling, §7.3.1.5 controlled).
    nominated: bool,
    /// Controlled: the peer sent USE-CANDIDATE on this pair (RFC 8445 §7.3.1.5).
    use_candidate_received: bool,
    rtt: Option<Duration>,
    /// Nomination transactions sent on this pair (controlling agent).
    nominations: u8,
    /// A TCP pair's connection (RFC 6544 §7.1: once established, "used for all subsequent
    /// checks and data on that pair"), opening or open; `None` for UDP.
    pub(super) conn: Option<ConnectionId>,
}

impl Pair {
    /// Succeeded: a valid pair (RFC 8445 §7.2.5.3.2).
    pub(super) fn is_valid(&self) -> bool {
        self.state == PairState::Succeeded
    }

    /// Frozen, Waiting or In-Progress: the pair can still succeed.
    pub(super) fn is_live(&self) -> bool {
        matches!(
            self.state,
            PairState::Frozen | PairState::Waiting | PairState::InProgress
        )
    }

    /// Waiting or In-Progress: the pairs that keep a foundation unfrozen (RFC 8445 §6.1.2.6)
    /// and that RFC 8445 §14.3 counts for the RTO.
    pub(super) fn is_pending(&self) -> bool {
        matches!(self.state, PairState::Waiting | PairState::InProgress)
    }

    pub(super) fn nominated(&self) -> bool {
        self.nominated
    }

    /// Controlled: the peer sent USE-CANDIDATE on this pair (RFC 8445 §7.3.1.5).
    pub(super) fn peer_nominated(&self) -> bool {
        self.use_candidate_received
    }

    /// Nomination transactions sent on this pair.
    pub(super) fn nominations(&self) -> u8 {
        self.nominations
    }

    /// Whether a nomination that timed out on this pair is sent again (see [`MAX_NOMINATIONS`]).
    pub(super) fn may_renominate(&self) -> bool {
        self.state == PairState::Succeeded && self.nominations < MAX_NOMINATIONS
    }

    /// A check-list check goes out on the pair: In-Progress, unless it is valid already.
    pub(super) fn start_check(&mut self) {
        if self.state != PairState::Succeeded {
            self.state = PairState::InProgress;
        }
    }

    /// Back to Waiting for a triggered check (RFC 8445 §7.3.1.4, §7.2.5.1). Returns whether a
    /// check was in progress.
    pub(super) fn retrigger(&mut self) -> bool {
        let in_progress = self.state == PairState::InProgress;
        self.state = PairState::Waiting;
        in_progress
    }

    /// A check whose retransmissions were stopped (RFC 8445 §8.1.2: the component nominated
    /// another pair) ran out without an answer: back to Waiting, not Failed (nothing proved it
    /// cannot work) and not left In-Progress with no check in flight (which would count as
    /// live forever). Checked again only if the component loses its nominated pair.
    pub(super) fn check_abandoned(&mut self) {
        if self.state == PairState::InProgress {
            self.state = PairState::Waiting;
        }
    }

    /// RFC 8445 §7.2.5.3.3: Frozen to Waiting.
    fn unfreeze(&mut self) {
        if self.state == PairState::Frozen {
            self.state = PairState::Waiting;
        }
    }

    /// A check-list check on the pair succeeded (RFC 8445 §7.2.5.3.2): valid, with the local
    /// candidate the peer saw and the round-trip time when it was measured. Nominated when
    /// the check carried our USE-CANDIDATE (§8.1.1, controlling) or, controlled, when the
    /// peer sent USE-CANDIDATE on it (§7.3.1.5).
    pub(super) fn succeed(
        &mut self,
        mapped_local: usize,
        rtt: Option<Duration>,
        use_candidate: bool,
        controlled: bool,
    ) {
        self.state = PairState::Succeeded;
        self.mapped_local = Some(mapped_local);
        if rtt.is_some() {
            self.rtt = rtt;
        }
        if use_candidate || (controlled && self.use_candidate_received) {
            self.nominated = true;
        }
    }

    /// Failed, and no longer nominated.
    pub(super) fn fail(&mut self) {
        self.state = PairState::Failed;
        self.nominated = false;
    }

    /// Nominated by the peer's USE-CANDIDATE on a valid pair (RFC 8445 §7.3.1.5).
    pub(super) fn nominate(&mut self) {
        self.nominated = true;
    }

    /// Controlled: the peer sent USE-CANDIDATE on this pair; it is nominated once valid.
    pub(super) fn use_candidate_received(&mut self) {
        self.use_candidate_received = true;
    }

    /// The controlling agent sends a nomination on this pair.
    pub(super) fn nomination_sent(&mut self) {
        self.nominations = self.nominations.saturating_add(1);
    }

    /// The round-trip time of a consent check (RFC 7675) answered on the pair.
    pub(super) fn record_rtt(&mut self, rtt: Duration) {
        self.rtt = Some(rtt);
    }
}

/// A nomination whose transaction times out on a valid pair is sent again, up to this many
/// transactions, before the pair is failed and another valid pair nominated: the peer may have
/// taken a request whose responses were all lost, and nominating another pair then would leave
/// the two agents on different pairs (RFC 8445 §8.1.1 allows one nominated pair).
const MAX_NOMINATIONS: u8 = 3;

/// One check queued for sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Triggered {
    pub(super) pair: u32,
    pub(super) use_candidate: bool,
}

/// RFC 8445 §6.1.2.3: `2^32*MIN(G,D) + 2*MAX(G,D) + (G>D?1:0)`.
pub(super) fn pair_priority(controlling: u32, controlled: u32) -> u64 {
    let (g, d) = (u64::from(controlling), u64::from(controlled));
    (g.min(d) << 32) + 2 * g.max(d) + u64::from(g > d)
}

impl IceAgent {
    pub(super) fn pair(&self, id: u32) -> Option<&Pair> {
        self.pairs.iter().find(|p| p.id == id)
    }

    pub(super) fn pair_mut(&mut self, id: u32) -> Option<&mut Pair> {
        self.pairs.iter_mut().find(|p| p.id == id)
    }

    /// How the datagrams of pair `p` leave: from its base (through its relay, for a relayed
    /// base) to its remote candidate; for a TCP pair on its connection, `None` while it has no
    /// open one.
    pub(super) fn pair_route(&self, p: &Pair) -> Option<Route> {
        if self.locals[p.local].tcp_type().is_some() {
            return self.tcp_route(p.conn?);
        }
        Some(self.locals[p.local].route_to(self.remotes[p.remote].addr))
    }

    /// Whether the pair's checks can go out now (through a relay: once the permission for the
    /// remote IP is installed, RFC 8656 §9). A TCP pair without a connection can go when its
    /// local candidate connects (active or simultaneous-open, RFC 6544 §7.1); not while its
    /// connection opens, and never from a passive candidate, which only accepts.
    pub(super) fn pair_ready(&self, p: &Pair) -> bool {
        if let Some(route) = self.pair_route(p) {
            return self.route_ready(route);
        }
        let connecting = p.conn.is_some_and(|c| self.tcp_known(c));
        !connecting
            && matches!(
                self.locals[p.local].tcp_type(),
                Some(TcpType::Active | TcpType::SimultaneousOpen)
            )
    }

    pub(super) fn pair_info(&self, p: &Pair) -> PairInfo {
        let local = &self.locals[p.mapped_local.unwrap_or(p.local)];
        let base = match self.pair_route(p) {
            Some(Route::Tcp { local, .. }) => local,
            _ => self.locals[p.local].base,
        };
        PairInfo {
            local: local.cand.clone(),
            base,
            remote: self.remotes[p.remote].clone(),
            nominated: p.nominated,
            rtt: p.rtt,
        }
    }

    /// Forms the pair (base `l`, remote `r`) if they match (RFC 8445 §6.1.2.2) and the check
    /// list has room (RFC 8445 §6.1.2.5). Returns its id. A pair on a relayed base asks its
    /// relay for a permission for the remote IP (RFC 8656 §9).
    ///
    /// Pairs are formed on bases only (host and relayed candidates), so the pruning of RFC
    /// 8445 §6.1.2.4 (a pair whose local candidate is replaced by its base is dropped when the
    /// same pair exists) is built in: a relayed pair is never pruned against a host pair.
    ///
    /// TCP (RFC 6544 §6.2): only with a TCP candidate, of a type that pairs with the local
    /// one's (active–passive, passive–active, so–so); and pairs whose local candidate is
    /// passive are pruned ("When the agent prunes the check list, it MUST also remove any pair
    /// for which the local candidate is a passive TCP candidate"): they come from the peer's
    /// checks only ([`Self::form_pair_from_check`]).
    pub(super) fn form_pair(&mut self, l: usize, r: usize) -> Option<u32> {
        if self.locals[l].tcp_type() == Some(TcpType::Passive) {
            return None;
        }
        self.form_pair_from_check(l, r)
    }

    /// [`Self::form_pair`] for a pair a check arrived on: a passive local candidate too (RFC
    /// 6544 §7.2: the pair of the connection the peer opened to it).
    pub(super) fn form_pair_from_check(&mut self, l: usize, r: usize) -> Option<u32> {
        let (lc, rc) = (&self.locals[l].cand, &self.remotes[r]);
        if lc.component != rc.component || lc.addr.is_ipv4() != rc.addr.is_ipv4() {
            return None;
        }
        // RFC 6544 §6.2: same transport, and TCP types that meet.
        if lc.protocol != rc.protocol {
            return None;
        }
        match (lc.tcp_type, rc.tcp_type) {
            (None, None) => {}
            (Some(lt), Some(rt)) if tcp_types_pair(lt, rt) => {}
            _ => return None,
        }
        if let Some(p) = self.pairs.iter().find(|p| p.local == l && p.remote == r) {
            return Some(p.id);
        }
        let (g, d) = match self.role {
            Role::Controlling => (lc.priority, rc.priority),
            Role::Controlled => (rc.priority, lc.priority),
        };
        let prio = pair_priority(g, d);
        if self.pairs.len() >= self.cfg.max_pairs {
            // Prune the lowest-priority pair not yet checked, if it ranks below this one.
            let victim = self
                .pairs
                .iter()
                .enumerate()
                .filter(|(_, p)| matches!(p.state, PairState::Frozen | PairState::Waiting))
                .min_by_key(|(_, p)| p.priority)
                .map(|(i, p)| (i, p.priority, p.id));
            match victim {
                Some((i, vp, vid)) if vp < prio => {
                    self.pairs.remove(i);
                    self.triggered.retain(|t| t.pair != vid);
                    self.stats.dropped_pairs += 1;
                }
                _ => {
                    self.stats.dropped_pairs += 1;
                    return None;
                }
            }
        }
        let id = self.next_pair_id;
        self.next_pair_id = self.next_pair_id.wrapping_add(1);
        // RFC 8838 §11 / RFC 8445 §6.1.2.6: Waiting when no pair of the same foundation is
        // Waiting or In-Progress, Frozen otherwise.
        let state = if self
            .pairs
            .iter()
            .any(|p| p.is_pending() && self.same_foundation(p.local, p.remote, l, r))
        {
            PairState::Frozen
        } else {
            PairState::Waiting
        };
        let pair = Pair {
            id,
            component: lc.component,
            local: l,
            remote: r,
            priority: prio,
            state,
            mapped_local: None,
            nominated: false,
            use_candidate_received: false,
            rtt: None,
            nominations: 0,
            conn: None,
        };
        let at = self
            .pairs
            .iter()
            .position(|p| p.priority < prio)
            .unwrap_or(self.pairs.len());
        self.pairs.insert(at, pair);
        if let Some(relay) = self.locals[l].relay {
            let ip = self.remotes[r].addr.ip();
            self.relay_permit(relay, ip);
        }
        Some(id)
    }

    pub(super) fn same_foundation(&self, l1: usize, r1: usize, l2: usize, r2: usize) -> bool {
        self.locals[l1].cand.foundation == self.locals[l2].cand.foundation
            && self.remotes[r1].foundation == self.remotes[r2].foundation
    }

    pub(super) fn recompute_pair_priorities(&mut self) {
        for i in 0..self.pairs.len() {
            let (lp, rp) = (
                self.locals[self.pairs[i].local].cand.priority,
                self.remotes[self.pairs[i].remote].priority,
            );
            self.pairs[i].priority = match self.role {
                Role::Controlling => pair_priority(lp, rp),
                Role::Controlled => pair_priority(rp, lp),
            };
        }
        self.pairs.sort_by_key(|p| std::cmp::Reverse(p.priority));
    }

    /// A signalled candidate has the address, component and protocol of the peer-reflexive
    /// remote candidate `r`: the peer's check arrived before its signalling (RFC 8838 trickle
    /// makes this common, relayed candidates more so). RFC 8445 §7.3.1.3 learns a
    /// peer-reflexive candidate "which will be replaced" by the signalled one if it comes, and
    /// §5.1.1.2 says a peer-reflexive candidate is one not known from signalling: the
    /// candidate takes the signalled type, priority, foundation and related address
    /// (libwebrtc does the same), keeps its index (its pairs stay the same pairs, none is
    /// duplicated), is paired with the host candidates it was not paired with yet (§6.1.2.2),
    /// and the pair priorities are computed again (§6.1.2.3) with the list kept sorted. A
    /// selected pair on it is selected again (the priorities changed) and reported with the
    /// signalled type.
    pub(super) fn replace_peer_reflexive(&mut self, now: Instant, r: usize, c: Candidate) {
        let component = c.component;
        let remote = &mut self.remotes[r];
        remote.kind = c.kind;
        remote.priority = c.priority;
        remote.foundation = c.foundation;
        remote.related = c.related;
        remote.tcp_type = c.tcp_type;
        self.recompute_pair_priorities();
        for l in 0..self.locals.len() {
            if self.locals[l].is_base() {
                self.form_pair(l, r);
            }
        }
        let Some(ci) = self.components.iter().position(|c| c.id == component) else {
            return;
        };
        let Some(before) = self.components[ci].selected else {
            return;
        };
        let events = self.events.len();
        self.select(now, component);
        let reported = self.events.len() > events;
        if !reported && self.pair(before).is_some_and(|p| p.remote == r) {
            self.report_selected(component, before);
        }
    }

    /// RFC 8445 §7.2.5.3.3: the Frozen pairs of the foundation of (`l`, `r`) become Waiting.
    pub(super) fn unfreeze_foundation(&mut self, l: usize, r: usize) {
        for i in 0..self.pairs.len() {
            let (l2, r2) = (self.pairs[i].local, self.pairs[i].remote);
            if self.pairs[i].state == PairState::Frozen && self.same_foundation(l, r, l2, r2) {
                self.pairs[i].unfreeze();
            }
        }
    }

    pub(super) fn component_nominated(&self, component: ComponentId) -> bool {
        self.pairs
            .iter()
            .any(|p| p.component == component && p.nominated)
    }

    pub(super) fn pair_failed(&mut self, now: Instant, id: u32) {
        let Some(p) = self.pair_mut(id) else { return };
        p.fail();
        let component = p.component;
        self.triggered.retain(|t| t.pair != id);
        let Some(c) = self.components.iter_mut().find(|c| c.id == component) else {
            return;
        };
        if c.nominating == Some(id) {
            c.nominating = None;
        }
        // A selected pair that fails (its nomination timed out, say) is replaced by the best
        // valid pair left, if any.
        if c.selected == Some(id) {
            c.selected = None;
            self.select(now, component);
        }
    }

    pub(super) fn start_check(&mut self, now: Instant) -> bool {
        if self.remote_creds.is_none() {
            return false;
        }
        // The triggered-check queue first (RFC 8445 §6.1.4.2).
        // A useful check whose pair is not ready (its relay's permission is being installed)
        // keeps its place.
        let mut next = None;
        let mut waiting = Vec::new();
        while let Some(t) = self.triggered.pop_front() {
            if !self.triggered_useful(t) {
                continue;
            }
            if self.pair(t.pair).is_some_and(|p| self.pair_ready(p)) {
                next = Some(t);
                break;
            }
            waiting.push(t);
        }
        for t in waiting.into_iter().rev() {
            self.triggered.push_front(t);
        }
        if next.is_none() {
            next = self.next_ordinary_check().map(|pair| Triggered {
                pair,
                use_candidate: false,
            });
        }
        let Some(t) = next else { return false };
        self.send_check(now, t.pair, t.use_candidate, false);
        true
    }

    /// Whether a queued triggered check is still worth sending: a pair that succeeded since it
    /// was queued needs no plain check again, nor does a pair of a nominated component, unless
    /// the peer nominated that pair (controlled, RFC 8445 §7.3.1.5: it is nominated when this
    /// check succeeds; the controlling peer moves to another pair when the nominated one was
    /// lost, see `IceAgent::pair_failed`).
    pub(super) fn triggered_useful(&self, t: Triggered) -> bool {
        self.pair(t.pair).is_some_and(|p| {
            t.use_candidate
                || (!p.is_valid() && (p.peer_nominated() || !self.component_nominated(p.component)))
        })
    }

    /// RFC 8445 §6.1.4.2: the Waiting pair of highest priority, else the Frozen pair of
    /// highest priority whose foundation has no pair Waiting or In-Progress (which is then
    /// unfrozen), of a component not yet nominated, among the pairs ready to send.
    pub(super) fn next_ordinary_check(&self) -> Option<u32> {
        let open = |p: &&Pair| !self.component_nominated(p.component) && self.pair_ready(p);
        if let Some(p) = self
            .pairs
            .iter()
            .filter(open)
            .find(|p| p.state == PairState::Waiting)
        {
            return Some(p.id);
        }
        self.pairs
            .iter()
            .filter(open)
            .find(|p| {
                p.state == PairState::Frozen
                    && !self.pairs.iter().any(|q| {
                        q.is_pending() && self.same_foundation(p.local, p.remote, q.local, q.remote)
                    })
            })
            .map(|p| p.id)
    }
}
