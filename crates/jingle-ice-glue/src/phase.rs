//! The session's place in the XEP-0166 life cycle (named by [`crate::Error::WrongPhase`] too).

/// Where the session is in the XEP-0166 life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Initiator: before [`crate::Session::initiate`]. Responder: before the peer's
    /// session-initiate.
    Idle,
    /// session-initiate sent (initiator) or received (responder), no session-accept yet.
    /// XEP-0371 §5.5: the initiator "MUST consider the session to be live as soon as it sends
    /// the session-initiate message".
    Pending,
    /// session-accept sent or received.
    Active,
    /// session-terminate sent or received, or session-initiate refused.
    Ended,
}
