//! What the agent's STUN transactions and the TURN client's share: RFC 8489 §6.2.1's doubling
//! RTO and transaction IDs drawn from the owner's seeded RNG.

use std::time::Duration;

use rand_chacha::rand_core::RngCore;

use crate::stun::TransactionId;

/// RFC 8489 §6.2.1: the wait before the next retransmission is twice the last, capped at
/// `max_rto` (never below the last wait, so a cap under the initial RTO does not shorten it).
pub(crate) fn doubled(rto: Duration, max_rto: Duration) -> Duration {
    rto.saturating_mul(2).min(max_rto.max(rto))
}

/// A transaction ID of 96 random bits (RFC 8489 §5) from `rng`.
pub(crate) fn random_tid(rng: &mut impl RngCore) -> TransactionId {
    let mut b = [0u8; 12];
    rng.fill_bytes(&mut b);
    TransactionId::new(b)
}
