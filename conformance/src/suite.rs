//! The topology part of the suite: every script of `conformance/topologies/`, each over one or
//! more seeds, on either backend ([`crate::sim`], [`crate::netns`]), with the known failures of
//! `conformance/known-failures.toml` and the skips of each backend. Its report (progress
//! lines, JSON lines, summary table) is [`crate::report::topologies`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ice_netsim::Topology;
use ice_netsim::topology::JingleRole;
use serde::Deserialize;

use crate::peers::{NETNS_ONLY_IMPLS, agent_turn_beyond_udp, turn_unsupported, unsupported_keys};
use crate::runner::conductor::RunResult;
use crate::runner::config::RunOptions;

/// Where a script runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The deterministic simulator (virtual time).
    Sim,
    /// Real namespaces, nftables NAT routers and sockets (Linux, root).
    Netns,
}

impl Backend {
    /// `sim` or `netns`, as `--backend` names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sim => "sim",
            Backend::Netns => "netns",
        }
    }

    /// Why this backend does not run `topology`, if it does not: the case is reported as
    /// skipped, with the reason, never silently left out.
    pub fn skip_reason(self, topology: &Topology) -> Option<String> {
        match self {
            Backend::Sim => topology
                .agents
                .iter()
                .find(|a| NETNS_ONLY_IMPLS.contains(&a.implementation.as_str()))
                .map(|a| {
                    format!(
                        "impl `{}` is a real program: it runs on --backend netns only",
                        a.implementation
                    )
                })
                .or_else(|| turn_unsupported(&ice_netsim::Sim::unsupported(topology)))
                .or_else(|| agent_turn_beyond_udp(topology))
                .or_else(|| unsupported_keys(topology)),
            #[cfg(target_os = "linux")]
            Backend::Netns => crate::netns::skip_reason(topology),
            #[cfg(not(target_os = "linux"))]
            Backend::Netns => Some("the netns backend needs Linux".into()),
        }
    }

    /// Runs `topology` once on this backend.
    pub fn run(self, topology: &Topology, options: &RunOptions<'_>) -> Result<RunResult> {
        match self {
            Backend::Sim => crate::sim::run(topology, options),
            #[cfg(target_os = "linux")]
            Backend::Netns => crate::netns::run(topology, options),
            #[cfg(not(target_os = "linux"))]
            Backend::Netns => anyhow::bail!("the netns backend needs Linux"),
        }
    }
}

/// The most seeds one sweep may ask for per script.
pub const MAX_SEEDS: u64 = 1_000_000;

/// A failure the project knows of and explains (a peer stack's bug, a missing feature).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownFailure {
    /// The script's file name, as in `conformance/topologies/`.
    pub topology: String,
    /// Why it fails.
    pub reason: String,
    /// The backend it fails on (`sim` or `netns`); none: both.
    #[serde(default)]
    pub backend: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KnownFile {
    #[serde(default)]
    failure: Vec<KnownFailure>,
}

/// Reads the known failures (a missing file means none).
pub fn known_failures(path: &Path) -> Result<Vec<KnownFailure>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(toml::from_str::<KnownFile>(&text)
            .with_context(|| format!("reading {}", path.display()))?
            .failure),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The scripts of `dir`, sorted by file name.
pub fn scripts(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    Ok(v)
}

/// One script over its seeds.
#[derive(Debug)]
pub struct Case {
    /// The script's path as given.
    pub path: PathBuf,
    /// `name`, or the file name when the script did not parse.
    pub name: String,
    /// The initiator's and the responder's impl.
    pub impls: (String, String),
    /// Each seed's run, or why it could not run.
    pub runs: Vec<(u64, Result<RunResult, String>)>,
    /// The known failure listed for this script.
    pub known: Option<KnownFailure>,
    /// Why the backend did not run the script (reported, and counted as skipped).
    pub skipped: Option<String>,
}

impl Case {
    /// The script's file name.
    pub fn file_name(&self) -> String {
        self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |f| f.to_string_lossy().into_owned(),
        )
    }

    /// Why each failing seed failed.
    pub fn failures(&self) -> Vec<(u64, String)> {
        self.runs
            .iter()
            .filter_map(|(seed, r)| match r {
                Ok(r) if r.passed() => None,
                Ok(r) => Some((*seed, r.failures.join("; "))),
                Err(e) => Some((*seed, e.clone())),
            })
            .collect()
    }

    /// Whether the case is as expected: every seed passed, or it is a known failure that
    /// failed (a known failure that passes is reported, so the list stays true).
    pub fn passed(&self) -> bool {
        if self.skipped.is_some() {
            return true;
        }
        let failed = !self.failures().is_empty();
        match &self.known {
            None => !failed,
            Some(_) => failed && self.runs.iter().all(|(_, r)| r.is_ok()),
        }
    }

    /// Why the case did not pass.
    pub fn reason(&self) -> Option<String> {
        if self.passed() {
            return None;
        }
        let failures = self.failures();
        Some(match (&self.known, failures.first()) {
            (Some(_), None) => {
                "listed in known-failures.toml but passed: remove the entry".to_owned()
            }
            (_, Some((seed, why))) if self.runs.len() > 1 => {
                format!(
                    "{} of {} seeds failed; seed {seed}: {why}",
                    failures.len(),
                    self.runs.len()
                )
            }
            (_, Some((_, why))) => why.clone(),
            (_, None) => "no run".to_owned(),
        })
    }

    /// The command that replays the first failing seed (or the script).
    pub fn replay(&self) -> String {
        let mut cmd = format!("cargo xtask conformance --topology {}", self.path.display());
        if let Some((seed, _)) = self.failures().first() {
            if self.runs.len() > 1 {
                let _ = write!(cmd, " --seed {seed}");
            }
        }
        cmd
    }

    /// Connect times of the connected runs, in milliseconds, sorted.
    pub fn connect_ms(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self
            .runs
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok()?.connect.map(|d| d.as_secs_f64() * 1000.0))
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    /// The first seed's run, when it ran.
    pub fn first(&self) -> Option<&RunResult> {
        self.runs.first().and_then(|(_, r)| r.as_ref().ok())
    }
}

/// The value at quantile `q` of sorted `v` (nearest rank).
pub fn quantile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let rank = (q * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

/// What a case runs with, beside its script.
#[derive(Debug, Clone, Copy)]
pub struct CaseOptions<'a> {
    /// How many seeds, from the script's own (or from `seed`).
    pub seeds: u64,
    /// The first seed instead of the script's.
    pub seed: Option<u64>,
    /// Where the first seed's run writes its pcaps (simulator only).
    pub pcap: Option<&'a Path>,
    /// The backend.
    pub backend: Backend,
}

/// Runs the script at `path` on `options.backend` over its seeds.
pub fn run_case(path: &Path, options: &CaseOptions<'_>, known: &[KnownFailure]) -> Case {
    let file_name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let backend = options.backend.as_str();
    let known = known
        .iter()
        .find(|k| k.topology == file_name && k.backend.as_deref().is_none_or(|b| b == backend))
        .cloned();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {}", path.display()))
        .map_err(|e| format!("{e:#}"));
    let topology = text
        .and_then(|t| Topology::parse(&path.display().to_string(), &t).map_err(|e| e.to_string()));
    let topology = match topology {
        Ok(t) => t,
        Err(e) => {
            return Case {
                path: path.to_path_buf(),
                name: file_name,
                impls: (String::new(), String::new()),
                runs: vec![(options.seed.unwrap_or(0), Err(e))],
                known,
                skipped: None,
            };
        }
    };
    let impls = (
        topology.agent(JingleRole::Initiator).implementation.clone(),
        topology.agent(JingleRole::Responder).implementation.clone(),
    );
    if let Some(reason) = options.backend.skip_reason(&topology) {
        return Case {
            path: path.to_path_buf(),
            name: topology.name.clone(),
            impls,
            runs: Vec::new(),
            known,
            skipped: Some(reason),
        };
    }
    let first = options.seed.unwrap_or(topology.seed);
    let runs = (0..options.seeds.clamp(1, MAX_SEEDS))
        .map(|i| {
            let s = first.wrapping_add(i);
            let run_options = RunOptions {
                seed: Some(s),
                pcap: options.pcap.filter(|_| i == 0),
            };
            let result = options
                .backend
                .run(&topology, &run_options)
                .map_err(|e| format!("{e:#}"));
            (s, result)
        })
        .collect();
    Case {
        path: path.to_path_buf(),
        name: topology.name.clone(),
        impls,
        runs,
        known,
        skipped: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = r#"format = 1
name = "via an XMPP server"
[[network]]
name = "internet"
cidr = "198.51.100.0/24"
[[host]]
name = "romeo"
network = "internet"
ip = "198.51.100.1"
[[host]]
name = "juliet"
network = "internet"
ip = "198.51.100.2"
[[host]]
name = "xmpp1"
network = "internet"
ip = "198.51.100.5"
service = { kind = "xmpp" }
[[agent]]
host = "romeo"
impl = "ice-sans-io"
role = "initiator"
AGENT
[[agent]]
host = "juliet"
impl = "ice-sans-io"
role = "responder"
SIGNALLING
[expect]
outcome = "connected"
EXPECT
"#;

    fn script(agent: &str, signalling: &str, expect: &str) -> Topology {
        let text = SCRIPT
            .replace("AGENT", agent)
            .replace("SIGNALLING", signalling)
            .replace("EXPECT", expect);
        Topology::parse("t.toml", &text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn signalling_via_discover_and_data_bytes_run_on_the_simulator() {
        let t = script(
            "discover = true",
            "[signalling]\nvia = \"xmpp1\"",
            "data_bytes = 1",
        );
        assert_eq!(Backend::Sim.skip_reason(&t), None);
        let r = Backend::Sim
            .run(&t, &RunOptions::default())
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert!(r.passed(), "{:?}", r.failures);
        let d = r
            .data_bytes
            .unwrap_or_else(|| panic!("data_bytes summarised"));
        assert_eq!(d.expected, 1);
        assert_eq!(d.transfers.map(|t| t.delivered), [1, 1]);
        // The initiator (discover) asked the server, which offers nothing here and has no
        // ipcheck; the responder did not ask.
        let l = r.learned[0]
            .as_ref()
            .unwrap_or_else(|| panic!("nothing learned"));
        assert!(l.sic.is_none() && l.services.is_empty(), "{l:?}");
        assert!(!l.warnings.is_empty(), "no XEP-0279 warning: {l:?}");
        assert!(r.learned[1].is_none());
        // An xmpp service nobody uses is run as before.
        let t = script("", "", "");
        assert_eq!(Backend::Sim.skip_reason(&t), None);
        #[cfg(target_os = "linux")]
        assert_eq!(Backend::Netns.skip_reason(&t), None);
    }
}
