//! `impl = "libnice"`: Debian's libnice (the ICE library of Dino and Gajim) as a peer on the
//! netns backend, through `conformance/peers/libnice-peer.c`, a small program the harness
//! builds against libnice-dev and drives over stdin/stdout with RFC 8839 candidate lines.
//!
//! libnice owns its sockets, so the [`Node`] side of this adapter moves no datagram: the
//! program runs in the host's namespace and talks to the network itself. Candidates cross as
//! `a=candidate` lines, converted to and from XEP-0371 candidates by the model's SDP mapping
//! (RFC 6544 §4.5's `tcptype` is the model's [`TcpType`] both ways).
//!
//! ICE-TCP: a script's `tcp` list turns libnice's ICE-TCP on (`--tcp`), which gathers an
//! active and a passive TCP host candidate per address and no simultaneous-open one
//! ([`TCP_TYPES`]); the adapter signals the TCP candidates of the types the list names and
//! drops the others (libnice still has them locally, and pairs them with what the peer
//! signals).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use ice_netsim::topology::IceTcpType;
use ice_netsim::{Node, Transmit};
use xep0371_model::{Candidate, IceTransport, Protocol, TcpType};

use super::common::hex;
use crate::runner::config::PeerConfig;
use crate::runner::peer::{Outbox, Peer, PeerStatus, SelectedPair, Stack};

/// Lines read from the program are at most this long (a candidate line is ~100 bytes; data
/// lines carry at most 64 KiB of hex).
const MAX_LINE: usize = 140_000;

/// The ICE-TCP candidate types libnice gathers when its ICE-TCP is on (libnice 0.1.21
/// `ice-tcp`: active and passive host candidates).
pub const TCP_TYPES: &[IceTcpType] = &[IceTcpType::Active, IceTcpType::Passive];

/// The model's `tcptype` for a script's `tcp` entry.
fn model_tcp_type(t: IceTcpType) -> TcpType {
    match t {
        IceTcpType::Active => TcpType::Active,
        IceTcpType::Passive => TcpType::Passive,
        IceTcpType::So => TcpType::So,
    }
}

/// Builds `libnice-peer` once per process (gcc and pkg-config's flags for `nice`), into the
/// system's temporary directory; returns its path.
pub fn program() -> Result<PathBuf> {
    static BUILT: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| build().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))
}

fn build() -> Result<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/libnice-peer.c");
    let out = std::env::temp_dir().join(format!("jingle-ice-libnice-peer-{}", std::process::id()));
    let flags = Command::new("pkg-config")
        .args(["--cflags", "--libs", "nice"])
        .output()
        .context("running pkg-config (install pkg-config and libnice-dev)")?;
    if !flags.status.success() {
        bail!(
            "pkg-config finds no libnice (install libnice-dev): {}",
            String::from_utf8_lossy(&flags.stderr).trim()
        );
    }
    let flags = String::from_utf8_lossy(&flags.stdout).into_owned();
    let status = Command::new("gcc")
        .args(["-O1", "-Wall", "-o"])
        .arg(&out)
        .arg(&src)
        .args(flags.split_whitespace())
        .status()
        .context("running gcc")?;
    if !status.success() {
        bail!("gcc could not build {}", src.display());
    }
    Ok(out)
}

/// Where the program's stderr goes: the file `$LIBNICE_PEER_LOG` names (appended to; run with
/// `G_MESSAGES_DEBUG=all NICE_DEBUG=all` for libnice's own trace), or nowhere.
fn log_sink() -> std::process::Stdio {
    std::env::var_os("LIBNICE_PEER_LOG")
        .and_then(|path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .ok()
        })
        .map_or_else(std::process::Stdio::null, std::process::Stdio::from)
}

/// A libnice agent in a child process.
pub struct Libnice {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    creds: Option<(String, String)>,
    /// The TCP candidate types the script lists: those signalled.
    tcp: Vec<TcpType>,
    outbox: Outbox,
    gathered: bool,
    status: PeerStatus,
    data: VecDeque<Vec<u8>>,
    errors: VecDeque<String>,
}

impl std::fmt::Debug for Libnice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Libnice")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Libnice {
    /// Starts the program in `namespace` (with `ip netns exec`, or directly when `None`).
    pub fn start(program: &Path, namespace: Option<&str>, config: &PeerConfig) -> Result<Libnice> {
        let mut cmd = match namespace {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.arg(if config.controlling {
            "--controlling"
        } else {
            "--controlled"
        });
        cmd.args(["--components", &config.components.to_string()]);
        for ip in &config.host_ips {
            cmd.args(["--addr", &ip.to_string()]);
        }
        // libnice takes one STUN server.
        if let Some(s) = config.stun.first() {
            cmd.args(["--stun", &s.to_string()]);
        }
        // And one TURN server (over UDP: the runner gives no other).
        if let Some((server, creds)) = config.turn.first() {
            cmd.args(["--turn", &server.to_string()]);
            cmd.args([
                "--turn-user",
                &creds.username,
                "--turn-pass",
                &creds.password,
            ]);
        }
        if !config.tcp.is_empty() {
            cmd.arg("--tcp");
        }
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(log_sink())
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let stdin = child.stdin.take().context("libnice-peer stdin")?;
        let stdout = child.stdout.take().context("libnice-peer stdout")?;
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            loop {
                line.clear();
                match r.by_ref().take(MAX_LINE as u64).read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx.send(line.trim_end().to_owned()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Ok(Libnice {
            child,
            stdin,
            lines,
            creds: None,
            tcp: config.tcp.iter().map(|t| model_tcp_type(*t)).collect(),
            outbox: Outbox::default(),
            gathered: false,
            status: PeerStatus::Checking,
            data: VecDeque::new(),
            errors: VecDeque::new(),
        })
    }

    fn command(&mut self, line: &str) {
        if writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .is_err()
        {
            self.errors
                .push_back("libnice-peer's stdin is closed".into());
        }
    }

    /// Reads what the program printed so far.
    fn pump(&mut self) {
        loop {
            match self.lines.try_recv() {
                Ok(line) => self.line(&line),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    if !matches!(self.status, PeerStatus::Failed(_)) && self.child_exited() {
                        self.status = PeerStatus::Failed("libnice-peer exited".into());
                    }
                    break;
                }
            }
        }
    }

    fn child_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    fn line(&mut self, line: &str) {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "creds" => {
                if let Some((u, p)) = rest.split_once(' ') {
                    self.creds = Some((u.to_owned(), p.to_owned()));
                }
            }
            "cand" => match Candidate::from_sdp(rest) {
                // A TCP candidate of a type the script does not list stays unsignalled.
                Ok(c)
                    if c.candidate.protocol == Protocol::Tcp
                        && !c.candidate.tcptype.is_some_and(|t| self.tcp.contains(&t)) => {}
                Ok(c) => self.outbox.candidates.push(c.candidate),
                Err(e) => self
                    .errors
                    .push_back(format!("libnice candidate {rest:?}: {e}")),
            },
            "gathering-done" => self.gathered = true,
            "state" => {
                if rest.ends_with(" failed") && rest.starts_with("1 ") {
                    self.status = PeerStatus::Failed("libnice: component 1 failed".into());
                }
            }
            "selected" => {
                let f: Vec<&str> = rest.split(' ').collect();
                // The eighth field is the local candidate's transport: udp, tcp-active, ...
                let protocol = match f.get(7) {
                    Some(t) if t.starts_with("tcp") => "tcp",
                    _ => "udp",
                };
                if (f.len() == 7 || f.len() == 8) && f[0] == "1" {
                    let addr = |ip: &str, port: &str| -> Option<SocketAddr> {
                        Some(SocketAddr::new(
                            ip.parse::<IpAddr>().ok()?,
                            port.parse().ok()?,
                        ))
                    };
                    if let (Some(local), Some(remote)) = (addr(f[2], f[3]), addr(f[5], f[6])) {
                        self.status = PeerStatus::Connected(SelectedPair {
                            local_type: f[1].to_owned(),
                            remote_type: f[4].to_owned(),
                            protocol: protocol.into(),
                            relay_transport: None,
                            local,
                            remote,
                        });
                    }
                }
            }
            "data" => {
                if let Some(("1", hex)) = rest.split_once(' ') {
                    if let Some(d) = unhex(hex) {
                        if self.data.len() < 1024 {
                            self.data.push_back(d);
                        }
                    }
                }
            }
            "error" => self.errors.push_back(format!("libnice-peer: {rest}")),
            _ => self
                .errors
                .push_back(format!("libnice-peer printed {line:?}")),
        }
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

impl Drop for Libnice {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node for Libnice {
    fn handle_datagram(&mut self, _now: Instant, _from: SocketAddr, _to: SocketAddr, _data: &[u8]) {
        // libnice owns its sockets: nothing is delivered through the harness.
    }
    fn handle_timeout(&mut self, _now: Instant) {
        self.pump();
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

impl Stack for Libnice {
    fn implementation(&self) -> &'static str {
        "libnice"
    }

    fn replayable(&self) -> bool {
        false
    }

    fn status(&self) -> PeerStatus {
        self.status.clone()
    }

    fn send_data(&mut self, _now: Instant, data: &[u8]) -> Result<(), String> {
        if !matches!(self.status, PeerStatus::Connected(_)) {
            return Err("libnice has no selected pair".into());
        }
        let line = format!("send 1 {}", hex(data));
        self.command(&line);
        Ok(())
    }

    fn poll_data(&mut self) -> Option<Vec<u8>> {
        self.pump();
        self.data.pop_front()
    }

    fn checks_sent(&self) -> u64 {
        // libnice does not count them for its API users.
        0
    }

    fn poll_error(&mut self) -> Option<String> {
        self.pump();
        self.errors.pop_front()
    }
}

impl Peer for Libnice {
    fn poll_signal(&mut self) -> Option<IceTransport> {
        self.pump();
        let (u, p) = self.creds.clone()?;
        let gathered = self.gathered;
        self.outbox.poll(&u, &p, gathered)
    }

    fn handle_signal(&mut self, _now: Instant, transport: &IceTransport) {
        self.pump();
        if let (Some(u), Some(p)) = (&transport.ufrag, &transport.pwd) {
            let line = format!("remote-creds {u} {p}");
            self.command(&line);
        }
        for c in &transport.candidates {
            // libnice's parser wants the plain RFC 5245 form: no extensions.
            let mut c = c.clone();
            c.generation = None;
            c.network = None;
            c.id = None;
            let line = format!("remote-cand a={}", c.to_sdp());
            self.command(&line);
        }
        if transport.gathering_complete {
            self.command("remote-done");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        assert_eq!(unhex(&hex(b"hello\0\xff")), Some(b"hello\0\xff".to_vec()));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }
}
