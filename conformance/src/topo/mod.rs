//! Topology scripts run on the simulator: two ICE stacks behind scripted NATs, their
//! signalling carried as real Jingle stanzas between two Jingle endpoints (a `jingle-ice-glue`
//! session for ours, a small Jingle endpoint around a foreign stack).

pub mod jingle;
pub mod ours;
pub mod peer;
pub mod rice;
pub mod run;
pub mod signal;
pub mod str0m;
pub mod suite;
