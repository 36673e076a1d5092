//! What a run is set up with: the options of a run and the configuration of each side,
//! from the script, on whatever backend.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use ice_netsim::topology::{IceTcpType, JingleRole, Service, Share, TurnTransport};
use ice_netsim::turn_server::TurnAuth;
use ice_netsim::{Topology, derive_seed};
use ice_sans_io::turn::TurnCredentials;

/// The UDP port of component `c`'s host candidates (every adapter uses the same ports, so runs
/// of different stacks compare).
pub fn host_port(component: u8) -> u16 {
    50_000 + u16::from(component)
}

/// The TCP port of component `c`'s listening ICE-TCP candidate of type `t` (RFC 6544): a
/// passive candidate listens on the UDP candidates' number (TCP has its own port space), a
/// simultaneous-open one on a port of its own; an active candidate listens on none (`None`).
pub fn tcp_port(component: u8, t: IceTcpType) -> Option<u16> {
    match t {
        IceTcpType::Active => None,
        IceTcpType::Passive => Some(host_port(component)),
        IceTcpType::So => Some(50_010 + u16::from(component)),
    }
}

/// How a peer is set up, from the script.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// ICE controlling (the Jingle initiator) or controlled.
    pub controlling: bool,
    /// The host's addresses: one host candidate per address and component.
    pub host_ips: Vec<IpAddr>,
    /// STUN servers to gather server-reflexive candidates from.
    pub stun: Vec<SocketAddr>,
    /// TURN servers reached over UDP, with the credentials the runner made for this side
    /// (the script's long-term user, or TURN REST credentials from its `secret`).
    pub turn: Vec<(SocketAddr, TurnCredentials)>,
    /// TURN servers reached over TCP or TLS (RFC 8656 §3.1, the script's `turn:...?transport=tcp`
    /// and `turns:` entries), with their credentials and, for TLS, the server's host name as
    /// the name its certificate must carry. Only our stack takes them here.
    pub turn_streams: Vec<(
        SocketAddr,
        TurnCredentials,
        ice_sans_io::turn::TurnTransport,
    )>,
    /// What may leave before the session is accepted (XEP-0371 §11.1).
    pub share: Share,
    /// Components (1 or 2); application data uses component 1.
    pub components: u8,
    /// 32 bytes for the stack's RNG, derived from the script's seed (stacks that cannot take a
    /// seed say so in [`crate::runner::peer::Stack::replayable`]).
    pub seed: [u8; 32],
    /// The virtual time the session starts at.
    pub start: Instant,
    /// The side's full JID: `HOSTNAME@DOMAIN/ice` when signalling goes `via` an XMPP server,
    /// else the runner's fixed JIDs ([`crate::runner::signal::default_jids`]).
    pub local_jid: String,
    /// The other side's full JID.
    pub peer_jid: String,
    /// The seed of the run's simulated certificate authority ([`ice_netsim::tls::SimCa`]), the
    /// one TLS servers of the run present certificates of (the simulator's TURN server on sim,
    /// coturn on netns): the side trusts it, and only it, for TURN over TLS.
    pub tls_ca_seed: [u8; 32],
    /// The ICE-TCP candidate types it gathers (RFC 6544), on every host address and component
    /// (ports from [`tcp_port`]); empty: none.
    pub tcp: Vec<IceTcpType>,
    /// Whether the side trickles its candidates (RFC 8838, XEP-0371 §5.5: transport-info as
    /// they are found). `false`: session-initiate or session-accept waits until gathering is
    /// complete and carries every candidate.
    pub trickle: bool,
}

impl PeerConfig {
    /// The side's STUN and TURN servers become those it learned from its XMPP server
    /// (`discover = true`).
    pub fn take_learned(&mut self, learned: &super::xmpp::Learned) {
        self.stun = learned.stun.clone();
        self.turn = learned.turn.clone();
    }
}

/// Options of a run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions<'a> {
    /// Replace the script's seed.
    pub seed: Option<u64>,
    /// Write a pcap per network into this directory, named after the script.
    pub pcap: Option<&'a Path>,
}

/// How long the TURN REST credentials the runner makes are valid: a day, longer than any run.
pub const REST_VALIDITY_S: u64 = 86_400;

/// The configuration of the agent of `role`, on a host with `host_ips`. `unix_now` is the Unix
/// time the run starts at, as the TURN servers see it (the simulator's
/// [`ice_netsim::turn_server::REST_EPOCH`], the wall clock on netns): TURN REST credentials expire
/// [`REST_VALIDITY_S`] after it, named after the agent's host (`EXPIRY:HOSTNAME`).
pub fn peer_config(
    topology: &Topology,
    role: JingleRole,
    seed: u64,
    host_ips: Vec<IpAddr>,
    start: Instant,
    unix_now: u64,
) -> Result<PeerConfig> {
    let agent = topology.agent(role);
    let other = topology.agent(match role {
        JingleRole::Initiator => JingleRole::Responder,
        JingleRole::Responder => JingleRole::Initiator,
    });
    let (local_jid, peer_jid) = match (
        super::xmpp::account_jid(topology, agent.host),
        super::xmpp::account_jid(topology, other.host),
    ) {
        (Some(l), Some(p)) => (l, p),
        _ => super::signal::default_jids(role == JingleRole::Initiator),
    };
    let label = match role {
        JingleRole::Initiator => "agent initiator",
        JingleRole::Responder => "agent responder",
    };
    // The credentials the TURN service on `host` takes from this side.
    let credentials = |host: usize| -> Option<TurnCredentials> {
        let Some(Service::Turn { auth, .. }) = &topology.hosts[host].service else {
            return None;
        };
        Some(match auth {
            TurnAuth::LongTerm { username, password } => {
                TurnCredentials::new(username.clone(), password.clone())
            }
            TurnAuth::Secret(secret) => TurnCredentials::rest(
                secret.as_bytes(),
                unix_now + REST_VALIDITY_S,
                &topology.hosts[agent.host].name,
            ),
        })
    };
    Ok(PeerConfig {
        controlling: role == JingleRole::Initiator,
        host_ips,
        stun: agent.stun.clone(),
        turn: agent
            .turn
            .iter()
            .filter(|t| t.transport == TurnTransport::Udp)
            .filter_map(|t| Some((t.addr, credentials(t.host)?)))
            .collect(),
        turn_streams: agent
            .turn
            .iter()
            .filter_map(|t| {
                let name = topology.hosts[t.host].name.clone();
                let transport = match t.transport {
                    TurnTransport::Udp => return None,
                    TurnTransport::Tcp => ice_sans_io::turn::TurnTransport::Tcp,
                    TurnTransport::Tls => {
                        ice_sans_io::turn::TurnTransport::Tls { server_name: name }
                    }
                };
                Some((t.addr, credentials(t.host)?, transport))
            })
            .collect(),
        share: agent.share,
        components: agent.components,
        seed: derive_seed(seed, label),
        tls_ca_seed: ice_netsim::tls_ca_seed(seed),
        start,
        trickle: agent.trickle,
        tcp: agent.tcp.clone(),
        local_jid,
        peer_jid,
    })
}
