//! The report of the listings: a progress line per listing (and the details of a failure),
//! a JSON line per listing, the summary table.

use std::fmt::Write as _;

use serde_json::json;

use crate::listings::{Outcome, SnapshotCheck, Suite};

/// The progress line of one listing.
pub fn progress_line(o: &Outcome) -> String {
    let status = if o.passed() { "ok  " } else { "FAIL" };
    let strict = if o.strict_error.is_none() {
        "accepted"
    } else {
        "rejected"
    };
    let mut line = format!(
        "listing {:<13} {status} strict {strict}, {} diagnostics, {} findings ({} errata)  {}",
        o.listing.name(),
        o.diagnostics,
        o.findings.len(),
        o.findings.len() - o.unknown_findings.len(),
        o.listing.caption
    );
    if let Some(r) = o.reason() {
        let _ = write!(line, "\n    reason: {r}");
    }
    line
}

/// Details printed under a failing listing: the unknown findings, the stale errata and the
/// snapshot difference.
pub fn failure_details(o: &Outcome) -> String {
    let mut s = String::new();
    for f in &o.unknown_findings {
        let _ = writeln!(
            s,
            "    unknown finding: rule={} subject={} section={}\n      {}\n      correct: {}",
            f.rule,
            f.subject,
            f.section,
            f.message,
            f.correct.as_deref().unwrap_or("-")
        );
    }
    for e in &o.stale_errata {
        let _ = writeln!(
            s,
            "    erratum not found: rule={} subject={}",
            e.rule, e.subject
        );
    }
    if let (SnapshotCheck::Differs { expected }, Some(got)) = (&o.snapshot, &o.rendering) {
        let _ = writeln!(
            s,
            "    snapshot expected:\n{}\n    got:\n{}",
            indent(expected),
            indent(got)
        );
    }
    if let (SnapshotCheck::Missing, Some(got)) = (&o.snapshot, &o.rendering) {
        let _ = writeln!(s, "    no snapshot; the value renders as:\n{}", indent(got));
    }
    s
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("      {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The summary table after all progress lines.
pub fn summary(suite: &Suite) -> String {
    let mut s = String::from("\nsummary\n");
    let _ = writeln!(
        s,
        "  {:<10} {:>8} {:>7} {:>7} {:>9} {:>7} {:>8}",
        "spec", "listings", "passed", "failed", "strict-ok", "errata", "unknown"
    );
    let mut specs: Vec<&str> = suite
        .outcomes
        .iter()
        .map(|o| o.listing.spec.as_str())
        .collect();
    specs.dedup();
    for spec in specs {
        let os: Vec<&Outcome> = suite
            .outcomes
            .iter()
            .filter(|o| o.listing.spec == spec)
            .collect();
        let passed = os.iter().filter(|o| o.passed()).count();
        let strict = os.iter().filter(|o| o.strict_error.is_none()).count();
        let findings: usize = os.iter().map(|o| o.findings.len()).sum();
        let unknown: usize = os.iter().map(|o| o.unknown_findings.len()).sum();
        let _ = writeln!(
            s,
            "  {:<10} {:>8} {:>7} {:>7} {:>9} {:>7} {:>8}",
            spec,
            os.len(),
            passed,
            os.len() - passed,
            strict,
            findings - unknown,
            unknown
        );
    }
    for e in &suite.orphan_errata {
        let _ = writeln!(
            s,
            "  erratum for a listing that does not exist: {} {} {}",
            e.listing, e.rule, e.subject
        );
    }
    let failed = suite.outcomes.iter().filter(|o| !o.passed()).count();
    let _ = writeln!(
        s,
        "  listings: {} passed, {} failed",
        suite.outcomes.len() - failed,
        failed
    );
    s
}

/// One JSON object per listing (`kind` = `listing`).
pub fn json_line(o: &Outcome) -> String {
    json!({
        "name": o.listing.name(),
        "kind": "listing",
        "passed": o.passed(),
        "reason": o.reason(),
        "caption": o.listing.caption,
        "file": o.listing.file,
        "section": o.listing.section,
        "well_formed": o.well_formed,
        "strict_accepted": o.strict_error.is_none(),
        "strict_error": o.strict_error,
        "lenient_error": o.lenient_error,
        "diagnostics": o.diagnostics,
        "round_trip_error": o.round_trip_error,
        "snapshot": o.snapshot,
        "findings": o.findings,
        "unknown_findings": o.unknown_findings,
        "stale_errata": o.stale_errata,
    })
    .to_string()
}
