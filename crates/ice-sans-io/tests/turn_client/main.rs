//! The TURN client (RFC 8656) against a scripted fake server, in virtual time: each test is
//! named after the rule it checks.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap fixtures

mod allocate;
mod hostile;
mod relay;
mod script;
