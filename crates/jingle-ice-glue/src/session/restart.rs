//! Where an ICE restart (XEP-0371 §5.10) stands on our side of the signalling, as one state.

/// Where an ICE restart stands on our side of the signalling (XEP-0371 §5.10).
///
/// The agent announces every new generation of our credentials (its `LocalCredentials`
/// event, [`Restart::new_credentials`]); the session sends them in a transport-info of their
/// own ([`Restart::take_due`]), unless a session-initiate or session-accept carries them first
/// ([`Restart::carried_in_offer`]); a restart of ours then waits for its answer
/// ([`Restart::sent`], [`Restart::answered`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) enum Restart {
    /// No restart to signal, none of ours awaiting its answer.
    #[default]
    Settled,
    /// We asked the agent to restart ([`crate::Session::restart`]); the agent's new
    /// credentials, announced within the same call, make it [`Restart::OursDue`].
    Requested,
    /// Our own restart's new credentials are to be sent.
    OursDue,
    /// The peer's new credentials made the agent restart too (RFC 8445 §9): our new
    /// credentials are to be sent in answer. This lasts while the session may not signal yet
    /// (a responder before session-accept, whose session-accept then carries them).
    AnswerDue,
    /// Our restart went out in the transport-info with this IQ id and awaits the peer's
    /// result or error: meanwhile the peer's transport-infos are acknowledged and dropped (a
    /// responder keeps a crossing restart aside), and the initiator answers a crossing restart
    /// with `<tie-break/>`.
    OursPending {
        /// The id of our restart's transport-info.
        iq: String,
    },
}

/// Whose restart the due transport-info signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Due {
    /// Ours: its answer is awaited ([`Restart::sent`]).
    Ours,
    /// An answer to the peer's restart: nothing is awaited.
    Answer,
}

impl Restart {
    /// The agent announced a new generation of our credentials. Returns whether the restart
    /// was ours ([`Restart::Requested`]) rather than the agent following the peer's.
    ///
    /// Never while ours awaits its answer: the agent follows the peer only when it has the
    /// peer's credentials, which our restart cleared, and the only credentials applied while
    /// ours is unanswered are the first ones of a session-accept.
    pub(super) fn new_credentials(&mut self) -> bool {
        debug_assert!(!self.is_pending(), "new credentials while {self:?}");
        let ours = *self == Restart::Requested;
        *self = if ours {
            Restart::OursDue
        } else {
            Restart::AnswerDue
        };
        ours
    }

    /// Session-initiate or session-accept carries the current credentials: no restart
    /// transport-info is due any more.
    pub(super) fn carried_in_offer(&mut self) {
        if matches!(self, Restart::OursDue | Restart::AnswerDue) {
            *self = Restart::Settled;
        }
    }

    /// The restart transport-info due now, if any; it is then no longer due.
    pub(super) fn take_due(&mut self) -> Option<Due> {
        let due = match self {
            Restart::OursDue => Due::Ours,
            Restart::AnswerDue => Due::Answer,
            Restart::Settled | Restart::Requested | Restart::OursPending { .. } => return None,
        };
        *self = Restart::Settled;
        Some(due)
    }

    /// Our restart went out in the transport-info `iq`.
    pub(super) fn sent(&mut self, iq: String) {
        debug_assert_eq!(*self, Restart::Settled);
        *self = Restart::OursPending { iq };
    }

    /// Whether our restart awaits its answer.
    pub(super) fn is_pending(&self) -> bool {
        matches!(self, Restart::OursPending { .. })
    }

    /// The request `id` was answered or timed out: when it was our restart, the restart is no
    /// longer pending, and `true` comes back.
    pub(super) fn answered(&mut self, id: &str) -> bool {
        let ours = matches!(self, Restart::OursPending { iq } if iq == id);
        if ours {
            *self = Restart::Settled;
        }
        ours
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our restart: requested, due, sent, answered.
    #[test]
    fn ours_requested_due_sent_answered() {
        let mut r = Restart::Requested;
        assert!(r.new_credentials());
        assert_eq!(r, Restart::OursDue);
        assert_eq!(r.take_due(), Some(Due::Ours));
        assert_eq!(r.take_due(), None);
        r.sent("j1".into());
        assert!(r.is_pending());
        assert!(!r.answered("j2"));
        assert!(r.is_pending());
        assert!(r.answered("j1"));
        assert_eq!(r, Restart::Settled);
    }

    /// The peer's restart: our answer is due until sent, or carried by the offer or answer.
    #[test]
    fn answer_due_until_sent_or_carried() {
        let mut r = Restart::Settled;
        assert!(!r.new_credentials());
        assert_eq!(r, Restart::AnswerDue);
        assert!(!r.new_credentials());
        r.carried_in_offer();
        assert_eq!(r, Restart::Settled);
        r.new_credentials();
        assert_eq!(r.take_due(), Some(Due::Answer));
        assert_eq!(r, Restart::Settled);
        let mut r = Restart::Requested;
        r.carried_in_offer();
        assert_eq!(r, Restart::Requested);
    }
}
