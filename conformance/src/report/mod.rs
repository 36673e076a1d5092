//! The report of a run, one module per kind of case, each with the same three parts: a
//! progress line per case (human, on stderr), a JSON line per case (`--json`, on stdout, with
//! `kind` = `listing`, `flow` or `topology`), and a summary.
//!
//! - [`listings`]: the spec listings replayed through the model ([`crate::listings`]);
//! - [`flows`]: the flow replays ([`crate::flows`]);
//! - [`topologies`]: the topology scripts ([`crate::suite`]).

pub mod flows;
pub mod listings;
pub mod topologies;
