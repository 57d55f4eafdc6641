//! [`TestIssuer`]: the test identity provider, its keys and its counters.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::{Outage, TEST_AUDIENCE, TestTokenBuilder, lock, server};
use crate::Algorithm;
use crate::keys::RemoteJwks;
use crate::signing::{PrivateJwk, compact_jws};
use crate::verify::{Clock as _, Issuer, JwtVerifier, JwtVerifierBuilder, SystemClock};

/// A signing key held by the test issuer.
pub(super) struct TestKey {
    kid: String,
    alg: Algorithm,
    pub(super) private: PrivateJwk,
    pub(super) published: bool,
}

/// What the issuer and its endpoints share.
pub(super) struct Inner {
    pub(super) issuer: String,
    pub(super) keys: Mutex<Vec<TestKey>>,
    pub(super) outage: Mutex<Outage>,
    pub(super) cache_control: Mutex<Option<String>>,
    pub(super) extra_keys: Mutex<Vec<Value>>,
    pub(super) jwks_fetches: AtomicUsize,
    pub(super) jwks_not_modified: AtomicUsize,
    pub(super) discovery_fetches: AtomicUsize,
    pub(super) oidc_discovery: AtomicBool,
}

/// A local identity provider: JWKS at `/jwks`, discovery at
/// `/.well-known/openid-configuration`, issuer `http://127.0.0.1:PORT`.
/// The server stops when the `TestIssuer` is dropped. `Debug` shows the issuer and the
/// `kid`s, never a private key.
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

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<String> = lock(&self.inner.keys).iter().map(|k| k.kid.clone()).collect();
        f.debug_struct("TestIssuer")
            .field("issuer", &self.inner.issuer)
            .field("kids", &kids)
            .field("outage", &*lock(&self.inner.outage))
            .finish_non_exhaustive()
    }
}

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
            oidc_discovery: AtomicBool::new(true),
            discovery_fetches: AtomicUsize::new(0),
        });
        let router = server::router(inner.clone());
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
        let private = PrivateJwk::generate(alg, &kid).expect("key generation");
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

    /// The algorithm the key `kid` signs.
    pub(super) fn key_alg(&self, kid: &str) -> Option<Algorithm> {
        lock(&self.inner.keys).iter().find(|k| k.kid == kid).map(|k| k.alg)
    }

    /// The private JWK of `kid` (to sign tokens by other means, e.g. with
    /// [`PrivateJwk::sign`]). Its `Debug` redacts the private members.
    pub fn private_jwk(&self, kid: &str) -> Option<PrivateJwk> {
        lock(&self.inner.keys).iter().find(|k| k.kid == kid).map(|k| k.private.clone())
    }

    /// The public JWK of `kid` (`null` for an HMAC secret, which has no public half).
    pub fn public_jwk(&self, kid: &str) -> Option<Value> {
        lock(&self.inner.keys)
            .iter()
            .find(|k| k.kid == kid)
            .map(|k| k.private.public().map_or(Value::Null, Value::Object))
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
    pub fn token(&self) -> TestTokenBuilder<'_> {
        let now = SystemClock.now();
        let jti = format!("jti-{now}-{}", self.inner.jwks_fetches.load(Ordering::Relaxed));
        TestTokenBuilder::new(self, jti)
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
        compact_jws(header_json, payload_json, |input| key.private.sign(key.alg, input).unwrap_or_default())
    }
}
