//! The errors of the agent's API: misuse, never something the network did.

use std::fmt;
use std::net::SocketAddr;

use crate::candidate::{CandidateKind, ComponentId, Protocol};
use crate::turn::TurnError;
#[cfg(doc)]
use crate::{Config, IceAgent};

/// Misuse of [`IceAgent::add_local_host`] or [`IceAgent::add_remote_candidate`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CandidateError {
    /// The component is 0 or above [`Config::components`].
    InvalidComponent(ComponentId),
    /// The foundation is not 1 to 32 ice-chars (RFC 8445 §5.1.1.3).
    InvalidFoundation,
    /// The address is unspecified (0.0.0.0, ::), multicast, or has port 0.
    InvalidAddress(SocketAddr),
    /// A protocol the agent does not pair (none today: UDP and TCP are both paired).
    UnsupportedProtocol(Protocol),
    /// A TCP candidate without a `tcp_type`, or a UDP candidate with one (RFC 6544 §4.5: the
    /// TCP candidates, and only they, carry `tcptype`).
    TcpType,
    /// [`IceAgent::add_local_tcp_host`]: a passive or simultaneous-open candidate of another
    /// type already listens on this address.
    AddressInUse(SocketAddr),
    /// A peer-reflexive candidate cannot be signalled (RFC 8445 §7.3.1.3 learns them from
    /// checks); a relayed local candidate needs a TURN client, which the agent has not.
    UnsupportedKind(CandidateKind),
    /// [`Config::max_remote_candidates`] reached; the candidate was dropped and counted.
    Limit,
}

impl fmt::Display for CandidateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CandidateError::InvalidComponent(c) => {
                write!(f, "component {c} is not one of this agent's components")
            }
            CandidateError::InvalidFoundation => {
                f.write_str("a foundation is 1 to 32 ice-chars (RFC 8445 §5.1.1.3)")
            }
            CandidateError::InvalidAddress(a) => {
                write!(f, "{a} is not a usable unicast transport address")
            }
            CandidateError::UnsupportedProtocol(p) => {
                write!(f, "{} candidates are not supported", p.as_str())
            }
            CandidateError::TcpType => f.write_str(
                "a TCP candidate has a tcptype and a UDP candidate has none (RFC 6544 §4.5)",
            ),
            CandidateError::AddressInUse(a) => {
                write!(f, "another TCP candidate already listens on {a}")
            }
            CandidateError::UnsupportedKind(k) => {
                write!(f, "{} candidates cannot be added", k.as_str())
            }
            CandidateError::Limit => f.write_str("the remote candidate limit is reached"),
        }
    }
}

impl std::error::Error for CandidateError {}

/// Misuse of [`IceAgent::set_remote_credentials`], [`IceAgent::set_local_credentials`] or
/// [`IceAgent::restart_with_credentials`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialsError {
    /// The ufrag is empty, longer than 256, or holds a character that is not an ice-char; for
    /// our own credentials, also shorter than 4 characters (RFC 8445 §5.3).
    BadUfrag,
    /// The password is empty, longer than 256, or holds a character that is not an ice-char;
    /// for our own credentials, also shorter than 22 characters (RFC 8445 §5.3).
    BadPwd,
    /// Our credentials cannot change here: checks were already sent or answered with the
    /// current ones (use [`IceAgent::restart_with_credentials`]), or a restart was asked with
    /// the current ufrag (RFC 8445 §9 needs new ones).
    InUse,
}

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialsError::BadUfrag => {
                f.write_str("the ufrag must be 1 to 256 ice-chars (RFC 8445 §5.3)")
            }
            CredentialsError::BadPwd => {
                f.write_str("the password must be 1 to 256 ice-chars (RFC 8445 §5.3)")
            }
            CredentialsError::InUse => f.write_str(
                "the local credentials are in use: change them with a restart (RFC 8445 §9)",
            ),
        }
    }
}

impl std::error::Error for CredentialsError {}

/// Why [`IceAgent::send`] cannot send.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The component has no valid pair yet.
    NotConnected,
    /// Consent was lost on the component (RFC 7675 §5.1).
    ConsentLost,
    /// No such component.
    UnknownComponent(ComponentId),
    /// The selected pair is on a relay that cannot take the data: the allocation is gone, or
    /// the peer has no permission (RFC 8656 §9), or the data does not fit.
    Relay(TurnError),
    /// The selected pair is on a TCP connection and the data is longer than one RFC 4571 frame
    /// carries (65,535 bytes).
    FrameTooLarge {
        /// The data's length.
        len: usize,
    },
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotConnected => f.write_str("the component has no valid pair yet"),
            SendError::ConsentLost => f.write_str("consent was lost (RFC 7675)"),
            SendError::UnknownComponent(c) => write!(f, "no component {c}"),
            SendError::Relay(e) => write!(f, "through the relay: {e}"),
            SendError::FrameTooLarge { len } => write!(
                f,
                "{len} bytes do not fit one RFC 4571 frame (65,535) on the TCP connection"
            ),
        }
    }
}

impl std::error::Error for SendError {}

/// Why [`IceAgent::handle_accepted`] refused a connection: the caller closes it.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptError {
    /// No passive or simultaneous-open TCP candidate listens on this local address.
    UnknownLocalAddress(SocketAddr),
    /// [`Config::max_tcp_connections`] are held already.
    Limit,
}

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcceptError::UnknownLocalAddress(a) => {
                write!(f, "no passive or simultaneous-open TCP candidate on {a}")
            }
            AcceptError::Limit => f.write_str("the TCP connection limit is reached"),
        }
    }
}

impl std::error::Error for AcceptError {}
