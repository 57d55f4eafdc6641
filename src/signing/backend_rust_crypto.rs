//! Fresh keys from the RustCrypto crates jsonwebtoken's
//! `rust_crypto` backend already uses (feature `rust-crypto` without `aws-lc-rs`).

use rsa::rand_core::OsRng;
use rsa::traits::{PrivateKeyParts as _, PublicKeyParts as _};

use super::SigningError;
use super::der::{EcParts, RsaParts};

fn failed(what: &str) -> SigningError {
    SigningError::new(format!("key generation: {what}"))
}

/// A 2048-bit RSA key.
pub(super) fn rsa_2048() -> Result<RsaParts, SigningError> {
    let key =
        rsa::RsaPrivateKey::new(&mut OsRng, 2048).map_err(|e| SigningError::caused_by("key generation: RSA", e))?;
    let [p, q] = key.primes() else { return Err(failed("RSA key with more than two primes")) };
    let (dp, dq, qi) = match (key.dp(), key.dq(), key.crt_coefficient()) {
        (Some(dp), Some(dq), Some(qi)) => (dp.to_bytes_be(), dq.to_bytes_be(), qi.to_bytes_be()),
        _ => return Err(failed("RSA key without CRT values")),
    };
    Ok(RsaParts {
        n: key.n().to_bytes_be(),
        e: key.e().to_bytes_be(),
        d: key.d().to_bytes_be(),
        p: p.to_bytes_be(),
        q: q.to_bytes_be(),
        dp,
        dq,
        qi,
    })
}

/// An EC key on P-256 or P-384.
pub(super) fn ec(p384: bool) -> Result<EcParts, SigningError> {
    use p256::elliptic_curve::sec1::ToEncodedPoint as _;
    // Same steps on both curves; the types differ.
    macro_rules! fresh {
        ($curve:ident) => {{
            let key = $curve::SecretKey::random(&mut OsRng);
            let point = key.public_key().to_encoded_point(false);
            match (point.x(), point.y()) {
                (Some(x), Some(y)) => Ok(EcParts { d: key.to_bytes().to_vec(), x: x.to_vec(), y: y.to_vec() }),
                _ => Err(failed("EC point")),
            }
        }};
    }
    if p384 { fresh!(p384) } else { fresh!(p256) }
}

/// An Ed25519 key: (seed, public key).
pub(super) fn ed25519() -> Result<(Vec<u8>, Vec<u8>), SigningError> {
    let mut seed = [0u8; 32];
    crate::random::fill(&mut seed).map_err(|e| SigningError::caused_by("key generation: no random bytes", e))?;
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    Ok((seed.to_vec(), key.verifying_key().to_bytes().to_vec()))
}
