//! Flow replays (XEP-0371 §5 to §8): the spec's narratives played by two jingle-ice-glue
//! sessions, and the stanzas they produce compared with the listings.
//!
//! Romeo (the initiator) and Juliet (the responder) are configured with what the listings
//! show: their full JIDs, the sid, the content name, the application's `<description/>`
//! (copied from the listing: it is the application's, not the transport's), the ICE
//! credentials, the host addresses and their interface numbers, and STUN answers that give the
//! server-reflexive addresses of the listings. They then run in virtual time over an
//! in-memory network (a full-cone NAT in front of Romeo's private address), and every stanza
//! either session sends is kept.
//!
//! Each listing of a flow is matched with the produced stanza that plays its part (the
//! session-initiate, the result to it, the transport-info carrying the remote-candidate
//! notification, ...) and the two are compared attribute by attribute. Values the listings
//! leave free are not compared: IQ ids (the results must still answer the produced requests,
//! which the rule checker verifies), candidate ids and foundations. Every other difference must
//! be listed in `flow-differences.toml` with its reason (an erratum of the listing, or a
//! choice of the replayed scenario); an unlisted difference, or a listed one that no longer
//! occurs, fails the case. The produced stanzas also go through the rule checker of the
//! listings ([`crate::checker`]) and must break no rule.
//!
//! Listings 18 to 21 are the disco#info exchanges (XEP-0371 §8): the request as the client
//! sends it, the answer built from the features the stack advertises
//! ([`xep0371_model::IceFeatures::advertised`], plus `urn:ietf:rfc:3264` for the SIP gateway) and the
//! application's; the features of each answer then configure Romeo's session.
//!
//! The parts: [`outcome`] (what a replay produced), [`mod@run`] (reading the listings, replaying,
//! checking, comparing), [`mod@diff`] (a listing against a produced stanza), `net` (the two
//! sessions' in-memory network) and `play` (the scenarios). The report's lines are
//! [`crate::report::flows`].

pub mod diff;
mod net;
pub mod outcome;
mod play;
pub mod run;

pub use diff::diff;
pub use outcome::{Difference, Explained, FlowOutcome, Sent, Side, Step, explained};
pub use run::{FLOWS, run};
