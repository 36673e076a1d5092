//! The sender's two controllers: the retransmission timeout from RTT samples (RFC 6298) and the
//! congestion window (AIMD in chunks, after RFC 5681). Both are pure arithmetic.

use std::time::Duration;

/// The clock granularity G of RFC 6298 §2: the least variance term of the RTO.
const GRANULARITY: Duration = Duration::from_millis(1);

/// Longer samples are taken as this long, so that no arithmetic can overflow when the
/// caller's clock jumps.
const MAX_SAMPLE: Duration = Duration::from_secs(60);

/// The chunks a sender may have in flight before its first acknowledgement (RFC 5681 §3.1
/// allows 2 to 4 segments; RFC 6928 ten).
pub(super) const INITIAL_CWND: u32 = 4;

/// The least slow-start threshold after a loss (RFC 5681 §3.1: 2 segments).
const MIN_SSTHRESH: u32 = 2;

/// The retransmission timeout of RFC 6298 §2, with its backoff (§5.5).
#[derive(Debug, Clone)]
pub(super) struct Rto {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    min: Duration,
    max: Duration,
}

impl Rto {
    /// Before any sample the timeout is `initial` (RFC 6298 §2.1).
    pub(super) fn new(initial: Duration, min: Duration, max: Duration) -> Rto {
        Rto {
            srtt: None,
            rttvar: Duration::ZERO,
            rto: initial.clamp(min, max),
            min,
            max,
        }
    }

    /// The current timeout.
    pub(super) fn rto(&self) -> Duration {
        self.rto
    }

    /// The smoothed round-trip time, once there is a sample.
    pub(super) fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// A round-trip time measured on a chunk sent once (Karn's rule is the caller's).
    /// RFC 6298 §2.2 (first sample), §2.3 (later ones), §2.4 (the bounds); a sample also
    /// ends the backoff.
    pub(super) fn sample(&mut self, r: Duration) {
        let r = r.min(MAX_SAMPLE);
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                // RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'|, then SRTT <- 7/8 SRTT + 1/8 R'.
                self.rttvar = (self.rttvar * 3 + srtt.abs_diff(r)) / 4;
                self.srtt = Some((srtt * 7 + r) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(r);
        self.rto = (srtt + GRANULARITY.max(self.rttvar * 4)).clamp(self.min, self.max);
    }

    /// The timer expired: back off (RFC 6298 §5.5), up to the maximum.
    pub(super) fn backoff(&mut self) {
        self.rto = self.rto.saturating_mul(2).min(self.max);
    }
}

/// The congestion window in whole chunks: slow start below the threshold, one chunk more per
/// window of acknowledged chunks above it (RFC 5681 §3.1, counting chunks as RFC 3465 counts
/// bytes), halved on a loss found by the acknowledgements, one chunk after a timeout.
#[derive(Debug, Clone)]
pub(super) struct Aimd {
    cwnd: u32,
    ssthresh: u32,
    /// Chunks acknowledged since the last increase in congestion avoidance.
    acked: u32,
    /// The window never exceeds this (the sender's configured window).
    max: u32,
}

impl Aimd {
    /// A window of [`INITIAL_CWND`] chunks (or `max`, if smaller).
    pub(super) fn new(max: u32) -> Aimd {
        let max = max.max(1);
        Aimd {
            cwnd: INITIAL_CWND.min(max),
            ssthresh: max,
            acked: 0,
            max,
        }
    }

    /// The number of chunks that may be in flight.
    pub(super) fn window(&self) -> u32 {
        self.cwnd
    }

    /// `n` chunks were newly acknowledged.
    pub(super) fn on_ack(&mut self, n: u32) {
        if self.cwnd < self.ssthresh {
            self.cwnd = self.cwnd.saturating_add(n).min(self.max);
            return;
        }
        self.acked = self.acked.saturating_add(n);
        while self.acked >= self.cwnd {
            self.acked -= self.cwnd;
            self.cwnd = (self.cwnd + 1).min(self.max);
        }
    }

    /// A loss found by the acknowledgements (once per window: the caller's recovery point).
    pub(super) fn on_loss(&mut self) {
        self.ssthresh = (self.cwnd / 2).max(MIN_SSTHRESH);
        self.cwnd = self.ssthresh.min(self.max);
        self.acked = 0;
    }

    /// The retransmission timer expired (RFC 5681 §3.1: the loss window is one segment).
    pub(super) fn on_timeout(&mut self) {
        self.ssthresh = (self.cwnd / 2).max(MIN_SSTHRESH);
        self.cwnd = 1;
        self.acked = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn rto_follows_rfc_6298() {
        let mut rto = Rto::new(300 * MS, 50 * MS, 3000 * MS);
        assert_eq!(rto.rto(), 300 * MS);
        assert_eq!(rto.srtt(), None);
        // First sample R: SRTT = R, RTTVAR = R/2, RTO = R + 4 R/2 = 3 R.
        rto.sample(100 * MS);
        assert_eq!(rto.rto(), 300 * MS);
        // Then RTTVAR = 3/4 50 + 1/4 |100 - 60| = 47.5, SRTT = 7/8 100 + 1/8 60 = 95.
        rto.sample(60 * MS);
        assert_eq!(rto.srtt(), Some(95 * MS));
        assert_eq!(rto.rto(), 95 * MS + 190 * MS);
        rto.backoff();
        assert_eq!(rto.rto(), 570 * MS);
        for _ in 0..10 {
            rto.backoff();
        }
        assert_eq!(rto.rto(), 3000 * MS);
        // Steady small samples reach the floor, not below.
        for _ in 0..100 {
            rto.sample(MS);
        }
        assert_eq!(rto.rto(), 50 * MS);
        rto.sample(Duration::MAX);
        assert_eq!(rto.rto(), 3000 * MS);
    }

    #[test]
    fn aimd_grows_halves_and_collapses() {
        let mut w = Aimd::new(64);
        assert_eq!(w.window(), INITIAL_CWND);
        w.on_ack(4);
        assert_eq!(w.window(), 8);
        w.on_ack(100);
        assert_eq!(w.window(), 64);
        w.on_loss();
        assert_eq!(w.window(), 32);
        // Congestion avoidance: 32 acknowledged chunks for one more.
        w.on_ack(31);
        assert_eq!(w.window(), 32);
        w.on_ack(1);
        assert_eq!(w.window(), 33);
        w.on_timeout();
        assert_eq!(w.window(), 1);
        w.on_ack(1);
        assert_eq!(w.window(), 2);
        for _ in 0..10 {
            w.on_loss();
        }
        assert_eq!(w.window(), MIN_SSTHRESH);
        let mut small = Aimd::new(1);
        small.on_ack(1000);
        assert_eq!(small.window(), 1);
    }
}
