//! Datagrams waiting for `poll_transmit`, shared by the agent and the TURN client: each STUN
//! message is built in place into one reused buffer, tagged with how it leaves (the agent's
//! `Route`, the TURN client's server address).

use std::collections::VecDeque;

use crate::stun::BuildError;

/// Queue of datagrams to send, each with its tag, all in one reused buffer; each message may
/// take up to `SLOT` bytes while it is built.
#[derive(Debug)]
pub(crate) struct OutQueue<R, const SLOT: usize> {
    buf: Vec<u8>,
    queue: VecDeque<(R, usize, usize)>,
}

impl<R, const SLOT: usize> Default for OutQueue<R, SLOT> {
    fn default() -> Self {
        OutQueue {
            buf: Vec::new(),
            queue: VecDeque::new(),
        }
    }
}

impl<R, const SLOT: usize> OutQueue<R, SLOT> {
    /// Builds one STUN message into the queue, to leave by `tag`.
    pub(crate) fn push(
        &mut self,
        tag: R,
        build: impl FnOnce(&mut [u8]) -> Result<usize, BuildError>,
    ) {
        if self.queue.is_empty() {
            self.buf.clear();
        }
        let start = self.buf.len();
        self.buf.resize(start + SLOT, 0);
        match build(&mut self.buf[start..]) {
            Ok(n) => {
                self.buf.truncate(start + n);
                self.queue.push_back((tag, start, start + n));
            }
            Err(_) => {
                // Only reachable with credentials longer than validated: nothing is sent.
                self.buf.truncate(start);
            }
        }
    }

    /// Queues bytes already built (a TURN client's request, say), to leave by `tag`.
    pub(crate) fn push_bytes(&mut self, tag: R, bytes: &[u8]) {
        if self.queue.is_empty() {
            self.buf.clear();
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(bytes);
        self.queue.push_back((tag, start, start + bytes.len()));
    }

    /// The tag of the next datagram.
    pub(crate) fn front(&self) -> Option<&R> {
        self.queue.front().map(|(tag, _, _)| tag)
    }

    /// The next datagram and its tag, borrowing the buffer; `None` (and the buffer emptied)
    /// when none is left.
    pub(crate) fn pop(&mut self) -> Option<(R, &[u8])> {
        let Some((tag, start, end)) = self.queue.pop_front() else {
            self.buf.clear();
            return None;
        };
        Some((tag, &self.buf[start..end]))
    }
}
