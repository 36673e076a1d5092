//! `[signalling] via` on the netns backend: each side logs in to the lab's Prosody from its own
//! host's namespace (through its NATs, over TCP) with `jingle-ice-tokio`, learns what the server
//! tells it when `discover = true` (XEP-0279, XEP-0215), and then carries its endpoint's
//! stanzas: the [`XmppCarrier`] hands what an endpoint sends to its connection and what a
//! connection receives to its endpoint, so every Jingle stanza of the run goes through the real
//! server.
//!
//! Each connection lives on a thread of its own that entered the namespace (the socket is made
//! there) with a current-thread tokio runtime; the runner's loop talks to it through channels
//! and never waits on it. Dropping the carrier closes the connections and joins the threads.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use ice_netsim::netns::Lab;
use jingle_ice_tokio::tokio_xmpp::jid::Jid;
use jingle_ice_tokio::tokio_xmpp::minidom::Element;
use jingle_ice_tokio::{ConnectOptions, Connection, external_services, server_address};

use crate::runner::signal::{Carrier, Direction};
use crate::runner::xmpp::Learned;

/// Deadline of the login and of each discovery request.
const TIMEOUT: Duration = Duration::from_secs(15);

/// One side's connection to the server, on its thread.
pub struct Bridge {
    out: tokio::sync::mpsc::UnboundedSender<String>,
    inbox: mpsc::Receiver<Result<String, String>>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl Bridge {
    /// Logs `jid` in to `server` from `namespace` and, with `discover`, asks XEP-0279 and
    /// XEP-0215; returns once that is done, with what was learned.
    pub fn start(
        lab: &Lab,
        namespace: &str,
        server: std::net::SocketAddr,
        jid: &str,
        password: &str,
        discover: bool,
    ) -> Result<(Bridge, Option<Learned>)> {
        let jid: Jid = jid.parse().with_context(|| format!("the JID {jid}"))?;
        let password = password.to_owned();
        let (out, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let (in_tx, inbox) = mpsc::channel();
        let (ready_tx, ready) = mpsc::channel::<Result<Option<Learned>, String>>();
        let label = jid.to_string();
        let thread = lab
            .spawn_in(namespace, move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                let runtime = match runtime {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("tokio runtime: {e}")));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let mut options = ConnectOptions::default();
                    options.timeout = TIMEOUT;
                    let mut conn = match Connection::login(server, jid, &password, options).await {
                        Ok(c) => c,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let learned = if discover {
                        let hint = server_address(&mut conn, TIMEOUT)
                            .await
                            .map_err(|e| e.to_string());
                        let services = external_services(&mut conn, TIMEOUT).await;
                        let servers = services.ice_servers().await;
                        Some(Learned::from_discovery(hint, &services, &servers))
                    } else {
                        None
                    };
                    if ready_tx.send(Ok(learned)).is_err() {
                        return;
                    }
                    loop {
                        tokio::select! {
                            el = conn.next_stanza() => match el {
                                Ok(el) => {
                                    if in_tx.send(Ok(String::from(&el))).is_err() {
                                        break;
                                    }
                                }
                                Err(e) => {
                                    let _ = in_tx.send(Err(e.to_string()));
                                    break;
                                }
                            },
                            xml = out_rx.recv() => match xml {
                                Some(xml) => {
                                    let sent = xml
                                        .parse::<Element>()
                                        .map_err(|e| e.to_string())
                                        .and_then(|el| conn.send(el).map_err(|e| e.to_string()));
                                    if let Err(e) = sent {
                                        let _ = in_tx.send(Err(format!("sending: {e}")));
                                    }
                                }
                                None => break,
                            },
                        }
                    }
                    conn.close().await;
                });
            })
            .with_context(|| format!("a thread in {namespace}"))?;
        let learned = match ready.recv_timeout(TIMEOUT * 3) {
            Ok(Ok(l)) => l,
            Ok(Err(e)) => return Err(anyhow!("{label}: {e}")),
            Err(_) => {
                return Err(anyhow!(
                    "{label}: no login within {} s",
                    (TIMEOUT * 3).as_secs()
                ));
            }
        };
        Ok((
            Bridge {
                out,
                inbox,
                thread: Some(thread),
            },
            learned,
        ))
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // Closing the channel ends the loop; the stream is closed within about 3 s.
        let (closed, _) = tokio::sync::mpsc::unbounded_channel();
        drop(std::mem::replace(&mut self.out, closed));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The two sides' connections as the run's signalling path: initiator first.
pub struct XmppCarrier {
    /// The initiator's and the responder's bridges.
    pub bridges: [Bridge; 2],
}

impl Carrier for XmppCarrier {
    fn send(&mut self, direction: Direction, xml: &str) -> Result<(), String> {
        let from = match direction {
            Direction::ToResponder => 0,
            Direction::ToInitiator => 1,
        };
        self.bridges[from]
            .out
            .send(xml.to_owned())
            .map_err(|_| format!("side {from}'s XMPP connection has ended"))
    }

    fn poll(&mut self) -> Option<Result<(Direction, String), String>> {
        for (i, direction) in [(0, Direction::ToInitiator), (1, Direction::ToResponder)] {
            match self.bridges[i].inbox.try_recv() {
                Ok(Ok(xml)) => return Some(Ok((direction, xml))),
                Ok(Err(e)) => return Some(Err(format!("side {i}'s XMPP connection: {e}"))),
                Err(_) => {}
            }
        }
        None
    }
}
