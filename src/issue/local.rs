//! A small issuer for applications that sign their own access tokens.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::LocalTokenBuilder;
use crate::keys::{StaticKeys, VerificationKey};
use crate::signing::PrivateJwk;
use crate::verify::{Clock, Issuer, JwtVerifier, SystemClock};
use crate::{Algorithm, ConfigError};

/// Signs RFC 9068 access tokens (`typ: at+jwt`, `kid` in the header) with one JWK, and
/// knows how to verify them without any network I/O. Cheap to clone. `Debug` shows
/// the issuer, audience, algorithm, `kid` and lifetimes, never the key.
///
/// ```
/// use tower_bearer::issue::{IssuerKey, KeyType, LocalIssuer};
/// use tower_bearer::Verifier;
///
/// let key = IssuerKey::generate(KeyType::Ed25519, None).unwrap();
/// let issuer = LocalIssuer::new("https://api.example.com", &key.private_jwk().to_json(), "my-api").unwrap();
/// let token = issuer.token().subject("alice").scope("read").role("admin").sign().unwrap();
/// let verifier = issuer.verifier();
/// # let _ = (token, verifier);
/// ```
#[derive(Clone)]
pub struct LocalIssuer {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for LocalIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = &self.inner;
        f.debug_struct("LocalIssuer")
            .field("issuer", &i.issuer)
            .field("audience", &i.audience)
            .field("alg", &i.alg)
            .field("kid", &i.kid)
            .field("lifetime", &i.lifetime)
            .field("leeway", &i.leeway)
            .field("max_session_age", &i.max_session_age)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub(super) struct Inner {
    pub(super) issuer: String,
    pub(super) audience: String,
    pub(super) key: PrivateJwk,
    pub(super) alg: Algorithm,
    pub(super) kid: String,
    pub(super) lifetime: Duration,
    pub(super) leeway: Duration,
    pub(super) max_session_age: Duration,
    pub(super) clock: Arc<dyn Clock>,
}

impl LocalIssuer {
    /// An issuer named `issuer` signing for `audience` with the private JWK `jwk_json`
    /// (its `alg`, or the natural one for its key type; `oct` keys sign HS256).
    pub fn new(issuer: impl Into<String>, jwk_json: &str, audience: impl Into<String>) -> Result<Self, ConfigError> {
        let key = PrivateJwk::from_json(jwk_json)?;
        let alg = match (key.alg(), key.kty(), key.crv()) {
            (Some(a), _, _) => a.parse::<Algorithm>().map_err(|_| ConfigError::new(format!("unsupported alg {a}")))?,
            (None, "RSA", _) => Algorithm::RS256,
            (None, "EC", Some("P-384")) => Algorithm::ES384,
            (None, "EC", _) => Algorithm::ES256,
            (None, "OKP", _) => Algorithm::EdDSA,
            (None, "oct", _) => Algorithm::HS256,
            (None, other, _) => return Err(ConfigError::new(format!("unsupported key type {other}"))),
        };
        let kid = key.kid().map(str::to_owned).unwrap_or_else(|| key.thumbprint().unwrap_or_default());
        // Sign once now so a key that cannot sign is a configuration error, not a 500 later.
        key.sign(alg, b"probe")?;
        Ok(Self {
            inner: Arc::new(Inner {
                issuer: issuer.into(),
                audience: audience.into(),
                key,
                alg,
                kid,
                lifetime: Duration::from_secs(3600),
                leeway: Duration::from_secs(60),
                max_session_age: Duration::from_secs(12 * 3600),
                clock: Arc::new(SystemClock),
            }),
        })
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        f(Arc::make_mut(&mut self.inner));
        self
    }

    /// Token lifetime (1 h).
    #[must_use]
    pub fn lifetime(self, lifetime: Duration) -> Self {
        self.edit(|i| i.lifetime = lifetime)
    }

    /// Leeway reported to clients and used by [`verifier`](Self::verifier) (60 s).
    #[must_use]
    pub fn leeway(self, leeway: Duration) -> Self {
        self.edit(|i| i.leeway = leeway)
    }

    /// Longest a session may be renewed for, counted from the login (12 h).
    #[must_use]
    pub fn max_session_age(self, age: Duration) -> Self {
        self.edit(|i| i.max_session_age = age)
    }

    /// Uses this clock for `iat`/`exp` and for verification.
    #[must_use]
    pub fn clock(self, clock: impl Clock) -> Self {
        self.edit(|i| i.clock = Arc::new(clock))
    }

    /// The issuer name (`iss`).
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The public JWK set to publish (empty for an HMAC secret).
    pub fn jwks(&self) -> Value {
        match self.inner.alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => json!({ "keys": [] }),
            _ => json!({ "keys": self.inner.key.public().into_iter().collect::<Vec<_>>() }),
        }
    }

    /// A discovery document naming the issuer and `base_url/jwks`, where `base_url` is
    /// where [`router`](Self::router) is mounted: what resource servers need to verify
    /// its tokens.
    ///
    /// It advertises no `token_endpoint`: `/login` takes a password form, not an OAuth
    /// grant, and an OAuth client sent there would fail. Nothing is advertised that
    /// does not speak the protocol its field names.
    pub fn discovery(&self, base_url: &str) -> Value {
        let base = base_url.trim_end_matches('/');
        json!({
            "issuer": self.inner.issuer,
            "jwks_uri": format!("{base}/jwks"),
            "id_token_signing_alg_values_supported": [format!("{:?}", self.inner.alg)],
        })
    }

    /// A verifier for this issuer's tokens, using its own key: no network I/O.
    pub fn verifier(&self) -> JwtVerifier {
        self.verifier_builder().build().unwrap_or_else(|_| {
            // The builder above always has an issuer, keys and an audience; this arm
            // only keeps the signature infallible.
            JwtVerifier::builder()
                .dangerous_accept_any_issuer(StaticKeys::new(Vec::new()))
                .dangerous_accept_any_audience()
                .build()
                .unwrap_or_else(|_| unreachable!("an any-issuer, any-audience verifier always builds"))
        })
    }

    /// The builder behind [`verifier`](Self::verifier), to add settings.
    pub fn verifier_builder(&self) -> crate::JwtVerifierBuilder {
        let i = &self.inner;
        let key = match i.alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => VerificationKey::from_jwk(&i.key.to_json()),
            _ => VerificationKey::from_jwk(&i.key.public().map_or(Value::Null, Value::Object).to_string()),
        };
        let keys = key.map(StaticKeys::from).unwrap_or_else(|_| StaticKeys::new(Vec::new()));
        JwtVerifier::builder()
            .issuer(Issuer::new(&i.issuer).keys(keys))
            .audience(&i.audience)
            .leeway(i.leeway)
            .clock(i.clock.clone())
    }

    /// Starts a token for this issuer's audience, valid for the configured lifetime.
    pub fn token(&self) -> LocalTokenBuilder<'_> {
        LocalTokenBuilder::new(self)
    }

    pub(crate) fn session_age_limit(&self) -> Duration {
        self.inner.max_session_age
    }

    pub(crate) fn now(&self) -> u64 {
        self.inner.clock.now()
    }
}
