//! One call: a Jingle ICE session ([`jingle_ice_glue::Session`]) over a [`Connection`] and UDP
//! sockets, on tokio's clock.
//!
//! [`Call::next`] is the one loop: it hands the session the stanzas, datagrams and timeouts
//! that arrive, sends what the session asks (stanzas queued on the connection, datagrams
//! without waiting) and returns its events and the application data. It is cancel-safe:
//! every input is handled within the poll that received it, so a [`Call::next`] dropped in a
//! `tokio::select!` loses nothing.
//!
//! The session reads no clock: this module gives it tokio's (`tokio::time::Instant`, which a
//! test can pause), and its seed comes from the operating system unless
//! [`CallConfig::seed`] is set.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::net::IpAddr;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime};

use ice_sans_io::{Datagram, PairInfo, Protocol, Received, State};
use jingle_ice_glue::{Allowance, Config, Event, Handled, Role, Session};
use tokio_xmpp::jid::{FullJid, Jid};
use tokio_xmpp::minidom::Element;
use xep0371_model::IceFeatures;
use xmpp_extdisco::{Reading, Services, Version};

use crate::Error;
use crate::connection::{Connection, result};
use crate::discover::{IceServers, iq_error, peer_features};
use crate::incoming::{session_initiate, unavailable};
use crate::sockets::{Sockets, is_icmp_error};

/// Application data held for [`Call::recv`] while [`Call::connected`] waits; beyond, the
/// oldest is dropped and counted (datagrams may be lost anyway).
const EARLY_DATA: usize = 1024;

/// How to set up a call.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CallConfig {
    /// The session's configuration (timers, limits, the sharing policy of XEP-0371 §11.1).
    /// [`CallConfig::default`] allows our candidates at once for an initiator: a user who
    /// places a call names its callee, which is the allow list of §11.1.
    pub session: Config,
    /// The local addresses to bind a socket on (port 0: the system picks). Empty: the
    /// address of the interface the XMPP connection goes out of
    /// ([`Connection::local_addr`]).
    pub hosts: Vec<IpAddr>,
    /// STUN and TURN servers (from [`crate::external_services`], or given).
    pub servers: IceServers,
    /// When to ask the server for its external services again (XEP-0215), so that relays
    /// allocated later (an ICE restart's, a new host address's) get fresh credentials; the
    /// answer replaces the credentials of the TURN servers it names again.
    /// [`crate::ExternalServices::refresh_at`] gives it.
    pub refresh_services: Option<SystemTime>,
    /// The peer's features, when known; otherwise [`Call::initiate`] asks (disco#info).
    pub peer_features: Option<IceFeatures>,
    /// The application's `<description/>` for session-initiate or session-accept.
    pub description: Option<Element>,
    /// The seed of the session's RNG (ICE credentials, tie-breaker, transaction and IQ ids,
    /// the initiator's sid); `None`: 32 bytes from the operating system.
    pub seed: Option<[u8; 32]>,
    /// Deadline of each request this module waits for (disco#info).
    pub timeout: Duration,
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig {
            session: Config::allowing(Allowance::AllowList),
            hosts: Vec::new(),
            servers: IceServers::default(),
            refresh_services: None,
            peer_features: None,
            description: None,
            seed: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// What [`Call::next`] returns.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    /// An event of the session (and of its agent, as [`Event::Ice`]).
    Session(Event),
    /// Application data received on the selected pair (component 1).
    Data(Vec<u8>),
    /// The server answered the external services request again (XEP-0215): the credentials
    /// of `updated` TURN servers were replaced.
    ServicesRefreshed {
        /// How many TURN servers got new credentials.
        updated: usize,
    },
    /// Something went wrong that does not end the call (a refresh failed, say).
    Warning(String),
}

/// One Jingle ICE session ([`jingle_ice_glue::Session`]) over a [`Connection`] and UDP
/// sockets, on tokio's clock.
///
/// [`Call::next`] is the one loop: it hands the session the stanzas, datagrams and timeouts
/// that arrive, sends what the session asks (stanzas queued on the connection, datagrams
/// without waiting) and returns its events and the application data. It is cancel-safe: every
/// input is handled within the poll that received it, so a [`Call::next`] dropped in a
/// `tokio::select!` loses nothing. The session reads no clock (it is given tokio's) and its
/// seed comes from the operating system unless [`CallConfig::seed`] is set.
#[derive(Debug)]
pub struct Call {
    conn: Connection,
    session: Session,
    sockets: Sockets,
    servers: IceServers,
    pending: VecDeque<CallEvent>,
    early_data: VecDeque<Vec<u8>>,
    early_dropped: u64,
    /// When to ask for the services again, on the call's clock (converted once from the
    /// wall-clock time XEP-0215's `expires` gives); `None` while a request is out.
    refresh_at: Option<Instant>,
    refresh_request: Option<(String, Version)>,
    started: Instant,
    connected_after: Option<Duration>,
}

impl Call {
    /// Calls `peer` (a full JID: Jingle goes to one resource): asks its features unless
    /// given (XEP-0371 §8: `ice:0` when advertised, else `ice-udp:1`), binds the sockets,
    /// gathers with the servers given and sends session-initiate with the description.
    ///
    /// # Errors
    ///
    /// The peer's features could not be had or name no ICE namespace, a socket could not be
    /// bound, the session refused the set-up.
    pub async fn initiate(
        mut conn: Connection,
        peer: FullJid,
        config: CallConfig,
    ) -> Result<Call, Error> {
        let features = match config.peer_features {
            Some(f) => f,
            None => peer_features(&mut conn, &peer, config.timeout).await?,
        };
        if features.preferred_namespace().is_none() {
            return Err(Error::BadAnswer {
                what: format!("disco#info of {peer}"),
                why: "neither urn:xmpp:jingle:transports:ice:0 nor ice-udp:1 is advertised"
                    .to_owned(),
            });
        }
        let seed = seed(config.seed)?;
        let sid = sid(&seed);
        let local = Jid::from(conn.bound_jid().clone());
        let session = Session::new(
            config.session.clone(),
            Role::Initiator,
            sid,
            local,
            Jid::from(peer),
            seed,
        );
        let mut call = Call::set_up(conn, session, &config).await?;
        call.session.set_peer_features(features);
        let now = call.now();
        call.session.initiate(now, config.description)?;
        call.flush();
        Ok(call)
    }

    /// Waits for a session-initiate addressed to us and makes its call, ringing: the
    /// session's [`Event::Initiated`] (with the peer's description) comes from [`Call::next`]
    /// after the host candidates' events; then [`Call::accept`] or [`Call::decline`]. Other IQ requests that
    /// arrive meanwhile get `service-unavailable` (RFC 6120 §8.3.3); other stanzas are
    /// dropped.
    ///
    /// # Errors
    ///
    /// The connection ended, a socket could not be bound.
    pub async fn wait_incoming(mut conn: Connection, config: CallConfig) -> Result<Call, Error> {
        let mut config = config;
        if config.seed.is_none() {
            config.seed = Some(seed(None)?);
        }
        loop {
            let el = conn.next_stanza().await?;
            let Some((peer, sid)) = session_initiate(&el) else {
                if let Some(reply) = unavailable(&el) {
                    conn.send(reply)?;
                }
                continue;
            };
            let local = Jid::from(conn.bound_jid().clone());
            let mut session_config = config.session.clone();
            if session_config.allowance == Some(Allowance::AllowList) {
                // The default is an initiator's; a callee's candidates wait for its user.
                session_config.allowance = None;
            }
            let session = Session::new(
                session_config,
                Role::Responder,
                sid,
                local,
                peer,
                config.seed.unwrap_or_default(),
            );
            let mut call = Call::set_up(conn, session, &config).await?;
            let now = call.now();
            call.handle_stanza(now, &el);
            call.flush();
            return Ok(call);
        }
    }

    /// Sockets and servers on a new session.
    async fn set_up(
        conn: Connection,
        mut session: Session,
        config: &CallConfig,
    ) -> Result<Call, Error> {
        let hosts = if config.hosts.is_empty() {
            conn.local_addr().map(|a| a.ip()).into_iter().collect()
        } else {
            config.hosts.clone()
        };
        if hosts.is_empty() {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "no local address to bind: give CallConfig::hosts",
            )));
        }
        let sockets = Sockets::bind(&hosts).await?;
        let now = tokio::time::Instant::now().into_std();
        for addr in sockets.addrs() {
            session.add_local_host(now, 1, addr)?;
        }
        for s in &config.servers.stun {
            session.add_stun_server(*s);
        }
        for t in &config.servers.turn {
            session.add_turn_server(t.addr, t.credentials.clone())?;
        }
        Ok(Call {
            conn,
            session,
            sockets,
            servers: config.servers.clone(),
            pending: VecDeque::new(),
            early_data: VecDeque::new(),
            early_dropped: 0,
            refresh_at: config.refresh_services.map(|at| on_clock(now, at)),
            refresh_request: None,
            started: now,
            connected_after: None,
        })
    }

    /// The responder's user accepts: session-accept with our transport and `description`
    /// (which allows sharing our addresses, XEP-0371 §11.1).
    ///
    /// # Errors
    ///
    /// Not a ringing incoming call ([`Error::Session`]).
    pub fn accept(&mut self, description: Option<Element>) -> Result<(), Error> {
        let now = self.now();
        self.session.accept(now, description)?;
        self.flush();
        Ok(())
    }

    /// The responder's user declines: session-terminate with `<decline/>` (XEP-0166 §7.2).
    ///
    /// # Errors
    ///
    /// The session has already ended ([`Error::Session`]).
    pub fn decline(&mut self) -> Result<(), Error> {
        let now = self.now();
        self.session.terminate(now, "decline")?;
        self.flush();
        Ok(())
    }

    /// The session (getters: phase, state, namespace, stats, the agent).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The session, for verbs this type does not wrap (a restart, say). Call
    /// [`Call::next`] afterwards: it sends what they produced.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// The peer's JID.
    pub fn peer(&self) -> &Jid {
        self.session.peer()
    }

    /// The local addresses of the call's sockets.
    pub fn local_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.sockets.addrs().collect()
    }

    /// The pair that carries data, once there is one.
    pub fn selected_pair(&self) -> Option<PairInfo> {
        self.session.agent().selected_pair(1)
    }

    /// How long after the call was set up it first had a selected pair in the Connected or
    /// Completed state.
    pub fn connected_after(&self) -> Option<Duration> {
        self.connected_after
    }

    /// Datagrams the sockets did not take at once (counted, not sent; ICE retransmits).
    pub fn dropped_transmits(&self) -> u64 {
        self.sockets.dropped
    }

    /// Application data dropped because more than 1,024 datagrams arrived while
    /// [`Call::connected`] waited.
    pub fn early_data_dropped(&self) -> u64 {
        self.early_dropped
    }

    /// The clock the session runs on (tokio's).
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    /// Runs the call until it has something to report. Cancel-safe.
    ///
    /// # Errors
    ///
    /// The XMPP connection ended ([`Error::Closed`]) or a socket failed to receive.
    pub async fn next(&mut self) -> Result<CallEvent, Error> {
        loop {
            self.flush();
            if let Some(e) = self.pending.pop_front() {
                return Ok(e);
            }
            let deadline = [self.session.poll_timeout(), self.refresh_at]
                .into_iter()
                .flatten()
                .min();
            let mut sleep =
                pin!(deadline.map(|d| tokio::time::sleep_until(tokio::time::Instant::from_std(d))));
            let input = poll_fn(|cx| {
                if let Some(sleep) = sleep.as_mut().as_pin_mut()
                    && sleep.poll(cx).is_ready()
                {
                    return Poll::Ready(Input::Timeout);
                }
                if let Poll::Ready(el) = self.conn.poll_stanza(cx) {
                    return Poll::Ready(Input::Stanza(el));
                }
                if let Poll::Ready(a) = self.sockets.poll_recv(cx) {
                    return Poll::Ready(Input::Datagram(a));
                }
                Poll::Pending
            })
            .await;
            let now = self.now();
            match input {
                Input::Timeout => {
                    self.session.handle_timeout(now);
                    if self.refresh_at.is_some_and(|at| at <= now) {
                        self.ask_services_again();
                    }
                }
                Input::Stanza(el) => {
                    let el = el?;
                    self.handle_stanza(now, &el);
                }
                Input::Datagram(a) => {
                    let from = match a.from {
                        Ok(from) => from,
                        Err(e) if is_icmp_error(&e) => continue,
                        Err(e) => return Err(Error::Io(e)),
                    };
                    let (Some(local), Some(data)) =
                        (self.sockets.addr(a.index), self.sockets.buf.get(..a.len))
                    else {
                        continue;
                    };
                    let d = Datagram {
                        local,
                        remote: from,
                        protocol: Protocol::Udp,
                        data,
                    };
                    if let Received::Data { data, .. } = self.session.handle_receive(now, d) {
                        self.pending.push_back(CallEvent::Data(data.to_vec()));
                    }
                }
            }
        }
    }

    /// Runs the call until its first pair is selected in the Connected or Completed state,
    /// within `within`; application data that arrives meanwhile is kept for
    /// [`Call::recv`].
    ///
    /// # Errors
    ///
    /// The session ended or failed ([`Error::Ended`]), the deadline passed
    /// ([`Error::Timeout`]), or those of [`Call::next`].
    pub async fn connected(&mut self, within: Duration) -> Result<PairInfo, Error> {
        let wait = async {
            loop {
                if let Some(pair) = self.usable_pair() {
                    return Ok(pair);
                }
                match self.next().await? {
                    CallEvent::Data(d) => self.keep_early(d),
                    CallEvent::Session(e) => self.check_alive(&e)?,
                    _ => {}
                }
            }
        };
        tokio::time::timeout(within, wait)
            .await
            .map_err(|_| Error::Timeout {
                what: "a connected pair".to_owned(),
                secs: within.as_secs_f64(),
            })?
    }

    /// The next application datagram (those kept by [`Call::connected`] first). Session
    /// events on the way are acted on and dropped; use [`Call::next`] to see them.
    ///
    /// # Errors
    ///
    /// The session ended or failed ([`Error::Ended`]), or those of [`Call::next`].
    pub async fn recv(&mut self) -> Result<Vec<u8>, Error> {
        if let Some(d) = self.early_data.pop_front() {
            return Ok(d);
        }
        loop {
            match self.next().await? {
                CallEvent::Data(d) => return Ok(d),
                CallEvent::Session(e) => self.check_alive(&e)?,
                _ => {}
            }
        }
    }

    /// Sends `data` on the selected pair (through the relay when the pair is relayed),
    /// waiting for room in the socket's buffer. Dropping the future loses this datagram at
    /// most, as the network may.
    ///
    /// # Errors
    ///
    /// No pair to send on or consent lost ([`Error::Send`]), the socket failed.
    pub async fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        let now = self.now();
        let t = self.session.send(now, 1, data)?;
        let socket = self.sockets.socket(t.local).ok_or_else(|| {
            Error::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no socket on {}", t.local),
            ))
        })?;
        socket.send_to(t.data, t.remote).await?;
        Ok(())
    }

    /// Ends the call: session-terminate with `reason` (`success` for a call that did its job,
    /// XEP-0166 §7.4), the TURN allocations released, and up to `linger` spent waiting for the
    /// peer's acknowledgement and the TURN servers' answers. Returns the connection for the
    /// next call.
    pub async fn hang_up(mut self, reason: &str, linger: Duration) -> Connection {
        let now = self.now();
        if self.session.terminate(now, reason).is_ok() {
            let wait = async {
                while self.session.pending_requests() > 0
                    || self
                        .session
                        .agent()
                        .turn_clients()
                        .any(|c| c.state() != ice_sans_io::turn::TurnState::Closed)
                {
                    if self.next().await.is_err() {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(linger, wait).await;
        }
        self.flush();
        self.conn
    }

    /// The connection, without ending the session (for a call that already ended).
    pub fn into_connection(self) -> Connection {
        self.conn
    }

    fn usable_pair(&mut self) -> Option<PairInfo> {
        let state = self.session.state();
        if !matches!(state, State::Connected | State::Completed) {
            return None;
        }
        let pair = self.selected_pair()?;
        if self.connected_after.is_none() {
            self.connected_after = Some(self.now().saturating_duration_since(self.started));
        }
        Some(pair)
    }

    fn keep_early(&mut self, d: Vec<u8>) {
        if self.early_data.len() == EARLY_DATA {
            self.early_data.pop_front();
            self.early_dropped += 1;
        }
        self.early_data.push_back(d);
    }

    /// `Err` when `e` ends the call.
    fn check_alive(&mut self, e: &Event) -> Result<(), Error> {
        match ends_call(e) {
            Some(why) => Err(Error::Ended(why)),
            None => Ok(()),
        }
    }

    /// The session's drain rule: stanzas to the connection, datagrams to the sockets, events
    /// to the queue.
    fn flush(&mut self) {
        while let Some(iq) = self.session.poll_stanza() {
            if let Err(e) = self.conn.send(iq) {
                self.pending
                    .push_back(CallEvent::Warning(format!("a stanza was not sent: {e}")));
            }
        }
        while let Some(t) = self.session.poll_transmit() {
            self.sockets.try_send(t.local, t.remote, t.data);
        }
        while let Some(e) = self.session.poll_event() {
            self.pending.push_back(CallEvent::Session(e));
        }
        if self.connected_after.is_none() {
            let _ = self.usable_pair();
        }
    }

    fn handle_stanza(&mut self, now: Instant, el: &Element) {
        if el.name() == "iq"
            && let Some((id, version)) = &self.refresh_request
            && el.attr("id") == Some(id.as_str())
        {
            let version = *version;
            self.refresh_request = None;
            self.services_answered(el, version);
            return;
        }
        match self.session.handle_stanza(now, el) {
            Ok(Handled::NotOurs | Handled::Dropped(_)) => {
                if let Some(reply) = unavailable(el) {
                    let _ = self.conn.send(reply);
                }
            }
            Ok(Handled::Application(_)) => {
                // XEP-0166 §7.2: an action of the application (session-info, say) that this
                // data-only call does not use is acknowledged.
                if let Some(id) = el.attr("id") {
                    let _ = self.conn.send(result(el, id, None));
                }
            }
            Ok(_) => {}
            Err(refused) => {
                let _ = self.conn.send(refused.reply_element());
            }
        }
    }

    fn ask_services_again(&mut self) {
        self.refresh_at = None;
        let domain = self.conn.bound_jid().domain().to_string();
        let id = self.conn.new_id();
        let version = Version::V2;
        let iq = Services::request(version, None).request_iq(&id, &domain);
        match self.conn.send(iq) {
            Ok(()) => self.refresh_request = Some((id, version)),
            Err(e) => self.pending.push_back(CallEvent::Warning(format!(
                "asking for services again: {e}"
            ))),
        }
    }

    /// The answer to [`Call::ask_services_again`]: new credentials for the TURN servers it
    /// names again (by host and port), and the next refresh.
    fn services_answered(&mut self, reply: &Element, version: Version) {
        let read = reply
            .get_child("services", version.namespace())
            .map(|el| Services::read(el, Reading::Lenient));
        let services = match (iq_error(reply), read) {
            (Some((_, condition)), _) => {
                self.pending.push_back(CallEvent::Warning(format!(
                    "services asked again: {}",
                    condition.unwrap_or("an error")
                )));
                return;
            }
            (None, Some(Ok(read))) => read.value.services,
            (None, Some(Err(e))) => {
                self.pending
                    .push_back(CallEvent::Warning(format!("services asked again: {e}")));
                return;
            }
            (None, None) => {
                self.pending.push_back(CallEvent::Warning(
                    "services asked again: a result without <services/>".to_owned(),
                ));
                return;
            }
        };
        let fresh = crate::ExternalServices {
            version: Some(version),
            services,
            warnings: Vec::new(),
        };
        let mut updated = 0;
        for s in &fresh.services {
            let (Some(u), Some(p)) = (&s.username, &s.password) else {
                continue;
            };
            let port = s.port.unwrap_or(crate::discover::DEFAULT_PORT);
            for t in &mut self.servers.turn {
                if t.host == s.host && t.port == port && s.type_.is_turn() {
                    t.credentials = ice_sans_io::turn::TurnCredentials::new(u, p);
                    if self
                        .session
                        .add_turn_server(t.addr, t.credentials.clone())
                        .is_ok()
                    {
                        updated += 1;
                    }
                }
            }
        }
        #[allow(clippy::disallowed_methods)] // XEP-0215 `expires` is wall-clock time
        let wall = SystemTime::now();
        let now = self.now();
        self.refresh_at = fresh.refresh_at(wall).map(|at| on_clock(now, at));
        self.pending
            .push_back(CallEvent::ServicesRefreshed { updated });
    }
}

/// Why the call is over, when session event `e` ends it: the peer terminated the session, ICE
/// failed (no pair works), the peer refused or did not answer one of our requests. `None` for
/// every other event.
pub fn ends_call(e: &Event) -> Option<String> {
    match e {
        Event::Terminated { reason } => Some(format!(
            "the peer terminated the session{}",
            reason
                .as_ref()
                .and_then(|r| r.children().next())
                .map(|c| format!(" ({})", c.name()))
                .unwrap_or_default()
        )),
        Event::Ice(ice_sans_io::Event::StateChanged(State::Failed)) => {
            Some("ICE failed: no pair works".to_owned())
        }
        Event::PeerError { action, error, .. } => {
            Some(format!("the peer refused {action}: {error:?}"))
        }
        Event::IqTimeout { action, .. } => Some(format!("no answer to {action}")),
        _ => None,
    }
}

/// What woke [`Call::next`] up.
enum Input {
    Timeout,
    Stanza(Result<Element, Error>),
    Datagram(crate::sockets::Arrived),
}

/// Wall-clock time `at` (XEP-0215 `expires`) on the call's clock, whose `now` is now: read once
/// when the time is set, so the loop compares instants and reads no wall clock.
fn on_clock(now: Instant, at: SystemTime) -> Instant {
    #[allow(clippy::disallowed_methods)] // XEP-0215 `expires` is wall-clock time
    let left = at.duration_since(SystemTime::now()).unwrap_or_default();
    now + left
}

/// The seed given, or 32 bytes from the operating system.
fn seed(given: Option<[u8; 32]>) -> Result<[u8; 32], Error> {
    if let Some(s) = given {
        return Ok(s);
    }
    let mut s = [0u8; 32];
    getrandom::fill(&mut s).map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
    Ok(s)
}

/// A session id from the seed (XEP-0166 §7.1: unique, unpredictable to others): the hex of
/// its hash, so the sid does not reveal the seed itself.
fn sid(seed: &[u8; 32]) -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    // Not cryptographic; the seed is random and the sid only has to be unique.
    let mut h =
        std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
            .build_hasher();
    h.write(seed);
    format!("{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sid_depends_on_the_seed() {
        assert_eq!(sid(&[1; 32]), sid(&[1; 32]));
        assert_ne!(sid(&[1; 32]), sid(&[2; 32]));
        assert_eq!(sid(&[1; 32]).len(), 16);
    }
}
