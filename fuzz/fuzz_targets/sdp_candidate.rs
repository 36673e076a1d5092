//! Any UTF-8 string, read as an RFC 8839 `a=candidate` line.
//!
//! Besides "no panic": a candidate read from a line writes back to a line that reads as the
//! same candidate (the extensions the model has no field for are not written back, so only
//! `.candidate` is compared).

#![no_main]

use libfuzzer_sys::fuzz_target;
use xep0371_model::Candidate;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(c) = Candidate::from_sdp(s) else {
        return;
    };
    let line = c.candidate.to_sdp_line();
    match Candidate::from_sdp(&line) {
        Ok(again) => assert_eq!(
            c.candidate, again.candidate,
            "round trip through {line:?} changed the candidate"
        ),
        Err(e) => panic!(
            "refused the line it wrote: {e}\nline: {line:?}\ncandidate: {:?}",
            c.candidate
        ),
    }
});
