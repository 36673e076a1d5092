//! The retransmission timeout of RFC 6298 for one connection.

use std::time::Duration;

use super::{CLOCK_GRANULARITY, INITIAL_RTO, MAX_RTO, MIN_RTO};

/// SRTT, RTTVAR and the RTO (RFC 6298 §2).
#[derive(Debug, Clone, Copy)]
pub(super) struct Rtt {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
}

impl Rtt {
    /// §2.1: before any sample, an RTO of 1 s.
    pub(super) fn new() -> Rtt {
        Rtt {
            srtt: None,
            rttvar: Duration::ZERO,
            rto: INITIAL_RTO,
        }
    }

    /// The RTO now.
    pub(super) fn rto(&self) -> Duration {
        self.rto
    }

    /// An RTT sample (§2.2 the first, §2.3 the next ones), and the RTO from it.
    pub(super) fn sample(&mut self, r: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(s) => {
                let diff = s.abs_diff(r);
                self.rttvar = self.rttvar * 3 / 4 + diff / 4;
                self.srtt = Some(s * 7 / 8 + r / 8);
            }
        }
        self.collapse();
    }

    /// §5.5: the timer expired, the RTO doubles (up to §2.5's 60 s).
    pub(super) fn back_off(&mut self) {
        self.rto = (self.rto * 2).min(MAX_RTO);
    }

    /// §5.7: the SYN timed out and no sample came; data starts with an RTO of 3 s.
    pub(super) fn after_syn_timeout(&mut self) {
        if self.srtt.is_none() {
            self.rto = Duration::from_secs(3);
        }
    }

    /// The RTO from SRTT and RTTVAR without back-off (§2.3 with §2.4's floor of 1 s and
    /// §2.5's ceiling); before any sample, no more than §5.7's 3 s.
    pub(super) fn collapse(&mut self) {
        self.rto = match self.srtt {
            Some(srtt) => (srtt + (self.rttvar * 4).max(CLOCK_GRANULARITY)).clamp(MIN_RTO, MAX_RTO),
            None => self.rto.min(Duration::from_secs(3)),
        };
    }
}
