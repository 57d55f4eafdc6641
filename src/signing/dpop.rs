//! DPoP proofs (RFC 9449 §4.2), the client's side: a key and the proofs it signs.
//! The same builder serves [`ClientCredentials`](crate::client) and tests crafting
//! hostile proofs.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{PrivateJwk, SigningError, try_compact_jws};
use crate::Algorithm;

/// A DPoP key: the private key proofs are signed with, and its public JWK and RFC
/// 7638 thumbprint (the `cnf.jkt` of tokens bound to it). Cheap to clone; `Debug`
/// shows only the thumbprint.
///
/// ```
/// use tower_bearer::Algorithm;
/// use tower_bearer::signing::DpopKey;
///
/// let key = DpopKey::generate(Algorithm::ES256).unwrap();
/// let proof = key.proof("GET", "https://api.example.com/items").access_token("the-token").sign().unwrap();
/// assert_eq!(proof.split('.').count(), 3);
/// ```
#[derive(Clone)]
pub struct DpopKey {
    private: PrivateJwk,
    public: Map<String, Value>,
    alg: Algorithm,
    thumbprint: String,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey").field("alg", &self.alg).field("jkt", &self.thumbprint).finish_non_exhaustive()
    }
}

impl DpopKey {
    /// A fresh key for `alg` (ES256 is what most servers accept first).
    pub fn generate(alg: Algorithm) -> Result<Self, SigningError> {
        Self::from_jwk(PrivateJwk::generate(alg, "dpop")?, alg)
    }

    /// A key from a private JWK, signing as `alg`.
    pub fn from_jwk(private: PrivateJwk, alg: Algorithm) -> Result<Self, SigningError> {
        let mut public =
            private.public().ok_or_else(|| SigningError::new("DPoP key: a symmetric key has no public half"))?;
        // The proof's `jwk` carries the key only: `kid`, `alg` and `use` say nothing the
        // proof header does not.
        for member in ["kid", "alg", "use"] {
            public.remove(member);
        }
        let thumbprint = private.thumbprint().ok_or_else(|| SigningError::new("DPoP key: no thumbprint"))?;
        Ok(Self { private, public, alg, thumbprint })
    }

    /// The RFC 7638 thumbprint (base64url): a bound token's `cnf.jkt`.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The signing algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The public JWK a proof carries.
    pub fn public_jwk(&self) -> &Map<String, Value> {
        &self.public
    }

    /// A proof for a request with method `htm` to `htu` (no query or fragment), with
    /// `iat` now and, unless set, a fresh random `jti` when signed.
    pub fn proof(&self, htm: &str, htu: &str) -> DpopProofBuilder<'_> {
        let mut claims = Map::new();
        claims.insert("htm".into(), json!(htm));
        claims.insert("htu".into(), json!(htu));
        claims.insert("iat".into(), json!(now()));
        let mut header = Map::new();
        header.insert("typ".into(), json!("dpop+jwt"));
        header.insert("alg".into(), json!(format!("{:?}", self.alg)));
        header.insert("jwk".into(), Value::Object(self.public.clone()));
        DpopProofBuilder { key: self, header, claims, signer: None, random_jti: true }
    }
}

/// One DPoP proof, any claim or header parameter settable; see [`DpopKey::proof`].
#[must_use]
pub struct DpopProofBuilder<'a> {
    key: &'a DpopKey,
    header: Map<String, Value>,
    claims: Map<String, Value>,
    signer: Option<&'a DpopKey>,
    /// No `jti` was set (or removed): a random one is added when signing.
    random_jti: bool,
}

impl std::fmt::Debug for DpopProofBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopProofBuilder").field("key", self.key).field("claims", &self.claims).finish_non_exhaustive()
    }
}

impl<'a> DpopProofBuilder<'a> {
    /// Sets `ath`, the hash of the access token the proof goes with (RFC 9449 §4.2).
    pub fn access_token(self, token: &str) -> Self {
        let ath = URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()));
        self.claim("ath", json!(ath))
    }

    /// Sets `nonce`, the server's `DPoP-Nonce` (RFC 9449 §8).
    pub fn nonce(self, nonce: &str) -> Self {
        self.claim("nonce", json!(nonce))
    }

    /// Sets `iat` (seconds since the Unix epoch).
    pub fn issued_at(self, iat: u64) -> Self {
        self.claim("iat", json!(iat))
    }

    /// Sets `jti`.
    pub fn jti(self, jti: &str) -> Self {
        self.claim("jti", json!(jti))
    }

    /// Sets any claim (`Value::Null` removes it).
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.random_jti &= name != "jti";
        set(&mut self.claims, name, value);
        self
    }

    /// Sets any header parameter (`Value::Null` removes it), e.g. a `typ` or a `jwk`
    /// that is not the signing key, to test what a server refuses.
    pub fn header(mut self, name: &str, value: Value) -> Self {
        set(&mut self.header, name, value);
        self
    }

    /// Signs with `other` instead, keeping this key's `jwk` in the header (a proof
    /// whose signature does not match its key).
    pub fn signed_by(mut self, other: &'a DpopKey) -> Self {
        self.signer = Some(other);
        self
    }

    /// Signs and serializes the proof.
    pub fn sign(mut self) -> Result<String, SigningError> {
        if self.random_jti {
            // 128 random bits (RFC 9449 §11.1 asks for at least 96).
            let jti = URL_SAFE_NO_PAD.encode(super::random_bytes(16)?);
            self.claims.insert("jti".into(), json!(jti));
        }
        let signer = self.signer.unwrap_or(self.key);
        let header = Value::Object(self.header).to_string();
        try_compact_jws(&header, &Value::Object(self.claims).to_string(), |input| {
            signer.private.sign(signer.alg, input)
        })
    }
}

fn set(map: &mut Map<String, Value>, name: &str, value: Value) {
    if value.is_null() {
        map.remove(name);
    } else {
        map.insert(name.to_owned(), value);
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
