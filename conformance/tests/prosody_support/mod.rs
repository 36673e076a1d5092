//! A throwaway Prosody for the interop tests (`prosody.rs`, XEP-0279; `prosody_extdisco.rs`,
//! XEP-0215): one copy of the code that starts it, waits for it and kills it.
//!
//! Each test starts a Prosody of its own from `conformance/prosody/prosody.cfg.lua.in`, with the
//! modules it needs: plaintext c2s on 127.0.0.1 on a free port, data and log in a scratch
//! directory under `target/tmp`, users registered with `prosodyctl --config FILE register`. A
//! guard kills the server when the test ends, also when it fails (then the scratch directory
//! and the log are kept, and the log's tail is printed).
#![allow(dead_code, unreachable_pub)] // each test file uses part of it

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use jingle_ice_conformance::sic_client::Session;
use tokio_xmpp::jid::Jid;

pub const HOST: &str = "localhost";
pub const TIMEOUT: Duration = Duration::from_secs(10);
pub const TEMPLATE: &str = include_str!("../../prosody/prosody.cfg.lua.in");
/// The template's module list, which [`config`] replaces.
const MODULES_LINE: &str = r#"modules_enabled = { "saslauth", "disco", "ipcheck" }"#;

/// The template with `modules_enabled = { "saslauth", "disco", MODULES... }` and `extra` appended
/// (after the `VirtualHost` line: options of the host).
pub fn config(modules: &[&str], extra: &str) -> String {
    assert!(
        TEMPLATE.contains(MODULES_LINE),
        "the template's modules_enabled changed"
    );
    let list: String = ["saslauth", "disco"]
        .iter()
        .chain(modules)
        .map(|m| format!("\"{m}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut text = TEMPLATE.replace(MODULES_LINE, &format!("modules_enabled = {{ {list} }}"));
    text.push('\n');
    text.push_str(extra);
    text
}

/// A running Prosody; killed on drop.
pub struct Prosody {
    child: Child,
    dir: PathBuf,
    port: u16,
}

/// `mod_turn_external`'s options (STUN and TURN on one host, TURN over UDP and TCP with a TURN
/// REST secret, TURNS on 5349), as the XEP-0215 tests and the crate's fixtures
/// (`crates/extdisco/tests/listings/`) assume them.
#[allow(dead_code)] // prosody.rs (XEP-0279) has no use for it
pub const TURN_EXTERNAL: &str = r#"
turn_external_secret = "turnsecret"
turn_external_host = "turn.example.org"
turn_external_port = 3478
turn_external_tcp = true
turn_external_tls_port = 5349
"#;

/// What a test needs of a Prosody: its configuration, the modules that must load, and the
/// packages to name when they do not.
pub struct Setup<'a> {
    /// The configuration, with `@DIR@`, `@PORT@` and `@HOST@` still to fill in.
    pub template: String,
    /// Modules whose failure to load fails the test at once.
    pub required: &'a [&'a str],
    /// What to install, for failure messages.
    pub packages: &'a str,
}

impl Prosody {
    /// Starts a Prosody with these users (name, password) registered on [`HOST`].
    pub fn start(test: &str, users: &[(&str, &str)], setup: &Setup<'_>) -> Prosody {
        // A port taken between our probe and Prosody's bind (by a parallel test's connection)
        // makes Prosody log a failure; try again with another.
        for _ in 0..3 {
            if let Some(p) = Prosody::try_start(test, users, setup) {
                return p;
            }
        }
        panic!("Prosody could not bind a free port on 127.0.0.1 in 3 attempts");
    }

    fn try_start(test: &str, users: &[(&str, &str)], setup: &Setup<'_>) -> Option<Prosody> {
        let packages = setup.packages;
        let dir = scratch_dir(test);
        fs::create_dir_all(dir.join("data")).expect("creating the scratch directory");
        // An empty certificate directory: nothing uses TLS, but Prosody indexes it.
        fs::create_dir_all(dir.join("certs")).expect("creating the scratch directory");
        let dir_text = dir.to_str().expect("a UTF-8 scratch path");
        assert!(
            !dir_text.contains(['"', '\\', '\n']),
            "the scratch path {dir_text:?} cannot go into a Lua string"
        );
        let port = free_port();
        let config = dir.join("prosody.cfg.lua");
        let text = setup
            .template
            .replace("@DIR@", dir_text)
            .replace("@PORT@", &port.to_string())
            .replace("@HOST@", HOST);
        fs::write(&config, text).expect("writing the Prosody configuration");

        for (user, password) in users {
            let out = Command::new("prosodyctl")
                .arg("--config")
                .arg(&config)
                .args(["register", user, HOST, password])
                .output()
                .unwrap_or_else(|e| panic!("running prosodyctl: {e}; {packages}"));
            assert!(
                out.status.success(),
                "prosodyctl register {user} {HOST} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }

        let stdout = fs::File::create(dir.join("stdout.txt")).expect("creating stdout.txt");
        let stderr = fs::File::create(dir.join("stderr.txt")).expect("creating stderr.txt");
        let child = Command::new("prosody")
            .arg("--config")
            .arg(&config)
            .arg("-F")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("starting prosody: {e}; {packages}"));
        let mut prosody = Prosody { child, dir, port };
        prosody.wait_ready(setup).then_some(prosody)
    }

    /// Waits for the log line saying c2s listens on our port: that proves the port is
    /// Prosody's, not another process's. `false` when the port was taken.
    fn wait_ready(&mut self, setup: &Setup<'_>) -> bool {
        let ready = format!("Activated service 'c2s' on [127.0.0.1]:{}", self.port);
        for _ in 0..500 {
            let log = self.log();
            for module in setup.required {
                for failure in [
                    format!("Unable to load module '{module}'"),
                    format!("Error initializing module '{module}'"),
                ] {
                    assert!(
                        !log.contains(&failure),
                        "Prosody could not load mod_{module}; {}\n{}",
                        setup.packages,
                        self.log_tail()
                    );
                }
            }
            if log.contains("Failed to open server port") {
                return false;
            }
            if log.contains(&ready) {
                return true;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "Prosody exited ({status}) before listening\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("Prosody did not listen within 10 s\n{}", self.log_tail());
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("prosody.log")).unwrap_or_default()
    }

    /// The end of the log and of the process's output, for failure messages.
    pub fn log_tail(&self) -> String {
        let mut out = format!("--- Prosody in {} ---\n", self.dir.display());
        for file in ["prosody.log", "stderr.txt", "stdout.txt"] {
            let text = fs::read_to_string(self.dir.join(file)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out += &format!("--- {file} (last lines) ---\n");
            for l in &lines[lines.len().saturating_sub(30)..] {
                out += l;
                out += "\n";
            }
        }
        out
    }

    pub async fn login(&self, (user, password): (&str, &str)) -> Session {
        let jid: Jid = format!("{user}@{HOST}").parse().expect("a JID");
        match Session::login(self.addr(), jid, password, TIMEOUT).await {
            Ok(s) => s,
            Err(e) => panic!("{e:#}\n{}", self.log_tail()),
        }
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
            eprintln!("(kept {} for inspection)", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// A fresh directory under `target/tmp`, unique per process, test and attempt.
fn scratch_dir(test: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("prosody-{}-{test}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("binding a probe socket on 127.0.0.1")
        .port()
}
