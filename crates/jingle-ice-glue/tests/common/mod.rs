//! Two sessions in virtual time: stanzas through a delayed in-order queue (serialised to XML
//! and parsed again), datagrams through an in-memory link with latency.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use jingle_ice_glue::ice_sans_io::{Datagram, Protocol, Received, State};
use jingle_ice_glue::xep0371_model::jid::Jid;
use jingle_ice_glue::xep0371_model::{
    Action, FromXml, Iq, IqPayload, Jingle, Reading, parse_element,
};
use jingle_ice_glue::{Config, Event, Refused, Role, Session};

pub const ROMEO: &str = "romeo@montague.example/orchard";
pub const JULIET: &str = "juliet@capulet.example/balcony";
pub const SID: &str = "a73sjjvkla37jfea";

pub fn jid(s: &str) -> Jid {
    s.parse().unwrap()
}

pub fn seed(b: u8) -> [u8; 32] {
    let mut s = [0u8; 32];
    s[0] = b;
    s
}

/// Romeo (0, initiator) and Juliet (1, responder).
pub struct Net {
    pub s: [Session; 2],
    pub hosts: [Vec<SocketAddr>; 2],
    pub start: Instant,
    pub now: Instant,
    pub stanza_delay: Duration,
    pub latency: Duration,
    /// (due, to, xml) in sending order: in-order delivery per direction.
    stanzas: Vec<(Instant, usize, String)>,
    wire: Vec<(Instant, SocketAddr, SocketAddr, Vec<u8>)>,
    pub events: [Vec<(Duration, Event)>; 2],
    /// Stanzas each side sent, typed.
    pub sent: [Vec<Iq>; 2],
    /// Refusals each side returned (and sent back).
    pub refused: [Vec<Refused>; 2],
    pub data: [Vec<Vec<u8>>; 2],
    pub auto_accept: bool,
    /// Hold stanzas of side i instead of sending them (for crossing restarts).
    pub hold: [bool; 2],
    held: [Vec<String>; 2],
}

impl Net {
    pub fn new(cfg: [Config; 2], seeds: [u8; 2]) -> Net {
        #[allow(clippy::disallowed_methods)]
        let start = Instant::now();
        let [c0, c1] = cfg;
        let r = Session::new(
            c0,
            Role::Initiator,
            SID,
            jid(ROMEO),
            jid(JULIET),
            seed(seeds[0]),
        );
        let j = Session::new(
            c1,
            Role::Responder,
            SID,
            jid(JULIET),
            jid(ROMEO),
            seed(seeds[1]),
        );
        Net {
            s: [r, j],
            hosts: [
                vec!["192.0.2.1:5000".parse().unwrap()],
                vec!["192.0.2.2:6000".parse().unwrap()],
            ],
            start,
            now: start,
            stanza_delay: Duration::from_millis(40),
            latency: Duration::from_millis(10),
            stanzas: Vec::new(),
            wire: Vec::new(),
            events: [Vec::new(), Vec::new()],
            sent: [Vec::new(), Vec::new()],
            refused: [Vec::new(), Vec::new()],
            data: [Vec::new(), Vec::new()],
            auto_accept: true,
            hold: [false, false],
            held: [Vec::new(), Vec::new()],
        }
    }

    pub fn add_hosts(&mut self) {
        for i in 0..2 {
            for h in self.hosts[i].clone() {
                self.s[i].add_local_host(self.now, 1, h).unwrap();
            }
        }
        self.drain();
    }

    /// Adds the hosts and sends Romeo's session-initiate.
    pub fn initiate(&mut self) {
        self.add_hosts();
        self.s[0].initiate(self.now, None).unwrap();
        self.drain();
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Drains every poller of both sides.
    pub fn drain(&mut self) {
        loop {
            let mut any = false;
            for i in 0..2 {
                while let Some(iq) = self.s[i].poll_iq() {
                    any = true;
                    self.queue(i, iq);
                }
                while let Some(t) = self.s[i].poll_transmit() {
                    any = true;
                    let (from, to, data) = (t.local, t.remote, t.data.to_vec());
                    self.wire.push((self.now + self.latency, from, to, data));
                }
                while let Some(e) = self.s[i].poll_event() {
                    any = true;
                    if i == 1 && self.auto_accept && matches!(e, Event::Initiated { .. }) {
                        self.s[1].accept(self.now, None).unwrap();
                    }
                    self.events[i].push((self.elapsed(), e));
                }
            }
            if !any {
                break;
            }
        }
    }

    fn queue(&mut self, from: usize, iq: Iq) {
        let xml = String::from(&jingle_ice_glue::xep0371_model::minidom::Element::from(&iq));
        self.sent[from].push(iq);
        if self.hold[from] {
            self.held[from].push(xml);
        } else {
            self.stanzas
                .push((self.now + self.stanza_delay, 1 - from, xml));
        }
    }

    /// Sends what side i held.
    pub fn release(&mut self, i: usize) {
        self.hold[i] = false;
        for xml in std::mem::take(&mut self.held[i]) {
            self.stanzas
                .push((self.now + self.stanza_delay, 1 - i, xml));
        }
    }

    fn deliver(&mut self) {
        // Stanzas, in order.
        while let Some(pos) = self.stanzas.iter().position(|(at, _, _)| *at <= self.now) {
            let (_, to, xml) = self.stanzas.remove(pos);
            match self.s[to].handle_xml(self.now, &xml) {
                Ok(_) => {}
                Err(r) => {
                    let reply = r.reply().clone();
                    self.queue(to, reply);
                    self.refused[to].push(r);
                }
            }
            self.drain();
        }
        // Datagrams.
        while let Some(pos) = self.wire.iter().position(|(at, ..)| *at <= self.now) {
            let (_, from, to, data) = self.wire.remove(pos);
            let Some(i) = (0..2).find(|i| self.hosts[*i].contains(&to)) else {
                continue;
            };
            let d = Datagram {
                local: to,
                remote: from,
                protocol: Protocol::Udp,
                data: &data,
            };
            if let Received::Data { data, .. } = self.s[i].handle_receive(self.now, d) {
                self.data[i].push(data.to_vec());
            }
            self.drain();
        }
    }

    /// One step: deliver what is due, fire timers, advance to the next deadline.
    pub fn step(&mut self) {
        self.deliver();
        for i in 0..2 {
            if self.s[i].poll_timeout().is_some_and(|t| t <= self.now) {
                self.s[i].handle_timeout(self.now);
            }
        }
        self.drain();
        let mut next: Option<Instant> = None;
        let mut at = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        self.stanzas.iter().for_each(|(t, ..)| at(*t));
        self.wire.iter().for_each(|(t, ..)| at(*t));
        for s in &self.s {
            if let Some(t) = s.poll_timeout() {
                at(t);
            }
        }
        let next = next.unwrap_or(self.now + Duration::from_millis(100));
        self.now = self.now.max(next).max(self.now + Duration::from_micros(1));
    }

    /// Steps until `done` or `limit` of virtual time passed; returns whether `done` held.
    pub fn run_until(&mut self, limit: Duration, done: impl Fn(&Net) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return true;
            }
            self.step();
        }
        done(self)
    }

    pub fn both(&self, st: State) -> bool {
        self.s.iter().all(|s| s.state() == st)
    }

    pub fn connect(&mut self) {
        self.initiate();
        assert!(
            self.run_until(Duration::from_secs(10), |n| n.both(State::Completed)),
            "not connected: {:?} {:?}\nromeo sent {:#?}\njuliet sent {:#?}\nrefused {:?}",
            self.s[0].state(),
            self.s[1].state(),
            self.sent[0].len(),
            self.sent[1].len(),
            self.refused
        );
    }

    /// Sends `data` from side i over its selected pair and delivers it.
    pub fn send_data(&mut self, i: usize, data: &[u8]) {
        let t = self.s[i].send(self.now, 1, data).unwrap();
        let (from, to, d) = (t.local, t.remote, t.data.to_vec());
        self.wire.push((self.now + self.latency, from, to, d));
        let _ = self.run_until(Duration::from_millis(50), |_| false);
    }

    /// The Jingle payloads side i sent with `action`.
    pub fn jingles(&self, i: usize, action: Action) -> Vec<Jingle> {
        self.sent[i]
            .iter()
            .filter_map(|iq| match &iq.payload {
                IqPayload::Set(el) => Jingle::read(el, Reading::Lenient).ok().map(|p| p.value),
                _ => None,
            })
            .filter(|j| j.action == action)
            .collect()
    }

    pub fn saw(&self, i: usize, f: impl Fn(&Event) -> bool) -> bool {
        self.events[i].iter().any(|(_, e)| f(e))
    }
}

/// Parses a stanza (test helper).
pub fn el(xml: &str) -> jingle_ice_glue::xep0371_model::minidom::Element {
    parse_element(xml, 1 << 20).unwrap()
}
