//! Public keys parsed once, when the key set is loaded (aws-lc-rs backend).
//!
//! jsonwebtoken hands its verifier raw key bytes, which aws-lc-rs parses again for
//! every token; for RSA that parse costs about a fifth of a verification. Here each
//! key is parsed at most once per algorithm, lazily, and kept for the key's lifetime.

use std::sync::OnceLock;

use aws_lc_rs::signature::{self as sig, ParsedPublicKey, VerificationAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};

/// One lazily parsed key per algorithm the key may verify.
#[derive(Default)]
pub(crate) struct ParsedKeys {
    slots: [OnceLock<Option<ParsedPublicKey>>; 9],
}

/// The aws-lc-rs algorithm jsonwebtoken uses for `alg`, and its slot.
fn algorithm(alg: Algorithm) -> Option<(usize, &'static dyn VerificationAlgorithm)> {
    Some(match alg {
        Algorithm::RS256 => (0, &sig::RSA_PKCS1_2048_8192_SHA256),
        Algorithm::RS384 => (1, &sig::RSA_PKCS1_2048_8192_SHA384),
        Algorithm::RS512 => (2, &sig::RSA_PKCS1_2048_8192_SHA512),
        Algorithm::PS256 => (3, &sig::RSA_PSS_2048_8192_SHA256),
        Algorithm::PS384 => (4, &sig::RSA_PSS_2048_8192_SHA384),
        Algorithm::PS512 => (5, &sig::RSA_PSS_2048_8192_SHA512),
        Algorithm::ES256 => (6, &sig::ECDSA_P256_SHA256_FIXED),
        Algorithm::ES384 => (7, &sig::ECDSA_P384_SHA384_FIXED),
        Algorithm::EdDSA => (8, &sig::ED25519),
        // HMAC needs no parsing; jsonwebtoken's path handles it.
        _ => return None,
    })
}

impl ParsedKeys {
    /// Verifies with the parsed key; `None` when this algorithm or key form is not
    /// handled here (the caller falls back to jsonwebtoken).
    pub(crate) fn verify(&self, key: &DecodingKey, alg: Algorithm, message: &[u8], signature: &[u8]) -> Option<bool> {
        let (slot, algorithm) = algorithm(alg)?;
        let parsed = self.slots.get(slot)?.get_or_init(|| parse(key, algorithm)).as_ref()?;
        Some(parsed.verify_sig(message, signature).is_ok())
    }
}

fn parse(key: &DecodingKey, algorithm: &'static dyn VerificationAlgorithm) -> Option<ParsedPublicKey> {
    match key.kind() {
        DecodingKeyKind::SecretOrDer(bytes) => ParsedPublicKey::new(algorithm, bytes).ok(),
        DecodingKeyKind::RsaModulusExponent { n, e } => ParsedPublicKey::new(algorithm, rsa_public_key_der(n, e)).ok(),
    }
}

/// DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` (RFC 8017).
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    der_unsigned(n, &mut body);
    der_unsigned(e, &mut body);
    let mut out = Vec::with_capacity(body.len() + 6);
    out.push(0x30);
    der_length(body.len(), &mut out);
    out.extend_from_slice(&body);
    out
}

fn der_unsigned(value: &[u8], out: &mut Vec<u8>) {
    let start = value.iter().position(|b| *b != 0).unwrap_or(value.len());
    let digits = value.get(start..).unwrap_or_default();
    // A set high bit would read as negative: prefix a zero byte.
    let pad = digits.first().is_none_or(|b| b & 0x80 != 0);
    out.push(0x02);
    der_length(digits.len() + usize::from(pad), out);
    if pad {
        out.push(0);
    }
    out.extend_from_slice(digits);
}

fn der_length(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let significant = bytes.get(skip..).unwrap_or_default();
    out.push(0x80 | significant.len() as u8);
    out.extend_from_slice(significant);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_encoding() {
        assert_eq!(
            rsa_public_key_der(&[0x01], &[0x01, 0x00, 0x01]),
            [0x30, 0x08, 0x02, 0x01, 0x01, 0x02, 0x03, 0x01, 0x00, 0x01]
        );
        // High bit set gets a zero prefix; leading zeros are dropped.
        assert_eq!(rsa_public_key_der(&[0x00, 0x80], &[0x03]), [0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x03]);
        let mut long = Vec::new();
        der_length(300, &mut long);
        assert_eq!(long, [0x82, 0x01, 0x2c]);
    }
}
