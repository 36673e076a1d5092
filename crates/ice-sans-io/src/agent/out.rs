//! The outgoing queue.

use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::stun::BuildError;

use super::IceAgent;

/// Room reserved in the output buffer for one STUN message: a USERNAME of two 256-byte
/// fragments and every other attribute the agent writes fit well within it.
pub(super) const MAX_OUT: usize = 1024;

/// Queue of datagrams to send, all in one reused buffer.
#[derive(Debug, Default)]
pub(super) struct OutQueue {
    pub(super) buf: Vec<u8>,
    pub(super) queue: VecDeque<(SocketAddr, SocketAddr, usize, usize)>,
}

impl IceAgent {
    /// Builds one STUN message into the output queue.
    pub(super) fn push_out(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        build: impl FnOnce(&mut [u8]) -> Result<usize, BuildError>,
    ) {
        if self.out.queue.is_empty() {
            self.out.buf.clear();
        }
        let start = self.out.buf.len();
        self.out.buf.resize(start + MAX_OUT, 0);
        match build(&mut self.out.buf[start..]) {
            Ok(n) => {
                self.out.buf.truncate(start + n);
                self.out.queue.push_back((local, remote, start, start + n));
            }
            Err(_) => {
                // Only reachable with credentials longer than validated: nothing is sent.
                self.out.buf.truncate(start);
            }
        }
    }
}
