//! One XMPP connection for Jingle: tokio-xmpp's client in a task of its own, stanzas in and out
//! through bounded queues.
//!
//! The task answers what every Jingle client must answer on its own (disco#info with the ICE
//! features of XEP-0371 §8, XEP-0199 pings) and hands everything else to [`Connection`] in the
//! order it arrived. Sending never waits: a stanza is queued (or refused with
//! [`Error::Backlog`] when the server does not keep up), so no `await` of this crate stops half
//! way through a stanza, and every receive is a receive from a queue, which loses nothing
//! when its future is dropped: the methods are cancel-safe.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_xmpp::jid::{FullJid, Jid};
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::message::Message;
use tokio_xmpp::parsers::presence::Presence;
use tokio_xmpp::xmlstream::Timeouts;
use tokio_xmpp::{Client, Event, Stanza};
use xep0371_model::IceFeatures;

use crate::Error;
use crate::connector::{RecordingConnector, Seen};

/// `jabber:client`.
pub(crate) const CLIENT: &str = "jabber:client";
/// XEP-0030 disco#info.
pub(crate) const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// XEP-0199.
const PING: &str = "urn:xmpp:ping";
/// RFC 6120 §8.3.3 stanza error conditions.
pub(crate) const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

/// Stanzas waiting in each direction; beyond, sending fails with [`Error::Backlog`] and
/// receiving makes the task wait (TCP back-pressure to the server).
const QUEUE: usize = 256;
/// Stanzas kept aside while [`Connection::request`] waits for its reply.
const STASH: usize = 1024;

/// How to log in.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// Deadline of the login. tokio-xmpp retries a failed connection or login silently and
    /// forever, so the login needs a deadline of its own. Default 10 s.
    pub timeout: Duration,
    /// Features advertised in disco#info besides disco#info, XEP-0199 ping, Jingle and both
    /// ICE namespaces (an application's description namespace, say).
    pub features: Vec<String>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            timeout: Duration::from_secs(10),
            features: Vec::new(),
        }
    }
}

/// What the task hands over.
enum FromTask {
    Stanza(Element),
    Closed(String),
}

/// A logged-in XMPP session: tokio-xmpp's client in a task of its own, stanzas in and out
/// through bounded queues.
///
/// The task answers what every Jingle client must answer itself (disco#info with the ICE
/// features of XEP-0371 §8, XEP-0199 pings) and hands everything else over in arrival order.
/// Sending never waits: a stanza is queued, or refused with [`Error::Backlog`] when the server
/// does not keep up, so no `await` here stops halfway through a stanza; every receive is a
/// receive from a queue, which loses nothing when its future is dropped: the methods are
/// cancel-safe.
#[derive(Debug)]
pub struct Connection {
    to_task: mpsc::Sender<Stanza>,
    from_task: mpsc::Receiver<FromTask>,
    stash: VecDeque<Element>,
    bound: FullJid,
    local: Option<SocketAddr>,
    next_id: u64,
    closed: Option<String>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FromTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FromTask::Stanza(el) => write!(f, "Stanza({})", el.name()),
            FromTask::Closed(why) => write!(f, "Closed({why})"),
        }
    }
}

impl Connection {
    /// Connects to `server` over plaintext TCP and logs in as `jid` (a bare JID, or a full one
    /// to ask for that resource), within `options.timeout`. For a server on a trusted network
    /// (a lab, loopback); over the Internet, build a tokio-xmpp [`Client`] with TLS and use
    /// [`Connection::from_client`].
    ///
    /// # Errors
    ///
    /// [`Error::Login`], saying whether a TCP connection was made at all.
    pub async fn login(
        server: SocketAddr,
        jid: Jid,
        password: &str,
        options: ConnectOptions,
    ) -> Result<Connection, Error> {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let connector = RecordingConnector {
            server,
            seen: Arc::clone(&seen),
        };
        let client =
            Client::new_with_connector(jid.clone(), password, connector, Timeouts::tight());
        let result = Self::online(client, &jid.to_string(), &options).await;
        let local = seen.lock().unwrap_or_else(|p| p.into_inner()).local;
        match result {
            Ok((client, bound)) => Ok(Self::start(client, bound, local, options)),
            Err(Some(why)) => Err(Error::Login {
                jid: jid.to_string(),
                why,
            }),
            Err(None) => {
                let s = seen.lock().unwrap_or_else(|p| p.into_inner());
                let why = match (&s.last_error, s.connections) {
                    (Some(e), 0) => format!("no connection to {server}: {e}"),
                    (_, 0) => format!("no connection to {server}"),
                    (e, n) => format!(
                        "{n} connection(s) to {server} within {:.1} s, but no session: wrong \
                         JID or password, or the server requires TLS{}",
                        options.timeout.as_secs_f64(),
                        e.as_ref()
                            .map(|e| format!(" (last error: {e})"))
                            .unwrap_or_default()
                    ),
                };
                Err(Error::Login {
                    jid: jid.to_string(),
                    why,
                })
            }
        }
    }

    /// Takes a tokio-xmpp client built by the caller (with TLS, say) and waits until it is
    /// online, within `options.timeout`. The local address of its connection is unknown.
    ///
    /// # Errors
    ///
    /// [`Error::Login`].
    pub async fn from_client(client: Client, options: ConnectOptions) -> Result<Connection, Error> {
        let jid = client
            .bound_jid()
            .map_or_else(|| "the client's JID".to_owned(), |j| j.to_string());
        match Self::online(client, &jid, &options).await {
            Ok((client, bound)) => Ok(Self::start(client, bound, None, options)),
            Err(why) => Err(Error::Login {
                jid,
                why: why.unwrap_or_else(|| {
                    format!("not online within {:.1} s", options.timeout.as_secs_f64())
                }),
            }),
        }
    }

    /// Waits for `Online`: the client and its bound JID, or `Err(Some(why))` when it stopped,
    /// `Err(None)` at the deadline.
    async fn online(
        mut client: Client,
        jid: &str,
        options: &ConnectOptions,
    ) -> Result<(Client, FullJid), Option<String>> {
        let online = tokio::time::timeout(options.timeout, async {
            while let Some(event) = client.next().await {
                match event {
                    Event::Online { bound_jid, .. } => return Some(bound_jid),
                    // tokio-xmpp reconnects by itself; keep waiting until the deadline.
                    Event::Disconnected(_) | Event::Stanza(_) => {}
                }
            }
            None
        })
        .await;
        match online {
            Ok(Some(bound)) => match bound.try_into_full() {
                Ok(full) => Ok((client, full)),
                Err(bare) => Err(Some(format!("the server bound a bare JID: {bare}"))),
            },
            Ok(None) => Err(Some(format!(
                "the XMPP client stopped before logging in as {jid}"
            ))),
            Err(_) => Err(None),
        }
    }

    fn start(
        client: Client,
        bound: FullJid,
        local: Option<SocketAddr>,
        options: ConnectOptions,
    ) -> Connection {
        let (to_task, out) = mpsc::channel(QUEUE);
        let (inbox, from_task) = mpsc::channel(QUEUE);
        let mut features: Vec<String> = [DISCO_INFO, PING]
            .into_iter()
            .chain(IceFeatures::advertised())
            .map(str::to_owned)
            .collect();
        for f in options.features {
            if !features.contains(&f) {
                features.push(f);
            }
        }
        let task = tokio::spawn(run(client, out, inbox, features));
        Connection {
            to_task,
            from_task,
            stash: VecDeque::new(),
            bound,
            local,
            next_id: 0,
            closed: None,
            task: Some(task),
        }
    }

    /// The full JID the server bound.
    pub fn bound_jid(&self) -> &FullJid {
        &self.bound
    }

    /// The local address of the TCP connection to the server (known for
    /// [`Connection::login`]): the address of the interface that reaches the server, and the
    /// one XEP-0279's NAT hint compares with.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local
    }

    /// A fresh stanza id.
    pub fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("jit{}", self.next_id)
    }

    /// Queues a stanza (an `<iq/>`, `<message/>` or `<presence/>` of `jabber:client`) for
    /// sending. Never waits.
    ///
    /// # Errors
    ///
    /// [`Error::NotAStanza`], [`Error::Backlog`] (the queue is full), [`Error::Closed`].
    pub fn send(&mut self, stanza: Element) -> Result<(), Error> {
        if let Some(why) = &self.closed {
            return Err(Error::Closed(why.clone()));
        }
        let stanza = to_stanza(stanza)?;
        self.to_task.try_send(stanza).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Error::Backlog(QUEUE),
            mpsc::error::TrySendError::Closed(_) => {
                Error::Closed("the connection task ended".to_owned())
            }
        })
    }

    /// Sends an IQ-get or -set (given an id when it has none) and returns its reply: the first
    /// IQ-result or IQ-error with the same id. Stanzas that arrive meanwhile are kept, in
    /// order, for [`Connection::next_stanza`].
    ///
    /// Cancel-safe in that nothing received is lost; a reply that comes after the future was
    /// dropped is handed to [`Connection::next_stanza`] like any other stanza.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] after `timeout`, [`Error::Flooded`], and those of
    /// [`Connection::send`].
    pub async fn request(&mut self, mut iq: Element, timeout: Duration) -> Result<Element, Error> {
        let id = match iq.attr("id") {
            Some(id) => id.to_owned(),
            None => {
                let id = self.new_id();
                iq.set_attr(
                    tokio_xmpp::minidom::rxml::Namespace::NONE,
                    name("id"),
                    id.as_str(),
                );
                id
            }
        };
        let what = describe(&iq);
        self.send(iq)?;
        self.wait_for(|el| is_reply_to(el, &id), what, timeout)
            .await
    }

    /// The first stanza that `wanted` takes, within `timeout`, from what was kept aside and
    /// then from the connection; what it does not take is kept, in order.
    async fn wait_for(
        &mut self,
        wanted: impl Fn(&Element) -> bool,
        what: String,
        timeout: Duration,
    ) -> Result<Element, Error> {
        if let Some(i) = self.stash.iter().position(&wanted)
            && let Some(el) = self.stash.remove(i)
        {
            return Ok(el);
        }
        let wait = async {
            loop {
                let el = self.receive().await?;
                if wanted(&el) {
                    return Ok(el);
                }
                if self.stash.len() >= STASH {
                    return Err(Error::Flooded(STASH));
                }
                self.stash.push_back(el);
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| Error::Timeout {
                what,
                secs: timeout.as_secs_f64(),
            })?
    }

    /// The first IQ with this id, of any type (a reply, or a request the server routed back
    /// to this very session), within `timeout`; other stanzas are kept, in order, for
    /// [`Connection::next_stanza`]. For tests of how a server routes and answers.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`], [`Error::Flooded`], [`Error::Closed`].
    pub async fn wait_for_id(&mut self, id: &str, timeout: Duration) -> Result<Element, Error> {
        let is_it = |el: &Element| el.name() == "iq" && el.attr("id") == Some(id);
        self.wait_for(is_it, format!("an IQ with id {id}"), timeout)
            .await
    }

    /// The next stanza the task did not answer itself, in arrival order. Cancel-safe.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the connection ended (and every later call).
    pub async fn next_stanza(&mut self) -> Result<Element, Error> {
        if let Some(el) = self.stash.pop_front() {
            return Ok(el);
        }
        self.receive().await
    }

    /// [`Connection::next_stanza`] as a poll, for drivers that wait on several sources at once.
    pub(crate) fn poll_stanza(&mut self, cx: &mut Context<'_>) -> Poll<Result<Element, Error>> {
        if let Some(el) = self.stash.pop_front() {
            return Poll::Ready(Ok(el));
        }
        if let Some(why) = &self.closed {
            return Poll::Ready(Err(Error::Closed(why.clone())));
        }
        self.from_task.poll_recv(cx).map(|m| self.take(m))
    }

    async fn receive(&mut self) -> Result<Element, Error> {
        if let Some(why) = &self.closed {
            return Err(Error::Closed(why.clone()));
        }
        let m = self.from_task.recv().await;
        self.take(m)
    }

    fn take(&mut self, m: Option<FromTask>) -> Result<Element, Error> {
        match m {
            Some(FromTask::Stanza(el)) => Ok(el),
            Some(FromTask::Closed(why)) => {
                self.closed = Some(why.clone());
                Err(Error::Closed(why))
            }
            None => {
                let why = "the connection task ended".to_owned();
                self.closed = Some(why.clone());
                Err(Error::Closed(why))
            }
        }
    }

    /// Ends the stream politely, after the stanzas queued so far went out; bounded (2 s), so a
    /// dead server does not hold the caller.
    pub async fn close(mut self) {
        let Connection { to_task, task, .. } = &mut self;
        // Dropping the sender is the task's signal to end the stream.
        drop(std::mem::replace(to_task, mpsc::channel(1).0));
        if let Some(task) = task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // The task ends when the sender goes; a task still running (a connection dropped
        // without `close`) is aborted rather than left behind.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The task: stanzas from the server to the inbox (answering disco#info and pings on the
/// way), stanzas from the queue to the server; the stream ended when the queue's sender is
/// dropped or the server closes it.
async fn run(
    mut client: Client,
    mut out: mpsc::Receiver<Stanza>,
    inbox: mpsc::Sender<FromTask>,
    features: Vec<String>,
) {
    loop {
        tokio::select! {
            event = client.next() => match event {
                Some(Event::Stanza(stanza)) => {
                    let el = Element::from(stanza);
                    if let Some(reply) = local_answer(&el, &features) {
                        if let Ok(reply) = to_stanza(reply) {
                            if let Err(e) = client.send_stanza(reply).await {
                                let _ = inbox.send(FromTask::Closed(format!("sending: {e}"))).await;
                                break;
                            }
                        }
                        continue;
                    }
                    if inbox.send(FromTask::Stanza(el)).await.is_err() {
                        break;
                    }
                }
                Some(Event::Online { .. }) => {
                    let _ = inbox
                        .send(FromTask::Closed(
                            "the connection was lost and made again; sessions on the old \
                             stream are gone"
                                .to_owned(),
                        ))
                        .await;
                    break;
                }
                Some(Event::Disconnected(e)) => {
                    let _ = inbox.send(FromTask::Closed(format!("disconnected: {e}"))).await;
                    break;
                }
                None => {
                    let _ = inbox.send(FromTask::Closed("the stream ended".to_owned())).await;
                    break;
                }
            },
            stanza = out.recv() => match stanza {
                Some(stanza) => {
                    if let Err(e) = client.send_stanza(stanza).await {
                        let _ = inbox.send(FromTask::Closed(format!("sending: {e}"))).await;
                        break;
                    }
                }
                None => break,
            },
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), client.send_end()).await;
}

/// Reads a stanza for tokio-xmpp.
fn to_stanza(el: Element) -> Result<Stanza, Error> {
    if el.ns() != CLIENT {
        return Err(Error::NotAStanza(format!(
            "<{}/> in namespace {}",
            el.name(),
            el.ns()
        )));
    }
    let bad = |e: &dyn std::fmt::Display| Error::NotAStanza(e.to_string());
    match el.name() {
        "iq" => Iq::try_from(el).map(Stanza::Iq).map_err(|e| bad(&e)),
        "message" => Message::try_from(el)
            .map(Stanza::Message)
            .map_err(|e| bad(&e)),
        "presence" => Presence::try_from(el)
            .map(Stanza::Presence)
            .map_err(|e| bad(&e)),
        other => Err(Error::NotAStanza(format!("<{other}/>"))),
    }
}

/// What the task answers itself: disco#info (XEP-0030 §3.1, the features of XEP-0371 §8) and
/// pings (XEP-0199 §6).
fn local_answer(el: &Element, features: &[String]) -> Option<Element> {
    if el.name() != "iq" || el.attr("type") != Some("get") {
        return None;
    }
    let payload = el.children().next()?;
    let id = el.attr("id")?;
    let answer = if payload.is("query", DISCO_INFO) && payload.attr("node").is_none() {
        let mut query = Element::builder("query", DISCO_INFO).append(
            Element::builder("identity", DISCO_INFO)
                .attr(name("category"), "client")
                .attr(name("type"), "pc")
                .build(),
        );
        for f in features {
            query = query.append(
                Element::builder("feature", DISCO_INFO)
                    .attr(name("var"), f.as_str())
                    .build(),
            );
        }
        Some(query.build())
    } else if payload.is("ping", PING) {
        None
    } else {
        return None;
    };
    Some(result(el, id, answer))
}

/// The IQ-result to `request`.
pub(crate) fn result(request: &Element, id: &str, payload: Option<Element>) -> Element {
    let mut b = Element::builder("iq", CLIENT)
        .attr(name("id"), id)
        .attr(name("type"), "result");
    if let Some(from) = request.attr("from") {
        b = b.attr(name("to"), from);
    }
    if let Some(p) = payload {
        b = b.append(p);
    }
    b.build()
}

/// An attribute name.
pub(crate) fn name(n: &'static str) -> tokio_xmpp::minidom::rxml::NcName {
    match tokio_xmpp::minidom::rxml::NcName::try_from(n) {
        Ok(n) => n,
        Err(_) => unreachable!("attribute names of this crate are NCNames"),
    }
}

/// Whether `el` is the reply (result or error) to the IQ `id`.
fn is_reply_to(el: &Element, id: &str) -> bool {
    el.name() == "iq"
        && el.attr("id") == Some(id)
        && matches!(el.attr("type"), Some("result" | "error"))
}

/// "disco#info query to juliet@example.org/balcony", for errors.
fn describe(iq: &Element) -> String {
    let payload = iq.children().next().map_or_else(
        || "empty IQ".to_owned(),
        |p| format!("<{} xmlns='{}'/>", p.name(), p.ns()),
    );
    match iq.attr("to") {
        Some(to) => format!("{payload} to {to}"),
        None => payload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> Element {
        xml.parse().expect("well-formed")
    }

    #[test]
    fn disco_info_is_answered_with_the_ice_features() {
        let req = parse(
            "<iq xmlns='jabber:client' type='get' id='d1' from='romeo@example.org/a'>\
             <query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
        );
        let features = vec![
            "urn:xmpp:jingle:transports:ice:0".to_owned(),
            "x:app".to_owned(),
        ];
        let reply = local_answer(&req, &features).expect("an answer");
        assert_eq!(reply.attr("type"), Some("result"));
        assert_eq!(reply.attr("id"), Some("d1"));
        assert_eq!(reply.attr("to"), Some("romeo@example.org/a"));
        let vars: Vec<_> = reply
            .get_child("query", DISCO_INFO)
            .expect("a query")
            .children()
            .filter_map(|c| c.attr("var"))
            .collect();
        assert_eq!(vars, ["urn:xmpp:jingle:transports:ice:0", "x:app"]);
    }

    #[test]
    fn pings_are_answered_and_other_requests_are_not() {
        let ping =
            parse("<iq xmlns='jabber:client' type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>");
        let reply = local_answer(&ping, &[]).expect("a pong");
        assert_eq!(reply.attr("type"), Some("result"));
        assert!(reply.children().next().is_none());
        let node = parse(
            "<iq xmlns='jabber:client' type='get' id='n'>\
             <query xmlns='http://jabber.org/protocol/disco#info' node='x'/></iq>",
        );
        assert!(
            local_answer(&node, &[]).is_none(),
            "a node is the application's"
        );
        let set =
            parse("<iq xmlns='jabber:client' type='set' id='s'><ping xmlns='urn:xmpp:ping'/></iq>");
        assert!(local_answer(&set, &[]).is_none());
    }

    #[test]
    fn only_client_stanzas_are_sent() {
        assert!(matches!(
            to_stanza(parse("<iq xmlns='jabber:server' type='get' id='x'/>")),
            Err(Error::NotAStanza(_))
        ));
        assert!(matches!(
            to_stanza(parse("<foo xmlns='jabber:client'/>")),
            Err(Error::NotAStanza(_))
        ));
        assert!(to_stanza(parse("<message xmlns='jabber:client'/>")).is_ok());
    }

    #[test]
    fn replies_are_results_and_errors_with_the_id() {
        let r = parse("<iq xmlns='jabber:client' type='result' id='a'/>");
        assert!(is_reply_to(&r, "a"));
        assert!(!is_reply_to(&r, "b"));
        let get = parse("<iq xmlns='jabber:client' type='get' id='a'/>");
        assert!(!is_reply_to(&get, "a"), "a request routed back is no reply");
    }
}
