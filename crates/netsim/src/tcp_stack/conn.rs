//! One TCP connection: the states of RFC 9293 §3.3.2 and the segment processing of §3.10.7,
//! with the retransmission timer of RFC 6298 and NewReno-style recovery (RFC 5681 §3.2,
//! RFC 6582), one segment at a time. The stack
//! ([`super::TcpStack`]) demultiplexes segments and commands to it; everything it sends and
//! reports goes into an [`Out`] the stack owns.
//!
//! Sequence numbers are kept as stream offsets (`u64`, octet 0 being the first data octet) and
//! turned into the 32-bit wire numbers only at the edge: octet `k` of our stream is
//! `ISS + 1 + k` (mod 2³²), our FIN follows the last octet. Since at most
//! [`MAX_SEND_BUFFER`](super::MAX_SEND_BUFFER) octets are ever unacknowledged, far less than
//! 2³¹, a 32-bit acknowledgment maps back to an offset without ambiguity.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use super::reassembly::Held;
use super::rtt::Rtt;
use super::{
    DATA_RETRIES, DUP_ACK_THRESHOLD, MAX_SEND_BUFFER, MAX_UNREAD, MSS, SYN_RETRIES, TIME_WAIT,
    TcpConnInfo, TcpStackStats, TcpState, WINDOW,
};
use crate::node::{TcpConnId, TcpEvent, TcpFailure};
use crate::tcp::{TcpFlags, TcpPacket};

const SYN: TcpFlags = TcpFlags::SYN;
const ACK: TcpFlags = TcpFlags::ACK;
const FIN: TcpFlags = TcpFlags::FIN;
const RST: TcpFlags = TcpFlags::RST;

/// What connections send and report, drained by the stack.
#[derive(Debug, Default)]
pub(super) struct Out {
    pub(super) segments: VecDeque<TcpPacket>,
    pub(super) events: VecDeque<TcpEvent>,
    pub(super) stats: TcpStackStats,
    /// Octets in [`TcpEvent::Data`] events not yet polled (bounded by [`MAX_UNREAD`]).
    pub(super) unread: usize,
}

impl Out {
    /// Queues a segment.
    pub(super) fn send(&mut self, p: TcpPacket) {
        self.stats.segments_sent += 1;
        if p.flags.contains(RST) {
            self.stats.resets_sent += 1;
        }
        self.segments.push_back(p);
    }
}

/// How the connection was opened, for the event that reports it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Origin {
    Active { token: u64 },
    Passive { listener: SocketAddr },
}

/// `a - b` of two sequence numbers read as a signed distance (RFC 9293 §3.4 arithmetic).
fn seq_diff(a: u32, b: u32) -> i64 {
    i64::from(a.wrapping_sub(b) as i32)
}

/// The low 32 bits of a stream offset (sequence arithmetic is mod 2³²).
fn low32(x: u64) -> u32 {
    (x & 0xffff_ffff) as u32
}

#[derive(Debug)]
pub(super) struct Conn {
    pub(super) id: TcpConnId,
    pub(super) local: SocketAddr,
    pub(super) remote: SocketAddr,
    origin: Origin,
    pub(super) state: TcpState,
    iss: u32,
    irs: u32,
    /// Our stream from offset `una` on: unacknowledged, then unsent octets.
    buf: VecDeque<u8>,
    /// SND.UNA as an offset: the oldest unacknowledged octet.
    una: u64,
    /// SND.NXT as an offset: the next new octet to send.
    nxt: u64,
    /// The highest offset ever sent (acknowledgments up to it are acceptable); equal to `nxt`,
    /// since retransmissions leave SND.NXT where it is.
    high: u64,
    syn_acked: bool,
    /// Close asked: a FIN follows the last queued octet.
    fin_queued: bool,
    /// The FIN was sent (by [`Conn::fill`]).
    fin_out: bool,
    /// The FIN was ever sent.
    fin_ever: bool,
    fin_acked: bool,
    /// RCV.NXT as an offset into the peer's stream.
    rcv: u64,
    fin_received: bool,
    rtt: Rtt,
    retx_at: Option<Instant>,
    /// Consecutive expiries of the retransmission timer.
    retries: u32,
    syn_retransmitted: bool,
    /// The acknowledgment number that completes the RTT measurement under way, and when its
    /// segment left (RFC 6298 §3: one measurement at a time, never of a retransmission).
    probe: Option<(u32, Instant)>,
    time_wait_until: Option<Instant>,
    /// Segments beyond RCV.NXT.
    held: Held,
    /// Duplicate ACKs in a row (RFC 5681 §3.2).
    dup_acks: u32,
    /// The highest offset sent when we last went back (RFC 6582 §3.2's "recover").
    recover: u64,
    /// Between a fast retransmit and the acknowledgment of `recover`.
    fast_recovery: bool,
}

impl Conn {
    fn new(
        id: TcpConnId,
        local: SocketAddr,
        remote: SocketAddr,
        origin: Origin,
        state: TcpState,
        iss: u32,
        irs: u32,
    ) -> Conn {
        Conn {
            id,
            local,
            remote,
            origin,
            state,
            iss,
            irs,
            buf: VecDeque::new(),
            una: 0,
            nxt: 0,
            high: 0,
            syn_acked: false,
            fin_queued: false,
            fin_out: false,
            fin_ever: false,
            fin_acked: false,
            rcv: 0,
            fin_received: false,
            rtt: Rtt::new(),
            retx_at: None,
            retries: 0,
            syn_retransmitted: false,
            probe: None,
            time_wait_until: None,
            held: Held::default(),
            dup_acks: 0,
            recover: 0,
            fast_recovery: false,
        }
    }

    /// An active open (RFC 9293 §3.10.1): SYN-SENT, the SYN leaves at once.
    pub(super) fn connect(
        id: TcpConnId,
        (local, remote): (SocketAddr, SocketAddr),
        token: u64,
        iss: u32,
        now: Instant,
        out: &mut Out,
    ) -> Conn {
        let mut c = Conn::new(
            id,
            local,
            remote,
            Origin::Active { token },
            TcpState::SynSent,
            iss,
            0,
        );
        c.send_syn(now, out);
        c
    }

    /// A SYN to a listener (RFC 9293 §3.10.7.2): SYN-RECEIVED, the SYN-ACK leaves at once.
    pub(super) fn accept(
        id: TcpConnId,
        (local, remote): (SocketAddr, SocketAddr),
        iss: u32,
        irs: u32,
        now: Instant,
        out: &mut Out,
    ) -> Conn {
        let mut c = Conn::new(
            id,
            local,
            remote,
            Origin::Passive { listener: local },
            TcpState::SynReceived,
            iss,
            irs,
        );
        c.send_syn(now, out);
        c
    }

    /// What the stack's getter shows.
    pub(super) fn info(&self) -> TcpConnInfo {
        TcpConnInfo {
            local: self.local,
            remote: self.remote,
            state: self.state,
            queued: self.buf.len(),
            room: MAX_SEND_BUFFER.saturating_sub(self.buf.len()),
            rto: self.rtt.rto(),
        }
    }

    fn seq_of(&self, offset: u64) -> u32 {
        self.iss.wrapping_add(1).wrapping_add(low32(offset))
    }

    /// RCV.NXT on the wire.
    fn rcv_nxt(&self) -> u32 {
        self.irs
            .wrapping_add(1)
            .wrapping_add(low32(self.rcv))
            .wrapping_add(u32::from(self.fin_received))
    }

    /// The highest SND.NXT reached: the sequence number of ACKs and RSTs we send.
    fn snd_max(&self) -> u32 {
        if self.syn_acked || self.state == TcpState::SynReceived {
            self.seq_of(self.high)
                .wrapping_add(u32::from(self.fin_ever))
        } else {
            self.iss
        }
    }

    fn emit(&self, out: &mut Out, seq: u32, ack: u32, flags: TcpFlags, payload: Vec<u8>) {
        out.send(TcpPacket {
            src: self.local,
            dst: self.remote,
            seq,
            ack,
            flags,
            window: WINDOW,
            payload,
        });
    }

    fn send_ack(&self, out: &mut Out) {
        self.emit(out, self.snd_max(), self.rcv_nxt(), ACK, Vec::new());
    }

    /// Whether anything we sent waits for its acknowledgment.
    fn outstanding(&self) -> bool {
        !self.syn_acked || self.una < self.high || (self.fin_ever && !self.fin_acked)
    }

    /// Our SYN, or our SYN-ACK once the peer's SYN is known (RFC 9293 §3.5).
    fn send_syn(&mut self, now: Instant, out: &mut Out) {
        if self.state == TcpState::SynReceived {
            self.emit(out, self.iss, self.rcv_nxt(), SYN | ACK, Vec::new());
        } else {
            self.emit(out, self.iss, 0, SYN, Vec::new());
        }
        if !self.syn_retransmitted && self.probe.is_none() {
            self.probe = Some((self.iss.wrapping_add(1), now));
        }
        // RFC 6298 §5.1: start the timer when it is not running.
        self.retx_at.get_or_insert(now + self.rtt.rto());
    }

    /// Sends what the fixed window allows of the queued octets, then the FIN when asked
    /// (RFC 9293 §3.8.6: no congestion control, a window of [`WINDOW`] octets).
    fn fill(&mut self, now: Instant, out: &mut Out) {
        if !self.syn_acked
            || !matches!(
                self.state,
                TcpState::Established
                    | TcpState::CloseWait
                    | TcpState::FinWait1
                    | TcpState::Closing
                    | TcpState::LastAck
            )
        {
            return;
        }
        let end = self.una + self.buf.len() as u64;
        let window_end = self.una + u64::from(WINDOW);
        loop {
            if self.nxt < end && self.nxt < window_end {
                let len = (end - self.nxt).min(window_end - self.nxt).min(MSS as u64);
                let start = usize::try_from(self.nxt - self.una).unwrap_or(usize::MAX);
                let stop = start.saturating_add(usize::try_from(len).unwrap_or(0));
                let payload: Vec<u8> = self.buf.range(start..stop).copied().collect();
                let fin = self.fin_queued && !self.fin_out && self.nxt + len == end;
                let flags = if fin { ACK | FIN } else { ACK };
                let seq = self.seq_of(self.nxt);
                if self.nxt >= self.high {
                    // RFC 6298 §3 (Karn): only new data is timed.
                    if self.probe.is_none() {
                        self.probe = Some((self.seq_of(self.nxt + len), now));
                    }
                } else {
                    out.stats.retransmitted += 1;
                }
                self.emit(out, seq, self.rcv_nxt(), flags, payload);
                self.nxt += len;
                self.high = self.high.max(self.nxt);
                if fin {
                    self.fin_out = true;
                    self.fin_ever = true;
                }
            } else if self.nxt == end && self.fin_queued && !self.fin_out {
                if self.fin_ever {
                    out.stats.retransmitted += 1;
                }
                self.emit(out, self.seq_of(end), self.rcv_nxt(), ACK | FIN, Vec::new());
                self.fin_out = true;
                self.fin_ever = true;
            } else {
                break;
            }
            // RFC 6298 §5.1.
            self.retx_at.get_or_insert(now + self.rtt.rto());
        }
    }

    /// The connection ends without an orderly close: reported as the node expects.
    fn fail(&mut self, reason: TcpFailure, out: &mut Out) {
        match (self.state, self.origin) {
            (TcpState::SynSent | TcpState::SynReceived, Origin::Active { token }) => {
                out.events
                    .push_back(TcpEvent::ConnectFailed { token, reason });
            }
            // A connection never accepted goes back to the listener unseen (RFC 9293
            // §3.10.7.4: "return to the LISTEN state").
            (TcpState::SynReceived, Origin::Passive { .. }) => {}
            // TIME-WAIT: the node has heard everything already.
            (TcpState::TimeWait | TcpState::Closed, _) => {}
            _ => out.events.push_back(TcpEvent::Reset {
                conn: self.id,
                reason,
            }),
        }
        self.state = TcpState::Closed;
    }

    /// ESTABLISHED: the peer acknowledged our SYN (RFC 9293 §3.10.7.3, §3.10.7.4).
    fn establish(&mut self, now: Instant, out: &mut Out) {
        self.syn_acked = true;
        if let Some((_, sent)) = self.probe.take() {
            self.rtt.sample(now.saturating_duration_since(sent));
        } else if self.syn_retransmitted {
            // RFC 6298 §5.7: after the SYN timed out, data starts with an RTO of 3 s.
            self.rtt.after_syn_timeout();
        }
        self.retries = 0;
        self.retx_at = None;
        self.state = TcpState::Established;
        out.stats.established += 1;
        let (conn, local, remote) = (self.id, self.local, self.remote);
        out.events.push_back(match self.origin {
            Origin::Active { token } => TcpEvent::Connected {
                token,
                conn,
                local,
                remote,
            },
            Origin::Passive { listener } => TcpEvent::Accepted {
                listener,
                conn,
                local,
                remote,
            },
        });
    }

    fn enter_time_wait(&mut self, now: Instant) {
        self.state = TcpState::TimeWait;
        self.retx_at = None;
        self.time_wait_until = Some(now + TIME_WAIT);
    }

    /// When [`Conn::handle_timeout`] is due.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        match (self.retx_at, self.time_wait_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The retransmission timer (RFC 6298 §5.4–§5.6) and TIME-WAIT's end.
    pub(super) fn handle_timeout(&mut self, now: Instant, out: &mut Out) {
        if let Some(t) = self.time_wait_until {
            if now >= t {
                self.state = TcpState::Closed;
            }
            return;
        }
        let Some(at) = self.retx_at else { return };
        if now < at {
            return;
        }
        self.retx_at = None;
        self.retries += 1;
        out.stats.timeouts += 1;
        let limit = if self.syn_acked {
            DATA_RETRIES
        } else {
            SYN_RETRIES
        };
        if self.retries > limit {
            self.fail(TcpFailure::TimedOut, out);
            return;
        }
        // §5.5: back off; §3 (Karn): no measurement across a retransmission.
        self.rtt.back_off();
        self.probe = None;
        if self.syn_acked {
            // §5.4: "retransmit the earliest segment that has not been acknowledged"; the
            // holes after it follow one per partial acknowledgment (RFC 6582 §3.2 step 5), and
            // duplicate ACKs of what was in flight start no fast retransmit (RFC 6582 §4).
            self.recover = self.high;
            self.fast_recovery = true;
            self.dup_acks = 0;
            self.retransmit_first(out);
            // §5.6: the timer restarts with the backed-off RTO.
            self.retx_at = self.outstanding().then(|| now + self.rtt.rto());
        } else {
            self.syn_retransmitted = true;
            out.stats.retransmitted += 1;
            self.send_syn(now, out);
        }
    }

    /// Sends the oldest unacknowledged segment again, leaving SND.NXT where it is (a fast
    /// retransmit).
    fn retransmit_first(&mut self, out: &mut Out) {
        self.probe = None;
        let end = self.una + self.buf.len() as u64;
        if self.una < self.high {
            let len = (self.high - self.una).min(MSS as u64);
            let stop = usize::try_from(len).unwrap_or(0).min(self.buf.len());
            let payload: Vec<u8> = self.buf.range(..stop).copied().collect();
            let fin = self.fin_ever && self.una + len == end;
            let flags = if fin { ACK | FIN } else { ACK };
            out.stats.retransmitted += 1;
            self.emit(out, self.seq_of(self.una), self.rcv_nxt(), flags, payload);
        } else if self.fin_ever && !self.fin_acked {
            out.stats.retransmitted += 1;
            self.emit(out, self.seq_of(end), self.rcv_nxt(), ACK | FIN, Vec::new());
        }
    }

    /// Appends to our stream; false when closed for sending or over the buffer.
    pub(super) fn send(&mut self, now: Instant, data: Vec<u8>, out: &mut Out) -> bool {
        if self.fin_queued
            || !matches!(self.state, TcpState::Established | TcpState::CloseWait)
            || self.buf.len().saturating_add(data.len()) > MAX_SEND_BUFFER
        {
            return false;
        }
        self.buf.extend(data);
        self.fill(now, out);
        true
    }

    /// The node's close (RFC 9293 §3.10.4): a FIN after the queued octets.
    pub(super) fn close(&mut self, now: Instant, out: &mut Out) -> bool {
        self.state = match self.state {
            TcpState::Established => TcpState::FinWait1,
            TcpState::CloseWait => TcpState::LastAck,
            _ => return false,
        };
        self.fin_queued = true;
        self.fill(now, out);
        true
    }

    /// The node's abort (RFC 9293 §3.10.5): `<SEQ=SND.NXT><CTL=RST>` from a synchronized
    /// state, nothing from SYN-SENT; the connection is gone.
    pub(super) fn abort(&mut self, out: &mut Out) {
        if !matches!(
            self.state,
            TcpState::SynSent | TcpState::TimeWait | TcpState::Closed
        ) {
            self.emit(out, self.snd_max(), 0, RST, Vec::new());
        }
        self.state = TcpState::Closed;
    }

    /// A segment of this connection arrived.
    pub(super) fn handle_segment(&mut self, now: Instant, p: &TcpPacket, out: &mut Out) {
        match self.state {
            TcpState::Closed => out.stats.dropped += 1,
            TcpState::SynSent => self.on_syn_sent(now, p, out),
            _ => self.on_synchronized(now, p, out),
        }
    }

    /// RFC 9293 §3.10.7.3, SYN-SENT.
    fn on_syn_sent(&mut self, now: Instant, p: &TcpPacket, out: &mut Out) {
        let f = p.flags;
        let ack_ok = f.contains(ACK).then(|| p.ack == self.iss.wrapping_add(1));
        if ack_ok == Some(false) {
            // "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset <SEQ=SEG.ACK><CTL=RST>
            // (unless the RST bit is set, if so drop the segment and return)".
            if !f.contains(RST) {
                self.emit(out, p.ack, 0, RST, Vec::new());
            }
            out.stats.dropped += 1;
            return;
        }
        if f.contains(RST) {
            if ack_ok == Some(true) {
                // "error: connection reset"; a refusal (§3.10.7.1's RST of a closed port).
                self.fail(TcpFailure::Refused, out);
            } else {
                out.stats.dropped += 1;
            }
            return;
        }
        if !f.contains(SYN) {
            out.stats.dropped += 1;
            return;
        }
        self.irs = p.seq;
        self.rcv = 0;
        if ack_ok == Some(true) {
            self.establish(now, out);
            self.send_ack(out);
        } else {
            // Simultaneous open (§3.5, Figure 8): SYN-RECEIVED, and <SEQ=ISS><ACK=RCV.NXT>
            // <CTL=SYN,ACK>; the retransmission timer now repeats the SYN-ACK.
            self.state = TcpState::SynReceived;
            self.emit(out, self.iss, self.rcv_nxt(), SYN | ACK, Vec::new());
        }
    }

    /// RFC 9293 §3.10.7.4, SYN-RECEIVED and the synchronized states.
    fn on_synchronized(&mut self, now: Instant, p: &TcpPacket, out: &mut Out) {
        let f = p.flags;
        if f.contains(RST) {
            // Second check: an RST counts when its sequence number is in the window (RFC 5961's
            // exact-match rule and challenge ACK are not applied: the simulator has no
            // off-path attacker).
            let offset = seq_diff(p.seq, self.rcv_nxt());
            if (0..i64::from(WINDOW)).contains(&offset) {
                let reason = if self.state == TcpState::SynReceived {
                    TcpFailure::Refused
                } else {
                    TcpFailure::Reset
                };
                self.fail(reason, out);
            } else {
                out.stats.dropped += 1;
            }
            return;
        }
        if f.contains(SYN) {
            if self.state == TcpState::SynReceived && p.seq == self.irs {
                if f.contains(ACK) && p.ack == self.iss.wrapping_add(1) {
                    // The peer's SYN-ACK of a simultaneous open acknowledges our SYN (§3.5,
                    // Figure 8): both ends reach ESTABLISHED without a further ACK.
                    self.establish(now, out);
                } else {
                    // The peer's SYN again: our SYN-ACK was lost.
                    out.stats.duplicates += 1;
                    self.emit(out, self.iss, self.rcv_nxt(), SYN | ACK, Vec::new());
                }
                return;
            }
            // Fourth check (and RFC 5961 §4.2): a SYN in a synchronized state is answered by
            // an ACK and dropped. A retransmitted SYN-ACK whose ACK was lost ends here too.
            out.stats.duplicates += 1;
            self.send_ack(out);
            return;
        }
        if !f.contains(ACK) {
            // Fifth check: "if the ACK bit is off, drop the segment and return".
            out.stats.dropped += 1;
            return;
        }
        if self.state == TcpState::SynReceived {
            if p.ack != self.iss.wrapping_add(1) {
                // "If the segment acknowledgment is not acceptable, form a reset segment
                // <SEQ=SEG.ACK><CTL=RST> and send it."
                self.emit(out, p.ack, 0, RST, Vec::new());
                out.stats.dropped += 1;
                return;
            }
            self.establish(now, out);
        } else if !self.take_ack(now, p.ack, p.payload.is_empty() && !f.contains(FIN), out) {
            return;
        }
        if self.fin_acked {
            match self.state {
                TcpState::FinWait1 => self.state = TcpState::FinWait2,
                TcpState::Closing => self.enter_time_wait(now),
                TcpState::LastAck => {
                    self.state = TcpState::Closed;
                    return;
                }
                _ => {}
            }
        }
        self.take_data(now, p, out);
        self.fill(now, out);
    }

    /// Fifth check, ESTABLISHED and after: the acknowledgment. False when the segment is to
    /// be dropped.
    fn take_ack(&mut self, now: Instant, ack: u32, pure: bool, out: &mut Out) -> bool {
        // Octets (and our FIN) newly acknowledged: the number past SND.UNA, which counts the
        // FIN once it is acknowledged.
        let acked = ack
            .wrapping_sub(self.iss.wrapping_add(1))
            .wrapping_sub(low32(self.una))
            .wrapping_sub(u32::from(self.fin_acked));
        let span = (self.high - self.una) + u64::from(self.fin_ever && !self.fin_acked);
        if u64::from(acked) > span {
            if acked >= 1 << 31 {
                // "If the ACK is a duplicate (SEG.ACK < SND.UNA), it can be ignored."
                out.stats.duplicates += 1;
                return true;
            }
            // "If the ACK acks something not yet sent (SEG.ACK > SND.NXT), then send an ACK,
            // drop the segment, and return."
            out.stats.ack_beyond += 1;
            self.send_ack(out);
            return false;
        }
        if acked == 0 {
            if pure && self.una < self.high {
                self.dup_acks += 1;
                // RFC 5681 §3.2: the third duplicate ACK retransmits the oldest unacknowledged
                // segment at once; RFC 6582 §3.2 step 2: not again before the ACK passes
                // `recover`, the highest octet sent when it happened.
                if self.dup_acks == DUP_ACK_THRESHOLD && self.una >= self.recover {
                    out.stats.fast_retransmits += 1;
                    self.recover = self.high;
                    self.fast_recovery = true;
                    self.retransmit_first(out);
                }
            }
            return true;
        }
        self.dup_acks = 0;
        let data = u64::from(acked).min(self.high - self.una);
        let drained = usize::try_from(data)
            .unwrap_or(usize::MAX)
            .min(self.buf.len());
        self.buf.drain(..drained);
        self.una += data;
        self.nxt = self.nxt.max(self.una);
        if u64::from(acked) > data {
            self.fin_acked = true;
            self.fin_out = true;
        }
        if let Some((target, sent)) = self.probe
            && seq_diff(ack, target) >= 0
        {
            self.rtt.sample(now.saturating_duration_since(sent));
            self.probe = None;
        }
        if self.fast_recovery {
            if self.una < self.recover {
                // RFC 6582 §3.2 step 5: a partial acknowledgment; the next hole at once.
                self.retransmit_first(out);
            } else {
                self.fast_recovery = false;
            }
        }
        self.retries = 0;
        // Deviation: the backed-off RTO is recomputed from SRTT as soon as new data is
        // acknowledged, rather than kept until a new sample (RFC 6298 §5.7's note); at high
        // loss a sender seldom gets a sample Karn's algorithm admits.
        self.rtt.collapse();
        // RFC 6298 §5.2 (all acknowledged: stop) and §5.3 (new data acknowledged: restart).
        self.retx_at = self.outstanding().then(|| now + self.rtt.rto());
        true
    }

    /// Sixth to eighth checks: the payload and the FIN, delivered in order (a segment beyond
    /// RCV.NXT is held until the hole before it is filled).
    fn take_data(&mut self, now: Instant, p: &TcpPacket, out: &mut Out) {
        let fin = p.flags.contains(FIN);
        if p.payload.is_empty() && !fin {
            return;
        }
        if self.fin_received
            || !matches!(
                self.state,
                TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2
            )
        {
            // After the peer's FIN: its retransmission, acknowledged again; in TIME-WAIT
            // "restart the 2 MSL timeout" (eighth check).
            out.stats.duplicates += 1;
            self.send_ack(out);
            if self.state == TcpState::TimeWait {
                self.enter_time_wait(now);
            }
            return;
        }
        let start = seq_diff(p.seq, self.rcv_nxt());
        if start > 0 {
            // Beyond RCV.NXT: held for later when it fits the window, and a duplicate ACK
            // tells the sender where the hole is (RFC 9293 §3.10.7.4, seventh check: "segments
            // with higher beginning sequence numbers SHOULD be held for later processing").
            out.stats.out_of_order += 1;
            let offset = self.rcv + start.unsigned_abs();
            self.held.hold(self.rcv, offset, &p.payload, fin);
            self.send_ack(out);
            return;
        }
        let skip = usize::try_from(start.unsigned_abs()).unwrap_or(usize::MAX);
        let Some(new) = p.payload.get(skip..) else {
            // Entirely old: acknowledge again (a duplicate ACK tells the sender where we are).
            out.stats.duplicates += 1;
            self.send_ack(out);
            return;
        };
        if new.is_empty() && !fin {
            out.stats.duplicates += 1;
            self.send_ack(out);
            return;
        }
        if out.unread.saturating_add(new.len() + self.held.octets()) > MAX_UNREAD {
            // The node does not read: not acknowledged, as if lost.
            out.stats.unread_full += 1;
            return;
        }
        let mut data = new.to_vec();
        self.rcv += data.len() as u64;
        // What was held and now follows in order (nothing follows a FIN).
        let fin = fin || self.held.take_in_order(&mut self.rcv, &mut data);
        if !data.is_empty() {
            out.unread += data.len();
            out.events.push_back(TcpEvent::Data {
                conn: self.id,
                data,
            });
        }
        if fin {
            self.held.clear();
            self.fin_received = true;
            out.events.push_back(TcpEvent::Closed { conn: self.id });
            match self.state {
                TcpState::Established => self.state = TcpState::CloseWait,
                TcpState::FinWait1 => self.state = TcpState::Closing,
                TcpState::FinWait2 => self.enter_time_wait(now),
                _ => {}
            }
        }
        self.send_ack(out);
    }
}
