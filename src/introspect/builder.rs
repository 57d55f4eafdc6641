//! Configuring an [`IntrospectionVerifier`]; checked once, in `build`, without I/O.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{AnswerExpiry, AnswerPredicate, Inner, IntrospectionVerifier};
use crate::claims::{ClaimPath, RoleSources};
use crate::error::ConfigError;
use crate::outbound::{self, ClientAuth, EndpointConfig, Rules, UrlUse};
use crate::verify::{Clock, SystemClock, TimeRules};

/// An RFC 7662 introspection endpoint, in refusals.
const INTROSPECTION_ENDPOINT: UrlUse = UrlUse::new(
    "introspection endpoint",
    "introspection_endpoint",
    ["IntrospectionVerifier::builder().dangerous_allow_http(true)"; 2],
);

/// Configures an [`IntrospectionVerifier`].
#[must_use]
pub struct IntrospectionVerifierBuilder {
    endpoint: Option<EndpointConfig>,
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
            auth: ClientAuth::none(),
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
        self.endpoint = Some(EndpointConfig::Url(url.to_owned()));
        self
    }

    /// Finds `introspection_endpoint` in `issuer`'s discovery document (on first use,
    /// and again after a failed call).
    pub fn discover(mut self, issuer: &str) -> Self {
        self.endpoint = Some(EndpointConfig::Discover(issuer.to_owned()));
        self
    }

    /// How to authenticate to the endpoint ([`ClientAuth::basic`], [`ClientAuth::post`],
    /// [`ClientAuth::custom`]; none by default).
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
        let endpoint = self
            .endpoint
            .ok_or_else(|| ConfigError::new("introspection needs an endpoint or a discovery issuer"))?
            .build(INTROSPECTION_ENDPOINT, Rules::allowing_http(self.allow_http))
            .map_err(ConfigError::new)?;
        if self.audiences.is_empty() && !self.any_audience {
            return Err(ConfigError::new(
                "no audience configured; add .audience(..) or call .dangerous_accept_any_audience()",
            ));
        }
        let client = outbound::http_client(self.client, self.timeout, outbound::CONNECT_TIMEOUT)?;
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
                cache,
                max_ttl: self.max_ttl.min(Duration::from_secs(24 * 3600)),
                negative_ttl: self.negative_ttl.min(Duration::from_secs(3600)),
                metrics: crate::metrics::IntrospectionMetrics::register(),
            }),
        })
    }
}
