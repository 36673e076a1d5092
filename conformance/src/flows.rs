//! Flow replays (XEP-0371 §5 to §8): the spec's narratives played by two jingle-ice-glue
//! sessions, and the stanzas they produce compared with the listings.
//!
//! Romeo (the initiator) and Juliet (the responder) are configured with what the listings
//! show: their full JIDs, the sid, the content name, the application's `<description/>`
//! (copied from the listing: it is the application's, not the transport's), the ICE
//! credentials, the host addresses and their interface numbers, and STUN answers that give the
//! server-reflexive addresses of the listings. They then run in virtual time over an
//! in-memory network (a full-cone NAT in front of Romeo's private address), and every stanza
//! either session sends is kept.
//!
//! Each listing of a flow is matched with the produced stanza that plays its part (the
//! session-initiate, the result to it, the transport-info carrying the remote-candidate
//! notification, ...) and the two are compared attribute by attribute. Values the listings
//! leave free are not compared: IQ ids (the results must still answer the produced requests,
//! which the rule checker verifies), candidate ids and foundations. Every other difference must
//! be listed in `flow-differences.toml` with its reason (an erratum of the listing, or a
//! choice of the replayed scenario); an unlisted difference, or a listed one that no longer
//! occurs, fails the case. The produced stanzas also go through the rule checker of the
//! listings ([`crate::checker`]) and must break no rule.
//!
//! Listings 18 to 21 are the disco#info exchanges (XEP-0371 §8): the request as the client
//! sends it, the answer built from the features the stack advertises
//! ([`IceFeatures::advertised`], plus `urn:ietf:rfc:3264` for the SIP gateway) and the
//! application's; the features of each answer then configure Romeo's session.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use jingle_ice_glue::ice_sans_io::{
    Datagram, Event as IceEvent, LocalPreferenceInput, Protocol, State,
};
use jingle_ice_glue::{Allowance, Config, Event, Role, Session};
use serde::{Deserialize, Serialize};
use xep0371_model::minidom::Element;
use xep0371_model::{DiscoInfo, IceFeatures, Iq, ns, parse_element};

use crate::checker::{Finding, FlowChecker};
use crate::listings::{Listing, Paths};

const ROMEO: &str = "romeo@montague.example/dr4hcr0st3lup4c";
const JULIET: &str = "juliet@capulet.example/yn0cl4bnw0yr3vym";
const GATEWAY: &str = "sip.shakespeare.lit";
const SID: &str = "a73sjjvkla37jfea";
/// Largest listing read.
const MAX_LISTING: usize = 1 << 20;
/// Virtual time a flow may take before it is declared stuck.
const FLOW_LIMIT: Duration = Duration::from_secs(120);
/// Stanzas a flow may produce before it is declared runaway.
const MAX_STANZAS: usize = 1000;

/// Romeo's host address on interface 1 (Listing 1).
const ROMEO_HOST: &str = "10.0.1.1:8998";
/// The server-reflexive address the STUN server reports for it (Listing 1).
const ROMEO_SRFLX: &str = "192.0.2.3:45664";
/// Romeo's IPv6 host address on interface 0, added mid-session (Listing 5).
const ROMEO_V6: &str = "[2001:db8::9:1]:9001";
/// Juliet's public host address on interface 0 (Listing 3).
const JULIET_HOST: &str = "192.0.2.1:3478";
/// The gateway's raw UDP address (Listing 11).
const GATEWAY_UDP: &str = "10.1.1.104:13540";
/// The STUN server both use (an address the listings do not show).
const STUN: &str = "198.51.100.1:3478";
/// A second STUN server that never answers: Romeo's gathering stays open until its
/// transactions time out, so his subsequent candidate (Listing 5) comes before his
/// end-of-candidates (RFC 8838 §8.2).
const STUN_SILENT: &str = "198.51.100.2:3478";

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
    /// The listing, as [`Listing::name`].
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

// ------------------------------------------------------------------ comparing

/// Rules of the checker that are statements about the spec's own text, not about stanzas that
/// follow it: the schema of XEP-0371 §13 has no place for the `<gathering-complete/>` that §7
/// puts in the transport, so every end-of-candidates indication "breaks" it (errata.toml lists
/// it for Listing 17). The sessions follow §7.
const SPEC_ONLY_RULES: [&str; 1] = ["schema.transport-content-model"];

/// Attributes the listings leave free: `(element, attribute)`.
const FREE: [(&str, &str); 3] = [
    ("iq", "id"),
    ("candidate", "id"),
    ("candidate", "foundation"),
];

/// Every difference between `spec` and `ours`, attribute by attribute, children by position.
/// Whitespace between elements, attribute order and prefixes do not count.
pub fn diff(listing: &str, spec: &Element, ours: &Element) -> Vec<Difference> {
    let mut out = Vec::new();
    diff_at(listing, spec, ours, &format!("/{}", spec.name()), &mut out);
    out
}

fn diff_at(listing: &str, a: &Element, b: &Element, path: &str, out: &mut Vec<Difference>) {
    let mut push = |path: String, spec: String, produced: String| {
        out.push(Difference {
            listing: listing.to_owned(),
            path,
            spec,
            produced,
        });
    };
    if a.name() != b.name() || a.ns() != b.ns() {
        push(
            path.to_owned(),
            format!("<{} xmlns='{}'>", a.name(), a.ns()),
            format!("<{} xmlns='{}'>", b.name(), b.ns()),
        );
        return;
    }
    let (aa, ba) = (crate::xmlcmp::attrs(a), crate::xmlcmp::attrs(b));
    let names: BTreeSet<&String> = aa.keys().chain(ba.keys()).collect();
    for name in names {
        if FREE.contains(&(a.name(), name.as_str())) {
            continue;
        }
        let (x, y) = (aa.get(name), ba.get(name));
        if x != y {
            let show = |v: Option<&String>| v.map_or_else(|| "(absent)".to_owned(), Clone::clone);
            push(format!("{path}/@{name}"), show(x), show(y));
        }
    }
    let (ta, tb) = (a.text(), b.text());
    if ta.trim() != tb.trim() {
        push(
            format!("{path}/text()"),
            ta.trim().to_owned(),
            tb.trim().to_owned(),
        );
    }
    let ac: Vec<&Element> = a.children().collect();
    let bc: Vec<&Element> = b.children().collect();
    for i in 0..ac.len().max(bc.len()) {
        let named = ac.get(i).or(bc.get(i)).map_or("", |e| e.name());
        let count = |v: &[&Element]| v.iter().filter(|e| e.name() == named).count();
        let before = if i < ac.len() { &ac[..i] } else { &bc[..i] };
        let nth = before.iter().filter(|e| e.name() == named).count() + 1;
        let child = if count(&ac).max(count(&bc)) > 1 {
            format!("{path}/{named}[{nth}]")
        } else {
            format!("{path}/{named}")
        };
        match (ac.get(i), bc.get(i)) {
            (Some(x), Some(y)) => diff_at(listing, x, y, &child, out),
            (Some(x), None) => out.push(Difference {
                listing: listing.to_owned(),
                path: child,
                spec: format!("<{}/>", x.name()),
                produced: "(absent)".into(),
            }),
            (None, Some(y)) => out.push(Difference {
                listing: listing.to_owned(),
                path: child,
                spec: "(absent)".into(),
                produced: format!("<{}/>", y.name()),
            }),
            (None, None) => {}
        }
    }
}

// ------------------------------------------------------------------ the network

fn addr(s: &str) -> SocketAddr {
    // The constants above are valid socket addresses; a test parses each.
    s.parse()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}

/// Two sessions, an in-memory network and the log of stanzas.
struct Net {
    sessions: [Session; 2],
    start: Instant,
    now: Instant,
    log: Vec<Sent>,
    events: [Vec<Event>; 2],
    /// Romeo's NAT: private ↔ public (full cone, RFC 4787 EIM and EIF).
    nat: Option<(SocketAddr, SocketAddr)>,
    /// Whom each STUN server reports: `(server, sender's base) -> mapped`.
    stun: Vec<(SocketAddr, SocketAddr, SocketAddr)>,
}

impl Net {
    fn new(romeo: Session, juliet: Session) -> Net {
        // Virtual time: only differences from this base are used.
        #[allow(clippy::disallowed_methods)]
        let start = Instant::now();
        Net {
            sessions: [romeo, juliet],
            start,
            now: start,
            log: Vec::new(),
            events: [Vec::new(), Vec::new()],
            nat: None,
            stun: Vec::new(),
        }
    }

    fn at(&self) -> Duration {
        self.now - self.start
    }

    /// Delivers everything that is due now, until nothing moves.
    fn settle(&mut self) -> Result<()> {
        for _ in 0..10_000 {
            let mut moved = false;
            for i in 0..2 {
                while let Some(el) = self.sessions[i].poll_stanza() {
                    moved = true;
                    let from = if i == 0 { Side::Romeo } else { Side::Juliet };
                    self.log.push(Sent {
                        from,
                        at: self.at(),
                        stanza: el.clone(),
                    });
                    if self.log.len() > MAX_STANZAS {
                        bail!("more than {MAX_STANZAS} stanzas");
                    }
                    // Stanzas to the gateway's domain or to the peer go to the other session.
                    let now = self.now;
                    if let Err(refused) = self.sessions[1 - i].handle_stanza(now, &el) {
                        bail!(
                            "{:?} refused a stanza of {from:?}: {refused}\n{}",
                            if i == 0 { Side::Juliet } else { Side::Romeo },
                            String::from(&el)
                        );
                    }
                }
                let mut wire = Vec::new();
                while let Some(t) = self.sessions[i].poll_transmit() {
                    wire.push((t.local, t.remote, t.data.to_vec()));
                }
                for (local, remote, data) in wire {
                    moved = true;
                    self.route(i, local, remote, &data);
                }
                while let Some(e) = self.sessions[i].poll_event() {
                    moved = true;
                    self.events[i].push(e);
                }
            }
            if !moved {
                return Ok(());
            }
        }
        bail!("the sessions never settle")
    }

    /// One datagram from session `i`'s socket `local` to `remote`.
    fn route(&mut self, i: usize, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        let now = self.now;
        // Through Romeo's NAT, outbound.
        let source = match self.nat {
            Some((private, public)) if i == 0 && local == private => public,
            _ => local,
        };
        if let Some(&(_, _, mapped)) = self
            .stun
            .iter()
            .find(|(server, base, _)| *server == remote && *base == local)
        {
            if let Some(answer) = ice_netsim::StunServer::answer(data, mapped) {
                let d = Datagram {
                    local,
                    remote,
                    protocol: Protocol::Udp,
                    data: &answer,
                };
                let _ = self.sessions[i].handle_receive(now, d);
            }
            return;
        }
        // Inbound through the NAT to Romeo, or straight to a host address.
        let to_local = match self.nat {
            Some((private, public)) if remote == public => Some((0, private)),
            _ => None,
        }
        .or_else(|| {
            let other = 1 - i;
            self.sessions[other]
                .agent()
                .local_candidates()
                .any(|c| c.addr == remote && c.related.is_none())
                .then_some((other, remote))
        });
        if let Some((to, dest)) = to_local {
            if to == i {
                return;
            }
            let d = Datagram {
                local: dest,
                remote: source,
                protocol: Protocol::Udp,
                data,
            };
            let _ = self.sessions[to].handle_receive(now, d);
        }
    }

    /// Runs timers until `done` holds, or fails after [`FLOW_LIMIT`].
    fn run_until(&mut self, what: &str, done: impl Fn(&Net) -> bool) -> Result<()> {
        self.settle()?;
        while !done(self) {
            if self.at() > FLOW_LIMIT {
                bail!("{what}: not reached in {FLOW_LIMIT:?} of virtual time");
            }
            let next = self.sessions.iter().filter_map(Session::poll_timeout).min();
            self.now = next
                .unwrap_or(self.now + Duration::from_millis(10))
                .max(self.now + Duration::from_millis(1));
            for s in &mut self.sessions {
                s.handle_timeout(self.now);
            }
            self.settle()?;
        }
        Ok(())
    }

    /// Whether session `i` reported an event matching `pred`.
    fn saw(&self, i: usize, pred: impl Fn(&Event) -> bool) -> bool {
        self.events[i].iter().any(pred)
    }

    /// The index in the log of the first stanza of `from` after `after` matching `pred`.
    fn find(&self, from: Side, after: usize, pred: impl Fn(&Element) -> bool) -> Option<usize> {
        self.log
            .iter()
            .enumerate()
            .skip(after)
            .find(|(_, s)| s.from == from && pred(&s.stanza))
            .map(|(i, _)| i)
    }

    /// The index of the result answering the request at `request`.
    fn result_to(&self, request: usize) -> Option<usize> {
        let req = self.log.get(request)?;
        let id = req.stanza.attr("id")?;
        self.find(
            if req.from == Side::Romeo {
                Side::Juliet
            } else {
                Side::Romeo
            },
            request,
            |e| e.attr("type") == Some("result") && e.attr("id") == Some(id),
        )
    }
}

fn jingle(e: &Element) -> Option<&Element> {
    e.get_child("jingle", ns::JINGLE)
}

fn action(e: &Element) -> Option<&str> {
    jingle(e).and_then(|j| j.attr("action"))
}

/// The transport element of the first content.
fn transport(e: &Element) -> Option<&Element> {
    jingle(e)?
        .children()
        .find(|c| c.name() == "content")?
        .children()
        .find(|c| c.name() == "transport")
}

/// The `<description/>` of the first content of a listing: the application's part.
fn description(spec: &Element) -> Option<Element> {
    jingle(spec)?
        .children()
        .find(|c| c.name() == "content")?
        .children()
        .find(|c| c.name() == "description")
        .cloned()
}

/// The content's name in a listing.
fn content_name(spec: &Element) -> Option<String> {
    jingle(spec)?
        .children()
        .find(|c| c.name() == "content")?
        .attr("name")
        .map(str::to_owned)
}

/// The transport's credentials in a listing.
fn credentials(spec: &Element) -> Option<(String, String)> {
    let t = transport(spec)?;
    Some((t.attr("ufrag")?.to_owned(), t.attr("pwd")?.to_owned()))
}

fn spec_of<'a>(specs: &'a [(&Listing, Element)], number: u32) -> Result<&'a Element> {
    specs
        .iter()
        .find(|(l, _)| l.number == number)
        .map(|(_, e)| e)
        .ok_or_else(|| anyhow!("the manifest has no XEP-0371 listing {number} in this flow"))
}

/// XEP-0371 §5.3, footnote to `priority`: the local preference of network 0 is 4096, of
/// network 1 2048, of network 2 1024. The replay's interfaces are numbered as the listings
/// number them (Romeo's IPv4 address on 1, everything else on 0), and the agent's local
/// preference follows the footnote, so that the priorities are the ones it stipulates.
fn footnote_local_preference(input: LocalPreferenceInput) -> u16 {
    if input.ip == addr(ROMEO_HOST).ip() {
        2048
    } else {
        4096
    }
}

fn config(content: &str) -> Config {
    let mut c = Config::default();
    c.content_name = content.to_owned();
    c.ice.local_preference = footnote_local_preference;
    c
}

fn jid(s: &str) -> Result<xep0371_model::jid::Jid> {
    s.parse().map_err(|e| anyhow!("JID {s}: {e}"))
}

fn ice_features(gateway: bool) -> IceFeatures {
    IceFeatures::from_features(&disco_features(gateway))
}

/// What Juliet's client (or the SIP gateway) advertises: the stack's features, the SDP
/// offer/answer feature for the gateway (XEP-0371 §8.2), and the application's RTP features.
fn disco_features(gateway: bool) -> Vec<&'static str> {
    let mut f = Vec::new();
    if gateway {
        f.push(ns::RFC3264);
    }
    f.extend(IceFeatures::advertised());
    f.extend([
        "urn:xmpp:jingle:apps:rtp:1",
        "urn:xmpp:jingle:apps:rtp:audio",
        "urn:xmpp:jingle:apps:rtp:video",
    ]);
    f
}

type Played = (Vec<Sent>, Vec<(u32, usize)>);

/// The listings that a produced stanza plays: `(listing, index in the log)`.
fn played<const N: usize>(matched: [(u32, Option<usize>); N]) -> Vec<(u32, usize)> {
    matched
        .into_iter()
        .filter_map(|(l, i)| i.map(|i| (l, i)))
        .collect()
}

/// Romeo's session: he shares presence with Juliet (XEP-0371 §11.1), her client advertises
/// ice:0 (Listing 19), and he speaks with the listing's credentials.
fn romeo(mut cfg: Config, seed: u8, ufrag: &str, pwd: &str) -> Result<Session> {
    cfg.allowance = Some(Allowance::PresenceSubscription);
    let mut s = Session::new(
        cfg,
        Role::Initiator,
        SID,
        jid(ROMEO)?,
        jid(JULIET)?,
        [seed; 32],
    );
    s.set_peer_features(ice_features(false));
    s.set_local_credentials(ufrag, pwd)?;
    Ok(s)
}

/// Listings 1 to 8 and 17: initiation with trickled candidates, the in-use notification, a
/// subsequent candidate, a restart, and the responder's end-of-candidates.
fn play_session(specs: &[(&Listing, Element)]) -> Result<Played> {
    let l1 = spec_of(specs, 1)?;
    let l3 = spec_of(specs, 3)?;
    let l7 = spec_of(specs, 7)?;
    let content = content_name(l1).context("Listing 1 has no content name")?;
    let (ru, rp) = credentials(l1).context("Listing 1 has no credentials")?;
    let (ju, jp) = credentials(l3).context("Listing 3 has no credentials")?;
    let (restart_u, restart_p) = credentials(l7).context("Listing 7 has no credentials")?;

    // Romeo tells the in-use pair (§5.8 MAY).
    let mut rc = config(&content);
    rc.always_notify_remote_candidates = true;
    let romeo = romeo(rc, 71, &ru, &rp)?;
    let juliet = Session::new(
        config(&content),
        Role::Responder,
        SID,
        jid(JULIET)?,
        jid(ROMEO)?,
        [72; 32],
    );
    let mut net = Net::new(romeo, juliet);
    net.sessions[1].set_local_credentials(&ju, &jp)?;
    net.nat = Some((addr(ROMEO_HOST), addr(ROMEO_SRFLX)));
    net.stun = vec![
        (addr(STUN), addr(ROMEO_HOST), addr(ROMEO_SRFLX)),
        // Juliet is on a public address: the server sees her host address, a redundant
        // server-reflexive candidate (RFC 8445 §5.1.3) that ends her gathering.
        (addr(STUN), addr(JULIET_HOST), addr(JULIET_HOST)),
    ];
    let now = net.now;
    net.sessions[0].add_local_host_on_network(now, 1, addr(ROMEO_HOST), 1)?;
    net.sessions[0].add_stun_server(addr(STUN));
    net.sessions[0].add_stun_server(addr(STUN_SILENT));
    net.sessions[1].add_local_host(now, 1, addr(JULIET_HOST))?;
    net.sessions[1].add_stun_server(addr(STUN));

    // Listing 1: Romeo offers once his server-reflexive candidate is known.
    net.sessions[0].gather(now);
    net.run_until("Romeo's server-reflexive candidate", |n| {
        n.saw(0, |e| {
            matches!(e, Event::Ice(IceEvent::LocalCandidate(c))
                if c.related.is_some())
        })
    })?;
    let now = net.now;
    net.sessions[0].initiate(now, description(l1))?;
    net.settle()?;
    // Listing 3: Juliet's user accepts when it rings.
    net.run_until("session-initiate at Juliet", |n| {
        n.saw(1, |e| matches!(e, Event::Initiated { .. }))
    })?;
    let now = net.now;
    net.sessions[1].accept(now, description(l3))?;
    // Listing 4: nomination, then the remote-candidate notification.
    net.run_until("ICE completed on both sides", |n| {
        n.sessions.iter().all(|s| s.state() == State::Completed)
            && n.find(Side::Romeo, 0, |e| {
                transport(e).is_some_and(|t| t.children().any(|c| c.name() == "remote-candidate"))
            })
            .is_some()
    })?;
    // Listing 5: a subsequent candidate (an IPv6 interface comes up).
    let now = net.now;
    net.sessions[0].add_local_host(now, 1, addr(ROMEO_V6))?;
    let v6 = addr(ROMEO_V6).ip().to_string();
    net.run_until("the subsequent candidate acknowledged", |n| {
        n.find(Side::Romeo, 0, |e| has_candidate_ip(e, &v6))
            .and_then(|i| n.result_to(i))
            .is_some()
    })?;
    // Listing 7: Romeo restarts with the listing's credentials.
    let now = net.now;
    net.sessions[0].restart_with_credentials(now, &restart_u, &restart_p)?;
    net.run_until("the restart completed", |n| {
        n.sessions.iter().all(|s| s.agent().generation() == 1)
            && n.sessions.iter().all(|s| s.state() == State::Completed)
    })?;
    // Romeo's silent STUN server times out: his gathering ends too.
    net.run_until("Romeo's end-of-candidates", |n| {
        n.find(Side::Romeo, 0, has_gathering_complete).is_some()
    })?;

    let n = &net;
    let initiate = n.find(Side::Romeo, 0, |e| action(e) == Some("session-initiate"));
    let accept = n.find(Side::Juliet, 0, |e| action(e) == Some("session-accept"));
    let in_use = n.find(Side::Romeo, 0, |e| {
        transport(e).is_some_and(|t| t.children().any(|c| c.name() == "remote-candidate"))
    });
    let subsequent = n.find(Side::Romeo, 0, |e| has_candidate_ip(e, &v6));
    let restart = n.find(Side::Romeo, 0, |e| {
        transport(e).and_then(|t| t.attr("ufrag")) == Some(restart_u.as_str())
    });
    let eoc = n.find(Side::Juliet, 0, |e| {
        action(e) == Some("transport-info") && has_gathering_complete(e)
    });
    let matched = [
        (1, initiate),
        (2, initiate.and_then(|i| n.result_to(i))),
        (3, accept),
        (4, in_use),
        (5, subsequent),
        (6, subsequent.and_then(|i| n.result_to(i))),
        (7, restart),
        (8, restart.and_then(|i| n.result_to(i))),
        (17, eoc),
    ];
    Ok((net.log, played(matched)))
}

fn has_candidate_ip(e: &Element, ip: &str) -> bool {
    transport(e).is_some_and(|t| {
        t.children()
            .any(|c| c.name() == "candidate" && c.attr("ip") == Some(ip))
    })
}

fn has_gathering_complete(e: &Element) -> bool {
    transport(e).is_some_and(|t| t.children().any(|c| c.name() == "gathering-complete"))
}

/// Listings 9 to 16: a gateway-like responder falls back to raw UDP (XEP-0371 §6).
fn play_fallback(specs: &[(&Listing, Element)]) -> Result<Played> {
    let l9 = spec_of(specs, 9)?;
    let l15 = spec_of(specs, 15)?;
    let content = content_name(l9).context("Listing 9 has no content name")?;
    let (ru, rp) = credentials(l9).context("Listing 9 has no credentials")?;
    let romeo = romeo(config(&content), 73, &ru, &rp)?;
    // The gateway speaks for Juliet; it may name its media address at once (§11.1 does not
    // protect a gateway's address).
    let mut gc = config(&content);
    gc.allowance = Some(Allowance::AllowList);
    let gateway = Session::new(
        gc,
        Role::Responder,
        SID,
        jid(JULIET)?,
        jid(ROMEO)?,
        [74; 32],
    );
    let mut net = Net::new(romeo, gateway);
    net.nat = Some((addr(ROMEO_HOST), addr(ROMEO_SRFLX)));
    net.stun = vec![(addr(STUN), addr(ROMEO_HOST), addr(ROMEO_SRFLX))];
    let now = net.now;
    net.sessions[0].add_local_host_on_network(now, 1, addr(ROMEO_HOST), 1)?;
    net.sessions[0].add_stun_server(addr(STUN));
    net.sessions[0].gather(now);
    net.run_until("Romeo's gathering", |n| {
        n.saw(0, |e| matches!(e, Event::Ice(IceEvent::GatheringComplete)))
    })?;
    let now = net.now;
    net.sessions[0].initiate(now, description(l9))?;
    // Listing 11: the gateway cannot do ICE and replaces the transport.
    net.run_until("session-initiate at the gateway", |n| {
        n.saw(1, |e| matches!(e, Event::Initiated { .. }))
    })?;
    let now = net.now;
    net.sessions[1].replace_with_raw_udp(now, addr(GATEWAY_UDP))?;
    // Listing 15: once Romeo accepted raw UDP, the gateway accepts the session.
    net.run_until("transport-accept at the gateway", |n| {
        n.saw(1, |e| matches!(e, Event::FellBackToRawUdp { .. }))
    })?;
    let now = net.now;
    net.sessions[1].accept(now, description(l15))?;
    net.run_until("session-accept acknowledged", |n| {
        n.find(Side::Juliet, 0, |e| action(e) == Some("session-accept"))
            .and_then(|i| n.result_to(i))
            .is_some()
    })?;

    let n = &net;
    let initiate = n.find(Side::Romeo, 0, |e| action(e) == Some("session-initiate"));
    let replace = n.find(Side::Juliet, 0, |e| action(e) == Some("transport-replace"));
    let t_accept = n.find(Side::Romeo, 0, |e| action(e) == Some("transport-accept"));
    let accept = n.find(Side::Juliet, 0, |e| action(e) == Some("session-accept"));
    let matched = [
        (9, initiate),
        (10, initiate.and_then(|i| n.result_to(i))),
        (11, replace),
        (12, replace.and_then(|i| n.result_to(i))),
        (13, t_accept),
        (14, t_accept.and_then(|i| n.result_to(i))),
        (15, accept),
        (16, accept.and_then(|i| n.result_to(i))),
    ];
    Ok((net.log, played(matched)))
}

/// Listings 18 and 19 (a client), 20 and 21 (a SIP gateway, with `urn:ietf:rfc:3264`): the
/// disco#info request and the answer built from the advertised features.
fn play_disco(gateway: bool) -> Result<Played> {
    let (to, first) = if gateway { (GATEWAY, 20) } else { (JULIET, 18) };
    // The ids are free values; these are drawn like any other.
    let request = Iq::get(
        Some(jid(ROMEO)?),
        Some(jid(to)?),
        if gateway { "d2" } else { "d1" },
        DiscoInfo::default(),
    );
    let answer_info = DiscoInfo {
        features: disco_features(gateway)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        ..DiscoInfo::default()
    };
    let mut answer = request.result_reply();
    answer.payload = xep0371_model::IqPayload::Result(Some(Element::from(&answer_info)));
    // The answer configures Romeo's session: the namespace, and batching for the gateway.
    let features = IceFeatures::from_features(&answer_info.features);
    if features.preferred_namespace() != Some(xep0371_model::IceNamespace::Ice0)
        || features.rfc3264 != gateway
    {
        bail!("the advertised features do not select ice:0 (and rfc:3264 for the gateway)");
    }
    let log = vec![
        Sent {
            from: Side::Romeo,
            at: Duration::ZERO,
            stanza: Element::from(&request),
        },
        Sent {
            from: Side::Juliet,
            at: Duration::ZERO,
            stanza: Element::from(&answer),
        },
    ];
    Ok((log, vec![(first, 0), (first + 1, 1)]))
}

// ------------------------------------------------------------------ reporting

/// The progress line of a flow replay (with the failure's details under it).
pub fn progress_line(o: &FlowOutcome) -> String {
    use std::fmt::Write as _;
    let status = if o.passed() { "ok  " } else { "FAIL" };
    let listings: Vec<String> = o
        .steps
        .iter()
        .map(|s| s.listing.trim_start_matches("XEP-0371 ").to_owned())
        .collect();
    let differences = o.differences().count();
    let mut line = format!(
        "flow    {:<13} {status} XEP-0371 {}: {} stanzas, {differences} differences ({} explained), {} rules broken",
        o.flow,
        listings.join(" "),
        o.stanzas,
        differences - o.unexplained.len(),
        o.findings.len()
    );
    if let Some(r) = o.reason() {
        let _ = write!(line, "\n    reason: {r}");
        for d in o.unexplained.iter().skip(1) {
            let _ = write!(
                line,
                "\n    also: {} {}: listing {:?}, produced {:?}",
                d.listing, d.path, d.spec, d.produced
            );
        }
        for f in &o.findings {
            let _ = write!(
                line,
                "\n    rule {} ({}): {} {}",
                f.rule, f.section, f.subject, f.message
            );
        }
        let _ = write!(
            line,
            "\n    replay: cargo xtask conformance --no-topologies --filter 'flow:{}'",
            o.flow
        );
    }
    line
}

/// The `--json` line of a flow replay (`kind` = `flow`).
pub fn json_line(o: &FlowOutcome) -> String {
    serde_json::json!({
        "kind": "flow",
        "name": format!("flow:{}", o.flow),
        "passed": o.passed(),
        "listings": o.steps.iter().map(|s| &s.listing).collect::<Vec<_>>(),
        "stanzas": o.stanzas,
        "steps": o.steps,
        "unexplained": o.unexplained,
        "stale": o.stale,
        "findings": o.findings,
        "reason": o.reason(),
    })
    .to_string()
}

/// The summary line of the flow replays.
pub fn summary(outcomes: &[FlowOutcome]) -> String {
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    format!(
        "  flows: {} passed, {failed} failed\n",
        outcomes.len() - failed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse() {
        for a in [
            ROMEO_HOST,
            ROMEO_SRFLX,
            ROMEO_V6,
            JULIET_HOST,
            GATEWAY_UDP,
            STUN,
            STUN_SILENT,
        ] {
            assert!(a.parse::<SocketAddr>().is_ok(), "{a}");
        }
    }

    fn el(xml: &str) -> Element {
        parse_element(xml, 1 << 16).unwrap()
    }

    #[test]
    fn diff_finds_every_difference_but_not_free_values() {
        let spec = el(
            "<iq xmlns='jabber:client' id='a' type='set'><t xmlns='n' u='x'>\
            <candidate id='c1' foundation='1' ip='10.0.0.1' port='1'/>\
            <candidate id='c2' foundation='2' ip='10.0.0.2' port='2'/></t></iq>",
        );
        let same = el(
            "<iq xmlns='jabber:client' type='set' id='b'>\n <t xmlns='n' u='x'>\
            <candidate id='z' foundation='9' ip='10.0.0.1' port='1'/>\
            <candidate foundation='8' id='y' ip='10.0.0.2' port='2'/></t></iq>",
        );
        assert_eq!(diff("L", &spec, &same), vec![]);
        let other = el("<iq xmlns='jabber:client' id='a' type='set'><t xmlns='n'>\
            <candidate id='c1' foundation='1' ip='10.0.0.1' port='7'/></t></iq>");
        let d: Vec<(String, String, String)> = diff("L", &spec, &other)
            .into_iter()
            .map(|d| (d.path, d.spec, d.produced))
            .collect();
        assert_eq!(
            d,
            vec![
                ("/iq/t/@u".into(), "x".into(), "(absent)".into()),
                ("/iq/t/candidate[1]/@port".into(), "1".into(), "7".into()),
                (
                    "/iq/t/candidate[2]".into(),
                    "<candidate/>".into(),
                    "(absent)".into()
                ),
            ]
        );
    }
}
