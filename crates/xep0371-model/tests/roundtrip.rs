//! Round trips of every wire type through XML text, SDP lines and namespace conversion, with
//! proptest strategies that generate only values the strict reading accepts.
//!
//! Properties:
//! - value -> `Element` -> string -> [`parse_element`] -> strict read == value, for
//!   [`Candidate`], [`IceTransport`] (both namespaces), [`Jingle`] and [`Iq`];
//! - candidate -> `to_sdp_line()` -> `Candidate::from_sdp` == candidate without `id`;
//! - `convert` ice:0 -> ice-udp:1 -> ice:0 (and the other way) of a transport with UDP candidates
//!   whose optional attributes are all present keeps the candidates.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use xep0371_model::jid::Jid;
use xep0371_model::minidom::Element;
use xep0371_model::{
    Action, Candidate, CandidateType, Content, Creator, Dropped, ErrorType, FromXml, IceNamespace,
    IceTransport, Iq, IqPayload, Jingle, JingleCondition, Protocol, RawUdpCandidate,
    RawUdpTransport, Reading, RemoteCandidate, Senders, StanzaError, TcpType, Transport,
    parse_element,
};

const MAX: usize = 1 << 22;

/// Serialises `el` to text and parses the text back.
fn reparse(el: &Element) -> Element {
    let mut out = Vec::new();
    el.write_to(&mut out).expect("minidom writes to a Vec");
    let text = String::from_utf8(out).expect("minidom writes UTF-8");
    parse_element(&text, MAX).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Reads `el` strictly, asserting that the strict reading reports no diagnostics.
fn strict<T: FromXml + std::fmt::Debug>(el: &Element) -> T {
    let p = T::read(el, Reading::Strict).unwrap_or_else(|e| panic!("{e}: {el:?}"));
    assert!(p.diagnostics.is_empty());
    p.value
}

// --- strategies ---------------------------------------------------------------------------

fn ice_chars(min: usize, max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[A-Za-z0-9+/]{{{min},{max}}}")).expect("valid regex")
}

fn ncname() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_.-]{0,15}"
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    ]
}

/// `Some` always when `required`, else `Some` or `None`.
fn present_if<S: Strategy + 'static>(required: bool, s: S) -> BoxedStrategy<Option<S::Value>> {
    if required {
        s.prop_map(Some).boxed()
    } else {
        option::of(s).boxed()
    }
}

fn candidate_type() -> impl Strategy<Value = CandidateType> {
    proptest::sample::select(CandidateType::ALL)
}

/// A candidate the strict reading accepts in `ns`: `generation` and `id` present in ice-udp:1,
/// `network` present in ice:0, TCP (with `tcptype`) in ice:0 only, `rel-addr` and `rel-port`
/// present for non-host types and both or neither for host candidates.
fn candidate(ns: IceNamespace) -> impl Strategy<Value = Candidate> {
    let udp1 = ns == IceNamespace::IceUdp1;
    let protocol = if udp1 {
        Just((Protocol::Udp, None)).boxed()
    } else {
        prop_oneof![
            Just((Protocol::Udp, None)),
            proptest::sample::select(TcpType::ALL).prop_map(|t| (Protocol::Tcp, Some(t))),
        ]
        .boxed()
    };
    (
        (1u8..=255, ice_chars(1, 32), present_if(udp1, any::<u8>())),
        (
            present_if(udp1, ncname()),
            ip(),
            present_if(!udp1, any::<u8>()),
        ),
        (any::<u16>(), 1u32..=0x7fff_ffff, protocol),
        (
            candidate_type(),
            option::of((ip(), any::<u16>())),
            ip(),
            any::<u16>(),
        ),
    )
        .prop_map(
            move |(
                (component, foundation, generation),
                (id, ip, network),
                (port, priority, (protocol, tcptype)),
                (type_, host_related, rel_ip, rel_port),
            )| {
                let related = if type_ == CandidateType::Host {
                    host_related
                } else {
                    Some((rel_ip, rel_port))
                };
                Candidate {
                    component,
                    foundation,
                    generation,
                    id,
                    ip,
                    network,
                    port,
                    priority,
                    protocol,
                    rel_addr: related.map(|r| r.0),
                    rel_port: related.map(|r| r.1),
                    tcptype,
                    type_,
                    extra: Vec::new(),
                }
            },
        )
}

fn remote_candidate() -> impl Strategy<Value = RemoteCandidate> {
    (1u8..=255, ip(), any::<u16>()).prop_map(|(component, ip, port)| RemoteCandidate {
        component,
        ip,
        port,
    })
}

/// Parses a fixed fragment of XML.
fn xml(s: &str) -> Element {
    parse_element(s, MAX).unwrap_or_else(|e| panic!("{e}: {s}"))
}

/// A XEP-0320 fingerprint, the foreign child deployed clients put in the transport.
fn fingerprint() -> impl Strategy<Value = Element> {
    (proptest::sample::select(&["actpass", "active", "passive"][..]), vec(any::<u8>(), 32)).prop_map(|(setup, bytes)| {
        let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02X}")).collect();
        xml(&format!(
            "<fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='{setup}'>{}</fingerprint>",
            hex.join(":")
        ))
    })
}

/// What a transport carries besides its credentials.
#[derive(Debug, Clone)]
enum Body {
    Candidates(Vec<Candidate>),
    Remote(Vec<RemoteCandidate>),
}

/// A transport the strict reading accepts in `ns`: ufrag 4..=256 and pwd 22..=256 ice-chars,
/// both present when there are candidates; never candidates and remote-candidates together; in
/// ice-udp:1 no `ice2`, no `gathering-complete` and at most one remote-candidate.
fn transport(ns: IceNamespace) -> impl Strategy<Value = IceTransport> {
    let udp1 = ns == IceNamespace::IceUdp1;
    let body = prop_oneof![
        3 => vec(candidate(ns), 0..5).prop_map(Body::Candidates),
        1 => vec(remote_candidate(), if udp1 { 1..2 } else { 1..3 }).prop_map(Body::Remote),
    ];
    let ice2 = if udp1 {
        Just(None).boxed()
    } else {
        option::of(any::<bool>()).boxed()
    };
    let gathering_complete = if udp1 {
        Just(false).boxed()
    } else {
        any::<bool>().boxed()
    };
    (
        body,
        option::of(ice_chars(4, 256)),
        option::of(ice_chars(22, 256)),
        ice2,
        gathering_complete,
        option::of(fingerprint()),
    )
        .prop_map(move |(body, ufrag, pwd, ice2, gathering_complete, fp)| {
            let (candidates, remote_candidates) = match body {
                Body::Candidates(c) => (c, Vec::new()),
                Body::Remote(r) => (Vec::new(), r),
            };
            let (ufrag, pwd) = if candidates.is_empty() {
                (ufrag, pwd)
            } else {
                (
                    Some(ufrag.unwrap_or_else(|| "8hhy".into())),
                    Some(pwd.unwrap_or_else(|| "asd88fgpdd777uzjYhagZg".into())),
                )
            };
            IceTransport {
                namespace: ns,
                ufrag,
                pwd,
                ice2,
                candidates,
                remote_candidates,
                gathering_complete,
                others: fp.into_iter().collect(),
                extra: Vec::new(),
            }
        })
}

fn namespace() -> impl Strategy<Value = IceNamespace> {
    prop_oneof![Just(IceNamespace::Ice0), Just(IceNamespace::IceUdp1)]
}

fn any_transport() -> impl Strategy<Value = IceTransport> {
    namespace().prop_flat_map(transport)
}

fn raw_udp() -> impl Strategy<Value = RawUdpTransport> {
    vec(
        (
            1u8..=255,
            any::<u8>(),
            ncname(),
            ip(),
            any::<u16>(),
            option::of(candidate_type()),
        )
            .prop_map(
                |(component, generation, id, ip, port, type_)| RawUdpCandidate {
                    component: Some(component),
                    generation,
                    id,
                    ip,
                    port,
                    type_,
                    extra: Vec::new(),
                },
            ),
        0..3,
    )
    .prop_map(|candidates| RawUdpTransport { candidates })
}

fn jid() -> impl Strategy<Value = Jid> {
    ("[a-z]{1,8}", "[a-z]{1,8}", option::of("[A-Za-z0-9.]{1,12}")).prop_map(
        |(node, domain, resource)| {
            let s = match resource {
                Some(r) => format!("{node}@{domain}.example/{r}"),
                None => format!("{node}@{domain}.example"),
            };
            s.parse().expect("a valid JID")
        },
    )
}

fn rtp_description() -> impl Strategy<Value = Element> {
    proptest::sample::select(&["audio", "video"][..]).prop_map(|media| {
        xml(&format!(
            "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='{media}'><payload-type id='111' name='opus' clockrate='48000' channels='2'/><rtcp-mux/></description>"
        ))
    })
}

fn content() -> impl Strategy<Value = Content> {
    let transport = prop_oneof![
        4 => any_transport().prop_map(Transport::Ice),
        1 => raw_udp().prop_map(Transport::RawUdp),
    ];
    (
        proptest::sample::select(Creator::ALL),
        "[a-z0-9-]{1,12}",
        option::of(proptest::sample::select(Senders::ALL)),
        option::of(Just("session".to_owned())),
        option::of(rtp_description()),
        option::of(transport),
    )
        .prop_map(
            |(creator, name, senders, disposition, description, transport)| Content {
                creator,
                name,
                senders,
                disposition,
                description,
                transport,
                others: Vec::new(),
                extra: Vec::new(),
            },
        )
}

fn jingle() -> impl Strategy<Value = Jingle> {
    (
        proptest::sample::select(Action::ALL),
        "[A-Za-z0-9]{1,16}",
        option::of(jid()),
        option::of(jid()),
        vec(content(), 0..3),
        any::<bool>(),
    )
        .prop_map(
            |(action, sid, initiator, responder, contents, success)| Jingle {
                action,
                sid,
                initiator,
                responder,
                contents,
                reason: success
                    .then(|| xml("<reason xmlns='urn:xmpp:jingle:1'><success/></reason>")),
                others: Vec::new(),
                extra: Vec::new(),
            },
        )
}

fn stanza_error() -> impl Strategy<Value = StanzaError> {
    prop_oneof![
        proptest::sample::select(JingleCondition::ALL).prop_map(StanzaError::jingle),
        option::of("[ -~]{0,40}").prop_map(StanzaError::bad_request),
        proptest::sample::select(ErrorType::ALL)
            .prop_map(|t| StanzaError::new(t, xep0371_model::DefinedCondition::Conflict)),
    ]
}

fn iq() -> impl Strategy<Value = Iq> {
    let payload = prop_oneof![
        jingle().prop_map(|j| IqPayload::Set(Element::from(&j))),
        jingle().prop_map(|j| IqPayload::Get(Element::from(&j))),
        option::of(jingle().prop_map(|j| Element::from(&j))).prop_map(IqPayload::Result),
        (
            stanza_error(),
            option::of(jingle().prop_map(|j| Element::from(&j)))
        )
            .prop_map(|(error, original)| IqPayload::Error { error, original }),
    ];
    (
        option::of(jid()),
        option::of(jid()),
        "[A-Za-z0-9-]{1,16}",
        payload,
    )
        .prop_map(|(from, to, id, payload)| Iq {
            from,
            to,
            id,
            payload,
        })
}

// --- properties ---------------------------------------------------------------------------

proptest! {
    #[test]
    fn candidate_through_xml((ns, c) in namespace().prop_flat_map(|ns| (Just(ns), candidate(ns)))) {
        let el = reparse(&c.to_element(ns));
        let mut reader = xep0371_model::Reader::new(Reading::Strict);
        prop_assert_eq!(&Candidate::read_in(&el, ns, &mut reader).expect("strict"), &c);
        prop_assert_eq!(Candidate::try_from(el).expect("strict"), c);
    }

    #[test]
    fn transport_through_xml(t in any_transport()) {
        let el = reparse(&Element::from(&t));
        let back: IceTransport = strict(&el);
        prop_assert_eq!(&back, &t);
        // What the strict reading accepts, the lenient reading reads the same, forgiving nothing.
        let lenient = IceTransport::read(&el, Reading::Lenient).expect("lenient");
        prop_assert!(lenient.diagnostics.is_empty(), "{:?}", lenient.diagnostics);
        prop_assert_eq!(lenient.value, t);
    }

    #[test]
    fn jingle_through_xml(j in jingle()) {
        let back: Jingle = strict(&reparse(&Element::from(&j)));
        prop_assert_eq!(back, j);
    }

    #[test]
    fn iq_through_xml(iq in iq()) {
        let el = reparse(&Element::from(&iq));
        let back: Iq = strict(&el);
        // The Jingle inside reads back too.
        if let Some(payload) = back.payload.element() {
            let j: Jingle = strict(payload);
            prop_assert_eq!(Element::from(&j), payload.clone());
        }
        prop_assert_eq!(back, iq);
    }

    #[test]
    fn candidate_through_sdp(c in namespace().prop_flat_map(candidate)) {
        let line = c.to_sdp_line();
        let read = Candidate::from_sdp(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        prop_assert!(read.extensions.is_empty(), "{:?}", read.extensions);
        prop_assert_eq!(read.candidate, Candidate { id: None, ..c });
    }

    #[test]
    fn convert_ice0_to_ice_udp_and_back(mut t in transport(IceNamespace::Ice0)) {
        complete_udp(&mut t);
        let (udp, dropped) = t.clone().convert(IceNamespace::IceUdp1);
        prop_assert!(dropped.iter().all(|d| !matches!(d, Dropped::TcpCandidate(_))), "{:?}", dropped);
        prop_assert_eq!(&udp.candidates, &t.candidates);
        // What convert produces is valid in the target namespace.
        let read: IceTransport = strict(&reparse(&Element::from(&udp)));
        prop_assert_eq!(&read, &udp);
        let (back, dropped) = udp.convert(IceNamespace::Ice0);
        prop_assert!(dropped.is_empty());
        prop_assert_eq!(back.candidates, t.candidates);
    }

    #[test]
    fn convert_ice_udp_to_ice0_and_back(mut t in transport(IceNamespace::IceUdp1)) {
        complete_udp(&mut t);
        let (ice0, dropped) = t.clone().convert(IceNamespace::Ice0);
        prop_assert!(dropped.is_empty());
        let read: IceTransport = strict(&reparse(&Element::from(&ice0)));
        prop_assert_eq!(&read, &ice0);
        let (back, dropped) = ice0.convert(IceNamespace::IceUdp1);
        prop_assert!(dropped.is_empty());
        prop_assert_eq!(back, t);
    }
}

/// Makes every candidate UDP with all optional attributes present.
fn complete_udp(t: &mut IceTransport) {
    for (i, c) in t.candidates.iter_mut().enumerate() {
        c.protocol = Protocol::Udp;
        c.tcptype = None;
        c.generation.get_or_insert(0);
        c.id.get_or_insert_with(|| format!("c{i}"));
        c.network.get_or_insert(1);
        c.rel_addr
            .get_or_insert(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        c.rel_port.get_or_insert(9);
    }
}
