//! Relayed candidates end to end: two `IceAgent`s that drive their own TURN clients, against
//! `turn-server-proto` (an independent sans-IO TURN server) in an in-memory network in virtual
//! time (`net`). Each test names the RFC section it checks.
//!
//! - `connect`: connecting through the relay, host pairs preferred, the relayed candidate as
//!   gathered (RFC 8445 §5.1.1.2, §5.1.2; RFC 8656 §11, §12);
//! - `failures`: a refused and a silent server (RFC 8489 §6.2.1, §9.2);
//! - `permissions`: nothing relayed to a peer before its permission (RFC 8656 §9);
//! - `lifecycle`: restart keeps the allocation (RFC 8445 §9), close releases it (RFC 8656 §8);
//! - `hostile`: garbage from the server's address is dropped and counted;
//! - `determinism`: the same seeds replay the same datagrams.
#![allow(clippy::unwrap_used)] // fixtures

#[path = "../support/turn_server_proto.rs"]
mod turn_server_proto_support;
use turn_server_proto_support::serve;

mod connect;
mod determinism;
mod failures;
mod hostile;
mod inspect;
mod lifecycle;
mod net;
mod permissions;

/// The agents' seeds: A's and B's.
const SEEDS: [u8; 2] = [11, 22];
