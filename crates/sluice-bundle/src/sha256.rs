//! The one sha256 helper of sluice: release ids, bundle digests, manifest file sums and the
//! server's token hashes are all written by these functions, so they are spelled the same
//! everywhere: `sha256:` and 64 lowercase hex digits.

use sha2::{Digest, Sha256};

use crate::BundleError;

/// The prefix of every digest.
pub const PREFIX: &str = "sha256:";

/// `sha256:` and the lowercase hex sha256 of `bytes`. The id of a bundle (its release id).
pub fn digest(bytes: &[u8]) -> String {
    format!("{PREFIX}{}", hex_digest(bytes))
}

/// The lowercase hex sha256 of `bytes`, without a prefix (a manifest line's `sha256`).
pub fn hex_digest(bytes: &[u8]) -> String {
    lower_hex(&Sha256::digest(bytes))
}

/// Lowercase hex of any bytes (a hash, or the random bytes of a token).
pub fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Whether `hex` is exactly 64 lowercase hex digits, the hex of a sha256.
pub fn is_hex_digest(hex: &str) -> bool {
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The hex part of a well-formed digest (`sha256:` and 64 lowercase hex digits), which is
/// safe to use as a directory name.
pub fn digest_hex(digest: &str) -> Result<&str, BundleError> {
    match digest.strip_prefix(PREFIX) {
        Some(hex) if is_hex_digest(hex) => Ok(hex),
        _ => Err(BundleError::InvalidDigest { digest: digest.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(digest(b""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(digest_hex(&digest(b"x")).map(str::len).ok(), Some(64));
        assert_eq!(digest(b"x"), format!("sha256:{}", hex_digest(b"x")));
        assert_eq!(lower_hex(&[0x00, 0xab, 0xff]), "00abff");
    }

    #[test]
    fn refuses_malformed_digests() {
        let good = digest(b"x");
        for bad in ["", "sha256:", "sha512:00", &good.to_uppercase(), &good.replace("sha256:", "sha256:../")] {
            assert!(matches!(digest_hex(bad), Err(BundleError::InvalidDigest { .. })), "{bad:?}");
        }
    }
}
