//! Secure random bytes from the crypto backend (aws-lc-rs, or the operating system's
//! generator through the RustCrypto crates of `rust-crypto`): one source for keys,
//! secrets and nonces.

use std::error::Error;
use std::fmt;

/// The system's secure random generator failed; nothing was produced.
#[derive(Debug)]
pub(crate) struct NoRandomness(Option<Box<dyn Error + Send + Sync + 'static>>);

impl fmt::Display for NoRandomness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the secure random generator failed")
    }
}

impl Error for NoRandomness {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

/// Fills `out` from the secure generator.
#[cfg(feature = "aws-lc-rs")]
pub(crate) fn fill(out: &mut [u8]) -> Result<(), NoRandomness> {
    // aws-lc-rs's error says nothing more than that it failed.
    aws_lc_rs::rand::fill(out).map_err(|_| NoRandomness(None))
}

/// Fills `out` from the secure generator.
#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
pub(crate) fn fill(out: &mut [u8]) -> Result<(), NoRandomness> {
    use rsa::rand_core::{OsRng, RngCore as _};
    OsRng.try_fill_bytes(out).map_err(|e| NoRandomness(Some(Box::new(e))))
}

/// `len` bytes from the secure generator.
#[cfg(any(feature = "testing", feature = "issuer", feature = "client"))]
pub(crate) fn random_bytes(len: usize) -> Result<Vec<u8>, NoRandomness> {
    let mut out = vec![0; len];
    fill(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn fills_with_fresh_bytes() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        super::fill(&mut a).unwrap();
        super::fill(&mut b).unwrap();
        assert_ne!(a, [0; 32]);
        assert_ne!(a, b);
    }
}
