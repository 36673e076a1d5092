//! Agent configuration: timers, limits and policies, each with the RFC default.

use std::time::Duration;

use crate::candidate::{LocalPreferencePolicy, default_local_preference};
use crate::role::Role;
use crate::turn::TurnConfig;

/// Configuration of an [`crate::IceAgent`]. `Config::default()` gives the RFC defaults.
///
/// Every limit bounds memory under floods: what goes over is dropped and counted in
/// [`crate::Stats`], never an error.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct Config {
    /// The role the agent starts in. It may change on a role conflict (RFC 8445 §7.3.1.1).
    pub role: Role,
    /// Number of components of the data stream (1 to 256). Default 1.
    pub components: u16,
    /// Ta, the pacing of new STUN transactions (RFC 8445 §14.2). Default 50 ms.
    pub ta: Duration,
    /// The lower bound of the RTO of a connectivity check (RFC 8445 §14.3: `RTO = MAX(500 ms,
    /// Ta * (Num-Waiting + Num-In-Progress))`). Default 500 ms.
    pub min_rto: Duration,
    /// The upper bound of the doubled RTO between retransmissions. RFC 8489 doubles without a
    /// bound (39.5 s for a transaction to fail); like libnice and str0m we cap it. Default 3 s.
    pub max_rto: Duration,
    /// Number of requests sent in one transaction, the first included (RFC 8489 §6.2.1 `Rc`).
    /// Default 7.
    pub max_requests: u32,
    /// The initial RTO of server-reflexive gathering (RFC 8489 §6.2.1). Default 500 ms.
    pub gathering_rto: Duration,
    /// The check-list limit (RFC 8445 §6.1.2.5): pairs of lowest priority beyond it are pruned.
    /// Default 100.
    pub max_pairs: usize,
    /// Remote candidates kept (signalled and peer-reflexive); more are dropped and counted.
    /// Default 100.
    pub max_remote_candidates: usize,
    /// Peer-reflexive candidates learned from checks, remote (RFC 8445 §7.3.1.3) and local
    /// (§7.2.5.3.1), each; more are dropped and counted. Default 20.
    pub max_peer_reflexive: usize,
    /// STUN transactions in flight (checks, consent checks, gathering); when full, new checks
    /// wait for a slot. Default 100.
    pub max_transactions: usize,
    /// Checks received before the remote credentials, remembered so that they can be
    /// triggered when the credentials arrive (RFC 8445 §7.3.1, RFC 8838 §7). Default 16.
    pub max_early_checks: usize,
    /// Controlling agent: how long to wait after the first valid pair of a component for
    /// pairs of higher priority before nominating the best valid pair (RFC 8445 §8.1.1 leaves
    /// the stopping criterion to the agent). Nomination happens earlier when no pair of higher
    /// priority can still succeed. Default 500 ms.
    pub nomination_delay: Duration,
    /// When the peer never signals end-of-candidates (deployed Jingle clients do not send
    /// `gathering-complete`), how long every pair of a component may stay failed, with no new
    /// remote candidate, before the agent declares failure (RFC 8838 §8 leaves this to the
    /// agent). The clock starts once the peer has given at least one candidate for the
    /// component: before that nothing was tried (a peer may hold its candidates until its user
    /// accepts, XEP-0371 §11.1). Default 10 s.
    pub no_end_of_candidates_timeout: Duration,
    /// Consent freshness (RFC 7675 §5.1): the mean interval of consent checks on each selected
    /// pair, randomised to 0.8..1.2 times. `None` disables consent (and consent loss). Default
    /// 5 s.
    pub consent_interval: Option<Duration>,
    /// Consent is lost after this long without a response to a consent check (RFC 7675 §5.1:
    /// 30 s). Default 30 s.
    pub consent_timeout: Duration,
    /// Keepalives (RFC 8445 §11): a Binding indication on each selected pair when nothing was
    /// sent on it for this long. Consent checks count as traffic. Default 15 s.
    pub keepalive_interval: Duration,
    /// The local preference policy (RFC 8445 §5.1.2.1) for host candidates. For TCP host
    /// candidates it ranks the addresses, as RFC 6544 §4.2's `other-pref` (its value divided
    /// by 8, less one per address added before, fits the 13 bits). Whether UDP or TCP ranks
    /// first is not this policy's: TCP candidates take a lower type preference
    /// ([`crate::CandidateKind::tcp_type_preference`]), so UDP pairs rank first.
    pub local_preference: LocalPreferencePolicy,
    /// The SOFTWARE attribute of outgoing requests (RFC 8489 §14.14); `None` leaves it out.
    pub software: Option<&'static str>,
    /// The configuration of the TURN clients behind relayed candidates
    /// ([`crate::IceAgent::add_turn_server`]). Default [`TurnConfig::default`].
    pub turn: TurnConfig,
    /// TCP connections (RFC 6544) held at once, opened and accepted: past it no connection is
    /// asked for (the pair fails) and accepted ones are refused. Default 64.
    pub max_tcp_connections: usize,
    /// The longest RFC 4571 frame read from a TCP connection; longer ones are skipped and
    /// counted. Each connection buffers at most two frames of this size (with the default,
    /// 128 KiB; 8 MiB for 64 connections). Default 65,535 (all RFC 4571 carries).
    pub max_tcp_frame: u16,
    /// How long a TCP connection may take to open ([`crate::Event::Connect`] until
    /// [`crate::IceAgent::handle_connected`]), and how long an accepted one may stay without a
    /// check that belongs to a pair, before the agent asks to close it (its pair fails).
    /// Default 10 s.
    pub tcp_connect_timeout: Duration,
    /// Ti of RFC 8489 §6.2.2: how long a STUN request sent over TCP (server-reflexive TCP
    /// gathering, RFC 6544 §5.2) waits for its response, once its connection is open; it is
    /// never retransmitted. Default 39.5 s, RFC 8489's.
    pub stun_tcp_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            role: Role::Controlling,
            components: 1,
            ta: Duration::from_millis(50),
            min_rto: Duration::from_millis(500),
            max_rto: Duration::from_secs(3),
            max_requests: 7,
            gathering_rto: Duration::from_millis(500),
            max_pairs: 100,
            max_remote_candidates: 100,
            max_peer_reflexive: 20,
            max_transactions: 100,
            max_early_checks: 16,
            nomination_delay: Duration::from_millis(500),
            no_end_of_candidates_timeout: Duration::from_secs(10),
            consent_interval: Some(Duration::from_secs(5)),
            consent_timeout: Duration::from_secs(30),
            keepalive_interval: Duration::from_secs(15),
            local_preference: default_local_preference,
            software: None,
            turn: TurnConfig::default(),
            max_tcp_connections: 64,
            max_tcp_frame: u16::MAX,
            tcp_connect_timeout: Duration::from_secs(10),
            stun_tcp_timeout: Duration::from_millis(39_500),
        }
    }
}

impl Config {
    /// The default configuration in `role`.
    pub fn new(role: Role) -> Config {
        Config {
            role,
            ..Config::default()
        }
    }

    /// The same configuration with `components` components.
    pub fn with_components(mut self, components: u16) -> Config {
        self.components = components;
        self
    }
}
