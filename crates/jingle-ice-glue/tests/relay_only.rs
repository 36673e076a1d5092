//! `BeforeAllowed::RelayOnly` with real relayed candidates: two sessions (Romeo initiates,
//! Juliet accepts), neither allowed to share its addresses yet (XEP-0371 §11.1: "A Jingle
//! client MUST enable a user to control which entities will be allowed to receive such
//! information"), each with a host candidate, no STUN server and a TURN server
//! (`turn-server-proto`, a sans-IO TURN server nobody here wrote), in virtual time.
//!
//! The network: each host sits behind a NAT with a fixed, endpoint-independent mapping (so the
//! mapped address the TURN server sees, the server-reflexive candidate, differs from the host
//! address), and behind a firewall that lets UDP out to the TURN server's IP only and in from
//! it only: direct traffic between the two is dropped. The server relays between its own
//! relayed addresses: what it sends to one of them is fed back into it as arriving there.
//! Stanzas go as XML through a delayed in-order queue, as in `two_sessions.rs`.
//!
//! XEP-0371 §11.1 speaks of candidates exposing "the sender's IP addresses"; a relayed
//! candidate exposes the relay's, which is why [`BeforeAllowed::RelayOnly`] lets it out
//! before the allowance (the project's policy, not the XEP's words).
#![allow(clippy::unwrap_used)] // fixtures

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use jingle_ice_glue::ice_sans_io::turn::{TurnCredentials, TurnState};
use jingle_ice_glue::ice_sans_io::{
    CandidateKind, Datagram, Event as IceEvent, PairInfo, Protocol, Received, State,
};
use jingle_ice_glue::xep0371_model::{
    CandidateType, FromXml, IceFeatures, Iq, IqPayload, Jingle, Reading, parse_element,
};
use jingle_ice_glue::{Allowance, BeforeAllowed, Config, Event, Role, Session};
use turn_server_proto::api::{TurnServerApi, TurnServerPollRet};
use turn_server_proto::server::TurnServer;
use turn_server_proto::stun::agent::Transmit;
use turn_server_proto::types::{Instant as SInstant, TransportType};

const UDP: TransportType = TransportType::Udp;
const ROMEO: &str = "romeo@montague.example/orchard";
const JULIET: &str = "juliet@capulet.example/balcony";
const SID: &str = "a73sjjvkla37jfea";
const USERS: [(&str, &str); 2] = [("romeo", "wherefore"), ("juliet", "art-thou")];
const LATENCY: Duration = Duration::from_millis(10);
const STANZA_DELAY: Duration = Duration::from_millis(40);

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The TURN server's listening address; it relays from the same IP.
fn turn() -> SocketAddr {
    addr("203.0.113.1:3478")
}

/// The sockets the sessions own (index 0 Romeo, 1 Juliet).
fn hosts() -> [SocketAddr; 2] {
    [addr("10.11.12.13:5000"), addr("10.21.22.23:6000")]
}

/// Where each NAT maps its host's socket: the mapped (server-reflexive) addresses.
fn mapped() -> [SocketAddr; 2] {
    [addr("198.51.100.71:40001"), addr("198.51.100.72:40002")]
}

/// A datagram in flight.
enum Hop {
    /// To the TURN server: its listening address or one of its relayed addresses.
    Server {
        from: SocketAddr,
        to: SocketAddr,
        data: Vec<u8>,
    },
    /// Through side `i`'s NAT to its host socket.
    Host {
        i: usize,
        from: SocketAddr,
        data: Vec<u8>,
    },
}

/// One datagram a session emitted, and whether its sharing allowance was given then.
struct Emitted {
    allowed: bool,
    local: SocketAddr,
    remote: SocketAddr,
    data: Vec<u8>,
}

/// Romeo (0, initiator) and Juliet (1, responder), the TURN server, the network, one clock.
struct Lab {
    s: [Session; 2],
    server: TurnServer,
    t0: Instant,
    now: Instant,
    /// (due, to, xml), in sending order.
    stanzas: Vec<(Instant, usize, String)>,
    wire: Vec<(Instant, Hop)>,
    /// Every stanza each side sent, with whether its allowance was given when it left.
    sent: [Vec<(bool, String)>; 2],
    emitted: [Vec<Emitted>; 2],
    events: [Vec<Event>; 2],
    data: [Vec<Vec<u8>>; 2],
    /// The relayed addresses handed to the server, in order.
    relayed: Vec<SocketAddr>,
    /// (from, to) of what the firewalls dropped.
    dropped: Vec<(SocketAddr, SocketAddr)>,
}

impl Lab {
    /// Both sessions under `before`, without an allowance (Juliet's accept does not imply
    /// one), each with its host candidate and the TURN server; nothing sent yet.
    fn new(before: BeforeAllowed) -> Lab {
        #[allow(clippy::disallowed_methods)]
        let t0 = Instant::now();
        let cfg = || {
            let mut c = Config::default();
            c.before_allowed = before;
            c.accept_implies_allowance = false;
            c
        };
        let jid = |s: &str| s.parse().unwrap();
        let mut s = [
            Session::new(
                cfg(),
                Role::Initiator,
                SID,
                jid(ROMEO),
                jid(JULIET),
                [1; 32],
            ),
            Session::new(
                cfg(),
                Role::Responder,
                SID,
                jid(JULIET),
                jid(ROMEO),
                [2; 32],
            ),
        ];
        s[0].set_peer_features(IceFeatures::from_features(&[
            "urn:xmpp:jingle:1",
            "urn:xmpp:jingle:transports:ice:0",
            "urn:xmpp:jingle:transports:ice-udp:1",
        ]));
        let mut server = TurnServer::new(UDP, turn(), "example.org".to_string());
        for (i, (user, pass)) in USERS.into_iter().enumerate() {
            server.add_user(user.into(), pass.into());
            s[i].add_local_host(t0, 1, hosts()[i]).unwrap();
            s[i].add_turn_server(turn(), TurnCredentials::new(user, pass))
                .unwrap();
        }
        let mut lab = Lab {
            s,
            server,
            t0,
            now: t0,
            stanzas: Vec::new(),
            wire: Vec::new(),
            sent: [Vec::new(), Vec::new()],
            emitted: [Vec::new(), Vec::new()],
            events: [Vec::new(), Vec::new()],
            data: [Vec::new(), Vec::new()],
            relayed: Vec::new(),
            dropped: Vec::new(),
        };
        lab.drain();
        lab
    }

    /// The server's clock: the same virtual time.
    fn snow(&self) -> SInstant {
        SInstant::from_nanos(i64::try_from((self.now - self.t0).as_nanos()).unwrap())
    }

    /// Romeo sends session-initiate (Juliet accepts when it arrives).
    fn initiate(&mut self) {
        self.s[0].initiate(self.now, None).unwrap();
        self.drain();
    }

    /// Both sides' users allow sharing (XEP-0371 §11.1).
    fn allow(&mut self) {
        self.s[0].allow_candidates(self.now, Allowance::PresenceSubscription);
        self.s[1].allow_candidates(self.now, Allowance::AllowList);
        self.drain();
    }

    /// The drain rule for both sides; Juliet accepts when session-initiate rings.
    fn drain(&mut self) {
        loop {
            let mut any = false;
            for i in 0..2 {
                let allowed = self.s[i].allowance().is_some();
                while let Some(el) = self.s[i].poll_stanza() {
                    any = true;
                    let xml = String::from(&el);
                    self.sent[i].push((allowed, xml.clone()));
                    self.stanzas.push((self.now + STANZA_DELAY, 1 - i, xml));
                }
                while let Some(t) = self.s[i].poll_transmit() {
                    any = true;
                    let e = Emitted {
                        allowed,
                        local: t.local,
                        remote: t.remote,
                        data: t.data.to_vec(),
                    };
                    self.egress(i, &e);
                    self.emitted[i].push(e);
                }
                while let Some(e) = self.s[i].poll_event() {
                    any = true;
                    if i == 1 && matches!(e, Event::Initiated { .. }) {
                        self.s[1].accept(self.now, None).unwrap();
                    }
                    self.events[i].push(e);
                }
            }
            if !any {
                break;
            }
        }
    }

    /// Side `i`'s datagram through its NAT and firewall: to the TURN server's IP only.
    fn egress(&mut self, i: usize, e: &Emitted) {
        if e.local == hosts()[i] && e.remote.ip() == turn().ip() {
            let hop = Hop::Server {
                from: mapped()[i],
                to: e.remote,
                data: e.data.clone(),
            };
            self.wire.push((self.now + LATENCY, hop));
        } else {
            self.dropped.push((e.local, e.remote));
        }
    }

    /// A datagram arrives at the server.
    fn server_in(&mut self, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        let now = self.snow();
        if let Some(t) = self.server.recv(Transmit::new(data, UDP, from, to), now) {
            let t = t.build();
            self.server_out(t.from, t.to, t.data);
        }
        self.run_server();
    }

    /// The server's socket requests (a relayed address per allocation) and pending datagrams.
    fn run_server(&mut self) {
        loop {
            let now = self.snow();
            match self.server.poll(now) {
                TurnServerPollRet::AllocateSocket {
                    transport,
                    listen_addr,
                    client_addr,
                    allocation_transport,
                    family,
                } => {
                    let port = 49152 + u16::try_from(self.relayed.len()).unwrap();
                    let relayed = SocketAddr::new(turn().ip(), port);
                    self.relayed.push(relayed);
                    self.server.allocated_socket(
                        transport,
                        listen_addr,
                        client_addr,
                        allocation_transport,
                        family,
                        Ok(relayed),
                        now,
                    );
                }
                TurnServerPollRet::WaitUntil(_) => break,
                // Sockets closing: nothing to do in memory.
                _ => {}
            }
        }
        while let Some(t) = self.server.poll_transmit(self.snow()) {
            self.server_out(t.from, t.to, t.data);
        }
    }

    /// A datagram the server sends: to one of its relayed addresses (back into it), or through
    /// a NAT to a host.
    fn server_out(&mut self, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        let due = self.now + LATENCY;
        if to.ip() == turn().ip() {
            self.wire.push((due, Hop::Server { from, to, data }));
        } else if let Some(i) = mapped().iter().position(|m| *m == to) {
            self.wire.push((due, Hop::Host { i, from, data }));
        } else {
            self.dropped.push((from, to));
        }
    }

    fn deliver(&mut self) {
        while let Some(pos) = self.stanzas.iter().position(|(at, ..)| *at <= self.now) {
            let (_, to, xml) = self.stanzas.remove(pos);
            if let Err(r) = self.s[to].handle_xml(self.now, &xml) {
                panic!("refused: {r}\n{xml}");
            }
            self.drain();
        }
        while let Some(pos) = self.wire.iter().position(|(at, _)| *at <= self.now) {
            match self.wire.remove(pos).1 {
                Hop::Server { from, to, data } => self.server_in(from, to, data),
                Hop::Host { i, from, data } => {
                    let d = Datagram {
                        local: hosts()[i],
                        remote: from,
                        protocol: Protocol::Udp,
                        data: &data,
                    };
                    if let Received::Data { data, .. } = self.s[i].handle_receive(self.now, d) {
                        self.data[i].push(data.to_vec());
                    }
                }
            }
            self.drain();
        }
    }

    /// One step: deliver what is due, fire timers, advance to the next deadline.
    fn step(&mut self) {
        self.deliver();
        for i in 0..2 {
            if self.s[i].poll_timeout().is_some_and(|t| t <= self.now) {
                self.s[i].handle_timeout(self.now);
            }
        }
        self.drain();
        let next = self
            .stanzas
            .iter()
            .map(|(t, ..)| *t)
            .chain(self.wire.iter().map(|(t, _)| *t))
            .chain(self.s.iter().filter_map(Session::poll_timeout))
            .min()
            .unwrap_or(self.now + Duration::from_millis(100));
        self.now = next.max(self.now + Duration::from_micros(1));
    }

    /// Steps until `done` or `limit` of virtual time passed; returns whether `done` held.
    fn run_until(&mut self, limit: Duration, done: impl Fn(&Lab) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return true;
            }
            self.step();
        }
        done(self)
    }

    fn both(&self, st: State) -> bool {
        self.s.iter().all(|s| s.state() == st)
    }

    /// Side `i` sends `data` over its selected pair; the run goes on until it arrived.
    fn send_data(&mut self, i: usize, data: &[u8]) {
        let t = self.s[i].send(self.now, 1, data).unwrap();
        let e = Emitted {
            allowed: true,
            local: t.local,
            remote: t.remote,
            data: t.data.to_vec(),
        };
        self.egress(i, &e);
        let got = |l: &Lab| l.data[1 - i].iter().any(|d| d == data);
        assert!(
            self.run_until(Duration::from_secs(1), got),
            "lost on the way"
        );
    }

    /// The candidates of side `i`'s stanzas, each with whether the allowance was given then.
    fn candidates(&self, i: usize) -> Vec<(bool, jingle_ice_glue::xep0371_model::Candidate)> {
        let mut out = Vec::new();
        for (allowed, xml) in &self.sent[i] {
            let iq = Iq::read(&parse_element(xml, 1 << 20).unwrap(), Reading::Strict)
                .unwrap()
                .value;
            let IqPayload::Set(el) = &iq.payload else {
                continue;
            };
            let j = Jingle::read(el, Reading::Strict).unwrap().value;
            for (_, t) in j.ice_transports() {
                out.extend(t.candidates.iter().map(|c| (*allowed, c.clone())));
            }
        }
        out
    }

    /// The relayed address side `i`'s agent reported (RFC 8656 §7.3).
    fn relayed_of(&self, i: usize) -> SocketAddr {
        self.events[i]
            .iter()
            .find_map(|e| match e {
                Event::Ice(IceEvent::RelayAllocated { relayed, .. }) => Some(*relayed),
                _ => None,
            })
            .unwrap_or_else(|| panic!("side {i}: no allocation: {:?}", self.events[i]))
    }
}

/// Whether a selected pair goes through the TURN server (either end relayed).
fn relayed_pair(p: &PairInfo) -> bool {
    p.local.kind == CandidateKind::Relayed || p.remote.kind == CandidateKind::Relayed
}

/// The user's own addresses of side `i`: its host address and its mapped (server-reflexive)
/// address, which no stanza may carry before the allowance.
fn own_ips(i: usize) -> [IpAddr; 2] {
    [hosts()[i].ip(), mapped()[i].ip()]
}

/// XEP-0371 §11.1 and the session's policy before the allowance, for side `i`: no stanza names
/// the user's host or mapped IP (anywhere in the XML: candidates, `rel-addr`, anything else),
/// and no datagram left for anything but the TURN server (the peer's candidates are held, so
/// no connectivity check leaves from the host address to the peer).
fn assert_nothing_of_the_user_before_the_allowance(lab: &Lab, i: usize) {
    let before: Vec<&String> = lab.sent[i]
        .iter()
        .filter(|(a, _)| !a)
        .map(|(_, x)| x)
        .collect();
    assert!(!before.is_empty());
    for xml in &before {
        for ip in own_ips(i) {
            assert!(!xml.contains(&ip.to_string()), "side {i} sent {ip}: {xml}");
        }
    }
    for (_, c) in lab.candidates(i).iter().filter(|(a, _)| !a) {
        assert_eq!(c.type_, CandidateType::Relay, "side {i}: {c:?}");
    }
    for e in lab.emitted[i].iter().filter(|e| !e.allowed) {
        assert_eq!(
            (e.local, e.remote),
            (hosts()[i], turn()),
            "side {i}: a datagram before the allowance not to its TURN server"
        );
    }
}

/// XEP-0371 §11.1 with `BeforeAllowed::RelayOnly`: before the allowance each side's relayed
/// candidate goes to the peer (with the relay's address, and `rel-addr` hidden behind RFC 8839
/// §5.1's placeholder), and nothing that names the user's host or server-reflexive address.
/// Once allowed, the held host and server-reflexive candidates go out, and with direct
/// traffic dropped the sessions connect over a relayed pair (RFC 8445 §5.1.1.2, RFC 8656) and
/// carry data both ways.
#[test]
fn xep0371_11_1_relay_only_shares_the_relay_and_holds_the_rest() {
    let mut lab = Lab::new(BeforeAllowed::RelayOnly);
    lab.initiate();
    // Long enough for both allocations and the transport-infos carrying them.
    let relays_out = |l: &Lab| (0..2).all(|i| l.candidates(i).iter().any(|(a, _)| !a));
    assert!(lab.run_until(Duration::from_secs(5), relays_out));
    let _ = lab.run_until(Duration::from_secs(1), |_| false);

    for i in 0..2 {
        assert_eq!(lab.s[i].allowance(), None);
        // The agent knows the user's mapped address (the Allocate's XOR-MAPPED-ADDRESS, RFC
        // 8656 §7.3): a server-reflexive candidate, held.
        assert!(
            lab.events[i].iter().any(|e| matches!(
                e,
                Event::Ice(IceEvent::LocalCandidate(c))
                    if c.kind == CandidateKind::ServerReflexive && c.addr == mapped()[i]
            )),
            "side {i}: {:?}",
            lab.events[i]
        );
        assert_nothing_of_the_user_before_the_allowance(&lab, i);
        // The relayed candidate went, as allocated, its related address hidden.
        let relayed = lab.relayed_of(i);
        let sent: Vec<_> = lab.candidates(i).into_iter().map(|(_, c)| c).collect();
        assert_eq!(sent.len(), 1, "side {i}: {sent:?}");
        assert_eq!(sent[0].addr(), relayed);
        assert_eq!(sent[0].related_addr(), Some(addr("0.0.0.0:9")));
    }
    // Not connected: no check before the allowance (the peer's candidates are held too).
    assert!(!lab.both(State::Completed));

    lab.allow();
    for i in 0..2 {
        let after: Vec<_> = lab
            .candidates(i)
            .into_iter()
            .filter(|(a, _)| *a)
            .map(|(_, c)| (c.type_, c.addr()))
            .collect();
        assert!(
            after.contains(&(CandidateType::Host, hosts()[i])),
            "side {i}: {after:?}"
        );
        assert!(
            after.contains(&(CandidateType::Srflx, mapped()[i])),
            "side {i}: {after:?}"
        );
    }
    assert!(lab.run_until(Duration::from_secs(10), |l| l.both(State::Completed)));
    for i in 0..2 {
        let p = lab.s[i].agent().selected_pair(1).unwrap();
        assert!(p.nominated && relayed_pair(&p), "side {i}: {p:?}");
    }
    assert!(
        !lab.dropped.is_empty(),
        "the direct checks were tried and dropped"
    );
    lab.send_data(0, b"wherefore art thou");
    lab.send_data(1, b"deny thy father");
}

/// The same run with `BeforeAllowed::Nothing` (the default, XEP-0371 §11.1): not even the
/// relayed candidate goes before the allowance; once allowed, the sessions connect over the
/// relay all the same.
#[test]
fn xep0371_11_1_nothing_holds_the_relay_too() {
    let mut lab = Lab::new(BeforeAllowed::Nothing);
    lab.initiate();
    assert!(!lab.run_until(Duration::from_secs(6), |l| {
        (0..2).any(|i| !l.candidates(i).is_empty())
    }));
    for i in 0..2 {
        let _ = lab.relayed_of(i);
        assert_nothing_of_the_user_before_the_allowance(&lab, i);
    }
    lab.allow();
    assert!(lab.run_until(Duration::from_secs(10), |l| l.both(State::Completed)));
    for i in 0..2 {
        let p = lab.s[i].agent().selected_pair(1).unwrap();
        assert!(relayed_pair(&p), "side {i}: {p:?}");
    }
}

/// Whether `data` is a TURN Refresh request (RFC 8656 §8, method 0x004) with LIFETIME 0: the
/// deletion of the allocation. Read by hand from RFC 8489 §5 and §14 (header, TLVs padded to
/// four bytes), independently of either TURN implementation.
fn is_refresh_lifetime_0(data: &[u8]) -> bool {
    const REFRESH_REQUEST: u16 = 0x0004;
    const LIFETIME: u16 = 0x000D;
    const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
    let u16_at = |i: usize| u16::from_be_bytes([data[i], data[i + 1]]);
    if data.len() < 20 || u16_at(0) != REFRESH_REQUEST || data[4..8] != MAGIC_COOKIE {
        return false;
    }
    let end = (20 + usize::from(u16_at(2))).min(data.len());
    let mut at = 20;
    while at + 4 <= end {
        let (kind, len) = (u16_at(at), usize::from(u16_at(at + 2)));
        if kind == LIFETIME && len == 4 && at + 8 <= end {
            return data[at + 4..at + 8] == [0, 0, 0, 0];
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    false
}

/// XEP-0166 §6.7 and RFC 8656 §8: the session that terminates releases its allocation at once
/// (a Refresh with LIFETIME 0 to its TURN server); the peer, on session-terminate, releases
/// its own. The server takes both: the clients are closed and the relayed addresses relay
/// nothing more.
#[test]
fn rfc8656_8_session_end_releases_the_allocation() {
    let mut lab = Lab::new(BeforeAllowed::RelayOnly);
    lab.initiate();
    lab.allow();
    assert!(lab.run_until(Duration::from_secs(10), |l| l.both(State::Completed)));
    let (r0, r1) = (lab.relayed_of(0), lab.relayed_of(1));
    // The relay works: a datagram from Juliet's relayed address reaches Romeo's allocation
    // (his relayed pair asked a permission for the server's IP).
    let probe = |lab: &mut Lab| {
        let now = lab.snow();
        lab.server
            .recv(Transmit::new(b"probe".to_vec(), UDP, r1, r0), now)
            .is_some()
    };
    assert!(probe(&mut lab));

    let before = [lab.emitted[0].len(), lab.emitted[1].len()];
    lab.s[0].terminate(lab.now, "success").unwrap();
    lab.drain();
    let released = |lab: &Lab, i: usize| {
        lab.emitted[i][before[i]..]
            .iter()
            .any(|e| e.remote == turn() && is_refresh_lifetime_0(&e.data))
    };
    assert!(released(&lab, 0), "no Refresh with LIFETIME 0 at terminate");
    let closed = |l: &Lab| {
        l.s.iter().all(|s| {
            s.agent()
                .turn_clients()
                .all(|c| c.state() == TurnState::Closed)
        })
    };
    assert!(lab.run_until(Duration::from_secs(2), closed));
    assert!(released(&lab, 1), "the peer kept its allocation");
    assert!(
        lab.events[1]
            .iter()
            .any(|e| matches!(e, Event::Terminated { .. }))
    );
    assert!(!probe(&mut lab), "the server still relays for Romeo");
}
