//! What the peer sends: its requests (one handler per Jingle action, each refusing what does
//! not fit before anything changes), the transports they carry, and the answers to our
//! requests (results, errors, timeouts).

use std::net::SocketAddr;
use std::time::Instant;

use ice_sans_io::candidate::is_valid_credential;
use xep0371_model::jid::Jid;
use xep0371_model::minidom::Element;
use xep0371_model::{
    Action, Content, FromXml, IceTransport, Iq, IqPayload, Jingle, JingleCondition, Reading,
    Transport, ns,
};

use super::{Mode, Phase, Session};
use crate::config::Role;
use crate::convert;
use crate::event::{Event, Handled, Refused};

impl Session {
    /// A stanza that does not read as an IQ (`why`): a request with an id is refused (with
    /// `unknown-session` when it names another sid, else `bad-request`), the rest dropped.
    pub(super) fn on_unreadable(&mut self, el: &Element, why: &str) -> Result<Handled, Refused> {
        // Answer what can be answered: a request with an id.
        let id = el.attr("id");
        let is_request = matches!(el.attr("type"), Some("set" | "get"));
        match id {
            Some(id) if is_request => {
                let from = el.attr("from").and_then(|f| f.parse::<Jid>().ok());
                let fake = Iq {
                    from,
                    to: Some(self.local.clone()),
                    id: id.chars().take(256).collect(),
                    payload: IqPayload::Result(None),
                };
                let sid = el
                    .get_child("jingle", ns::JINGLE)
                    .and_then(|j| j.attr("sid"));
                self.stats.refused += 1;
                if sid.is_some_and(|s| s != self.sid) {
                    return Err(self.refuse_unknown_session(&fake));
                }
                Err(self.refuse_bad_request(&fake, why))
            }
            _ => {
                self.stats.dropped_malformed += 1;
                Ok(Handled::Dropped(why.to_owned()))
            }
        }
    }

    /// A typed IQ: an answer to one of our requests, or a Jingle request of this session.
    pub(super) fn on_iq(&mut self, now: Instant, iq: Iq) -> Result<Handled, Refused> {
        let from_peer = iq.from.as_ref().is_none_or(|f| *f == self.peer);
        match &iq.payload {
            IqPayload::Result(_) | IqPayload::Error { .. } => {
                if !from_peer {
                    self.stats.unmatched_responses += 1;
                    return Ok(Handled::NotOurs);
                }
                match self.iqs.answered(&iq.id) {
                    Some(action) => {
                        self.on_response(now, &iq.id, action, iq.payload);
                        Ok(Handled::Response)
                    }
                    None => {
                        self.stats.unmatched_responses += 1;
                        Ok(Handled::NotOurs)
                    }
                }
            }
            IqPayload::Get(_) => Ok(Handled::NotOurs),
            IqPayload::Set(payload) => {
                if !payload.is("jingle", ns::JINGLE) {
                    return Ok(Handled::NotOurs);
                }
                let sid = payload.attr("sid").unwrap_or_default();
                if sid != self.sid || !from_peer {
                    // XEP-0166: a session we do not know (or not with this sender).
                    return Err(self.refuse_unknown_session(&iq));
                }
                let jingle = match Jingle::read(payload, Reading::Lenient) {
                    Ok(p) => p.value,
                    Err(e) => return Err(self.refuse_bad_request(&iq, &e.to_string())),
                };
                let r = self.on_jingle(now, &iq, jingle);
                self.pump(now);
                r
            }
        }
    }

    /// A Jingle request of this session, to the handler of its action.
    fn on_jingle(&mut self, now: Instant, iq: &Iq, j: Jingle) -> Result<Handled, Refused> {
        if self.phase == Phase::Ended {
            // XEP-0166: after session-terminate the session is unknown.
            return Err(self.refuse_unknown_session(iq));
        }
        match j.action {
            Action::SessionInitiate => self.on_session_initiate(now, iq, j),
            Action::SessionAccept => self.on_session_accept(now, iq, j),
            Action::TransportInfo => self.on_transport_info(now, iq, j),
            Action::TransportReplace => self.on_transport_replace(now, iq, j),
            Action::TransportAccept => self.on_transport_accept(iq, j),
            Action::TransportReject => self.on_transport_reject(iq),
            Action::SessionTerminate => self.on_session_terminate(now, iq, j),
            _ => self.on_application_action(iq, j),
        }
    }

    /// session-initiate (XEP-0371 §5.2): the responder takes the initiator's content,
    /// namespace and transport.
    fn on_session_initiate(
        &mut self,
        now: Instant,
        iq: &Iq,
        j: Jingle,
    ) -> Result<Handled, Refused> {
        let action = Action::SessionInitiate;
        if self.role != Role::Responder || self.phase != Phase::Idle {
            return Err(self.refuse_out_of_order(iq, action));
        }
        let Some(content) = j.contents.iter().find(|c| c.transport.is_some()) else {
            return Err(self.refuse_bad_request(iq, "session-initiate without a transport"));
        };
        let Some(Transport::Ice(t)) = &content.transport else {
            return Err(self.refuse_bad_request(iq, "session-initiate without an ICE transport"));
        };
        let t = t.clone();
        self.check_transport(iq, &t)?;
        self.content_name = content.name.clone();
        self.content_creator = content.creator;
        let description = content.description.clone();
        // Answer in the namespace the initiator chose (XEP-0371 §8.1).
        self.ns = t.namespace;
        if let Some(i) = &j.initiator {
            self.initiator_jid = i.clone();
        }
        self.phase = Phase::Pending;
        self.apply_transport(now, t);
        self.ack(iq);
        self.emit(Event::Initiated { description });
        Ok(Handled::Acknowledged(action))
    }

    /// session-accept (XEP-0371 §5.4): the initiator takes the responder's transport (raw UDP
    /// after a fallback, XEP-0371 §6).
    fn on_session_accept(&mut self, now: Instant, iq: &Iq, j: Jingle) -> Result<Handled, Refused> {
        let action = Action::SessionAccept;
        if self.role != Role::Initiator || self.phase != Phase::Pending {
            return Err(self.refuse_out_of_order(iq, action));
        }
        let Some(content) = self.our_content(&j) else {
            return Err(self.refuse_bad_request(iq, "session-accept without our content"));
        };
        let description = content.description.clone();
        match &content.transport {
            Some(Transport::Ice(t)) if self.mode == Mode::Ice => {
                let t = t.clone();
                self.check_transport(iq, &t)?;
                self.apply_transport(now, t);
            }
            // XEP-0371 §6, Listing 15: after the fallback, raw UDP.
            Some(Transport::RawUdp(_)) if self.is_raw_udp() => {}
            None => {}
            Some(_) => {
                return Err(self.refuse_bad_request(iq, "session-accept with another transport"));
            }
        }
        self.phase = Phase::Active;
        self.ack(iq);
        self.emit(Event::Accepted { description });
        Ok(Handled::Acknowledged(action))
    }

    /// transport-info (XEP-0371 §5.5): checked here, taken in
    /// [`Session::receive_transport_info`].
    fn on_transport_info(&mut self, now: Instant, iq: &Iq, j: Jingle) -> Result<Handled, Refused> {
        let action = Action::TransportInfo;
        if self.phase == Phase::Idle {
            // XEP-0371 §5.5 footnote 21: before session-initiate the session does not
            // exist for the responder.
            return Err(match self.role {
                Role::Responder => self.refuse_unknown_session(iq),
                Role::Initiator => self.refuse_out_of_order(iq, action),
            });
        }
        if self.is_raw_udp() {
            return Err(self.refuse_out_of_order(iq, action));
        }
        let Some(content) = self.our_content(&j) else {
            return Err(self.refuse_bad_request(iq, "transport-info without our content"));
        };
        let Some(Transport::Ice(t)) = &content.transport else {
            return Err(self.refuse_bad_request(iq, "transport-info without an ICE transport"));
        };
        let t = t.clone();
        self.check_transport(iq, &t)?;
        self.receive_transport_info(now, iq, t)?;
        Ok(Handled::Acknowledged(action))
    }

    /// transport-replace (XEP-0371 §6): raw UDP accepted when `Config::accept_raw_udp_fallback`
    /// allows it, anything else rejected.
    fn on_transport_replace(
        &mut self,
        now: Instant,
        iq: &Iq,
        j: Jingle,
    ) -> Result<Handled, Refused> {
        let action = Action::TransportReplace;
        if self.phase == Phase::Idle || self.is_raw_udp() {
            return Err(self.refuse_out_of_order(iq, action));
        }
        let Some(content) = self.our_content(&j) else {
            return Err(self.refuse_bad_request(iq, "transport-replace without our content"));
        };
        let transport = content.transport.clone();
        self.ack(iq);
        match transport {
            // XEP-0371 §6, Listings 11 to 13: acknowledge, then transport-accept.
            Some(Transport::RawUdp(t)) if self.cfg.accept_raw_udp_fallback => {
                let remote = t.candidates.first().map(|c| c.addr());
                let mut a = self.jingle(Action::TransportAccept);
                a.contents
                    .push(self.content_with(Transport::RawUdp(t), None));
                self.send_request(now, a);
                self.mode = Mode::RawUdp(remote);
                self.our_replace = None;
                self.emit(Event::FellBackToRawUdp { remote });
            }
            other => {
                let mut r = self.jingle(Action::TransportReject);
                if let Some(t) = other {
                    r.contents.push(self.content_with(t, None));
                }
                self.send_request(now, r);
            }
        }
        Ok(Handled::Acknowledged(action))
    }

    /// transport-accept of our transport-replace (XEP-0371 §6): raw UDP from now on.
    fn on_transport_accept(&mut self, iq: &Iq, j: Jingle) -> Result<Handled, Refused> {
        let action = Action::TransportAccept;
        if self.our_replace.is_none() {
            return Err(self.refuse_out_of_order(iq, action));
        }
        let remote = self.our_content(&j).and_then(|c| match &c.transport {
            Some(Transport::RawUdp(t)) => t.candidates.first().map(|c| c.addr()),
            _ => None,
        });
        self.our_replace = None;
        self.mode = Mode::RawUdp(remote);
        self.ack(iq);
        self.emit(Event::FellBackToRawUdp { remote });
        Ok(Handled::Acknowledged(action))
    }

    /// transport-reject of our transport-replace (XEP-0371 §6): ICE stays.
    fn on_transport_reject(&mut self, iq: &Iq) -> Result<Handled, Refused> {
        let action = Action::TransportReject;
        if self.our_replace.take().is_none() {
            return Err(self.refuse_out_of_order(iq, action));
        }
        self.ack(iq);
        self.emit(Event::FallbackRejected);
        Ok(Handled::Acknowledged(action))
    }

    /// session-terminate (XEP-0166 §6.7): the session ends, our requests are forgotten.
    fn on_session_terminate(
        &mut self,
        now: Instant,
        iq: &Iq,
        j: Jingle,
    ) -> Result<Handled, Refused> {
        if self.phase == Phase::Idle {
            return Err(self.refuse_unknown_session(iq));
        }
        self.end(now);
        self.iqs.clear();
        self.ack(iq);
        self.emit(Event::Terminated { reason: j.reason });
        Ok(Handled::Acknowledged(Action::SessionTerminate))
    }

    /// An action that is not the transport's (session-info, description-info, content-add,
    /// ...): handed to the application to answer.
    fn on_application_action(&mut self, iq: &Iq, j: Jingle) -> Result<Handled, Refused> {
        if self.phase == Phase::Idle {
            return Err(self.refuse_unknown_session(iq));
        }
        Ok(Handled::Application(Box::new(j)))
    }

    /// The content of this session in `j`: by name, or the only one (see the README's
    /// deviations).
    fn our_content<'j>(&mut self, j: &'j Jingle) -> Option<&'j Content> {
        if let Some(c) = j.contents.iter().find(|c| c.name == self.content_name) {
            return Some(c);
        }
        if j.contents.len() == 1 {
            self.stats.content_name_mismatch += 1;
            return j.contents.first();
        }
        None
    }

    /// XEP-0371 §5.3 and §5.5: refuse a transport we cannot use, before anything changes.
    fn check_transport(&mut self, iq: &Iq, t: &IceTransport) -> Result<(), Refused> {
        // §5.3: "'pwd' and 'ufrag' attributes MUST be included whenever sending one or more
        // candidates".
        if !t.candidates.is_empty() && (t.ufrag.is_none() || t.pwd.is_none()) {
            return Err(
                self.refuse_bad_request(iq, "candidates without ufrag and pwd (XEP-0371 §5.3)")
            );
        }
        if t.ufrag.is_some() != t.pwd.is_some() {
            return Err(
                self.refuse_bad_request(iq, "ufrag without pwd or the reverse (XEP-0371 §5.3)")
            );
        }
        if let (Some(u), Some(p)) = (&t.ufrag, &t.pwd) {
            if !is_valid_credential(u) || !is_valid_credential(p) {
                return Err(self
                    .refuse_bad_request(iq, "ufrag or pwd is not 1 to 256 ice-chars (RFC 8839)"));
            }
        }
        // §5.3: "The value of the attribute may not be changed during lifetime of the
        // transport instance, but it's not an error to skip the attribute".
        if let (Some(new), Some(old)) = (t.ice2, self.peer_ice2) {
            if new != old {
                return Err(self.refuse_bad_request(iq, "ice2 changed (XEP-0371 §5.3)"));
            }
        }
        Ok(())
    }

    /// A checked transport-info (XEP-0371 §5.5, §5.7, §5.8, §5.9, §5.10): stale generations
    /// and, during our restart, everything are acknowledged and dropped (a crossing restart
    /// is a tie-break); the rest is applied.
    fn receive_transport_info(
        &mut self,
        now: Instant,
        iq: &Iq,
        t: IceTransport,
    ) -> Result<(), Refused> {
        if let (Some(u), Some(_)) = (&t.ufrag, &t.pwd) {
            let current = self.remote_creds.as_ref().map(|(u, _)| u.as_str());
            if current != Some(u.as_str()) && self.stale_ufrags.iter().any(|s| s == u) {
                // A previous generation's credentials: acknowledged, dropped.
                self.stats.dropped_during_restart += 1;
                self.ack(iq);
                return Ok(());
            }
            if self.restart.is_pending() {
                // XEP-0371 §5.10: "If a party has already sent ICE restart and receives any
                // transport-info message before <iq/> stanza of type "result", the
                // transport-info messages have to be acknowledged ... but dropped afterwards.
                // ... It's also possible both parties will send ICE restart simultaneously. In
                // this case session initiator MUST respond with <tie-break/> error".
                match self.role {
                    Role::Initiator => {
                        self.emit(Event::TieBreak { won: true });
                        return Err(self.refuse_tie_break(iq));
                    }
                    Role::Responder => {
                        // The initiator's restart wins if it answers ours with tie-break: keep
                        // its transport (not applied) until our restart is answered.
                        if self.stash.len() >= self.cfg.max_queued_candidates {
                            self.stats.candidates_over_limit += 1;
                        } else {
                            self.stash.push(t);
                        }
                        self.stats.dropped_during_restart += 1;
                        self.ack(iq);
                        return Ok(());
                    }
                }
            }
        } else if self.restart.is_pending() {
            self.stats.dropped_during_restart += 1;
            self.ack(iq);
            return Ok(());
        }
        let remote: Vec<(u8, SocketAddr)> = t
            .remote_candidates
            .iter()
            .map(|r| (r.component, r.addr()))
            .collect();
        self.apply_transport(now, t);
        self.ack(iq);
        if !remote.is_empty() {
            self.emit(Event::RemoteCandidates { candidates: remote });
        }
        Ok(())
    }

    /// Hands a checked transport to the agent: credentials (a change is the peer's restart),
    /// candidates (held while sharing is not allowed), end-of-candidates.
    fn apply_transport(&mut self, now: Instant, t: IceTransport) {
        if let Some(v) = t.ice2 {
            self.peer_ice2 = Some(v);
        }
        if let (Some(u), Some(p)) = (t.ufrag, t.pwd) {
            let changed = self
                .remote_creds
                .as_ref()
                .is_none_or(|(ou, op)| *ou != u || *op != p);
            if changed {
                if let Some((old, _)) = self.remote_creds.take() {
                    // XEP-0371 §5.10: new ufrag/pwd from the peer is its restart, with or
                    // without candidates (Conversations sends none). The agent restarts too
                    // and our new credentials follow.
                    self.remember_stale(old);
                    self.held_remote.clear();
                    self.held_eoc = false;
                }
                if self.agent.set_remote_credentials(now, &u, &p).is_err() {
                    // Checked before (check_transport); never reached.
                    self.stats.dropped_malformed += 1;
                    return;
                }
                self.remote_creds = Some((u, p));
            }
        }
        for c in &t.candidates {
            let Some(c) = convert::agent_candidate(c) else {
                self.stats.candidates_refused += 1;
                continue;
            };
            if self.allowance.is_some() {
                self.add_remote(now, c);
            } else if self.held_remote.len() >= self.cfg.max_queued_candidates {
                self.stats.candidates_over_limit += 1;
            } else {
                // XEP-0371 §11.1: checks from our addresses would reveal them; hold the
                // peer's candidates until sharing is allowed.
                self.held_remote.push(c);
            }
        }
        if t.gathering_complete {
            if self.allowance.is_some() {
                self.agent.end_of_remote_candidates(now);
            } else {
                self.held_eoc = true;
            }
        }
    }

    // ------------------------------------------------------------ answers to our requests

    /// Our request `id` carrying `action` timed out or was forgotten (over the bound).
    pub(super) fn on_timeout(&mut self, id: String, action: Action) {
        if self.restart.answered(&id) {
            self.stash.clear();
        }
        if self.our_replace.as_deref() == Some(id.as_str()) {
            self.our_replace = None;
        }
        self.emit(Event::IqTimeout { id, action });
    }

    /// The peer answered our request `id` carrying `action`.
    fn on_response(&mut self, now: Instant, id: &str, action: Action, payload: IqPayload) {
        let was_restart = self.restart.answered(id);
        match payload {
            IqPayload::Error { error, .. } => {
                let tie_break = error.jingle == Some(JingleCondition::TieBreak);
                self.emit(Event::PeerError {
                    id: id.to_owned(),
                    action,
                    error,
                });
                if was_restart && tie_break && self.role == Role::Responder {
                    // XEP-0371 §5.10: the initiator's restart wins. Take it, and send our
                    // credentials and candidates again: the initiator refused the stanza
                    // that carried them.
                    self.emit(Event::TieBreak { won: false });
                    for t in std::mem::take(&mut self.stash) {
                        self.apply_transport(now, t);
                    }
                    self.resend_all(now);
                } else if was_restart {
                    self.stash.clear();
                }
                if action == Action::SessionInitiate {
                    self.end(now);
                    self.emit(Event::Terminated { reason: None });
                }
                if self.our_replace.as_deref() == Some(id) {
                    self.our_replace = None;
                }
            }
            _ => {
                self.emit(Event::Acknowledged {
                    id: id.to_owned(),
                    action,
                });
                if was_restart {
                    // The peer's restart that crossed ours (it acknowledged ours, so it
                    // answered as a peer of a restart does): apply what it sent meanwhile.
                    for t in std::mem::take(&mut self.stash) {
                        self.apply_transport(now, t);
                    }
                }
            }
        }
        self.pump(now);
    }
}
