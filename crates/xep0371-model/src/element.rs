//! What every element reader checks the same way: that the element is the one it reads, that a
//! child the schema does not allow there is an error or a diagnostic, and that repeated children
//! stay within [`Limits`](crate::Limits).

use minidom::Element;

use crate::error::{Error, Reader, Rule, rules};

/// The [`Error::Mismatch`] that hands `el` back to the caller, in the style of xmpp-parsers,
/// for a type that reads `<expected xmlns='expected_ns'/>`.
pub(crate) fn mismatch(el: &Element, expected: &'static str, expected_ns: &'static str) -> Error {
    Error::Mismatch {
        expected,
        expected_ns,
        element: Box::new(el.clone()),
    }
}

/// `Ok` when `el` is `<name xmlns='ns'/>`, else [`mismatch`].
pub(crate) fn expect(el: &Element, name: &'static str, ns: &'static str) -> Result<(), Error> {
    if el.is(name, ns) {
        Ok(())
    } else {
        Err(mismatch(el, name, ns))
    }
}

/// `child` of `<name/>` breaks `rule`: an [`Error::UnexpectedChild`] in the strict reading, a
/// diagnostic with `action` in the lenient one. Goes through [`Reader::forgive`], like every
/// leniency.
pub(crate) fn forgive_child(
    reader: &mut Reader,
    name: &'static str,
    child: &Element,
    rule: Rule,
    action: &'static str,
) -> Result<(), Error> {
    reader.forgive(
        Error::UnexpectedChild {
            element: name,
            child: child.name().into(),
            child_ns: child.ns(),
            rule,
        },
        action,
    )
}

/// `Ok` while `<name/>` holds fewer than `limit` of `child` (`count` so far), so one more may be
/// read; else [`Error::TooMany`], under both readings.
pub(crate) fn room_for(
    name: &'static str,
    child: &'static str,
    count: usize,
    limit: usize,
) -> Result<(), Error> {
    if count >= limit {
        return Err(Error::TooMany {
            element: name,
            child,
            limit,
            rule: rules::LIMIT,
        });
    }
    Ok(())
}
