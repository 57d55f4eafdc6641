//! [`TestTokenBuilder`]: one token from a [`TestIssuer`], any claim or header bent.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::{TEST_AUDIENCE, TestIssuer};
use crate::Algorithm;
use crate::signing::access_token::{ClaimsDraft, header};
use crate::tls::ClientCertificate;
use crate::verify::{Clock as _, SystemClock};

/// Builds and signs a token from a [`TestIssuer`]; see [`TestIssuer::token`]. Unlike
/// [`issue::LocalTokenBuilder`](crate::issue::LocalTokenBuilder), it can set or remove
/// any claim and header parameter, to test what a verifier refuses.
#[must_use]
pub struct TestTokenBuilder<'a> {
    issuer: &'a TestIssuer,
    header: Map<String, Value>,
    draft: ClaimsDraft,
    kid: Option<String>,
}

impl std::fmt::Debug for TestTokenBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Claims and header parameters, no key: nothing here is a secret.
        f.debug_struct("TestTokenBuilder")
            .field("issuer", &self.issuer.issuer())
            .field("header", &self.header)
            .field("claims", &self.draft)
            .field("kid", &self.kid)
            .finish()
    }
}

impl<'a> TestTokenBuilder<'a> {
    /// `iss` the issuer, `aud` [`TEST_AUDIENCE`], `sub` `test-user`, valid for 5 minutes.
    pub(super) fn new(issuer: &'a TestIssuer, jti: String) -> Self {
        let now = SystemClock.now();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(issuer.issuer()));
        claims.insert("aud".into(), json!(TEST_AUDIENCE));
        claims.insert("sub".into(), json!("test-user"));
        claims.insert("client_id".into(), json!("test-client"));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + 300));
        claims.insert("jti".into(), json!(jti));
        Self { issuer, header: Map::new(), draft: ClaimsDraft::new(claims), kid: None }
    }

    /// Adds a scope (space-joined into `scope`).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.draft.scope(scope.into());
        self
    }

    /// Adds a role (into the `roles` array).
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.draft.role(role.into());
        self
    }

    /// Sets `sub`.
    pub fn subject(self, sub: impl Into<String>) -> Self {
        self.claim("sub", Value::String(sub.into()))
    }

    /// Sets `aud`.
    pub fn audience(self, aud: impl Into<String>) -> Self {
        self.claim("aud", Value::String(aud.into()))
    }

    /// Sets `iss`.
    pub fn issuer(self, iss: impl Into<String>) -> Self {
        self.claim("iss", Value::String(iss.into()))
    }

    /// Sets `exp` to `iat` + `ttl`.
    pub fn expires_in(self, ttl: Duration) -> Self {
        let iat = self.draft.claims.get("iat").and_then(Value::as_u64).unwrap_or_else(|| SystemClock.now());
        self.claim("exp", json!(iat + ttl.as_secs()))
    }

    /// Sets `iat` (and moves `exp` to keep the same lifetime).
    pub fn issued_at(mut self, iat: u64) -> Self {
        let claims = &mut self.draft.claims;
        let old_iat = claims.get("iat").and_then(Value::as_u64).unwrap_or(iat);
        let ttl = claims.get("exp").and_then(Value::as_u64).map_or(300, |e| e.saturating_sub(old_iat));
        claims.insert("iat".into(), json!(iat));
        claims.insert("exp".into(), json!(iat + ttl));
        self
    }

    /// Sets any claim (`Value::Null` removes it).
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        if value.is_null() {
            self.draft.claims.remove(name);
        } else {
            self.draft.claims.insert(name.to_owned(), value);
        }
        self
    }

    /// Sets a JOSE header parameter (`Value::Null` removes it).
    pub fn header(mut self, name: &str, value: Value) -> Self {
        self.header.insert(name.to_owned(), value);
        self
    }

    /// Binds the token to the DPoP key `key` (`cnf.jkt`, RFC 9449 §6.1), beside any
    /// other `cnf` member already set: it is then accepted only with the `DPoP` scheme
    /// and a proof signed by `key`.
    pub fn dpop_bound(self, key: &crate::signing::DpopKey) -> Self {
        self.confirmation("jkt", json!(key.thumbprint()))
    }

    /// Binds the token to `certificate` (RFC 8705 §3.1): `cnf["x5t#S256"]` is its SHA-256
    /// thumbprint, beside any other `cnf` member already set.
    pub fn certificate_bound(self, certificate: &ClientCertificate) -> Self {
        self.confirmation("x5t#S256", json!(URL_SAFE_NO_PAD.encode(certificate.thumbprint())))
    }

    /// Sets one `cnf` member, beside the others already set.
    fn confirmation(mut self, member: &str, value: Value) -> Self {
        let cnf = self.draft.claims.entry("cnf").or_insert_with(|| json!({}));
        match cnf.as_object_mut() {
            Some(members) => {
                members.insert(member.into(), value);
            }
            None => *cnf = json!({ member: value }),
        }
        self
    }

    /// Signs with the key `kid` instead of the current one.
    pub fn kid(mut self, kid: &str) -> Self {
        self.kid = Some(kid.to_owned());
        self
    }

    /// Signs and serializes the token.
    pub fn sign(self) -> String {
        let kid = self.kid.clone().unwrap_or_else(|| self.issuer.current_kid());
        let alg = self.issuer.key_alg(&kid).unwrap_or(Algorithm::RS256);
        let mut header = header(alg, &kid);
        for (k, v) in self.header {
            if v.is_null() {
                header.remove(&k);
            } else {
                header.insert(k, v);
            }
        }
        let claims = self.draft.into_claims();
        self.issuer.sign_raw(Some(&kid), &Value::Object(header).to_string(), &Value::Object(claims).to_string())
    }
}
