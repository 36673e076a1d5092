//! The long-term credential mechanism (RFC 8489 §9.2) as the server checks it: nonces, the
//! password of a user (fixed, or a TURN REST user name's), the checks of a request.

use std::net::SocketAddr;
use std::time::Instant;

use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::{REST_EPOCH, TurnAuth, TurnServer, rest_password};
use crate::stun_wire::{self as wire, Builder, Message};

/// Who answered a request that failed authentication.
pub(super) enum Auth {
    Ok { username: String, key: [u8; 16] },
    Refused(Vec<u8>),
}

impl TurnServer {
    /// The nonce of a client: deterministic, stateless (an HMAC of its address under a key
    /// from the seed), never stale.
    pub(super) fn nonce(&self, client: SocketAddr) -> String {
        let tag = Hmac::<Sha1>::new_from_slice(&self.nonce_key)
            .map(|mut m| {
                m.update(client.to_string().as_bytes());
                m.finalize().into_bytes().to_vec()
            })
            .unwrap_or_default();
        tag[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The password of `username`, if the server knows it at `now`.
    fn password(&self, now: Instant, username: &str) -> Option<String> {
        match &self.config.auth {
            TurnAuth::LongTerm {
                username: u,
                password,
            } => (u == username).then(|| password.clone()),
            TurnAuth::Secret(secret) => {
                let expiry: u64 = username.split(':').next()?.parse().ok()?;
                let unix = REST_EPOCH + now.saturating_duration_since(self.base).as_secs();
                (expiry >= unix).then(|| rest_password(secret, username))
            }
        }
    }

    /// RFC 8489 §9.2.4: the long-term credential checks of a request.
    pub(super) fn authenticate(
        &mut self,
        now: Instant,
        m: &Message<'_>,
        client: SocketAddr,
    ) -> Auth {
        let challenge = |s: &mut Self, code: u16, reason: &str| {
            s.stats.unauthenticated += 1;
            let nonce = s.nonce(client);
            Auth::Refused(
                Builder::new(m.method, wire::ERROR, m.txid)
                    .error(code, reason)
                    .attr(wire::ATTR_REALM, s.config.realm.as_bytes())
                    .attr(wire::ATTR_NONCE, nonce.as_bytes())
                    .finish(None),
            )
        };
        if m.attr(wire::ATTR_MESSAGE_INTEGRITY).is_none() {
            return challenge(self, 401, "Unauthorized");
        }
        let (Some(username), Some(realm), Some(nonce)) = (
            m.text(wire::ATTR_USERNAME),
            m.text(wire::ATTR_REALM),
            m.text(wire::ATTR_NONCE),
        ) else {
            self.stats.errors += 1;
            return Auth::Refused(
                Builder::new(m.method, wire::ERROR, m.txid)
                    .error(400, "Bad Request")
                    .finish(None),
            );
        };
        if nonce != self.nonce(client) {
            return challenge(self, 438, "Stale Nonce");
        }
        if realm != self.config.realm {
            return challenge(self, 401, "Unauthorized");
        }
        let Some(password) = self.password(now, username) else {
            return challenge(self, 401, "Unauthorized");
        };
        let key = wire::long_term_key(username, &self.config.realm, &password);
        if !m.integrity_ok(&key) {
            return challenge(self, 401, "Unauthorized");
        }
        Auth::Ok {
            username: username.to_owned(),
            key,
        }
    }
}
