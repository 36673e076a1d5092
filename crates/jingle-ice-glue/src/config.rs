//! Session configuration: roles, the IP-sharing policy (XEP-0371 §11.1) and the limits that
//! bound memory under hostile input.

use std::time::Duration;

/// Which side of the Jingle session this is. XEP-0371 §5.6 item 3: the initiator is the
/// controlling ICE agent, the responder the controlled one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sends session-initiate; controlling.
    Initiator,
    /// Answers session-initiate with session-accept; controlled.
    Responder,
}

/// Why the caller allows candidates (IP addresses) to go to the peer: the cases of XEP-0371
/// §11.1, and the user accepting the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Allowance {
    /// XEP-0371 §11.1 item 1: the user shares presence with the peer through a roster
    /// subscription.
    PresenceSubscription,
    /// XEP-0371 §11.1 item 2: the user sent the peer directed presence.
    DirectedPresence,
    /// XEP-0371 §11.1 item 3: the peer is on the user's list of entities allowed to see
    /// personally identifying information.
    AllowList,
    /// XEP-0371 §11.1: "If a human user explicitly accepts a session request, then the client
    /// SHOULD consider that action to imply approval of IP address sharing."
    UserAccepted,
}

/// What may leave the session before an [`Allowance`] is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BeforeAllowed {
    /// No candidate at all (credentials only). The default.
    #[default]
    Nothing,
    /// Relayed candidates only: they expose the relay's address, not the user's (XEP-0371
    /// §11.1 is about "the sender's IP addresses"). They come from the TURN servers given to
    /// [`crate::Session::add_turn_server`] and go to the peer as each allocation succeeds,
    /// with their related address (the mapped address the TURN server saw, the user's own)
    /// replaced by the placeholder of RFC 8839 §5.1 (`0.0.0.0` or `::`, port 9). Host and
    /// server-reflexive candidates wait for the allowance.
    ///
    /// The peer's candidates are held until the allowance under this policy too (checks from
    /// our host address would reveal it, and the agent cannot check from relayed candidates
    /// alone): the relayed candidates are signalled early, but no connectivity check runs and
    /// the session does not connect before the allowance.
    RelayOnly,
}

/// Configuration of a [`crate::Session`]. `Config::default()` gives the values documented on
/// each field.
///
/// Every limit bounds memory whatever the peer sends: what goes over is dropped and counted in
/// [`crate::Stats`], never a panic.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct Config {
    /// The ICE agent's configuration. Its `role` is overwritten from the Jingle [`Role`]
    /// (XEP-0371 §5.6). Set `components` to 2 for RTP and RTCP without rtcp-mux. Default:
    /// `ice_sans_io::Config::default()`.
    pub ice: ice_sans_io::Config,
    /// The name of the content an initiator creates (XEP-0166 §7.3). Default `"0"`.
    pub content_name: String,
    /// Whether session-initiate and session-accept carry the candidates gathered so far
    /// (XEP-0371 §5.2: SHOULD) rather than an empty transport with every candidate in
    /// transport-info (MAY). Default `true`.
    pub candidates_in_offer: bool,
    /// Whether the initiator sends the remote-candidate notification of XEP-0371 §5.8 after
    /// nomination even when the peer does not advertise `urn:ietf:rfc:3264` (it always does
    /// when the peer advertises it: MUST). Default `false`.
    pub always_notify_remote_candidates: bool,
    /// Whether our ice:0 transport says `ice2='true'` (XEP-0371 §5.3: compliance with RFC 8445,
    /// which the agent implements). ice-udp:1 has no such attribute. Default `true`.
    pub ice2: bool,
    /// Whether a transport-replace to raw UDP (XEP-0371 §6) is answered with transport-accept
    /// (else transport-reject). Default `true`.
    pub accept_raw_udp_fallback: bool,
    /// The IP-sharing allowance known when the session is created (XEP-0371 §11.1), e.g.
    /// `Some(Allowance::PresenceSubscription)` for a roster contact with a subscription.
    /// Default `None`: nothing but what [`Config::before_allowed`] permits leaves the session
    /// until [`crate::Session::allow_candidates`].
    pub allowance: Option<Allowance>,
    /// What may be sent before an allowance. Default [`BeforeAllowed::Nothing`].
    pub before_allowed: BeforeAllowed,
    /// Whether the responder's [`crate::Session::accept`] counts as
    /// [`Allowance::UserAccepted`] (XEP-0371 §11.1: SHOULD). Default `true`.
    pub accept_implies_allowance: bool,
    /// How long a request we sent may stay unanswered before [`crate::Event::IqTimeout`].
    /// XEP-0166 sets no value; default 30 s.
    pub iq_timeout: Duration,
    /// Requests tracked at once; past it the oldest is forgotten (counted, reported as a
    /// timeout). Default 32.
    pub max_pending_iqs: usize,
    /// Candidates held back: our own ones waiting for the privacy policy or for the session
    /// to go live, the peer's waiting for the policy, and the peer's transport-infos kept
    /// during our unacknowledged restart (each). Over it they are dropped and counted.
    /// Default 64.
    pub max_queued_candidates: usize,
    /// Outgoing stanzas queued for [`crate::Session::poll_stanza`]; over it new ones are
    /// dropped and counted (drain the queue after every call). Default 256.
    pub max_outgoing: usize,
    /// Events queued for [`crate::Session::poll_event`]; over it new ones are dropped and
    /// counted. Default 256.
    pub max_events: usize,
    /// The longest stanza [`crate::Session::handle_xml`] parses, in bytes. Default 64 KiB.
    pub max_stanza_len: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ice: ice_sans_io::Config::default(),
            content_name: "0".into(),
            candidates_in_offer: true,
            always_notify_remote_candidates: false,
            ice2: true,
            accept_raw_udp_fallback: true,
            allowance: None,
            before_allowed: BeforeAllowed::Nothing,
            accept_implies_allowance: true,
            iq_timeout: Duration::from_secs(30),
            max_pending_iqs: 32,
            max_queued_candidates: 64,
            max_outgoing: 256,
            max_events: 256,
            max_stanza_len: 64 * 1024,
        }
    }
}

impl Config {
    /// The default configuration with an allowance given up front (XEP-0371 §11.1).
    pub fn allowing(allowance: Allowance) -> Config {
        Config {
            allowance: Some(allowance),
            ..Config::default()
        }
    }
}
