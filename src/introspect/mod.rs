//! Opaque tokens and revocation: RFC 7662 token introspection (feature `introspection`).
//!
//! [`IntrospectionVerifier`] asks the authorization server whether a token is active,
//! checks the answer with the same issuer/audience/time rules as JWTs (one
//! implementation; only `exp` is optional, as RFC 7662 allows), refuses answers about
//! tokens that are not access tokens (a `token_type` other than `Bearer`, `DPoP`,
//! `access_token` or the RFC 8693 access-token URI; Keycloak's `typ` `Refresh`,
//! `Offline`, `ID` or `Logout`; a `token_use` other than `access`), runs the
//! application's own rule if one is set
//! ([`accept_answer_if`](IntrospectionVerifierBuilder::accept_answer_if)), and hands the
//! same [`VerifiedToken`] to the same requirements, extractors and responses.
//! [`CombinedVerifier`] puts it behind one layer with a [`JwtVerifier`](crate::JwtVerifier):
//! opaque tokens are introspected and JWTs verified locally
//! ([`IntrospectMode::OpaqueOnly`]), or JWTs are also introspected to honour revocation
//! ([`IntrospectMode::EveryToken`]).
//!
//! Answers are cached per token (SHA-256 of the whole token) until the smaller of the
//! token's `exp` and `max_ttl` (60 s by default), inactive answers for `negative_ttl`
//! (10 s); concurrent requests for one token share one call. The cache TTL is the
//! trade-off between load on the server and how fast a revocation is seen: with the
//! defaults, a revoked token stops working within 60 s; set `no_cache()` to see it at
//! once, at the price of one call per request.
//!
//! - `builder.rs`: [`IntrospectionVerifierBuilder`];
//! - `call.rs`: one call to the endpoint;
//! - `answer.rs`: the checks on an answer;
//! - `token_type.rs`: whether an answer is about an access token at all;
//! - `combined.rs`: [`CombinedVerifier`], JWTs and introspection behind one layer.

mod answer;
mod builder;
mod call;
mod combined;
mod token_type;

use std::sync::Arc;
use std::time::Duration;

use moka::Expiry;
use serde_json::Value;

pub use builder::IntrospectionVerifierBuilder;
pub use combined::{CombinedVerifier, IntrospectMode};

use crate::claims::{RoleSources, VerifiedToken};
use crate::outbound::{ClientAuth, Endpoint};
use crate::reject::{AuthError, InvalidToken};
use crate::token::BearerToken;
use crate::verify::{Clock, TimeRules, Verification, Verifier};

/// Verifies tokens by asking the authorization server (RFC 7662). Cheap to clone.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_bearer::{BearerLayer, ClientAuth};
/// use tower_bearer::introspect::IntrospectionVerifier;
///
/// let verifier = IntrospectionVerifier::builder()
///     .discover("https://sso.example.com/realms/main") // finds `introspection_endpoint`
///     .client_auth(ClientAuth::basic("orders-api", "s3cret"))
///     .issuer("https://sso.example.com/realms/main")
///     .audience("orders-api")
///     .build()?;
/// let layer = BearerLayer::new(verifier);
/// # let _ = layer; Ok(()) }
/// ```
#[derive(Clone)]
pub struct IntrospectionVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    client: reqwest::Client,
    auth: ClientAuth,
    issuer: Option<String>,
    audiences: Option<Vec<String>>,
    roles: RoleSources,
    time: TimeRules,
    clock: Arc<dyn Clock>,
    accept_if: Option<AnswerPredicate>,
    timeout: Duration,
    max_body: usize,
    cache: Option<moka::future::Cache<[u8; 32], Arc<Answer>>>,
    max_ttl: Duration,
    negative_ttl: Duration,
    metrics: crate::metrics::IntrospectionMetrics,
}

/// The application's own rule on an active answer (see
/// [`IntrospectionVerifierBuilder::accept_answer_if`]).
type AnswerPredicate = Arc<dyn Fn(&serde_json::Map<String, Value>) -> bool + Send + Sync>;

/// A cached answer and how long it may be kept.
struct Answer {
    outcome: Result<VerifiedToken, InvalidToken>,
    ttl: Duration,
}

struct AnswerExpiry;

impl Expiry<[u8; 32], Arc<Answer>> for AnswerExpiry {
    fn expire_after_create(&self, _: &[u8; 32], answer: &Arc<Answer>, _: std::time::Instant) -> Option<Duration> {
        Some(answer.ttl)
    }
}

impl Verifier for IntrospectionVerifier {
    fn verify(&self, token: &BearerToken) -> Verification {
        crate::verify::refuse_bound(self.verify_for_binding(token))
    }

    /// The issuer answers must name, when one is configured.
    fn authorization_servers(&self) -> Vec<String> {
        self.inner.issuer.iter().cloned().collect()
    }

    // RFC 7662 answers carry the binding too (RFC 8705 §3.2, RFC 9449 §6.2): it is read
    // into the token and checked by the layer like a JWT's.
    fn verify_for_binding(&self, token: &BearerToken) -> Verification {
        let inner = self.inner.clone();
        let token = token.clone();
        Verification::Pending(Box::pin(async move { inner.verify(token).await }))
    }
}

impl IntrospectionVerifier {
    /// Drops every cached answer (e.g. after a revocation the application knows of).
    pub fn invalidate_all(&self) {
        if let Some(cache) = &self.inner.cache {
            cache.invalidate_all();
        }
    }
}

impl Inner {
    async fn verify(self: Arc<Self>, token: BearerToken) -> Result<VerifiedToken, AuthError> {
        let answer = match &self.cache {
            None => self.introspect(&token).await?,
            Some(cache) => {
                // Keyed by SHA-256 of the whole token: a digest no one can forge a match for,
                // and its cost is nothing beside the call it saves.
                let key: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(token.as_str()).into();
                let this = self.clone();
                // One call per token however many requests carry it at once; errors
                // (503) are not cached.
                let entry = cache
                    .entry(key)
                    .or_try_insert_with(async move { this.introspect(&token).await.map(Arc::new) })
                    .await;
                // A request that joined a call in flight counts as a hit: it made none.
                self.metrics.cache_hit(entry.as_ref().is_ok_and(|e| !e.is_fresh()));
                let answer = entry.map_err(|e: Arc<AuthError>| (*e).clone())?.into_value();
                return match &answer.outcome {
                    // A cached answer is re-checked against the clock on every use.
                    Ok(t) => self.check_time(t.claims()).map(|_| t.clone()).map_err(AuthError::from),
                    Err(reason) => Err((*reason).into()),
                };
            }
        };
        answer.outcome.clone().map_err(AuthError::from)
    }
}
