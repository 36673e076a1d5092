//! The topology part of the suite: every script of `conformance/topologies/`, each over one or
//! more seeds, with the known failures of `conformance/known-failures.toml`, and its report
//! (progress lines, JSON lines, summary table).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ice_netsim::Topology;
use ice_netsim::topology::JingleRole;
use serde::Deserialize;
use serde_json::json;

use super::run::{NETNS_ONLY_IMPLS, RunOptions, RunResult, run};

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
                }),
            #[cfg(target_os = "linux")]
            Backend::Netns => crate::netns::run::skip_reason(topology),
            #[cfg(not(target_os = "linux"))]
            Backend::Netns => Some("the netns backend needs Linux".into()),
        }
    }

    /// Runs `topology` once on this backend.
    pub fn run(self, topology: &Topology, options: &RunOptions<'_>) -> Result<RunResult> {
        match self {
            Backend::Sim => run(topology, options),
            #[cfg(target_os = "linux")]
            Backend::Netns => crate::netns::run::run(topology, options),
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

    fn first(&self) -> Option<&RunResult> {
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

fn pair_text(r: &RunResult) -> String {
    r.initiator_pair.as_ref().map_or_else(
        || "-".to_owned(),
        |p| format!("{}->{}", p.local_type, p.remote_type),
    )
}

/// `ok`, `known`, `skip` or `FAIL`.
fn status(c: &Case) -> &'static str {
    match (c.passed(), &c.known, &c.skipped) {
        (true, _, Some(_)) => "skip",
        (true, Some(_), None) => "known",
        (true, None, None) => "ok",
        (false, _, _) => "FAIL",
    }
}

/// The progress line of a case.
pub fn progress_line(c: &Case) -> String {
    let status = format!("{:<4}", status(c));
    let stem = c.file_name().trim_end_matches(".toml").to_owned();
    let mut line = format!("topology {stem:<28} {status} ");
    if c.runs.len() > 1 {
        let ok = c.runs.len() - c.failures().len();
        let ms = c.connect_ms();
        let _ = write!(
            line,
            "{ok}/{} seeds as expected, connect p50 {} p95 {} ms",
            c.runs.len(),
            quantile(&ms, 0.5).map_or("-".into(), |v| format!("{v:.0}")),
            quantile(&ms, 0.95).map_or("-".into(), |v| format!("{v:.0}")),
        );
    } else if let Some(r) = c.first() {
        let _ = write!(
            line,
            "{:<9} {:<13} {:>6} ms {:>4} checks",
            r.outcome,
            pair_text(r),
            r.connect.map_or("-".into(), |d| d.as_millis().to_string()),
            r.checks_sent
        );
    }
    let _ = write!(line, "  [{} -> {}]", c.impls.0, c.impls.1);
    if let Some(why) = &c.skipped {
        let _ = write!(line, "\n    skipped: {why}");
    } else if let Some(k) = &c.known {
        let _ = write!(line, "\n    known failure: {}", k.reason);
    }
    if let Some(r) = c.reason() {
        let _ = write!(line, "\n    reason: {r}\n    replay: {}", c.replay());
    }
    line
}

/// One JSON object per case (`kind` = `topology`); a sweep adds `seeds`, `passed_seeds`,
/// `connect_ms_p50` and `connect_ms_p95`.
pub fn json_line(c: &Case, backend: &str) -> String {
    let r = c.first();
    let ms = c.connect_ms();
    let mut v = json!({
        "name": c.name,
        "kind": "topology",
        "file": c.path.display().to_string(),
        "backend": backend,
        "initiator_impl": c.impls.0,
        "responder_impl": c.impls.1,
        "seed": c.runs.first().map(|(s, _)| *s),
        "outcome": r.map(|r| r.outcome),
        "local_type": r.and_then(|r| r.initiator_pair.as_ref().map(|p| p.local_type.clone())),
        "remote_type": r.and_then(|r| r.initiator_pair.as_ref().map(|p| p.remote_type.clone())),
        "protocol": r.and_then(|r| r.initiator_pair.as_ref().map(|p| p.protocol.clone())),
        "connect_ms": r.and_then(|r| r.connect.map(|d| d.as_secs_f64() * 1000.0)),
        "checks_sent": r.map(|r| r.checks_sent),
        "passed": c.passed(),
        "reason": c.reason(),
        "known_failure": c.known.as_ref().map(|k| k.reason.clone()),
        "skipped": c.skipped,
        "replayable": r.map(|r| r.replayable),
    });
    if c.runs.len() > 1 {
        v["seeds"] = json!(c.runs.len());
        v["passed_seeds"] = json!(c.runs.len() - c.failures().len());
        v["connect_ms_p50"] = json!(quantile(&ms, 0.5));
        v["connect_ms_p95"] = json!(quantile(&ms, 0.95));
    }
    v.to_string()
}

/// The summary table of the topology cases run on `backend`.
pub fn summary(cases: &[Case], backend: Backend) -> String {
    let mut s = format!("\ntopologies (backend {})\n", backend.as_str());
    let _ = writeln!(
        s,
        "  {:<30} {:<26} {:<9} {:<13} {:>10} {:>7} {:>6}",
        "script", "initiator -> responder", "outcome", "pair", "connect ms", "checks", "status"
    );
    for c in cases {
        let stem = c.file_name().trim_end_matches(".toml").to_owned();
        let impls = format!("{} -> {}", c.impls.0, c.impls.1);
        let status = status(c);
        match c.first() {
            _ if c.skipped.is_some() => {
                let _ = writeln!(
                    s,
                    "  {stem:<30} {impls:<26} {:<23} {:>10} {:>7} {status:>6}",
                    "skipped", "-", "-"
                );
            }
            Some(r) if c.runs.len() == 1 => {
                let _ = writeln!(
                    s,
                    "  {stem:<30} {impls:<26} {:<9} {:<13} {:>10} {:>7} {status:>6}",
                    r.outcome,
                    pair_text(r),
                    r.connect.map_or("-".into(), |d| d.as_millis().to_string()),
                    r.checks_sent,
                );
            }
            _ => {
                let ok = c.runs.len() - c.failures().len();
                let ms = c.connect_ms();
                let _ = writeln!(
                    s,
                    "  {stem:<30} {impls:<26} {:<23} {:>10} {:>7} {status:>6}",
                    format!("{ok}/{} seeds", c.runs.len()),
                    quantile(&ms, 0.5).map_or("-".into(), |v| format!("p50 {v:.0}")),
                    "",
                );
            }
        }
    }
    let failed = cases.iter().filter(|c| !c.passed()).count();
    let known = cases
        .iter()
        .filter(|c| c.known.is_some() && c.skipped.is_none() && c.passed())
        .count();
    let skipped = cases.iter().filter(|c| c.skipped.is_some()).count();
    let _ = writeln!(
        s,
        "  {} scripts: {} as expected ({known} known failures), {skipped} skipped, {failed} failed",
        cases.len(),
        cases.len() - failed - skipped
    );
    s
}
