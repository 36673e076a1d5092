//! Topology scripts run on the simulator: two ICE stacks behind scripted NATs, their
//! signalling carried as real XEP-0371 XML.

pub mod ours;
pub mod peer;
pub mod rice;
pub mod run;
pub mod signal;
pub mod str0m;
pub mod suite;
