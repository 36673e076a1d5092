//! What every reader shares: the reading, the limits, the diagnostics, and `forgive`, the one
//! place where the strict and the lenient readings part.

use minidom::Element;

use crate::error::{Diagnostic, Error, truncate};
use crate::{Limits, Reading, Version};

pub(crate) struct Reader<'l> {
    pub(crate) reading: Reading,
    pub(crate) limits: &'l Limits,
    pub(crate) version: Version,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl Reader<'_> {
    /// The strict reading refuses; the lenient one records a diagnostic and goes on.
    pub(crate) fn forgive(&mut self, e: Error) -> Result<(), Error> {
        match self.reading {
            Reading::Strict => Err(e),
            Reading::Lenient => {
                self.diagnostics.push(Diagnostic(e));
                Ok(())
            }
        }
    }

    /// A string attribute, bounded by [`Limits::max_attribute_len`].
    pub(crate) fn attr<'e>(
        &self,
        el: &'e Element,
        element: &'static str,
        name: &'static str,
    ) -> Result<Option<&'e str>, Error> {
        match el.attr(name) {
            Some(v) if v.len() > self.limits.max_attribute_len => Err(Error::Limit {
                what: attribute_limit(element, name),
                limit: self.limits.max_attribute_len,
            }),
            v => Ok(v),
        }
    }

    /// The text of an element that may hold none but whitespace (indentation).
    pub(crate) fn no_text(&mut self, el: &Element, element: &'static str) -> Result<(), Error> {
        if el.texts().any(|t| !t.trim().is_empty()) {
            self.forgive(Error::UnexpectedText { element })?;
        }
        Ok(())
    }
}

fn attribute_limit(element: &'static str, name: &'static str) -> &'static str {
    match (element, name) {
        ("services", _) => "bytes in an attribute of <services/>",
        _ => "bytes in an attribute of <service/>",
    }
}

pub(crate) fn invalid(
    element: &'static str,
    name: &'static str,
    value: &str,
    rule: &'static str,
) -> Error {
    Error::InvalidAttribute {
        element,
        name,
        value: truncate(value),
        rule,
    }
}

/// xs:NCName, as far as ASCII goes (letters and digits beyond ASCII are accepted as name
/// characters): no colon, no whitespace, not starting with a digit, `-` or `.`.
pub(crate) fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first == '_' || first.is_alphabetic())
        && chars.all(|c| c == '_' || c == '-' || c == '.' || c.is_alphanumeric())
}

/// The names of the attributes in no namespace (at most 64 characters of each). Attributes in a
/// namespace (`xml:lang`, extensions) are outside the schema and not read.
pub(crate) fn plain_attr_names(el: &Element) -> Vec<String> {
    el.attrs()
        .iter()
        .filter(|((ns, _), _)| ns.is_none())
        .map(|((_, name), _)| truncate(name.as_ref()))
        .collect()
}
