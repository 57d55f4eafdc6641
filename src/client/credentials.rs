//! The client credentials grant (RFC 6749 §4.4), cached, renewed ahead, single-flight,
//! with bounded retries.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use serde_json::Value;

use super::{AccessToken, ClientError, StoredToken, TokenSource, TokenStore};
use crate::error::ConfigError;
use crate::keys::{BoxFuture, fetch};
use crate::single_flight::SingleFlight;

/// How the client authenticates to the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// HTTP Basic (`client_secret_basic`, the default).
    #[default]
    Basic,
    /// In the form body (`client_secret_post`).
    Post,
}

/// Retries of the token request on connection errors, `5xx` and `429`.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (4).
    pub max_attempts: u32,
    /// First backoff; doubles each retry, with full jitter (200 ms).
    pub base_delay: Duration,
    /// Longest single wait, also caps `Retry-After` (5 s).
    pub max_delay: Duration,
    /// No retry starts after this long since the first attempt (20 s).
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_elapsed: Duration::from_secs(20),
        }
    }
}

/// Tokens from a token endpoint with the client credentials grant. Cheap to clone;
/// clones share the cached token. When the server also issues a refresh token, renewals
/// use it (RFC 6749 §6), falling back to the client's credentials if it is refused.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_bearer::client::{ClientCredentials, TokenSource};
/// let source = ClientCredentials::builder()
///     .discover("https://sso.example.com/realms/main")  // finds `token_endpoint`
///     .client_id("billing")
///     .client_secret("s3cret")
///     .scope("read:items")
///     .build()?;
/// let token = source.token().await?;
/// # let _ = token; Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientCredentials {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: fetch::Endpoint,
    client: reqwest::Client,
    client_id: String,
    client_secret: String,
    auth: ClientAuth,
    scope: Option<String>,
    audience: Option<String>,
    resource: Option<String>,
    skew: Duration,
    default_lifetime: Duration,
    retry: RetryPolicy,
    allow_http: bool,
    timeout: Duration,
    cached: ArcSwapOption<Cached>,
    /// The last refresh token the server issued (RFC 6749 §6); kept across
    /// `invalidate`, since only the access token was refused.
    refresh_token: ArcSwapOption<String>,
    flight: SingleFlight<Result<AccessToken, ClientError>>,
    renewing: AtomicBool,
    store: Option<(Arc<dyn TokenStore>, String)>,
    /// The last token an API refused: never taken from the store again, and removed
    /// from it (if still there) before the next fetch.
    refused: ArcSwapOption<String>,
    /// When an API last made us drop a token: renewals it drives are rate limited.
    last_refusal: std::sync::Mutex<Option<std::time::Instant>>,
}

/// At most one renewal per this interval is driven by APIs refusing tokens: an API that
/// refuses every token (a missing audience mapper, a key rotation it has not picked up
/// yet) must not turn each call into a token request, for this instance or the fleet.
const REFUSAL_RENEWAL_INTERVAL: Duration = Duration::from_secs(10);

/// Longest lifetime a token is trusted for, whatever the server says: renewing a
/// longer-lived token once a day costs little, and `Instant` arithmetic stays in range.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Token answers are small; 64 KiB is generous.
const MAX_TOKEN_ANSWER: usize = 64 * 1024;

/// The endpoint as configured.
enum Endpoint {
    Url(String),
    Discover(String),
}

struct Cached {
    token: AccessToken,
    usable_until: Instant,
    renew_at: Instant,
}

/// Configures [`ClientCredentials`].
#[must_use]
pub struct ClientCredentialsBuilder {
    endpoint: Option<Endpoint>,
    client: Option<reqwest::Client>,
    client_id: Option<String>,
    client_secret: Option<String>,
    auth: ClientAuth,
    scope: Option<String>,
    audience: Option<String>,
    resource: Option<String>,
    skew: Duration,
    default_lifetime: Duration,
    retry: RetryPolicy,
    allow_http: bool,
    timeout: Duration,
    store: Option<Arc<dyn TokenStore>>,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.inner.client_id)
            .field("client_secret", &"[redacted]")
            .field("scope", &self.inner.scope)
            .finish_non_exhaustive()
    }
}

impl ClientCredentials {
    /// Starts configuring: set the endpoint (or discovery), client id and secret.
    pub fn builder() -> ClientCredentialsBuilder {
        ClientCredentialsBuilder {
            endpoint: None,
            client: None,
            client_id: None,
            client_secret: None,
            auth: ClientAuth::default(),
            scope: None,
            audience: None,
            resource: None,
            skew: Duration::from_secs(30),
            default_lifetime: Duration::from_secs(300),
            retry: RetryPolicy::default(),
            allow_http: false,
            timeout: Duration::from_secs(10),
            store: None,
        }
    }
}

impl ClientCredentialsBuilder {
    /// The token endpoint URL.
    pub fn token_url(mut self, url: &str) -> Self {
        self.endpoint = Some(Endpoint::Url(url.to_owned()));
        self
    }

    /// Finds `token_endpoint` in `issuer`'s discovery document (on first use).
    pub fn discover(mut self, issuer: &str) -> Self {
        self.endpoint = Some(Endpoint::Discover(issuer.to_owned()));
        self
    }

    /// The client id.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// The client secret (never shown by `Debug` or logs).
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(secret.into());
        self
    }

    /// `client_secret_basic` (default) or `client_secret_post`.
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.auth = auth;
        self
    }

    /// Space-separated scopes to ask for.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Auth0's `audience` parameter.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// RFC 8707 `resource` parameter.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// A token is replaced this long before it expires (30 s).
    pub fn skew(mut self, skew: Duration) -> Self {
        self.skew = skew;
        self
    }

    /// Lifetime assumed when the server gives neither `expires_in` nor a JWT `exp` (5 min).
    pub fn default_lifetime(mut self, lifetime: Duration) -> Self {
        self.default_lifetime = lifetime;
        self
    }

    /// Retry settings.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Uses this HTTP client.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Time allowed for one token request (10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Allows `http://` token endpoints that are not on loopback.
    pub fn dangerous_allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// Shares tokens through `store` (e.g. [`RedisStore`](super::RedisStore)): instances
    /// with the same endpoint, client and scopes use one token, and only one renews it
    /// at a time. A failing store never blocks: each instance then fetches its own.
    pub fn store(mut self, store: impl TokenStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Checks the configuration. No I/O happens here.
    pub fn build(self) -> Result<ClientCredentials, ConfigError> {
        let endpoint = match self.endpoint {
            None => return Err(ConfigError::new("client credentials need a token_url or a discovery issuer")),
            Some(Endpoint::Url(url)) => fetch::Endpoint::url(&url, fetch::TOKEN_ENDPOINT, self.allow_http),
            Some(Endpoint::Discover(issuer)) => {
                fetch::Endpoint::discover(&issuer, fetch::TOKEN_ENDPOINT, self.allow_http)
            }
        }
        .map_err(ConfigError::new)?;
        let client_id = self.client_id.ok_or_else(|| ConfigError::new("client credentials need a client_id"))?;
        // One shared token per endpoint, client and request parameters.
        let store_key = {
            use sha2::Digest as _;
            let parts = [
                endpoint.describe(),
                client_id.clone(),
                format!("{:?}", (&self.scope, &self.audience, &self.resource)),
            ];
            let digest = sha2::Sha256::digest(parts.join("\n").as_bytes());
            format!("tower-bearer:token:{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
        };
        let client = match self.client {
            Some(c) => c,
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(self.timeout)
                .build()
                .map_err(|e| ConfigError::new(format!("HTTP client: {e}")))?,
        };
        Ok(ClientCredentials {
            inner: Arc::new(Inner {
                endpoint,
                client,
                client_id,
                client_secret: self.client_secret.unwrap_or_default(),
                auth: self.auth,
                scope: self.scope,
                audience: self.audience,
                resource: self.resource,
                skew: self.skew,
                default_lifetime: self.default_lifetime.max(Duration::from_secs(1)),
                retry: self.retry,
                allow_http: self.allow_http,
                timeout: self.timeout,
                cached: ArcSwapOption::empty(),
                refresh_token: ArcSwapOption::empty(),
                flight: SingleFlight::default(),
                renewing: AtomicBool::new(false),
                store: self.store.map(|s| (s, store_key)),
                refused: ArcSwapOption::empty(),
                last_refusal: std::sync::Mutex::new(None),
            }),
        })
    }
}

impl TokenSource for ClientCredentials {
    fn token(&self) -> BoxFuture<Result<AccessToken, ClientError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let now = Instant::now();
            if let Some(cached) = inner.cached.load_full()
                && now < cached.usable_until
            {
                if now >= cached.renew_at && !inner.renewing.swap(true, Ordering::AcqRel) {
                    // Renew ahead: this caller keeps the current token.
                    drop(Inner::fetch(&inner));
                }
                return Ok(cached.token.clone());
            }
            Inner::fetch(&inner).await
        })
    }

    fn invalidate(&self, token: &AccessToken) {
        {
            let mut last = self.inner.last_refusal.lock().unwrap_or_else(|p| p.into_inner());
            let now = std::time::Instant::now();
            if last.is_some_and(|at| now.saturating_duration_since(at) < REFUSAL_RENEWAL_INTERVAL) {
                tracing::warn!(
                    client_id = %self.inner.client_id,
                    "an API refused a fresh token again; not renewing more than once per 10 s \
                     (check the API's audience and issuer configuration)"
                );
                return;
            }
            *last = Some(now);
        }
        let current = self.inner.cached.load();
        if current.as_ref().is_some_and(|c| c.token == *token) {
            self.inner.cached.store(None);
        }
        if self.inner.store.is_some() {
            self.inner.refused.store(Some(Arc::new(token.secret().to_owned())));
        }
    }
}

/// What one attempt found.
enum Attempt {
    Token(AccessToken, Duration, Option<String>),
    Retry { reason: String, after: Option<Duration> },
    Fail(ClientError),
}

impl Inner {
    /// Joins the request in flight or starts one; every caller gets its result.
    fn fetch(this: &Arc<Self>) -> crate::single_flight::Flight<Result<AccessToken, ClientError>> {
        let me = this.clone();
        this.flight.join_or_start(
            move || async move {
                let result = me.fetch_shared().await;
                me.renewing.store(false, Ordering::Release);
                result
            },
            |e| Err(ClientError::Unavailable(format!("token task: {e}"))),
        )
    }

    /// Through the shared store when there is one: use a token another instance stored,
    /// else renew under the store's lock, else wait (bounded) for the instance that
    /// holds it, else fetch alone.
    async fn fetch_shared(&self) -> Result<AccessToken, ClientError> {
        let Some((store, key)) = &self.store else { return self.fetch_with_retries().await };
        let store = store.as_ref();
        if let Some(token) = self.stored_token(store, key).await {
            return Ok(token);
        }
        let lock_ttl = self.renewal_budget();
        let waited = Instant::now();
        loop {
            let owner = lock_owner();
            if store.try_lock(key, &owner, lock_ttl).await {
                let result = self.renew_under_lock(store, key).await;
                store.unlock(key, &owner).await;
                return result;
            }
            // The holder may have finished or given up (then the lock is free again).
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Some(token) = self.stored_token(store, key).await {
                return Ok(token);
            }
            if waited.elapsed() >= lock_ttl {
                return self.fetch_with_retries().await;
            }
        }
    }

    /// Renews and stores, unless another instance stored a token just before we got
    /// the lock.
    async fn renew_under_lock(&self, store: &dyn TokenStore, key: &str) -> Result<AccessToken, ClientError> {
        if let Some(token) = self.stored_token(store, key).await {
            return Ok(token);
        }
        let result = self.fetch_with_retries().await;
        if let Ok(token) = &result
            && let Some(expires) = token.expires_at()
        {
            let ttl = expires.saturating_duration_since(Instant::now());
            let expires_at = unix_now().saturating_add(ttl.as_secs());
            store.put(key, StoredToken { access_token: token.secret().to_owned(), expires_at }, ttl).await;
        }
        result
    }

    /// How long one renewal may hold the lock: retries start until `max_elapsed`; the
    /// last may try the refresh token and then the client's credentials; each attempt
    /// may first discover the endpoint (two GETs); every request is bounded by
    /// `timeout`. Plus a margin.
    fn renewal_budget(&self) -> Duration {
        let attempt = self.timeout.saturating_mul(3);
        self.retry.max_elapsed.saturating_add(attempt.saturating_mul(2)).saturating_add(Duration::from_secs(5))
    }

    /// A stored token with more than `skew` left, cached here too. A token an API
    /// refused is removed from the store instead (if it is still the stored one).
    async fn stored_token(&self, store: &dyn TokenStore, key: &str) -> Option<AccessToken> {
        let stored = store.get(key).await?;
        if self.refused.load().as_deref().is_some_and(|refused| *refused == stored.access_token) {
            store.remove_if(key, &stored.access_token).await;
            return None;
        }
        let left = Duration::from_secs(stored.expires_at.saturating_sub(unix_now())).min(MAX_LIFETIME);
        if left <= self.skew {
            return None;
        }
        let usable = left - self.skew;
        let token = self.cache(AccessToken::new(stored.access_token, Some(later(left))), usable);
        Some(token)
    }

    /// Keeps `token` for `usable`, renewing it ahead after 80 % of that.
    fn cache(&self, token: AccessToken, usable: Duration) -> AccessToken {
        self.cached.store(Some(Arc::new(Cached {
            token: token.clone(),
            usable_until: later(usable),
            renew_at: later(usable.mul_f64(0.8)),
        })));
        token
    }

    async fn fetch_with_retries(&self) -> Result<AccessToken, ClientError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let refresh = self.refresh_token.load_full();
            let outcome = match self.attempt(refresh.as_deref().map(String::as_str)).await {
                // A refused refresh token: forget it and ask with the client's credentials.
                Attempt::Fail(ClientError::OAuth { error, .. }) if refresh.is_some() && error == "invalid_grant" => {
                    self.refresh_token.store(None);
                    self.attempt(None).await
                }
                other => other,
            };
            match outcome {
                Attempt::Token(token, lifetime, refresh_token) => {
                    if let Some(rt) = refresh_token {
                        self.refresh_token.store(Some(Arc::new(rt)));
                    }
                    let usable = lifetime.saturating_sub(self.skew.min(lifetime / 2));
                    return Ok(self.cache(token, usable));
                }
                Attempt::Fail(e) => {
                    tracing::warn!(client_id = %self.client_id, error = %e, "token request refused");
                    return Err(e);
                }
                Attempt::Retry { reason, after } => {
                    let backoff = self.retry.base_delay.saturating_mul(1 << (attempt - 1).min(16));
                    let jitter = (RandomState::new().build_hasher().finish() % 1000) as f64 / 1000.0;
                    let wait = after.unwrap_or_else(|| backoff.mul_f64(jitter)).min(self.retry.max_delay);
                    let out_of_time = started.elapsed() + wait > self.retry.max_elapsed;
                    if attempt >= self.retry.max_attempts || out_of_time {
                        tracing::warn!(client_id = %self.client_id, %reason, attempt, "token request failed");
                        return Err(ClientError::Unavailable(reason));
                    }
                    tracing::debug!(%reason, attempt, wait_ms = wait.as_millis() as u64, "retrying token request");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// One token request: the refresh token grant when one is held, else client credentials.
    async fn attempt(&self, refresh_token: Option<&str>) -> Attempt {
        let url = match self.endpoint.resolve(&self.client, self.allow_http, self.timeout).await {
            Ok(u) => u,
            Err(reason) => return Attempt::Retry { reason, after: None },
        };
        let mut form: Vec<(&str, &str)> = match refresh_token {
            Some(rt) => vec![("grant_type", "refresh_token"), ("refresh_token", rt)],
            None => vec![("grant_type", "client_credentials")],
        };
        for (name, value) in [("scope", &self.scope), ("audience", &self.audience), ("resource", &self.resource)] {
            if let Some(v) = value {
                form.push((name, v));
            }
        }
        let mut request = self.client.post(url.clone()).header(reqwest::header::ACCEPT, "application/json");
        match self.auth {
            ClientAuth::Basic => request = fetch::client_basic_auth(request, &self.client_id, &self.client_secret),
            ClientAuth::Post => {
                form.push(("client_id", &self.client_id));
                form.push(("client_secret", &self.client_secret));
            }
        }
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&form).finish();
        let exchange = async {
            let mut response = fetch::post_form(request, &url, body).await?;
            let body = fetch::read_capped(&mut response, "POST", &url, MAX_TOKEN_ANSWER).await;
            Ok::<_, String>((response.status(), response.headers().clone(), body))
        };
        let (status, headers, body) = match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(reason)) => return Attempt::Retry { reason, after: None },
            Err(_) => {
                return Attempt::Retry {
                    reason: format!("POST {url}: no answer within {:?}", self.timeout),
                    after: None,
                };
            }
        };
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let retryable = status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
        let body: Value = match body.map(|b| serde_json::from_slice::<Value>(&b)) {
            Ok(Ok(v)) => v,
            _ if retryable => Value::Null,
            Ok(Err(_)) => {
                return Attempt::Fail(ClientError::Protocol(format!("POST {url}: status {status}, body is not JSON")));
            }
            Err(reason) => return Attempt::Fail(ClientError::Protocol(reason)),
        };
        if retryable {
            return Attempt::Retry { reason: format!("POST {url}: status {status}"), after: retry_after };
        }
        if !status.is_success() {
            let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
            return Attempt::Fail(match text("error") {
                Some(error) => {
                    ClientError::OAuth { error, description: text("error_description"), uri: text("error_uri") }
                }
                None => ClientError::Protocol(format!("POST {url}: status {status}")),
            });
        }
        parse_token(&body, self.default_lifetime).unwrap_or_else(|e| Attempt::Fail(ClientError::Protocol(e)))
    }
}

/// RFC 6749 §5.1: `access_token`, `token_type` Bearer, optional `expires_in`; else the
/// `exp` of a JWT access token; else the default lifetime. At most [`MAX_LIFETIME`].
fn parse_token(body: &Value, default_lifetime: Duration) -> Result<Attempt, String> {
    let token = body.get("access_token").and_then(Value::as_str).ok_or("no access_token in the answer")?;
    if !body.get("token_type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("bearer")) {
        return Err("token_type is not Bearer".into());
    }
    let lifetime = body
        .get("expires_in")
        .and_then(seconds)
        .map(Duration::from_secs)
        .or_else(|| jwt_lifetime(token))
        .unwrap_or(default_lifetime)
        .clamp(Duration::from_secs(1), MAX_LIFETIME);
    let refresh_token = body.get("refresh_token").and_then(Value::as_str).map(str::to_owned);
    Ok(Attempt::Token(AccessToken::new(token, Some(later(lifetime))), lifetime, refresh_token))
}

/// `expires_in` as sent: an integer, or (leniently) a non-negative number or a string
/// of digits, as some servers send; anything else is ignored.
fn seconds(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            // Saturating: 1e300 becomes u64::MAX, then clamped by the caller.
            n.as_f64().filter(|f| f.is_finite() && *f >= 0.0).map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
}

/// `now + d`, for durations clamped to [`MAX_LIFETIME`]; checked all the same (an
/// `Instant` cannot represent every sum), and "now" if it ever overflowed.
fn later(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d.min(MAX_LIFETIME)).unwrap_or(now)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A lock value unique to one renewal, so that only its holder releases the lock.
fn lock_owner() -> String {
    use std::sync::atomic::AtomicU64;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let seed = (std::process::id(), nanos, COUNTER.fetch_add(1, Ordering::Relaxed));
    // Two independently keyed (randomly seeded) hashes: 128 bits.
    let part = |state: RandomState| {
        let mut h = state.build_hasher();
        std::hash::Hash::hash(&seed, &mut h);
        h.finish()
    };
    format!("{:016x}{:016x}", part(RandomState::new()), part(RandomState::new()))
}

/// The time left before a JWT access token's `exp` (read, not verified: it only
/// schedules renewal; the API verifies the token). `exp` must be a NumericDate.
fn jwt_lifetime(token: &str) -> Option<Duration> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let exp = crate::verify::TimeClaims::read(claims.as_object()?).ok()?.exp?;
    Some(Duration::from_secs(exp.saturating_sub(unix_now())))
}
