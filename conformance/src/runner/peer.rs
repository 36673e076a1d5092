//! The interfaces between the topology runner and the two sides of a run.
//!
//! The runner drives two [`Endpoint`]s: Jingle endpoints on hosts, each a
//! [`ice_netsim::Node`] for its datagrams and a source and sink of Jingle IQs as XML text for
//! its signalling. Every run speaks XEP-0166/XEP-0371 stanzas (sets and their results) over the
//! signalling path, never bare transports:
//!
//! - this project's stack (`ice-sans-io`) is a `jingle-ice-glue` session
//!   ([`crate::peers::ours::Ours`]);
//! - a foreign stack (str0m's, rice-proto's, libnice) is a [`Peer`], an adapter whose
//!   signalling is XEP-0371 transports ([`xep0371_model::IceTransport`]), inside the small
//!   Jingle endpoint of [`crate::peers::jingle::JingleEndpoint`], which puts those transports
//!   into session-initiate, session-accept and transport-info, acknowledges what it receives
//!   and reads it strictly.
//!
//! What both kinds of side do beside their signalling (datagrams, status, application data,
//! counters, errors) is the one supertrait [`Stack`]. Adapters convert their stack's candidates
//! to and from the model's candidates, and queue what they signal in an [`Outbox`].

use std::net::SocketAddr;
use std::time::Instant;

use ice_netsim::Node;
use xep0371_model::{IceNamespace, IceTransport};

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
    /// For a relayed local candidate, how its allocation reaches the TURN server (`udp`, `tcp`,
    /// `tls`), when the stack says; `None`: not relayed, or a stack that is given UDP servers
    /// only (every foreign one here).
    pub relay_transport: Option<String>,
    /// The local candidate's address.
    pub local: SocketAddr,
    /// The remote candidate's address.
    pub remote: SocketAddr,
}

/// What every side of a run does, whether it speaks Jingle ([`Endpoint`]) or bare XEP-0371
/// transports ([`Peer`]): datagrams as a [`Node`], and the ICE stack's status, application
/// data and counters. An adapter implements these once; [`Endpoint`] and [`Peer`] add only
/// their signalling.
pub trait Stack: Node {
    /// The stack's name as scripts write it (`ice-sans-io`, `str0m`, `rice`, `libnice`).
    fn implementation(&self) -> &'static str;

    /// Whether the same seed replays the run exactly (false for stacks that draw randomness
    /// from the operating system).
    fn replayable(&self) -> bool;

    /// Where ICE stands.
    fn status(&self) -> PeerStatus;

    /// Sends an application datagram over the selected pair of component 1.
    fn send_data(&mut self, now: Instant, data: &[u8]) -> Result<(), String>;

    /// The next application datagram received.
    fn poll_data(&mut self) -> Option<Vec<u8>>;

    /// Connectivity checks sent so far (retransmissions included, consent checks not).
    fn checks_sent(&self) -> u64;

    /// The next thing that went wrong: in the signalling of an [`Endpoint`] (a stanza refused
    /// or dropped, an IQ error or no answer from the other endpoint; none should happen between
    /// the endpoints of this runner), or between a [`Peer`] adapter and its stack (a candidate
    /// the stack printed that does not parse, a program that stopped answering). The runner
    /// records each as a failure of the run.
    fn poll_error(&mut self) -> Option<String> {
        None
    }
}

/// One side of a run: a Jingle endpoint with its ICE stack on a host. The runner drives the
/// [`Node`] part like any node of the simulator; after each step it drains
/// [`Endpoint::poll_stanza`] onto the signalling path, [`Stack::poll_error`] into the run's
/// failures and [`Stack::poll_data`], hands stanzas that arrive to
/// [`Endpoint::handle_stanza`], and reads [`Stack::status`].
///
/// The initiator's first stanza is its session-initiate (an endpoint sends nothing before);
/// the runner counts the time to connect from it.
pub trait Endpoint: Stack {
    /// The next stanza to send to the other endpoint, as XML text: an IQ-set (session-initiate,
    /// session-accept, transport-info), or the IQ-result or IQ-error answering one of the
    /// other endpoint's sets.
    fn poll_stanza(&mut self) -> Option<String>;

    /// A stanza from the other endpoint, as XML text.
    fn handle_stanza(&mut self, now: Instant, xml: &str);
}

/// A foreign ICE stack (str0m's, rice-proto's, libnice) on a host, its signalling as XEP-0371
/// transports. [`crate::peers::jingle::JingleEndpoint`] makes it an [`Endpoint`]: it drains
/// [`Peer::poll_signal`] into Jingle IQs and hands the transports it receives to
/// [`Peer::handle_signal`].
pub trait Peer: Stack {
    /// The next transport to signal: the first carries the credentials (and the candidates
    /// found so far), later ones new candidates; `gathering_complete` set once gathering ends.
    fn poll_signal(&mut self) -> Option<IceTransport>;

    /// A transport from the peer: credentials, candidates, `gathering-complete`.
    fn handle_signal(&mut self, now: Instant, transport: &IceTransport);
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
