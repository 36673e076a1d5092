//! Any UTF-8 document, read as an XEP-0215 payload under both readings.
//!
//! Besides "no panic": whatever the strict reading accepts, the lenient reading accepts with no
//! diagnostic and the same value; whatever either reading accepts writes back to an element the
//! same reading reads as an equal value (round trip).

#![no_main]

use libfuzzer_sys::fuzz_target;
use minidom::Element;
use xmpp_extdisco::{Payload, Reading};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if s.len() > 64 * 1024 {
        return;
    }
    let Ok(el) = s.parse::<Element>() else {
        return;
    };
    let strict = Payload::read(&el, Reading::Strict);
    let lenient = Payload::read(&el, Reading::Lenient);
    if let Ok(strict) = &strict {
        let lenient = lenient
            .as_ref()
            .expect("the lenient reading accepts what the strict one does");
        assert!(lenient.diagnostics.is_empty());
        assert_eq!(lenient.value, strict.value);
    }
    for (reading, read) in [(Reading::Strict, strict), (Reading::Lenient, lenient)] {
        if let Ok(read) = read {
            let again = Payload::read(&Element::from(&read.value), reading)
                .expect("what was read writes back readably");
            assert_eq!(again.value, read.value);
        }
    }
});
