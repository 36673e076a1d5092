//! The Jingle ICE conformance suite: the spec listings replayed through the model and checked
//! against the specs' rules, and the `check` command. The binary `jingle-ice-conformance` is the
//! front end; `cargo xtask conformance` runs it.

pub mod check;
pub mod checker;
pub mod flows;
pub mod listings;
#[cfg(target_os = "linux")]
pub mod netns;
pub mod render;
pub mod report;
pub mod sic;
pub mod sic_client;
pub mod stanza;
pub mod stun;
pub mod topo;
pub mod xmlcmp;
