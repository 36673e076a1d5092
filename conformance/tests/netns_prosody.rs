//! XEP-0279 across a real NAT (issue #8 item 4): Prosody with mod_ipcheck on the `internet`
//! network of a netns lab, the client behind an nftables NAT router. The server must see the
//! NAT's public address, and the client's hint must say it is behind a NAT.
//!
//! Ignored in a plain `cargo test` (it needs root, nftables, prosody and prosody-modules);
//! `cargo xtask ci` runs it in its netns step with `--ignored`, where it fails loudly when any
//! of them is missing.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use ice_netsim::Topology;
use ice_netsim::netns::Lab;
use jingle_ice_conformance::sic_client::Session;
use xmpp_sic::{NatHint, Outcome, Reading, Version};

const TEMPLATE: &str = include_str!("../prosody/prosody.cfg.lua.in");
const SERVER: &str = "198.51.100.5";
const PUBLIC: &str = "198.51.100.10";
const CLIENT: &str = "10.0.1.1";
const HOST: &str = "localhost";

const SCRIPT: &str = r#"
format = 1
name = "an XMPP client behind a NAT asks its server which address it sees"
[[network]]
name = "internet"
cidr = "198.51.100.0/24"
[[network]]
name = "lan"
cidr = "10.0.1.0/24"
[[nat]]
name = "home"
inside = "lan"
outside = "internet"
public_ip = "198.51.100.10"
mapping = "endpoint-independent"
filtering = "address-and-port-dependent"
[[host]]
name = "client"
network = "lan"
ip = "10.0.1.1"
[[host]]
name = "xmpp"
network = "internet"
ip = "198.51.100.5"
[[agent]]
host = "client"
impl = "ice-sans-io"
role = "initiator"
[[agent]]
host = "xmpp"
impl = "ice-sans-io"
role = "responder"
[expect]
outcome = "connected"
"#;

#[test]
#[ignore = "needs root, nftables, prosody and prosody-modules: cargo xtask ci runs it"]
fn sic_behind_a_nat_sees_the_public_address() {
    let topology = Topology::parse("sic-behind-nat.toml", SCRIPT).unwrap();
    let mut lab = Lab::build(&topology).expect("the lab builds (root and nftables?)");
    let server_ns = lab.host("xmpp").unwrap().namespace.clone();
    let client_ns = lab.host("client").unwrap().namespace.clone();

    // Prosody on the internet side, listening on the server's address.
    let dir = lab.scratch().join("prosody");
    fs::create_dir_all(dir.join("data")).unwrap();
    fs::create_dir_all(dir.join("certs")).unwrap();
    let dir_text = dir.to_str().unwrap().to_owned();
    let config = dir.join("prosody.cfg.lua");
    let text = TEMPLATE
        .replace("@DIR@", &dir_text)
        .replace("@PORT@", "5222")
        .replace("@HOST@", HOST)
        .replace("\"127.0.0.1\"", &format!("\"{SERVER}\""));
    fs::write(&config, text).unwrap();
    let out = Command::new("prosodyctl")
        .arg("--config")
        .arg(&config)
        .args(["register", "alice", HOST, "alice-secret"])
        .output()
        .expect("prosodyctl (apt-get install prosody prosody-modules)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lab.spawn_process(
        &server_ns,
        std::path::Path::new("prosody"),
        &["--config", config.to_str().unwrap(), "-F"],
    )
    .expect("starting prosody in the server's namespace");
    let ready = format!("Activated service 'c2s' on [{SERVER}]:5222");
    let log = dir.join("prosody.log");
    let mut up = false;
    for _ in 0..500 {
        let text = fs::read_to_string(&log).unwrap_or_default();
        assert!(
            !text.contains("Unable to load module 'ipcheck'"),
            "mod_ipcheck is missing (apt-get install prosody-modules)"
        );
        if text.contains(&ready) {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(up, "Prosody did not listen on {SERVER}:5222 within 10 s");

    // The client, in its namespace behind the NAT.
    let asked = lab
        .spawn_in(&client_ns, || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let server: SocketAddr = format!("{SERVER}:5222").parse().unwrap();
                let mut s = Session::login(
                    server,
                    format!("alice@{HOST}").parse().unwrap(),
                    "alice-secret",
                    Duration::from_secs(10),
                )
                .await?;
                let local = s.local_addr();
                let mut client = xmpp_sic::Client::new(&[Version::Sic1], Reading::Strict);
                let asked = s.ask(&mut client, Duration::from_secs(10)).await?;
                s.close().await;
                anyhow::Ok((asked, local))
            })
        })
        .unwrap()
        .join()
        .unwrap()
        .unwrap();
    let (asked, local) = asked.unwrap();
    let Outcome::Address(seen, _) = asked.outcome else {
        panic!("no address: {:?}", asked.outcome)
    };
    let public: IpAddr = PUBLIC.parse().unwrap();
    assert_eq!(seen.ip, public, "the server sees the NAT's public address");
    let own: IpAddr = CLIENT.parse().unwrap();
    assert_eq!(
        local.map(|l| l.ip()),
        Some(own),
        "the client's own address is private"
    );
    let hint = NatHint::new(seen, &[own], local);
    assert!(hint.behind_nat, "the hint says: behind a NAT");
    // The home NAT preserves ports (endpoint-independent mapping, port free).
    assert_eq!(hint.port_changed, Some(false));
}
