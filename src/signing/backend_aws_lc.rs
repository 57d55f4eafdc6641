//! Fresh keys from aws-lc-rs (feature `aws-lc-rs`).

use aws_lc_rs::encoding::{AsBigEndian, AsDer};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
    RsaKeyPair,
};

use super::SigningError;
use super::der::{self, EcParts, RsaParts};

fn failed(what: &str) -> SigningError {
    SigningError::new(format!("key generation: {what}"))
}

/// A failure aws-lc-rs reported, kept as the source.
fn failed_by(what: &str) -> impl FnOnce(aws_lc_rs::error::Unspecified) -> SigningError {
    move |e| SigningError::caused_by(format!("key generation: {what}"), e)
}

/// A 2048-bit RSA key.
pub(super) fn rsa_2048() -> Result<RsaParts, SigningError> {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(failed_by("RSA"))?;
    let pkcs8 = pair.as_der().map_err(failed_by("RSA encoding"))?;
    der::rsa_parts_from_pkcs8(pkcs8.as_ref()).ok_or_else(|| failed("RSA encoding"))
}

/// An EC key on P-256 or P-384.
pub(super) fn ec(p384: bool) -> Result<EcParts, SigningError> {
    let alg = if p384 { &ECDSA_P384_SHA384_FIXED_SIGNING } else { &ECDSA_P256_SHA256_FIXED_SIGNING };
    let pair = EcdsaKeyPair::generate(alg).map_err(failed_by("EC"))?;
    let d = pair.private_key().as_be_bytes().map_err(failed_by("EC encoding"))?;
    // Uncompressed point: 0x04 ‖ x ‖ y.
    let point = pair.public_key().as_ref().get(1..).ok_or_else(|| failed("EC point"))?;
    let (x, y) = point.split_at(point.len() / 2);
    Ok(EcParts { d: d.as_ref().to_vec(), x: x.to_vec(), y: y.to_vec() })
}

/// An Ed25519 key: (seed, public key).
pub(super) fn ed25519() -> Result<(Vec<u8>, Vec<u8>), SigningError> {
    let pair = Ed25519KeyPair::generate().map_err(failed_by("Ed25519"))?;
    let seed = pair.seed().map_err(failed_by("Ed25519 seed"))?;
    let seed = AsBigEndian::as_be_bytes(&seed).map_err(failed_by("Ed25519 seed"))?;
    Ok((seed.as_ref().to_vec(), pair.public_key().as_ref().to_vec()))
}
