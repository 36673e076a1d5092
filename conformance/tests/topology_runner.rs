//! The topology runner: what it reports, that a seed replays a run datagram for datagram, that
//! its signalling is real Jingle stanzas between two Jingle endpoints (glue sessions, or the
//! endpoint around a foreign stack), and that the suite's bookkeeping (known failures, sweeps,
//! JSON) says what happened.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ice_netsim::Topology;
use jingle_ice_conformance::peers::jingle::{JingleEndpoint, read_strict};
use jingle_ice_conformance::peers::ours::Ours;
use jingle_ice_conformance::peers::str0m::Str0m;
use jingle_ice_conformance::report::topologies::json_line;
use jingle_ice_conformance::runner::config::PeerConfig;
use jingle_ice_conformance::runner::config::RunOptions;
use jingle_ice_conformance::runner::peer::{Endpoint, Stack};
use jingle_ice_conformance::runner::signal::{Direction, Sent};
use jingle_ice_conformance::sim::{run, run_with_transcript};
use jingle_ice_conformance::suite::{Backend, CaseOptions, KnownFailure, quantile, run_case};
use xep0371_model::{
    Action, CandidateType, DefinedCondition, IceNamespace, IceTransport, IqPayload,
    JingleCondition, StanzaError,
};

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
fn data_bytes_replays_byte_for_byte_and_arrives_intact() {
    let t = script("data-bytes-lossy.toml");
    let runs = run_twice_with_captures(&t, "data-bytes");
    let r = &runs[0].0;
    assert!(r.passed(), "{:?}", r.failures);
    let d = r.data_bytes.as_ref().expect("data_bytes summarised");
    assert_eq!(d.expected, 1 << 20);
    for x in &d.transfers {
        assert_eq!(x.delivered, 1 << 20);
        assert!(x.retransmissions > 0, "3% loss costs retransmissions");
        assert!(x.time.is_some());
    }
    // The same seed: the same result, and the same bytes on every network (the content of both
    // streams is drawn from the seed).
    assert_eq!(runs[0].0, runs[1].0);
    assert!(
        runs[0].1 == runs[1].1,
        "the captures differ between two runs of one seed"
    );
    // Another seed, other losses.
    let other = run(
        &t,
        &RunOptions {
            seed: Some(t.seed + 1),
            pcap: None,
        },
    )
    .expect("runs");
    assert!(other.passed(), "{:?}", other.failures);
    assert_ne!(other.data_bytes, r.data_bytes);

    // Cut short, the transfers fail the run and say how far they got.
    let mut short = t.clone();
    short.duration = std::time::Duration::from_secs(5);
    let r = run(&short, &RunOptions::default()).expect("runs");
    assert_eq!(r.outcome, "connected");
    assert_eq!(r.failures.len(), 2, "{:?}", r.failures);
    assert!(
        r.failures[0].starts_with(
            "data_bytes: the initiator's 1048576 bytes to the responder: the transfer did not \
             finish within duration_ms ("
        ),
        "{:?}",
        r.failures
    );
}

#[test]
fn data_bytes_and_the_text_datagrams_of_data_go_together() {
    let mut t = script("same-lan.toml");
    assert!(t.expect.data);
    t.expect.data_bytes = 10_000;
    let r = run(&t, &RunOptions::default()).expect("runs");
    assert!(r.passed(), "{:?}", r.failures);
    assert_eq!(r.data_delivered, (2, 2));
    let d = r.data_bytes.expect("data_bytes summarised");
    assert_eq!(d.transfers.map(|x| x.delivered), [10_000, 10_000]);
    let single = run_case(&path("data-bytes-relay.toml"), &sim(1), &[]);
    let v: serde_json::Value = serde_json::from_str(&json_line(&single, "sim")).expect("JSON");
    assert_eq!(v["data_bytes"]["expected"], 262_144);
    assert_eq!(
        v["data_bytes"]["delivered"],
        serde_json::json!([262_144, 262_144])
    );
    assert!(v["data_bytes"]["ms"][0].as_f64().is_some(), "{v}");
    assert!(v["data_bytes"]["retransmissions"].is_array(), "{v}");
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

/// One seed or `n` on the simulator.
fn sim(seeds: u64) -> CaseOptions<'static> {
    CaseOptions {
        seeds,
        seed: None,
        pcap: None,
        backend: Backend::Sim,
    }
}

#[test]
fn known_failures_must_still_fail() {
    let known = [KnownFailure {
        topology: "same-lan.toml".into(),
        reason: "test".into(),
        backend: None,
    }];
    let c = run_case(&path("same-lan.toml"), &sim(1), &known);
    assert!(!c.passed(), "a known failure that passes is reported");
    assert!(c.reason().expect("reason").contains("remove the entry"));

    let known = [KnownFailure {
        topology: "nat-eim-apdf--apdm-apdf.toml".into(),
        reason: "t".into(),
        backend: None,
    }];
    let mut c = run_case(&path("nat-eim-apdf--apdm-apdf.toml"), &sim(1), &known);
    assert!(
        !c.passed(),
        "the script expects failure and fails, so it passes: not a known failure"
    );
    c.known = None;
    assert!(c.passed());
}

#[test]
fn a_sweep_reports_seeds_and_quantiles_and_json_has_the_documented_keys() {
    let c = run_case(&path("nat-eim-apdf--eim-apdf.toml"), &sim(8), &[]);
    assert_eq!(c.runs.len(), 8);
    assert!(c.passed(), "{:?}", c.reason());
    let ms = c.connect_ms();
    assert_eq!(ms.len(), 8);
    assert!(quantile(&ms, 0.5) <= quantile(&ms, 0.95));
    let single = run_case(&path("same-lan.toml"), &sim(1), &[]);
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
fn scripts_naming_a_netns_only_stack_are_refused_with_the_line() {
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

/// One IQ-set of a transcript, strictly read.
struct Set {
    direction: Direction,
    id: String,
    action: Action,
    transport: IceTransport,
}

/// Reads a run's transcript: every stanza is an IQ the strict reader takes (a set with a
/// Jingle payload and an ICE transport, or a result); every set is answered by exactly one
/// IQ-result from the other side, sent after it; no IQ-error. Returns the sets in order.
fn read_transcript(sent: &[Sent]) -> Vec<Set> {
    let mut sets: Vec<Set> = Vec::new();
    let mut answered: Vec<u32> = Vec::new();
    for s in sent {
        let (iq, jingle) = read_strict(&s.xml).unwrap_or_else(|e| panic!("{e}"));
        match (iq.payload, jingle) {
            (IqPayload::Set(_), Some(j)) => {
                let transport = j
                    .ice_transports()
                    .next()
                    .map(|(_, t)| t.clone())
                    .expect("an ICE transport in every set");
                sets.push(Set {
                    direction: s.direction,
                    id: iq.id,
                    action: j.action,
                    transport,
                });
                answered.push(0);
            }
            (IqPayload::Result(_), _) => {
                let i = sets
                    .iter()
                    .position(|q| q.id == iq.id && q.direction != s.direction)
                    .unwrap_or_else(|| panic!("a result answering no set: {}", s.xml));
                answered[i] += 1;
            }
            _ => panic!("neither a Jingle set nor a result: {}", s.xml),
        }
    }
    for (q, n) in sets.iter().zip(&answered) {
        assert_eq!(*n, 1, "{} {} answered {n} times", q.action.as_str(), q.id);
    }
    sets
}

/// The sets one side sent.
fn from(sets: &[Set], direction: Direction) -> impl Iterator<Item = &Set> {
    sets.iter().filter(move |s| s.direction == direction)
}

#[test]
fn ours_to_ours_signals_through_two_glue_sessions() {
    let (r, sent) =
        run_with_transcript(&script("same-lan.toml"), &RunOptions::default()).expect("runs");
    assert!(r.passed(), "{:?}", r.failures);
    // Every stanza on the path is counted, results included.
    assert_eq!(r.signalling.0, sent.len() as u64);
    assert_eq!(
        r.signalling.1,
        sent.iter().map(|s| s.xml.len() as u64).sum::<u64>()
    );
    let sets = read_transcript(&sent);
    assert_eq!(sent.len(), 2 * sets.len(), "a result for every set");
    assert_eq!(sent[0].direction, Direction::ToResponder);
    let mut initiator = from(&sets, Direction::ToResponder);
    let first = initiator.next().expect("session-initiate");
    assert_eq!(first.action, Action::SessionInitiate);
    // The glue's offer (XEP-0371 §5.2, §5.3, §8.1): ice:0, ice2, the host candidate in it.
    assert_eq!(first.transport.namespace, IceNamespace::Ice0);
    assert_eq!(first.transport.ice2, Some(true));
    assert!(!first.transport.candidates.is_empty());
    let answer = from(&sets, Direction::ToInitiator)
        .next()
        .expect("session-accept");
    assert_eq!(answer.action, Action::SessionAccept);
    assert_eq!(answer.transport.ice2, Some(true));
    // XEP-0371 §5.7: each side ends its candidates.
    for d in [Direction::ToResponder, Direction::ToInitiator] {
        assert!(from(&sets, d).any(|s| s.transport.gathering_complete));
        assert!(
            from(&sets, d)
                .skip(1)
                .all(|s| s.action == Action::TransportInfo),
            "{d:?}"
        );
    }
}

#[test]
fn a_foreign_stack_signals_through_the_jingle_endpoint() {
    for (file, foreign) in [
        ("str0m-initiator-same-lan.toml", Direction::ToResponder),
        ("str0m-responder-same-lan.toml", Direction::ToInitiator),
        ("rice-initiator-same-lan.toml", Direction::ToResponder),
        ("rice-responder-same-lan.toml", Direction::ToInitiator),
    ] {
        let (r, sent) = run_with_transcript(&script(file), &RunOptions::default()).expect("runs");
        assert!(r.passed(), "{file}: {:?}", r.failures);
        let sets = read_transcript(&sent);
        let mut f = from(&sets, foreign);
        let first = f.next().expect("the foreign side's offer or answer");
        let action = match foreign {
            Direction::ToResponder => Action::SessionInitiate,
            Direction::ToInitiator => Action::SessionAccept,
        };
        assert_eq!(first.action, action, "{file}");
        assert!(f.all(|s| s.action == Action::TransportInfo), "{file}");
        // The glue's sets carry ice2 (XEP-0371 §5.3), the endpoint's do not.
        let ours = match foreign {
            Direction::ToResponder => Direction::ToInitiator,
            Direction::ToInitiator => Direction::ToResponder,
        };
        assert_eq!(first.transport.ice2, None, "{file}");
        let glue_first = from(&sets, ours)
            .next()
            .expect("the glue's offer or answer");
        assert_eq!(glue_first.transport.ice2, Some(true), "{file}");
    }
}

#[test]
fn without_trickle_the_offer_and_the_answer_carry_every_candidate() {
    let (r, sent) =
        run_with_transcript(&script("no-trickle.toml"), &RunOptions::default()).expect("runs");
    assert!(r.passed(), "{:?}", r.failures);
    let sets = read_transcript(&sent);
    for d in [Direction::ToResponder, Direction::ToInitiator] {
        let mut s = from(&sets, d);
        let first = s.next().expect("offer or answer");
        let types: Vec<CandidateType> =
            first.transport.candidates.iter().map(|c| c.type_).collect();
        assert!(types.contains(&CandidateType::Host), "{d:?}: {types:?}");
        assert!(types.contains(&CandidateType::Srflx), "{d:?}: {types:?}");
        // Nothing but gathering-complete follows (XEP-0371 §5.7).
        assert!(s.all(|t| t.transport.candidates.is_empty()), "{d:?}");
    }
}

/// A responder on 10.0.0.2, with no peer yet.
fn responder_config() -> PeerConfig {
    // The base of virtual time: any instant will do.
    #[allow(clippy::disallowed_methods)]
    let start = Instant::now();
    PeerConfig {
        controlling: false,
        host_ips: vec!["10.0.0.2".parse().expect("address")],
        stun: Vec::new(),
        turn: Vec::new(),
        turn_streams: Vec::new(),
        share: Default::default(),
        components: 1,
        seed: [3; 32],
        tls_ca_seed: [3; 32],
        start,
        trickle: true,
        tcp: Vec::new(),
        local_jid: jingle_ice_conformance::runner::signal::RESPONDER_JID.to_owned(),
        peer_jid: jingle_ice_conformance::runner::signal::INITIATOR_JID.to_owned(),
    }
}

/// A transport-info from the initiator, in session `sid`.
fn transport_info(sid: &str, candidate: &str) -> String {
    format!(
        "<iq xmlns='jabber:client' type='set' id='t1' from='romeo@example.net/sim' \
         to='juliet@example.org/sim'><jingle xmlns='urn:xmpp:jingle:1' \
         action='transport-info' sid='{sid}'><content creator='initiator' name='data'>\
         <transport xmlns='urn:xmpp:jingle:transports:ice:0' ufrag='8hhy' \
         pwd='asd88fgpdd777uzjYhagZg'>{candidate}</transport></content></jingle></iq>"
    )
}

/// The IQ-error `endpoint` sent in answer.
fn error_sent(endpoint: &mut dyn Endpoint) -> StanzaError {
    let xml = endpoint.poll_stanza().expect("an answer");
    let (iq, _) = read_strict(&xml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(iq.id, "t1");
    assert!(endpoint.poll_stanza().is_none(), "one answer");
    match iq.payload {
        IqPayload::Error { error, .. } => error,
        other => panic!("not an error: {other:?}"),
    }
}

#[test]
fn a_refused_stanza_is_answered_with_an_iq_error_and_reported() {
    let config = responder_config();
    let now = config.start;
    let mut ours = Ours::new(&config).expect("session");
    let str0m = Str0m::new(&config).expect("str0m");
    let mut foreign = JingleEndpoint::new(str0m, &config).expect("endpoint");
    let endpoints: [&mut dyn Endpoint; 2] = [&mut ours, &mut foreign];
    for e in endpoints {
        assert!(e.poll_stanza().is_none(), "a responder sends nothing first");
        // XEP-0166: a session it does not know.
        e.handle_stanza(now, &transport_info("other", ""));
        assert_eq!(error_sent(e).jingle, Some(JingleCondition::UnknownSession));
        assert!(e.poll_error().is_some(), "reported");
        // XEP-0371 §5.5 footnote 21: transport-info before session-initiate.
        e.handle_stanza(now, &transport_info("netsim", ""));
        assert_eq!(error_sent(e).jingle, Some(JingleCondition::UnknownSession));
        assert!(e.poll_error().is_some(), "reported");
    }
    // What the strict reader refuses (a candidate without its ip) is a bad-request.
    let bad = "<candidate component='1' foundation='1' generation='0' id='c0' network='0' \
               port='1' priority='1' protocol='udp' type='host'/>";
    foreign.handle_stanza(now, &transport_info("netsim", bad));
    assert_eq!(
        error_sent(&mut foreign).condition,
        DefinedCondition::BadRequest
    );
    assert!(foreign.poll_error().is_some_and(|e| e.contains("strict")));
}

/// ICE-TCP on the simulator replays byte for byte too: the same seed gives the same result and
/// the same captures (SYNs, framed checks, the 1 MiB streams over a lossy path), and the pair is
/// a TCP one in both views.
#[test]
fn ice_tcp_replays_byte_for_byte() {
    let t = script("tcp-data-bytes-lossy.toml");
    let runs = run_twice_with_captures(&t, "tcp");
    let r = &runs[0].0;
    assert!(r.passed(), "{:?}", r.failures);
    for pair in [&r.initiator_pair, &r.responder_pair] {
        assert_eq!(pair.as_ref().expect("selected").protocol, "tcp");
    }
    assert_eq!(runs[0].0, runs[1].0);
    assert!(
        runs[0].1 == runs[1].1,
        "the captures differ between two runs of one seed"
    );
}

/// Runs `t` twice with its own seed, each time with captures; returns each result with the
/// bytes of its capture files (in file name order).
fn run_twice_with_captures(
    t: &Topology,
    label: &str,
) -> Vec<(
    jingle_ice_conformance::runner::conductor::RunResult,
    Vec<Vec<u8>>,
)> {
    let dir = std::env::temp_dir().join(format!("topology-{label}-{}", std::process::id()));
    let mut runs = Vec::new();
    for i in 0..2 {
        let d = dir.join(i.to_string());
        let options = RunOptions {
            seed: None,
            pcap: Some(&d),
        };
        let r = run(t, &options).expect("runs");
        let mut files: Vec<_> = std::fs::read_dir(&d)
            .expect("pcaps")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        let captures: Vec<Vec<u8>> = files
            .iter()
            .map(|f| std::fs::read(f).expect("read"))
            .collect();
        runs.push((r, captures));
    }
    let _ = std::fs::remove_dir_all(&dir);
    runs
}
