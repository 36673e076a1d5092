//! XEP-0371 §8: the namespace from disco features, RFC 3264 batches and the §5.8 notification.

use super::*;

#[test]
fn xep0371_8_1_namespace_from_disco_features() {
    let now = t0();
    for (features, ns) in [
        (
            vec![
                "urn:xmpp:jingle:1",
                "urn:xmpp:jingle:transports:ice:0",
                "urn:xmpp:jingle:transports:ice-udp:1",
            ],
            IceNamespace::Ice0,
        ),
        (
            vec!["urn:xmpp:jingle:1", "urn:xmpp:jingle:transports:ice:0"],
            IceNamespace::Ice0,
        ),
        (
            vec!["urn:xmpp:jingle:1", "urn:xmpp:jingle:transports:ice-udp:1"],
            IceNamespace::IceUdp1,
        ),
        (vec![], IceNamespace::IceUdp1),
    ] {
        let mut s = romeo(Config::default(), 6);
        s.set_peer_features(IceFeatures::from_features(&features));
        s.initiate(now, None).unwrap();
        assert_eq!(s.namespace(), ns, "{features:?}");
        let (out, _) = drain(&mut s);
        let (_, t) = sets(&out, Action::SessionInitiate)[0]
            .ice_transports()
            .next()
            .map(|(c, t)| (c.clone(), t.clone()))
            .unwrap();
        assert_eq!(t.namespace, ns);
    }
}

/// XEP-0371 §5.5 and §8.2: a peer advertising urn:ietf:rfc:3264 gets the candidates together;
/// §5.8: and the remote-candidate notification (MUST). Without it: one transport-info per
/// candidate and no notification (MAY, off by default).
#[test]
fn xep0371_8_2_rfc3264_batches_and_5_8_notification() {
    for rfc3264 in [false, true] {
        let mut cfg = [
            Config::allowing(Allowance::AllowList),
            Config::allowing(Allowance::AllowList),
        ];
        cfg[0].candidates_in_offer = false;
        let mut n = Net::new(cfg, [11, 12]);
        n.hosts[0] = vec![
            "192.0.2.1:5000".parse().unwrap(),
            "192.0.2.11:5000".parse().unwrap(),
            "192.0.2.21:5000".parse().unwrap(),
        ];
        n.s[0].set_peer_features(IceFeatures {
            ice0: true,
            rfc3264,
            ..IceFeatures::default()
        });
        n.connect();
        let _ = n.run_until(Duration::from_millis(500), |_| false);
        let ti = n.jingles(0, Action::TransportInfo);
        let with_cands: Vec<usize> = ti
            .iter()
            .flat_map(|j| {
                j.ice_transports()
                    .map(|(_, t)| t.candidates.len())
                    .collect::<Vec<_>>()
            })
            .filter(|n| *n > 0)
            .collect();
        if rfc3264 {
            assert_eq!(with_cands, vec![3]);
        } else {
            assert_eq!(with_cands, vec![1, 1, 1]);
        }
        let notified = ti.iter().any(|j| {
            j.ice_transports()
                .any(|(_, t)| !t.remote_candidates.is_empty())
        });
        assert_eq!(notified, rfc3264);
        assert_eq!(
            n.saw(1, |e| matches!(e, Event::RemoteCandidates { .. })),
            rfc3264
        );
        if rfc3264 {
            let (_, t) = ti
                .iter()
                .flat_map(|j| {
                    j.ice_transports()
                        .map(|(c, t)| (c.clone(), t.clone()))
                        .collect::<Vec<_>>()
                })
                .find(|(_, t)| !t.remote_candidates.is_empty())
                .unwrap();
            assert_eq!(
                t.remote_candidates[0].addr(),
                "192.0.2.2:6000".parse().unwrap()
            );
        }
    }
    // §5.8 MAY: on request.
    let mut cfg = [
        Config::allowing(Allowance::AllowList),
        Config::allowing(Allowance::AllowList),
    ];
    cfg[0].always_notify_remote_candidates = true;
    let mut n = Net::new(cfg, [13, 14]);
    n.connect();
    let _ = n.run_until(Duration::from_millis(500), |_| false);
    assert!(n.saw(1, |e| matches!(e, Event::RemoteCandidates { .. })));
}
