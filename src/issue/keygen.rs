//! [`IssuerKey`]: provisioning a [`LocalIssuer`](super::LocalIssuer)'s key (josekit),
//! a private JWK to keep and the public JWK set to publish.

use josekit::jwk::Jwk;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::alg::ed::EdCurve;
use serde_json::{Value, json};

use crate::ConfigError;
use crate::signing::{PrivateJwk, SigningError};

/// What kind of key to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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

/// A key for a [`LocalIssuer`](super::LocalIssuer), made once and stored: the private
/// JWK (keep it secret, pass it to [`LocalIssuer::new`](super::LocalIssuer::new)) and
/// the public JWK set to publish. `Debug` shows only the public set.
///
/// For a throwaway key of one JWS algorithm (tests, benchmarks), see
/// [`PrivateJwk::generate`].
#[derive(Clone)]
pub struct IssuerKey {
    private: PrivateJwk,
    public_jwks: Value,
}

impl std::fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKey").field("public_jwks", &self.public_jwks).finish_non_exhaustive()
    }
}

impl IssuerKey {
    /// Generates a key of type `kty` with josekit, `kid`, `alg` and `use: sig` set;
    /// without `kid`, the kid is the key's RFC 7638 thumbprint.
    ///
    /// ```
    /// use tower_bearer::issue::{IssuerKey, KeyType, LocalIssuer};
    /// use tower_bearer::keys::StaticKeys;
    ///
    /// let key = IssuerKey::generate(KeyType::P256, None).unwrap();
    /// let keys = StaticKeys::from_jwks(&key.public_jwks().to_string()).unwrap();
    /// assert_eq!(keys.key_set().len(), 1);
    /// let issuer = LocalIssuer::new("https://api.example.com", &key.private_jwk().to_json(), "my-api").unwrap();
    /// # let _ = issuer;
    /// ```
    pub fn generate(kty: KeyType, kid: Option<&str>) -> Result<Self, SigningError> {
        let mut jwk = match kty {
            KeyType::Rsa(bits) => Jwk::generate_rsa_key(bits),
            KeyType::P256 => Jwk::generate_ec_key(EcCurve::P256),
            KeyType::P384 => Jwk::generate_ec_key(EcCurve::P384),
            KeyType::Ed25519 => Jwk::generate_ed_key(EdCurve::Ed25519),
            KeyType::Oct => Jwk::generate_oct_key(64),
        }
        .map_err(|e| SigningError::caused_by(format!("key generation: {kty:?}"), e))?;
        jwk.set_algorithm(kty.alg());
        jwk.set_key_use("sig");
        let mut private = PrivateJwk::from_map(jwk.into())?;
        let kid = match kid {
            Some(k) => k.to_owned(),
            None => private.thumbprint().ok_or_else(|| SigningError::new("key generation: no thumbprint"))?,
        };
        private.set("kid", Value::String(kid));
        let public = if kty == KeyType::Oct { None } else { private.public() };
        Ok(Self { private, public_jwks: json!({ "keys": public.into_iter().collect::<Vec<_>>() }) })
    }

    /// The private JWK, with `kid`, `alg` and `use`: a secret.
    pub fn private_jwk(&self) -> &PrivateJwk {
        &self.private
    }

    /// `{"keys": [public JWK]}` (for `oct`, empty: a secret is never published).
    pub fn public_jwks(&self) -> &Value {
        &self.public_jwks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings() {
        assert_eq!(KeyType::from_parts("RSA", Some(3072), None).unwrap(), KeyType::Rsa(3072));
        assert!(KeyType::from_parts("RSA", Some(1024), None).is_err());
        assert_eq!(KeyType::from_parts("EC", Some(0), Some("P-384")).unwrap(), KeyType::P384);
        assert!(KeyType::from_parts("EC", None, Some("P-521")).is_err());
    }
}
