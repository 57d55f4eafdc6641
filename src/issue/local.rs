//! A small issuer for applications that sign their own access tokens.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::keys::{StaticKeys, VerificationKey};
use crate::signing::access_token::{ClaimsDraft, header};
use crate::signing::{PrivateJwk, SigningError, random_bytes, try_compact_jws};
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
    inner: Arc<Inner>,
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
struct Inner {
    issuer: String,
    audience: String,
    key: PrivateJwk,
    alg: Algorithm,
    kid: String,
    lifetime: Duration,
    leeway: Duration,
    max_session_age: Duration,
    clock: Arc<dyn Clock>,
}

/// A freshly signed token, as `/login` and `/renew` answer it (its JSON form is the
/// response body). Made only by [`LocalTokenBuilder::sign`]. `Debug` never shows the
/// token.
#[derive(Clone, Serialize)]
pub struct IssuedToken {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    starts: u64,
    expires: u64,
    ttl: u64,
    leeway: u64,
}

impl IssuedToken {
    /// The token: a secret, to be handled as one.
    pub fn access_token(&self) -> &str {
        &self.access_token
    }

    /// Always `Bearer`.
    pub fn token_type(&self) -> &'static str {
        self.token_type
    }

    /// Seconds until it expires.
    pub fn expires_in(&self) -> u64 {
        self.expires_in
    }

    /// When it starts being valid (`iat`), in seconds since the Unix epoch.
    pub fn starts(&self) -> u64 {
        self.starts
    }

    /// When it expires (`exp`), in seconds since the Unix epoch.
    pub fn expires(&self) -> u64 {
        self.expires
    }

    /// Its lifetime in seconds (same as [`expires_in`](Self::expires_in) when just issued).
    pub fn ttl(&self) -> u64 {
        self.ttl
    }

    /// Clock skew the verifier tolerates, in seconds: refresh before `expires - leeway`.
    pub fn leeway(&self) -> u64 {
        self.leeway
    }
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("access_token", &format_args!("[redacted; {} bytes]", self.access_token.len()))
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("starts", &self.starts)
            .field("expires", &self.expires)
            .field("ttl", &self.ttl)
            .field("leeway", &self.leeway)
            .finish()
    }
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
            .clock(ClockRef(i.clock.clone()))
    }

    /// Starts a token for this issuer's audience, valid for the configured lifetime.
    pub fn token(&self) -> LocalTokenBuilder<'_> {
        LocalTokenBuilder { issuer: self, draft: ClaimsDraft::new(Map::new()), lifetime: None, not_after: None }
    }

    pub(crate) fn session_age_limit(&self) -> Duration {
        self.inner.max_session_age
    }

    pub(crate) fn now(&self) -> u64 {
        self.inner.clock.now()
    }
}

/// Shares the issuer's clock with its verifier.
struct ClockRef(Arc<dyn Clock>);

impl Clock for ClockRef {
    fn now(&self) -> u64 {
        self.0.now()
    }
}

/// Builds one token from a [`LocalIssuer`]; see [`LocalIssuer::token`]. The issuer
/// sets `iss`, `iat`, `exp` and `jti`, as it does for `/login`; to bend those in a
/// test, use [`testing::TestTokenBuilder`](crate::testing::TestTokenBuilder).
#[must_use]
pub struct LocalTokenBuilder<'a> {
    issuer: &'a LocalIssuer,
    draft: ClaimsDraft,
    lifetime: Option<Duration>,
    not_after: Option<u64>,
}

impl std::fmt::Debug for LocalTokenBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Claims to be signed, no key: nothing here is a secret.
        f.debug_struct("LocalTokenBuilder")
            .field("issuer", &self.issuer.issuer())
            .field("claims", &self.draft)
            .field("lifetime", &self.lifetime)
            .field("not_after", &self.not_after)
            .finish()
    }
}

impl LocalTokenBuilder<'_> {
    /// `sub`.
    pub fn subject(self, sub: impl Into<String>) -> Self {
        self.claim("sub", Value::String(sub.into()))
    }

    /// Adds a scope (space-joined into `scope`).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.draft.scope(scope.into());
        self
    }

    /// Adds a role (into `roles`).
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.draft.role(role.into());
        self
    }

    /// `aud` (default: the issuer's audience).
    pub fn audience(self, aud: impl Into<String>) -> Self {
        self.claim("aud", Value::String(aud.into()))
    }

    /// Overrides the lifetime for this token.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }

    /// Caps `exp` at this time (seconds since the Unix epoch): the end of the session.
    pub(super) fn not_after(mut self, at: u64) -> Self {
        self.not_after = Some(at);
        self
    }

    /// Any other claim.
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.draft.claims.insert(name.to_owned(), value);
        self
    }

    /// Signs the token. Fails only when the crypto backend does (the key signed once
    /// when the issuer was made).
    pub fn sign(self) -> Result<IssuedToken, SigningError> {
        let i = &self.issuer.inner;
        let now = i.clock.now();
        let exp =
            now.saturating_add(self.lifetime.unwrap_or(i.lifetime).as_secs()).min(self.not_after.unwrap_or(u64::MAX));
        let ttl = exp.saturating_sub(now);
        let mut claims = self.draft.into_claims();
        claims.insert("iss".into(), json!(i.issuer));
        claims.entry("aud").or_insert_with(|| json!(i.audience));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(exp));
        claims.entry("auth_time").or_insert_with(|| json!(now));
        claims.insert("jti".into(), json!(random_id()));
        claims.entry("client_id").or_insert_with(|| json!(i.issuer));
        let header = Value::Object(header(i.alg, &i.kid));
        let token =
            try_compact_jws(&header.to_string(), &Value::Object(claims).to_string(), |input| i.key.sign(i.alg, input))?;
        Ok(IssuedToken {
            access_token: token,
            token_type: "Bearer",
            expires_in: ttl,
            starts: now,
            expires: exp,
            ttl,
            leeway: i.leeway.as_secs(),
        })
    }
}

/// 128 random bits for `jti` (base64url), from the crypto backend's generator.
fn random_id() -> String {
    random_bytes(16)
        .map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
        .unwrap_or_else(|_| format!("{}-{}", SystemClock.now(), std::process::id()))
}
