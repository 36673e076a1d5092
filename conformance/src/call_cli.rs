//! `jingle-ice-conformance call` and `answer`: two XMPP clients move a file peer to peer over a
//! Jingle ICE session, through whatever NATs lie between them.
//!
//! Each end logs in (plaintext TCP: a lab or a trusted network), asks its server where it is
//! seen from (XEP-0279) and for its STUN and TURN services (XEP-0215; both optional: a server
//! without them gives a warning), then `call` initiates a session to the callee's full JID and
//! `answer` accepts the first one that comes. Once a pair is selected, the file travels over it
//! in datagrams with the [`crate::transfer`] scheme (sequence numbers, selective
//! acknowledgements, retransmission), so a lossy path still delivers every byte; both ends
//! print the SHA-256 of what they sent and received, and `--json` prints one summary object.
//!
//! The session's description is `<file xmlns='urn:x-jingle-ice:file:0' name='…' size='…'/>`,
//! a namespace of this project: XEP-0234 file transfer runs over stream transports, not ICE
//! datagrams, so no deployed client would take this session; it exists to prove the transport.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result, anyhow, bail};
use jingle_ice_tokio::ice_sans_io::PairInfo;
use jingle_ice_tokio::jingle_ice_glue::Event;
use jingle_ice_tokio::tokio_xmpp::jid::{FullJid, Jid};
use jingle_ice_tokio::tokio_xmpp::minidom::Element;
use jingle_ice_tokio::{
    Call, CallConfig, CallEvent, ConnectOptions, Connection, external_services, server_address,
};
use serde_json::json;

use crate::transfer::{
    Receiver, ReceiverState, Sender, SenderState, TransferConfig, hex,
    wire::{Kind, check_name},
};

/// The namespace of the session's description.
pub const FILE_NS: &str = "urn:x-jingle-ice:file:0";
/// The resource both commands bind when `--jid` is bare, and `call --to` adds to a bare JID.
pub const DEFAULT_RESOURCE: &str = "jingle-ice";

/// What both commands take.
#[derive(Debug, Clone)]
pub struct Common {
    /// The server's c2s address, HOST:PORT.
    pub server: String,
    /// The account.
    pub jid: String,
    /// Its password.
    pub password: String,
    /// Deadline of the login, of each request and of connecting.
    pub timeout: Duration,
    /// Skip XEP-0279 and XEP-0215 (host candidates only).
    pub no_discover: bool,
    /// One JSON object on stdout instead of text.
    pub json: bool,
}

/// Seconds to wait for the login, each request and a connected pair, unless `--timeout`.
pub const DEFAULT_TIMEOUT_S: u64 = 30;

impl Common {
    /// The common flags as given; `timeout_s` `None` is [`DEFAULT_TIMEOUT_S`].
    pub fn new(
        server: String,
        jid: String,
        password: String,
        timeout_s: Option<u64>,
        no_discover: bool,
        json: bool,
    ) -> Common {
        Common {
            server,
            jid,
            password,
            timeout: Duration::from_secs(timeout_s.unwrap_or(DEFAULT_TIMEOUT_S)),
            no_discover,
            json,
        }
    }
}

/// What the server told us.
struct Learned {
    sic: Option<String>,
    behind_nat: Option<bool>,
    services: Vec<serde_json::Value>,
    config: CallConfig,
}

/// Logs in with the default resource when the JID is bare.
async fn login(c: &Common) -> Result<Connection> {
    let server: SocketAddr = tokio::net::lookup_host(&c.server)
        .await
        .with_context(|| format!("--server {}: expected HOST:PORT", c.server))?
        .next()
        .with_context(|| format!("--server {}: no address", c.server))?;
    let jid = with_resource(&c.jid).with_context(|| format!("--jid {}", c.jid))?;
    let mut options = ConnectOptions::default();
    options.timeout = c.timeout;
    options.features = vec![FILE_NS.to_owned()];
    Ok(Connection::login(server, Jid::from(jid), &c.password, options).await?)
}

/// `jid` as a full JID, with [`DEFAULT_RESOURCE`] when it is bare.
pub fn with_resource(jid: &str) -> Result<FullJid> {
    let j: Jid = jid.parse().map_err(|e| anyhow!("not a JID: {e}"))?;
    Ok(match j.try_into_full() {
        Ok(full) => full,
        Err(bare) => bare
            .with_resource_str(DEFAULT_RESOURCE)
            .map_err(|e| anyhow!("{e}"))?,
    })
}

/// XEP-0279 and XEP-0215, each a warning when it fails.
async fn discover(conn: &mut Connection, c: &Common) -> Learned {
    let mut learned = Learned {
        sic: None,
        behind_nat: None,
        services: Vec::new(),
        config: CallConfig::default(),
    };
    learned.config.timeout = c.timeout;
    if c.no_discover {
        return learned;
    }
    match server_address(conn, c.timeout).await {
        Ok(hint) => {
            let seen = match hint.seen.port {
                Some(p) => SocketAddr::new(hint.seen.ip, p).to_string(),
                None => hint.seen.ip.to_string(),
            };
            eprintln!(
                "server sees us at {seen}{}",
                if hint.behind_nat {
                    " (behind a NAT)"
                } else {
                    ""
                }
            );
            learned.sic = Some(seen);
            learned.behind_nat = Some(hint.behind_nat);
        }
        Err(e) => eprintln!("warning: XEP-0279: {e}"),
    }
    let services = external_services(conn, c.timeout).await;
    for w in &services.warnings {
        eprintln!("warning: XEP-0215: {w}");
    }
    let servers = services.ice_servers().await;
    for s in &servers.skipped {
        eprintln!("note: not used: {s}");
    }
    for s in &servers.stun {
        eprintln!("STUN server {s}");
        learned
            .services
            .push(json!({"type": "stun", "addr": s.to_string()}));
    }
    for t in &servers.turn {
        eprintln!("TURN server {} ({})", t.addr, t.credentials.username);
        learned.services.push(json!({
            "type": "turn", "addr": t.addr.to_string(), "username": t.credentials.username,
        }));
    }
    #[allow(clippy::disallowed_methods)] // XEP-0215 `expires` is wall-clock time
    let wall = SystemTime::now();
    learned.config.refresh_services = services.refresh_at(wall);
    learned.config.servers = servers;
    learned
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

/// tokio's clock, the one the call runs on.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// The `call` command: sends `file` to `to`.
pub fn call(common: Common, to: String, file: PathBuf) -> Result<ExitCode> {
    let to = with_resource(&to).with_context(|| format!("--to {to}"))?;
    let mut source =
        std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
    let len = source
        .metadata()
        .with_context(|| format!("reading {}", file.display()))?
        .len();
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| check_name(n).is_ok())
        .map(str::to_owned);
    runtime()?.block_on(async {
        let started = now();
        let mut conn = login(&common).await?;
        let learned = discover(&mut conn, &common).await;
        let mut config = learned.config.clone();
        config.description = Some(description(name.as_deref(), len));
        eprintln!("calling {to}");
        let mut call = Call::initiate(conn, to.clone(), config).await?;
        let pair = call.connected(common.timeout).await?;
        let connect_ms = call.connected_after().map(|d| d.as_millis());
        eprintln!("connected: {}", pair_text(&pair));
        let id = transfer_id(&to);
        let mut sender = Sender::new(id, len, name.clone(), TransferConfig::default())?;
        let mut progress = Progress::new(len, "sent");
        let outcome = loop {
            sender.read_from(&mut source).context("reading the file")?;
            let t = now();
            while let Some(d) = sender.poll_transmit(t) {
                call.send(&d).await?;
            }
            match sender.state() {
                SenderState::Done {
                    sha256,
                    peer_sha256,
                } => break Ok((sha256, peer_sha256)),
                SenderState::Failed(why) => break Err(anyhow!("the transfer failed: {why}")),
                _ => {}
            }
            progress.show(sender.bytes_acked());
            let deadline = sender.poll_timeout();
            tokio::select! {
                e = call.next() => match e? {
                    CallEvent::Data(d) if is_for_sender(&d) => sender.handle_datagram(now(), &d),
                    CallEvent::Session(e) => ended(&e)?,
                    _ => {}
                },
                () = sleep_until(deadline) => sender.handle_timeout(now()),
            }
        };
        progress.done();
        let (sent, received) = match outcome {
            Ok(d) => d,
            Err(e) => {
                let conn = call
                    .hang_up("failed-transport", Duration::from_secs(2))
                    .await;
                conn.close().await;
                return Err(e);
            }
        };
        let stats = sender.stats().clone();
        let conn = call.hang_up("success", Duration::from_secs(2)).await;
        conn.close().await;
        let matched = sent == received;
        report(
            &common,
            "call",
            &to.to_string(),
            &pair,
            connect_ms,
            len,
            &sent,
            &received,
            &learned,
            json!({"datagrams": stats.datagrams_sent, "retransmissions": stats.retransmissions}),
            started,
            name.as_deref(),
        );
        Ok(if matched {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}

/// The `answer` command: accepts the first call and writes its file into `dir`.
pub fn answer(common: Common, dir: PathBuf) -> Result<ExitCode> {
    if !dir.is_dir() {
        bail!("--dir {}: not a directory", dir.display());
    }
    runtime()?.block_on(async {
        let started = now();
        let mut conn = login(&common).await?;
        let learned = discover(&mut conn, &common).await;
        eprintln!("waiting for a call as {}", conn.bound_jid());
        let mut call = Call::wait_incoming(conn, learned.config.clone()).await?;
        let peer = call.peer().to_string();
        loop {
            match call.next().await? {
                CallEvent::Session(Event::Initiated { .. }) => break,
                CallEvent::Session(e) => ended(&e)?,
                _ => {}
            }
        }
        eprintln!("call from {peer}: accepting");
        call.accept(None)?;
        let pair = call.connected(common.timeout).await?;
        let connect_ms = call.connected_after().map(|d| d.as_millis());
        eprintln!("connected: {}", pair_text(&pair));
        let mut receiver = Receiver::new(TransferConfig::default())?;
        let mut out: Option<(PathBuf, std::fs::File)> = None;
        let mut progress = Progress::new(0, "received");
        let outcome = loop {
            let t = now();
            while let Some(d) = receiver.poll_transmit(t) {
                call.send(&d).await?;
            }
            if let Some(len) = receiver.total_len() {
                if out.is_none() {
                    let name = receiver.name().unwrap_or("received.bin").to_owned();
                    let path = dir.join(format!("{name}.part"));
                    let f = std::fs::File::create(&path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    out = Some((dir.join(name), f));
                    progress = Progress::new(len, "received");
                }
            }
            if let Some((_, f)) = &mut out {
                receiver.write_to(f).context("writing the file")?;
            }
            match receiver.state() {
                ReceiverState::Done {
                    sha256,
                    peer_sha256,
                } => break Ok((sha256, peer_sha256)),
                ReceiverState::Failed(why) => break Err(anyhow!("the transfer failed: {why}")),
                _ => {}
            }
            if receiver.total_len().is_some() {
                progress.show(receiver.bytes_received());
            }
            let deadline = receiver.poll_timeout();
            tokio::select! {
                e = call.next() => match e? {
                    CallEvent::Data(d) if !is_for_sender(&d) => receiver.handle_datagram(now(), &d),
                    CallEvent::Session(e) => ended(&e)?,
                    _ => {}
                },
                () = sleep_until(deadline) => receiver.handle_timeout(now()),
            }
        };
        progress.done();
        let (received, sent) = outcome?;
        let (path, mut f) = out.context("done without a Start")?;
        f.flush()?;
        drop(f);
        let part = PathBuf::from(format!("{}.part", path.display()));
        std::fs::rename(&part, &path)
            .with_context(|| format!("renaming {} to {}", part.display(), path.display()))?;
        // The caller hangs up once it has the EndAck; a lost EndAck brings its End again.
        let linger = async {
            loop {
                let t = now();
                while let Some(d) = receiver.poll_transmit(t) {
                    let _ = call.send(&d).await;
                }
                match call.next().await {
                    Ok(CallEvent::Data(d)) if !is_for_sender(&d) => {
                        receiver.handle_datagram(now(), &d);
                    }
                    Ok(CallEvent::Session(Event::Terminated { .. })) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), linger).await;
        let stats = receiver.stats().clone();
        let len = receiver.total_len().unwrap_or(0);
        let conn = call.hang_up("success", Duration::from_secs(1)).await;
        conn.close().await;
        let matched = received == sent;
        report(
            &common,
            "answer",
            &peer,
            &pair,
            connect_ms,
            len,
            &received,
            &sent,
            &learned,
            json!({"dropped": stats.dropped()}),
            started,
            path.file_name().and_then(|n| n.to_str()),
        );
        Ok(if matched {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}

/// Ack and EndAck go to the sender; Start, Data and End to the receiver.
fn is_for_sender(d: &[u8]) -> bool {
    d.first()
        .and_then(|b| Kind::of(*b))
        .is_some_and(|k| !k.to_receiver())
}

/// `Err` when the session ended or failed.
fn ended(e: &Event) -> Result<()> {
    match jingle_ice_tokio::ends_call(e) {
        Some(why) => bail!("{why}"),
        None => Ok(()),
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

/// The session's description: the file's name and size.
fn description(name: Option<&str>, len: u64) -> Element {
    let mut b = Element::builder("description", FILE_NS).attr(
        jingle_ice_tokio::tokio_xmpp::minidom::rxml::NcName::try_from("size")
            .unwrap_or_else(|_| unreachable!("an NCName")),
        len.to_string(),
    );
    if let Some(n) = name {
        b = b.attr(
            jingle_ice_tokio::tokio_xmpp::minidom::rxml::NcName::try_from("name")
                .unwrap_or_else(|_| unreachable!("an NCName")),
            n,
        );
    }
    b.build()
}

/// A transfer id that differs between calls (nothing depends on it being unpredictable).
fn transfer_id(to: &FullJid) -> u32 {
    use std::hash::BuildHasher as _;
    std::collections::hash_map::RandomState::new().hash_one(to) as u32
}

fn pair_text(p: &PairInfo) -> String {
    format!(
        "{} {} -> {} {}",
        p.local.kind.as_str(),
        p.local.addr,
        p.remote.kind.as_str(),
        p.remote.addr
    )
}

/// The summary: text on stderr and stdout, or one JSON object on stdout.
#[allow(clippy::too_many_arguments)]
fn report(
    c: &Common,
    role: &str,
    peer: &str,
    pair: &PairInfo,
    connect_ms: Option<u128>,
    bytes: u64,
    ours: &[u8; 32],
    theirs: &[u8; 32],
    learned: &Learned,
    transfer: serde_json::Value,
    started: Instant,
    file: Option<&str>,
) {
    let (ours, theirs) = (hex(ours), hex(theirs));
    if c.json {
        let v = json!({
            "role": role,
            "peer": peer,
            "file": file,
            "local_type": pair.local.kind.as_str(),
            "remote_type": pair.remote.kind.as_str(),
            "local": pair.local.addr.to_string(),
            "remote": pair.remote.addr.to_string(),
            "connect_ms": connect_ms,
            "bytes": bytes,
            "sha256": ours,
            "peer_sha256": theirs,
            "match": ours == theirs,
            "sic": learned.sic,
            "behind_nat": learned.behind_nat,
            "services": learned.services,
            "transfer": transfer,
            "elapsed_ms": started.elapsed().as_millis(),
        });
        println!("{v}");
    } else {
        let (mine, other) = if role == "call" {
            ("sent", "peer received")
        } else {
            ("received", "peer sent")
        };
        println!("{bytes} bytes {mine}");
        println!("sha256 {mine:<13} {ours}");
        println!("sha256 {other:<13} {theirs}");
        println!(
            "{}",
            if ours == theirs {
                "checksums match"
            } else {
                "CHECKSUMS DIFFER"
            }
        );
    }
}

/// A progress line on stderr, at most four times a second.
struct Progress {
    total: u64,
    verb: &'static str,
    last: Option<Instant>,
    shown: bool,
}

impl Progress {
    fn new(total: u64, verb: &'static str) -> Progress {
        Progress {
            total,
            verb,
            last: None,
            shown: false,
        }
    }

    fn show(&mut self, done: u64) {
        let t = now();
        if self
            .last
            .is_some_and(|l| t.duration_since(l) < Duration::from_millis(250))
        {
            return;
        }
        self.last = Some(t);
        self.shown = true;
        let pct = (done * 100).checked_div(self.total).unwrap_or(100);
        eprint!("\r{} {done} / {} bytes ({pct}%)   ", self.verb, self.total);
    }

    fn done(&mut self) {
        if self.shown {
            eprintln!();
        }
    }
}
