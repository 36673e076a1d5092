//! nftables rulesets for the NAT routers of the netns backend: every RFC 4787 mapping and
//! filtering behaviour the topology format names, hairpinning, mapping timeouts and UDP
//! blocking, on a router whose inside interface is `lan` and outside interface `wan`.
//!
//! Pure text generation (no root needed); the `netns` module (feature `netns`) loads the result with `nft -f`.
//! What each behaviour takes (established on this kind of machine, see the project's lab
//! notes):
//!
//! - mapping: endpoint-independent is `masquerade` (Linux keeps the source port while the
//!   5-tuple is free, so one internal endpoint keeps one external port); address-dependent is a
//!   `snat` whose port is a hash of (internal address, internal port, remote address);
//!   address-and-port-dependent is `masquerade random` (a fresh port per 5-tuple).
//! - filtering: address-and-port-dependent is conntrack alone (only replies of a flow come
//!   back); endpoint-independent needs a map from external port to internal endpoint, learned
//!   after SNAT and used to DNAT inbound datagrams; address-dependent adds a set of (internal
//!   endpoint, remote address) pairs contacted, checked before such a datagram is forwarded.
//! - the router drops new inbound flows to itself (`iif "wan" ct state new drop`): otherwise a
//!   peer's early datagram creates a conntrack entry and the inside host's later flow gets
//!   another external port.
//! - hairpinning (only with the map, i.e. endpoint-independent or address-dependent filtering):
//!   datagrams from the inside to the public address are DNATed through the map and SNATed to
//!   the public address, so that the peer sees the sender's external mapping (RFC 4787 REQ-9).
//! - mapping timeouts: the map and set entries expire after `udp_timeout_s`, and the caller
//!   sets the namespace's conntrack UDP timeouts to the same value.
//!
//! TCP (RFC 5382): `block_tcp` drops every TCP segment forwarded through the router, and
//! conntrack's established-TCP timeout is `tcp_timeout_s`. Mapping follows `mapping` as for UDP
//! (the source NAT rules are protocol-agnostic, and address-dependent mapping hashes TCP ports
//! too). Filtering does not yet: the port map and the contacted set are learned and used for
//! UDP only, so TCP is filtered by conntrack alone, i.e. address-and-port-dependent whatever
//! `filtering` says (an unsolicited inbound SYN is always dropped, simultaneous open works
//! through conntrack), and TCP is never hairpinned. The simulator's
//! [`TcpNatTable`](crate::nat_tcp::TcpNatTable) follows `filtering` and `hairpinning` for TCP;
//! `Lab::unsupported` (the `netns_scope` module) refuses the scripts where that difference would
//! matter: an ICE-TCP agent behind a NAT with another `filtering` or with `hairpinning`.

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::nat::{Behaviour, NatConfig};

/// The nftables ruleset of one NAT router (a script's `[[nat]]`: [`crate::topology::Nat::config`]).
/// Hairpinned flows are addressed from the public address.
pub fn ruleset(nat: &NatConfig) -> String {
    let v6 = nat.public_ip.is_ipv6();
    let (family, addr_type, saddr, daddr) = if v6 {
        ("ip6", "ipv6_addr", "ip6 saddr", "ip6 daddr")
    } else {
        ("ip", "ipv4_addr", "ip saddr", "ip daddr")
    };
    let public = nat.public_ip;
    let timeout = nat.udp_timeout.as_secs().max(1);
    let uses_map = nat.filtering != Behaviour::AddressAndPortDependent;
    let hairpin = nat.hairpinning && uses_map;
    let mut s = String::new();
    let _ = writeln!(s, "table {family} icenat {{");
    if uses_map {
        // External port -> internal endpoint, learned after SNAT decided the port.
        dynamic(
            &mut s,
            "map portmap",
            &format!("inet_service : {addr_type} . inet_service"),
            timeout,
        );
    }
    if nat.filtering == Behaviour::AddressDependent {
        dynamic(
            &mut s,
            "set contacted",
            &format!("{addr_type} . inet_service . {addr_type}"),
            timeout,
        );
    }
    // The router itself takes no new inbound flow on its outside.
    s.push_str("  chain input {\n    type filter hook input priority filter; policy accept;\n");
    s.push_str("    iif \"wan\" ct state new drop\n  }\n");
    // Forwarding: out freely (unless UDP is blocked), in only as the filtering allows.
    s.push_str("  chain forward {\n    type filter hook forward priority filter; policy drop;\n");
    if nat.block_udp {
        s.push_str("    meta l4proto udp drop\n");
    }
    if nat.block_tcp {
        s.push_str("    meta l4proto tcp drop\n");
    }
    s.push_str("    iif \"lan\" accept\n");
    s.push_str("    iif \"wan\" ct state established,related accept\n");
    match nat.filtering {
        Behaviour::EndpointIndependent => {
            s.push_str("    iif \"wan\" ct status dnat accept\n");
        }
        Behaviour::AddressDependent => {
            let _ = writeln!(
                s,
                "    iif \"wan\" ct status dnat {daddr} . udp dport . {saddr} @contacted accept"
            );
        }
        Behaviour::AddressAndPortDependent => {}
    }
    s.push_str("  }\n");
    if uses_map {
        // Inbound (and, with hairpinning, inside-to-public) datagrams to a learned port go to
        // its internal endpoint.
        s.push_str(
            "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n",
        );
        let interfaces: &[&str] = if hairpin { &["wan", "lan"] } else { &["wan"] };
        for iif in interfaces {
            let _ = writeln!(
                s,
                "    iif \"{iif}\" {daddr} {public} meta l4proto udp dnat {family} addr . port to udp dport map @portmap"
            );
        }
        s.push_str("  }\n");
    }
    s.push_str(
        "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n",
    );
    if hairpin {
        // RFC 4787 REQ-9: the hairpinned datagram comes from the sender's external mapping.
        let _ = writeln!(
            s,
            "    iif \"lan\" oif \"lan\" ct status dnat snat {family} to {public}"
        );
    }
    match nat.mapping {
        Behaviour::EndpointIndependent => {
            let _ = writeln!(s, "    oif \"wan\" snat {family} to {public}");
        }
        Behaviour::AddressDependent => {
            let _ = writeln!(
                s,
                "    oif \"wan\" meta l4proto udp snat {family} to {public} : jhash {saddr} . udp sport . {daddr} mod 20000 seed 0x1 offset 20000"
            );
            // RFC 5382 REQ-1 leaves TCP mapping to the NAT; the script's applies to TCP too.
            let _ = writeln!(
                s,
                "    oif \"wan\" meta l4proto tcp snat {family} to {public} : jhash {saddr} . tcp sport . {daddr} mod 20000 seed 0x1 offset 20000"
            );
            let _ = writeln!(s, "    oif \"wan\" snat {family} to {public}");
        }
        Behaviour::AddressAndPortDependent => {
            let _ = writeln!(s, "    oif \"wan\" snat {family} to {public} random");
        }
    }
    s.push_str("  }\n");
    if uses_map {
        // Learn the mapping once SNAT has chosen the external port: the reply direction's
        // destination port is it.
        s.push_str(
            "  chain learn {\n    type filter hook postrouting priority srcnat + 10; policy accept;\n",
        );
        learn(
            &mut s,
            "portmap",
            &format!("ct reply proto-dst : ct original {saddr} . ct original proto-src"),
        );
        if nat.filtering == Behaviour::AddressDependent {
            learn(
                &mut s,
                "contacted",
                &format!("ct original {saddr} . ct original proto-src . {daddr}"),
            );
        }
        s.push_str("  }\n");
    }
    s.push_str("}\n");
    s
}

/// Declares a dynamic set or map (`what` is `set NAME` or `map NAME`) whose entries expire
/// `timeout` seconds after they were last updated.
fn dynamic(s: &mut String, what: &str, element_type: &str, timeout: u64) {
    let _ = writeln!(
        s,
        "  {what} {{ type {element_type}; flags dynamic,timeout; timeout {timeout}s; size 65535; }}"
    );
}

/// Adds or refreshes, for each datagram leaving on `wan`, an `element` in the set or map `name`.
fn learn(s: &mut String, name: &str, element: &str) {
    let _ = writeln!(
        s,
        "    oif \"wan\" meta l4proto udp update @{name} {{ {element} }}"
    );
}

/// The sysctls of a router namespace: forwarding on, reverse-path filtering off (asymmetric
/// paths through nested NATs), conntrack's UDP timeouts set to the mapping lifetime and its
/// established-TCP timeout to `tcp_timeout_s` (RFC 5382 REQ-5).
pub fn router_sysctls(nat: &NatConfig) -> Vec<(String, String)> {
    let t = nat.udp_timeout.as_secs().max(1).to_string();
    let mut v = vec![
        ("net.ipv4.ip_forward".to_owned(), "1".to_owned()),
        ("net.ipv6.conf.all.forwarding".to_owned(), "1".to_owned()),
        ("net.ipv4.conf.all.rp_filter".to_owned(), "0".to_owned()),
        ("net.ipv4.conf.default.rp_filter".to_owned(), "0".to_owned()),
    ];
    v.push((
        "net.netfilter.nf_conntrack_udp_timeout".to_owned(),
        t.clone(),
    ));
    v.push((
        "net.netfilter.nf_conntrack_udp_timeout_stream".to_owned(),
        t,
    ));
    v.push((
        "net.netfilter.nf_conntrack_tcp_timeout_established".to_owned(),
        nat.tcp_timeout.as_secs().max(1).to_string(),
    ));
    v
}

/// Whether `ip` belongs to the router's family.
pub fn same_family(nat: &NatConfig, ip: IpAddr) -> bool {
    nat.public_ip.is_ipv6() == ip.is_ipv6()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn nat(mapping: Behaviour, filtering: Behaviour, hairpinning: bool) -> NatConfig {
        NatConfig {
            public_ip: "198.51.100.10".parse().unwrap(),
            mapping,
            filtering,
            port_preservation: true,
            hairpinning,
            udp_timeout: Duration::from_secs(30),
            block_udp: false,
            block_tcp: false,
            tcp_timeout: Duration::from_secs(7440),
        }
    }

    #[test]
    fn each_behaviour_gets_its_rules() {
        use Behaviour::*;
        let r = ruleset(&nat(EndpointIndependent, AddressAndPortDependent, false));
        assert!(r.contains("oif \"wan\" snat ip to 198.51.100.10\n"));
        assert!(!r.contains("map portmap"), "{r}");
        assert!(r.contains("iif \"wan\" ct state new drop"));
        let r = ruleset(&nat(EndpointIndependent, EndpointIndependent, true));
        assert!(r.contains("map portmap"));
        assert!(r.contains("ct status dnat accept"));
        assert!(r.contains("iif \"lan\" ip daddr 198.51.100.10"));
        assert!(r.contains("timeout 30s"));
        let r = ruleset(&nat(AddressDependent, AddressDependent, false));
        assert!(r.contains("jhash"));
        assert!(r.contains("@contacted accept"));
        assert!(!r.contains("iif \"lan\" ip daddr"), "no hairpin asked");
        let r = ruleset(&nat(AddressAndPortDependent, AddressAndPortDependent, true));
        assert!(r.contains("random"));
        assert!(!r.contains("iif \"lan\" ip daddr"), "no map, no hairpin");
    }

    #[test]
    fn tcp_blocking_mapping_and_timeout() {
        use Behaviour::*;
        let plain = nat(EndpointIndependent, AddressAndPortDependent, false);
        let r = ruleset(&plain);
        assert!(
            !r.contains("meta l4proto tcp drop"),
            "TCP passes by default"
        );
        let mut blocked = plain;
        blocked.block_tcp = true;
        let r = ruleset(&blocked);
        assert!(r.contains("    meta l4proto tcp drop\n"), "{r}");
        assert!(!r.contains("meta l4proto udp drop"), "UDP untouched");
        let forward = &r[r.find("chain forward").expect("forward")..];
        assert!(
            forward.find("meta l4proto tcp drop") < forward.find("iif \"lan\" accept"),
            "the drop comes before the accepts"
        );
        let r = ruleset(&nat(AddressDependent, AddressAndPortDependent, false));
        assert!(
            r.contains(
                "meta l4proto tcp snat ip to 198.51.100.10 : jhash ip saddr . tcp sport . ip daddr"
            ),
            "{r}"
        );
        let mut short = plain;
        short.tcp_timeout = Duration::from_secs(5);
        assert!(router_sysctls(&short).contains(&(
            "net.netfilter.nf_conntrack_tcp_timeout_established".to_owned(),
            "5".to_owned()
        )));
    }
}
