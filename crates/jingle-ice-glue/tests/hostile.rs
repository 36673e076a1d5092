//! Hostile input: deployed-client stanzas with random byte edits, fed to sessions in every
//! phase. Nothing panics, state stays bounded, every refusal with a reply answers the request's
//! id.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use jingle_ice_glue::xep0371_model::IqPayload;
use jingle_ice_glue::{Allowance, Config, Role, Session};
use proptest::prelude::*;

const STANZAS: [&str; 7] = [
    include_str!("data/conversations-session-initiate.xml"),
    include_str!("data/conversations-transport-info.xml"),
    include_str!("data/conversations-restart.xml"),
    include_str!("data/dino-session-accept.xml"),
    include_str!("data/gajim-session-initiate.xml"),
    include_str!("data/jitsi-session-initiate.xml"),
    include_str!("data/ice0-tcp-candidates.xml"),
];

const SIDS: [&str; 4] = [
    "gB6U4aRkzNq1M0Xe",
    "75f3b1c2-9a8e-4d7f-b6a5-c4d3e2f1a0b9",
    "4ckt2m0u0e9i1",
    "a73sjjvkla37jfea",
];

fn sessions(now: Instant) -> Vec<Session> {
    let mut v = Vec::new();
    for (i, sid) in SIDS.iter().enumerate() {
        for role in [Role::Initiator, Role::Responder] {
            let mut cfg = Config::allowing(Allowance::AllowList);
            cfg.max_queued_candidates = 4;
            cfg.max_pending_iqs = 4;
            let peer = "romeo@montague.example/orchard";
            let mut s = Session::new(cfg, role, *sid, jid(JULIET), jid(peer), seed(i as u8));
            s.add_local_host(now, 1, "192.0.2.2:6000".parse().unwrap())
                .unwrap();
            if role == Role::Initiator {
                s.initiate(now, None).unwrap();
            }
            v.push(s);
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn mutated_client_stanzas(edits in proptest::collection::vec((0usize..7, any::<prop::sample::Index>(), 0x20u8..0x7f), 1..24)) {
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let mut ss = sessions(now);
        for (k, (which, at, byte)) in edits.iter().enumerate() {
            let mut text = STANZAS[*which].as_bytes().to_vec();
            let i = at.index(text.len());
            text[i] = *byte;
            let xml = String::from_utf8(text).unwrap();
            for s in &mut ss {
                match s.handle_xml(now + Duration::from_millis(k as u64), &xml) {
                    Ok(_) => {}
                    Err(r) => {
                        let is_error = matches!(r.reply().payload, IqPayload::Error { .. });
                        prop_assert!(is_error);
                    }
                }
                if k % 5 == 4 {
                    let _ = s.restart(now);
                    s.handle_timeout(now + Duration::from_secs(40));
                }
                while s.poll_iq().is_some() {}
                while s.poll_event().is_some() {}
                while s.poll_transmit().is_some() {}
                prop_assert!(s.pending_requests() <= 4);
                prop_assert!(s.queued_candidates() <= 8);
            }
        }
    }
}
