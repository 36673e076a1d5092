//! The normative rules of XEP-0371, XEP-0166, XEP-0279 and the RFCs they cite, checked on the
//! listings of one flow in order.
//!
//! The checker reads attributes from the raw elements, not from the model's typed values, so that
//! a value the model rejects (a priority beyond 32 bits, say) does not hide the other rules the
//! same stanza breaks. The model's own strict and lenient readings are reported separately by
//! [`crate::listings`].

use std::collections::BTreeMap;

use serde::Serialize;
use xep0371_model::minidom::Element;
use xep0371_model::{CandidateType, compute_priority, ns};

/// One rule broken by one listing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    /// `"XEP-0371 #5"`.
    pub listing: String,
    /// Stable rule id, e.g. `candidate.priority-formula`.
    pub rule: String,
    /// Where the rule is written, e.g. `RFC 8445 §5.1.2.1`.
    pub section: String,
    /// What in the listing breaks it, e.g. `candidate id='m3110wc4nd'`.
    pub subject: String,
    /// What is wrong.
    pub message: String,
    /// What a correct value would be, when one can be stated.
    pub correct: Option<String>,
}

/// A candidate as its attributes read, tolerant of any value.
#[derive(Debug, Clone)]
struct RawCandidate {
    component: Option<u64>,
    foundation: String,
    generation: Option<u64>,
    id: Option<String>,
    ip: String,
    network: Option<u64>,
    port: String,
    priority: Option<u64>,
    protocol: String,
    rel_addr: Option<String>,
    type_: Option<CandidateType>,
}

impl RawCandidate {
    fn read(el: &Element) -> Self {
        let num = |a: &str| el.attr(a).and_then(|v| v.parse::<u64>().ok());
        let s = |a: &str| el.attr(a).unwrap_or_default().to_owned();
        RawCandidate {
            component: num("component"),
            foundation: s("foundation"),
            generation: num("generation"),
            id: el.attr("id").map(str::to_owned),
            ip: s("ip"),
            network: num("network"),
            port: s("port"),
            priority: num("priority"),
            protocol: s("protocol").to_ascii_lowercase(),
            rel_addr: el.attr("rel-addr").map(str::to_owned),
            type_: el.attr("type").and_then(|t| t.parse().ok()),
        }
    }

    fn subject(&self) -> String {
        match &self.id {
            Some(id) => format!("candidate id='{id}'"),
            None => format!("candidate {}:{}", self.ip, self.port),
        }
    }

    /// The base address as far as the candidate tells it (RFC 8445 §5.1.1.3): its own address
    /// for a host candidate, the related address for the others.
    fn base(&self) -> Option<&str> {
        match self.type_ {
            Some(CandidateType::Host) => Some(&self.ip),
            _ => self.rel_addr.as_deref(),
        }
    }

    fn identity(&self) -> (Option<u64>, &str, &str, &str, Option<u64>) {
        (
            self.component,
            &self.ip,
            &self.port,
            &self.protocol,
            self.generation,
        )
    }
}

#[derive(Debug, Default)]
struct Party {
    credentials: Option<(String, String)>,
    generation: u64,
    offered: Vec<RawCandidate>,
    foundations: BTreeMap<String, RawCandidate>,
}

/// The state of one flow: what earlier listings established.
#[derive(Debug, Default)]
pub struct FlowChecker {
    sid: Option<String>,
    initiator: Option<String>,
    contents: Vec<(String, String)>,
    parties: BTreeMap<String, Party>,
    credential_owner: BTreeMap<(String, String), String>,
    ids: BTreeMap<String, (String, RawCandidate)>,
    pending: Vec<(String, String, String)>,
}

struct Out<'a> {
    listing: &'a str,
    findings: Vec<Finding>,
}

impl Out<'_> {
    fn push(
        &mut self,
        rule: &str,
        section: &str,
        subject: String,
        message: String,
        correct: Option<String>,
    ) {
        self.findings.push(Finding {
            listing: self.listing.to_owned(),
            rule: rule.to_owned(),
            section: section.to_owned(),
            subject,
            message,
            correct,
        });
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// XEP-0371 §5.3, footnote to `priority`: "The local preference for network 0 is stipulated to
/// be 4096, for network 1 2048, and for network 2 1024."
fn stipulated_local_preference(network: u64) -> Option<u16> {
    match network {
        0 => Some(4096),
        1 => Some(2048),
        2 => Some(1024),
        _ => None,
    }
}

impl FlowChecker {
    /// A checker for a new flow.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks one stanza of the flow. `spec` scopes the rules that are statements about a
    /// document's own examples (the priority footnote of XEP-0371 §5.3).
    pub fn check(&mut self, listing: &str, spec: &str, iq: &Element) -> Vec<Finding> {
        let mut out = Out {
            listing,
            findings: Vec::new(),
        };
        let from = iq.attr("from").unwrap_or_default().to_owned();
        let to = iq.attr("to").unwrap_or_default().to_owned();
        let id = iq.attr("id").unwrap_or_default().to_owned();
        match iq.attr("type") {
            Some("get" | "set") => self.pending.push((id, from.clone(), to)),
            Some("result" | "error") => self.check_reply(&mut out, &id, &from, &to),
            _ => {}
        }
        for payload in iq.children() {
            if payload.is("jingle", ns::JINGLE) {
                self.check_jingle(&mut out, spec, &from, payload);
            } else if payload.is("query", ns::DISCO_INFO) {
                check_disco(&mut out, payload);
            }
        }
        out.findings
    }

    // RFC 6120 §8.2.3: a result or error answers an outstanding request with the same id,
    // from the entity the request was sent to. An absent address means the account itself.
    fn check_reply(&mut self, out: &mut Out<'_>, id: &str, from: &str, to: &str) {
        let matches = |(rid, rfrom, rto): &(String, String, String)| {
            rid == id
                && (rto.is_empty() || from.is_empty() || rto == from)
                && (rfrom.is_empty() || to.is_empty() || rfrom == to)
        };
        if let Some(i) = self.pending.iter().position(matches) {
            self.pending.remove(i);
        } else {
            let known: Vec<_> = self.pending.iter().map(|(i, _, _)| i.as_str()).collect();
            out.push(
                "iq.reply-matches",
                "RFC 6120 §8.2.3",
                format!("iq id='{id}'"),
                "the reply answers no outstanding request of this flow (same id, addresses swapped)".into(),
                (!known.is_empty()).then(|| format!("one of the outstanding ids: {}", known.join(", "))),
            );
        }
    }

    fn check_jingle(&mut self, out: &mut Out<'_>, spec: &str, from: &str, jingle: &Element) {
        let action = jingle.attr("action").unwrap_or_default();
        let sid = jingle.attr("sid").unwrap_or_default();
        match &self.sid {
            None if action == "session-initiate" => {
                self.sid = Some(sid.to_owned());
                self.initiator = Some(jingle.attr("initiator").unwrap_or(from).to_owned());
            }
            Some(known) if known != sid => out.push(
                "jingle.sid-continuity",
                "XEP-0166 §7.1",
                format!("jingle sid='{sid}'"),
                "every action of a session carries the sid of its session-initiate".into(),
                Some(format!("sid='{known}'")),
            ),
            _ => {}
        }
        if let (Some(known), Some(given)) = (&self.initiator, jingle.attr("initiator")) {
            if known != given {
                out.push(
                    "jingle.initiator-continuity",
                    "XEP-0166 §7.1",
                    format!("jingle initiator='{given}'"),
                    "the initiator attribute names the party that sent session-initiate".into(),
                    Some(format!("initiator='{known}'")),
                );
            }
        }
        for content in jingle.children().filter(|c| c.is("content", ns::JINGLE)) {
            let key = (
                content.attr("creator").unwrap_or_default().to_owned(),
                content.attr("name").unwrap_or_default().to_owned(),
            );
            if matches!(action, "session-initiate" | "content-add") {
                if !self.contents.contains(&key) {
                    self.contents.push(key);
                }
            } else if !self.contents.is_empty() && !self.contents.contains(&key) {
                let known: Vec<_> = self
                    .contents
                    .iter()
                    .map(|(c, n)| format!("creator='{c}' name='{n}'"))
                    .collect();
                out.push(
                    "jingle.content-known",
                    "XEP-0166 §7.3",
                    format!("content creator='{}' name='{}'", key.0, key.1),
                    format!("{action} names a content the session does not have (creator and name identify a content)"),
                    Some(known.join(" or ")),
                );
            }
            for transport in content.children().filter(|c| c.name() == "transport") {
                let tns = transport.ns();
                if tns == ns::JINGLE_ICE || tns == ns::JINGLE_ICE_UDP {
                    self.check_ice_transport(out, spec, from, transport);
                }
            }
        }
    }

    fn check_ice_transport(&mut self, out: &mut Out<'_>, spec: &str, from: &str, t: &Element) {
        let tns = t.ns();
        // XEP-0371 §13: the transport's content model is a choice of candidate+,
        // remote-candidate+ or ##other*; gathering-complete is declared globally but never
        // referenced from it, although §7 puts it inside the transport.
        if tns == ns::JINGLE_ICE
            && t.children()
                .any(|c| c.is("gathering-complete", ns::JINGLE_ICE))
        {
            out.push(
                "schema.transport-content-model",
                "XEP-0371 §13 (schema) vs §7",
                "transport/gathering-complete".into(),
                "the schema's <transport/> content model has no place for <gathering-complete/>, which §7 puts there (alone or with candidates)".into(),
                Some("add <xs:element ref='gathering-complete' minOccurs='0'/> to the transport's content model, after the candidates".into()),
            );
        }

        let credentials = match (t.attr("ufrag"), t.attr("pwd")) {
            (Some(u), Some(p)) => Some((u.to_owned(), p.to_owned())),
            _ => None,
        };
        let party = self.parties.entry(from.to_owned()).or_default();
        let mut foreign = false;
        if let Some(creds) = &credentials {
            // XEP-0371 §5.3: "The values for these attributes are separately generated for both
            // the initiator and the responder"; §5.6, footnote: each party's checks use the
            // other party's ufrag and pwd.
            match self.credential_owner.get(creds) {
                Some(owner) if owner != from => {
                    foreign = true;
                    out.push(
                        "transport.credentials-owner",
                        "XEP-0371 §5.3, §5.6",
                        format!("transport ufrag='{}' pwd='{}'", creds.0, creds.1),
                        format!("{from} sends the credentials that {owner} generated"),
                        Some(match &party.credentials {
                            Some((u, p)) => format!("ufrag='{u}' pwd='{p}' (the sender's own)"),
                            None => "the sender's own ufrag and pwd".into(),
                        }),
                    );
                }
                Some(_) => {}
                None => {
                    self.credential_owner.insert(creds.clone(), from.to_owned());
                }
            }
        }

        let candidates: Vec<RawCandidate> = t
            .children()
            .filter(|c| c.is("candidate", tns.as_str()))
            .map(RawCandidate::read)
            .collect();
        // XEP-0371 §5.10: a restart is a candidate with a greater generation, and "it MUST
        // generate new values for the 'pwd' and 'ufrag' attributes".
        let max_generation = candidates.iter().filter_map(|c| c.generation).max();
        if let Some(g) = max_generation {
            if g > party.generation {
                if credentials.is_some() && credentials == party.credentials {
                    out.push(
                        "transport.restart-credentials",
                        "XEP-0371 §5.10",
                        format!("transport generation {g}"),
                        "a candidate of a new generation comes with the previous ufrag and pwd"
                            .into(),
                        Some("new ufrag and pwd values".into()),
                    );
                }
                party.generation = g;
            }
        }
        if credentials.is_some() && !foreign {
            party.credentials = credentials;
        }

        for c in &candidates {
            if spec == "XEP-0371" {
                check_priority_footnote(out, c);
            }
            // RFC 8445 §5.1.1.3: the foundation is the same for candidates with the same type,
            // base IP address, transport protocol and server, and different otherwise.
            match party.foundations.get(&c.foundation) {
                Some(first) => {
                    let bases_differ =
                        matches!((first.base(), c.base()), (Some(a), Some(b)) if a != b);
                    if first.type_ != c.type_ || first.protocol != c.protocol || bases_differ {
                        let why = if first.type_ != c.type_ {
                            format!("type {} vs {}", opt(c.type_), opt(first.type_))
                        } else if first.protocol != c.protocol {
                            format!("protocol {} vs {}", c.protocol, first.protocol)
                        } else {
                            format!(
                                "base {} vs {}",
                                c.base().unwrap_or("?"),
                                first.base().unwrap_or("?")
                            )
                        };
                        out.push(
                            "candidate.foundation",
                            "RFC 8445 §5.1.1.3",
                            c.subject(),
                            format!(
                                "foundation '{}' is already that of {} ({why}); candidates that differ in type, base or protocol have different foundations",
                                c.foundation,
                                first.subject()
                            ),
                            Some("a foundation of its own".into()),
                        );
                    }
                }
                None => {
                    party.foundations.insert(c.foundation.clone(), c.clone());
                }
            }
            // XEP-0371 §5.3: id is "a unique identifier for the candidate".
            if let Some(id) = &c.id {
                match self.ids.get(id) {
                    Some((owner, first)) if first.identity() != c.identity() || owner != from => out.push(
                        "candidate.id-unique",
                        "XEP-0371 §5.3",
                        c.subject(),
                        format!("id '{id}' already identifies another candidate ({}:{}, generation {})", first.ip, first.port, opt(first.generation)),
                        Some("an id of its own".into()),
                    ),
                    Some(_) => {}
                    None => {
                        self.ids.insert(id.clone(), (from.to_owned(), c.clone()));
                    }
                }
            }
            party.offered.push(c.clone());
        }

        // XEP-0371 §5.8: remote-candidate names "the actual candidates at R that were selected",
        // so each must be one the peer offered.
        for rc in t
            .children()
            .filter(|c| c.is("remote-candidate", tns.as_str()))
        {
            let (component, ip, port) = (
                rc.attr("component").and_then(|v| v.parse::<u64>().ok()),
                rc.attr("ip").unwrap_or_default(),
                rc.attr("port").unwrap_or_default(),
            );
            let peer_offers: Vec<&RawCandidate> = self
                .parties
                .iter()
                .filter(|(p, _)| p.as_str() != from)
                .flat_map(|(_, s)| &s.offered)
                .collect();
            let found = peer_offers
                .iter()
                .any(|c| c.component == component && c.ip == ip && c.port == port);
            if !found {
                let same_component: Vec<String> = peer_offers
                    .iter()
                    .filter(|c| c.component == component)
                    .map(|c| format!("{}:{}", c.ip, c.port))
                    .collect();
                let correct = if same_component.is_empty() {
                    format!(
                        "none: the peer offered no candidate for component {}",
                        component.unwrap_or(0)
                    )
                } else {
                    format!(
                        "one of the peer's candidates for component {}: {}",
                        component.unwrap_or(0),
                        same_component.join(", ")
                    )
                };
                out.push(
                    "transport.remote-candidate-offered",
                    "XEP-0371 §5.8",
                    format!(
                        "remote-candidate component='{}' {ip}:{port}",
                        component.unwrap_or(0)
                    ),
                    "the remote candidate is not one the peer offered in this session".into(),
                    Some(correct),
                );
            }
        }
    }
}

fn check_priority_footnote(out: &mut Out<'_>, c: &RawCandidate) {
    let (Some(type_), Some(network), Some(component), Some(priority)) =
        (c.type_, c.network, c.component, c.priority)
    else {
        return;
    };
    let (Some(local), Ok(component)) = (
        stipulated_local_preference(network),
        u8::try_from(component),
    ) else {
        return;
    };
    let expected = compute_priority(type_.xep0371_type_preference(), local, component);
    if u64::from(expected) != priority {
        out.push(
            "candidate.priority-formula",
            "XEP-0371 §5.3 (footnote), RFC 8445 §5.1.2.1",
            c.subject(),
            format!(
                "priority {priority} is not 2^24*{} + 2^8*{local} + (256-{component}) for a {type_} candidate on network {network}",
                type_.xep0371_type_preference()
            ),
            Some(format!("priority='{expected}'")),
        );
    }
}

// XEP-0166 §11: an entity supporting Jingle MUST advertise urn:xmpp:jingle:1 along with its
// transport methods.
fn check_disco(out: &mut Out<'_>, query: &Element) {
    let features: Vec<&str> = query.children().filter_map(|f| f.attr("var")).collect();
    let ice = features
        .iter()
        .any(|f| *f == ns::JINGLE_ICE || *f == ns::JINGLE_ICE_UDP);
    if ice && !features.contains(&ns::JINGLE) {
        out.push(
            "disco.jingle-feature",
            "XEP-0166 §11",
            "query".into(),
            "an ICE transport feature is advertised without urn:xmpp:jingle:1".into(),
            Some(format!("add <feature var='{}'/>", ns::JINGLE)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xep0371_model::parse_element;

    fn el(s: &str) -> Element {
        parse_element(s, 1 << 20).unwrap()
    }

    const INITIATE: &str = "<iq from='r@x/a' to='j@x/b' id='1' type='set'><jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' initiator='r@x/a' sid='s1'><content creator='initiator' name='c'><transport xmlns='urn:xmpp:jingle:transports:ice:0' ufrag='aaaa' pwd='aaaaaaaaaaaaaaaaaaaaaa'><candidate component='1' foundation='F1' generation='0' id='i1' ip='10.0.0.1' network='0' port='1' priority='2114978047' protocol='udp' type='host'/></transport></content></jingle></iq>";

    #[test]
    fn a_consistent_flow_has_no_findings() {
        let mut f = FlowChecker::new();
        assert_eq!(f.check("t#1", "XEP-0371", &el(INITIATE)), vec![]);
        assert_eq!(
            f.check(
                "t#2",
                "XEP-0371",
                &el("<iq from='j@x/b' to='r@x/a' id='1' type='result'/>")
            ),
            vec![]
        );
    }

    #[test]
    fn each_rule_fires_on_its_violation() {
        let mut f = FlowChecker::new();
        let bad_initiate = INITIATE.replace("priority='2114978047'", "priority='2130706431'");
        let rules: Vec<_> = f
            .check("t#1", "XEP-0371", &el(&bad_initiate))
            .into_iter()
            .map(|x| x.rule)
            .collect();
        assert_eq!(rules, ["candidate.priority-formula"]);
        // Juliet reuses Romeo's credentials, a foundation for another base, an id, a content
        // name and a sid that do not exist, and a remote candidate nobody offered.
        let info = "<iq from='j@x/b' to='r@x/a' id='2' type='set'><jingle xmlns='urn:xmpp:jingle:1' action='transport-info' sid='s2'><content creator='initiator' name='d'><transport xmlns='urn:xmpp:jingle:transports:ice:0' ufrag='aaaa' pwd='aaaaaaaaaaaaaaaaaaaaaa'><remote-candidate component='1' ip='10.9.9.9' port='9'/></transport></content></jingle></iq>";
        let mut rules: Vec<_> = f
            .check("t#2", "XEP-0371", &el(info))
            .into_iter()
            .map(|x| x.rule)
            .collect();
        rules.sort();
        assert_eq!(
            rules,
            [
                "jingle.content-known",
                "jingle.sid-continuity",
                "transport.credentials-owner",
                "transport.remote-candidate-offered"
            ]
        );
        let reuse = INITIATE
            .replace("session-initiate", "transport-info")
            .replace("id='1'", "id='3'")
            .replace("ip='10.0.0.1'", "ip='10.0.0.2'");
        let mut rules: Vec<_> = f
            .check("t#3", "XEP-0371", &el(&reuse))
            .into_iter()
            .map(|x| x.rule)
            .collect();
        rules.sort();
        assert_eq!(rules, ["candidate.foundation", "candidate.id-unique"]);
        let stray = f.check(
            "t#4",
            "XEP-0371",
            &el("<iq from='j@x/b' to='r@x/a' id='zz' type='result'/>"),
        );
        assert_eq!(stray[0].rule, "iq.reply-matches");
    }

    #[test]
    fn restart_needs_new_credentials() {
        let mut f = FlowChecker::new();
        let _ = f.check("t#1", "other", &el(INITIATE));
        let restart = INITIATE
            .replace("session-initiate", "transport-info")
            .replace("generation='0'", "generation='1'")
            .replace("id='i1'", "id='i2'");
        let rules: Vec<_> = f
            .check("t#2", "other", &el(&restart))
            .into_iter()
            .map(|x| x.rule)
            .collect();
        assert_eq!(rules, ["transport.restart-credentials"]);
    }
}
