//! The flow replays (XEP-0371 §5 to §8 played by two jingle-ice-glue sessions): all pass on
//! the repository's listings, replay identically, and fail on a listing or an explanation that
//! does not hold.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap fixtures too

use std::path::{Path, PathBuf};

use jingle_ice_conformance::flows::{self, FlowOutcome};
use jingle_ice_conformance::listings::Paths;
use jingle_ice_conformance::report;

fn explained_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("flow-differences.toml")
}

fn run_default() -> Vec<FlowOutcome> {
    flows::run(&Paths::default_tree(), &explained_file(), None).unwrap()
}

/// A copy of the listings tree in a fresh directory under the target dir.
fn copy_tree(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("listings");
    for entry in walk(&src) {
        let rel = entry.strip_prefix(&src).unwrap();
        let to = dir.join("listings").join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &to).unwrap();
    }
    dir
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn every_flow_replays_with_only_explained_differences() {
    let outcomes = run_default();
    let names: Vec<&str> = outcomes.iter().map(|o| o.flow.as_str()).collect();
    assert_eq!(names, ["session", "fallback", "disco-ice", "disco-sdp"]);
    for o in &outcomes {
        assert!(o.passed(), "{}: {:?}", o.flow, o.reason());
    }
    // Every XEP-0371 listing is played by a produced stanza.
    let mut played: Vec<String> = outcomes
        .iter()
        .flat_map(|o| o.steps.iter())
        .filter(|s| s.produced.is_some())
        .map(|s| s.listing.clone())
        .collect();
    played.sort();
    played.dedup();
    assert_eq!(played.len(), 21, "{played:?}");
    // The session flow carries more than its listings (acknowledgements of the accept, the
    // candidates and end-of-candidates of the other side), all checked by the rules.
    assert!(outcomes[0].stanzas > 9);
    // Every explanation is used once, by exactly the differences found.
    let found: usize = outcomes.iter().map(|o| o.differences().count()).sum();
    let listed = flows::explained(&explained_file()).unwrap().len();
    assert_eq!(found, listed);
}

#[test]
fn replays_are_deterministic() {
    let a = run_default();
    let b = run_default();
    for (x, y) in a.iter().zip(&b) {
        let px: Vec<_> = x.steps.iter().map(|s| &s.produced).collect();
        let py: Vec<_> = y.steps.iter().map(|s| &s.produced).collect();
        assert_eq!(px, py, "{}", x.flow);
    }
}

#[test]
fn an_unexplained_difference_fails_the_flow() {
    let root = copy_tree("flows-mutated");
    // What the sessions are configured with comes from the listings (credentials, addresses,
    // descriptions), so change what is only compared: an element in Listing 17's transport
    // that the sessions never send,
    let file = root.join("listings/xep-0371/17-responder-sends-end-of-candidates-indication.xml");
    let text = std::fs::read_to_string(&file).unwrap();
    let text = text.replace("<gathering-complete/>", "<gathering-complete/><extra/>");
    std::fs::write(&file, text).unwrap();
    // And the session-accept ack (Listing 2) becomes an error.
    let file = root.join(
        "listings/xep-0371/02-responder-acknowledges-receipt-of-session-initiate-request.xml",
    );
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("type='result'", "type='error'")).unwrap();
    let outcomes = flows::run(
        &Paths::under(&root),
        &explained_file(),
        Some("flow:session"),
    )
    .unwrap();
    assert_eq!(outcomes.len(), 1);
    let o = &outcomes[0];
    assert!(!o.passed());
    let paths: Vec<(&str, &str)> = o
        .unexplained
        .iter()
        .map(|d| (d.listing.as_str(), d.path.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("XEP-0371 #2", "/iq/@type"),
            ("XEP-0371 #17", "/iq/jingle/content/transport/extra"),
        ]
    );
    assert!(o.reason().unwrap().contains("XEP-0371 #2 /iq/@type"));
}

#[test]
fn an_explanation_that_no_longer_holds_fails_the_flow() {
    let root = copy_tree("flows-stale");
    let explained = root.join("flow-differences.toml");
    let text = std::fs::read_to_string(explained_file()).unwrap();
    std::fs::write(
        &explained,
        format!(
            "{text}\n[[difference]]\nlisting = \"XEP-0371 #10\"\npath = \"/iq/@to\"\nkind = \"erratum\"\nreason = \"test\"\n"
        ),
    )
    .unwrap();
    let outcomes = flows::run(&Paths::under(&root), &explained, Some("flow:fallback")).unwrap();
    let o = &outcomes[0];
    assert!(!o.passed());
    assert_eq!(o.stale.len(), 1);
    assert!(
        o.reason().unwrap().contains("no longer differs"),
        "{:?}",
        o.reason()
    );
    // A kind other than erratum or scenario is refused with the file named.
    std::fs::write(
        &explained,
        text.replacen("kind = \"erratum\"", "kind = \"typo\"", 1),
    )
    .unwrap();
    let e = flows::run(&Paths::under(&root), &explained, None).unwrap_err();
    assert!(format!("{e:#}").contains("kind must be"), "{e:#}");
}

#[test]
fn the_json_lines_say_kind_flow() {
    for o in run_default() {
        let v: serde_json::Value = serde_json::from_str(&report::flows::json_line(&o)).unwrap();
        assert_eq!(v["kind"], "flow");
        assert_eq!(v["passed"], true);
        assert_eq!(v["name"], format!("flow:{}", o.flow));
    }
}
