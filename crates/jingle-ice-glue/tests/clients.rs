//! Stanzas of deployed clients (copies of `conformance/clients/*.xml` in `tests/data/`): fed
//! as they are, and with live credentials to a session that negotiates with an ICE agent
//! playing the client.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use jingle_ice_glue::ice_sans_io::{self, Datagram, IceAgent, Protocol, State};
use jingle_ice_glue::xep0371_model::{
    Action, FromXml, IceNamespace, Iq, IqPayload, Jingle, Reading,
};
use jingle_ice_glue::{Allowance, Config, Event, Handled, Role, Session};

const CONV_INIT: &str = include_str!("data/conversations-session-initiate.xml");
const CONV_TI: &str = include_str!("data/conversations-transport-info.xml");
const CONV_RESTART: &str = include_str!("data/conversations-restart.xml");
const DINO_ACCEPT: &str = include_str!("data/dino-session-accept.xml");
const GAJIM_INIT: &str = include_str!("data/gajim-session-initiate.xml");
const JITSI_INIT: &str = include_str!("data/jitsi-session-initiate.xml");
const ICE0_TCP: &str = include_str!("data/ice0-tcp-candidates.xml");

const CONV: &str = "romeo@montague.example/Conversations.Ab3d";
const DINO: &str = "juliet@capulet.example/Dino.x7Kq";
const CONV_SID: &str = "gB6U4aRkzNq1M0Xe";

#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

fn drain(s: &mut Session) -> (Vec<Iq>, Vec<Event>) {
    let mut out = Vec::new();
    while let Some(i) = s.poll_iq() {
        out.push(i);
    }
    let mut ev = Vec::new();
    while let Some(e) = s.poll_event() {
        ev.push(e);
    }
    (out, ev)
}

fn sets(out: &[Iq], action: Action) -> Vec<Jingle> {
    out.iter()
        .filter_map(|iq| match &iq.payload {
            IqPayload::Set(el) => Jingle::read(el, Reading::Lenient).ok().map(|p| p.value),
            _ => None,
        })
        .filter(|j| j.action == action)
        .collect()
}

fn dino_responder(sid: &str, peer: &str, cfg: Config) -> Session {
    Session::new(cfg, Role::Responder, sid, jid(DINO), jid(peer), seed(50))
}

#[test]
fn conversations_stanzas_as_they_are() {
    let now = t0();
    let mut s = dino_responder(CONV_SID, CONV, Config::default());
    s.add_local_host(now, 1, "192.0.2.2:6000".parse().unwrap())
        .unwrap();
    // A session-initiate without candidates, a DTLS fingerprint in the transport, a BUNDLE
    // group, no `from` (the server stamps it).
    assert_eq!(
        s.handle_xml(now, CONV_INIT),
        Ok(Handled::Acknowledged(Action::SessionInitiate))
    );
    assert_eq!(s.namespace(), IceNamespace::IceUdp1);
    // One WebRTC candidate per transport-info, UUID ids.
    assert_eq!(
        s.handle_xml(now, CONV_TI),
        Ok(Handled::Acknowledged(Action::TransportInfo))
    );
    s.accept(now, None).unwrap();
    assert_eq!(s.agent().remote_candidates().len(), 1);
    assert_eq!(
        s.agent().remote_credentials(),
        Some(("Zk9e", "q0Yk7vD3Jm2uN4pW1cR8tF5h"))
    );
    let (out, _) = drain(&mut s);
    let acc = &sets(&out, Action::SessionAccept)[0];
    assert_eq!(acc.contents[0].name, "0");
    let (_, t) = acc.ice_transports().next().unwrap();
    assert_eq!(
        (t.namespace, t.ice2, t.candidates.len()),
        (IceNamespace::IceUdp1, None, 1)
    );
    // No gathering-complete in ice-udp:1.
    assert!(
        sets(&out, Action::TransportInfo)
            .iter()
            .all(|j| j.ice_transports().all(|(_, t)| !t.gathering_complete))
    );
    // An ICE restart as new ufrag/pwd and no candidates: a restart.
    assert_eq!(
        s.handle_xml(now, CONV_RESTART),
        Ok(Handled::Acknowledged(Action::TransportInfo))
    );
    let (out, ev) = drain(&mut s);
    assert!(ev.contains(&Event::Restarted {
        by_peer: true,
        generation: 1
    }));
    assert_eq!(
        s.agent().remote_credentials(),
        Some(("p8Rt", "Hn2cW5xJ0vL7yB3kQ9mZ4sT1"))
    );
    let ti = sets(&out, Action::TransportInfo);
    let (_, t) = ti[0].ice_transports().next().unwrap();
    assert_eq!(t.ufrag.as_deref(), Some(s.agent().local_credentials().0));
    assert_eq!(t.candidates[0].generation, Some(1));
}

#[test]
fn dino_session_accept() {
    let now = t0();
    let mut s = Session::new(
        Config::allowing(Allowance::PresenceSubscription),
        Role::Initiator,
        CONV_SID,
        jid(CONV),
        jid(DINO),
        seed(51),
    );
    s.add_local_host(now, 1, "192.0.2.1:5000".parse().unwrap())
        .unwrap();
    s.initiate(now, None).unwrap();
    let _ = drain(&mut s);
    // Numeric foundations, host, srflx and relay, no `network`, a fingerprint first.
    assert_eq!(
        s.handle_xml(now, DINO_ACCEPT),
        Ok(Handled::Acknowledged(Action::SessionAccept))
    );
    assert_eq!(s.agent().remote_candidates().len(), 3);
    assert_eq!(
        s.agent().remote_credentials(),
        Some(("N3hv", "fjw0QzB4Ys9p2Ka7d1Lx6TGe"))
    );
    let (out, ev) = drain(&mut s);
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Accepted {
            description: Some(_)
        }
    )));
    assert!(
        out.iter()
            .any(|i| i.id == "a1b2c3d4-e5f6-4789-abcd-0123456789ab")
    );
}

#[test]
fn gajim_session_initiate_two_components() {
    let now = t0();
    let sid = "75f3b1c2-9a8e-4d7f-b6a5-c4d3e2f1a0b9";
    let peer = "romeo@montague.example/gajim.LK3M0P";
    for (components, taken, refused) in [(2, 4, 0), (1, 2, 2)] {
        let mut cfg = Config::allowing(Allowance::PresenceSubscription);
        cfg.ice = cfg.ice.with_components(components);
        let mut s = Session::new(
            cfg,
            Role::Responder,
            sid,
            jid("juliet@capulet.example/gajim.QX1RZ8"),
            jid(peer),
            seed(52),
        );
        // Gajim's ids are UUIDs (not NCNames) and its srflx candidates have rel-addr.
        assert_eq!(
            s.handle_xml(now, GAJIM_INIT),
            Ok(Handled::Acknowledged(Action::SessionInitiate))
        );
        assert_eq!(s.agent().remote_candidates().len(), taken);
        assert_eq!(s.stats().candidates_refused, refused);
    }
}

#[test]
fn jitsi_session_initiate() {
    let now = t0();
    let focus = "room@conference.meet.example/focus";
    let mut s = Session::new(
        Config::default(),
        Role::Responder,
        "4ckt2m0u0e9i1",
        jid("romeo@montague.example/b1e7"),
        jid(focus),
        seed(53),
    );
    s.add_local_host(now, 1, "192.0.2.1:5000".parse().unwrap())
        .unwrap();
    assert_eq!(
        s.handle_xml(now, JITSI_INIT),
        Ok(Handled::Acknowledged(Action::SessionInitiate))
    );
    s.accept(now, None).unwrap();
    assert_eq!(s.agent().remote_candidates().len(), 2);
    let (out, _) = drain(&mut s);
    // The initiator attribute names the focus's initiator, not the MUC sender.
    let acc = &sets(&out, Action::SessionAccept)[0];
    assert_eq!(acc.initiator, Some(jid("focus@auth.meet.example/focus")));
    assert_eq!(out[1].to, Some(jid(focus)));
}

#[test]
fn ice0_peer_with_tcp_candidates() {
    let now = t0();
    let mut s = Session::new(
        Config::allowing(Allowance::AllowList),
        Role::Responder,
        "a73sjjvkla37jfea",
        jid("juliet@capulet.example/balcony"),
        jid("romeo@montague.example/orchard"),
        seed(54),
    );
    let init = "<iq xmlns='jabber:client' from='romeo@montague.example/orchard' id='i0' type='set'><jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' initiator='romeo@montague.example/orchard' sid='a73sjjvkla37jfea'><content creator='initiator' name='file'><transport xmlns='urn:xmpp:jingle:transports:ice:0' ufrag='8hhy' pwd='asd88fgpdd777uzjYhagZg' ice2='true'/></content></jingle></iq>";
    assert!(s.handle_xml(now, init).is_ok());
    assert_eq!(s.peer_ice2(), Some(true));
    assert_eq!(
        s.handle_xml(now, ICE0_TCP),
        Ok(Handled::Acknowledged(Action::TransportInfo))
    );
    // The UDP and the two TCP candidates (RFC 6544: active with port 9, passive) are taken,
    // each TCP one with its tcptype.
    let remotes = s.agent().remote_candidates();
    assert_eq!(remotes.len(), 3);
    assert_eq!(s.stats().candidates_refused, 0);
    let tcp: Vec<_> = remotes
        .iter()
        .filter(|c| c.protocol == Protocol::Tcp)
        .map(|c| (c.addr.port(), c.tcp_type))
        .collect();
    assert_eq!(
        tcp,
        [
            (9, Some(ice_sans_io::TcpType::Active)),
            (50001, Some(ice_sans_io::TcpType::Passive))
        ]
    );
    assert!(s.agent().remote_end_of_candidates());
}

/// The same candidates in XEP-0176's namespace, whose schema has no `tcptype`: the lenient
/// reading keeps it, and the TCP candidates reach the agent there too.
#[test]
fn ice_udp_peer_with_tcp_candidates() {
    let now = t0();
    let mut s = Session::new(
        Config::allowing(Allowance::AllowList),
        Role::Responder,
        "a73sjjvkla37jfea",
        jid("juliet@capulet.example/balcony"),
        jid("romeo@montague.example/orchard"),
        seed(55),
    );
    let ns = |x: &str| {
        x.replace(
            "urn:xmpp:jingle:transports:ice:0",
            "urn:xmpp:jingle:transports:ice-udp:1",
        )
        .replace(" ice2='true'", "")
        .replace(" ice2=\"true\"", "")
    };
    let init = "<iq xmlns='jabber:client' from='romeo@montague.example/orchard' id='i0' type='set'><jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' initiator='romeo@montague.example/orchard' sid='a73sjjvkla37jfea'><content creator='initiator' name='file'><transport xmlns='urn:xmpp:jingle:transports:ice:0' ufrag='8hhy' pwd='asd88fgpdd777uzjYhagZg' ice2='true'/></content></jingle></iq>";
    assert!(s.handle_xml(now, &ns(init)).is_ok());
    assert_eq!(
        s.handle_xml(now, &ns(ICE0_TCP)),
        Ok(Handled::Acknowledged(Action::TransportInfo))
    );
    let tcp = s
        .agent()
        .remote_candidates()
        .iter()
        .filter(|c| c.protocol == Protocol::Tcp && c.tcp_type.is_some())
        .count();
    assert_eq!(tcp, 2);
    assert_eq!(s.stats().candidates_refused, 0);
}

/// Conversations' stanzas with live credentials, from an ICE agent playing Conversations:
/// Dino's session negotiates, restarts the Conversations way, and negotiates again.
#[test]
fn conversations_flow_negotiates() {
    let start = t0();
    let mut now = start;
    let conv_addr = "203.0.113.45:51378".parse().unwrap();
    let dino_addr = "192.0.2.2:6000".parse().unwrap();
    let mut conv = IceAgent::new(
        ice_sans_io::Config::new(ice_sans_io::Role::Controlling),
        seed(60),
    );
    conv.add_local_host(1, conv_addr).unwrap();
    conv.gather(now);
    while conv.poll_event().is_some() {}
    let mut s = dino_responder(CONV_SID, CONV, Config::default());
    s.add_local_host(now, 1, dino_addr).unwrap();
    let live = |xml: &str, conv: &IceAgent, old: (&str, &str)| {
        let (u, p) = conv.local_credentials();
        xml.replace(&format!("ufrag=\"{}\"", old.0), &format!("ufrag=\"{u}\""))
            .replace(&format!("pwd=\"{}\"", old.1), &format!("pwd=\"{p}\""))
            // Conversations' candidate is srflx; our stand-in's address is a host's.
            .replace("type=\"srflx\"", "type=\"host\"")
    };
    let creds0 = ("Zk9e", "q0Yk7vD3Jm2uN4pW1cR8tF5h");
    assert!(s.handle_xml(now, &live(CONV_INIT, &conv, creds0)).is_ok());
    assert!(s.handle_xml(now, &live(CONV_TI, &conv, creds0)).is_ok());
    s.accept(now, None).unwrap();

    // Dino's candidates and credentials to the stand-in, as Conversations would read them.
    let feed = |s: &mut Session, conv: &mut IceAgent, now: Instant| {
        while let Some(iq) = s.poll_iq() {
            let IqPayload::Set(el) = &iq.payload else {
                continue;
            };
            let j = Jingle::read(el, Reading::Lenient).unwrap().value;
            for (_, t) in j.ice_transports() {
                if let (Some(u), Some(p)) = (&t.ufrag, &t.pwd) {
                    conv.set_remote_credentials(now, u, p).unwrap();
                }
                for c in &t.candidates {
                    let c = ice_sans_io::Candidate {
                        component: 1,
                        foundation: c.foundation.clone(),
                        protocol: Protocol::Udp,
                        priority: c.priority,
                        addr: c.addr(),
                        kind: ice_sans_io::CandidateKind::Host,
                        related: None,
                        tcp_type: None,
                    };
                    conv.add_remote_candidate(now, c).unwrap();
                }
            }
        }
    };
    let run = |s: &mut Session, conv: &mut IceAgent, now: &mut Instant| {
        for _ in 0..2000 {
            feed(s, conv, *now);
            while conv.poll_event().is_some() {}
            let mut wire = Vec::new();
            while let Some(t) = conv.poll_transmit() {
                wire.push((true, t.local, t.remote, t.data.to_vec()));
            }
            while let Some(t) = s.poll_transmit() {
                wire.push((false, t.local, t.remote, t.data.to_vec()));
            }
            for (from_conv, from, to, data) in wire {
                let d = Datagram {
                    local: to,
                    remote: from,
                    protocol: Protocol::Udp,
                    data: &data,
                };
                if from_conv {
                    let _ = s.handle_receive(*now, d);
                } else {
                    let _ = conv.handle_receive(*now, d);
                }
            }
            while s.poll_event().is_some() {}
            if conv.state() == State::Completed
                && s.state() == State::Completed
                && s.agent().generation() == conv.generation()
            {
                if let (Some(a), Some(b)) = (conv.selected_pair(1), s.agent().selected_pair(1)) {
                    if a.nominated && b.nominated {
                        return true;
                    }
                }
            }
            let next = [conv.poll_timeout(), s.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            *now = next
                .unwrap_or(*now + Duration::from_millis(10))
                .max(*now + Duration::from_millis(1));
            conv.handle_timeout(*now);
            s.handle_timeout(*now);
        }
        false
    };
    assert!(run(&mut s, &mut conv, &mut now), "no connection");
    assert_eq!(s.agent().selected_pair(1).unwrap().remote.addr, conv_addr);

    // Conversations restarts: new ufrag/pwd and no candidate, then its candidate again.
    conv.restart(now);
    while conv.poll_event().is_some() {}
    let (u, p) = conv.local_credentials();
    let restart = CONV_RESTART
        .replace("ufrag=\"p8Rt\"", &format!("ufrag=\"{u}\""))
        .replace("pwd=\"Hn2cW5xJ0vL7yB3kQ9mZ4sT1\"", &format!("pwd=\"{p}\""));
    assert!(s.handle_xml(now, &restart).is_ok());
    let again = live(CONV_TI, &conv, creds0).replace("generation=\"0\"", "generation=\"1\"");
    assert!(s.handle_xml(now, &again).is_ok());
    assert_eq!(s.agent().generation(), 1);
    assert!(
        run(&mut s, &mut conv, &mut now),
        "no connection after the restart"
    );
    assert_eq!(s.stats().refused, 0);
}
