//! Verification keys bound to the algorithms they may be used with.

use std::fmt;

use jsonwebtoken::{Algorithm, DecodingKey};

/// A set of JWS algorithms, stored as a bit mask.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct AlgorithmSet(u16);

const ALL: [Algorithm; 12] = [
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::EdDSA,
];

fn bit(alg: Algorithm) -> u16 {
    1 << ALL.iter().position(|a| *a == alg).unwrap_or(15)
}

impl AlgorithmSet {
    /// No algorithm.
    pub const EMPTY: Self = Self(0);

    /// A set holding exactly `alg`.
    pub fn one(alg: Algorithm) -> Self {
        Self(bit(alg))
    }

    /// A set holding all of `algs`.
    pub fn of(algs: &[Algorithm]) -> Self {
        Self(algs.iter().fold(0, |acc, a| acc | bit(*a)))
    }

    /// Every RSA algorithm (RS256/384/512, PS256/384/512).
    pub fn rsa() -> Self {
        use Algorithm::*;
        Self::of(&[RS256, RS384, RS512, PS256, PS384, PS512])
    }

    /// Whether `alg` is in the set.
    pub fn contains(self, alg: Algorithm) -> bool {
        self.0 & bit(alg) != 0
    }

    /// The intersection of two sets.
    pub fn intersect(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The algorithms in the set.
    pub fn iter(self) -> impl Iterator<Item = Algorithm> {
        ALL.into_iter().filter(move |a| self.contains(*a))
    }
}

impl fmt::Debug for AlgorithmSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// One public key (or local HMAC secret), its `kid`, and the algorithms it may verify.
///
/// The algorithm binding comes from the key, never from the token: an RSA key only
/// ever verifies RS*/PS*, a P-256 key only ES256, and an HMAC secret only HS*.
#[derive(Clone)]
pub struct VerificationKey {
    pub(crate) kid: Option<String>,
    pub(crate) key: DecodingKey,
    pub(crate) algorithms: AlgorithmSet,
    /// Identifies the key material, so cached verifications can tell whether the key
    /// that verified them is still in the current set.
    pub(crate) fingerprint: u64,
    /// The key parsed once per algorithm, shared by clones.
    #[cfg(feature = "aws-lc-rs")]
    pub(crate) parsed: std::sync::Arc<super::parsed::ParsedKeys>,
}

impl VerificationKey {
    pub(crate) fn new(kid: Option<String>, key: DecodingKey, algorithms: AlgorithmSet) -> Self {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (&kid, algorithms.0).hash(&mut h);
        match key.kind() {
            jsonwebtoken::DecodingKeyKind::SecretOrDer(b) => (0u8, b).hash(&mut h),
            jsonwebtoken::DecodingKeyKind::RsaModulusExponent { n, e } => (1u8, n, e).hash(&mut h),
        }
        Self {
            kid,
            key,
            algorithms,
            fingerprint: h.finish(),
            #[cfg(feature = "aws-lc-rs")]
            parsed: Default::default(),
        }
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithms this key verifies.
    pub fn algorithms(&self) -> AlgorithmSet {
        self.algorithms
    }

    /// Whether this is a shared secret (HS*), as opposed to a public key.
    pub fn is_secret(&self) -> bool {
        self.algorithms.iter().any(|a| matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
    }

    /// The jsonwebtoken key, for verification.
    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

/// The keys one issuer signs with, as loaded at one moment.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<VerificationKey>,
}

/// The outcome of looking a token's `kid`/`alg` up in a [`KeySet`].
#[derive(Debug)]
pub(crate) enum Selection<'a> {
    Found(&'a VerificationKey),
    /// The token names a `kid` the set does not hold: a refresh may find it.
    KidNotFound,
    /// No `kid` and zero or several candidates, or the `alg` is not bound to the key.
    NoMatch,
    /// A key with this `kid` exists but does not allow the token's `alg`.
    AlgorithmMismatch,
}

/// A document that is not a JWK set (RFC 7517 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidJwks(String);

impl std::fmt::Display for InvalidJwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a JWK set: {}", self.0)
    }
}

impl std::error::Error for InvalidJwks {}

impl KeySet {
    /// A set of the given keys.
    pub fn new(keys: Vec<VerificationKey>) -> Self {
        Self { keys }
    }

    /// Parses a JWK set as an issuer publishes it, exactly as [`RemoteJwks`](crate::keys::RemoteJwks)
    /// parses a fetched one: public keys only (a private or `oct` key is skipped), unusable
    /// keys skipped with a warning, at most `max_keys` kept. Fails only when the document
    /// is not a JWK set. For keys the application itself holds, including HMAC secrets,
    /// use [`StaticKeys::from_jwks`](crate::keys::StaticKeys::from_jwks).
    ///
    /// ```
    /// let set = tower_bearer::keys::KeySet::from_published_jwks(br#"{"keys":[]}"#, 10).unwrap();
    /// assert!(set.is_empty());
    /// ```
    pub fn from_published_jwks(json: &[u8], max_keys: usize) -> Result<Self, InvalidJwks> {
        super::jwk::parse_set(json, super::jwk::Origin::Remote, max_keys).map_err(InvalidJwks)
    }

    /// Judges each key of a published JWK set by the rules of
    /// [`from_published_jwks`](Self::from_published_jwks), reporting the skipped ones
    /// with their reason instead of logging them: what `tower-bearer jwks` prints.
    ///
    /// ```
    /// let doc = br#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"s"}]}"#;
    /// let judged = tower_bearer::keys::KeySet::judge_published_jwks(doc, 10).unwrap();
    /// assert_eq!(judged.keys[0].kid.as_deref(), Some("s"));
    /// assert!(judged.keys[0].outcome.is_err());
    /// ```
    pub fn judge_published_jwks(json: &[u8], max_keys: usize) -> Result<super::JudgedJwks, InvalidJwks> {
        super::jwk::judge_set(json, super::jwk::Origin::Remote, max_keys).map_err(InvalidJwks)
    }

    /// The keys.
    pub fn keys(&self) -> &[VerificationKey] {
        &self.keys
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether the key with this fingerprint is still present.
    pub(crate) fn contains_fingerprint(&self, fingerprint: u64) -> bool {
        self.keys.iter().any(|k| k.fingerprint == fingerprint)
    }

    /// Whether `other` holds the same keys (same material, kids and algorithms), in
    /// any order: an IdP or a load balancer may list them differently on each fetch.
    #[cfg(feature = "remote")]
    pub(crate) fn same_keys(&self, other: &KeySet) -> bool {
        let sorted = |set: &KeySet| {
            let mut prints: Vec<u64> = set.keys.iter().map(|k| k.fingerprint).collect();
            prints.sort_unstable();
            prints
        };
        self.keys.len() == other.keys.len() && sorted(self) == sorted(other)
    }

    /// Whether a key with `kid` is present.
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The union of all algorithms the set's keys allow.
    pub fn algorithms(&self) -> AlgorithmSet {
        AlgorithmSet(self.keys.iter().fold(0, |acc, k| acc | k.algorithms.0))
    }

    /// `kid` selects that key only; without a `kid` exactly one key may fit `alg`.
    pub(crate) fn select(&self, kid: Option<&str>, alg: Algorithm) -> Selection<'_> {
        match kid {
            Some(kid) => {
                let mut named = self.keys.iter().filter(|k| k.kid.as_deref() == Some(kid)).peekable();
                if named.peek().is_none() {
                    return Selection::KidNotFound;
                }
                let mut fitting = named.filter(|k| k.algorithms.contains(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(k), None) => Selection::Found(k),
                    (None, _) => Selection::AlgorithmMismatch,
                    (Some(_), Some(_)) => Selection::NoMatch,
                }
            }
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.algorithms.contains(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(k), None) => Selection::Found(k),
                    _ => Selection::NoMatch,
                }
            }
        }
    }
}
