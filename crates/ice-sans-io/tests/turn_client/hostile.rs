//! Any bytes from the server, at any time, never panic and never make the client spin: after
//! `handle_timeout(now)`, `poll_timeout()` is later than `now`.

use std::time::Duration;

use ice_sans_io::turn::TurnConfig;
use proptest::prelude::*;

use crate::script::*;

/// A client with an allocation, a permission and a channel bound, and the requests it sent.
fn busy() -> (H, Vec<Vec<u8>>) {
    let mut h = H::allocated(TurnConfig::default());
    h.c.create_permission(h.now, peer().ip()).unwrap();
    h.c.bind_channel(h.now, peer()).unwrap();
    let sent: Vec<Vec<u8>> = h.sent().into_iter().map(|(_, b)| b).collect();
    (h, sent)
}

fn no_spin(h: &mut H) {
    let now = h.now;
    h.c.handle_timeout(now);
    let _ = h.sent();
    let _ = h.events();
    if let Some(t) = h.c.poll_timeout() {
        assert!(t > now, "poll_timeout {t:?} is not after now {now:?}");
    }
}

proptest! {
    #[test]
    fn hostile_bytes_never_panic(
        inputs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..120), 1..20),
        steps in proptest::collection::vec(0u64..700_000, 1..20),
    ) {
        let (mut h, _) = busy();
        for (bytes, step) in inputs.iter().zip(steps.iter().cycle()) {
            let _ = h.deliver(bytes);
            h.now += Duration::from_millis(*step);
            no_spin(&mut h);
        }
    }

    /// The client's own requests answered with bytes flipped: typed outcomes only.
    #[test]
    fn mutated_answers_never_panic(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        code in prop_oneof![Just(0u16), 300u16..700],
    ) {
        let (mut h, sent) = busy();
        for req in &sent {
            let mut answer = if code == 0 { ok(req, &[]) } else { error(req, code, &[], None) };
            for (at, x) in &flips {
                let i = at % answer.len();
                answer[i] ^= x;
            }
            let _ = h.deliver(&answer);
            no_spin(&mut h);
        }
    }
}
