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
//! [`Dispatch`] puts it behind one layer with a [`JwtVerifier`](crate::JwtVerifier):
//! opaque tokens are introspected and JWTs verified locally, or JWTs are also
//! introspected to honour revocation.
//!
//! Answers are cached per token (SHA-256 of the whole token) until the smaller of the
//! token's `exp` and `max_ttl` (60 s by default), inactive answers for `negative_ttl`
//! (10 s); concurrent requests for one token share one call. The cache TTL is the
//! trade-off between load on the server and how fast a revocation is seen: with the
//! defaults, a revoked token stops working within 60 s; set `no_cache()` to see it at
//! once, at the price of one call per request.

mod dispatch;
mod token_type;

use std::sync::Arc;
use std::time::Duration;

use moka::Expiry;
use serde_json::Value;

pub use dispatch::{Dispatch, IntrospectMode};

use crate::claims::{ClaimPath, RoleSources, VerifiedToken, audience_matches};
use crate::error::ConfigError;
use crate::keys::fetch;
use crate::reject::{AuthError, InvalidToken, Unavailable};
use crate::token::BearerToken;
use crate::verify::{Clock, SystemClock, TimeClaims, TimeRules, Verification, Verifier};

/// How the resource server authenticates to the introspection endpoint.
#[derive(Clone)]
#[non_exhaustive]
pub enum ClientAuth {
    /// HTTP Basic with the client id and secret (`client_secret_basic`, the default).
    Basic {
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: String,
    },
    /// Client id and secret in the form body (`client_secret_post`).
    Post {
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: String,
    },
    /// Anything else (`private_key_jwt`, mTLS headers...): a hook that decorates the
    /// request.
    Custom(Arc<dyn Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder + Send + Sync>),
    /// No client authentication.
    None,
}

/// Verifies tokens by asking the authorization server (RFC 7662). Cheap to clone.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_bearer::BearerLayer;
/// use tower_bearer::introspect::{ClientAuth, IntrospectionVerifier};
///
/// let verifier = IntrospectionVerifier::builder()
///     .discover("https://sso.example.com/realms/main") // finds `introspection_endpoint`
///     .client_auth(ClientAuth::Basic { client_id: "orders-api".into(), client_secret: "s3cret".into() })
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
    endpoint: fetch::Endpoint,
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
    allow_http: bool,
    cache: Option<moka::future::Cache<[u8; 32], Arc<Answer>>>,
    max_ttl: Duration,
    negative_ttl: Duration,
}

/// The application's own rule on an active answer (see
/// [`IntrospectionVerifierBuilder::accept_answer_if`]).
type AnswerPredicate = Arc<dyn Fn(&serde_json::Map<String, Value>) -> bool + Send + Sync>;

/// A cached answer and how long it may be kept.
struct Answer {
    outcome: Result<VerifiedToken, InvalidToken>,
    ttl: Duration,
}

/// The endpoint as configured.
enum Endpoint {
    Url(String),
    Discover(String),
}

struct AnswerExpiry;

impl Expiry<[u8; 32], Arc<Answer>> for AnswerExpiry {
    fn expire_after_create(&self, _: &[u8; 32], answer: &Arc<Answer>, _: std::time::Instant) -> Option<Duration> {
        Some(answer.ttl)
    }
}

/// Configures an [`IntrospectionVerifier`].
#[must_use]
pub struct IntrospectionVerifierBuilder {
    endpoint: Option<Endpoint>,
    client: Option<reqwest::Client>,
    auth: ClientAuth,
    issuer: Option<String>,
    audiences: Vec<String>,
    any_audience: bool,
    roles: Vec<ClaimPath>,
    leeway: Duration,
    clock: Arc<dyn Clock>,
    accept_if: Option<AnswerPredicate>,
    timeout: Duration,
    max_body: usize,
    allow_http: bool,
    cache: bool,
    max_ttl: Duration,
    negative_ttl: Duration,
    max_entries: u64,
}

impl IntrospectionVerifier {
    /// Starts configuring; set the endpoint (or discovery), the client authentication,
    /// and an audience.
    pub fn builder() -> IntrospectionVerifierBuilder {
        IntrospectionVerifierBuilder {
            endpoint: None,
            client: None,
            auth: ClientAuth::None,
            issuer: None,
            audiences: Vec::new(),
            any_audience: false,
            roles: Vec::new(),
            leeway: Duration::from_secs(60),
            clock: Arc::new(SystemClock),
            accept_if: None,
            timeout: Duration::from_secs(5),
            max_body: 64 * 1024,
            allow_http: false,
            cache: true,
            max_ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(10),
            max_entries: 10_000,
        }
    }
}

impl IntrospectionVerifierBuilder {
    /// The introspection endpoint URL.
    pub fn endpoint(mut self, url: &str) -> Self {
        self.endpoint = Some(Endpoint::Url(url.to_owned()));
        self
    }

    /// Finds `introspection_endpoint` in `issuer`'s discovery document (on first use).
    pub fn discover(mut self, issuer: &str) -> Self {
        self.endpoint = Some(Endpoint::Discover(issuer.to_owned()));
        self
    }

    /// How to authenticate to the endpoint.
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.auth = auth;
        self
    }

    /// Uses this HTTP client.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Requires `iss` in the answer, when present, to equal this.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Accepts tokens whose `aud` contains this (any-of; required unless waived).
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audiences.push(aud.into());
        self
    }

    /// **Dangerous**: accepts any audience.
    pub fn dangerous_accept_any_audience(mut self) -> Self {
        self.any_audience = true;
        self
    }

    /// Reads roles from `path` (default `roles`).
    pub fn roles_claim(mut self, path: impl Into<ClaimPath>) -> Self {
        self.roles.push(path.into());
        self
    }

    /// Clock skew on `exp`, `nbf` and `iat` (60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Accepts an active answer only if `predicate` returns `true`, for fields only
    /// your server sends (e.g. `acr`, a tenant id). Runs after the built-in checks
    /// (issuer, audience, time, and that the token is an access token); a refusal is
    /// answered `401 invalid_token`.
    ///
    /// ```
    /// use tower_bearer::introspect::IntrospectionVerifier;
    /// let builder = IntrospectionVerifier::builder()
    ///     .accept_answer_if(|answer| answer.get("acr").and_then(|v| v.as_str()) == Some("mfa"));
    /// # let _ = builder;
    /// ```
    pub fn accept_answer_if(
        mut self,
        predicate: impl Fn(&serde_json::Map<String, Value>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.accept_if = Some(Arc::new(predicate));
        self
    }

    /// Uses this clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Total time for one introspection call (5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Largest accepted answer (64 KiB).
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Allows `http://` endpoints that are not on loopback.
    pub fn dangerous_allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// How long an active answer is reused (60 s; never past the token's `exp`).
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = ttl;
        self
    }

    /// How long an inactive answer is reused (10 s).
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// Calls the endpoint for every request: revocation is seen at once.
    pub fn no_cache(mut self) -> Self {
        self.cache = false;
        self
    }

    /// Checks the configuration. No I/O happens here.
    pub fn build(self) -> Result<IntrospectionVerifier, ConfigError> {
        let endpoint = match self.endpoint {
            None => return Err(ConfigError::new("introspection needs an endpoint or a discovery issuer")),
            Some(Endpoint::Url(url)) => fetch::Endpoint::url(&url, fetch::INTROSPECTION_ENDPOINT, self.allow_http),
            Some(Endpoint::Discover(issuer)) => {
                fetch::Endpoint::discover(&issuer, fetch::INTROSPECTION_ENDPOINT, self.allow_http)
            }
        }
        .map_err(ConfigError::new)?;
        if self.audiences.is_empty() && !self.any_audience {
            return Err(ConfigError::new(
                "no audience configured; add .audience(..) or call .dangerous_accept_any_audience()",
            ));
        }
        let client = match self.client {
            Some(c) => c,
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(self.timeout)
                .connect_timeout(Duration::from_secs(2).min(self.timeout))
                .build()
                .map_err(|e| ConfigError::new(format!("HTTP client: {e}")))?,
        };
        let cache = self
            .cache
            .then(|| moka::future::Cache::builder().max_capacity(self.max_entries).expire_after(AnswerExpiry).build());
        Ok(IntrospectionVerifier {
            inner: Arc::new(Inner {
                endpoint,
                client,
                auth: self.auth,
                issuer: self.issuer,
                audiences: (!self.any_audience).then_some(self.audiences),
                roles: RoleSources::from_paths(if self.roles.is_empty() {
                    vec![ClaimPath::new("roles")]
                } else {
                    self.roles
                }),
                time: TimeRules { leeway: self.leeway.as_secs(), max_age: None, exp_required: false },
                clock: self.clock,
                accept_if: self.accept_if,
                timeout: self.timeout,
                max_body: self.max_body,
                allow_http: self.allow_http,
                cache,
                max_ttl: self.max_ttl.min(Duration::from_secs(24 * 3600)),
                negative_ttl: self.negative_ttl.min(Duration::from_secs(3600)),
            }),
        })
    }
}

impl Verifier for IntrospectionVerifier {
    fn verify(&self, token: &BearerToken) -> Verification {
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
                let key = crate::verify::cache_key(token.as_str());
                let this = self.clone();
                // One call per token however many requests carry it at once; errors
                // (503) are not cached.
                let answer = cache
                    .try_get_with(key, async move { this.introspect(&token).await.map(Arc::new) })
                    .await
                    .map_err(|e: Arc<AuthError>| (*e).clone())?;
                return match &answer.outcome {
                    // A cached answer is re-checked against the clock on every use.
                    Ok(t) => self.check_time(t.claims()).map(|_| t.clone()).map_err(AuthError::from),
                    Err(reason) => Err((*reason).into()),
                };
            }
        };
        answer.outcome.clone().map_err(AuthError::from)
    }

    /// One call to the endpoint, and the checks on its answer.
    async fn introspect(&self, token: &BearerToken) -> Result<Answer, AuthError> {
        let url = self
            .endpoint
            .resolve(&self.client, self.allow_http, self.timeout)
            .await
            .map_err(|e| unavailable(format!("introspection discovery: {e}")))?;
        let mut form = vec![("token", token.as_str()), ("token_type_hint", "access_token")];
        let mut request = self.client.post(url.clone()).header(reqwest::header::ACCEPT, "application/json");
        match &self.auth {
            ClientAuth::Basic { client_id, client_secret } => {
                request = fetch::client_basic_auth(request, client_id, client_secret);
            }
            ClientAuth::Post { client_id, client_secret } => {
                form.push(("client_id", client_id));
                form.push(("client_secret", client_secret));
            }
            ClientAuth::Custom(hook) => request = hook(request),
            ClientAuth::None => {}
        }
        let body = serde_urlencoded_body(&form);
        let call = async {
            let mut response = fetch::post_form(request, &url, body).await?;
            let status = response.status();
            if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
                return Err(format!(
                    "POST {url}: {status}: the endpoint rejected this resource server's client credentials"
                ));
            }
            if status != reqwest::StatusCode::OK {
                return Err(format!("POST {url}: status {status}"));
            }
            let body = fetch::read_capped(&mut response, "POST", &url, self.max_body).await?;
            serde_json::from_slice::<Value>(&body).map_err(|e| format!("POST {url}: answer is not JSON: {e}"))
        };
        let answer = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(Value::Object(map))) => map,
            Ok(Ok(_)) => return Err(self.failed(format!("POST {url}: answer is not a JSON object"))),
            Ok(Err(e)) => return Err(self.failed(e)),
            Err(_) => return Err(self.failed(format!("POST {url}: no answer within {:?}", self.timeout))),
        };
        let outcome = self.judge(answer, token.as_str().len());
        let ttl = match &outcome {
            Ok(t) => {
                let left = t.expires_at().saturating_sub(self.clock.now());
                self.max_ttl.min(Duration::from_secs(if t.expires_at() == 0 { u64::MAX } else { left }))
            }
            Err(_) => self.negative_ttl,
        };
        Ok(Answer { outcome, ttl })
    }

    /// Operator-facing failures: logged as errors, answered with `503`.
    fn failed(&self, reason: String) -> AuthError {
        tracing::error!(%reason, "token introspection failed");
        unavailable(reason)
    }

    /// RFC 7662 §2.2 answer → claims, with the same rules as for JWTs.
    fn judge(
        &self,
        mut answer: serde_json::Map<String, Value>,
        encoded_len: usize,
    ) -> Result<VerifiedToken, InvalidToken> {
        if answer.remove("active") != Some(Value::Bool(true)) {
            return Err(InvalidToken::Inactive);
        }
        if let (Some(expected), Some(found)) = (&self.issuer, answer.get("iss"))
            && found.as_str() != Some(expected.as_str())
        {
            return Err(InvalidToken::Issuer);
        }
        if let Some(allowed) = &self.audiences
            && !audience_matches(answer.get("aud"), allowed)
        {
            return Err(InvalidToken::Audience);
        }
        let times = self.check_time(&answer)?;
        if !token_type::is_access_token(&answer) {
            return Err(InvalidToken::Type);
        }
        if self.accept_if.as_ref().is_some_and(|accept| !accept(&answer)) {
            return Err(InvalidToken::ClaimValue);
        }
        let exp = times.exp.unwrap_or(0);
        VerifiedToken::new(Value::Object(Default::default()), Value::Object(answer), exp, &self.roles, encoded_len)
    }

    /// The JWT time rules, except that `exp` is optional (RFC 7662 §2.2).
    fn check_time(&self, claims: &serde_json::Map<String, Value>) -> Result<TimeClaims, InvalidToken> {
        self.time.check_claims(claims, self.clock.now())
    }
}

fn unavailable(reason: String) -> AuthError {
    AuthError::Unavailable(Unavailable { retry_after: Duration::from_secs(5), reason })
}

fn serde_urlencoded_body(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}
