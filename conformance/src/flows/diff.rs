//! Comparing a listing with the produced stanza that plays its part: attribute by
//! attribute, children by position, values the listings leave free skipped.

use std::collections::BTreeSet;

use xep0371_model::minidom::Element;

use super::outcome::Difference;

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

#[cfg(test)]
mod tests {
    use xep0371_model::minidom::Element;
    use xep0371_model::parse_element;

    use super::*;

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
