//! Datagrams waiting for `poll_transmit`, shared by the agent and the TURN client: each STUN
//! message is built in place into one reused buffer, tagged with how it leaves (the agent's
//! `Route`, the TURN client's server address).

use std::collections::VecDeque;

use crate::stun::BuildError;

/// Queue of datagrams to send, each with its tag, all in one reused buffer; each message may
/// take up to `SLOT` bytes while it is built, and has `ROOM` bytes reserved in front of it
/// (the agent's room for an RFC 4571 frame header, written in place when the message leaves
/// on a TCP connection: nothing is copied).
#[derive(Debug)]
pub(crate) struct OutQueue<R, const SLOT: usize, const ROOM: usize = 0> {
    buf: Vec<u8>,
    /// Tag, start of the room, end of the message.
    queue: VecDeque<(R, usize, usize)>,
}

impl<R, const SLOT: usize, const ROOM: usize> Default for OutQueue<R, SLOT, ROOM> {
    fn default() -> Self {
        OutQueue {
            buf: Vec::new(),
            queue: VecDeque::new(),
        }
    }
}

impl<R, const SLOT: usize, const ROOM: usize> OutQueue<R, SLOT, ROOM> {
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
        self.buf.resize(start + ROOM + SLOT, 0);
        match build(&mut self.buf[start + ROOM..]) {
            Ok(n) => {
                self.buf.truncate(start + ROOM + n);
                self.queue.push_back((tag, start, start + ROOM + n));
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
        self.buf.resize(start + ROOM, 0);
        self.buf.extend_from_slice(bytes);
        self.queue
            .push_back((tag, start, start + ROOM + bytes.len()));
    }

    /// Forgets every datagram queued (their way out is gone).
    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.buf.clear();
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
        Some((tag, &self.buf[start + ROOM..end]))
    }

    /// The next datagram with the `ROOM` bytes in front of it, writable, and its tag; `None`
    /// (and the buffer emptied) when none is left.
    pub(crate) fn pop_with_room(&mut self) -> Option<(R, &mut [u8])> {
        let Some((tag, start, end)) = self.queue.pop_front() else {
            self.buf.clear();
            return None;
        };
        Some((tag, &mut self.buf[start..end]))
    }
}
