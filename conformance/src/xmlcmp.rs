//! Structural comparison of two elements, ignoring what XML does not distinguish
//! (attribute order, namespace prefixes) and the whitespace between elements.

use std::collections::BTreeMap;

use xep0371_model::minidom::{Element, Node};

/// `Ok` when `a` and `b` are the same element; otherwise the path of the first difference.
pub fn compare(a: &Element, b: &Element) -> Result<(), String> {
    compare_at(a, b, &mut String::new())
}

/// The attributes of `e` by name (`{ns}name` for namespaced ones).
pub fn attrs(e: &Element) -> BTreeMap<String, String> {
    e.attrs()
        .iter()
        .map(|((ns, name), value)| {
            let key = if ns.is_none() {
                name.to_string()
            } else {
                format!("{{{}}}{}", ns.as_str(), name.as_str())
            };
            (key, value.clone())
        })
        .collect()
}

fn texts(e: &Element) -> String {
    e.nodes()
        .filter_map(|n| match n {
            Node::Text(t) => Some(t.as_str()),
            Node::Element(_) => None,
        })
        .collect::<String>()
        .trim()
        .to_owned()
}

fn compare_at(a: &Element, b: &Element, path: &mut String) -> Result<(), String> {
    let len = path.len();
    path.push('/');
    path.push_str(a.name());
    let r = (|| {
        if a.name() != b.name() || a.ns() != b.ns() {
            return Err(format!(
                "{path}: <{} xmlns='{}'> vs <{} xmlns='{}'>",
                a.name(),
                a.ns(),
                b.name(),
                b.ns()
            ));
        }
        let (aa, ba) = (attrs(a), attrs(b));
        if aa != ba {
            return Err(format!("{path}: attributes {aa:?} vs {ba:?}"));
        }
        if texts(a) != texts(b) {
            return Err(format!("{path}: text {:?} vs {:?}", texts(a), texts(b)));
        }
        let (ac, bc): (Vec<_>, Vec<_>) = (a.children().collect(), b.children().collect());
        if ac.len() != bc.len() {
            return Err(format!("{path}: {} children vs {}", ac.len(), bc.len()));
        }
        ac.iter()
            .zip(&bc)
            .try_for_each(|(x, y)| compare_at(x, y, path))
    })();
    path.truncate(len);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use xep0371_model::parse_element;

    #[test]
    fn ignores_whitespace_order_and_prefixes_but_not_values() {
        let a = parse_element("<a xmlns='n' x='1' y='2'>\n  <b/>\n</a>", 1 << 16).unwrap();
        let b = parse_element("<p:a xmlns:p='n' y='2' x='1'><p:b/></p:a>", 1 << 16).unwrap();
        assert_eq!(compare(&a, &b), Ok(()));
        let c = parse_element("<a xmlns='n' x='1' y='3'><b/></a>", 1 << 16).unwrap();
        assert!(compare(&a, &c).unwrap_err().contains("/a: attributes"));
        let d = parse_element("<a xmlns='n' x='1' y='2'><b/>t</a>", 1 << 16).unwrap();
        assert!(compare(&a, &d).is_err());
    }
}
