//! The spec listings as tests: snapshots of their typed values (insta), the whole suite green,
//! and the errata documented.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap fixtures too

use std::collections::BTreeSet;

use jingle_ice_conformance::listings::{self, Paths, Suite};

fn suite() -> Suite {
    listings::run(&Paths::default_tree(), None).expect("the suite runs")
}

#[test]
fn listing_snapshots() {
    let suite = suite();
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    let mut n = 0;
    settings.bind(|| {
        for o in &suite.outcomes {
            if let Some(r) = &o.rendering {
                insta::assert_snapshot!(o.listing.slug(), r);
                n += 1;
            }
        }
    });
    // Two listings cannot be read at all (XEP-0371 #5, XEP-0279 #2); all others have a value.
    assert_eq!(n, suite.outcomes.len() - 2);
}

#[test]
fn every_listing_passes_and_every_erratum_is_found() {
    let suite = suite();
    assert_eq!(
        suite.outcomes.len(),
        26,
        "21 listings of XEP-0371 and 5 examples of XEP-0279"
    );
    for o in &suite.outcomes {
        assert!(o.passed(), "{}: {:?}", o.listing.name(), o.reason());
    }
    assert!(suite.passed());
    let found: usize = suite.outcomes.iter().map(|o| o.findings.len()).sum();
    let known = listings::errata(&Paths::default_tree()).unwrap();
    assert_eq!(found, known.len());
}

#[test]
fn every_fixture_is_in_the_manifest() {
    let paths = Paths::default_tree();
    let in_manifest: BTreeSet<String> = listings::manifest(&paths)
        .unwrap()
        .into_iter()
        .map(|l| l.file)
        .collect();
    let mut on_disk = BTreeSet::new();
    for dir in std::fs::read_dir(&paths.listings).unwrap() {
        let dir = dir.unwrap();
        if dir.file_type().unwrap().is_dir() {
            for f in std::fs::read_dir(dir.path()).unwrap() {
                let f = f.unwrap();
                on_disk.insert(format!(
                    "{}/{}",
                    dir.file_name().to_string_lossy(),
                    f.file_name().to_string_lossy()
                ));
            }
        }
    }
    assert_eq!(in_manifest, on_disk);
}

#[test]
fn conformance_doc_has_the_errata_table() {
    let paths = Paths::default_tree();
    let table = listings::errata_markdown(&suite(), &listings::errata(&paths).unwrap());
    let doc_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/CONFORMANCE.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap();
    assert!(
        doc.contains(&table),
        "docs/CONFORMANCE.md is out of date; regenerate its errata table with `cargo run -p jingle-ice-conformance -- errata`:\n{table}"
    );
}
