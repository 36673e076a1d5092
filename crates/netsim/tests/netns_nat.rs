//! The netns backend's NAT routers, each RFC 4787 behaviour on its own, with datagrams crafted
//! by the test on real sockets in the lab's namespaces. They need root and nftables, so a
//! plain `cargo test` leaves them out (ignored, with the reason); `cargo xtask ci` runs them
//! in its netns step (`-- --ignored`), where they fail loudly when either is missing.
#![cfg(all(feature = "netns", target_os = "linux"))]
#![allow(clippy::unwrap_used)]

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use ice_netsim::Topology;
use ice_netsim::netns::{Lab, leftovers};

/// One NAT between `lan` (two hosts) and `internet` (two servers).
fn script(mapping: &str, filtering: &str, extra: &str) -> Topology {
    let text = format!(
        r#"
format = 1
name = "nat test"
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
mapping = "{mapping}"
filtering = "{filtering}"
{extra}
[[host]]
name = "a"
network = "lan"
ip = "10.0.1.1"
[[host]]
name = "b"
network = "lan"
ip = "10.0.1.2"
[[host]]
name = "s1"
network = "internet"
ip = "198.51.100.100"
[[host]]
name = "s2"
network = "internet"
ip = "198.51.100.200"
[[agent]]
host = "a"
impl = "ice-sans-io"
role = "initiator"
[[agent]]
host = "b"
impl = "ice-sans-io"
role = "responder"
[expect]
outcome = "connected"
"#
    );
    Topology::parse("nat-test.toml", &text).unwrap()
}

fn lab(mapping: &str, filtering: &str, extra: &str) -> Lab {
    Lab::build(&script(mapping, filtering, extra)).expect("the lab builds (root and nftables?)")
}

/// A socket bound to `addr` inside `host`'s namespace.
fn socket(lab: &Lab, host: &str, addr: &str) -> UdpSocket {
    let ns = lab.host(host).unwrap().namespace.clone();
    let addr: SocketAddr = addr.parse().unwrap();
    let s = lab.bind_udp(&ns, addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    s
}

fn send(s: &UdpSocket, to: &str, msg: &[u8]) {
    s.send_to(msg, to.parse::<SocketAddr>().unwrap()).unwrap();
}

/// The source of the next datagram `s` receives, if one comes within the timeout.
fn recv(s: &UdpSocket) -> Option<(SocketAddr, Vec<u8>)> {
    let mut buf = [0u8; 1500];
    s.recv_from(&mut buf)
        .ok()
        .map(|(n, from)| (from, buf[..n].to_vec()))
}

/// The external endpoints `a:5000` gets towards s1:3478, s1:3479 and s2:3478.
fn mappings(lab: &Lab) -> [SocketAddr; 3] {
    let a = socket(lab, "a", "10.0.1.1:5000");
    let s1 = socket(lab, "s1", "198.51.100.100:3478");
    let s1b = socket(lab, "s1", "198.51.100.100:3479");
    let s2 = socket(lab, "s2", "198.51.100.200:3478");
    send(&a, "198.51.100.100:3478", b"1");
    send(&a, "198.51.100.100:3479", b"2");
    send(&a, "198.51.100.200:3478", b"3");
    [
        recv(&s1).unwrap().0,
        recv(&s1b).unwrap().0,
        recv(&s2).unwrap().0,
    ]
}

#[test]
#[ignore = "needs root and nftables: cargo xtask ci runs it"]
fn mapping_behaviours() {
    // RFC 4787 §4.1: one external endpoint for all destinations (EIM), one per destination
    // address (ADM), one per destination address and port (APDM).
    let l = lab("endpoint-independent", "address-and-port-dependent", "");
    let m = mappings(&l);
    assert_eq!(m[0].ip().to_string(), "198.51.100.10", "translated: {m:?}");
    assert!(m[0] == m[1] && m[1] == m[2], "EIM: {m:?}");
    assert_eq!(m[0].port(), 5000, "ports are preserved while free");
    drop(l);
    let l = lab("address-dependent", "address-and-port-dependent", "");
    let m = mappings(&l);
    assert_eq!(m[0], m[1], "ADM: same address, same mapping: {m:?}");
    assert_ne!(m[0], m[2], "ADM: another address, another mapping: {m:?}");
    drop(l);
    let l = lab(
        "address-and-port-dependent",
        "address-and-port-dependent",
        "",
    );
    let m = mappings(&l);
    assert!(m[0] != m[1] && m[0] != m[2] && m[1] != m[2], "APDM: {m:?}");
}

/// After `a:5000` sent to s1:3478: whether s1:3478, s1:3479 and s2:3478 reach it.
fn reachable(lab: &Lab) -> [bool; 3] {
    let a = socket(lab, "a", "10.0.1.1:5000");
    let s1 = socket(lab, "s1", "198.51.100.100:3478");
    let s1b = socket(lab, "s1", "198.51.100.100:3479");
    let s2 = socket(lab, "s2", "198.51.100.200:3478");
    send(&a, "198.51.100.100:3478", b"out");
    let (mapped, _) = recv(&s1).unwrap();
    let mapped = mapped.to_string();
    let mut r = [false; 3];
    for (i, s) in [&s1, &s1b, &s2].into_iter().enumerate() {
        send(s, &mapped, format!("in{i}").as_bytes());
        r[i] = recv(&a).is_some_and(|(_, d)| d == format!("in{i}").as_bytes());
    }
    r
}

#[test]
#[ignore = "needs root and nftables: cargo xtask ci runs it"]
fn filtering_behaviours() {
    // RFC 4787 §5: inbound from anyone (EIF), from the address contacted (ADF), from the
    // address and port contacted (APDF).
    let l = lab("endpoint-independent", "endpoint-independent", "");
    assert_eq!(reachable(&l), [true, true, true], "EIF");
    drop(l);
    let l = lab("endpoint-independent", "address-dependent", "");
    assert_eq!(reachable(&l), [true, true, false], "ADF");
    drop(l);
    let l = lab("endpoint-independent", "address-and-port-dependent", "");
    assert_eq!(reachable(&l), [true, false, false], "APDF");
}

#[test]
#[ignore = "needs root and nftables: cargo xtask ci runs it"]
fn unsolicited_inbound_and_private_addresses_are_dropped() {
    let l = lab("endpoint-independent", "endpoint-independent", "");
    let a = socket(&l, "a", "10.0.1.1:5000");
    let s1 = socket(&l, "s1", "198.51.100.100:3478");
    // Nothing mapped yet: the router drops it, and it must not spoil the later mapping.
    send(&s1, "198.51.100.10:5000", b"early");
    assert!(recv(&a).is_none());
    // A private address is not routed on the internet.
    let sent = s1.send_to(b"x", "10.0.1.1:5000".parse::<SocketAddr>().unwrap());
    assert!(sent.is_err() || recv(&a).is_none());
    send(&a, "198.51.100.100:3478", b"out");
    let (mapped, _) = recv(&s1).unwrap();
    assert_eq!(
        mapped.to_string(),
        "198.51.100.10:5000",
        "the early datagram left no trace"
    );
}

#[test]
#[ignore = "needs root and nftables: cargo xtask ci runs it"]
fn hairpinning_on_and_off() {
    for on in [true, false] {
        let l = lab(
            "endpoint-independent",
            "endpoint-independent",
            &format!("hairpinning = {on}"),
        );
        let a = socket(&l, "a", "10.0.1.1:5000");
        let b = socket(&l, "b", "10.0.1.2:6000");
        let s1 = socket(&l, "s1", "198.51.100.100:3478");
        send(&a, "198.51.100.100:3478", b"a");
        let (a_public, _) = recv(&s1).unwrap();
        send(&b, "198.51.100.100:3478", b"b");
        let (b_public, _) = recv(&s1).unwrap();
        // b reaches a at a's public mapping, seen from b's public mapping (REQ-9).
        send(&b, &a_public.to_string(), b"hairpin");
        let got = recv(&a);
        if on {
            let (from, data) = got.expect("hairpinned");
            assert_eq!(data, b"hairpin");
            assert_eq!(from, b_public, "the external source, RFC 4787 REQ-9");
        } else {
            assert!(got.is_none(), "no hairpinning: {got:?}");
        }
    }
}

#[test]
#[ignore = "needs root and nftables: cargo xtask ci runs it"]
fn mapping_timeout_and_outbound_refresh() {
    // RFC 4787 REQ-5/REQ-6: a mapping lives `udp_timeout_s` after the last datagram, and
    // outbound datagrams refresh it. (Linux conntrack also refreshes on inbound datagrams of an
    // established flow, which REQ-6 permits; the simulator refreshes on outbound only.)
    let l = lab(
        "endpoint-independent",
        "endpoint-independent",
        "udp_timeout_s = 2",
    );
    let a = socket(&l, "a", "10.0.1.1:5000");
    let s1 = socket(&l, "s1", "198.51.100.100:3478");
    let s2 = socket(&l, "s2", "198.51.100.200:3478");
    send(&a, "198.51.100.100:3478", b"out");
    let (mapped, _) = recv(&s1).unwrap();
    let mapped = mapped.to_string();
    // Refreshed by outbound traffic every 0.9 s, it outlives its 2 s timeout.
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(900));
        send(&a, "198.51.100.100:3478", b"keepalive");
        let _ = recv(&s1);
    }
    send(&s2, &mapped, b"still");
    assert_eq!(recv(&a).map(|(_, d)| d), Some(b"still".to_vec()));
    // Idle past the timeout: gone.
    std::thread::sleep(Duration::from_millis(3200));
    send(&s2, &mapped, b"late");
    assert!(recv(&a).is_none(), "expired after 2 s without traffic");
}

#[test]
#[ignore = "needs root and nftables: cargo xtask ci runs it"]
fn block_udp_drops_everything() {
    let l = lab(
        "endpoint-independent",
        "endpoint-independent",
        "block_udp = true",
    );
    let a = socket(&l, "a", "10.0.1.1:5000");
    let s1 = socket(&l, "s1", "198.51.100.100:3478");
    send(&a, "198.51.100.100:3478", b"out");
    assert!(recv(&s1).is_none());
}

#[test]
#[ignore = "needs root and nftables: cargo xtask ci runs it"]
fn nothing_is_left_behind() {
    let l = lab("endpoint-independent", "endpoint-independent", "");
    let prefix = l.prefix().to_owned();
    let scratch = l.scratch().to_owned();
    assert!(leftovers().iter().any(|n| n.starts_with(&prefix)));
    drop(l);
    assert!(!leftovers().iter().any(|n| n.starts_with(&prefix)));
    assert!(!scratch.exists());
    // Also after a panic while the lab is up.
    let r = std::panic::catch_unwind(|| {
        let l = lab("endpoint-independent", "endpoint-independent", "");
        let p = l.prefix().to_owned();
        std::panic::panic_any(p);
    });
    let p = *r.unwrap_err().downcast::<String>().unwrap();
    assert!(!leftovers().iter().any(|n| n.starts_with(&p)));
}
