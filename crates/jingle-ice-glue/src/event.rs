//! What a session reports: events, the outcome of an incoming stanza, refusals with the IQ
//! error to send, API misuse, counters.

use std::net::SocketAddr;

use xep0371_model::minidom::Element;
use xep0371_model::{Action, Iq, Jingle, StanzaError};

/// Something the caller should know. Drain with [`crate::Session::poll_event`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The responder took the peer's session-initiate. `description` is the application's
    /// (opaque here); answer with [`crate::Session::accept`] when the user agrees.
    Initiated {
        /// The content's `<description/>`, if any.
        description: Option<Element>,
    },
    /// The initiator received session-accept.
    Accepted {
        /// The content's `<description/>`, if any.
        description: Option<Element>,
    },
    /// The peer acknowledged one of our requests.
    Acknowledged {
        /// The request's id.
        id: String,
        /// Its Jingle action.
        action: Action,
    },
    /// The peer answered one of our requests with an error.
    PeerError {
        /// The request's id.
        id: String,
        /// Its Jingle action.
        action: Action,
        /// The error.
        error: StanzaError,
    },
    /// No answer to one of our requests within [`crate::Config::iq_timeout`] (or it was
    /// forgotten at [`crate::Config::max_pending_iqs`]).
    IqTimeout {
        /// The request's id.
        id: String,
        /// Its Jingle action.
        action: Action,
    },
    /// An ICE restart (XEP-0371 §5.10) took effect: a new generation of local credentials.
    Restarted {
        /// Whether the peer started it (new ufrag/pwd in its transport-info).
        by_peer: bool,
        /// The agent's new generation.
        generation: u32,
    },
    /// Both sides restarted at once (XEP-0371 §5.10); the initiator's restart won.
    TieBreak {
        /// Whether this session's restart won (we are the initiator and answered
        /// `<tie-break/>`) or lost (we are the responder and took the initiator's).
        won: bool,
    },
    /// The initiator told us which of our candidates it nominated (XEP-0371 §5.8).
    RemoteCandidates {
        /// `(component, address)` of each `<remote-candidate/>`.
        candidates: Vec<(u8, SocketAddr)>,
    },
    /// The transport is now raw UDP (XEP-0371 §6, XEP-0177): the ICE agent is no longer used.
    FellBackToRawUdp {
        /// The peer's raw UDP address, when its transport carried one.
        remote: Option<SocketAddr>,
    },
    /// The peer rejected our transport-replace; the ICE transport stays.
    FallbackRejected,
    /// Candidates may now leave the session (XEP-0371 §11.1); the held ones were released.
    SharingAllowed(crate::Allowance),
    /// The peer ended the session (or our session-initiate was refused).
    Terminated {
        /// The `<reason/>`, if any.
        reason: Option<Element>,
    },
    /// An event of the ICE agent: state changes, selected pairs, consent, failures, and the
    /// local candidates and gathering-complete, which the session also signals itself. (New
    /// credentials come as [`Event::Restarted`].)
    Ice(ice_sans_io::Event),
}

/// What became of an incoming stanza that was not refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum Handled {
    /// A Jingle request of this session, taken; its IQ-result is queued in
    /// [`crate::Session::poll_stanza`].
    Acknowledged(Action),
    /// An answer (result or error) to one of our requests.
    Response,
    /// A Jingle request of this session that the transport does not handle (session-info,
    /// description-info, content-add, security-info, ...): the application answers it.
    Application(Box<Jingle>),
    /// Not for this session (another payload, or an answer to a request we did not send).
    NotOurs,
    /// Garbage that cannot be answered (not well-formed, too long, an IQ without an id, a
    /// malformed result or error): dropped and counted in [`Stats::dropped_malformed`].
    Dropped(String),
}

/// An incoming request refused. [`Refused::reply`] is the IQ error the caller sends back;
/// nothing else happened to the session (except counters). (Garbage that cannot be answered
/// is no error: it is [`Handled::Dropped`] and counted.)
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refused {
    /// XEP-0166 §7.2.x / XEP-0371 §5.5 footnote 21: a session id (or sender) we do not know, or
    /// a session that has ended: `<item-not-found/>` with `<unknown-session/>`.
    #[error("unknown session")]
    UnknownSession {
        /// The IQ error to send.
        reply: Box<Iq>,
    },
    /// XEP-0166: an action out of order (session-accept to a responder, transport-accept
    /// without our transport-replace, ...): `<unexpected-request/>` with `<out-of-order/>`.
    #[error("{action} is out of order")]
    OutOfOrder {
        /// The action refused.
        action: Action,
        /// The IQ error to send.
        reply: Box<Iq>,
    },
    /// A malformed Jingle payload or transport (XEP-0371 §5.5: "if the candidate data is
    /// improperly formatted, it returns an IQ-error"): `<bad-request/>`.
    #[error("bad request: {why}")]
    BadRequest {
        /// What is wrong.
        why: String,
        /// The IQ error to send.
        reply: Box<Iq>,
    },
    /// XEP-0371 §5.10: the peer's restart crossed ours and we are the initiator:
    /// `<conflict/>` with `<tie-break/>`.
    #[error("simultaneous ICE restart: tie-break")]
    TieBreak {
        /// The IQ error to send.
        reply: Box<Iq>,
    },
}

impl Refused {
    /// The IQ error to send back.
    pub fn reply(&self) -> &Iq {
        match self {
            Refused::UnknownSession { reply }
            | Refused::OutOfOrder { reply, .. }
            | Refused::BadRequest { reply, .. }
            | Refused::TieBreak { reply } => reply,
        }
    }

    /// The reply as an element, ready to send.
    pub fn reply_element(&self) -> Element {
        Element::from(self.reply())
    }
}

/// Misuse of the API: a verb called in a state where it means nothing.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The verb needs another role (`initiate` is the initiator's, `accept` the responder's).
    #[error("this verb is for the {0:?}")]
    WrongRole(crate::Role),
    /// The verb does not fit the session's phase (initiate twice, accept before the
    /// session-initiate, restart before the session is live or after it ended).
    #[error("not possible in phase {0:?}")]
    WrongPhase(crate::phase::Phase),
    /// Our previous restart is not acknowledged yet.
    #[error("a restart is already under way")]
    RestartPending,
    /// The transport is raw UDP now (or a transport-replace is under way).
    #[error("the transport is not ICE")]
    NotIce,
    /// XEP-0371 §11.1: the address would go to the peer before the caller allowed IP sharing.
    #[error("IP sharing with the peer is not allowed yet")]
    SharingNotAllowed,
    /// The agent refused a local host address.
    #[error("the agent refused the address: {0}")]
    Candidate(#[from] ice_sans_io::CandidateError),
    /// The agent refused chosen credentials (lengths and characters of RFC 8445 §5.3, or
    /// credentials already in use).
    #[error("the agent refused the credentials: {0}")]
    Credentials(#[from] ice_sans_io::CredentialsError),
}

/// Counters: everything dropped is counted here.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Stanzas refused with an IQ error (unknown-session, out-of-order, bad-request,
    /// tie-break).
    pub refused: u64,
    /// Stanzas dropped without an answer (not well-formed, no id, malformed results).
    pub dropped_malformed: u64,
    /// Results and errors that answer no request of ours.
    pub unmatched_responses: u64,
    /// Transport-infos acknowledged and dropped because our restart was unacknowledged
    /// (XEP-0371 §5.10), or because they carried a previous generation's credentials.
    pub dropped_during_restart: u64,
    /// Remote candidates the agent refused (TCP, peer-reflexive, unknown component, limit).
    pub candidates_refused: u64,
    /// Candidates (ours or the peer's) dropped at [`crate::Config::max_queued_candidates`].
    pub candidates_over_limit: u64,
    /// Outgoing stanzas dropped at [`crate::Config::max_outgoing`].
    pub outgoing_dropped: u64,
    /// Events dropped at [`crate::Config::max_events`].
    pub events_dropped: u64,
    /// Requests forgotten at [`crate::Config::max_pending_iqs`].
    pub pending_evicted: u64,
    /// Contents taken although their name was not ours (the session has one content; see the
    /// README's deviations).
    pub content_name_mismatch: u64,
}
