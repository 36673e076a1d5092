//! The flows' network: two glue sessions, an in-memory network between them (Romeo's
//! full-cone NAT, scripted STUN answers) in virtual time, and the log of every stanza sent.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use jingle_ice_glue::ice_sans_io::{Datagram, Protocol};
use jingle_ice_glue::{Event, Session};
use xep0371_model::minidom::Element;

use super::outcome::{Sent, Side};

/// Virtual time a flow may take before it is declared stuck.
const FLOW_LIMIT: Duration = Duration::from_secs(120);
/// Stanzas a flow may produce before it is declared runaway.
const MAX_STANZAS: usize = 1000;

/// Two sessions, an in-memory network and the log of stanzas.
pub(super) struct Net {
    pub(super) sessions: [Session; 2],
    pub(super) start: Instant,
    pub(super) now: Instant,
    pub(super) log: Vec<Sent>,
    pub(super) events: [Vec<Event>; 2],
    /// Romeo's NAT: private ↔ public (full cone, RFC 4787 EIM and EIF).
    pub(super) nat: Option<(SocketAddr, SocketAddr)>,
    /// Whom each STUN server reports: `(server, sender's base) -> mapped`.
    pub(super) stun: Vec<(SocketAddr, SocketAddr, SocketAddr)>,
}

impl Net {
    pub(super) fn new(romeo: Session, juliet: Session) -> Net {
        // Virtual time: only differences from this base are used.
        #[allow(clippy::disallowed_methods)]
        let start = Instant::now();
        Net {
            sessions: [romeo, juliet],
            start,
            now: start,
            log: Vec::new(),
            events: [Vec::new(), Vec::new()],
            nat: None,
            stun: Vec::new(),
        }
    }

    pub(super) fn at(&self) -> Duration {
        self.now - self.start
    }

    /// Delivers everything that is due now, until nothing moves.
    pub(super) fn settle(&mut self) -> Result<()> {
        for _ in 0..10_000 {
            let mut moved = false;
            for i in 0..2 {
                while let Some(el) = self.sessions[i].poll_stanza() {
                    moved = true;
                    let from = if i == 0 { Side::Romeo } else { Side::Juliet };
                    self.log.push(Sent {
                        from,
                        at: self.at(),
                        stanza: el.clone(),
                    });
                    if self.log.len() > MAX_STANZAS {
                        bail!("more than {MAX_STANZAS} stanzas");
                    }
                    // Stanzas to the gateway's domain or to the peer go to the other session.
                    let now = self.now;
                    if let Err(refused) = self.sessions[1 - i].handle_stanza(now, &el) {
                        bail!(
                            "{:?} refused a stanza of {from:?}: {refused}\n{}",
                            if i == 0 { Side::Juliet } else { Side::Romeo },
                            String::from(&el)
                        );
                    }
                }
                let mut wire = Vec::new();
                while let Some(t) = self.sessions[i].poll_transmit() {
                    wire.push((t.local, t.remote, t.data.to_vec()));
                }
                for (local, remote, data) in wire {
                    moved = true;
                    self.route(i, local, remote, &data);
                }
                while let Some(e) = self.sessions[i].poll_event() {
                    moved = true;
                    self.events[i].push(e);
                }
            }
            if !moved {
                return Ok(());
            }
        }
        bail!("the sessions never settle")
    }

    /// One datagram from session `i`'s socket `local` to `remote`.
    pub(super) fn route(&mut self, i: usize, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        let now = self.now;
        // Through Romeo's NAT, outbound.
        let source = match self.nat {
            Some((private, public)) if i == 0 && local == private => public,
            _ => local,
        };
        if let Some(&(_, _, mapped)) = self
            .stun
            .iter()
            .find(|(server, base, _)| *server == remote && *base == local)
        {
            if let Some(answer) = ice_netsim::StunServer::answer(data, mapped) {
                let d = Datagram {
                    local,
                    remote,
                    protocol: Protocol::Udp,
                    data: &answer,
                };
                let _ = self.sessions[i].handle_receive(now, d);
            }
            return;
        }
        // Inbound through the NAT to Romeo, or straight to a host address.
        let to_local = match self.nat {
            Some((private, public)) if remote == public => Some((0, private)),
            _ => None,
        }
        .or_else(|| {
            let other = 1 - i;
            self.sessions[other]
                .agent()
                .local_candidates()
                .any(|c| c.addr == remote && c.related.is_none())
                .then_some((other, remote))
        });
        if let Some((to, dest)) = to_local {
            if to == i {
                return;
            }
            let d = Datagram {
                local: dest,
                remote: source,
                protocol: Protocol::Udp,
                data,
            };
            let _ = self.sessions[to].handle_receive(now, d);
        }
    }

    /// Runs timers until `done` holds, or fails after [`FLOW_LIMIT`].
    pub(super) fn run_until(&mut self, what: &str, done: impl Fn(&Net) -> bool) -> Result<()> {
        self.settle()?;
        while !done(self) {
            if self.at() > FLOW_LIMIT {
                bail!("{what}: not reached in {FLOW_LIMIT:?} of virtual time");
            }
            let next = self.sessions.iter().filter_map(Session::poll_timeout).min();
            self.now = next
                .unwrap_or(self.now + Duration::from_millis(10))
                .max(self.now + Duration::from_millis(1));
            for s in &mut self.sessions {
                s.handle_timeout(self.now);
            }
            self.settle()?;
        }
        Ok(())
    }

    /// Whether session `i` reported an event matching `pred`.
    pub(super) fn saw(&self, i: usize, pred: impl Fn(&Event) -> bool) -> bool {
        self.events[i].iter().any(pred)
    }

    /// The index in the log of the first stanza of `from` after `after` matching `pred`.
    pub(super) fn find(
        &self,
        from: Side,
        after: usize,
        pred: impl Fn(&Element) -> bool,
    ) -> Option<usize> {
        self.log
            .iter()
            .enumerate()
            .skip(after)
            .find(|(_, s)| s.from == from && pred(&s.stanza))
            .map(|(i, _)| i)
    }

    /// The index of the result answering the request at `request`.
    pub(super) fn result_to(&self, request: usize) -> Option<usize> {
        let req = self.log.get(request)?;
        let id = req.stanza.attr("id")?;
        self.find(
            if req.from == Side::Romeo {
                Side::Juliet
            } else {
                Side::Romeo
            },
            request,
            |e| e.attr("type") == Some("result") && e.attr("id") == Some(id),
        )
    }
}
