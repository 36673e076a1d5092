//! Refusals of the peer's requests: one builder per [`Refused`] variant, each with the IQ
//! error the caller sends back.

use xep0371_model::{Action, Iq, JingleCondition, StanzaError};

use super::Session;
use crate::event::Refused;

/// Longest explanation kept in a `bad-request` (characters).
const MAX_WHY: usize = 200;

impl Session {
    /// `unknown-session` (XEP-0166): a sid we do not know, another sender than the peer, a
    /// session not started yet or already terminated.
    pub(super) fn refuse_unknown_session(&self, iq: &Iq) -> Refused {
        Refused::UnknownSession {
            reply: self.error_reply(iq, StanzaError::jingle(JingleCondition::UnknownSession)),
        }
    }

    /// `tie-break` (XEP-0371 §5.10): the initiator refuses the peer's restart that crossed
    /// its own.
    pub(super) fn refuse_tie_break(&self, iq: &Iq) -> Refused {
        Refused::TieBreak {
            reply: self.error_reply(iq, StanzaError::jingle(JingleCondition::TieBreak)),
        }
    }

    /// `out-of-order` (XEP-0166): `action` does not fit the session's phase or role.
    pub(super) fn refuse_out_of_order(&self, iq: &Iq, action: Action) -> Refused {
        Refused::OutOfOrder {
            action,
            reply: self.error_reply(iq, StanzaError::jingle(JingleCondition::OutOfOrder)),
        }
    }

    /// `bad-request`: the request cannot be read or breaks a rule; `why` (its first
    /// [`MAX_WHY`] characters) goes in the error's text.
    pub(super) fn refuse_bad_request(&self, iq: &Iq, why: &str) -> Refused {
        let why: String = why.chars().take(MAX_WHY).collect();
        Refused::BadRequest {
            reply: self.error_reply(iq, StanzaError::bad_request(Some(why.clone()))),
            why,
        }
    }

    /// The error reply to `iq`, from us, to the peer when `iq` names no sender.
    fn error_reply(&self, iq: &Iq, error: StanzaError) -> Box<Iq> {
        let mut r = iq.error_reply(error);
        r.from = Some(self.local.clone());
        if r.to.is_none() {
            r.to = Some(self.peer.clone());
        }
        Box::new(r)
    }
}
