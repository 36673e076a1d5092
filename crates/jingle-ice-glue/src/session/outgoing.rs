//! What the session sends: session-initiate's and session-accept's transport, transport-info
//! with our candidates, a restart's credentials, gathering-complete and the remote-candidate
//! notification, IQ results; and the agent's events turned into those stanzas.

use std::time::Instant;

use ice_sans_io::{CandidateKind, Event as IceEvent, State};
use rand_chacha::rand_core::RngCore;
use xep0371_model::minidom::Element;
use xep0371_model::{
    Action, Candidate, Content, IceNamespace, IceTransport, Iq, Jingle, RemoteCandidate, Transport,
};

use super::Session;
use super::restart::Due;
use crate::config::Role;
use crate::convert;
use crate::event::Event;

impl Session {
    /// A fresh id (IQ or candidate): `prefix` and 10 characters drawn from the session's RNG.
    pub(super) fn new_id(&mut self, prefix: &str) -> String {
        const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut s = String::with_capacity(prefix.len() + 10);
        s.push_str(prefix);
        for _ in 0..10 {
            s.push(char::from(A[(self.rng.next_u32() % 36) as usize]));
        }
        s
    }

    /// Queues an event for [`Session::poll_event`] (over `Config::max_events`: counted).
    pub(super) fn emit(&mut self, e: Event) {
        if self.events.len() >= self.cfg.max_events {
            self.stats.events_dropped += 1;
        } else {
            self.events.push_back(e);
        }
    }

    /// Queues a stanza for [`Session::poll_stanza`] (over `Config::max_outgoing`: counted).
    fn push_out(&mut self, iq: Iq) {
        if self.out.len() >= self.cfg.max_outgoing {
            self.stats.outgoing_dropped += 1;
        } else {
            self.out.push_back(iq);
        }
    }

    /// Acknowledges the peer's request `iq` (an IQ result from us).
    pub(super) fn ack(&mut self, iq: &Iq) {
        let mut r = iq.result_reply();
        r.from = Some(self.local.clone());
        if r.to.is_none() {
            r.to = Some(self.peer.clone());
        }
        self.push_out(r);
    }

    /// A Jingle payload of this session.
    pub(super) fn jingle(&self, action: Action) -> Jingle {
        let mut j = Jingle::new(action, self.sid.clone());
        j.initiator = Some(self.initiator_jid.clone());
        j
    }

    /// Our content with transport `t`.
    pub(super) fn content_with(&self, t: Transport, description: Option<Element>) -> Content {
        let mut c = Content::new(self.content_creator, self.content_name.clone());
        c.description = description;
        c.transport = Some(t);
        c
    }

    /// An ICE transport in our namespace with our current credentials.
    fn ice_transport(&self) -> IceTransport {
        let (u, p) = self.agent.local_credentials();
        IceTransport::new(self.ns, u, p)
    }

    /// One of our candidates as signalled: the model's candidate with the generation, a fresh
    /// id and the interface number of its base; before the allowance, without its related
    /// address (XEP-0371 §11.1).
    pub(super) fn signalled_candidate(&mut self, c: &ice_sans_io::Candidate) -> Option<Candidate> {
        let mut m = convert::model_candidate(c)?;
        // XEP-0371 §5.3 and §5.10: the generation counts restarts.
        m.generation = Some(u8::try_from(self.generation).unwrap_or(u8::MAX));
        m.id = Some(self.new_id("c"));
        // XEP-0371 §5.3: the interface of the candidate's base (its own address for a host
        // candidate, the related address for the others).
        let base = match c.kind {
            CandidateKind::Host => Some(c.addr.ip()),
            CandidateKind::PeerReflexive
            | CandidateKind::ServerReflexive
            | CandidateKind::Relayed => c.related.map(|r| r.ip()),
        };
        m.network = Some(
            base.and_then(|b| self.networks.iter().find(|(ip, _)| *ip == b))
                .map_or(0, |(_, n)| *n),
        );
        self.hide_related_before_allowance(&mut m);
        Some(m)
    }

    /// The transport of session-initiate or session-accept: credentials, `ice2` in ice:0,
    /// and the candidates gathered so far that may be shared (XEP-0371 §5.2, §5.4, §11.1).
    pub(super) fn offer_transport(&mut self) -> IceTransport {
        let mut t = self.ice_transport();
        if self.ns == IceNamespace::Ice0 && self.cfg.ice2 {
            // XEP-0371 §5.3: "'ice2' attribute tells about compliancy with RFC 8445".
            t.ice2 = Some(true);
        }
        // The offer or answer carries the current credentials: no separate restart stanza.
        self.restart.carried_in_offer();
        if self.cfg.candidates_in_offer {
            let all = std::mem::take(&mut self.unsent);
            for c in all {
                if self.may_share(&c) {
                    if let Some(m) = self.signalled_candidate(&c) {
                        t.candidates.push(m);
                    }
                } else {
                    self.unsent.push_back(c);
                }
            }
        }
        t
    }

    /// Sends `jingle` in an IQ set with a fresh id, tracked until answered or timed out (the
    /// oldest tracked requests are forgotten first when over the bound). Returns the id.
    pub(super) fn send_request(&mut self, now: Instant, jingle: Jingle) -> String {
        let id = self.new_id("j");
        for (oldest, action) in self.iqs.make_room() {
            self.stats.pending_evicted += 1;
            self.on_timeout(oldest, action);
        }
        self.iqs.track(now, id.clone(), jingle.action);
        let iq = Iq::set(
            Some(self.local.clone()),
            Some(self.peer.clone()),
            id.clone(),
            &jingle,
        );
        self.push_out(iq);
        id
    }

    /// A transport-info with our credentials, `cands` and, if asked, gathering-complete.
    fn send_transport_info(
        &mut self,
        now: Instant,
        cands: Vec<ice_sans_io::Candidate>,
        gathering_complete: bool,
    ) -> String {
        let mut t = self.ice_transport();
        for c in &cands {
            if let Some(m) = self.signalled_candidate(c) {
                t.candidates.push(m);
            }
        }
        t.gathering_complete = gathering_complete;
        let mut j = self.jingle(Action::TransportInfo);
        j.contents.push(self.content_with(Transport::Ice(t), None));
        self.send_request(now, j)
    }

    /// Turns the agent's events into stanzas and session events.
    pub(super) fn pump(&mut self, now: Instant) {
        while let Some(e) = self.agent.poll_event() {
            match e {
                IceEvent::LocalCredentials { generation, .. } => {
                    // XEP-0371 §5.10: a new generation; the agent gives every candidate again.
                    self.generation = generation;
                    self.unsent.clear();
                    self.gathering_complete = false;
                    self.gc_sent = false;
                    self.notified = false;
                    let ours = self.restart.new_credentials();
                    self.emit(Event::Restarted {
                        by_peer: !ours,
                        generation,
                    });
                }
                IceEvent::LocalCandidate(c) => {
                    if self.unsent.len() >= self.cfg.max_queued_candidates {
                        self.stats.candidates_over_limit += 1;
                    } else {
                        self.unsent.push_back(c.clone());
                    }
                    // Told to the caller too: the session signals it, the caller may log it.
                    self.emit(Event::Ice(IceEvent::LocalCandidate(c)));
                }
                IceEvent::GatheringComplete => {
                    self.gathering_complete = true;
                    // A caller that does not trickle initiates or accepts on this.
                    self.emit(Event::Ice(IceEvent::GatheringComplete));
                }
                other => self.emit(Event::Ice(other)),
            }
        }
        self.flush(now);
    }

    fn gc_due(&self) -> bool {
        // XEP-0371 §7: gathering-complete is an ice:0 payload; deployed ice-udp:1 clients
        // never send it (the agent's no-end-of-candidates timeout covers them). It comes
        // after the last candidate, so not while candidates are held back (RFC 8838 §4.4).
        self.ns == IceNamespace::Ice0
            && self.gathering_complete
            && !self.gc_sent
            && self.unsent.is_empty()
    }

    /// Sends what is due: a restart's credentials, candidates (one per transport-info, or
    /// all together for a peer advertising `urn:ietf:rfc:3264`, XEP-0371 §5.5 and §8.2),
    /// gathering-complete, the remote-candidate notification.
    pub(super) fn flush(&mut self, now: Instant) {
        if !self.can_signal() {
            return;
        }
        let batch = self.peer_features.rfc3264;
        let restart = self.restart.take_due();
        let wait_for_batch = batch && !self.gathering_complete && restart.is_none();
        let mut ready = Vec::new();
        if !wait_for_batch {
            for c in std::mem::take(&mut self.unsent) {
                if self.may_share(&c) {
                    ready.push(c);
                } else {
                    self.unsent.push_back(c);
                }
            }
        }
        if let Some(due) = restart {
            // XEP-0371 §5.10: the restart stanza carries the new ufrag and pwd (with a
            // candidate when there is one that may be shared; Conversations sends none).
            let n = if batch {
                ready.len()
            } else {
                ready.len().min(1)
            };
            let first: Vec<_> = ready.drain(..n).collect();
            let gc = batch && self.gc_due();
            let id = self.send_transport_info(now, first, gc);
            self.gc_sent |= gc;
            if due == Due::Ours {
                self.restart.sent(id);
            }
        }
        if batch {
            if !ready.is_empty() {
                let gc = self.gc_due();
                self.send_transport_info(now, ready, gc);
                self.gc_sent |= gc;
            }
        } else {
            for c in ready {
                self.send_transport_info(now, vec![c], false);
            }
        }
        if self.gc_due() {
            self.send_transport_info(now, Vec::new(), true);
            self.gc_sent = true;
        }
        self.maybe_notify(now);
    }

    /// XEP-0371 §5.8: once every component is nominated, the initiator MAY send the
    /// remote-candidate notification, and MUST when the peer advertises `urn:ietf:rfc:3264`.
    fn maybe_notify(&mut self, now: Instant) {
        if self.role != Role::Initiator
            || self.notified
            || !(self.cfg.always_notify_remote_candidates || self.peer_features.rfc3264)
            || self.agent.state() != State::Completed
        {
            return;
        }
        let mut t = self.ice_transport();
        for component in 1..=self.cfg.ice.components.clamp(1, 255) {
            if let Some(p) = self.agent.selected_pair(component).filter(|p| p.nominated) {
                t.remote_candidates.push(RemoteCandidate {
                    component: u8::try_from(component).unwrap_or(u8::MAX),
                    ip: p.remote.addr.ip(),
                    port: p.remote.addr.port(),
                });
            }
        }
        if self.ns == IceNamespace::IceUdp1 {
            // XEP-0176 §13: at most one remote-candidate.
            t.remote_candidates.truncate(1);
        }
        if t.remote_candidates.is_empty() {
            return;
        }
        self.notified = true;
        let mut j = self.jingle(Action::TransportInfo);
        j.contents.push(self.content_with(Transport::Ice(t), None));
        self.send_request(now, j);
    }

    /// Our current credentials and every local candidate that may be shared, in one
    /// transport-info (after losing a tie-break).
    pub(super) fn resend_all(&mut self, now: Instant) {
        if !self.can_signal() {
            return;
        }
        let all: Vec<_> = self
            .agent
            .local_candidates()
            .filter(|c| c.kind != CandidateKind::PeerReflexive)
            .cloned()
            .collect();
        let share: Vec<_> = all.into_iter().filter(|c| self.may_share(c)).collect();
        self.unsent.retain(|c| !share.contains(c));
        let gc = self.ns == IceNamespace::Ice0 && self.gathering_complete && self.unsent.is_empty();
        self.send_transport_info(now, share, gc);
        self.gc_sent |= gc;
    }
}
