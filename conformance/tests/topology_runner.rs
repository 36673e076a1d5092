//! The topology runner: what it reports, that a seed replays a run datagram for datagram, and
//! that the suite's bookkeeping (known failures, sweeps, JSON) says what happened.

use std::path::{Path, PathBuf};

use ice_netsim::Topology;
use jingle_ice_conformance::topo::run::{RunOptions, run};
use jingle_ice_conformance::topo::suite::{KnownFailure, json_line, quantile, run_case};

fn path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("topologies")
        .join(name)
}

fn script(name: &str) -> Topology {
    let p = path(name);
    let text = std::fs::read_to_string(&p).expect("script exists");
    Topology::parse(&p.display().to_string(), &text).expect("script parses")
}

#[test]
fn same_lan_connects_host_to_host_and_carries_data() {
    let r = run(&script("same-lan.toml"), &RunOptions::default()).expect("runs");
    assert!(r.passed(), "{:?}", r.failures);
    assert_eq!(r.outcome, "connected");
    let p = r.initiator_pair.expect("selected");
    assert_eq!(
        (p.local_type.as_str(), p.remote_type.as_str()),
        ("host", "host")
    );
    assert_eq!(r.data_delivered, (2, 2));
    assert!(r.replayable);
}

#[test]
fn a_seed_replays_the_run_datagram_for_datagram() {
    let dir = std::env::temp_dir().join(format!("topology-replay-{}", std::process::id()));
    let t = script("loss-jitter.toml");
    let mut captures = Vec::new();
    let mut results = Vec::new();
    for i in 0..2 {
        let d = dir.join(i.to_string());
        let r = run(
            &t,
            &RunOptions {
                seed: Some(11),
                pcap: Some(&d),
            },
        )
        .expect("runs");
        let mut files: Vec<_> = std::fs::read_dir(&d)
            .expect("pcaps")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        captures.push(
            files
                .iter()
                .map(|f| std::fs::read(f).expect("read"))
                .collect::<Vec<_>>(),
        );
        results.push(r);
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(results[0], results[1]);
    assert_eq!(captures[0].len(), 3);
    assert!(
        captures[0] == captures[1],
        "the captures differ between two runs of one seed"
    );
    // And another seed is another run (jitter and loss are drawn from it).
    let other = run(
        &t,
        &RunOptions {
            seed: Some(12),
            pcap: None,
        },
    )
    .expect("runs");
    assert_ne!(other.connect, results[0].connect);
}

#[test]
fn an_expectation_that_does_not_hold_is_reported() {
    let mut t = script("nat-eim-apdf--apdm-apdf.toml");
    // This pair of NATs cannot connect without a relay; claim that it does.
    t.expect.outcome = ice_netsim::topology::Outcome::Connected;
    let r = run(&t, &RunOptions::default()).expect("runs");
    assert!(!r.passed());
    assert!(
        r.failures[0].starts_with("expected connected, got failed"),
        "{:?}",
        r.failures
    );

    let mut t = script("same-lan.toml");
    t.expect.local_type = vec!["srflx".into()];
    t.expect.max_connect = Some(std::time::Duration::from_millis(1));
    let r = run(&t, &RunOptions::default()).expect("runs");
    assert_eq!(r.failures.len(), 2, "{:?}", r.failures);
}

#[test]
fn known_failures_must_still_fail() {
    let known = [KnownFailure {
        topology: "same-lan.toml".into(),
        reason: "test".into(),
    }];
    let c = run_case(&path("same-lan.toml"), 1, None, None, &known);
    assert!(!c.passed(), "a known failure that passes is reported");
    assert!(c.reason().expect("reason").contains("remove the entry"));

    let known = [KnownFailure {
        topology: "nat-eim-apdf--apdm-apdf.toml".into(),
        reason: "t".into(),
    }];
    let mut c = run_case(&path("nat-eim-apdf--apdm-apdf.toml"), 1, None, None, &known);
    assert!(
        !c.passed(),
        "the script expects failure and fails, so it passes: not a known failure"
    );
    c.known = None;
    assert!(c.passed());
}

#[test]
fn a_sweep_reports_seeds_and_quantiles_and_json_has_the_documented_keys() {
    let c = run_case(&path("nat-eim-apdf--eim-apdf.toml"), 8, None, None, &[]);
    assert_eq!(c.runs.len(), 8);
    assert!(c.passed(), "{:?}", c.reason());
    let ms = c.connect_ms();
    assert_eq!(ms.len(), 8);
    assert!(quantile(&ms, 0.5) <= quantile(&ms, 0.95));
    let single = run_case(&path("same-lan.toml"), 1, None, None, &[]);
    let v: serde_json::Value = serde_json::from_str(&json_line(&single, "sim")).expect("JSON");
    for key in [
        "name",
        "kind",
        "backend",
        "outcome",
        "local_type",
        "remote_type",
        "protocol",
        "connect_ms",
        "checks_sent",
        "passed",
        "reason",
    ] {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    assert_eq!(v["kind"], "topology");
    assert_eq!(v["backend"], "sim");
    assert_eq!(v["outcome"], "connected");
}

#[test]
fn quantile_is_nearest_rank() {
    let v = [1.0, 2.0, 3.0, 4.0];
    assert_eq!(quantile(&v, 0.5), Some(2.0));
    assert_eq!(quantile(&v, 0.95), Some(4.0));
    assert_eq!(quantile(&[], 0.5), None);
}

#[test]
fn scripts_naming_a_netns_only_stack_or_turn_are_refused_with_the_line() {
    let mut t = script("same-lan.toml");
    t.agents[0].implementation = "libnice".into();
    let e = run(&t, &RunOptions::default())
        .expect_err("refused")
        .to_string();
    assert!(e.contains("same-lan.toml:"), "{e}");
    let e = format!(
        "{:#}",
        run(&t, &RunOptions::default()).expect_err("refused")
    );
    assert!(e.contains("netns"), "{e}");
}
