#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod config;
pub mod convert;
mod event;
mod phase;
mod session;

pub use config::{Allowance, BeforeAllowed, Config, Role};
pub use event::{Error, Event, Handled, Refused, Stats};
pub use phase::Phase;
pub use session::Session;

pub use ice_sans_io;
pub use xep0371_model;
