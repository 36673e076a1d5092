//! The `services` command: asks a real XMPP server for its external services (XEP-0215 External
//! Service Discovery) over the same plaintext c2s session as the `sic` command
//! ([`crate::sic_client::Session`]), reads the answer with `xmpp-extdisco` (leniently: what a
//! deployed server sends, each forgiveness printed) and prints the services, or with `--json`
//! one object per service on stdout.
//!
//! The request goes to the account's domain: XEP-0215's examples address the server, and
//! Prosody answers nothing else (`docs/INTEROP.md`, "Prosody (XEP-0215)").

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio_xmpp::jid::Jid;
use tokio_xmpp::minidom::Element;
use xmpp_extdisco::{Reading, Service, ServiceType, Services, Version};

use crate::sic_client::{Session, iq_error};

/// The `services` command's arguments.
#[derive(Debug)]
pub struct Args {
    /// `HOST:PORT` of the server's client port.
    pub server: String,
    /// The account's JID.
    pub jid: String,
    /// The account's password.
    pub password: String,
    /// Only services of this type (`stun`, `turn`, `turns`, ...).
    pub type_: Option<String>,
    /// The namespace version asked (default `urn:xmpp:extdisco:2`).
    pub version: Version,
    /// One JSON object per service on stdout.
    pub json: bool,
    /// Deadline of the login and of the answer.
    pub timeout: Duration,
}

/// Reads `2`, `1`, `extdisco:2`, `extdisco:1` or a full namespace.
pub fn parse_version(s: &str) -> Result<Version> {
    match s {
        "2" | "extdisco:2" | "urn:xmpp:extdisco:2" => Ok(Version::V2),
        "1" | "extdisco:1" | "urn:xmpp:extdisco:1" => Ok(Version::V1),
        _ => bail!("--namespace {s}: expected extdisco:2 or extdisco:1"),
    }
}

/// The `services` command: exit 0 when the server answered with a list (empty or not), 1 when
/// it answered an error or something unreadable.
pub fn cli(args: Args) -> Result<ExitCode> {
    let jid: Jid = args
        .jid
        .parse()
        .with_context(|| format!("--jid {}", args.jid))?;
    let type_ = match &args.type_ {
        Some(t) => Some(
            ServiceType::parse(t)
                .with_context(|| format!("--service-type {t}: not a service type"))?,
        ),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let server: SocketAddr = tokio::net::lookup_host(&args.server)
            .await
            .with_context(|| format!("--server {}: expected HOST:PORT", args.server))?
            .next()
            .with_context(|| format!("--server {}: no address", args.server))?;
        let mut session = Session::login(server, jid, &args.password, args.timeout).await?;
        let domain = session.bound_jid().domain().to_string();
        let id = session.new_id();
        let iq = Services::request(args.version, type_).request_iq(&id, &domain);
        let reply = session.exchange(iq, args.timeout).await;
        session.close().await;
        let reply = reply?;
        match read_reply(&reply) {
            Ok((services, forgiven)) => {
                if args.json {
                    for s in &services {
                        println!("{}", json(s));
                    }
                } else {
                    print!("{}", text(&domain, args.version, &services, &forgiven));
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(why) => {
                eprintln!("{domain} answered {}: {why}", args.version.namespace());
                Ok(ExitCode::FAILURE)
            }
        }
    })
}

/// The services of a result, with what the lenient reading forgave; the error condition or
/// what could not be read otherwise.
fn read_reply(reply: &Element) -> Result<(Vec<Service>, Vec<String>), String> {
    match reply.attr("type") {
        Some("result") => {
            let Some(el) = reply.children().find(|c| c.name() == "services") else {
                return Err("a result without <services/>".into());
            };
            let read = Services::read(el, Reading::Lenient).map_err(|e| e.to_string())?;
            Ok((
                read.value.services,
                read.diagnostics.iter().map(|d| d.0.to_string()).collect(),
            ))
        }
        Some("error") => Err(iq_error(reply)
            .and_then(|(_, condition)| condition)
            .map_or_else(|| "an error".to_owned(), |c| format!("error {c}"))),
        other => Err(format!("an IQ of type {other:?}")),
    }
}

fn text(domain: &str, version: Version, services: &[Service], forgiven: &[String]) -> String {
    use std::fmt::Write as _;
    let mut out = format!(
        "{domain} lists {} service(s) ({}):\n",
        services.len(),
        version.namespace()
    );
    for s in services {
        let _ = write!(out, "  {} {}", s.type_, s.host);
        if let Some(p) = s.port {
            let _ = write!(out, ":{p}");
        }
        if let Some(t) = &s.transport {
            let _ = write!(out, " {}", t.as_str());
        }
        if let Some(u) = &s.username {
            let _ = write!(out, " username {u}");
        }
        if s.password.is_some() {
            out.push_str(" (password given)");
        }
        if let Some(e) = &s.expires {
            let _ = write!(out, " expires {e}");
        }
        if s.is_restricted() {
            out.push_str(" restricted");
        }
        out.push('\n');
    }
    for d in forgiven {
        let _ = writeln!(out, "  forgiven: {d}");
    }
    out
}

/// One service as a JSON object: every attribute, `null` where absent.
fn json(s: &Service) -> serde_json::Value {
    serde_json::json!({
        "type": s.type_.as_str(),
        "host": s.host,
        "port": s.port,
        "transport": s.transport.as_ref().map(|t| t.as_str()),
        "username": s.username,
        "password": s.password,
        "expires": s.expires.as_ref().map(|e| e.to_string()),
        "restricted": s.is_restricted(),
        "name": s.name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_is_read_leniently_and_an_error_named() {
        let result: Element = "<iq xmlns='jabber:client' type='result' id='a'>\
            <services xmlns='urn:xmpp:extdisco:2'><service type='turns' host='t.example' \
            port='5349' transport='tcp'/><service type='turn' host='t.example' port='3478' \
            transport='udp' username='1' password='p' restricted='1' \
            expires='2026-12-07T10:00:00Z'/></services></iq>"
            .parse()
            .unwrap();
        let (services, forgiven) = read_reply(&result).unwrap();
        assert_eq!(services.len(), 2);
        assert!(forgiven.is_empty());
        let j = json(&services[1]);
        assert_eq!(j["type"], "turn");
        assert_eq!(j["port"], 3478);
        assert_eq!(j["restricted"], true);
        assert_eq!(j["expires"], "2026-12-07T10:00:00Z");
        assert_eq!(json(&services[0])["username"], serde_json::Value::Null);
        let error: Element = "<iq xmlns='jabber:client' type='error' id='a'><error type='cancel'>\
            <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
            .parse()
            .unwrap();
        assert_eq!(read_reply(&error).unwrap_err(), "error service-unavailable");
        assert_eq!(parse_version("extdisco:1").unwrap(), Version::V1);
        assert!(parse_version("3").is_err());
    }
}
