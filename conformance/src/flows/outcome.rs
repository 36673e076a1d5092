//! What a flow replay produced and how it compared: the stanzas sent ([`Sent`]), the
//! differences with the listings ([`Difference`]), the explained ones of
//! `flow-differences.toml` ([`Explained`]), and the outcome of one flow ([`FlowOutcome`]).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use xep0371_model::minidom::Element;

use crate::checker::Finding;

/// Which side sent a stanza.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The initiator.
    Romeo,
    /// The responder (Juliet, or the gateway acting for her).
    Juliet,
}

/// One stanza a session sent.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Who sent it.
    pub from: Side,
    /// When, from the start of the flow.
    pub at: Duration,
    /// The stanza.
    pub stanza: Element,
}

/// A difference between a listing and the produced stanza that plays its part.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Difference {
    /// The listing, `XEP-0371 #4`.
    pub listing: String,
    /// Where: `/iq/jingle/content/transport/candidate[1]/@priority`, or an element path.
    pub path: String,
    /// The listing's value (`(absent)` when it has none).
    pub spec: String,
    /// The produced value.
    pub produced: String,
}

/// An explained difference of `flow-differences.toml`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Explained {
    /// The listing, as [`crate::listings::Listing::name`].
    pub listing: String,
    /// The path of the difference.
    pub path: String,
    /// `erratum` (the listing is wrong) or `scenario` (the replay plays the part otherwise,
    /// for the reason given).
    pub kind: String,
    /// Why.
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplainedFile {
    difference: Vec<Explained>,
}

/// One listing of a flow and how its produced counterpart compared.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The listing.
    pub listing: String,
    /// Its caption.
    pub caption: String,
    /// The produced stanza, as XML (`None` when the flow produced none for it).
    pub produced: Option<String>,
    /// Differences found.
    pub differences: Vec<Difference>,
}

/// The outcome of one flow replay.
#[derive(Debug, Clone, Serialize)]
pub struct FlowOutcome {
    /// The flow's name (`session`, `fallback`, `disco-ice`, `disco-sdp`).
    pub flow: String,
    /// The listings it replays, in order.
    pub steps: Vec<Step>,
    /// Stanzas produced in all (requests and results).
    pub stanzas: usize,
    /// Differences with no entry in `flow-differences.toml`.
    pub unexplained: Vec<Difference>,
    /// Explained differences that did not occur.
    pub stale: Vec<Explained>,
    /// Rules the produced stanzas break.
    pub findings: Vec<Finding>,
    /// A flow that could not be played (a session refused a stanza, a step never came).
    pub error: Option<String>,
}

impl FlowOutcome {
    /// Whether the replay matched the listings up to the explained differences.
    pub fn passed(&self) -> bool {
        self.error.is_none()
            && self.unexplained.is_empty()
            && self.stale.is_empty()
            && self.findings.is_empty()
            && self.steps.iter().all(|s| s.produced.is_some())
    }

    /// Why it failed, in one line.
    pub fn reason(&self) -> Option<String> {
        if let Some(e) = &self.error {
            return Some(e.clone());
        }
        if let Some(s) = self.steps.iter().find(|s| s.produced.is_none()) {
            return Some(format!("no produced stanza plays {}", s.listing));
        }
        if let Some(d) = self.unexplained.first() {
            return Some(format!(
                "{} {}: listing {:?}, produced {:?} (not in flow-differences.toml)",
                d.listing, d.path, d.spec, d.produced
            ));
        }
        if let Some(s) = self.stale.first() {
            return Some(format!(
                "{} {}: explained in flow-differences.toml but no longer differs",
                s.listing, s.path
            ));
        }
        self.findings
            .first()
            .map(|f| format!("produced stanza breaks {}: {}", f.rule, f.message))
    }

    /// Differences found in all steps.
    pub fn differences(&self) -> impl Iterator<Item = &Difference> {
        self.steps.iter().flat_map(|s| s.differences.iter())
    }
}

/// Reads `flow-differences.toml`.
pub fn explained(file: &Path) -> Result<Vec<Explained>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let f: ExplainedFile =
        toml::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
    for e in &f.difference {
        if e.kind != "erratum" && e.kind != "scenario" {
            bail!(
                "{}: {} {}: kind must be `erratum` or `scenario`, not `{}`",
                file.display(),
                e.listing,
                e.path,
                e.kind
            );
        }
    }
    Ok(f.difference)
}
