//! Replaying the spec listings: parse, snapshot, write back, check the rules, compare the
//! findings with the known errata.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use xep0371_model::{Reading, parse_element, rules};

use crate::checker::{Finding, FlowChecker};
use crate::{render, stanza};

/// Largest listing file read.
const MAX_LISTING: usize = 1 << 20;

/// One entry of `listings/manifest.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Listing {
    /// `XEP-0371` or `XEP-0279`.
    pub spec: String,
    /// The listing's number in the spec (its order of appearance).
    pub number: u32,
    /// The fixture, relative to the listings directory.
    pub file: String,
    /// The section it appears in.
    pub section: String,
    /// Its caption.
    pub caption: String,
    /// The flow it belongs to.
    pub flow: String,
}

impl Listing {
    /// `XEP-0371 #5`: how findings and errata name the listing.
    pub fn name(&self) -> String {
        format!("{} #{}", self.spec, self.number)
    }

    /// `xep-0371-05`: the snapshot name.
    pub fn slug(&self) -> String {
        format!("{}-{:02}", self.spec.to_ascii_lowercase(), self.number)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    listing: Vec<Listing>,
}

/// A known erratum of `errata.toml`: a finding the run expects, with the reason it is one.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Erratum {
    /// The listing, as [`Listing::name`].
    pub listing: String,
    /// The rule id.
    pub rule: String,
    /// The subject of the finding.
    pub subject: String,
    /// Why this is an error of the spec and not of the checker.
    pub reason: String,
    /// A correct value, when the finding itself cannot state one.
    #[serde(default)]
    pub correct: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrataFile {
    erratum: Vec<Erratum>,
}

/// How the snapshot of a listing compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotCheck {
    /// Same as the committed snapshot.
    Matches,
    /// Different; the committed one, for the diff.
    Differs {
        /// The committed snapshot.
        expected: String,
    },
    /// No snapshot committed.
    Missing,
    /// Nothing to snapshot: the listing did not parse.
    NotApplicable,
}

/// What replaying one listing gave.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The listing.
    pub listing: Listing,
    /// Whether the fixture is well-formed XML.
    pub well_formed: bool,
    /// The strict reading: `None` when it accepts, else its error.
    pub strict_error: Option<String>,
    /// The lenient reading: `None` when it accepts, else its error.
    pub lenient_error: Option<String>,
    /// Number of diagnostics of the lenient reading.
    pub diagnostics: usize,
    /// Writing the typed value back: `None` when equal to the fixture, else the difference.
    pub round_trip_error: Option<String>,
    /// The rendering of the typed value.
    #[serde(skip)]
    pub rendering: Option<String>,
    /// The snapshot comparison.
    pub snapshot: SnapshotCheck,
    /// Rules broken by the listing (model readings and flow rules).
    pub findings: Vec<Finding>,
    /// Findings not in the errata list.
    pub unknown_findings: Vec<Finding>,
    /// Errata of this listing that the run did not find.
    pub stale_errata: Vec<Erratum>,
}

impl Outcome {
    /// Whether the listing passed: processed to the end, snapshot and round trip equal, every
    /// finding a known erratum and every erratum found.
    pub fn passed(&self) -> bool {
        self.reason().is_none()
    }

    /// Why it failed.
    pub fn reason(&self) -> Option<String> {
        if let Some(e) = &self.round_trip_error {
            return Some(format!("written back differs: {e}"));
        }
        match &self.snapshot {
            SnapshotCheck::Differs { .. } => {
                return Some("typed value differs from its snapshot".into());
            }
            SnapshotCheck::Missing => return Some("no snapshot committed".into()),
            SnapshotCheck::Matches | SnapshotCheck::NotApplicable => {}
        }
        if let Some(f) = self.unknown_findings.first() {
            return Some(format!(
                "unknown finding {} on {}: {}",
                f.rule, f.subject, f.message
            ));
        }
        if let Some(e) = self.stale_errata.first() {
            return Some(format!("erratum not found: {} on {}", e.rule, e.subject));
        }
        None
    }
}

/// Where the suite's files are.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `conformance/listings` (manifest and fixtures).
    pub listings: PathBuf,
    /// `conformance/errata.toml`.
    pub errata: PathBuf,
    /// `conformance/snapshots`.
    pub snapshots: PathBuf,
}

impl Paths {
    /// The paths inside the conformance package directory `root`.
    pub fn under(root: &Path) -> Self {
        Paths {
            listings: root.join("listings"),
            errata: root.join("errata.toml"),
            snapshots: root.join("snapshots"),
        }
    }

    /// The paths of this source tree.
    pub fn default_tree() -> Self {
        Self::under(Path::new(env!("CARGO_MANIFEST_DIR")))
    }
}

/// Reads the manifest.
pub fn manifest(paths: &Paths) -> Result<Vec<Listing>> {
    let file = paths.listings.join("manifest.toml");
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let m: Manifest =
        toml::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
    Ok(m.listing)
}

/// Reads the known errata.
pub fn errata(paths: &Paths) -> Result<Vec<Erratum>> {
    let text = std::fs::read_to_string(&paths.errata)
        .with_context(|| format!("reading {}", paths.errata.display()))?;
    let e: ErrataFile =
        toml::from_str(&text).with_context(|| format!("parsing {}", paths.errata.display()))?;
    Ok(e.erratum)
}

/// The body of an insta snapshot file (after its front matter).
pub fn snapshot_body(file_text: &str) -> &str {
    // insta writes "---\n<yaml>\n---\n<body>\n".
    let mut parts = file_text.splitn(3, "---\n");
    match (parts.next(), parts.next(), parts.next()) {
        (Some(""), Some(_), Some(body)) => body,
        _ => file_text,
    }
}

fn finding_of(listing: &str, failure: &stanza::ReadFailure) -> Finding {
    Finding {
        listing: listing.to_owned(),
        rule: failure.rule_id().to_owned(),
        section: failure.section().to_owned(),
        subject: failure.subject(),
        message: failure.to_string(),
        correct: None,
    }
}

/// Replays one listing; `flow` carries the state of its flow.
fn replay(paths: &Paths, listing: &Listing, flow: &mut FlowChecker) -> Result<Outcome> {
    let path = paths.listings.join(&listing.file);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let name = listing.name();
    let mut out = Outcome {
        listing: listing.clone(),
        well_formed: false,
        strict_error: None,
        lenient_error: None,
        diagnostics: 0,
        round_trip_error: None,
        rendering: None,
        snapshot: SnapshotCheck::NotApplicable,
        findings: Vec::new(),
        unknown_findings: Vec::new(),
        stale_errata: Vec::new(),
    };
    let el = match parse_element(&text, MAX_LISTING) {
        Ok(el) => el,
        Err(e) => {
            out.findings.push(Finding {
                listing: name,
                rule: rules::WELL_FORMED.id.to_owned(),
                section: rules::WELL_FORMED.source.to_owned(),
                subject: "document".into(),
                message: e.to_string(),
                correct: None,
            });
            out.strict_error = Some(e.to_string());
            out.lenient_error = Some(e.to_string());
            return Ok(out);
        }
    };
    out.well_formed = true;
    if let Err(e) = stanza::read(&el, Reading::Strict) {
        out.strict_error = Some(e.to_string());
    }
    match stanza::read(&el, Reading::Lenient) {
        Err(e) => {
            out.findings.push(finding_of(&name, &e));
            out.lenient_error = Some(e.to_string());
        }
        Ok(parsed) => {
            out.diagnostics = parsed.diagnostics.len();
            for d in &parsed.diagnostics {
                let mut f = finding_of(&name, &stanza::ReadFailure::Model(d.error.clone()));
                f.message = d.to_string();
                out.findings.push(f);
            }
            for d in &parsed.value.sic_diagnostics {
                out.findings
                    .push(finding_of(&name, &stanza::ReadFailure::Sic(d.0.clone())));
            }
            let rendering = match &parsed.value.iq {
                Some(iq) => render::iq(iq, &parsed.value.payload),
                None => render::payload(&parsed.value.payload, 0),
            };
            out.round_trip_error = match stanza::write(&parsed.value) {
                Some(back) => crate::xmlcmp::compare(&el, &back).err(),
                None => Some("nothing to write back".into()),
            };
            let snap = paths.snapshots.join(format!("{}.snap", listing.slug()));
            out.snapshot = match std::fs::read_to_string(&snap) {
                Ok(committed) if snapshot_body(&committed).trim_end() == rendering.trim_end() => {
                    SnapshotCheck::Matches
                }
                Ok(committed) => SnapshotCheck::Differs {
                    expected: snapshot_body(&committed).to_owned(),
                },
                Err(_) => SnapshotCheck::Missing,
            };
            out.rendering = Some(rendering);
        }
    }
    out.findings.extend(flow.check(&name, &listing.spec, &el));
    Ok(out)
}

/// The result of a whole run.
#[derive(Debug, Clone)]
pub struct Suite {
    /// One outcome per listing, in manifest order.
    pub outcomes: Vec<Outcome>,
    /// Errata naming a listing the manifest does not have.
    pub orphan_errata: Vec<Erratum>,
}

impl Suite {
    /// Whether every listing passed and every erratum belongs to a listing.
    pub fn passed(&self) -> bool {
        self.orphan_errata.is_empty() && self.outcomes.iter().all(Outcome::passed)
    }

    /// Every finding, in listing order.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.outcomes.iter().flat_map(|o| &o.findings)
    }
}

/// Replays every listing of the manifest whose name or file contains `filter`.
pub fn run(paths: &Paths, filter: Option<&str>) -> Result<Suite> {
    let listings = manifest(paths)?;
    let known = errata(paths)?;
    if listings.is_empty() {
        bail!("the manifest lists no listing");
    }
    let mut flows: BTreeMap<(String, String), FlowChecker> = BTreeMap::new();
    let mut outcomes = Vec::new();
    for l in &listings {
        let flow = flows.entry((l.spec.clone(), l.flow.clone())).or_default();
        // Every listing feeds its flow, filtered or not, so that a filtered run checks the
        // same rules as a full one.
        let mut o = replay(paths, l, flow)?;
        if filter.is_some_and(|f| !l.name().contains(f) && !l.file.contains(f)) {
            continue;
        }
        let mine: Vec<&Erratum> = known
            .iter()
            .filter(|e| e.listing == o.listing.name())
            .collect();
        o.unknown_findings = o
            .findings
            .iter()
            .filter(|f| {
                !mine
                    .iter()
                    .any(|e| e.rule == f.rule && e.subject == f.subject)
            })
            .cloned()
            .collect();
        o.stale_errata = mine
            .into_iter()
            .filter(|e| {
                !o.findings
                    .iter()
                    .any(|f| e.rule == f.rule && e.subject == f.subject)
            })
            .cloned()
            .collect();
        outcomes.push(o);
    }
    let names: Vec<String> = listings.iter().map(Listing::name).collect();
    let orphan_errata = known
        .into_iter()
        .filter(|e| !names.contains(&e.listing))
        .collect();
    Ok(Suite {
        outcomes,
        orphan_errata,
    })
}

/// The errata as the Markdown table of `docs/CONFORMANCE.md`.
pub fn errata_markdown(suite: &Suite, known: &[Erratum]) -> String {
    let mut s = String::from(
        "| listing | rule | section | subject | finding | correct value | why it is an erratum |\n",
    );
    s.push_str("| --- | --- | --- | --- | --- | --- | --- |\n");
    let cell = |t: &str| t.replace('|', "\\|").replace('\n', " ");
    for f in suite.findings() {
        let erratum = known
            .iter()
            .find(|e| e.listing == f.listing && e.rule == f.rule && e.subject == f.subject);
        let reason = erratum.map_or("(not a known erratum)", |e| e.reason.as_str());
        let correct = f
            .correct
            .as_deref()
            .or(erratum.and_then(|e| e.correct.as_deref()))
            .unwrap_or("");
        s.push_str(&format!(
            "| {} | `{}` | {} | {} | {} | {} | {} |\n",
            cell(&f.listing),
            cell(&f.rule),
            cell(&f.section),
            cell(&f.subject),
            cell(&f.message),
            cell(correct),
            cell(reason)
        ));
    }
    s
}
