//! The raw shape of a script as serde reads it: every table and key of format 1, unknown keys
//! refused, nothing resolved yet. Spans are kept where an error may need to point.
//!
//! The ICE half's tables (`[[agent]]`, `[signalling]`, `[expect]`) have their raw shapes in
//! [`super::scenario`]; this module holds the file's top level and its network half.

use serde::Deserialize;
use toml::Spanned;

use super::scenario::{RawAgent, RawExpect, RawSignalling};
use super::source::OneOrMany;
use crate::nat::Behaviour;

/// The only format this version reads.
pub const FORMAT: u32 = 1;

/// Scripts larger than this are refused before parsing (a script is a few kilobytes).
pub const MAX_SCRIPT_BYTES: usize = 1 << 20;

/// Element counts above which a script is refused (the simulator's memory stays bounded).
pub const MAX_ELEMENTS: usize = 256;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScript {
    pub(super) format: Spanned<i64>,
    pub(super) name: String,
    pub(super) seed: Option<u64>,
    pub(super) duration_ms: Option<Spanned<u64>>,
    pub(super) link: Option<RawLink>,
    #[serde(default, rename = "network")]
    pub(super) networks: Vec<RawNetwork>,
    #[serde(default, rename = "nat")]
    pub(super) nats: Vec<RawNat>,
    #[serde(default, rename = "host")]
    pub(super) hosts: Vec<RawHost>,
    #[serde(default, rename = "agent")]
    pub(super) agents: Vec<RawAgent>,
    pub(super) signalling: Option<RawSignalling>,
    pub(super) expect: RawExpect,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLink {
    pub(super) latency_ms: Option<u64>,
    pub(super) jitter_ms: Option<u64>,
    pub(super) loss: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNetwork {
    pub(super) name: Spanned<String>,
    pub(super) cidr: Spanned<String>,
    pub(super) latency_ms: Option<u64>,
    pub(super) jitter_ms: Option<u64>,
    pub(super) loss: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNat {
    pub(super) name: Spanned<String>,
    pub(super) inside: Spanned<String>,
    pub(super) outside: Spanned<String>,
    pub(super) public_ip: Spanned<String>,
    pub(super) mapping: Behaviour,
    pub(super) filtering: Behaviour,
    #[serde(default)]
    pub(super) port_preservation: bool,
    #[serde(default)]
    pub(super) hairpinning: bool,
    pub(super) udp_timeout_s: Option<Spanned<u64>>,
    #[serde(default)]
    pub(super) block_udp: bool,
    #[serde(default)]
    pub(super) block_tcp: bool,
    pub(super) tcp_timeout_s: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHost {
    pub(super) name: Spanned<String>,
    pub(super) network: OneOrMany,
    pub(super) ip: Option<Spanned<String>>,
    pub(super) ips: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) service: Option<Spanned<RawService>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    pub(super) kind: Spanned<String>,
    pub(super) port: Option<u16>,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    pub(super) realm: Option<String>,
    pub(super) secret: Option<String>,
    pub(super) transports: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) tls_port: Option<Spanned<u16>>,
    pub(super) lifetime_s: Option<Spanned<u64>>,
    pub(super) alternate: Option<Spanned<String>>,
    pub(super) domain: Option<Spanned<String>>,
    pub(super) external_services: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) ipcheck: Option<bool>,
}

impl RawService {
    /// The keys given, by name, in the order of the format page: what a service kind that does
    /// not take them names in its error.
    pub(super) fn given_keys(&self) -> Vec<&'static str> {
        [
            ("port", self.port.is_some()),
            ("username", self.username.is_some()),
            ("password", self.password.is_some()),
            ("realm", self.realm.is_some()),
            ("secret", self.secret.is_some()),
            ("transports", self.transports.is_some()),
            ("tls_port", self.tls_port.is_some()),
            ("lifetime_s", self.lifetime_s.is_some()),
            ("alternate", self.alternate.is_some()),
            ("domain", self.domain.is_some()),
            ("external_services", self.external_services.is_some()),
            ("ipcheck", self.ipcheck.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, given)| given.then_some(k))
        .collect()
    }
}
