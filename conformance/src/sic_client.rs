//! `jingle-ice-conformance sic`: XEP-0279 Server IP Check against a real XMPP server.
//!
//! One login over plaintext TCP with `jingle-ice-tokio`'s [`Connection`] (enough on loopback;
//! no STARTTLS), then the requests that [`xmpp_sic::Client`] builds (sic:1 first, sic:0 when the
//! server does not know it), the answers read back with [`xmpp_sic::Client::handle_reply`], and a
//! [`NatHint`] that compares the address the server reports with the local address of the TCP
//! connection, which the connection records (tokio-xmpp does not expose it).
//!
//! The Prosody interop tests (`conformance/tests/prosody.rs`) use [`Session`] too.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use jingle_ice_tokio::{ConnectOptions, Connection};
use tokio_xmpp::jid::{FullJid, Jid};
use tokio_xmpp::minidom::Element;
use xmpp_sic::{NatHint, Outcome, Version};

/// A logged-in XMPP session for the `sic` and `services` commands and the Prosody tests: a
/// [`Connection`] of `jingle-ice-tokio` (login, the connection's local address, IQs by id).
pub struct Session {
    conn: Connection,
}

impl Session {
    /// Connects to `server` in plaintext and logs in as `jid` (a bare JID, or a full one to ask
    /// for that resource), within `timeout`.
    pub async fn login(
        server: SocketAddr,
        jid: Jid,
        password: &str,
        timeout: Duration,
    ) -> Result<Session> {
        let mut options = ConnectOptions::default();
        options.timeout = timeout;
        let conn = Connection::login(server, jid, password, options).await?;
        Ok(Session { conn })
    }

    /// The full JID the server bound.
    pub fn bound_jid(&self) -> &FullJid {
        self.conn.bound_jid()
    }

    /// The local address of the connection to the server.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.conn.local_addr()
    }

    /// A fresh stanza id.
    pub fn new_id(&mut self) -> String {
        self.conn.new_id()
    }

    /// Sends `iq` (which must carry an id) as it is and returns the first IQ that comes back
    /// with the same id, within `timeout`: normally its result or error. An IQ the server
    /// routes back to this very session (one addressed to its own full JID) comes back as the
    /// request itself.
    pub async fn exchange(&mut self, iq: Element, timeout: Duration) -> Result<Element> {
        let id = self.send(iq).await?;
        self.wait_iq(&id, timeout).await
    }

    /// Sends `iq` as it is; returns its id.
    pub async fn send(&mut self, iq: Element) -> Result<String> {
        let id = iq
            .attr("id")
            .context("the IQ to send has no id")?
            .to_owned();
        self.conn.send(iq).context("sending the IQ")?;
        Ok(id)
    }

    /// The first IQ of any type that arrives with this id, within `timeout`. Other stanzas are
    /// kept by the connection.
    pub async fn wait_iq(&mut self, id: &str, timeout: Duration) -> Result<Element> {
        Ok(self.conn.wait_for_id(id, timeout).await?)
    }

    /// Asks with `client` until it has an address or a final failure: each request, in order,
    /// with the server's reply.
    pub async fn ask(&mut self, client: &mut xmpp_sic::Client, timeout: Duration) -> Result<Asked> {
        let mut exchanges = Vec::new();
        loop {
            let id = self.new_id();
            let Some((version, request)) = client.request(&id) else {
                bail!("every version was tried");
            };
            let reply = self.exchange(request, timeout).await?;
            let outcome = client.handle_reply(&reply);
            exchanges.push(Exchange { version, reply });
            match outcome {
                Outcome::TryNext => {}
                outcome => {
                    return Ok(Asked {
                        exchanges,
                        version,
                        outcome,
                    });
                }
            }
        }
    }

    /// Ends the stream politely (bounded: a dead server does not hold the caller).
    pub async fn close(self) {
        self.conn.close().await;
    }
}

/// One request and the reply to it.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The version asked.
    pub version: Version,
    /// The server's reply, as received.
    pub reply: Element,
}

/// What [`Session::ask`] found.
#[derive(Debug, Clone)]
pub struct Asked {
    /// Every request sent, in order.
    pub exchanges: Vec<Exchange>,
    /// The version of the last request.
    pub version: Version,
    /// The last reply as the client read it: an address or a failure, never `TryNext`.
    pub outcome: Outcome,
}

/// The `sic` command's arguments.
#[derive(Debug)]
pub struct Args {
    /// `HOST:PORT` of the server's client port.
    pub server: String,
    /// The account's JID.
    pub jid: String,
    /// The account's password.
    pub password: String,
    /// `None`: sic:1, then sic:0.
    pub version: Option<Version>,
    /// One JSON object on stdout.
    pub json: bool,
    /// Deadline of the login and of each answer.
    pub timeout: Duration,
}

/// Reads `sic:0`, `sic:1` or a full namespace.
pub fn parse_version(s: &str) -> Result<Version> {
    match s {
        "sic:0" | "0" => Ok(Version::Sic0),
        "sic:1" | "1" => Ok(Version::Sic1),
        _ => Version::from_namespace(s)
            .with_context(|| format!("--namespace {s}: expected sic:0, sic:1 or a sic namespace")),
    }
}

/// The `sic` command: exit 0 with an address, 1 when the server answers an error (or nothing
/// usable).
pub fn cli(args: Args) -> Result<ExitCode> {
    let jid: Jid = args
        .jid
        .parse()
        .with_context(|| format!("--jid {}", args.jid))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let server = tokio::net::lookup_host(&args.server)
            .await
            .with_context(|| format!("--server {}: expected HOST:PORT", args.server))?
            .next()
            .with_context(|| format!("--server {}: no address", args.server))?;
        let mut session = Session::login(server, jid, &args.password, args.timeout).await?;
        let mut client = match args.version {
            Some(v) => xmpp_sic::Client::new(&[v], xmpp_sic::Reading::Lenient),
            None => xmpp_sic::Client::default(),
        };
        let asked = session.ask(&mut client, args.timeout).await;
        let local = session.local_addr();
        let bound = session.bound_jid().clone();
        session.close().await;
        let asked = asked?;
        let report = Report {
            server,
            bound: &bound,
            local,
            asked: &asked,
        };
        if args.json {
            println!("{}", report.json());
        } else {
            print!("{}", report.text());
        }
        Ok(if matches!(asked.outcome, Outcome::Address(..)) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}

struct Report<'a> {
    server: SocketAddr,
    bound: &'a FullJid,
    local: Option<SocketAddr>,
    asked: &'a Asked,
}

pub use jingle_ice_tokio::iq_error;

/// The condition of an error reply, or `result`.
fn answer_kind(reply: &Element) -> String {
    match reply.attr("type") {
        Some("error") => iq_error(reply)
            .and_then(|(_, condition)| condition)
            .unwrap_or("error")
            .to_owned(),
        Some(t) => t.to_owned(),
        None => "no type".to_owned(),
    }
}

impl Report<'_> {
    fn hint(&self) -> Option<NatHint> {
        match &self.asked.outcome {
            Outcome::Address(seen, _) => Some(NatHint::new(*seen, &[], self.local)),
            _ => None,
        }
    }

    fn text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let local = self
            .local
            .map_or_else(|| "an unknown local address".to_owned(), |l| l.to_string());
        let _ = writeln!(
            out,
            "logged in to {} as {} from {local}",
            self.server, self.bound
        );
        for x in &self.asked.exchanges {
            let _ = writeln!(
                out,
                "asked {} ({}): {}",
                x.version,
                x.version.namespace(),
                answer_kind(&x.reply)
            );
        }
        match &self.asked.outcome {
            Outcome::Address(seen, diagnostics) => {
                let port = seen
                    .port
                    .map_or_else(|| "no port".to_owned(), |p| format!("port {p}"));
                let _ = writeln!(out, "the server sees {} {port}", seen.ip);
                for d in diagnostics {
                    let _ = writeln!(out, "  forgiven: {}", d.0);
                }
                if let Some(hint) = self.hint() {
                    let nat = if hint.behind_nat {
                        format!(
                            "behind a NAT (or a proxy): {} is not the connection's local address {local}",
                            seen.ip
                        )
                    } else {
                        format!(
                            "not behind a NAT: {} is the connection's local address",
                            seen.ip
                        )
                    };
                    let port = match hint.port_changed {
                        Some(true) => "; the port changed (the NAT does not preserve ports)",
                        Some(false) => "; the port is preserved",
                        None => "",
                    };
                    let _ = writeln!(out, "NAT hint: {nat}{port}");
                }
            }
            Outcome::Failed(e) => {
                let _ = writeln!(out, "error: {e}");
            }
            Outcome::TryNext => {}
        }
        out
    }

    fn json(&self) -> serde_json::Value {
        let tried: Vec<_> = self
            .asked
            .exchanges
            .iter()
            .map(|x| {
                serde_json::json!({
                    "namespace": x.version.namespace(),
                    "answer": answer_kind(&x.reply),
                })
            })
            .collect();
        let mut v = serde_json::json!({
            "server": self.server.to_string(),
            "jid": self.bound.to_string(),
            "local": self.local.map(|l| l.to_string()),
            "namespace": self.asked.version.namespace(),
            "version": self.asked.version.short_name(),
            "tried": tried,
            "ip": null,
            "port": null,
            "behind_nat": null,
            "port_changed": null,
        });
        match &self.asked.outcome {
            Outcome::Address(seen, diagnostics) => {
                v["ip"] = seen.ip.to_string().into();
                v["port"] = seen.port.into();
                v["diagnostics"] = diagnostics
                    .iter()
                    .map(|d| d.0.to_string())
                    .collect::<Vec<_>>()
                    .into();
                if let Some(hint) = self.hint() {
                    v["behind_nat"] = hint.behind_nat.into();
                    v["port_changed"] = hint.port_changed.into();
                }
            }
            Outcome::Failed(xmpp_sic::Error::Server { condition, type_ }) => {
                v["error"] = serde_json::json!({
                    "condition": condition,
                    "type": type_,
                    "message": format!("the server answered {condition} (type {type_})"),
                });
            }
            Outcome::Failed(e) => {
                v["error"] = serde_json::json!({ "message": e.to_string() });
            }
            Outcome::TryNext => {}
        }
        v
    }
}
