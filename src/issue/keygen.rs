//! Key generation: a private JWK and its public JWK set, ready for
//! [`StaticKeys`](crate::keys::StaticKeys) and [`LocalIssuer`](super::LocalIssuer).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::alg::ed::EdCurve;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::ConfigError;
use crate::signing::{PrivateJwk, public_jwk};

/// What kind of key to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// RSA with this many bits (2048, 3072 or 4096); signs RS256.
    Rsa(u32),
    /// EC P-256 (ES256).
    P256,
    /// EC P-384 (ES384).
    P384,
    /// Ed25519 (EdDSA).
    Ed25519,
    /// A random 64-byte HMAC secret (HS256); for applications that sign and verify
    /// their own tokens.
    Oct,
}

impl KeyType {
    /// Parses `--kty` / `--bits` / `--crv` style settings.
    pub fn from_parts(kty: &str, bits: Option<u32>, crv: Option<&str>) -> Result<Self, ConfigError> {
        match (kty, crv) {
            ("RSA", None) => match bits.unwrap_or(2048) {
                b @ (2048 | 3072 | 4096) => Ok(Self::Rsa(b)),
                b => Err(ConfigError::new(format!("RSA keys are 2048, 3072 or 4096 bits, not {b}"))),
            },
            ("EC", None | Some("P-256")) => Ok(Self::P256),
            ("EC", Some("P-384")) => Ok(Self::P384),
            ("OKP", None | Some("Ed25519")) => Ok(Self::Ed25519),
            ("oct", None) => Ok(Self::Oct),
            (kty, crv) => Err(ConfigError::new(format!("unsupported key type {kty} with curve {crv:?}"))),
        }
    }

    fn alg(self) -> &'static str {
        match self {
            Self::Rsa(_) => "RS256",
            Self::P256 => "ES256",
            Self::P384 => "ES384",
            Self::Ed25519 => "EdDSA",
            Self::Oct => "HS256",
        }
    }
}

/// A generated key: the private JWK (keep it secret) and the public JWK set to publish.
#[derive(Clone)]
pub struct GeneratedKey {
    /// The private JWK, with `kid`, `alg` and `use`.
    pub private_jwk: Value,
    /// `{"keys": [public JWK]}` (for `oct`, empty: a secret is never published).
    pub public_jwks: Value,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey").field("public_jwks", &self.public_jwks).finish_non_exhaustive()
    }
}

/// Generates a key; without `kid`, the kid is the key's RFC 7638 thumbprint.
///
/// ```
/// use tower_bearer::issue::{KeyType, generate_key};
/// use tower_bearer::keys::StaticKeys;
///
/// let key = generate_key(KeyType::P256, None).unwrap();
/// let keys = StaticKeys::from_jwks(&key.public_jwks.to_string()).unwrap();
/// assert_eq!(keys.key_set().len(), 1);
/// ```
pub fn generate_key(kty: KeyType, kid: Option<&str>) -> Result<GeneratedKey, ConfigError> {
    let err = |e: josekit::JoseError| ConfigError::new(format!("key generation: {e}"));
    let mut jwk = match kty {
        KeyType::Rsa(bits) => Jwk::generate_rsa_key(bits),
        KeyType::P256 => Jwk::generate_ec_key(EcCurve::P256),
        KeyType::P384 => Jwk::generate_ec_key(EcCurve::P384),
        KeyType::Ed25519 => Jwk::generate_ed_key(EdCurve::Ed25519),
        KeyType::Oct => Jwk::generate_oct_key(64),
    }
    .map_err(err)?;
    let kid = match kid {
        Some(k) => k.to_owned(),
        None => thumbprint(jwk.as_ref()).ok_or_else(|| ConfigError::new("key generation: no thumbprint"))?,
    };
    jwk.set_key_id(kid);
    jwk.set_algorithm(kty.alg());
    jwk.set_key_use("sig");
    let private = PrivateJwk::from_map(jwk.into())?;
    let public = if kty == KeyType::Oct { Vec::new() } else { vec![public_jwk(&private)] };
    Ok(GeneratedKey { private_jwk: Value::Object(private.into_map()), public_jwks: json!({ "keys": public }) })
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url): the required members in
/// lexicographic order, no whitespace.
pub fn thumbprint(jwk: &serde_json::Map<String, Value>) -> Option<String> {
    let members: &[&str] = match jwk.get("kty")?.as_str()? {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        "oct" => &["k", "kty"],
        _ => return None,
    };
    let mut canonical = serde_json::Map::new();
    for m in members {
        canonical.insert((*m).to_owned(), Value::String(jwk.get(*m)?.as_str()?.to_owned()));
    }
    // serde_json's map is ordered by key, which is the order RFC 7638 requires.
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(Value::Object(canonical).to_string().as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"
        });
        assert_eq!(thumbprint(jwk.as_object().unwrap()).unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn settings() {
        assert_eq!(KeyType::from_parts("RSA", Some(3072), None).unwrap(), KeyType::Rsa(3072));
        assert!(KeyType::from_parts("RSA", Some(1024), None).is_err());
        assert_eq!(KeyType::from_parts("EC", Some(0), Some("P-384")).unwrap(), KeyType::P384);
        assert!(KeyType::from_parts("EC", None, Some("P-521")).is_err());
    }
}
