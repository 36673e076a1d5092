//! The errors of the async layer.

use std::io;

/// Why an operation of this crate failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No XMPP session within the deadline, with what was seen (no TCP connection, or a
    /// connection but no session: wrong JID or password, or a server that requires TLS).
    #[error("could not log in as {jid}: {why}")]
    Login {
        /// The JID asked for.
        jid: String,
        /// What went wrong.
        why: String,
    },
    /// The XMPP connection ended (or was lost; tokio-xmpp would make a new one, with a new
    /// stream on which no session of ours exists).
    #[error("the XMPP connection ended: {0}")]
    Closed(String),
    /// The outgoing stanza queue is full: the XMPP connection does not keep up.
    #[error("the XMPP connection does not keep up: {0} stanzas are queued")]
    Backlog(usize),
    /// Too many stanzas arrived while waiting for a reply: they were kept until this bound.
    #[error("{0} stanzas arrived while waiting for a reply")]
    Flooded(usize),
    /// A stanza tokio-xmpp cannot send (not an `<iq/>`, `<message/>` or `<presence/>` that
    /// xmpp-parsers reads).
    #[error("not a stanza tokio-xmpp can send: {0}")]
    NotAStanza(String),
    /// No reply to a request within its deadline.
    #[error("no reply to {what} within {secs:.1} s")]
    Timeout {
        /// The request.
        what: String,
        /// The deadline.
        secs: f64,
    },
    /// The entity asked answered an IQ error.
    #[error("{what}: {from} answered {condition}")]
    Refused {
        /// The request.
        what: String,
        /// Who answered.
        from: String,
        /// The error condition (RFC 6120 §8.3.3).
        condition: String,
    },
    /// An answer that could not be read.
    #[error("{what}: {why}")]
    BadAnswer {
        /// The request.
        what: String,
        /// What is wrong with the answer.
        why: String,
    },
    /// The Jingle session refused a verb (wrong phase, bad parameters).
    #[error("jingle session: {0}")]
    Session(#[from] jingle_ice_glue::Error),
    /// The session has no pair to send on, or the agent refused the data.
    #[error("cannot send: {0}")]
    Send(#[from] ice_sans_io::SendError),
    /// A TURN server's credentials were refused by the agent.
    #[error("TURN server: {0}")]
    Turn(#[from] ice_sans_io::turn::TurnError),
    /// The call ended or failed before it was connected.
    #[error("the call ended: {0}")]
    Ended(String),
    /// A socket failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}
