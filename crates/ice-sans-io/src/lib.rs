#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod agent;
pub mod candidate;
mod config;
#[cfg(feature = "tokio")]
pub mod driver;
mod event;
pub mod framing;
mod outqueue;
mod retransmit;
mod role;
pub mod stun;
mod transmit;
pub mod turn;

pub use agent::{AcceptError, CandidateError, CredentialsError, IceAgent, SendError};
pub use candidate::{
    Candidate, CandidateKind, ComponentId, LocalPreferenceInput, LocalPreferencePolicy, Protocol,
    TcpType, default_local_preference,
};
pub use config::Config;
pub use event::{Datagram, DropReason, Event, FailReason, PairInfo, Received, State, Stats};
pub use role::Role;
pub use transmit::{ConnectionId, Transmit};
