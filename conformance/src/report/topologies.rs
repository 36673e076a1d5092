//! The report of the topology cases: a progress line per case, a JSON line per case, the
//! summary table.

use std::fmt::Write as _;

use serde_json::json;

use crate::runner::conductor::RunResult;
use crate::runner::data::DataBytes;
use crate::suite::{Backend, Case, quantile};

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

/// What the transfers of `[expect] data_bytes` did, as JSON: each array the initiator's
/// transfer (to the responder) first; `ms` is null for a transfer that did not finish.
fn data_bytes_json(d: &DataBytes) -> serde_json::Value {
    let each = |f: fn(&crate::runner::data::TransferSummary) -> serde_json::Value| {
        d.transfers.each_ref().map(f)
    };
    json!({
        "expected": d.expected,
        "delivered": each(|t| json!(t.delivered)),
        "ms": each(|t| json!(t.time.map(|d| d.as_secs_f64() * 1000.0))),
        "datagrams": each(|t| json!(t.datagrams)),
        "retransmissions": each(|t| json!(t.retransmissions)),
        "timeouts": each(|t| json!(t.timeouts)),
    })
}

/// One JSON object per case (`kind` = `topology`); a sweep adds `seeds`, `passed_seeds`,
/// `connect_ms_p50` and `connect_ms_p95`. `data_bytes` is null unless the script asks for
/// `[expect] data_bytes`: then the first seed's transfers (`expected`, and per side
/// `delivered`, `ms`, `datagrams`, `retransmissions`, `timeouts`).
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
        "data_bytes": r.and_then(|r| r.data_bytes.as_ref()).map(data_bytes_json),
    });
    // What each agent learned from the XMPP server of `[signalling] via` (`discover`).
    if let Some(r) = r
        && r.learned.iter().any(Option::is_some)
    {
        v["learned"] = json!({
            "initiator": r.learned[0].as_ref().map(|l| l.to_json()),
            "responder": r.learned[1].as_ref().map(|l| l.to_json()),
        });
    }
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
