//! Driving `turn-server-proto` (a sans-IO TURN server nobody here wrote) in the tests' virtual
//! time: its own work between datagrams, shared by the tests that run our TURN client and our
//! agents against it.

use std::net::SocketAddr;

use turn_server_proto::api::{TurnServerApi, TurnServerPollRet};
use turn_server_proto::server::TurnServer;
use turn_server_proto::types::{AddressFamily, Instant};

/// Runs the server's own work at `now` until it waits: each socket it asks for (one per
/// allocation) is given `relayed(family)`, each relayed socket it closes is reported to
/// `closed`. Returns when it asks to be called again, if it does. (Its datagrams are then read
/// with `poll_transmit`.)
pub(crate) fn serve(
    server: &mut TurnServer,
    now: Instant,
    mut relayed: impl FnMut(AddressFamily) -> SocketAddr,
    mut closed: impl FnMut(SocketAddr),
) -> Option<Instant> {
    loop {
        match server.poll(now) {
            TurnServerPollRet::AllocateSocket {
                transport,
                listen_addr,
                client_addr,
                allocation_transport,
                family,
            } => {
                let addr = relayed(family);
                server.allocated_socket(
                    transport,
                    listen_addr,
                    client_addr,
                    allocation_transport,
                    family,
                    Ok(addr),
                    now,
                );
            }
            TurnServerPollRet::SocketClose { listen_addr, .. } => closed(listen_addr),
            TurnServerPollRet::TcpClose { .. } => {}
            TurnServerPollRet::TcpConnect { .. } => panic!("no TCP allocations in these tests"),
            TurnServerPollRet::WaitUntil(t) => return Some(t),
        }
    }
}
