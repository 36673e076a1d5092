//! STUN decoding of arbitrary bytes: a typed error or a message; every message decoded is
//! rebuilt from its attributes and must decode to the same attributes, with integrity and
//! fingerprint verifying.
#![no_main]

use ice_sans_io::stun::{Attribute, Fingerprint, Integrity, IntegrityKey, Message, MessageBuilder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Message::peek_header(data);
    let Ok(msg) = Message::decode(data) else {
        return;
    };
    let key = IntegrityKey::short_term("asd88fgpdd777uzjYhagZg");
    let _ = msg.verify_integrity(&key);
    let _ = msg.fingerprint();
    let _ = msg.unknown_comprehension_required().count();
    let _ = msg.ignored_attributes().count();
    let _ = (
        msg.username(),
        msg.priority(),
        msg.ice_controlling(),
        msg.ice_controlled(),
        msg.use_candidate(),
    );
    let _ = msg.mapped_address();

    let mut buf = vec![0u8; data.len() + 64];
    let mut b = MessageBuilder::new(&mut buf, msg.class(), msg.method(), msg.transaction_id())
        .expect("a buffer larger than the message");
    let mut had_integrity = false;
    let mut had_fingerprint = false;
    for a in msg.attributes() {
        match a {
            Attribute::MessageIntegrity(_) => {
                b.add_integrity(&key).expect("integrity where it was");
                had_integrity = true;
            }
            Attribute::Fingerprint(_) => {
                b.add_fingerprint().expect("fingerprint last");
                had_fingerprint = true;
            }
            other => b.add(&other).expect("every decoded attribute re-encodes"),
        }
    }
    let n = b.finish();
    let again = Message::decode(&buf[..n]).expect("a rebuilt message decodes");
    assert_eq!(
        (again.class(), again.method(), again.transaction_id()),
        (msg.class(), msg.method(), msg.transaction_id())
    );
    let strip = |m: &Message<'_>| -> Vec<String> {
        m.attributes()
            .filter(|a| {
                !matches!(
                    a,
                    Attribute::MessageIntegrity(_) | Attribute::Fingerprint(_)
                )
            })
            .map(|a| format!("{a:?}"))
            .collect()
    };
    assert_eq!(strip(&again), strip(&msg));
    assert_eq!(
        again.verify_integrity(&key),
        if had_integrity {
            Integrity::Ok
        } else {
            Integrity::Absent
        }
    );
    assert_eq!(
        again.fingerprint(),
        if had_fingerprint {
            Fingerprint::Ok
        } else {
            Fingerprint::Absent
        }
    );
});
