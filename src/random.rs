//! Secure random bytes from the crypto backend (aws-lc-rs, or the operating system's
//! generator through the RustCrypto crates of `rust-crypto`): one source for keys,
//! secrets and nonces; and the seeded hasher of the in-memory maps that attackers
//! choose keys for.

/// A fast hasher (foldhash) keyed by the operating system: foldhash seeds itself from
/// addresses and the time only, while std's `RandomState` draws its keys from the OS.
/// For maps whose keys come from requests, so collisions cannot be precomputed.
pub(crate) fn os_seeded_hasher() -> foldhash::quality::FixedState {
    use std::hash::BuildHasher as _;
    foldhash::quality::FixedState::with_seed(std::hash::RandomState::new().hash_one(0x7365_6564_u64))
}

#[cfg(any(feature = "dpop", feature = "testing", feature = "issuer", feature = "client"))]
use std::{error::Error, fmt};

/// The system's secure random generator failed; nothing was produced.
#[cfg(any(feature = "dpop", feature = "testing", feature = "issuer", feature = "client"))]
#[derive(Debug)]
pub(crate) struct NoRandomness(Option<Box<dyn Error + Send + Sync + 'static>>);

#[cfg(any(feature = "dpop", feature = "testing", feature = "issuer", feature = "client"))]
impl fmt::Display for NoRandomness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the secure random generator failed")
    }
}

#[cfg(any(feature = "dpop", feature = "testing", feature = "issuer", feature = "client"))]
impl Error for NoRandomness {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

/// Fills `out` from the secure generator.
#[cfg(all(feature = "aws-lc-rs", any(feature = "dpop", feature = "testing", feature = "issuer", feature = "client")))]
pub(crate) fn fill(out: &mut [u8]) -> Result<(), NoRandomness> {
    // aws-lc-rs's error says nothing more than that it failed.
    aws_lc_rs::rand::fill(out).map_err(|_| NoRandomness(None))
}

/// Fills `out` from the secure generator.
#[cfg(all(
    feature = "rust-crypto",
    not(feature = "aws-lc-rs"),
    any(feature = "dpop", feature = "testing", feature = "issuer", feature = "client")
))]
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
