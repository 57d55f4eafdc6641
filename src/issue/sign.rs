//! JWS signing with josekit: key generation, signatures, compact serialization.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::alg::ed::EdCurve;
use josekit::jws::JwsSigner;
use serde_json::{Map, Value};

use crate::{Algorithm, ConfigError};

/// Generates a private JWK for `alg` (RSA keys are 2048 bits).
pub fn generate_jwk(alg: Algorithm, kid: &str) -> Result<Jwk, ConfigError> {
    use Algorithm::*;
    let mut jwk = match alg {
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => Jwk::generate_rsa_key(2048),
        ES256 => Jwk::generate_ec_key(EcCurve::P256),
        ES384 => Jwk::generate_ec_key(EcCurve::P384),
        EdDSA => Jwk::generate_ed_key(EdCurve::Ed25519),
        HS256 | HS384 | HS512 => Jwk::generate_oct_key(64),
        other => return Err(ConfigError::new(format!("unsupported algorithm {other:?}"))),
    }
    .map_err(|e| ConfigError::new(format!("key generation: {e}")))?;
    jwk.set_key_id(kid);
    jwk.set_algorithm(format!("{alg:?}"));
    jwk.set_key_use("sig");
    Ok(jwk)
}

/// Signs `signing_input` with a private JWK, as JWS algorithm `alg`.
pub fn sign_with_jwk(jwk: &Jwk, alg: Algorithm, signing_input: &[u8]) -> Result<Vec<u8>, ConfigError> {
    use Algorithm::*;
    let err = |e: josekit::JoseError| ConfigError::new(format!("signing: {e}"));
    let signer: Box<dyn JwsSigner> = match alg {
        RS256 => Box::new(josekit::jws::RS256.signer_from_jwk(jwk).map_err(err)?),
        RS384 => Box::new(josekit::jws::RS384.signer_from_jwk(jwk).map_err(err)?),
        RS512 => Box::new(josekit::jws::RS512.signer_from_jwk(jwk).map_err(err)?),
        PS256 => Box::new(josekit::jws::PS256.signer_from_jwk(jwk).map_err(err)?),
        PS384 => Box::new(josekit::jws::PS384.signer_from_jwk(jwk).map_err(err)?),
        PS512 => Box::new(josekit::jws::PS512.signer_from_jwk(jwk).map_err(err)?),
        ES256 => Box::new(josekit::jws::ES256.signer_from_jwk(jwk).map_err(err)?),
        ES384 => Box::new(josekit::jws::ES384.signer_from_jwk(jwk).map_err(err)?),
        EdDSA => Box::new(josekit::jws::EdDSA.signer_from_jwk(jwk).map_err(err)?),
        HS256 => Box::new(josekit::jws::HS256.signer_from_jwk(jwk).map_err(err)?),
        HS384 => Box::new(josekit::jws::HS384.signer_from_jwk(jwk).map_err(err)?),
        HS512 => Box::new(josekit::jws::HS512.signer_from_jwk(jwk).map_err(err)?),
        other => return Err(ConfigError::new(format!("unsupported algorithm {other:?}"))),
    };
    signer.sign(signing_input).map_err(err)
}

/// Compact-serializes a JWS from raw header and payload JSON text.
pub fn compact_jws(header_json: &str, payload_json: &str, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header_json), URL_SAFE_NO_PAD.encode(payload_json));
    let sig = sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// The public half of a private JWK, keeping `kid`, `alg` and `use`.
pub fn public_jwk(private: &Jwk) -> Value {
    // An error here means a key we generated ourselves is broken: publish `null`
    // (skipped by verifiers) rather than panic.
    let Ok(public) = private.to_public_key() else { return Value::Null };
    let mut map: Map<String, Value> = public.into();
    for name in ["kid", "alg", "use"] {
        if let Some(v) = private.as_ref().get(name) {
            map.insert(name.to_owned(), v.clone());
        }
    }
    Value::Object(map)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
