//! Reading what arrives before a call exists: a session-initiate (its peer and sid), and the
//! `service-unavailable` a client owes to IQ requests nobody here handles.

use tokio_xmpp::jid::Jid;
use tokio_xmpp::minidom::Element;

use crate::connection::{CLIENT, STANZAS, name};

/// Jingle's namespace (XEP-0166).
const JINGLE: &str = "urn:xmpp:jingle:1";

/// The peer's JID and the sid of a session-initiate.
pub(crate) fn session_initiate(el: &Element) -> Option<(Jid, String)> {
    if el.name() != "iq" || el.attr("type") != Some("set") {
        return None;
    }
    let jingle = el.get_child("jingle", JINGLE)?;
    if jingle.attr("action") != Some("session-initiate") {
        return None;
    }
    let from = Jid::new(el.attr("from")?).ok()?;
    Some((from, jingle.attr("sid")?.to_owned()))
}

/// `service-unavailable` for an IQ request nobody here handles (RFC 6120 §8.3.3, §8.4);
/// `None` for anything else.
pub(crate) fn unavailable(el: &Element) -> Option<Element> {
    if el.name() != "iq" || !matches!(el.attr("type"), Some("get" | "set")) {
        return None;
    }
    let id = el.attr("id")?;
    let mut b = Element::builder("iq", CLIENT)
        .attr(name("id"), id)
        .attr(name("type"), "error");
    if let Some(from) = el.attr("from") {
        b = b.attr(name("to"), from);
    }
    Some(
        b.append(
            Element::builder("error", CLIENT)
                .attr(name("type"), "cancel")
                .append(Element::bare("service-unavailable", STANZAS))
                .build(),
        )
        .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::iq_error;

    fn parse(xml: &str) -> Element {
        xml.parse().expect("well-formed")
    }

    #[test]
    fn a_session_initiate_gives_the_peer_and_sid() {
        let el = parse(
            "<iq xmlns='jabber:client' type='set' id='i' from='romeo@example.org/orchard'>\
             <jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' sid='s1'/></iq>",
        );
        let (peer, sid) = session_initiate(&el).expect("an offer");
        assert_eq!(peer.to_string(), "romeo@example.org/orchard");
        assert_eq!(sid, "s1");
        let info = parse(
            "<iq xmlns='jabber:client' type='set' id='i' from='romeo@example.org/orchard'>\
             <jingle xmlns='urn:xmpp:jingle:1' action='transport-info' sid='s1'/></iq>",
        );
        assert!(session_initiate(&info).is_none());
        let no_from = parse(
            "<iq xmlns='jabber:client' type='set' id='i'>\
             <jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' sid='s1'/></iq>",
        );
        assert!(session_initiate(&no_from).is_none());
    }

    #[test]
    fn requests_nobody_handles_get_service_unavailable() {
        let get =
            parse("<iq xmlns='jabber:client' type='get' id='q' from='a@b/c'><x xmlns='y'/></iq>");
        let reply = unavailable(&get).expect("an error");
        assert_eq!(reply.attr("type"), Some("error"));
        assert_eq!(reply.attr("to"), Some("a@b/c"));
        assert_eq!(
            iq_error(&reply),
            Some((Some("cancel"), Some("service-unavailable")))
        );
        let result = parse("<iq xmlns='jabber:client' type='result' id='q'/>");
        assert!(unavailable(&result).is_none(), "never an error to a result");
    }
}
