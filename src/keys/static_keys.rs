//! Keys configured by the application itself.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey};

use super::jwk::{Origin, hmac_algorithms, parse_key, parse_set};
use super::key_set::{AlgorithmSet, KeySet, VerificationKey};
use super::{KeyError, KeyStore, Refresh};
use crate::BoxFuture;
use crate::error::ConfigError;

/// A fixed set of keys: PEM files, JWKs, a JWK set, or an HMAC secret.
///
/// ```
/// use tower_bearer::keys::{StaticKeys, VerificationKey};
///
/// let secret = VerificationKey::hmac_secret(&[7u8; 32], Some("local")).unwrap();
/// let keys = StaticKeys::new(vec![secret]);
/// assert_eq!(keys.key_set().len(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct StaticKeys {
    set: Arc<KeySet>,
}

impl StaticKeys {
    /// A store holding `keys`.
    pub fn new(keys: Vec<VerificationKey>) -> Self {
        Self { set: Arc::new(KeySet::new(keys)) }
    }

    /// Parses a JWK set (`{"keys":[…]}`). Private JWKs are reduced to their public
    /// part; `oct` keys become HMAC secrets. Unusable keys are skipped with a
    /// warning; a set with no usable key is an error.
    pub fn from_jwks(json: &str) -> Result<Self, ConfigError> {
        let set = parse_set(json.as_bytes(), Origin::Local, usize::MAX).map_err(ConfigError::new)?;
        if set.is_empty() {
            return Err(ConfigError::new("the JWK set holds no usable key"));
        }
        Ok(Self { set: Arc::new(set) })
    }

    /// Reads a JWK set from a file; see [`from_jwks`](Self::from_jwks).
    pub fn from_jwks_file(path: impl AsRef<std::path::Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::with_source(format!("cannot read {}", path.display()), e))?;
        Self::from_jwks(&text)
    }

    /// The keys.
    pub fn key_set(&self) -> &KeySet {
        &self.set
    }
}

impl From<VerificationKey> for StaticKeys {
    fn from(key: VerificationKey) -> Self {
        Self::new(vec![key])
    }
}

impl KeyStore for StaticKeys {
    fn current(&self) -> Option<Arc<KeySet>> {
        Some(self.set.clone())
    }

    fn is_current(&self, keys: &Arc<KeySet>) -> bool {
        Arc::ptr_eq(&self.set, keys)
    }

    fn refresh(&self, why: Refresh<'_>) -> BoxFuture<Result<Arc<KeySet>, KeyError>> {
        let result = match why {
            Refresh::NoKeys => Ok(self.set.clone()),
            Refresh::UnknownKid(_) => Err(KeyError::UnknownKid),
        };
        Box::pin(std::future::ready(result))
    }

    fn refreshes(&self) -> bool {
        false
    }
}

impl VerificationKey {
    /// An RSA public key (`-----BEGIN PUBLIC KEY-----` or `BEGIN RSA PUBLIC KEY`) of
    /// at least 2048 bits, usable for RS256/384/512 and PS256/384/512.
    pub fn from_rsa_pem(pem: &[u8], kid: Option<&str>) -> Result<Self, ConfigError> {
        let key = DecodingKey::from_rsa_pem(pem).map_err(|e| ConfigError::new(format!("RSA PEM: {e}")))?;
        let modulus = match key.kind() {
            jsonwebtoken::DecodingKeyKind::SecretOrDer(der) => super::rsa::modulus_from_der(der),
            jsonwebtoken::DecodingKeyKind::RsaModulusExponent { n, .. } => Some(n.as_slice()),
        };
        let modulus = modulus.ok_or_else(|| ConfigError::new("RSA PEM: not an RSA public key"))?;
        super::rsa::check_modulus(modulus).map_err(|e| ConfigError::new(format!("RSA PEM: {e}")))?;
        Ok(Self::new(kid.map(str::to_owned), key, AlgorithmSet::rsa()))
    }

    /// An EC public key in PEM; P-256 verifies ES256 and P-384 verifies ES384.
    pub fn from_ec_pem(pem: &[u8], kid: Option<&str>) -> Result<Self, ConfigError> {
        let key = DecodingKey::from_ec_pem(pem).map_err(|e| ConfigError::new(format!("EC PEM: {e}")))?;
        let alg = match key.kind() {
            jsonwebtoken::DecodingKeyKind::SecretOrDer(point) if point.len() == 65 => Algorithm::ES256,
            jsonwebtoken::DecodingKeyKind::SecretOrDer(point) if point.len() == 97 => Algorithm::ES384,
            _ => return Err(ConfigError::new("EC PEM: only P-256 and P-384 keys are supported")),
        };
        Ok(Self::new(kid.map(str::to_owned), key, AlgorithmSet::one(alg)))
    }

    /// An Ed25519 public key in PEM (EdDSA).
    pub fn from_ed_pem(pem: &[u8], kid: Option<&str>) -> Result<Self, ConfigError> {
        let key = DecodingKey::from_ed_pem(pem).map_err(|e| ConfigError::new(format!("Ed25519 PEM: {e}")))?;
        Ok(Self::new(kid.map(str::to_owned), key, AlgorithmSet::one(Algorithm::EdDSA)))
    }

    /// A shared HMAC secret for HS256/384/512: the only way HS* tokens are ever
    /// accepted. The secret must be at least as long as the hash (32 bytes for HS256).
    pub fn hmac_secret(secret: &[u8], kid: Option<&str>) -> Result<Self, ConfigError> {
        let algorithms = hmac_algorithms(secret.len()).map_err(ConfigError::new)?;
        Ok(Self::new(kid.map(str::to_owned), DecodingKey::from_secret(secret), algorithms))
    }

    /// One JWK as JSON (a private JWK is reduced to its public part; `oct` is an HMAC secret).
    pub fn from_jwk(json: &str) -> Result<Self, ConfigError> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| ConfigError::new(format!("JWK: {e}")))?;
        let object = value.as_object().ok_or_else(|| ConfigError::new("JWK: not a JSON object"))?;
        parse_key(object, Origin::Local).map_err(|e| ConfigError::new(format!("JWK: {e}")))
    }
}
