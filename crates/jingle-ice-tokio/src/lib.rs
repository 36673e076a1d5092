#![doc = include_str!("../README.md")]

mod call;
mod connection;
mod connector;
mod discover;
mod error;
mod incoming;
mod sockets;

pub use call::{Call, CallConfig, CallEvent, ends_call};
pub use connection::{ConnectOptions, Connection};
pub use discover::{
    ExternalServices, IceServers, TurnServer, external_services, iq_error, peer_features,
    server_address,
};
pub use error::Error;

pub use ice_sans_io;
pub use jingle_ice_glue;
pub use tokio_xmpp;
pub use xep0371_model;
pub use xmpp_extdisco;
pub use xmpp_sic;
