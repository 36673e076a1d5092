//! Simulated sessions per second: how cheap a topology run is, so that seed sweeps stay fast.
//!
//! - `session/host-to-host`: one whole run of `same-lan.toml` (two jingle-ice-glue sessions,
//!   their Jingle stanzas written to XML and read back, checks, nomination, one datagram each
//!   way).
//! - `session/both-behind-nats`: `nat-eim-apdf--eim-apdf.toml` (STUN gathering, NAT
//!   translation, server-reflexive pairs).
//! - `session/failing-symmetric`: `nat-eim-apdf--apdm-apdf.toml`, which runs until both agents
//!   give up (about 16 s of virtual time).
//! - `session/host-to-host-str0m-initiator`, `session/host-to-host-rice-initiator`: the same LAN
//!   run with str0m's or rice-proto's agent as the initiator (in the runner's small Jingle
//!   endpoint, against a glue session), for the cost of each stack.
//! - `network/datagram-through-two-nats`: datagrams between two hosts behind two NATs (one each
//!   way per iteration; throughput counts datagrams), without agents.
//!
//! Results are in docs/PERFORMANCE.md.

use std::path::Path;
use std::time::Instant;

use criterion::{Criterion, Throughput};
use ice_netsim::{Sim, Topology, Transmit};
use jingle_ice_conformance::runner::config::RunOptions;
use jingle_ice_conformance::sim::run;

fn script(name: &str) -> Topology {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("topologies")
        .join(name);
    let text = std::fs::read_to_string(&p).expect("script exists");
    Topology::parse(name, &text).expect("script parses")
}

fn sessions(c: &mut Criterion) {
    let mut g = c.benchmark_group("session");
    g.throughput(Throughput::Elements(1));
    for (id, file) in [
        ("host-to-host", "same-lan.toml"),
        ("both-behind-nats", "nat-eim-apdf--eim-apdf.toml"),
        ("failing-symmetric", "nat-eim-apdf--apdm-apdf.toml"),
        (
            "host-to-host-str0m-initiator",
            "str0m-initiator-same-lan.toml",
        ),
        (
            "host-to-host-rice-initiator",
            "rice-initiator-same-lan.toml",
        ),
    ] {
        let t = script(file);
        let mut seed = 0u64;
        g.bench_function(id, |b| {
            b.iter(|| {
                seed += 1;
                let r = run(
                    &t,
                    &RunOptions {
                        seed: Some(seed),
                        pcap: None,
                    },
                )
                .expect("runs");
                assert!(r.passed(), "{:?}", r.failures);
                r
            })
        });
    }
    g.finish();
}

fn network(c: &mut Criterion) {
    let t = script("nat-eim-apdf--eim-apdf.toml");
    // The base of virtual time: any instant will do.
    #[allow(clippy::disallowed_methods)]
    let base = Instant::now();
    let mut sim = Sim::new(&t, base);
    let romeo = sim.host("romeo").expect("host");
    let juliet = sim.host("juliet").expect("host");
    // Open both mappings and filters once: juliet's NAT admits what romeo's sends afterwards.
    let mut now = base;
    let settle = |sim: &mut Sim, now: &mut Instant| {
        while let Some(t) = sim.poll_timeout() {
            *now = t;
            sim.handle_timeout(t);
        }
        std::iter::from_fn(|| sim.poll_delivery()).count()
    };
    sim.send(
        now,
        romeo,
        Transmit {
            from: "10.0.1.1:5000".parse().expect("addr"),
            to: "198.51.100.20:5000".parse().expect("addr"),
            data: vec![0; 100],
        },
    );
    settle(&mut sim, &mut now);
    let a_out = sim
        .nat_table("nat-a")
        .expect("nat")
        .mapping_of(
            now,
            "10.0.1.1:5000".parse().expect("addr"),
            "198.51.100.20:5000".parse().expect("addr"),
        )
        .expect("mapped");
    sim.send(
        now,
        juliet,
        Transmit {
            from: "10.0.2.1:6000".parse().expect("addr"),
            to: a_out,
            data: vec![0; 100],
        },
    );
    settle(&mut sim, &mut now);
    let b_out = sim
        .nat_table("nat-b")
        .expect("nat")
        .mapping_of(now, "10.0.2.1:6000".parse().expect("addr"), a_out)
        .expect("mapped");
    let mut g = c.benchmark_group("network");
    g.throughput(Throughput::Elements(2));
    // One datagram each way per iteration, so that both mappings stay refreshed.
    g.bench_function("datagram-through-two-nats", |b| {
        b.iter(|| {
            sim.send(
                now,
                romeo,
                Transmit {
                    from: "10.0.1.1:5000".parse().expect("addr"),
                    to: b_out,
                    data: vec![0; 100],
                },
            );
            sim.send(
                now,
                juliet,
                Transmit {
                    from: "10.0.2.1:6000".parse().expect("addr"),
                    to: a_out,
                    data: vec![0; 100],
                },
            );
            let n = settle(&mut sim, &mut now);
            assert_eq!(n, 2);
        })
    });
    g.finish();
}

fn signalling(c: &mut Criterion) {
    use jingle_ice_conformance::peers::jingle::{read_strict, transport_set};
    use jingle_ice_conformance::runner::signal::{default_jids, parse_jids};
    use xep0371_model::candidate::{CandidateType, Protocol};
    use xep0371_model::minidom::Element;
    use xep0371_model::{Action, Candidate, Creator, IceNamespace, IceTransport};
    let mut t = IceTransport::new(IceNamespace::Ice0, "8hhy", "asd88fgpdd777uzjYhagZg");
    let mut cand = Candidate::new(
        1,
        "1",
        "10.0.0.1:50001".parse().expect("addr"),
        2_130_706_431,
        Protocol::Udp,
        CandidateType::Host,
    );
    cand.generation = Some(0);
    cand.network = Some(0);
    cand.id = Some("c0".into());
    t.candidates.push(cand);
    t.gathering_complete = true;
    let (romeo, juliet) = default_jids(true);
    let (romeo, juliet) = parse_jids(&romeo, &juliet).expect("JIDs");
    let mut g = c.benchmark_group("signalling");
    g.throughput(Throughput::Elements(1));
    // One session-initiate written to XML and read back strictly (a host-to-host run carries
    // about ten stanzas, sets and results).
    g.bench_function("stanza-xml-round-trip", |b| {
        b.iter(|| {
            let iq = transport_set(
                &romeo,
                &juliet,
                "i1".into(),
                Action::SessionInitiate,
                (Creator::Initiator, "data"),
                t.clone(),
            );
            let xml = String::from(&Element::from(&iq));
            read_strict(&xml).expect("reads back")
        })
    });
    g.finish();
}

// What `criterion_group!`/`criterion_main!` expand to, without the undocumented `pub fn` the
// first one generates.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    sessions(&mut c);
    network(&mut c);
    signalling(&mut c);
    c.final_summary();
}
