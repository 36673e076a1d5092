//! `jingle-ice-conformance`: the front end of the conformance suite.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use jingle_ice_conformance::listings::{self, Paths};
use jingle_ice_conformance::suite::{self, Backend, Case, CaseOptions};
use jingle_ice_conformance::{call_cli, check, report, sic_client, stun};

mod flags {
    use std::path::PathBuf;

    xflags::xflags! {
        /// The Jingle ICE conformance suite.
        cmd jingle-ice-conformance {
            /// Replay every spec listing (checked against the specs' rules and the known
            /// errata), then run every topology script of conformance/topologies/ on the
            /// simulator; print a line per case and a summary. Exit 0 only if every case passed
            /// (known failures, with their reasons, count as expected).
            cmd run {
                /// One JSON object per line and case on stdout; the summary goes to stderr.
                optional --json
                /// Only the cases whose name or file contains this text.
                optional --filter filter: String
                /// The conformance directory (manifest, errata, snapshots, topologies);
                /// default: this tree's.
                optional --dir dir: PathBuf
                /// Run this topology script only (no listings).
                optional --topology file: PathBuf
                /// sim (default): the deterministic simulator. netns: real namespaces (root).
                optional --backend backend: String
                /// Write each run's traffic, one pcap file per network, into DIR.
                optional --pcap dir: PathBuf
                /// Run each script over N seeds (its own seed and the N-1 after it) and report
                /// the success rate and the p50/p95 time to connect.
                optional --seeds n: u64
                /// Run with this seed instead of the script's (replays a sweep's failure).
                optional --seed seed: u64
                /// Skip the listings (run only topologies).
                optional --no-listings
                /// Skip the topologies (run only listings).
                optional --no-topologies
            }
            /// Read a Jingle IQ or a bare transport element from FILE ('-' for stdin), print its
            /// candidates as a=candidate lines, the lenient reading's diagnostics and the strict
            /// reading's verdict. Exit 0 when the lenient reading accepts it, 1 otherwise.
            cmd check {
                required file: PathBuf
                /// One JSON object on stdout.
                optional --json
            }
            /// STUN tools.
            cmd stun {
                /// Decode a STUN message given in hex: class, method, transaction id, each
                /// attribute, and the state of MESSAGE-INTEGRITY and FINGERPRINT. Exit 0 when it
                /// decodes and no check fails, 1 otherwise.
                cmd decode {
                    required hex: String
                    /// Verify MESSAGE-INTEGRITY with this short-term password (the ICE pwd).
                    optional --password password: String
                    /// Verify MESSAGE-INTEGRITY with a long-term key.
                    optional --long-term user_realm_pwd: String
                    /// One JSON object on stdout.
                    optional --json
                }
            }
            /// Ask a real XMPP server which address it sees this client from (XEP-0279 Server
            /// IP Check): log in over plaintext TCP (loopback or a trusted network only), send
            /// the sic:1 request and, if the server does not know it, the sic:0 one, and print
            /// the address, the port and the NAT hint. Exit 0 with an address, 1 when the server
            /// answers an error (printed with its condition) or nothing usable.
            cmd sic {
                /// The server's c2s address, HOST:PORT.
                required --server server: String
                /// The account (a full JID asks for that resource).
                required --jid jid: String
                required --password password: String
                /// Ask only this version: sic:0 or sic:1 (default: sic:1, then sic:0).
                optional --namespace namespace: String
                /// Seconds to wait for the login and for each answer (default 10).
                optional --timeout seconds: u64
                /// One JSON object on stdout: ip, port (or null), namespace, behind_nat, ...
                optional --json
            }
            /// Ask a real XMPP server for its STUN and TURN services (XEP-0215 External
            /// Service Discovery): log in over plaintext TCP (loopback or a trusted network
            /// only), ask the account's domain, and print each service with its credentials.
            /// Exit 0 with a list (possibly empty), 1 when the server answers an error.
            cmd services {
                /// The server's c2s address, HOST:PORT.
                required --server server: String
                /// The account (a full JID asks for that resource).
                required --jid jid: String
                required --password password: String
                /// Only services of this type: stun, turn, turns, stuns, ...
                optional --service-type service_type: String
                /// extdisco:2 (default) or extdisco:1.
                optional --namespace namespace: String
                /// Seconds to wait for the login and for the answer (default 10).
                optional --timeout seconds: u64
                /// One JSON object per service on stdout: type, host, port, transport,
                /// username, password, expires, restricted, name (null where absent).
                optional --json
            }
            /// Send a file to another XMPP client peer to peer (Jingle ICE over UDP): log in
            /// over plaintext TCP (a lab or a trusted network), learn the public address
            /// (XEP-0279) and the STUN/TURN servers (XEP-0215) from the server, call --to,
            /// and move the file over the selected pair with retransmissions. Prints a
            /// progress line, then the SHA-256 of what was sent and of what the peer received;
            /// exit 0 when they match.
            cmd call {
                /// The server's c2s address, HOST:PORT.
                required --server server: String
                /// The account (a bare JID binds the resource `jingle-ice`).
                required --jid jid: String
                required --password password: String
                /// The callee (a bare JID means its resource `jingle-ice`).
                required --to to: String
                /// The file to send.
                required file: PathBuf
                /// Seconds to wait for the login, each answer, and a connected pair (default 30).
                optional --timeout seconds: u64
                /// Skip XEP-0279 and XEP-0215: host candidates only.
                optional --no-discover
                /// One JSON object on stdout: role, peer, local_type, remote_type, connect_ms,
                /// bytes, sha256, peer_sha256, match, sic, services, ...
                optional --json
            }
            /// Wait for one call (see `call`) and write its file into --dir; prints the
            /// SHA-256 of what was received and of what the peer sent; exit 0 when they match.
            cmd answer {
                /// The server's c2s address, HOST:PORT.
                required --server server: String
                /// The account (a bare JID binds the resource `jingle-ice`).
                required --jid jid: String
                required --password password: String
                /// The directory the file is written to (as NAME.part until complete).
                required --dir dir: PathBuf
                /// Seconds to wait for the login, each answer, and a connected pair (default 30).
                optional --timeout seconds: u64
                /// Skip XEP-0279 and XEP-0215: host candidates only.
                optional --no-discover
                /// One JSON object on stdout, as for `call`.
                optional --json
            }
            /// Print the errata found, as the Markdown table of docs/CONFORMANCE.md.
            cmd errata {
                optional --dir dir: PathBuf
            }
        }
    }
}

fn paths(dir: Option<PathBuf>) -> Paths {
    dir.map_or_else(Paths::default_tree, |d| Paths::under(&d))
}

fn run(flags: flags::Run) -> Result<ExitCode> {
    let root = flags
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let paths = paths(flags.dir.clone());
    let backend = match flags.backend.as_deref().unwrap_or("sim") {
        "sim" => Backend::Sim,
        "netns" => Backend::Netns,
        other => {
            eprintln!("unknown backend `{other}` (sim | netns)");
            return Ok(ExitCode::from(2));
        }
    };
    if backend == Backend::Netns {
        if let Some(why) = netns_unavailable() {
            eprintln!("--backend netns: {why}");
            return Ok(ExitCode::from(2));
        }
        if flags.pcap.is_some() {
            eprintln!(
                "--pcap records the simulator's networks; on --backend netns capture in the \
                 namespaces with tshark"
            );
            return Ok(ExitCode::from(2));
        }
    }
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let mut passed = 0usize;
    let mut failed = 0usize;

    // The spec listings.
    if flags.topology.is_none() && !flags.no_listings {
        let suite = listings::run(&paths, flags.filter.as_deref())?;
        for o in &suite.outcomes {
            if flags.json {
                writeln!(stdout, "{}", report::listings::json_line(o))?;
            } else {
                writeln!(stdout, "{}", report::listings::progress_line(o))?;
                if !o.passed() {
                    write!(stdout, "{}", report::listings::failure_details(o))?;
                    writeln!(
                        stdout,
                        "    replay: cargo xtask conformance --filter '{}'",
                        o.listing.file
                    )?;
                }
            }
            stdout.flush()?;
        }
        let summary = report::listings::summary(&suite);
        if flags.json {
            write!(stderr, "{summary}")?;
        } else {
            write!(stdout, "{summary}")?;
        }
        let f = suite.outcomes.iter().filter(|o| !o.passed()).count() + suite.orphan_errata.len();
        failed += f;
        passed += suite.outcomes.len().saturating_sub(f);

        // The flows the listings tell, replayed by two jingle-ice-glue sessions.
        let flows = jingle_ice_conformance::flows::run(
            &paths,
            &root.join("flow-differences.toml"),
            flags.filter.as_deref(),
        )?;
        for o in &flows {
            if flags.json {
                writeln!(stdout, "{}", report::flows::json_line(o))?;
            } else {
                writeln!(stdout, "{}", report::flows::progress_line(o))?;
            }
        }
        if !flows.is_empty() {
            let summary = report::flows::summary(&flows);
            if flags.json {
                write!(stderr, "{summary}")?;
            } else {
                write!(stdout, "{summary}")?;
            }
        }
        let f = flows.iter().filter(|o| !o.passed()).count();
        failed += f;
        passed += flows.len() - f;
    }

    // The topology scripts.
    if !flags.no_topologies || flags.topology.is_some() {
        let known = suite::known_failures(&root.join("known-failures.toml"))?;
        let files = match &flags.topology {
            Some(f) => vec![f.clone()],
            None => suite::scripts(&root.join("topologies"))?,
        };
        let files: Vec<PathBuf> = files
            .into_iter()
            .filter(|file| match &flags.filter {
                Some(filter) if flags.topology.is_none() => {
                    file.to_string_lossy().contains(filter.as_str())
                }
                _ => true,
            })
            .collect();
        let options = CaseOptions {
            seeds: flags.seeds.unwrap_or(1),
            seed: flags.seed,
            pcap: flags.pcap.as_deref(),
            backend,
        };
        // The simulator's runs take milliseconds; the netns backend's take real seconds,
        // mostly waiting, so a few scripts run at once (each in its own namespaces).
        let jobs = match backend {
            Backend::Sim => 1,
            Backend::Netns => NETNS_JOBS,
        };
        let cases = run_cases(&files, &options, &known, jobs, |case| {
            if flags.json {
                writeln!(
                    stdout,
                    "{}",
                    report::topologies::json_line(case, backend.as_str())
                )?;
            } else {
                writeln!(stdout, "{}", report::topologies::progress_line(case))?;
            }
            stdout.flush()?;
            Ok(())
        })?;
        let summary = report::topologies::summary(&cases, backend);
        if flags.json {
            write!(stderr, "{summary}")?;
        } else {
            write!(stdout, "{summary}")?;
        }
        let f = cases.iter().filter(|c| !c.passed()).count();
        let skipped = cases.iter().filter(|c| c.skipped.is_some()).count();
        failed += f;
        passed += cases.len() - f - skipped;
    }

    let total = format!("conformance: {passed} passed, {failed} failed");
    if flags.json {
        writeln!(stderr, "{total}")?;
    } else {
        writeln!(stdout, "{total}")?;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Scripts the netns backend runs at once.
const NETNS_JOBS: usize = 4;

/// Why the netns backend cannot run here, if it cannot.
fn netns_unavailable() -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        (!ice_netsim::netns::is_root()).then(|| {
            "the netns backend needs root (network namespaces, veth pairs, nftables); \
             run as root, or use --backend sim"
                .to_owned()
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        Some("the netns backend needs Linux network namespaces".to_owned())
    }
}

/// Runs every script of `files`, `jobs` at once, calling `report` with each case as it
/// ends; returns the cases in the order of `files`.
fn run_cases(
    files: &[PathBuf],
    options: &CaseOptions<'_>,
    known: &[suite::KnownFailure],
    jobs: usize,
    mut report: impl FnMut(&Case) -> Result<()>,
) -> Result<Vec<Case>> {
    if jobs <= 1 {
        let mut cases = Vec::new();
        for file in files {
            let case = suite::run_case(file, options, known);
            report(&case)?;
            cases.push(case);
        }
        return Ok(cases);
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Case)>();
    let mut cases: Vec<Option<Case>> = files.iter().map(|_| None).collect();
    std::thread::scope(|scope| -> Result<()> {
        for _ in 0..jobs.min(files.len()) {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(file) = files.get(i) else { break };
                    let case = suite::run_case(file, options, known);
                    if tx.send((i, case)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (i, case) in rx {
            report(&case)?;
            cases[i] = Some(case);
        }
        Ok(())
    })?;
    Ok(cases.into_iter().flatten().collect())
}

/// xflags reads a lone `-` as a flag; it names standard input here.
const STDIN: &str = "\u{0}stdin";

fn main() -> ExitCode {
    // Errors are reported as one line, never with a backtrace (RUST_BACKTRACE may be set).
    match real_main() {
        Ok(code) => code,
        // The reader of stdout went away (`| head`): nothing more to say to anyone.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<ExitCode> {
    let args = std::env::args_os()
        .skip(1)
        .map(|a| if a == "-" { STDIN.into() } else { a })
        .collect();
    let flags = match flags::JingleIceConformance::from_vec(args) {
        Ok(f) => f,
        Err(e) if e.is_help() => {
            println!("{e}");
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    match flags.subcommand {
        flags::JingleIceConformanceCmd::Run(f) => run(f),
        flags::JingleIceConformanceCmd::Check(f) => {
            let bytes = if f.file.as_os_str() == STDIN {
                check::read_bounded(std::io::stdin().lock())
            } else {
                std::fs::File::open(&f.file).and_then(check::read_bounded)
            }
            .with_context(|| format!("reading {}", f.file.display()))?;
            let r = check::check(&bytes);
            if f.json {
                println!("{}", r.json);
            } else {
                print!("{}", r.text);
            }
            Ok(ExitCode::from(u8::try_from(r.code).unwrap_or(1)))
        }
        flags::JingleIceConformanceCmd::Stun(flags::Stun {
            subcommand: flags::StunCmd::Decode(f),
        }) => {
            let key = match (f.password, f.long_term) {
                (Some(_), Some(_)) => anyhow::bail!("give --password or --long-term, not both"),
                (Some(p), None) => Some(stun::KeyArg::ShortTerm(p)),
                (None, Some(l)) => Some(stun::KeyArg::long_term(&l).map_err(anyhow::Error::msg)?),
                (None, None) => None,
            };
            let r = stun::decode(&f.hex, key.as_ref());
            if f.json {
                println!("{}", r.json);
            } else {
                print!("{}", r.text);
            }
            Ok(ExitCode::from(u8::try_from(r.code).unwrap_or(1)))
        }
        flags::JingleIceConformanceCmd::Services(f) => {
            jingle_ice_conformance::extdisco_client::cli(
                jingle_ice_conformance::extdisco_client::Args {
                    server: f.server,
                    jid: f.jid,
                    password: f.password,
                    type_: f.service_type,
                    version: f
                        .namespace
                        .as_deref()
                        .map(jingle_ice_conformance::extdisco_client::parse_version)
                        .transpose()?
                        .unwrap_or(xmpp_extdisco::Version::V2),
                    json: f.json,
                    timeout: std::time::Duration::from_secs(f.timeout.unwrap_or(10)),
                },
            )
        }
        flags::JingleIceConformanceCmd::Sic(f) => sic_client::cli(sic_client::Args {
            server: f.server,
            jid: f.jid,
            password: f.password,
            version: f
                .namespace
                .as_deref()
                .map(sic_client::parse_version)
                .transpose()?,
            json: f.json,
            timeout: std::time::Duration::from_secs(f.timeout.unwrap_or(10)),
        }),
        flags::JingleIceConformanceCmd::Call(f) => call_cli::call(
            call_cli::Common::new(
                f.server,
                f.jid,
                f.password,
                f.timeout,
                f.no_discover,
                f.json,
            ),
            f.to,
            f.file,
        ),
        flags::JingleIceConformanceCmd::Answer(f) => call_cli::answer(
            call_cli::Common::new(
                f.server,
                f.jid,
                f.password,
                f.timeout,
                f.no_discover,
                f.json,
            ),
            f.dir,
        ),
        flags::JingleIceConformanceCmd::Errata(f) => {
            let paths = paths(f.dir);
            let suite = listings::run(&paths, None)?;
            let known = listings::errata(&paths)?;
            print!("{}", listings::errata_markdown(&suite, &known));
            Ok(ExitCode::SUCCESS)
        }
    }
}
