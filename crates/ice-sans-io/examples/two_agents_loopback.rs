//! Two agents on 127.0.0.1, each with its own UDP socket, signalling carried in process: once
//! both are Completed they send a datagram each way, then print it and their selected pairs.
//! Gives up with an error after 10 s.
//!
//! ```sh
//! cargo run -p ice-sans-io --features tokio --example two_agents_loopback
//! ```

use std::error::Error;
use std::io;
use std::time::Duration;

use ice_sans_io::driver::{Driver, DriverEvent};
use ice_sans_io::{Config, Event, IceAgent, PairInfo, Role, State};

/// The sides' names, by index: `a` is controlling (the Jingle initiator), `b` controlled.
const NAMES: [&str; 2] = ["a", "b"];

/// How long the agents get to connect and exchange their datagrams.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

/// What the run saw, for the printout and for `tests/driver_loopback.rs`.
#[derive(Debug)]
pub(crate) struct Summary {
    /// Each side's final state and selected pair of component 1.
    pub(crate) sides: [(State, PairInfo); 2],
    /// What each side received from the other.
    pub(crate) received: [Vec<u8>; 2],
}

/// Feeds one side's event to the other side's agent, as Jingle transport-info would.
fn signal(event: &Event, to: &mut Driver) {
    let now = to.now();
    match event {
        Event::LocalCandidate(c) => {
            if let Err(e) = to.agent_mut().add_remote_candidate(now, c.clone()) {
                eprintln!("candidate {c} not taken: {e}");
            }
        }
        Event::GatheringComplete => to.agent_mut().end_of_remote_candidates(now),
        // A restart's new credentials (the example does not restart).
        Event::LocalCredentials { ufrag, pwd, .. } => {
            if let Err(e) = to.agent_mut().set_remote_credentials(now, ufrag, pwd) {
                eprintln!("credentials not taken: {e}");
            }
        }
        _ => {}
    }
}

/// The next thing either driver reports, with the index of its side. Both `next` futures are
/// cancel-safe, so the one that loses the race loses nothing.
async fn next_of(sides: &mut [Driver; 2]) -> io::Result<(usize, DriverEvent)> {
    let [a, b] = sides;
    tokio::select! {
        e = a.next() => Ok((0, e?)),
        e = b.next() => Ok((1, e?)),
    }
}

/// Connects the two agents and sends a datagram each way.
pub(crate) async fn run() -> Result<Summary, Box<dyn Error>> {
    let loopback = "127.0.0.1:0".parse()?;
    let a = Driver::bind(
        IceAgent::new(Config::new(Role::Controlling), [1; 32]),
        &[(1, loopback)],
    )
    .await?;
    let b = Driver::bind(
        IceAgent::new(Config::new(Role::Controlled), [2; 32]),
        &[(1, loopback)],
    )
    .await?;
    let mut sides = [a, b];

    // The credentials, as session-initiate and session-accept would carry them.
    for i in 0..2 {
        let (ufrag, pwd) = sides[i].agent().local_credentials();
        let (ufrag, pwd) = (ufrag.to_owned(), pwd.to_owned());
        let other = &mut sides[1 - i];
        let now = other.now();
        other
            .agent_mut()
            .set_remote_credentials(now, &ufrag, &pwd)?;
    }

    let mut completed = [false; 2];
    let mut sent = false;
    let mut received: [Option<Vec<u8>>; 2] = [None, None];
    while received.iter().any(Option::is_none) {
        if !sent && completed == [true; 2] {
            for (i, side) in sides.iter_mut().enumerate() {
                side.send(1, format!("hello from {}", NAMES[i]).as_bytes())
                    .await?;
            }
            sent = true;
        }
        let (i, event) = next_of(&mut sides).await?;
        match event {
            DriverEvent::Ice(Event::StateChanged(State::Completed)) => completed[i] = true,
            DriverEvent::Ice(Event::StateChanged(s @ (State::Failed | State::Disconnected))) => {
                return Err(format!("{}: {}", NAMES[i], s.as_str()).into());
            }
            DriverEvent::Ice(e) => signal(&e, &mut sides[1 - i]),
            DriverEvent::Data { data, .. } => received[i] = Some(data),
            _ => {}
        }
    }

    let pair = |i: usize| -> Result<(State, PairInfo), String> {
        let agent = sides[i].agent();
        let pair = agent
            .selected_pair(1)
            .ok_or_else(|| format!("{}: no selected pair", NAMES[i]))?;
        Ok((agent.state(), pair))
    };
    Ok(Summary {
        sides: [pair(0)?, pair(1)?],
        received: received.map(Option::unwrap_or_default),
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let summary = rt.block_on(async {
        tokio::time::timeout(TIMEOUT, run())
            .await
            .map_err(|_| format!("the agents did not connect within {TIMEOUT:?}"))?
    })?;
    for (i, (state, pair)) in summary.sides.iter().enumerate() {
        println!(
            "{}: {}, received {:?}",
            NAMES[i],
            state.as_str(),
            String::from_utf8_lossy(&summary.received[i])
        );
        println!(
            "{}: selected pair {} -> {} (local {}, remote {}, nominated: {}, rtt {:?})",
            NAMES[i],
            pair.base,
            pair.remote.addr,
            pair.local.kind.as_str(),
            pair.remote.kind.as_str(),
            pair.nominated,
            pair.rtt
        );
    }
    Ok(())
}
