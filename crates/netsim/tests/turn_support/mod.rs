//! What the TURN server tests share: one script (a client behind a NAT, a peer and a stranger on
//! the internet, two TURN hosts) and its addresses, for the simulator (`turn_server.rs`) and
//! the netns lab's coturn (`netns_turn.rs`).
#![allow(dead_code)]

use std::net::SocketAddr;

use ice_netsim::Topology;

pub(crate) const CLIENT: &str = "10.0.1.1:5000";
pub(crate) const SERVER: &str = "198.51.100.200:3478";
pub(crate) const PEER: &str = "198.51.100.2:7000";
pub(crate) const STRANGER: &str = "198.51.100.3:7000";

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

/// A turn service on turn1 with the user `user`/`pass`, realm `example`, and `extra` keys.
pub(crate) fn long_term(extra: &str) -> String {
    format!(
        r#"{{ kind = "turn", port = 3478, realm = "example", username = "user", password = "pass"{extra} }}"#
    )
}

/// The script, with `service` on turn1 (turn2 runs a turn service on 3478).
pub(crate) fn script(service: &str) -> Topology {
    let text = format!(
        r#"
format = 1
name = "a TURN client behind a NAT, a peer and a stranger on the internet"
[[network]]
name = "internet"
cidr = "198.51.100.0/24"
[[network]]
name = "lan"
cidr = "10.0.1.0/24"
[[nat]]
name = "nat"
inside = "lan"
outside = "internet"
public_ip = "198.51.100.10"
mapping = "endpoint-independent"
filtering = "address-and-port-dependent"
port_preservation = true
[[host]]
name = "client"
network = "lan"
ip = "10.0.1.1"
[[host]]
name = "peer"
network = "internet"
ip = "198.51.100.2"
[[host]]
name = "stranger"
network = "internet"
ip = "198.51.100.3"
[[host]]
name = "turn1"
network = "internet"
ip = "198.51.100.200"
service = {service}
[[host]]
name = "turn2"
network = "internet"
ip = "198.51.100.201"
service = {{ kind = "turn", port = 3478, username = "user", password = "pass" }}
[[agent]]
host = "client"
impl = "any"
role = "initiator"
[[agent]]
host = "peer"
impl = "any"
role = "responder"
[expect]
outcome = "connected"
"#
    );
    Topology::parse("turn.toml", &text).expect("script parses")
}
