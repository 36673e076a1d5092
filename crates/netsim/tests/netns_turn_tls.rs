//! The netns lab's coturn over TLS (RFC 8656 §3.1): a turn service whose `transports` name
//! `tls` listens on `tls_port` with a certificate the lab issued from the run's simulated
//! authority (`tls_ca_seed`), and the simulator's TLS client ([`ice_netsim::tls::SimTls`],
//! what the runner's agents use) completes a TLS 1.3 handshake with it over a real TCP
//! connection from a host behind the NAT and gets STUN answers through it. Needs root,
//! nftables and coturn: ignored in a plain `cargo test`, run in `cargo xtask ci`'s netns step.
#![cfg(all(feature = "netns", feature = "tls", target_os = "linux"))]
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ice_netsim::netns::Lab;
use ice_netsim::tls::{SimCa, SimTls};
use ice_netsim::tls_ca_seed;
use turn_support::{long_term, script};

mod turn_support;

/// A Binding request (RFC 8489 §5) and an Allocate without credentials (RFC 8656 §7.1), which
/// a TURN server answers with a Binding success and 401.
fn requests() -> Vec<u8> {
    let mut m = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
    m.extend_from_slice(&[1; 12]);
    m.extend_from_slice(&[0x00, 0x03, 0x00, 0x08, 0x21, 0x12, 0xA4, 0x42]);
    m.extend_from_slice(&[2; 12]);
    m.extend_from_slice(&[0x00, 0x19, 0x00, 0x04, 17, 0, 0, 0]);
    m
}

/// Talks TLS to `to` from the client host's namespace with a client for `name`; returns the
/// plaintext received, or the TLS error.
fn talk(lab: &Lab, seed: u64, name: &str, to: SocketAddr) -> Result<Vec<u8>, String> {
    let ns = lab.host("client").unwrap().namespace.clone();
    let stream = lab
        .spawn_in(&ns, move || {
            TcpStream::connect_timeout(&to, Duration::from_secs(5))
        })
        .unwrap()
        .join()
        .unwrap()
        .unwrap()
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut stream = stream;
    let ca = SimCa::new(tls_ca_seed(seed)).unwrap();
    let mut tls = SimTls::client(name, &ca, [5; 32]).unwrap();
    tls.write_plaintext(&requests()).unwrap();
    let mut plain = Vec::new();
    let mut buf = vec![0u8; 16_384];
    for _ in 0..50 {
        while let Some(out) = tls.poll_ciphertext() {
            stream.write_all(&out).map_err(|e| format!("write: {e}"))?;
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => tls
                .handle_ciphertext(&buf[..n])
                .map_err(|e| e.to_string())?,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(format!("read: {e}")),
        }
        tls.read_plaintext(&mut plain);
        if plain.len() >= 40 {
            break;
        }
    }
    Ok(plain)
}

#[test]
#[ignore = "needs root and coturn (.ci/run installs coturn): runs in the netns step of every cargo xtask ci"]
fn coturn_over_tls_with_a_certificate_of_the_simulated_authority() {
    let topology = script(&long_term(
        r#", transports = ["udp", "tls"], tls_port = 5349"#,
    ));
    let lab = Lab::build(&topology).expect("the lab builds (root, nftables and coturn?)");
    let server: SocketAddr = "198.51.100.200:5349".parse().unwrap();
    let plain = talk(&lab, topology.seed, "turn1", server).expect("TLS with coturn");
    // A Binding success (0x0101) first, then the Allocate's 401 (0x0113).
    assert!(plain.len() >= 40, "{plain:02x?}");
    assert_eq!(&plain[..2], &[0x01, 0x01]);
    let len = 20 + usize::from(u16::from_be_bytes([plain[2], plain[3]]));
    assert_eq!(&plain[len..len + 2], &[0x01, 0x13]);
    // Checked by name: a client that expects another host refuses the certificate.
    let e = talk(&lab, topology.seed, "turn2", server).expect_err("another name");
    assert!(e.contains("TLS"), "{e}");
}
