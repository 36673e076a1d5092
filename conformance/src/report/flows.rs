//! The report of the flow replays: a progress line per flow (with the failure's details), a
//! JSON line per flow, the summary line.

use std::fmt::Write as _;

use crate::flows::FlowOutcome;

/// The progress line of a flow replay (with the failure's details under it).
pub fn progress_line(o: &FlowOutcome) -> String {
    let status = if o.passed() { "ok  " } else { "FAIL" };
    let listings: Vec<String> = o
        .steps
        .iter()
        .map(|s| s.listing.trim_start_matches("XEP-0371 ").to_owned())
        .collect();
    let differences = o.differences().count();
    let mut line = format!(
        "flow    {:<13} {status} XEP-0371 {}: {} stanzas, {differences} differences ({} explained), {} rules broken",
        o.flow,
        listings.join(" "),
        o.stanzas,
        differences - o.unexplained.len(),
        o.findings.len()
    );
    if let Some(r) = o.reason() {
        let _ = write!(line, "\n    reason: {r}");
        for d in o.unexplained.iter().skip(1) {
            let _ = write!(
                line,
                "\n    also: {} {}: listing {:?}, produced {:?}",
                d.listing, d.path, d.spec, d.produced
            );
        }
        for f in &o.findings {
            let _ = write!(
                line,
                "\n    rule {} ({}): {} {}",
                f.rule, f.section, f.subject, f.message
            );
        }
        let _ = write!(
            line,
            "\n    replay: cargo xtask conformance --no-topologies --filter 'flow:{}'",
            o.flow
        );
    }
    line
}

/// The `--json` line of a flow replay (`kind` = `flow`).
pub fn json_line(o: &FlowOutcome) -> String {
    serde_json::json!({
        "kind": "flow",
        "name": format!("flow:{}", o.flow),
        "passed": o.passed(),
        "listings": o.steps.iter().map(|s| &s.listing).collect::<Vec<_>>(),
        "stanzas": o.stanzas,
        "steps": o.steps,
        "unexplained": o.unexplained,
        "stale": o.stale,
        "findings": o.findings,
        "reason": o.reason(),
    })
    .to_string()
}

/// The summary line of the flow replays.
pub fn summary(outcomes: &[FlowOutcome]) -> String {
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    format!(
        "  flows: {} passed, {failed} failed\n",
        outcomes.len() - failed
    )
}
