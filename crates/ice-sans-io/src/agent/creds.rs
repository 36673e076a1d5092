//! Credentials (RFC 8445 §5.3): ufrag, password and the integrity key of one side.

use std::fmt;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::RngCore;

use crate::candidate::is_valid_credential;
use crate::stun::IntegrityKey;

use super::error::CredentialsError;

/// Credentials of one side in one generation, with the integrity key set up once.
#[derive(Clone)]
pub(super) struct Creds {
    pub(super) ufrag: String,
    pub(super) pwd: String,
    pub(super) key: IntegrityKey,
}

impl Creds {
    pub(super) fn new(ufrag: String, pwd: String) -> Creds {
        let key = IntegrityKey::short_term(&pwd);
        Creds { ufrag, pwd, key }
    }
}

impl fmt::Debug for Creds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Creds")
            .field("ufrag", &self.ufrag)
            .finish_non_exhaustive()
    }
}

pub(super) fn random_string(rng: &mut ChaCha8Rng, len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| CHARS[(rng.next_u32() as usize) % CHARS.len()] as char)
        .collect()
}

/// RFC 8445 §5.3: our ufrag has at least 4 characters and our password at least 22 (the
/// peer's are taken shorter: some deployed clients send shorter ones).
pub(super) fn check_local_creds(ufrag: &str, pwd: &str) -> Result<(), CredentialsError> {
    if !is_valid_credential(ufrag) || ufrag.len() < 4 {
        return Err(CredentialsError::BadUfrag);
    }
    if !is_valid_credential(pwd) || pwd.len() < 22 {
        return Err(CredentialsError::BadPwd);
    }
    Ok(())
}
