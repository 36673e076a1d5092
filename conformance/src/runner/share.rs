//! The script's `share` (XEP-0371 §11.1) checked on the signalling path: a side that may let
//! out relayed candidates only, or none, before the session is accepted must not put any other
//! candidate in a stanza before then. The check reads the stanzas as they leave, whatever the
//! stack (ours or an adapter's), so a leak fails the run.

use ice_netsim::topology::Share;
use xep0371_model::minidom::Element;

/// The candidates of stanza `el` (any Jingle transport, by element name) that `share` does not
/// let out before the session is accepted, as `type address` strings; empty when none.
pub fn leaks(share: Share, el: &Element) -> Vec<String> {
    let mut out = Vec::new();
    if share != Share::All {
        walk(el, share, &mut out);
    }
    out
}

fn walk(el: &Element, share: Share, out: &mut Vec<String>) {
    if el.name() == "candidate" {
        let kind = el.attr("type").unwrap_or("?");
        if share == Share::Nothing || kind != "relay" {
            out.push(format!("{kind} {}", el.attr("ip").unwrap_or("?")));
        }
    }
    for c in el.children() {
        walk(c, share, out);
    }
}

/// Whether stanza `el` is a session-accept (from then on, everything may leave).
pub fn is_accept(el: &Element) -> bool {
    el.children()
        .any(|j| j.name() == "jingle" && j.attr("action") == Some("session-accept"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCEPT: &str = "<iq xmlns='jabber:client' type='set' id='a'><jingle \
        xmlns='urn:xmpp:jingle:1' action='session-accept' sid='s'><content creator='initiator' \
        name='0'><transport xmlns='urn:xmpp:jingle:transports:ice:0' ufrag='abcd' \
        pwd='abcdefghijklmnopqrstuv'><candidate component='1' foundation='1' generation='0' \
        id='c1' ip='198.51.100.200' port='49152' priority='1' protocol='udp' type='relay'/>\
        <candidate component='1' foundation='2' generation='0' id='c2' ip='10.0.1.1' \
        port='50001' priority='2' protocol='udp' type='host'/></transport></content></jingle></iq>";

    #[test]
    fn relay_only_lets_relayed_candidates_out_and_names_the_others() {
        let accept: Element = ACCEPT.parse().unwrap();
        let info: Element = ACCEPT
            .replace("session-accept", "transport-info")
            .parse()
            .unwrap();
        assert_eq!(
            leaks(Share::RelayOnly, &accept),
            vec!["host 10.0.1.1".to_owned()]
        );
        assert_eq!(leaks(Share::Nothing, &accept).len(), 2);
        assert!(leaks(Share::All, &accept).is_empty());
        assert!(is_accept(&accept));
        assert!(!is_accept(&info));
    }
}
