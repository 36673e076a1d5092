//! The played scenarios: Romeo and Juliet (or the SIP gateway) configured as the listings
//! show them, playing XEP-0371's session (Listings 1 to 8 and 17), the fallback to raw UDP
//! and the disco#info exchanges (Listings 18 to 21); each returns the stanzas sent and which
//! of them plays which listing.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use jingle_ice_glue::ice_sans_io::{Event as IceEvent, LocalPreferenceInput, State};
use jingle_ice_glue::{Allowance, Config, Event, Role, Session};
use xep0371_model::minidom::Element;
use xep0371_model::{DiscoInfo, IceFeatures, Iq, ns};

use super::net::Net;
use super::outcome::{Sent, Side};
use crate::listings::Listing;

const ROMEO: &str = "romeo@montague.example/dr4hcr0st3lup4c";
const JULIET: &str = "juliet@capulet.example/yn0cl4bnw0yr3vym";
const GATEWAY: &str = "sip.shakespeare.lit";
const SID: &str = "a73sjjvkla37jfea";

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

fn addr(s: &str) -> SocketAddr {
    // The constants above are valid socket addresses; a test parses each.
    s.parse()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
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

pub(super) type Played = (Vec<Sent>, Vec<(u32, usize)>);

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
pub(super) fn play_session(specs: &[(&Listing, Element)]) -> Result<Played> {
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
pub(super) fn play_fallback(specs: &[(&Listing, Element)]) -> Result<Played> {
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
pub(super) fn play_disco(gateway: bool) -> Result<Played> {
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
}
