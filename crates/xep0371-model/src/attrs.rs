//! Attribute reading shared by every element type.

use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::str::FromStr;

use jid::Jid;
use minidom::Element;

use crate::element;
use crate::error::{Error, Reader, Rule, rules};

/// Attributes that the model does not know, kept in document order so that nothing is lost.
pub type ExtraAttributes = Vec<(String, String)>;

pub(crate) fn require<'a>(
    el: &'a Element,
    name: &'static str,
    attr: &'static str,
) -> Result<&'a str, Error> {
    el.attr(attr).ok_or(Error::MissingAttribute {
        element: name,
        attribute: attr,
        rule: rules::SCHEMA_REQUIRED,
    })
}

pub(crate) fn parse_num<T: FromStr>(
    name: &'static str,
    attr: &'static str,
    value: &str,
    rule: Rule,
) -> Result<T, Error> {
    // XML Schema integers allow surrounding whitespace and a leading '+'; deployed clients send
    // neither, and `FromStr` for integers accepts '+'. Refuse anything but digits.
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid(name, attr, value, rule));
    }
    value
        .parse()
        .map_err(|_| Error::invalid(name, attr, value, rule))
}

/// A port: `xs:unsignedShort`.
pub(crate) fn parse_port(
    name: &'static str,
    attr: &'static str,
    value: &str,
) -> Result<u16, Error> {
    parse_num(name, attr, value, rules::UNSIGNED_SHORT)
}

/// A component ID: `xs:unsignedByte`, and not 0 (RFC 8445 §5.1.1.1).
pub(crate) fn parse_component(name: &'static str, value: &str) -> Result<u8, Error> {
    let c: u8 = parse_num(name, "component", value, rules::UNSIGNED_BYTE)?;
    if c == 0 {
        return Err(Error::invalid(
            name,
            "component",
            value,
            rules::COMPONENT_RANGE,
        ));
    }
    Ok(c)
}

pub(crate) fn parse_ip(
    name: &'static str,
    attr: &'static str,
    value: &str,
) -> Result<IpAddr, Error> {
    value
        .parse()
        .map_err(|_| Error::invalid(name, attr, value, rules::IP_ADDRESS))
}

pub(crate) fn parse_jid(name: &'static str, attr: &'static str, value: &str) -> Result<Jid, Error> {
    value
        .parse::<Jid>()
        .map_err(|_| Error::invalid(name, attr, value, rules::JID))
}

pub(crate) fn parse_bool(
    name: &'static str,
    attr: &'static str,
    value: &str,
) -> Result<bool, Error> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Error::invalid(name, attr, value, rules::BOOLEAN)),
    }
}

pub(crate) fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// `ice-char = ALPHA / DIGIT / "+" / "/"` (RFC 8839 §5.1; RFC 8445 §5.3 for the
/// credentials): `s` is `len` of them. The one definition of the grammar in this crate; the
/// strings made of it are the [`IceChars`] constants below.
pub(crate) fn is_ice_chars(s: &str, len: RangeInclusive<usize>) -> bool {
    len.contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// A string of ice-chars with its length, and the rule that sets them.
pub(crate) struct IceChars {
    /// How many ice-chars.
    pub(crate) len: RangeInclusive<usize>,
    /// The rule cited when the string is not that.
    pub(crate) rule: Rule,
}

/// `foundation = 1*32ice-char` (RFC 8839 §5.1).
pub(crate) const FOUNDATION: IceChars = IceChars {
    len: 1..=32,
    rule: rules::FOUNDATION_GRAMMAR,
};
/// `ice-ufrag = 4*256ice-char` (RFC 8839 §5.4).
pub(crate) const UFRAG: IceChars = IceChars {
    len: 4..=256,
    rule: rules::UFRAG_GRAMMAR,
};
/// `ice-pwd = 22*256ice-char` (RFC 8839 §5.4).
pub(crate) const PWD: IceChars = IceChars {
    len: 22..=256,
    rule: rules::PWD_GRAMMAR,
};

impl IceChars {
    /// Whether `s` is this string ([`is_ice_chars`]).
    pub(crate) fn matches(&self, s: &str) -> bool {
        is_ice_chars(s, self.len.clone())
    }

    /// `value` of attribute `attr` of `<name/>` is this string; otherwise its rule is broken,
    /// which the lenient reading forgives as "kept".
    pub(crate) fn check(
        &self,
        reader: &mut Reader,
        name: &'static str,
        attr: &'static str,
        value: &str,
    ) -> Result<(), Error> {
        if !self.matches(value) {
            reader.forgive(Error::invalid(name, attr, value, self.rule), "kept")?;
        }
        Ok(())
    }
}

/// A string attribute bounded by [`crate::Limits::max_string_len`].
pub(crate) fn bounded(
    reader: &Reader,
    name: &'static str,
    attr: &'static str,
    value: &str,
) -> Result<String, Error> {
    let limit = reader.limits().max_string_len;
    if value.len() > limit {
        return Err(Error::TooMany {
            element: name,
            child: attr,
            limit,
            rule: rules::LIMIT,
        });
    }
    Ok(value.to_owned())
}

/// Required attribute `attr` of `el`, a string bounded as in [`bounded`].
pub(crate) fn require_bounded(
    reader: &Reader,
    el: &Element,
    name: &'static str,
    attr: &'static str,
) -> Result<String, Error> {
    bounded(reader, name, attr, require(el, name, attr)?)
}

/// Optional attribute `attr` of `el`, a string bounded as in [`bounded`].
pub(crate) fn optional_bounded(
    reader: &Reader,
    el: &Element,
    name: &'static str,
    attr: &'static str,
) -> Result<Option<String>, Error> {
    el.attr(attr)
        .map(|v| bounded(reader, name, attr, v))
        .transpose()
}

/// Attribute `attr` of `el`, which `required` (when `Some`) names the rule requiring here. Its
/// absence is then an error in the strict reading, and read as absent in the lenient one.
pub(crate) fn required_or_absent<'a>(
    reader: &mut Reader,
    el: &'a Element,
    name: &'static str,
    attr: &'static str,
    required: Option<Rule>,
) -> Result<Option<&'a str>, Error> {
    let value = el.attr(attr);
    if let (None, Some(rule)) = (value, required) {
        reader.forgive(
            Error::MissingAttribute {
                element: name,
                attribute: attr,
                rule,
            },
            "read as absent",
        )?;
    }
    Ok(value)
}

/// Reports every attribute of `el` not in `known` (forgiven as "kept" in the lenient reading)
/// and returns them, for a type that keeps them in an `extra` field.
pub(crate) fn unknown_attributes(
    el: &Element,
    name: &'static str,
    known: &[&str],
    reader: &mut Reader,
) -> Result<ExtraAttributes, Error> {
    collect_unknown(el, name, known, reader, "kept")
}

/// Reports every attribute of `el` not in `known` (forgiven as "ignored" in the lenient
/// reading), for a type that has no place to keep them.
pub(crate) fn ignore_unknown_attributes(
    el: &Element,
    name: &'static str,
    known: &[&str],
    reader: &mut Reader,
) -> Result<(), Error> {
    collect_unknown(el, name, known, reader, "ignored").map(drop)
}

fn collect_unknown(
    el: &Element,
    name: &'static str,
    known: &[&str],
    reader: &mut Reader,
    action: &'static str,
) -> Result<ExtraAttributes, Error> {
    let mut extra = Vec::new();
    for ((ns, attr), value) in el.attrs().iter() {
        let attr: &str = attr.as_ref();
        // Attributes in a namespace (xml:lang, extensions) are outside every schema here.
        if !ns.is_none() || known.contains(&attr) {
            continue;
        }
        element::room_for(
            name,
            "unknown attribute",
            extra.len(),
            reader.limits().max_unknown_attributes,
        )?;
        reader.forgive(
            Error::UnknownAttribute {
                element: name,
                attribute: attr.to_owned(),
                rule: rules::UNKNOWN_ATTRIBUTE,
            },
            action,
        )?;
        extra.push((
            attr.to_owned(),
            bounded(reader, name, "unknown attribute", value)?,
        ));
    }
    Ok(extra)
}

/// Text content is not allowed: the schema's `empty` type. Whitespace is tolerated.
pub(crate) fn no_text(el: &Element, name: &'static str, reader: &mut Reader) -> Result<(), Error> {
    if el.texts().any(|t| !t.trim().is_empty()) {
        reader.forgive(
            Error::InvalidText {
                element: name,
                rule: rules::UNKNOWN_CHILD,
            },
            "ignored",
        )?;
    }
    Ok(())
}

/// Sets attribute `name` when `value` is `Some`; names that are not NCNames (only possible for
/// unknown attributes built by hand) are skipped.
pub(crate) fn attr<V: minidom::IntoAttributeValue>(
    builder: minidom::ElementBuilder,
    name: &str,
    value: V,
) -> minidom::ElementBuilder {
    match minidom::rxml::NcName::try_from(name) {
        Ok(name) => builder.attr(name, value),
        Err(_) => builder,
    }
}

pub(crate) fn set_extra(
    mut builder: minidom::ElementBuilder,
    extra: &ExtraAttributes,
) -> minidom::ElementBuilder {
    for (k, v) in extra {
        builder = attr(builder, k, v.as_str());
    }
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8839_ice_char_lengths() {
        for (g, min, max) in [(&FOUNDATION, 1, 32), (&UFRAG, 4, 256), (&PWD, 22, 256)] {
            assert!(g.matches(&"+/aZ09".repeat(50)[..min]));
            assert!(g.matches(&"+/aZ09".repeat(50)[..max]));
            assert!(!g.matches(&"a".repeat(min - 1)));
            assert!(!g.matches(&"a".repeat(max + 1)));
        }
        for c in ['-', '_', '=', '.', ' ', 'é'] {
            assert!(!is_ice_chars(&format!("abcd{c}"), 1..=32), "{c:?}");
        }
    }
}
