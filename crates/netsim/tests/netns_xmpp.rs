//! The netns lab's Prosody for an xmpp service: a client behind the lab's NAT logs in over
//! plain XMPP on TCP (RFC 6120, SASL PLAIN of RFC 4616) with the account the lab gives its
//! host, asks XEP-0279 (the NAT's public address comes back) and XEP-0215 (the script's STUN
//! and TURN services, the TURN REST credentials as coturn checks them); after the lab is
//! dropped, no Prosody is left. It needs root, nftables, coturn, prosody and prosody-modules,
//! so a plain `cargo test` leaves it out (ignored, with the reason); `cargo xtask ci` runs it in
//! its netns step.
#![cfg(all(feature = "netns", target_os = "linux"))]
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use base64::Engine as _;
use ice_netsim::Topology;
use ice_netsim::netns::Lab;
use ice_netsim::turn_server::rest_password;

const SCRIPT: &str = r#"
format = 1
name = "an XMPP server on the internet, a client behind a NAT"
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
name = "romeo"
network = "lan"
ip = "10.0.1.1"
[[host]]
name = "juliet"
network = "internet"
ip = "198.51.100.2"
[[host]]
name = "stun1"
network = "internet"
ip = "198.51.100.100"
service = { kind = "stun", port = 3478 }
[[host]]
name = "turn1"
network = "internet"
ip = "198.51.100.200"
service = { kind = "turn", port = 3478, secret = "s3cret" }
[[host]]
name = "xmpp1"
network = "internet"
ip = "198.51.100.5"
service = { kind = "xmpp", domain = "example.org", external_services = ["stun1:3478", "turn1:3478"], ipcheck = true }
[[agent]]
host = "romeo"
impl = "ice-sans-io"
role = "initiator"
discover = true
[[agent]]
host = "juliet"
impl = "ice-sans-io"
role = "responder"
discover = true
[signalling]
via = "xmpp1"
[expect]
outcome = "connected"
"#;

/// A plain XMPP client stream over TCP, read up to markers.
struct Stream {
    tcp: TcpStream,
    pending: String,
}

impl Stream {
    fn send(&mut self, text: &str) {
        self.tcp.write_all(text.as_bytes()).unwrap();
    }

    /// Everything up to and including `marker` (the rest stays pending), within 10 s.
    fn until(&mut self, marker: &str) -> String {
        #[allow(clippy::disallowed_methods)] // a test's own timeout
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 4096];
        loop {
            if let Some(i) = self.pending.find(marker) {
                let rest = self.pending.split_off(i + marker.len());
                return std::mem::replace(&mut self.pending, rest);
            }
            #[allow(clippy::disallowed_methods)]
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {marker} within 10 s: {}", self.pending);
            self.tcp.set_read_timeout(Some(left)).unwrap();
            let n = self.tcp.read(&mut buf).unwrap();
            assert!(n > 0, "the server closed the stream: {}", self.pending);
            self.pending.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }

    fn header(&mut self, domain: &str) -> String {
        self.send(&format!(
            "<?xml version='1.0'?><stream:stream to='{domain}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
        ));
        self.until("</stream:features>")
    }
}

/// What the client saw: the features before login, the XEP-0279 answer, the XEP-0215 answer.
struct Seen {
    features: String,
    sic: String,
    services: String,
}

fn session(server: SocketAddr, domain: &str, user: &str, password: &str) -> Seen {
    let tcp = TcpStream::connect_timeout(&server, Duration::from_secs(5)).unwrap();
    let mut s = Stream {
        tcp,
        pending: String::new(),
    };
    let features = s.header(domain);
    let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
    s.send(&format!(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{plain}</auth>"
    ));
    let answer = s.until("sasl'");
    let answer = answer + &s.until(">");
    assert!(answer.contains("<success"), "login refused: {answer}");
    let bind = s.header(domain);
    assert!(bind.contains("urn:ietf:params:xml:ns:xmpp-bind"), "{bind}");
    s.send("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>lab</resource></bind></iq>");
    let bound = s.until("</iq>");
    assert!(bound.contains(&format!("{user}@{domain}/lab")), "{bound}");
    // XEP-0279: addressed to the account itself (no `to`).
    s.send("<iq type='get' id='sic'><address xmlns='urn:xmpp:sic:1'/></iq>");
    let sic = s.until("</iq>");
    // XEP-0215: Prosody answers it addressed to the domain.
    s.send(&format!(
        "<iq type='get' id='ext' to='{domain}'><services xmlns='urn:xmpp:extdisco:2'/></iq>"
    ));
    let services = s.until("</iq>");
    s.send("</stream:stream>");
    Seen {
        features,
        sic,
        services,
    }
}

/// The value of attribute `name` in `element`, the text after `<service ` (Prosody quotes
/// with `'`).
fn attribute(element: &str, name: &str) -> Option<String> {
    let element = format!(" {element}");
    let start = element.find(&format!(" {name}='"))? + name.len() + 3;
    let len = element[start..].find('\'')?;
    Some(element[start..start + len].to_owned())
}

/// Processes whose command line names `needle`.
fn processes_naming(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(needle))
        .collect()
}

#[test]
#[ignore = "needs root, nftables, coturn, prosody and prosody-modules (.ci/run installs them): runs in the netns step of every cargo xtask ci"]
fn prosody_serves_the_script_s_accounts_sic_and_services() {
    let topology = Topology::parse("xmpp.toml", SCRIPT).unwrap();
    let lab = Lab::build(&topology).expect("the lab builds (root, nftables, coturn, prosody?)");
    let (server, domain) = lab.xmpp_server("xmpp1").expect("an xmpp service");
    assert_eq!(
        (server.to_string().as_str(), domain.as_str()),
        ("198.51.100.5:5222", "example.org")
    );
    assert_eq!(lab.xmpp_server("stun1"), None);
    assert_eq!(
        lab.xmpp_account("xmpp1", "juliet"),
        Some(("juliet@example.org".to_owned(), "lab-juliet".to_owned()))
    );
    assert_eq!(
        lab.xmpp_account("xmpp1", "turn1"),
        None,
        "service hosts get none"
    );
    let (jid, password) = lab.xmpp_account("xmpp1", "romeo").unwrap();
    let user = jid.split('@').next().unwrap().to_owned();
    let running = processes_naming(lab.prefix());
    assert!(
        running.iter().any(|p| p.contains("prosody")),
        "Prosody runs: {running:?}"
    );

    let ns = lab.host("romeo").unwrap().namespace.clone();
    let d = domain.clone();
    let seen = lab
        .spawn_in(&ns, move || session(server, &d, &user, &password))
        .unwrap()
        .join()
        .expect("the client's checks hold")
        .unwrap();

    // Plaintext login offered (no TLS in the lab).
    assert!(
        seen.features.contains("<mechanism>PLAIN</mechanism>"),
        "{}",
        seen.features
    );
    assert!(!seen.features.contains("starttls"), "{}", seen.features);
    // XEP-0279 (mod_ipcheck): the address the server sees is the NAT's.
    assert!(seen.sic.contains("type='result'"), "{}", seen.sic);
    assert!(
        seen.sic.contains("<ip>198.51.100.10</ip>"),
        "the NAT's public address: {}",
        seen.sic
    );
    // XEP-0215 (mod_external_services): the STUN service, and the TURN service with REST
    // credentials made from the secret as coturn's use-auth-secret checks them.
    assert!(seen.services.contains("type='result'"), "{}", seen.services);
    let entries: Vec<&str> = seen.services.split("<service ").skip(1).collect();
    assert_eq!(entries.len(), 2, "{}", seen.services);
    let stun = entries
        .iter()
        .find(|e| attribute(e, "type").as_deref() == Some("stun"))
        .expect("a stun service");
    assert_eq!(attribute(stun, "host").as_deref(), Some("198.51.100.100"));
    assert_eq!(attribute(stun, "port").as_deref(), Some("3478"));
    assert_eq!(attribute(stun, "transport").as_deref(), Some("udp"));
    let turn = entries
        .iter()
        .find(|e| attribute(e, "type").as_deref() == Some("turn"))
        .expect("a turn service");
    assert_eq!(attribute(turn, "host").as_deref(), Some("198.51.100.200"));
    assert_eq!(attribute(turn, "restricted").as_deref(), Some("1"));
    let username = attribute(turn, "username").expect("REST username");
    let username = username.as_str();
    let expiry: u64 = username.parse().expect("the username is the expiry");
    #[allow(clippy::disallowed_methods)] // compared with the server's clock
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        expiry > unix + 86_000 && expiry <= unix + 86_400 + 60,
        "{expiry} vs {unix}"
    );
    assert_eq!(
        attribute(turn, "password"),
        Some(rest_password("s3cret", username))
    );

    let prefix = lab.prefix().to_owned();
    drop(lab);
    assert_eq!(
        processes_naming(&prefix),
        Vec::<String>::new(),
        "nothing of the lab runs after drop"
    );
}

#[test]
#[ignore = "needs root and nftables: runs in the netns step of every cargo xtask ci"]
fn a_lab_without_xmpp_has_no_xmpp_server() {
    let script = SCRIPT
        .replace(
            r#"service = { kind = "xmpp", domain = "example.org", external_services = ["stun1:3478", "turn1:3478"], ipcheck = true }"#,
            "",
        )
        .replace("discover = true\n", "")
        .replace("[signalling]\nvia = \"xmpp1\"\n", "");
    let topology = Topology::parse("no-xmpp.toml", &script).unwrap();
    let lab = Lab::build(&topology).expect("the lab builds");
    assert_eq!(lab.xmpp_server("xmpp1"), None);
    assert_eq!(lab.xmpp_account("xmpp1", "romeo"), None);
}
