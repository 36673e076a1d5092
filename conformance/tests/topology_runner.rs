//! The topology runner on small scripts written here: what it reports and what it refuses.

use ice_netsim::Topology;
use jingle_ice_conformance::topo::run::{RunOptions, run};

fn script(name: &str) -> Topology {
    let path = format!("{}/topologies/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("script exists");
    Topology::parse(&path, &text).expect("script parses")
}

#[test]
fn same_lan_connects_host_to_host() {
    let r = run(&script("same-lan.toml"), &RunOptions::default()).expect("runs");
    assert!(r.passed(), "{:?}", r.failures);
    println!("{r:#?}");
}
