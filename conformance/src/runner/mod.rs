//! The backend-neutral part of the topology runner, which both backends ([`crate::sim`],
//! [`crate::netns`]) and every side ([`crate::peers`]) use, and which uses none of them:
//!
//! - [`peer`]: the interfaces between the runner and the two sides of a run ([`peer::Stack`],
//!   [`peer::Endpoint`], [`peer::Peer`]) and what they report;
//! - [`config`]: the options of a run, each side's configuration from the script, host ports;
//! - [`share`]: the script's `share` (XEP-0371 §11.1) checked on the stanzas as they leave;
//! - [`signal`]: the signalling path (XML text, delayed in order) and the session's names;
//! - [`data`]: the transfers of `[expect] data_bytes` (each side's bytes to the other, whole
//!   and intact), which the conductor drives;
//! - [`conductor`]: one run's signalling, application data and verdict ([`conductor::RunResult`]).

pub mod conductor;
pub mod config;
pub mod data;
pub mod peer;
pub mod share;
pub mod signal;
pub mod xmpp;
