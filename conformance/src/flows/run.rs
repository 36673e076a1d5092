//! Replaying the flows: each flow's listings read from the manifest, played by the
//! scenarios of `play`, every produced stanza checked against the rules, each
//! listing compared with the stanza that plays its part ([`mod@super::diff`]) and the
//! differences held against `flow-differences.toml`.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use xep0371_model::minidom::Element;
use xep0371_model::parse_element;

use super::diff::diff;
use super::outcome::{Explained, FlowOutcome, Step, explained};
use super::play::{play_disco, play_fallback, play_session};
use crate::checker::FlowChecker;
use crate::listings::{Listing, Paths};

/// Largest listing read.
const MAX_LISTING: usize = 1 << 20;

/// Rules of the checker that are statements about the spec's own text, not about stanzas that
/// follow it: the schema of XEP-0371 §13 has no place for the `<gathering-complete/>` that §7
/// puts in the transport, so every end-of-candidates indication "breaks" it (errata.toml lists
/// it for Listing 17). The sessions follow §7.
const SPEC_ONLY_RULES: [&str; 1] = ["schema.transport-content-model"];

/// The flows replayed, by the manifest's `flow` names.
pub const FLOWS: [&str; 4] = ["session", "fallback", "disco-ice", "disco-sdp"];

/// Replays every flow (those whose name contains `filter`, when given) and compares them with
/// the listings of `paths` and the explanations of `explained_file`.
pub fn run(paths: &Paths, explained_file: &Path, filter: Option<&str>) -> Result<Vec<FlowOutcome>> {
    let manifest = crate::listings::manifest(paths)?;
    let known = explained(explained_file)?;
    let mut out = Vec::new();
    for flow in FLOWS {
        if filter.is_some_and(|f| !format!("flow:{flow}").contains(f)) {
            continue;
        }
        let listings: Vec<&Listing> = manifest
            .iter()
            .filter(|l| l.spec == "XEP-0371" && l.flow == flow)
            .collect();
        out.push(replay(paths, flow, &listings, &known));
    }
    Ok(out)
}

fn read_listing(paths: &Paths, l: &Listing) -> Result<Element> {
    let file = paths.listings.join(&l.file);
    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    if bytes.len() > MAX_LISTING {
        bail!("{}: larger than {MAX_LISTING} bytes", file.display());
    }
    let text = String::from_utf8(bytes).with_context(|| format!("{}", file.display()))?;
    parse_element(&text, MAX_LISTING).map_err(|e| anyhow!("{}: {e}", file.display()))
}

fn replay(paths: &Paths, flow: &str, listings: &[&Listing], known: &[Explained]) -> FlowOutcome {
    let mut outcome = FlowOutcome {
        flow: flow.to_owned(),
        steps: Vec::new(),
        stanzas: 0,
        unexplained: Vec::new(),
        stale: Vec::new(),
        findings: Vec::new(),
        error: None,
    };
    let specs: Result<Vec<(&Listing, Element)>> = listings
        .iter()
        .map(|l| Ok((*l, read_listing(paths, l)?)))
        .collect();
    let specs = match specs {
        Ok(s) => s,
        Err(e) => {
            outcome.error = Some(format!("{e:#}"));
            return outcome;
        }
    };
    let played = match flow {
        "session" => play_session(&specs),
        "fallback" => play_fallback(&specs),
        "disco-ice" => play_disco(false),
        "disco-sdp" => play_disco(true),
        other => Err(anyhow!("no replay for flow `{other}`")),
    };
    let (log, matched) = match played {
        Ok(p) => p,
        Err(e) => {
            outcome.error = Some(format!("{e:#}"));
            return outcome;
        }
    };
    outcome.stanzas = log.len();
    // The produced stanzas, in order, must break no rule the listings are held to (the
    // footnote's priority formula is a statement about the spec's own examples, and stays
    // with them).
    let mut checker = FlowChecker::new();
    for s in &log {
        outcome.findings.extend(
            checker
                .check(&format!("flow:{flow}"), "replay", &s.stanza)
                .into_iter()
                .filter(|f| !SPEC_ONLY_RULES.contains(&f.rule.as_str())),
        );
    }
    for (listing, spec) in &specs {
        let name = listing.name();
        let produced = matched
            .iter()
            .find(|(n, _)| *n == listing.number)
            .and_then(|(_, i)| log.get(*i));
        let differences = produced.map_or_else(Vec::new, |p| diff(&name, spec, &p.stanza));
        outcome.steps.push(Step {
            listing: name,
            caption: listing.caption.clone(),
            produced: produced.map(|p| String::from(&p.stanza)),
            differences,
        });
    }
    let found: BTreeSet<(&str, &str)> = outcome
        .differences()
        .map(|d| (d.listing.as_str(), d.path.as_str()))
        .collect();
    let names: BTreeSet<String> = specs.iter().map(|(l, _)| l.name()).collect();
    outcome.stale = known
        .iter()
        .filter(|k| names.contains(&k.listing))
        .filter(|k| !found.contains(&(k.listing.as_str(), k.path.as_str())))
        .cloned()
        .collect();
    outcome.unexplained = outcome
        .differences()
        .filter(|d| {
            !known
                .iter()
                .any(|k| k.listing == d.listing && k.path == d.path)
        })
        .cloned()
        .collect();
    outcome
}
