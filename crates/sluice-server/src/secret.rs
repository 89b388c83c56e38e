//! Secrets the server hands out (the admin token, API tokens, enrollment tokens, agent credentials): made
//! from 32 random bytes, shown once, and kept only as their sha256 hash.

use sluice_bundle::sha256;

/// Prefix of the admin token.
pub const ADMIN_PREFIX: &str = "sluice_admin_";
/// Prefix of one-time enrollment tokens.
pub const ENROLL_PREFIX: &str = "sluice_enroll_";
/// Prefix of operators' API tokens.
pub const API_PREFIX: &str = "sluice_api_";
/// Prefix of agent credentials.
pub const AGENT_PREFIX: &str = "sluice_agent_";

/// Longest bearer token looked at; anything longer is unknown without being hashed.
pub const MAX_TOKEN_LEN: usize = 256;

/// `prefix` and 32 random bytes in lowercase hex.
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    format!("{prefix}{}", sha256::lower_hex(&bytes))
}

/// What the store keeps of a token: `sha256:` and the hex sha256 of it.
pub fn hash(token: &str) -> String {
    sha256::digest(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_prefixed() {
        let a = new_token(ADMIN_PREFIX);
        let b = new_token(ADMIN_PREFIX);
        assert_ne!(a, b);
        assert!(a.starts_with(ADMIN_PREFIX));
        assert_eq!(a.len(), ADMIN_PREFIX.len() + 64);
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
    }
}
