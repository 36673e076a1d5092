//! Any UTF-8 document, read as each of the model's top-level types under both readings.
//!
//! Besides "no panic", the properties the model promises (rustls style: the assertions live in
//! the target):
//! - whatever the strict reading accepts, the lenient reading accepts with no diagnostic and the
//!   same value;
//! - whatever either reading accepts writes back to an element that the same reading reads as
//!   an equal value (round trip).

#![no_main]

use std::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use xep0371_model::minidom::Element;
use xep0371_model::{FromXml, IceTransport, Iq, Jingle, RawUdpTransport, Reading};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(el) = xep0371_model::parse_element(s, 64 * 1024) else {
        return;
    };
    check::<IceTransport>(&el);
    check::<Jingle>(&el);
    check::<Iq>(&el);
    check::<RawUdpTransport>(&el);
});

fn check<T>(el: &Element)
where
    T: FromXml + PartialEq + Debug,
    for<'a> Element: From<&'a T>,
{
    let strict = T::read(el, Reading::Strict);
    let lenient = T::read(el, Reading::Lenient);

    if let Ok(strict) = &strict {
        let lenient = match &lenient {
            Ok(lenient) => lenient,
            Err(e) => {
                panic!("strict reading accepted what the lenient one refused: {e}\n{strict:?}")
            }
        };
        assert!(
            lenient.diagnostics.is_empty(),
            "strict reading accepted what the lenient one forgave: {:?}",
            lenient.diagnostics
        );
        assert_eq!(strict.value, lenient.value, "the two readings disagree");
    }

    for (reading, parsed) in [(Reading::Strict, &strict), (Reading::Lenient, &lenient)] {
        let Ok(parsed) = parsed else { continue };
        let el2 = Element::from(&parsed.value);
        match T::read(&el2, reading) {
            Ok(again) => assert_eq!(
                parsed.value,
                again.value,
                "{reading:?} round trip changed the value; written back as:\n{}",
                xml(&el2)
            ),
            Err(e) => panic!(
                "{reading:?} reading refused what it wrote back: {e}\nvalue: {:?}\nwritten back as:\n{}",
                parsed.value,
                xml(&el2)
            ),
        }
    }
}

/// The element as XML for a failure message (minidom's `String::from` would panic on an
/// element it cannot write).
fn xml(el: &Element) -> String {
    let mut out = Vec::new();
    match el.write_to(&mut out) {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(e) => format!("<not writable: {e}>"),
    }
}
