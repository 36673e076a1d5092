//! The interfaces between the topology runner and the two sides of a run.
//!
//! The runner drives two [`Endpoint`]s: Jingle endpoints on simulated hosts, each a
//! [`ice_netsim::Node`] for its datagrams and a source and sink of Jingle IQs as XML text for
//! its signalling. Every run speaks XEP-0166/XEP-0371 stanzas (sets and their results) over the
//! signalling path, never bare transports:
//!
//! - this project's stack (`ice-sans-io`) is a `jingle-ice-glue` session
//!   ([`super::ours::Ours`]);
//! - a foreign stack (str0m's, rice-proto's) is a [`Peer`], an adapter whose signalling is
//!   XEP-0371 transports ([`xep0371_model::IceTransport`]), inside the small Jingle endpoint of
//!   [`super::jingle::JingleEndpoint`], which puts those transports into session-initiate,
//!   session-accept and transport-info, acknowledges what it receives and reads it strictly.
//!
//! Adapters convert their stack's candidates to and from the model's candidates.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use ice_netsim::Node;
use xep0371_model::{IceNamespace, IceTransport};

/// How a peer is set up, from the script.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// ICE controlling (the Jingle initiator) or controlled.
    pub controlling: bool,
    /// The host's addresses: one host candidate per address and component.
    pub host_ips: Vec<IpAddr>,
    /// STUN servers to gather server-reflexive candidates from.
    pub stun: Vec<SocketAddr>,
    /// Components (1 or 2); application data uses component 1.
    pub components: u8,
    /// 32 bytes for the stack's RNG, derived from the script's seed (stacks that cannot take a
    /// seed say so in [`Endpoint::replayable`]).
    pub seed: [u8; 32],
    /// The virtual time the session starts at.
    pub start: Instant,
    /// Whether the side trickles its candidates (RFC 8838, XEP-0371 §5.5: transport-info as
    /// they are found). `false`: session-initiate or session-accept waits until gathering is
    /// complete and carries every candidate.
    pub trickle: bool,
}

/// Where a peer's ICE processing stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerStatus {
    /// Gathering or checking.
    Checking,
    /// A pair is selected (nominated) for component 1.
    Connected(SelectedPair),
    /// ICE failed.
    Failed(String),
}

/// The selected pair of component 1, in this peer's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedPair {
    /// Type of the local candidate: `host`, `srflx`, `prflx` or `relay`.
    pub local_type: String,
    /// Type of the remote candidate.
    pub remote_type: String,
    /// `udp` or `tcp`.
    pub protocol: String,
    /// The local candidate's address.
    pub local: SocketAddr,
    /// The remote candidate's address.
    pub remote: SocketAddr,
}

/// One side of a run: a Jingle endpoint with its ICE stack on a simulated host. The runner
/// drives the [`Node`] part like any node of the simulator; after each step it drains
/// [`Endpoint::poll_stanza`] onto the signalling path, [`Endpoint::poll_error`] into the run's
/// failures and [`Endpoint::poll_data`], hands stanzas that arrive to
/// [`Endpoint::handle_stanza`], and reads [`Endpoint::status`].
///
/// The initiator's first stanza is its session-initiate (an endpoint sends nothing before);
/// the runner counts the time to connect from it.
pub trait Endpoint: Node {
    /// The stack's name as scripts write it (`ice-sans-io`, `str0m`, `rice`).
    fn implementation(&self) -> &'static str;

    /// Whether the same seed replays the run exactly (false for stacks that draw randomness
    /// from the operating system).
    fn replayable(&self) -> bool;

    /// The next stanza to send to the other endpoint, as XML text: an IQ-set (session-initiate,
    /// session-accept, transport-info), or the IQ-result or IQ-error answering one of the
    /// other endpoint's sets.
    fn poll_stanza(&mut self) -> Option<String>;

    /// A stanza from the other endpoint, as XML text.
    fn handle_stanza(&mut self, now: Instant, xml: &str);

    /// The next thing that went wrong in the signalling: a stanza refused or dropped, an IQ
    /// error or no answer from the other endpoint. None should happen between the endpoints
    /// of this runner; the runner records each as a failure of the run.
    fn poll_error(&mut self) -> Option<String>;

    /// Where ICE stands.
    fn status(&self) -> PeerStatus;

    /// Sends an application datagram over the selected pair of component 1.
    fn send_data(&mut self, now: Instant, data: &[u8]) -> Result<(), String>;

    /// The next application datagram received.
    fn poll_data(&mut self) -> Option<Vec<u8>>;

    /// Connectivity checks sent so far (retransmissions included, consent checks not).
    fn checks_sent(&self) -> u64;
}

/// A foreign ICE stack (str0m's, rice-proto's) on a simulated host, its signalling as
/// XEP-0371 transports. [`super::jingle::JingleEndpoint`] makes it an [`Endpoint`]: it drains
/// [`Peer::poll_signal`] into Jingle IQs and hands the transports it receives to
/// [`Peer::handle_signal`].
pub trait Peer: Node {
    /// The stack's name as scripts write it (`ice-sans-io`, `str0m`, `rice`).
    fn implementation(&self) -> &'static str;

    /// Whether the same seed replays the stack's run exactly (false for stacks that draw
    /// randomness from the operating system).
    fn replayable(&self) -> bool;

    /// The next transport to signal: the first carries the credentials (and the candidates
    /// found so far), later ones new candidates; `gathering_complete` set once gathering ends.
    fn poll_signal(&mut self) -> Option<IceTransport>;

    /// A transport from the peer: credentials, candidates, `gathering-complete`.
    fn handle_signal(&mut self, now: Instant, transport: &IceTransport);

    /// Where ICE stands.
    fn status(&self) -> PeerStatus;

    /// Sends an application datagram over the selected pair of component 1.
    fn send_data(&mut self, now: Instant, data: &[u8]) -> Result<(), String>;

    /// The next application datagram received.
    fn poll_data(&mut self) -> Option<Vec<u8>>;

    /// Connectivity checks sent so far (retransmissions included, consent checks not).
    fn checks_sent(&self) -> u64;

    /// The next thing that went wrong between the adapter and its stack (a candidate the
    /// stack printed that does not parse, a program that stopped answering); the runner
    /// records each as a failure of the run.
    fn poll_error(&mut self) -> Option<String> {
        None
    }
}

/// What an adapter has signalled so far: every adapter queues its stack's candidates here and
/// answers [`Peer::poll_signal`] with [`Outbox::poll`].
#[derive(Debug, Default)]
pub struct Outbox {
    /// Local candidates found, as XEP-0371 candidates, in the order found.
    pub candidates: Vec<xep0371_model::Candidate>,
    sent: usize,
    credentials_sent: bool,
    complete_sent: bool,
}

impl Outbox {
    /// An outbox holding `candidates`, none sent yet.
    pub fn with_candidates(candidates: Vec<xep0371_model::Candidate>) -> Self {
        Outbox {
            candidates,
            ..Outbox::default()
        }
    }

    /// The next transport to signal (namespace `ice:0`): the credentials first, then the
    /// candidates not yet sent, and `gathering-complete` once `gathering_complete` is true.
    pub fn poll(
        &mut self,
        ufrag: &str,
        pwd: &str,
        gathering_complete: bool,
    ) -> Option<IceTransport> {
        let new = self.candidates.len() > self.sent;
        let complete = gathering_complete && !self.complete_sent;
        if self.credentials_sent && !new && !complete {
            return None;
        }
        let mut t = IceTransport::new(IceNamespace::Ice0, ufrag, pwd);
        t.candidates = self.candidates[self.sent..].to_vec();
        t.gathering_complete = complete;
        self.sent = self.candidates.len();
        self.complete_sent |= complete;
        self.credentials_sent = true;
        Some(t)
    }
}
