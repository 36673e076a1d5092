//! Parsing cost of the XEP-0371 session-initiate: minidom alone, minidom plus this crate, and
//! minidom plus xmpp-parsers for the same stanza in the ice-udp:1 namespace.
//!
//! Run with `cargo bench -p xep0371-model --bench parse`; results are in `docs/PERFORMANCE.md`.
//!
//! Cases, all in the group `xep0371_listing_1`:
//! - `a_minidom`: [`parse_element`] of Listing 1 (the tree only);
//! - `b_model_ice0`: the same, then [`Iq`], the [`Jingle`] it carries and its ICE transport under
//!   the strict reading;
//! - `c_xmpp_parsers_ice_udp`: the ice-udp:1 variant parsed by minidom, then
//!   `xmpp_parsers::jingle_ice_udp::Transport::try_from` of the transport element (xmpp-parsers
//!   types only the transport here, so the IQ and Jingle layers are walked by hand);
//! - `d_model_ice_udp`: case (b) on the ice-udp:1 variant;
//! - `e_model_ice_udp_transport`: the like-for-like of (c): minidom, then this crate's
//!   [`IceTransport`] of the transport element only.

use std::hint::black_box;

use criterion::Criterion;
use xep0371_model::minidom::Element;
use xep0371_model::{FromXml, IceTransport, Iq, Jingle, Reading, ns, parse_element};

/// XEP-0371 version 0.3.1 (2021-03-04), §5.2 "Session Initiation", Listing 1 "Initiation": the
/// first `<example caption="Initiation">` of `xep-0371.xml` (our copy:
/// `/work/shared/specs/xep-0371.source.xml`), verbatim.
const LISTING_1: &str = "<iq from='romeo@montague.example/dr4hcr0st3lup4c'
    id='ixt174g9'
    to='juliet@capulet.example/yn0cl4bnw0yr3vym'
    type='set'>
  <jingle xmlns='urn:xmpp:jingle:1'
          action='session-initiate'
          initiator='romeo@montague.example/dr4hcr0st3lup4c'
          sid='a73sjjvkla37jfea'>
    <content creator='initiator' name='this-is-the-audio-content'>
      <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>
        <payload-type id='96' name='speex' clockrate='16000'/>
        <payload-type id='97' name='speex' clockrate='8000'/>
        <payload-type id='18' name='G729'/>
        <payload-type id='0' name='PCMU' />
        <payload-type id='103' name='L16' clockrate='16000' channels='2'/>
        <payload-type id='98' name='x-ISAC' clockrate='8000'/>
      </description>
      <transport xmlns='urn:xmpp:jingle:transports:ice:0'
                 pwd='asd88fgpdd777uzjYhagZg'
                 ufrag='8hhy'
                 ice2='true'>
        <candidate component='1'
                   foundation='2B78DADC1A9E'
                   generation='0'
                   id='el0747fg11'
                   ip='10.0.1.1'
                   network='1'
                   port='8998'
                   priority='2130706431'
                   protocol='udp'
                   type='host'/>
        <candidate component='1'
                   foundation='58AA96B8FA5A'
                   generation='0'
                   id='y3s2b30v3r'
                   ip='192.0.2.3'
                   network='1'
                   port='45664'
                   priority='1694498815'
                   protocol='udp'
                   rel-addr='10.0.1.1'
                   rel-port='8998'
                   type='srflx'/>
      </transport>
    </content>
  </jingle>
</iq>";

const MAX: usize = 1 << 16;

/// Listing 1 in ice-udp:1. Besides the namespace, one change: `ice2='true'` is removed, since
/// the ice-udp:1 schema has no such attribute. xmpp-parsers 0.23 (without its `pedantic`
/// feature) discards unknown attributes and would take the stanza either way; this crate's
/// strict reading refuses `ice2` in ice-udp:1 (the lenient reading forgives it), so without the
/// change cases (d) and (e) would measure an error path. Cases (c), (d) and (e) parse the
/// identical string. Candidates are unchanged: xmpp-parsers accepts `network`, and ice-udp:1
/// requires the `generation` and `id` they carry.
fn ice_udp_variant() -> String {
    let s = LISTING_1.replace(ns::JINGLE_ICE, ns::JINGLE_ICE_UDP);
    let without = s.replace("\n                 ice2='true'", "");
    assert_ne!(s, without, "ice2 removed");
    without
}

/// Case (b)/(d): the IQ, the Jingle it carries, the ICE transport of its content.
fn model(xml: &str) -> usize {
    let el = parse_element(xml, MAX).expect("well-formed");
    let iq = Iq::read(&el, Reading::Strict).expect("a valid IQ").value;
    let payload = iq.payload.element().expect("a payload");
    let jingle = Jingle::read(payload, Reading::Strict)
        .expect("a valid Jingle")
        .value;
    let (_, transport) = jingle.ice_transports().next().expect("an ICE transport");
    transport.candidates.len()
}

/// The transport element of the stanza, taken out of the tree without a copy.
fn take_transport(mut el: Element) -> Element {
    el.remove_child("jingle", ns::JINGLE)
        .and_then(|mut j| j.remove_child("content", ns::JINGLE))
        .and_then(|mut c| c.remove_child("transport", ns::JINGLE_ICE_UDP))
        .expect("iq/jingle/content/transport")
}

/// Case (c).
fn xmpp_parsers(xml: &str) -> usize {
    let el = parse_element(xml, MAX).expect("well-formed");
    let t = xmpp_parsers::jingle_ice_udp::Transport::try_from(take_transport(el))
        .expect("xmpp-parsers accepts it");
    // The fields are private; the candidates show in the Debug form only.
    black_box(t);
    2
}

/// Case (e).
fn model_transport(xml: &str) -> usize {
    let el = parse_element(xml, MAX).expect("well-formed");
    let t = IceTransport::read(&take_transport(el), Reading::Strict)
        .expect("a valid transport")
        .value;
    t.candidates.len()
}

/// Checks, once, that every case reads the listing, and why the variant drops `ice2`.
fn check(udp: &str) {
    assert_eq!(model(LISTING_1), 2);
    assert_eq!(model(udp), 2);
    assert_eq!(model_transport(udp), 2);
    assert_eq!(xmpp_parsers(udp), 2);
    let with_ice2 = LISTING_1.replace(ns::JINGLE_ICE, ns::JINGLE_ICE_UDP);
    let el = take_transport(parse_element(&with_ice2, MAX).expect("well-formed"));
    assert!(
        IceTransport::read(&el, Reading::Strict).is_err(),
        "strict: no ice2 in ice-udp:1"
    );
    assert!(
        IceTransport::read(&el, Reading::Lenient).is_ok(),
        "lenient: ice2 forgiven"
    );
    assert!(
        xmpp_parsers::jingle_ice_udp::Transport::try_from(el).is_ok(),
        "xmpp-parsers discards ice2"
    );
}

/// Case (a).
fn minidom(xml: &str) -> usize {
    parse_element(xml, MAX)
        .expect("well-formed")
        .children()
        .count()
}

/// A case: name, whether it reads the ice-udp:1 variant, the function.
type Case = (&'static str, bool, fn(&str) -> usize);

/// Every case, in the order criterion runs them.
const CASES: [Case; 5] = [
    ("a_minidom", false, minidom),
    ("b_model_ice0", false, model),
    ("c_xmpp_parsers_ice_udp", true, xmpp_parsers),
    ("d_model_ice_udp", true, model),
    ("e_model_ice_udp_transport", true, model_transport),
];

fn bench(c: &mut Criterion) {
    let udp = ice_udp_variant();
    check(&udp);
    let mut g = c.benchmark_group("xep0371_listing_1");
    for (name, ice_udp, f) in CASES {
        let input = if ice_udp { udp.as_str() } else { LISTING_1 };
        g.bench_function(name, |b| b.iter(|| f(black_box(input))));
    }
    g.finish();
}

/// `PARSE_BENCH_LOOP=<case>:<n>` runs one case `n` times and exits, without criterion, for an
/// instruction count that does not depend on the load of the machine:
/// `PARSE_BENCH_LOOP=b_model_ice0:1000 valgrind --tool=cachegrind --cache-sim=no <bench binary>`
/// (see `docs/PERFORMANCE.md`).
fn run_loop(spec: &str) {
    let (name, n) = spec.split_once(':').expect("PARSE_BENCH_LOOP=<case>:<n>");
    let n: usize = n.parse().expect("a number of iterations");
    let udp = ice_udp_variant();
    let (_, ice_udp, f) = CASES.iter().find(|c| c.0 == name).expect("a case name");
    let input = if *ice_udp { udp.as_str() } else { LISTING_1 };
    for _ in 0..n {
        black_box(f(black_box(input)));
    }
}

fn main() {
    if let Ok(spec) = std::env::var("PARSE_BENCH_LOOP") {
        return run_loop(&spec);
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
