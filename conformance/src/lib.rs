//! The Jingle ICE conformance suite: the spec listings replayed through the model and checked
//! against the specs' rules ([`listings`], [`checker`]), the spec's flows played by two glue
//! sessions ([`flows`]), the topology scripts run by the topology runner, and the `check`
//! command. The binary `jingle-ice-conformance` is the front end; `cargo xtask conformance`
//! runs it.
//!
//! The topology runner is layered, each layer using only those below it:
//! [`suite`] (scripts, backends, seed sweeps, known failures, skips) → the backends [`sim`]
//! and `netns` (Linux) → [`peers`] (ours and the adapters of foreign stacks) → [`runner`]
//! (the interfaces, configuration, signalling path and conductor both backends share).
//! [`report`] prints every kind of case: progress lines, JSON lines, summaries.

pub mod call_cli;
pub mod check;
pub mod checker;
pub mod extdisco_client;
pub mod flows;
pub mod listings;
#[cfg(target_os = "linux")]
pub mod netns;
#[cfg(target_os = "linux")]
pub mod netns_tcp;
#[cfg(target_os = "linux")]
pub mod netns_xmpp;
pub mod peers;
pub mod render;
pub mod report;
pub mod runner;
pub mod sic;
pub mod sic_client;
pub mod sim;
pub mod stanza;
pub mod stun;
pub mod suite;
pub mod transfer;
pub mod xmlcmp;
