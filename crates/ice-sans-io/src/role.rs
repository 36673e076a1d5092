//! The role of an agent, which the configuration sets and events report.

/// The role of an agent (RFC 8445 §6.1.1). In Jingle the initiator is controlling (XEP-0371
/// §5.6, following RFC 8445 §6.1.1's offerer rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Nominates pairs (RFC 8445 §8.1).
    Controlling,
    /// Follows the controlling agent's nominations.
    Controlled,
}

impl Role {
    /// The other role.
    pub fn flip(self) -> Role {
        match self {
            Role::Controlling => Role::Controlled,
            Role::Controlled => Role::Controlling,
        }
    }
}
