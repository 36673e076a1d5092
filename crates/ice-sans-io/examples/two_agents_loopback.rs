//! Two agents on 127.0.0.1, each on its own UDP socket, signalling carried in process: they
//! connect, send a datagram each way, and print the selected pair.
//!
//! ```sh
//! cargo run -p ice-sans-io --features tokio --example two_agents_loopback
//! ```

use std::error::Error;
use std::time::Duration;

use ice_sans_io::driver::{Driver, DriverEvent};
use ice_sans_io::{Config, Event, IceAgent, Role, State};

/// Feeds one side's event to the other side's agent, as a Jingle transport-info would.
fn signal(event: &Event, to: &mut Driver) {
    let now = to.now();
    match event {
        Event::LocalCandidate(c) => {
            if let Err(e) = to.agent_mut().add_remote_candidate(now, c.clone()) {
                eprintln!("candidate {c} not taken: {e}");
            }
        }
        Event::GatheringComplete => to.agent_mut().end_of_remote_candidates(now),
        Event::LocalCredentials { ufrag, pwd, .. } => {
            let _ = to.agent_mut().set_remote_credentials(now, ufrag, pwd);
        }
        _ => {}
    }
}

/// What the run saw, for the printout and for `tests/driver_loopback.rs`.
#[derive(Debug)]
pub(crate) struct Summary {
    /// Each side's final state and selected pair.
    pub(crate) sides: Vec<(State, ice_sans_io::PairInfo)>,
    /// What a and b received.
    pub(crate) a_received: Vec<u8>,
    pub(crate) b_received: Vec<u8>,
}

pub(crate) async fn run() -> Result<Summary, Box<dyn Error>> {
    let loopback = "127.0.0.1:0".parse()?;
    let mut a = Driver::bind(
        IceAgent::new(Config::new(Role::Controlling), [1; 32]),
        &[(1, loopback)],
    )
    .await?;
    let mut b = Driver::bind(
        IceAgent::new(Config::new(Role::Controlled), [2; 32]),
        &[(1, loopback)],
    )
    .await?;
    // The credentials, as session-initiate and session-accept would carry them.
    let (u, p) = a.agent().local_credentials();
    let (u, p) = (u.to_owned(), p.to_owned());
    let now = b.now();
    b.agent_mut().set_remote_credentials(now, &u, &p)?;
    let (u, p) = b.agent().local_credentials();
    let (u, p) = (u.to_owned(), p.to_owned());
    let now = a.now();
    a.agent_mut().set_remote_credentials(now, &u, &p)?;

    let (mut a_done, mut b_done) = (false, false);
    let (mut a_received, mut b_received) = (None, None);
    while a_received.is_none() || b_received.is_none() {
        tokio::select! {
            e = a.next() => match e? {
                DriverEvent::Ice(e) => {
                    if e == Event::StateChanged(State::Completed) && !a_done {
                        a_done = true;
                        a.send(1, b"hello from a").await?;
                    }
                    signal(&e, &mut b);
                }
                DriverEvent::Data { data, .. } => {
                    a_received = Some(data);
                }
                _ => {}
            },
            e = b.next() => match e? {
                DriverEvent::Ice(e) => {
                    if e == Event::StateChanged(State::Completed) && !b_done {
                        b_done = true;
                        b.send(1, b"hello from b").await?;
                    }
                    signal(&e, &mut a);
                }
                DriverEvent::Data { data, .. } => {
                    b_received = Some(data);
                }
                _ => {}
            },
        }
    }
    let mut sides = Vec::new();
    for d in [&a, &b] {
        let p = d.agent().selected_pair(1).ok_or("no selected pair")?;
        sides.push((d.agent().state(), p));
    }
    Ok(Summary {
        sides,
        a_received: a_received.unwrap_or_default(),
        b_received: b_received.unwrap_or_default(),
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), run())
            .await
            .map_err(|_| "the agents did not connect within 10 s")?
    })
    .map(|s| {
        println!("a received {:?}", String::from_utf8_lossy(&s.a_received));
        println!("b received {:?}", String::from_utf8_lossy(&s.b_received));
        for (name, (state, p)) in ["a", "b"].iter().zip(&s.sides) {
            println!(
                "{name}: {state:?}, selected pair {} -> {} (nominated: {}, rtt {:?})",
                p.base, p.remote.addr, p.nominated, p.rtt
            );
        }
    })
}
