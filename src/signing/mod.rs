//! JWS signing and key generation with the crate's own crypto backend (aws-lc-rs, or
//! the RustCrypto crates of `rust-crypto`), shared by the test kit and the local
//! issuer: no second crypto stack, no system library.
//!
//! Signatures go through jsonwebtoken's signer for the backend verification uses
//! (`verify::crypto_provider`); a JWK reaches it as the PKCS#1 / PKCS#8 DER both
//! backends load (`der`). Only key generation and random bytes are per backend.

#[cfg(feature = "aws-lc-rs")]
#[path = "backend_aws_lc.rs"]
mod backend;
#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
#[path = "backend_rust_crypto.rs"]
mod backend;
mod der;
mod jwk;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;
use serde_json::{Map, Value};

pub use jwk::PrivateJwk;

use crate::{Algorithm, ConfigError};

/// Generates a private JWK for `alg` with `kid`, `alg` and `use: sig` set: RSA keys
/// are 2048 bits, EC keys P-256 (ES256) or P-384 (ES384), EdDSA keys Ed25519, and
/// HMAC secrets 64 random bytes.
pub fn generate_jwk(alg: Algorithm, kid: &str) -> Result<PrivateJwk, ConfigError> {
    use Algorithm::*;
    let mut map = Map::new();
    let mut put = |name: &str, bytes: &[u8]| {
        map.insert(name.to_owned(), Value::String(URL_SAFE_NO_PAD.encode(bytes)));
    };
    match alg {
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => {
            let k = backend::rsa_2048()?;
            for (name, value) in [
                ("n", &k.n),
                ("e", &k.e),
                ("d", &k.d),
                ("p", &k.p),
                ("q", &k.q),
                ("dp", &k.dp),
                ("dq", &k.dq),
                ("qi", &k.qi),
            ] {
                put(name, value);
            }
            map.insert("kty".into(), "RSA".into());
        }
        ES256 | ES384 => {
            let k = backend::ec(alg == ES384)?;
            put("d", &k.d);
            put("x", &k.x);
            put("y", &k.y);
            map.insert("kty".into(), "EC".into());
            map.insert("crv".into(), if alg == ES384 { "P-384" } else { "P-256" }.into());
        }
        EdDSA => {
            let (seed, public) = backend::ed25519()?;
            put("d", &seed);
            put("x", &public);
            map.insert("kty".into(), "OKP".into());
            map.insert("crv".into(), "Ed25519".into());
        }
        HS256 | HS384 | HS512 => {
            put("k", &backend::random_bytes(64)?);
            map.insert("kty".into(), "oct".into());
        }
        other => return Err(ConfigError::new(format!("unsupported algorithm {other:?}"))),
    }
    map.insert("kid".into(), kid.into());
    map.insert("alg".into(), format!("{alg:?}").into());
    map.insert("use".into(), "sig".into());
    PrivateJwk::from_map(map)
}

/// Signs `signing_input` with a private JWK as JWS algorithm `alg` (the JWK's own
/// `alg` is not consulted, so tests can sign with a mismatched one on purpose).
pub fn sign_with_jwk(jwk: &PrivateJwk, alg: Algorithm, signing_input: &[u8]) -> Result<Vec<u8>, ConfigError> {
    let key = encoding_key(jwk, alg)?;
    let signer = (crate::verify::crypto_provider().signer_factory)(&alg, &key)
        .map_err(|e| ConfigError::new(format!("signing key for {alg:?}: {e}")))?;
    signer.try_sign(signing_input).map_err(|e| ConfigError::new(format!("signing: {e}")))
}

/// The JWK as the key form jsonwebtoken's signers take for `alg`.
fn encoding_key(jwk: &PrivateJwk, alg: Algorithm) -> Result<EncodingKey, ConfigError> {
    use Algorithm::*;
    let wrong = || ConfigError::new(format!("a {} JWK cannot sign {alg:?}", jwk.kty()));
    let member = |name: &str| -> Result<Vec<u8>, ConfigError> {
        let text = jwk.str(name).ok_or_else(|| ConfigError::new(format!("signing JWK: no `{name}`")))?;
        URL_SAFE_NO_PAD.decode(text).map_err(|_| ConfigError::new(format!("signing JWK: `{name}` is not base64url")))
    };
    match (alg, jwk.kty(), jwk.crv()) {
        (HS256 | HS384 | HS512, "oct", _) => Ok(EncodingKey::from_secret(&member("k")?)),
        (RS256 | RS384 | RS512 | PS256 | PS384 | PS512, "RSA", _) => {
            let parts = der::RsaParts {
                n: member("n")?,
                e: member("e")?,
                d: member("d")?,
                p: member("p")?,
                q: member("q")?,
                dp: member("dp")?,
                dq: member("dq")?,
                qi: member("qi")?,
            };
            Ok(EncodingKey::from_rsa_der(&der::rsa_private_key(&parts)))
        }
        (ES256, "EC", Some("P-256")) | (ES384, "EC", Some("P-384")) => {
            let (curve, size) = if alg == ES256 { (der::P256, 32) } else { (der::P384, 48) };
            // `x` and `y` are optional here: some tools write private JWKs without them.
            let optional = |name: &str| if jwk.str(name).is_some() { member(name) } else { Ok(Vec::new()) };
            let k = der::EcParts { d: member("d")?, x: optional("x")?, y: optional("y")? };
            if k.d.len() != size || [&k.x, &k.y].iter().any(|v| !v.is_empty() && v.len() != size) {
                return Err(ConfigError::new(format!("signing JWK: EC members are not {size} bytes")));
            }
            Ok(EncodingKey::from_ec_der(&der::ec_private_key_info(curve, &k)))
        }
        (EdDSA, "OKP", Some("Ed25519")) => {
            let seed = member("d")?;
            if seed.len() != 32 {
                return Err(ConfigError::new("signing JWK: an Ed25519 `d` is 32 bytes"));
            }
            Ok(EncodingKey::from_ed_der(&der::ed25519_private_key_info(&seed)))
        }
        _ => Err(wrong()),
    }
}

/// The public half of a private JWK, keeping `kid`, `alg` and `use`; `null` for an
/// HMAC secret, which has no public half (verifiers skip `null` entries).
pub fn public_jwk(private: &PrivateJwk) -> Value {
    private.public().map_or(Value::Null, Value::Object)
}

/// Compact-serializes a JWS from raw header and payload JSON text.
pub fn compact_jws(header_json: &str, payload_json: &str, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header_json), URL_SAFE_NO_PAD.encode(payload_json));
    let sig = sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `len` bytes from the backend's secure random generator.
#[cfg(feature = "issuer")]
pub(crate) fn random_bytes(len: usize) -> Result<Vec<u8>, ConfigError> {
    backend::random_bytes(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::VerificationKey;

    /// Every algorithm the kit generates signs a JWS the crate's verifier accepts
    /// with the published public JWK, on whichever backend is compiled in.
    #[test]
    fn generated_keys_sign_what_their_public_jwk_verifies() {
        use Algorithm::*;
        for alg in [RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA, HS256, HS384, HS512] {
            let private = generate_jwk(alg, "k").unwrap();
            let message = b"header.payload";
            let sig = sign_with_jwk(&private, alg, message).unwrap();
            let public = if matches!(alg, HS256 | HS384 | HS512) {
                Value::Object(private.as_map().clone())
            } else {
                public_jwk(&private)
            };
            let key = VerificationKey::from_jwk(&public.to_string()).unwrap();
            let verifier = (crate::verify::crypto_provider().verifier_factory)(&alg, key.decoding_key()).unwrap();
            assert!(verifier.verify(message, &sig).is_ok(), "{alg:?}");
            assert!(verifier.verify(b"header.other", &sig).is_err(), "{alg:?}");
        }
    }

    /// Private JWKs from other tools may leave out the public point (josekit does):
    /// the backend derives it from `d`.
    #[test]
    fn ec_keys_sign_without_their_public_point() {
        for alg in [Algorithm::ES256, Algorithm::ES384] {
            let full = generate_jwk(alg, "k").unwrap();
            let mut bare = full.clone();
            bare.set("x", Value::Null);
            bare.set("y", Value::Null);
            let sig = sign_with_jwk(&bare, alg, b"m").unwrap();
            let key = VerificationKey::from_jwk(&public_jwk(&full).to_string()).unwrap();
            let verifier = (crate::verify::crypto_provider().verifier_factory)(&alg, key.decoding_key()).unwrap();
            assert!(verifier.verify(b"m", &sig).is_ok(), "{alg:?}");
        }
    }

    #[test]
    fn a_key_signs_only_its_own_family() {
        let ec = generate_jwk(Algorithm::ES256, "k").unwrap();
        assert!(sign_with_jwk(&ec, Algorithm::ES384, b"x").is_err());
        assert!(sign_with_jwk(&ec, Algorithm::RS256, b"x").is_err());
        assert!(sign_with_jwk(&ec, Algorithm::HS256, b"x").is_err());
    }
}
