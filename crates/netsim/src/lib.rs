//! Scripted NAT topologies in virtual time, for testing ICE agents.
//!
//! `ice-netsim` reads the topology scripts of the project's format 1
//! ([`topology::Topology::parse`]) and builds a simulated network from them ([`Sim`]): hosts on
//! networks, NAT routers with every RFC 4787 mapping and filtering behaviour, port
//! preservation, hairpinning, mapping timeouts refreshed by outbound traffic and UDP blocking
//! ([`nat::NatTable`]; their RFC 5382 TCP state in [`nat_tcp::TcpNatTable`] on
//! [`tcp::TcpSegment`]s), a TCP stack per host (RFC 9293 in virtual time, simultaneous open
//! included: [`tcp_stack::TcpStack`], which nodes drive with [`TcpCommand`]s and hear from with
//! [`TcpEvent`]s), links with latency, jitter and loss from a seeded RNG, STUN servers
//! that answer RFC 8489 and RFC 3489 Binding requests ([`StunServer`]), TURN servers (RFC 8656,
//! clients over UDP and TCP, [`TurnServer`]), what stands for an XMPP server (the addresses it would see,
//! [`XmppStandIn`]: the runner plays the server), and a pcap capture per network
//! ([`pcap::Capture`], UDP and TCP with real headers).
//!
//! It knows nothing of ICE: endpoints meet it through the small sans-IO trait [`Node`]. Time is
//! virtual (an `Instant` moved by `Duration`s from a base the caller picks) and every random
//! draw comes from the script's `seed`, so the same script replays datagram for datagram.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use ice_netsim::{Node, Sim, Topology, Transmit};
//!
//! let script = r#"
//! format = 1
//! name = "a host behind a NAT asks a STUN server"
//! [[network]]
//! name = "internet"
//! cidr = "198.51.100.0/24"
//! [[network]]
//! name = "lan"
//! cidr = "10.0.1.0/24"
//! [[nat]]
//! name = "nat"
//! inside = "lan"
//! outside = "internet"
//! public_ip = "198.51.100.10"
//! mapping = "endpoint-independent"
//! filtering = "address-and-port-dependent"
//! port_preservation = true
//! [[host]]
//! name = "client"
//! network = "lan"
//! ip = "10.0.1.1"
//! [[host]]
//! name = "peer"
//! network = "internet"
//! ip = "198.51.100.2"
//! [[host]]
//! name = "stun"
//! network = "internet"
//! ip = "198.51.100.100"
//! service = { kind = "stun", port = 3478 }
//! [[agent]]
//! host = "client"
//! impl = "any"
//! role = "initiator"
//! [[agent]]
//! host = "peer"
//! impl = "any"
//! role = "responder"
//! [expect]
//! outcome = "connected"
//! "#;
//! let topology = Topology::parse("example.toml", script)?;
//! let t0 = Instant::now();
//! let mut sim = Sim::new(&topology, t0);
//! let client = sim.host("client").expect("declared above");
//!
//! // A classic RFC 3489 Binding request (no magic cookie) from 10.0.1.1:5000.
//! let mut request = vec![0x00, 0x01, 0x00, 0x00];
//! request.extend_from_slice(&[7; 16]);
//! sim.send(t0, client, Transmit {
//!     from: "10.0.1.1:5000".parse()?,
//!     to: "198.51.100.100:3478".parse()?,
//!     data: request,
//! });
//! while let Some(t) = sim.poll_timeout() {
//!     sim.handle_timeout(t);
//! }
//! let response = sim.poll_delivery().expect("the server answered");
//! assert_eq!(response.to.to_string(), "10.0.1.1:5000");
//! // MAPPED-ADDRESS: the NAT's public address, with the port preserved.
//! assert_eq!(&response.data[24..28], &[0x00, 0x01, 0x13, 0x88]);
//! assert_eq!(&response.data[28..32], &[198, 51, 100, 10]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(all(feature = "netns", target_os = "linux"))]
mod coturn;
pub mod delay;
pub mod nat;
pub mod nat_tcp;
#[cfg(all(feature = "netns", target_os = "linux"))]
pub mod netns;
#[cfg(all(feature = "netns", target_os = "linux"))]
mod netns_scope;
pub mod nft;
pub mod node;
pub mod pcap;
#[cfg(all(feature = "netns", target_os = "linux"))]
mod prosody;
pub mod sim;
mod stream_framing;
pub mod stun_server;
mod stun_wire;
pub mod tcp;
pub mod tcp_stack;
#[cfg(feature = "tls")]
pub mod tls;
pub mod topology;
pub mod turn_server;
pub mod xmpp_stand_in;

pub use delay::DelayLine;
pub use node::{Node, TcpCommand, TcpConnId, TcpEvent, TcpFailure, Transmit};
pub use sim::{Delivery, HostId, Sim, SimError, SimStats, SimTcpStats, derive_seed, tls_ca_seed};
pub use stun_server::StunServer;
pub use tcp_stack::TcpStack;
pub use topology::{Topology, TopologyError};
pub use turn_server::{TurnServer, TurnServerConfig};
pub use xmpp_stand_in::XmppStandIn;
