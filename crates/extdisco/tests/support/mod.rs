//! What the test files share: fixtures read as stanzas.
#![allow(dead_code, unreachable_pub)] // each test file uses part of it

use minidom::Element;

/// A fixture as a stanza (default namespace `jabber:client`).
pub fn el(s: &str) -> Element {
    Element::from_reader_with_prefixes(s.as_bytes(), Some("jabber:client".to_owned())).unwrap()
}

/// The same without the indentation between tags (the listings have no mixed content), so that
/// it compares equal with what the crate writes.
pub fn compact(s: &str) -> Element {
    let mut out = String::with_capacity(s.len());
    let mut pending = String::new();
    let mut after_tag = false;
    for c in s.chars() {
        if after_tag && c.is_whitespace() {
            pending.push(c);
            continue;
        }
        if c != '<' {
            out.push_str(&pending);
        }
        pending.clear();
        after_tag = c == '>';
        out.push(c);
    }
    el(&out)
}

/// The first child: the payload of an IQ.
pub fn payload(iq: &Element) -> Element {
    iq.children().next().unwrap().clone()
}
