//! `cargo xtask`: the project's tasks written in Rust (the pattern of rust-analyzer's xtask).
//!
//! `.cargo/config.toml` aliases `cargo xtask` to `cargo run --package xtask --quiet --`, so the
//! commands work from anywhere in the repository with nothing installed but a Rust toolchain.
//! `cargo xtask --help` lists them; [`flags`] declares them.
//!
//! Every command runs in the workspace root, found from `CARGO_MANIFEST_DIR` (the parent of
//! `xtask/`), and echoes each command line it runs.

mod flags;
mod tidy;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use xshell::{Shell, cmd};

/// The benchmarks `cargo xtask bench` runs: (package, bench target). Add new ones here.
const BENCHES: &[(&str, &str)] = &[
    ("xep0371-model", "parse"),
    ("ice-sans-io", "stun"),
    ("ice-sans-io", "turn"),
];

/// What `cargo xtask ci` gives each fuzz target at most when `--fuzz-seconds` is not given.
const CI_FUZZ_SECONDS: u64 = 120;

/// In `ci`, each fuzz target runs this many inputs from a fixed libFuzzer seed on the committed
/// corpus (the `seed-*` files), so that a CI run is reproducible: the same commit fuzzes the
/// same inputs on every machine. A time-limited run with a random seed explores further and
/// finds new bugs; that is `cargo xtask fuzz TARGET`, whose findings become committed seeds and
/// regression tests. `CI_FUZZ_SECONDS` caps each run should a target be slower than expected.
const CI_FUZZ_RUNS: u64 = 200_000;
/// Targets whose inputs cost more (the agent's runs a script of up to 256 operations, about
/// 850 inputs a second here against 4 000 to 60 000 for the parsers): fewer runs, so that the
/// step stays reproducible under `CI_FUZZ_SECONDS`.
const CI_FUZZ_RUNS_SLOW: &[(&str, u64)] = &[("agent", 50_000), ("session", 20_000)];
const CI_FUZZ_SEED: u64 = 1;

/// What `cargo xtask fuzz` gives its target when `--seconds` is not given.
const FUZZ_SECONDS: u64 = 300;

/// libFuzzer's memory limit for every run (its default, 2048 MB, said out loud).
const FUZZ_RSS_LIMIT_MB: u64 = 2048;

fn main() -> ExitCode {
    let flags = match flags::Xtask::from_vec(args()) {
        Ok(flags) => flags,
        Err(err) => err.exit(),
    };
    match run(flags) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The command line without the program name. After `conformance` a `--` is inserted, so that
/// xflags takes everything that follows (`--json`, `--help`, ...) as arguments to forward rather
/// than as flags of its own.
fn args() -> Vec<OsString> {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "conformance") {
        args.insert(1, "--".into());
    }
    args
}

fn run(flags: flags::Xtask) -> Result<ExitCode> {
    let sh = Shell::new()?;
    let root = project_root();
    sh.change_dir(&root);
    match flags.subcommand {
        flags::XtaskCmd::Ci(ci) => {
            let seconds = ci.fuzz_seconds.unwrap_or(CI_FUZZ_SECONDS);
            ci_all(&sh, &root, !ci.skip_fuzz, seconds)?;
            Ok(ExitCode::SUCCESS)
        }
        flags::XtaskCmd::Conformance(c) => conformance(&sh, &c.args),
        flags::XtaskCmd::Fuzz(f) => {
            match f.target {
                Some(target) => {
                    let fuzz = Fuzz::prepare(&sh, &root)?;
                    fuzz.build(&sh, Some(&target))?;
                    fuzz.run(&sh, &target, f.seconds.unwrap_or(FUZZ_SECONDS), None)?;
                }
                None => fuzz_all(&sh, &root, f.seconds.unwrap_or(CI_FUZZ_SECONDS))?,
            }
            Ok(ExitCode::SUCCESS)
        }
        flags::XtaskCmd::Package(_) => {
            package_all(&sh)?;
            Ok(ExitCode::SUCCESS)
        }
        flags::XtaskCmd::Tidy(_) => {
            tidy::run(&root)?;
            Ok(ExitCode::SUCCESS)
        }
        flags::XtaskCmd::Bench(_) => {
            for (package, bench) in BENCHES {
                cmd!(sh, "cargo bench -p {package} --bench {bench}").run()?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The workspace root: the parent of this crate's manifest directory. `cargo run` sets
/// `CARGO_MANIFEST_DIR` at run time; the value from build time is the fallback for a binary
/// started by hand.
fn project_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or(manifest_dir)
}

/// Optional features that CI builds, lints, documents and tests, so that no code behind a
/// feature goes unchecked (the tokio driver of ice-sans-io, its example and its tests; its
/// TLS to TURN servers, `tls`, and tests/driver_tls.rs).
const CI_FEATURES: &str = "ice-sans-io/tokio,ice-sans-io/tls";

/// `cargo xtask ci`: each step under a header, stopping at the first failure.
fn ci_all(sh: &Shell, root: &Path, with_fuzz: bool, fuzz_seconds: u64) -> Result<()> {
    type StepFn<'a> = Box<dyn Fn() -> Result<()> + 'a>;
    let features = CI_FEATURES;
    let mut steps: Vec<(&str, StepFn<'_>)> = vec![
        (
            "fmt: cargo fmt --all -- --check (and the fuzz crate)",
            Box::new(|| {
                cmd!(sh, "cargo fmt --all -- --check").run()?;
                // `fuzz/` is its own workspace, outside `--all`.
                cmd!(sh, "cargo fmt --manifest-path fuzz/Cargo.toml -- --check").run()?;
                Ok(())
            }),
        ),
        (
            "tidy: no import loop between modules, no source file over 800 lines unexplained",
            Box::new(|| tidy::run(root)),
        ),
        (
            "clippy: cargo clippy --workspace --all-targets --features ice-sans-io/tokio,ice-sans-io/tls -- -D warnings",
            // Warnings are denied here, not in the source (house style). `-D warnings` after
            // `--` reaches only the workspace's crates, so dependencies stay built as for the
            // other steps (RUSTFLAGS would rebuild them all).
            Box::new(|| {
                Ok(cmd!(
                    sh,
                    "cargo clippy --workspace --all-targets --features {features} -- -D warnings"
                )
                .run()?)
            }),
        ),
        (
            "test: cargo test --workspace --all-targets --features ice-sans-io/tokio,ice-sans-io/tls",
            Box::new(|| {
                Ok(cmd!(
                    sh,
                    "cargo test --workspace --all-targets --features {features}"
                )
                .run()?)
            }),
        ),
        (
            // The workspace run has `tls` on everywhere; the driver without it (a TLS connect
            // fails at once) is tested here.
            "test: cargo test -p ice-sans-io --features tokio --test driver_tcp (the driver without tls)",
            Box::new(|| {
                Ok(cmd!(
                    sh,
                    "cargo test -p ice-sans-io --features tokio --test driver_tcp"
                )
                .run()?)
            }),
        ),
        (
            "doctest: cargo test --workspace --doc --features ice-sans-io/tokio,ice-sans-io/tls",
            Box::new(|| Ok(cmd!(sh, "cargo test --workspace --doc --features {features}").run()?)),
        ),
        (
            "doc: cargo doc --workspace --no-deps --features ice-sans-io/tokio,ice-sans-io/tls (RUSTDOCFLAGS=-D warnings)",
            Box::new(|| {
                Ok(
                    cmd!(sh, "cargo doc --workspace --no-deps --features {features}")
                        .env("RUSTDOCFLAGS", "-D warnings")
                        .run()?,
                )
            }),
        ),
        (
            "package: cargo package of every publishable crate (licences, READMEs, metadata)",
            Box::new(|| package_all(sh)),
        ),
        (
            "example: two ICE agents on 127.0.0.1 (ice-sans-io, tokio driver)",
            Box::new(|| {
                Ok(cmd!(
                    sh,
                    "cargo run -p ice-sans-io --features tokio --example two_agents_loopback"
                )
                .run()?)
            }),
        ),
        (
            "conformance: cargo run -p jingle-ice-conformance --quiet -- run",
            Box::new(|| Ok(cmd!(sh, "cargo run -p jingle-ice-conformance --quiet -- run").run()?)),
        ),
        (
            "pcap: a topology run's captures open in tshark and decode as STUN; simulated TCP decodes as TCP",
            Box::new(|| pcap_check(sh, root)),
        ),
        (
            "interop: Prosody (XEP-0279, XEP-0215)",
            // Ignored in the test step because they need Debian's prosody and prosody-modules
            // (.ci/run installs them); run here, they fail loudly when Prosody is missing.
            Box::new(|| {
                Ok(cmd!(
                    sh,
                    "cargo test -p jingle-ice-conformance --test prosody --test prosody_extdisco --test prosody_services_cli --test prosody_call -- --ignored"
                )
                .run()?)
            }),
        ),
        (
            "netns: NAT routers in namespaces, Prosody behind one, every topology script on --backend netns (root, nftables, coturn, libnice)",
            // Ignored in the test step because they need root and nftables (.ci/run installs
            // nftables); run here, they fail loudly when either is missing. Then nothing of
            // the backend may be left on the machine.
            Box::new(|| {
                cmd!(
                    sh,
                    "cargo test -p ice-netsim --features netns --test netns_nat -- --ignored --test-threads=1"
                )
                .run()?;
                // The lab's coturn with the TURN keys (users, REST secret, lifetime, alternate),
                // and over TLS with a certificate of the run's simulated authority.
                cmd!(
                    sh,
                    "cargo test -p ice-netsim --features netns --test netns_turn -- --ignored --test-threads=1"
                )
                .run()?;
                cmd!(
                    sh,
                    "cargo test -p ice-netsim --features netns,tls --test netns_turn_tls -- --ignored --test-threads=1"
                )
                .run()?;
                // The lab's Prosody for an xmpp service (accounts, XEP-0279, XEP-0215).
                cmd!(
                    sh,
                    "cargo test -p ice-netsim --features netns --test netns_xmpp -- --ignored --test-threads=1"
                )
                .run()?;
                // The call and answer commands: a 1 MiB file between two clients behind
                // symmetric NATs, through the lab's Prosody (XEP-0279, XEP-0215) and coturn.
                cmd!(
                    sh,
                    "cargo test -p jingle-ice-conformance --test netns_call -- --ignored"
                )
                .run()?;
                // The runner's user-space path (latency, loss) and ICE-TCP (1 MiB each way) on
                // real sockets; our agent
                // through its tokio driver, one runtime per namespace.
                cmd!(
                    sh,
                    "cargo test -p jingle-ice-conformance --test netns_backend --test netns_tokio_driver -- --ignored"
                )
                .run()?;
                // Every topology script on real kernels, libnice and coturn included, the
                // ICE-TCP ones too (tcp-*, libnice-*-tcp*: real TCP sockets, libnice's
                // ice-tcp); a script the backend cannot run is reported skipped with its
                // reason, and a missing prerequisite (root, nft, gcc, libnice-dev) fails here.
                cmd!(
                    sh,
                    "cargo run -p jingle-ice-conformance --quiet -- run --no-listings --backend netns"
                )
                .run()?;
                netns_leftovers(sh)
            }),
        ),
    ];
    if with_fuzz {
        steps.push((
            "fuzz: every target built, then run briefly (RUSTC_BOOTSTRAP=1)",
            Box::new(move || fuzz_all(sh, root, fuzz_seconds)),
        ));
    }

    let total = steps.len();
    let started = now();
    for (i, (name, step)) in steps.iter().enumerate() {
        let step_started = now();
        println!("\n==> [{}/{total}] {name}", i + 1);
        if let Err(err) = step() {
            println!(
                "==> FAILED [{}/{total}] {name} after {}",
                i + 1,
                secs(step_started.elapsed())
            );
            return Err(err.context(format!("ci step {}/{total} ({name}) failed", i + 1)));
        }
        println!(
            "==> ok [{}/{total}] {name} in {}",
            i + 1,
            secs(step_started.elapsed())
        );
    }
    if !with_fuzz {
        println!("\n==> fuzz step skipped (--skip-fuzz)");
    }
    println!("==> ci passed in {}", secs(started.elapsed()));
    Ok(())
}

/// Fails when the netns backend left a namespace (prefix `icens`), an interface of its naming
/// in this namespace, or a process (turnserver or prosody with a lab's configuration,
/// libnice-peer).
fn netns_leftovers(sh: &Shell) -> Result<()> {
    let namespaces = cmd!(sh, "ip netns list").read()?;
    let ours: Vec<&str> = namespaces
        .lines()
        .filter(|l| l.starts_with("icens"))
        .collect();
    let links = cmd!(sh, "ip -o link show").read()?;
    let stray: Vec<&str> = links
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n))
        .filter(|n| {
            *n == "lan"
                || *n == "wan"
                || n.strip_prefix('p')
                    .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    let procs = cmd!(sh, "ps -eo args").read()?;
    let running: Vec<&str> = procs
        .lines()
        .filter(|l| {
            (l.starts_with("turnserver") && l.contains("icens"))
                || (l.contains("prosody") && l.contains("icens"))
                || l.contains("jingle-ice-libnice-peer")
        })
        .collect();
    if ours.is_empty() && stray.is_empty() && running.is_empty() {
        println!("netns: nothing left behind");
        Ok(())
    } else {
        anyhow::bail!(
            "the netns backend left namespaces {ours:?}, interfaces {stray:?}, processes {running:?}"
        )
    }
}

/// The package step of `ci`: `cargo package` of every workspace member that may be published
/// (no `publish = false`), all in one call, so that cargo verifies each crate against the
/// packaged versions of its siblings (a local registry overlay) as crates.io would see them.
/// The list comes from `cargo metadata`, so a new crate is packaged without touching this.
fn package_all(sh: &Shell) -> Result<()> {
    let metadata = cmd!(sh, "cargo metadata --no-deps --format-version 1")
        .quiet()
        .read()?;
    let metadata: serde_json::Value =
        serde_json::from_str(&metadata).context("reading cargo metadata")?;
    let packages = metadata["packages"]
        .as_array()
        .context("cargo metadata without packages")?;
    // `publish` is null when the crate may go to any registry, `[]` for `publish = false`.
    let publishable: Vec<(&str, &str)> = packages
        .iter()
        .filter(|p| p["publish"].as_array().is_none_or(|r| !r.is_empty()))
        .filter_map(|p| Some((p["name"].as_str()?, p["version"].as_str()?)))
        .collect();
    if publishable.is_empty() {
        bail!("cargo metadata lists no publishable crate");
    }
    let names: Vec<&str> = publishable.iter().map(|(name, _)| *name).collect();
    println!("publishable: {}", names.join(", "));
    forget_unpacked_siblings(&publishable)?;
    let args: Vec<String> = names
        .iter()
        .flat_map(|name| ["-p".to_owned(), (*name).to_owned()])
        .collect();
    cmd!(sh, "cargo package {args...}").run()?;
    Ok(())
}

/// `cargo package` verifies a crate against its packaged siblings through a local registry
/// (`target/package/tmp-registry`), which cargo unpacks into `$CARGO_HOME/registry/src/-HASH/`
/// (the hash is of the registry's path). It never unpacks a name and version again once there,
/// as if a version could not change, so a second run from a checkout at the same path would
/// verify against the first run's sources (seen here: a function added since was missing).
/// This removes our crates' unpacked copies from those local registries (the directories whose
/// name starts with `-`; crates.io's are left alone) before packaging.
fn forget_unpacked_siblings(crates: &[(&str, &str)]) -> Result<()> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let Some(src) = cargo_home.map(|h| h.join("registry").join("src")) else {
        return Ok(());
    };
    let Ok(registries) = std::fs::read_dir(&src) else {
        return Ok(());
    };
    for registry in registries.filter_map(|e| e.ok().map(|e| e.path())) {
        if !registry
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('-'))
        {
            continue;
        }
        for (name, version) in crates {
            let unpacked = registry.join(format!("{name}-{version}"));
            if unpacked.is_dir() {
                std::fs::remove_dir_all(&unpacked)
                    .with_context(|| format!("removing {}", unpacked.display()))?;
                println!("removed the stale {}", unpacked.display());
            }
        }
    }
    Ok(())
}

/// The fuzz step of `ci`: every target built, then each run from a fixed seed for
/// `CI_FUZZ_RUNS` inputs, at most `seconds`.
fn fuzz_all(sh: &Shell, root: &Path, seconds: u64) -> Result<()> {
    let fuzz = Fuzz::prepare(sh, root)?;
    fuzz.build(sh, None)?;
    for target in fuzz.targets(sh)? {
        let runs = CI_FUZZ_RUNS_SLOW
            .iter()
            .find(|(t, _)| *t == target)
            .map_or(CI_FUZZ_RUNS, |(_, runs)| *runs);
        fuzz.run(sh, &target, seconds, Some((CI_FUZZ_SEED, runs)))?;
    }
    Ok(())
}

/// The script whose captures the pcap step decodes: both peers behind NATs, so every network
/// carries STUN (gathering on 3478, connectivity checks between ephemeral ports).
const PCAP_SCRIPT: &str = "conformance/topologies/nat-eim-apdf--eim-apdf.toml";

/// Runs [`PCAP_SCRIPT`] with `--pcap`, then asks tshark to read each capture: every file must
/// open, every packet must be UDP, and STUN must be decoded both on port 3478 (gathering) and
/// between other ports (ICE connectivity checks, found by Wireshark's STUN heuristics).
fn pcap_check(sh: &Shell, root: &Path) -> Result<()> {
    if cmd!(sh, "tshark --version")
        .quiet()
        .ignore_stdout()
        .run()
        .is_err()
    {
        bail!("tshark is missing: .ci/run installs it (apt-get install tshark)");
    }
    let dir = root.join("target").join("pcap-check");
    let _ = std::fs::remove_dir_all(&dir);
    cmd!(
        sh,
        "cargo run -p jingle-ice-conformance --quiet -- run --topology {PCAP_SCRIPT} --pcap {dir}"
    )
    .run()?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    files.sort();
    if files.len() != 3 {
        bail!(
            "expected 3 captures (internet, lan-a, lan-b) in {}, found {}",
            dir.display(),
            files.len()
        );
    }
    let count = |file: &Path, filter: &str| -> Result<usize> {
        let out = cmd!(
            sh,
            "tshark -n -r {file} -Y {filter} -T fields -e frame.number"
        )
        .quiet()
        .read()
        .with_context(|| format!("tshark could not read {}", file.display()))?;
        Ok(out.lines().filter(|l| !l.trim().is_empty()).count())
    };
    for file in &files {
        let all = count(file, "frame")?;
        let udp = count(file, "udp")?;
        let stun = count(file, "stun")?;
        let checks = count(file, "stun && stun.type == 0x0001 && !(udp.port == 3478)")?;
        println!(
            "{}: {all} packets, {udp} UDP, {stun} STUN, {checks} connectivity checks",
            file.display()
        );
        if all == 0 || udp != all || stun == 0 || checks == 0 {
            bail!("{} does not decode as expected", file.display());
        }
    }
    // The simulator's TCP segments: tshark decodes them as TCP and follows the stream.
    cmd!(
        sh,
        "cargo test -p ice-netsim --test sim_tcp -- --ignored captures_decode_as_tcp_in_tshark"
    )
    .run()?;
    Ok(())
}

/// `cargo xtask conformance ARGS...`: the suite's exit code becomes ours.
fn conformance(sh: &Shell, args: &[OsString]) -> Result<ExitCode> {
    let cmd = cmd!(
        sh,
        "cargo run -p jingle-ice-conformance --quiet -- run {args...}"
    );
    eprintln!("$ {cmd}");
    let status = std::process::Command::from(cmd)
        .status()
        .context("running cargo")?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        // Killed by a signal.
        None => ExitCode::FAILURE,
    })
}

/// cargo-fuzz on the stable toolchain: `RUSTC_BOOTSTRAP=1` lets it pass its `-Z` flags
/// (`-Zsanitizer=address` among them; the address sanitizer's runtime ships with stable's
/// rust-std for x86_64-unknown-linux-gnu, so the default sanitizer is kept). Builds go to
/// `target/fuzz` so that they are shared between runs and kept apart from the workspace's.
struct Fuzz {
    target_dir: PathBuf,
    root: PathBuf,
}

impl Fuzz {
    fn prepare(sh: &Shell, root: &Path) -> Result<Fuzz> {
        if cmd!(sh, "cargo fuzz --version")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .is_err()
        {
            println!("cargo-fuzz is missing; installing it");
            cmd!(sh, "cargo install cargo-fuzz --locked").run()?;
        }
        cmd!(sh, "cargo fuzz --version").run()?;
        Ok(Fuzz {
            target_dir: root.join("target").join("fuzz"),
            root: root.to_path_buf(),
        })
    }

    fn cmd<'a>(&self, cmd: xshell::Cmd<'a>) -> xshell::Cmd<'a> {
        cmd.env("RUSTC_BOOTSTRAP", "1")
            .env("CARGO_TARGET_DIR", &self.target_dir)
    }

    /// The targets declared in `fuzz/Cargo.toml`.
    fn targets(&self, sh: &Shell) -> Result<Vec<String>> {
        let list = self.cmd(cmd!(sh, "cargo fuzz list")).read()?;
        let targets: Vec<String> = list
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        if targets.is_empty() {
            bail!("`cargo fuzz list` found no fuzz targets");
        }
        Ok(targets)
    }

    /// Builds one target, or all of them.
    fn build(&self, sh: &Shell, target: Option<&str>) -> Result<()> {
        self.cmd(cmd!(sh, "cargo fuzz build {target...}")).run()?;
        Ok(())
    }

    /// Runs `target` for at most `seconds` on its committed corpus, if it has one; with
    /// `seed_runs = Some((seed, runs))`, from libFuzzer seed `seed` for `runs` inputs (the
    /// reproducible CI run). New inputs that libFuzzer finds land in the corpus directory too;
    /// `fuzz/.gitignore` keeps all but the committed `seed-*` files out of git.
    fn run(
        &self,
        sh: &Shell,
        target: &str,
        seconds: u64,
        seed_runs: Option<(u64, u64)>,
    ) -> Result<()> {
        let corpus = self.root.join("fuzz").join("corpus").join(target);
        let corpus = corpus.is_dir().then(|| format!("fuzz/corpus/{target}"));
        let max_time = format!("-max_total_time={seconds}");
        let rss = format!("-rss_limit_mb={FUZZ_RSS_LIMIT_MB}");
        let seed_runs: Vec<String> = seed_runs
            .map(|(seed, runs)| vec![format!("-seed={seed}"), format!("-runs={runs}")])
            .unwrap_or_default();
        let started = now();
        let result = self
            .cmd(cmd!(
                sh,
                "cargo fuzz run {target} {corpus...} -- {max_time} {rss} {seed_runs...}"
            ))
            .run();
        if result.is_err() {
            println!(
                "==> fuzz target {target} failed; the input is under fuzz/artifacts/{target}/. \
                 Reproduce with: RUSTC_BOOTSTRAP=1 cargo fuzz run {target} fuzz/artifacts/{target}/<file>"
            );
        }
        result?;
        println!(
            "==> fuzz target {target}: no failure in {}",
            secs(started.elapsed())
        );
        Ok(())
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "xtask is a driver: it times the steps it runs"
)]
fn now() -> Instant {
    Instant::now()
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}
