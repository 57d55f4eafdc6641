//! A real identity provider for your tests (feature `testing`).
//!
//! [`TestIssuer`] starts a JWKS + discovery server on 127.0.0.1 with fresh keys,
//! mints tokens in one line, rotates and unpublishes keys, and simulates outages,
//! so protected routes are tested exactly as they run in production: over HTTP,
//! with real signatures. Put `tower-bearer = { features = ["testing"] }` in your
//! `[dev-dependencies]`.
//!
//! Keys are generated and tokens signed with the crypto backend the crate verifies
//! with (aws-lc-rs, or the RustCrypto crates of `rust-crypto`): the test kit adds no
//! second crypto stack and needs no system library.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use axum::{Router, routing::get};
//! use tower_bearer::{BearerLayer, policy::scope, testing::TestIssuer};
//!
//! let idp = TestIssuer::start().await;
//! let app: Router = Router::new()
//!     .route("/items", get(|| async { "items" }))
//!     .layer(BearerLayer::new(idp.verifier()).require(scope("read")));
//!
//! let token = idp.token().scope("read").sign();
//! let res = tower::ServiceExt::oneshot(app, http::Request::get("/items")
//!     .header("authorization", format!("Bearer {token}"))
//!     .body(axum::body::Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), 200);
//! # }
//! ```

// Test support: failing to bind a loopback port or to generate a key is a broken test
// machine, reported by a panic with a message (documented under "Panics").
#![allow(clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use crate::Algorithm;
use crate::keys::RemoteJwks;
use crate::verify::{Issuer, JwtVerifier, JwtVerifierBuilder};

/// The audience of tokens minted by [`TestIssuer::token`] unless changed.
pub const TEST_AUDIENCE: &str = "test-api";

/// What the JWKS endpoint does, to simulate an identity provider's bad days.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outage {
    /// Serve the keys normally.
    None,
    /// Answer with this status and no keys.
    Status(u16),
    /// Accept the connection and never answer.
    Hang,
    /// Answer `200` with this body.
    Garbage(String),
    /// Answer `302` to this location.
    Redirect(String),
}

/// A signing key held by the test issuer.
struct TestKey {
    kid: String,
    alg: Algorithm,
    private: PrivateJwk,
    published: bool,
}

struct Inner {
    issuer: String,
    keys: Mutex<Vec<TestKey>>,
    outage: Mutex<Outage>,
    cache_control: Mutex<Option<String>>,
    extra_keys: Mutex<Vec<Value>>,
    jwks_fetches: AtomicUsize,
    jwks_not_modified: AtomicUsize,
    discovery_fetches: AtomicUsize,
    oidc_discovery: std::sync::atomic::AtomicBool,
}

/// A local identity provider: JWKS at `/jwks`, discovery at
/// `/.well-known/openid-configuration`, issuer `http://127.0.0.1:PORT`.
/// The server stops when the `TestIssuer` is dropped.
pub struct TestIssuer {
    inner: Arc<Inner>,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub use crate::signing::{PrivateJwk, compact_jws, generate_jwk, public_jwk, sign_with_jwk, unix_now};

impl TestIssuer {
    /// Starts an issuer signing with a fresh RS256 key.
    ///
    /// # Panics
    /// When no port on 127.0.0.1 can be bound (this is test support code).
    pub async fn start() -> Self {
        Self::start_with(Algorithm::RS256).await
    }

    /// Starts an issuer signing with a fresh key for `alg`.
    ///
    /// # Panics
    /// When no port on 127.0.0.1 can be bound or key generation fails.
    pub async fn start_with(alg: Algorithm) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address of a bound listener");
        let inner = Arc::new(Inner {
            issuer: format!("http://{addr}"),
            keys: Mutex::new(Vec::new()),
            outage: Mutex::new(Outage::None),
            cache_control: Mutex::new(None),
            extra_keys: Mutex::new(Vec::new()),
            jwks_fetches: AtomicUsize::new(0),
            jwks_not_modified: AtomicUsize::new(0),
            oidc_discovery: std::sync::atomic::AtomicBool::new(true),
            discovery_fetches: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/jwks", get(jwks))
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/.well-known/oauth-authorization-server", get(discovery))
            .with_state(inner.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let issuer = Self { inner, addr, server };
        issuer.add_key(alg);
        issuer
    }

    /// The issuer URL (`iss` of minted tokens).
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The JWKS URL.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.inner.issuer)
    }

    /// A verifier builder trusting this issuer (keys through discovery) with
    /// audience [`TEST_AUDIENCE`]; add settings and call `build`.
    pub fn verifier_builder(&self) -> JwtVerifierBuilder {
        JwtVerifier::builder().issuer(Issuer::new(self.issuer()).discover()).audience(TEST_AUDIENCE)
    }

    /// A verifier trusting this issuer, with default settings.
    ///
    /// # Panics
    /// Never for the issuer's own loopback URL.
    pub fn verifier(&self) -> JwtVerifier {
        self.verifier_builder().build().expect("a loopback issuer is a valid configuration")
    }

    /// A remote key store for this issuer's JWKS URL, to configure further.
    pub fn remote_jwks(&self) -> crate::keys::RemoteJwksBuilder {
        RemoteJwks::builder().jwks_url(&self.jwks_url())
    }

    /// Adds and publishes a fresh key for `alg`; it becomes the signing key.
    /// Returns its `kid`.
    ///
    /// # Panics
    /// When key generation fails.
    pub fn add_key(&self, alg: Algorithm) -> String {
        let mut keys = lock(&self.inner.keys);
        let kid = format!("key-{}-{:?}", keys.len() + 1, alg).to_lowercase();
        let private = generate_jwk(alg, &kid).expect("key generation");
        keys.push(TestKey { kid: kid.clone(), alg, private, published: true });
        kid
    }

    /// Rotates: a fresh key of the current algorithm becomes the signing key; the
    /// old one stays published until [`unpublish`](Self::unpublish). Returns the new `kid`.
    pub fn rotate(&self) -> String {
        let alg = lock(&self.inner.keys).last().map_or(Algorithm::RS256, |k| k.alg);
        self.add_key(alg)
    }

    /// Stops publishing the key `kid` (tokens signed with it can still be minted).
    pub fn unpublish(&self, kid: &str) {
        for k in lock(&self.inner.keys).iter_mut().filter(|k| k.kid == kid) {
            k.published = false;
        }
    }

    /// Publishes an extra JWK as given (e.g. a malformed one).
    pub fn publish_raw_jwk(&self, jwk: Value) {
        lock(&self.inner.extra_keys).push(jwk);
    }

    /// The `kid` of the current signing key.
    pub fn current_kid(&self) -> String {
        lock(&self.inner.keys).last().map(|k| k.kid.clone()).unwrap_or_default()
    }

    /// The private JWK of `kid` (to sign tokens by other means, e.g. with
    /// [`sign_with_jwk`]). Its `Debug` redacts the private members.
    pub fn private_jwk(&self, kid: &str) -> Option<PrivateJwk> {
        lock(&self.inner.keys).iter().find(|k| k.kid == kid).map(|k| k.private.clone())
    }

    /// The public JWK of `kid`.
    pub fn public_jwk(&self, kid: &str) -> Option<Value> {
        lock(&self.inner.keys).iter().find(|k| k.kid == kid).map(|k| public_jwk(&k.private))
    }

    /// Makes the JWKS endpoint misbehave (or behave again with [`Outage::None`]).
    pub fn set_outage(&self, outage: Outage) {
        *lock(&self.inner.outage) = outage;
    }

    /// Sends `Cache-Control: value` with the JWKS.
    pub fn set_cache_control(&self, value: Option<&str>) {
        *lock(&self.inner.cache_control) = value.map(str::to_owned);
    }

    /// How many times the JWKS was requested.
    pub fn jwks_fetches(&self) -> usize {
        self.inner.jwks_fetches.load(Ordering::SeqCst)
    }

    /// How many JWKS requests were answered `304 Not Modified` (the JWKS carries an
    /// `ETag` and honours `If-None-Match`).
    pub fn jwks_not_modified(&self) -> usize {
        self.inner.jwks_not_modified.load(Ordering::SeqCst)
    }

    /// Serves the OpenID Connect discovery document (default) or answers it with
    /// `404`, leaving only RFC 8414 `/.well-known/oauth-authorization-server`.
    pub fn set_oidc_discovery(&self, on: bool) {
        self.inner.oidc_discovery.store(on, Ordering::SeqCst);
    }

    /// How many times a discovery document was requested (either location).
    pub fn discovery_fetches(&self) -> usize {
        self.inner.discovery_fetches.load(Ordering::SeqCst)
    }

    /// Starts a token: `iss` this issuer, `aud` [`TEST_AUDIENCE`], `sub` `test-user`,
    /// `typ` `at+jwt`, valid for 5 minutes from now, signed with the current key.
    pub fn token(&self) -> TokenBuilder<'_> {
        let now = unix_now();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.issuer()));
        claims.insert("aud".into(), json!(TEST_AUDIENCE));
        claims.insert("sub".into(), json!("test-user"));
        claims.insert("client_id".into(), json!("test-client"));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + 300));
        claims.insert("jti".into(), json!(format!("jti-{now}-{}", self.inner.jwks_fetches.load(Ordering::Relaxed))));
        TokenBuilder { issuer: self, header: Map::new(), claims, kid: None, scopes: Vec::new(), roles: Vec::new() }
    }

    /// Signs raw header and payload JSON text with the key `kid` (or the current
    /// key), for crafting hostile tokens. The header text is used as given.
    pub fn sign_raw(&self, kid: Option<&str>, header_json: &str, payload_json: &str) -> String {
        let keys = lock(&self.inner.keys);
        let key = match kid {
            Some(kid) => keys.iter().find(|k| k.kid == kid),
            None => keys.last(),
        };
        let Some(key) = key else { return String::new() };
        compact_jws(header_json, payload_json, |input| sign_with_jwk(&key.private, key.alg, input).unwrap_or_default())
    }
}

/// Builds and signs a token; see [`TestIssuer::token`].
#[must_use]
pub struct TokenBuilder<'a> {
    issuer: &'a TestIssuer,
    header: Map<String, Value>,
    claims: Map<String, Value>,
    kid: Option<String>,
    scopes: Vec<String>,
    roles: Vec<String>,
}

impl TokenBuilder<'_> {
    /// Adds a scope (space-joined into `scope`).
    pub fn scope(mut self, scope: &str) -> Self {
        self.scopes.push(scope.to_owned());
        self
    }

    /// Adds a role (into the `roles` array).
    pub fn role(mut self, role: &str) -> Self {
        self.roles.push(role.to_owned());
        self
    }

    /// Sets `sub`.
    pub fn subject(self, sub: &str) -> Self {
        self.claim("sub", json!(sub))
    }

    /// Sets `aud`.
    pub fn audience(self, aud: &str) -> Self {
        self.claim("aud", json!(aud))
    }

    /// Sets `iss`.
    pub fn issuer(self, iss: &str) -> Self {
        self.claim("iss", json!(iss))
    }

    /// Sets `exp` to `iat` + `ttl`.
    pub fn expires_in(self, ttl: Duration) -> Self {
        let iat = self.claims.get("iat").and_then(Value::as_u64).unwrap_or_else(unix_now);
        self.claim("exp", json!(iat + ttl.as_secs()))
    }

    /// Sets `iat` (and moves `exp` to keep the same lifetime).
    pub fn issued_at(mut self, iat: u64) -> Self {
        let old_iat = self.claims.get("iat").and_then(Value::as_u64).unwrap_or(iat);
        let ttl = self.claims.get("exp").and_then(Value::as_u64).map_or(300, |e| e.saturating_sub(old_iat));
        self.claims.insert("iat".into(), json!(iat));
        self.claims.insert("exp".into(), json!(iat + ttl));
        self
    }

    /// Sets any claim (`Value::Null` removes it).
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        if value.is_null() {
            self.claims.remove(name);
        } else {
            self.claims.insert(name.to_owned(), value);
        }
        self
    }

    /// Sets a JOSE header parameter (`Value::Null` removes it).
    pub fn header(mut self, name: &str, value: Value) -> Self {
        self.header.insert(name.to_owned(), value);
        self
    }

    /// Signs with the key `kid` instead of the current one.
    pub fn kid(mut self, kid: &str) -> Self {
        self.kid = Some(kid.to_owned());
        self
    }

    /// Signs and serializes the token.
    pub fn sign(mut self) -> String {
        if !self.scopes.is_empty() {
            self.claims.insert("scope".into(), json!(self.scopes.join(" ")));
        }
        if !self.roles.is_empty() {
            self.claims.insert("roles".into(), json!(self.roles));
        }
        let kid = self.kid.clone().unwrap_or_else(|| self.issuer.current_kid());
        let alg = lock(&self.issuer.inner.keys).iter().find(|k| k.kid == kid).map_or(Algorithm::RS256, |k| k.alg);
        let mut header = Map::new();
        header.insert("alg".into(), json!(format!("{alg:?}")));
        header.insert("typ".into(), json!("at+jwt"));
        header.insert("kid".into(), json!(kid));
        for (k, v) in self.header {
            if v.is_null() {
                header.remove(&k);
            } else {
                header.insert(k, v);
            }
        }
        self.issuer.sign_raw(Some(&kid), &Value::Object(header).to_string(), &Value::Object(self.claims).to_string())
    }
}

async fn discovery(State(inner): State<Arc<Inner>>, uri: axum::http::Uri) -> Response {
    inner.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    if uri.path().ends_with("/openid-configuration") && !inner.oidc_discovery.load(Ordering::SeqCst) {
        return StatusCode::NOT_FOUND.into_response();
    }
    axum::Json(json!({
        "issuer": inner.issuer,
        "jwks_uri": format!("{}/jwks", inner.issuer),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
    .into_response()
}

async fn jwks(State(inner): State<Arc<Inner>>, request_headers: HeaderMap) -> Response {
    inner.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let outage = lock(&inner.outage).clone();
    match outage {
        Outage::None => {}
        Outage::Status(code) => {
            return StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR).into_response();
        }
        Outage::Hang => {
            std::future::pending::<()>().await;
        }
        Outage::Garbage(body) => return (StatusCode::OK, body).into_response(),
        Outage::Redirect(to) => return (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
    }
    let mut keys: Vec<Value> =
        lock(&inner.keys).iter().filter(|k| k.published).map(|k| public_jwk(&k.private)).collect();
    keys.extend(lock(&inner.extra_keys).iter().cloned());
    let body = json!({ "keys": keys }).to_string();
    let etag = format!("\"{:016x}\"", {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        body.hash(&mut h);
        h.finish()
    });
    let mut headers = HeaderMap::new();
    if let Ok(v) = header::HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    if request_headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        inner.jwks_not_modified.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/jwk-set+json"));
    if let Some(cc) = lock(&inner.cache_control).as_deref()
        && let Ok(v) = header::HeaderValue::from_str(cc)
    {
        headers.insert(header::CACHE_CONTROL, v);
    }
    (headers, body).into_response()
}
