//! The simulator's deterministic TLS (feature `tls`): real TLS 1.3 that replays from its seeds.
#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used)]

use ice_netsim::tls::{SimCa, SimTls, TlsError};

/// Runs a client and a server against each other in memory until neither has anything to
/// send; returns every ciphertext record sent, in order, and what each side read.
fn converse(
    client: &mut SimTls,
    server: &mut SimTls,
    to_server: &[u8],
    to_client: &[u8],
) -> (Vec<Vec<u8>>, Vec<u8>, Vec<u8>) {
    client.write_plaintext(to_server).unwrap();
    server.write_plaintext(to_client).unwrap();
    let (mut wire, mut at_server, mut at_client) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..10 {
        let mut moved = false;
        while let Some(b) = client.poll_ciphertext() {
            // Delivered one byte at a time: TLS reads a stream, not records.
            for byte in b.chunks(1) {
                server.handle_ciphertext(byte).unwrap();
            }
            wire.push(b);
            moved = true;
        }
        while let Some(b) = server.poll_ciphertext() {
            client.handle_ciphertext(&b).unwrap();
            wire.push(b);
            moved = true;
        }
        server.read_plaintext(&mut at_server);
        client.read_plaintext(&mut at_client);
        if !moved {
            break;
        }
    }
    (wire, at_server, at_client)
}

fn pair(seeds: [u8; 4], name: &str) -> (SimTls, SimTls) {
    let ca = SimCa::new([seeds[0]; 32]).unwrap();
    let (cert, key) = ca.issue(name, [seeds[1]; 32]).unwrap();
    (
        SimTls::client(name, &ca, [seeds[2]; 32]).unwrap(),
        SimTls::server(cert, key, [seeds[3]; 32]).unwrap(),
    )
}

#[test]
fn a_handshake_carries_data_both_ways_and_replays_byte_for_byte() {
    let (mut c, mut s) = pair([1, 2, 3, 4], "turn1");
    let (wire, at_server, at_client) = converse(&mut c, &mut s, b"allocate", b"allocated");
    assert_eq!(at_server, b"allocate");
    assert_eq!(at_client, b"allocated");
    assert!(!c.is_handshaking() && !s.is_handshaking());
    // RFC 8446 §5.1: records of content type handshake (22) first; the data in application
    // data records (23); nothing in the clear.
    assert_eq!(wire[0][0], 22);
    assert!(wire.iter().all(|r| !r.windows(8).any(|w| w == b"allocate")));

    let (mut c2, mut s2) = pair([1, 2, 3, 4], "turn1");
    let again = converse(&mut c2, &mut s2, b"allocate", b"allocated");
    assert_eq!(again.0, wire, "the same seeds, the same bytes");

    let (mut c3, mut s3) = pair([1, 2, 5, 4], "turn1");
    let other = converse(&mut c3, &mut s3, b"allocate", b"allocated");
    assert_ne!(
        other.0, wire,
        "another client seed, another client random and key share"
    );
    assert_eq!(other.1, b"allocate");
}

#[test]
fn an_ip_address_as_the_server_name() {
    let (mut c, mut s) = pair([1, 2, 3, 4], "198.51.100.200");
    let (_, at_server, _) = converse(&mut c, &mut s, b"x", b"");
    assert_eq!(at_server, b"x");
}

/// The certificate names another host, or comes from another authority: the client refuses
/// (RFC 8446 §4.4.2.4 bad_certificate / RFC 6125 name check).
#[test]
fn a_wrong_name_or_an_unknown_authority_fails_the_handshake() {
    for (client_ca_seed, name_in_cert) in [(1u8, "turn2"), (9u8, "turn1")] {
        let ca = SimCa::new([1; 32]).unwrap();
        let (cert, key) = ca.issue(name_in_cert, [2; 32]).unwrap();
        let client_ca = SimCa::new([client_ca_seed; 32]).unwrap();
        let mut c = SimTls::client("turn1", &client_ca, [3; 32]).unwrap();
        let mut s = SimTls::server(cert, key, [4; 32]).unwrap();
        let mut failed = None;
        'run: for _ in 0..5 {
            while let Some(b) = c.poll_ciphertext() {
                if let Err(e) = s.handle_ciphertext(&b) {
                    failed = Some(e);
                    break 'run;
                }
            }
            while let Some(b) = s.poll_ciphertext() {
                if let Err(e) = c.handle_ciphertext(&b) {
                    failed = Some(e);
                    break 'run;
                }
            }
        }
        assert!(
            matches!(failed, Some(TlsError::Tls(_))),
            "{name_in_cert}: {failed:?}"
        );
    }
}

/// Garbage for a server is a typed error, never a panic.
#[test]
fn garbage_is_refused() {
    let (_, mut s) = pair([1, 2, 3, 4], "turn1");
    let e = s
        .handle_ciphertext(b"\x16\x03\x01\x00\x05hello-not-tls")
        .unwrap_err();
    assert!(matches!(e, TlsError::Tls(_)), "{e}");
    let (_, mut s) = pair([1, 2, 3, 4], "turn1");
    assert!(s.handle_ciphertext(&[0xFF; 300]).is_err());
}

/// The authority's certificates in PEM (RFC 7468) are what openssl reads back: the chain
/// verifies and the names are there (for coturn on the netns backend).
#[test]
fn pem_that_openssl_reads() {
    use ice_netsim::tls::{PEM_CERTIFICATE, PEM_PRIVATE_KEY, pem};
    let ca = SimCa::new([7; 32]).unwrap();
    let (cert, key) = ca.issue("turn1", [8; 32]).unwrap();
    let dir = std::env::temp_dir().join(format!("sim-tls-pem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca_file, cert_file, key_file) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&ca_file, pem(PEM_CERTIFICATE, &ca.certificate())).unwrap();
    std::fs::write(&cert_file, pem(PEM_CERTIFICATE, &cert)).unwrap();
    std::fs::write(&key_file, pem(PEM_PRIVATE_KEY, key.secret_der())).unwrap();
    let run = |args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl (Debian's openssl package) runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, text) = run(&[
        "verify".as_ref(),
        "-CAfile".as_ref(),
        ca_file.as_os_str(),
        cert_file.as_os_str(),
    ]);
    assert!(ok, "{text}");
    let (ok, text) = run(&[
        "x509".as_ref(),
        "-noout".as_ref(),
        "-text".as_ref(),
        "-in".as_ref(),
        cert_file.as_os_str(),
    ]);
    assert!(
        ok && text.contains("DNS:turn1") && text.contains("ED25519"),
        "{text}"
    );
    let (ok, text) = run(&[
        "pkey".as_ref(),
        "-noout".as_ref(),
        "-in".as_ref(),
        key_file.as_os_str(),
    ]);
    assert!(ok, "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
