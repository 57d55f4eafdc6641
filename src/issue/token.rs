//! One token from a [`LocalIssuer`]: [`LocalTokenBuilder`] and what it signs,
//! [`IssuedToken`].

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::LocalIssuer;
use crate::signing::access_token::{ClaimsDraft, header};
use crate::signing::{SigningError, random_bytes, try_compact_jws};
use crate::verify::{Clock as _, SystemClock};

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

/// Builds one token from a [`LocalIssuer`]; see [`LocalIssuer::token`]. The issuer
/// sets `iss`, `iat`, `exp` and `jti`, as it does for `/login`; to bend those in a
/// test, use [`testing::TestTokenBuilder`](crate::testing::TestTokenBuilder).
#[must_use]
pub struct LocalTokenBuilder<'a> {
    issuer: &'a LocalIssuer,
    draft: ClaimsDraft,
    lifetime: Option<Duration>,
    not_after: Option<u64>,
    jti: Option<String>,
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

impl<'a> LocalTokenBuilder<'a> {
    pub(super) fn new(issuer: &'a LocalIssuer) -> Self {
        Self { issuer, draft: ClaimsDraft::new(Map::new()), lifetime: None, not_after: None, jti: None }
    }

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

    /// Sets `jti` to a value the caller made (and records), instead of a random one.
    pub(super) fn jti(mut self, jti: String) -> Self {
        self.jti = Some(jti);
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
        claims.insert("jti".into(), json!(self.jti.unwrap_or_else(random_id)));
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
