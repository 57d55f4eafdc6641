//! A remote JWK set: fetched over HTTPS, cached, refreshed, and kept through outages.
//!
//! State machine (per store, i.e. per issuer):
//!
//! ```text
//!  cold ──fetch ok──► fresh ──refresh_at──► refreshing ahead (served, one background fetch)
//!   │                  ▲                         │
//!   │                  └──────fetch ok───────────┘
//!   │                                            │ fetch fails / TTL passes
//!   ▼                                            ▼
//!  503 (no keys)                     stale: served up to `max_stale` past TTL,
//!                                    retries back off 1 s → cooldown; then 503
//! ```
//! Reads (`current`) are one atomic pointer load: no lock, no I/O.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use tokio::time::Instant;
use tracing::Instrument as _;
use url::Url;

use super::fetch::{self, Fetched, JWKS_ACCEPT};
use super::health::{KeyHealth, KeyState};
use super::jwk::{DEFAULT_MAX_KEYS, Origin, parse_set};
use super::key_set::KeySet;
use super::{BoxFuture, KeyError, KeyStore, Refresh};
use crate::error::ConfigError;
use crate::single_flight::{Flight, SingleFlight};

/// A JWK set fetched from a URL or found through discovery, cached and refreshed.
///
/// Defaults: TTL 10 min (or the server's `Cache-Control: max-age`, clamped to
/// [1 min, 24 h]), refresh ahead of expiry at a jittered 75–90 % of the TTL,
/// one unknown-`kid` refetch per 30 s, stale keys served up to 24 h past the TTL
/// during an outage, 5 s total / 2 s connect timeouts, 1 MiB body cap, no redirects,
/// HTTPS required except on loopback.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_bearer::keys::RemoteJwks;
/// let keys = RemoteJwks::discover("https://login.example.com/realms/main")?;
/// keys.prefetch().await?; // optional: fail start-up if the IdP is unreachable
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RemoteJwks {
    inner: Arc<Inner>,
}

/// Configures a [`RemoteJwks`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RemoteJwksBuilder {
    source: Option<Result<Source, String>>,
    client: Option<reqwest::Client>,
    opts: Options,
}

#[derive(Debug, Clone)]
enum Source {
    Url(Url),
    Discovery { issuer: String },
}

#[derive(Debug, Clone)]
struct Options {
    ttl: Duration,
    min_ttl: Duration,
    max_ttl: Duration,
    cooldown: Duration,
    max_stale: Duration,
    timeout: Duration,
    connect_timeout: Duration,
    max_body: usize,
    max_keys: usize,
    negative_capacity: u64,
    allow_http: bool,
    same_origin: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(600),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 3600),
            cooldown: Duration::from_secs(30),
            max_stale: Duration::from_secs(24 * 3600),
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            max_body: 1024 * 1024,
            max_keys: DEFAULT_MAX_KEYS,
            negative_capacity: 10_000,
            allow_http: false,
            same_origin: false,
        }
    }
}

struct Inner {
    source: Source,
    client: reqwest::Client,
    opts: Options,
    /// The last good set; swapped whole, read without locks.
    snapshot: ArcSwapOption<Snapshot>,
    /// The fetch in flight, shared by every waiter.
    inflight: SingleFlight<Result<Arc<Snapshot>, KeyError>>,
    /// Set while a background refresh-ahead task runs, so requests spawn at most one.
    refreshing: AtomicBool,
    /// Mirrors `status.failing_since.is_some()` so the stale path reads it without a lock.
    failing: AtomicBool,
    /// Mirrors `status.next_retry` as milliseconds since `epoch` (0: none), read lock-free.
    next_retry_ms: AtomicU64,
    epoch: Instant,
    status: Mutex<Status>,
    negative: moka::sync::Cache<Arc<str>, ()>,
    counters: Counters,
}

type SharedFetch = Flight<Result<Arc<Snapshot>, KeyError>>;

struct Snapshot {
    keys: Arc<KeySet>,
    loaded_at: Instant,
    refresh_at: Instant,
    expires_at: Instant,
    etag: Option<String>,
}

#[derive(Default)]
struct Status {
    jwks_url: Option<Url>,
    last_attempt: Option<Instant>,
    failing_since: Option<Instant>,
    next_retry: Option<Instant>,
    backoff: Duration,
    last_error: Option<String>,
}

#[derive(Default)]
struct Counters {
    ok: AtomicU64,
    failed: AtomicU64,
    unknown_kid_refetches: AtomicU64,
    unknown_kid_rejected: AtomicU64,
}

impl RemoteJwks {
    /// A builder; set [`jwks_url`](RemoteJwksBuilder::jwks_url) or
    /// [`discovery`](RemoteJwksBuilder::discovery).
    pub fn builder() -> RemoteJwksBuilder {
        RemoteJwksBuilder { source: None, client: None, opts: Options::default() }
    }

    /// Keys from a JWKS URL, with default settings.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        Self::builder().jwks_url(url).build()
    }

    /// Keys found through the issuer's discovery document, with default settings.
    pub fn discover(issuer: &str) -> Result<Self, ConfigError> {
        Self::builder().discovery(issuer).build()
    }

    /// Loads keys now (e.g. at start-up, to fail fast when the IdP is unreachable).
    pub async fn prefetch(&self) -> Result<usize, KeyError> {
        self.refresh(Refresh::Cold).await.map(|k| k.len())
    }

    /// Keeps the keys fresh on a timer, so even an idle service never meets an
    /// expired cache: refetches at the refresh-ahead point, and backs off while the
    /// server fails. The task stops when the returned handle is dropped or stopped,
    /// or when every clone of this store is gone. Needs a tokio runtime.
    pub fn keep_warm(&self) -> Result<RefreshTask, ConfigError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| ConfigError::new("keep_warm needs a tokio runtime"))?;
        let weak = Arc::downgrade(&self.inner);
        let handle = runtime.spawn(async move {
            while let Some(wait) = weak.upgrade().map(|inner| inner.until_next_refresh()) {
                tokio::time::sleep(wait).await;
                let Some(inner) = weak.upgrade() else { break };
                let fetch = inner.fetch_shared();
                drop(inner);
                let _ = fetch.await;
            }
        });
        Ok(RefreshTask { handle })
    }

    /// The cache's health, for readiness probes.
    pub fn health(&self) -> KeyHealth {
        self.inner.health()
    }
}

/// The timer task started by [`RemoteJwks::keep_warm`]; dropping it stops the task.
#[derive(Debug)]
#[must_use = "the refresh task stops when this handle is dropped"]
pub struct RefreshTask {
    handle: tokio::task::JoinHandle<()>,
}

impl RefreshTask {
    /// Stops the task (same as dropping the handle).
    pub fn stop(self) {}
}

impl Drop for RefreshTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

impl std::fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteJwks").field("source", &self.inner.source).finish_non_exhaustive()
    }
}

impl RemoteJwksBuilder {
    /// Fetch the key set from this URL.
    pub fn jwks_url(mut self, url: &str) -> Self {
        self.source = Some(Url::parse(url).map(Source::Url).map_err(|e| format!("jwks_url {url:?}: {e}")));
        self
    }

    /// Find the key set through `issuer`'s discovery document
    /// (`/.well-known/openid-configuration`, then RFC 8414).
    pub fn discovery(mut self, issuer: &str) -> Self {
        self.source = Some(Ok(Source::Discovery { issuer: issuer.to_owned() }));
        self
    }

    /// Use this HTTP client (proxies, custom roots...). Timeouts and the body cap are
    /// still enforced by the store; configure no redirects on it.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Default TTL when the server sends no `Cache-Control: max-age` (10 min).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.opts.ttl = ttl;
        self
    }

    /// Clamp for the server's `max-age` ([1 min, 24 h]).
    pub fn ttl_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.opts.min_ttl = min;
        self.opts.max_ttl = max.max(min);
        self
    }

    /// Minimum time between fetches caused by unknown `kid`s (30 s).
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.opts.cooldown = cooldown;
        self
    }

    /// How long past its TTL the last good set is served while refreshes fail
    /// (24 h; zero fails closed as soon as the TTL passes).
    pub fn max_stale(mut self, max_stale: Duration) -> Self {
        self.opts.max_stale = max_stale;
        self
    }

    /// Total time allowed for one fetch (5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.opts.timeout = timeout;
        self
    }

    /// Connect timeout of the built-in client (2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.opts.connect_timeout = timeout;
        self
    }

    /// Largest accepted response body (1 MiB).
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.opts.max_body = bytes;
        self
    }

    /// Most keys kept from one set (100).
    pub fn max_keys(mut self, keys: usize) -> Self {
        self.opts.max_keys = keys;
        self
    }

    /// How many unknown `kid`s the negative cache remembers (10 000).
    pub fn negative_cache_capacity(mut self, kids: u64) -> Self {
        self.opts.negative_capacity = kids;
        self
    }

    /// Allows plain `http://` to non-loopback hosts. Only for closed networks.
    pub fn dangerous_allow_http(mut self, allow: bool) -> Self {
        self.opts.allow_http = allow;
        self
    }

    /// Requires the discovered `jwks_uri` to share the issuer's origin.
    pub fn require_same_origin(mut self, on: bool) -> Self {
        self.opts.same_origin = on;
        self
    }

    /// Checks the configuration and builds the store. No I/O happens here.
    pub fn build(mut self) -> Result<RemoteJwks, ConfigError> {
        // Ten years is "forever" here, and keeps every `Instant + Duration` in range.
        const FOREVER: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
        let o = &mut self.opts;
        for d in [&mut o.ttl, &mut o.min_ttl, &mut o.max_ttl, &mut o.cooldown, &mut o.max_stale, &mut o.timeout] {
            *d = (*d).min(FOREVER);
        }
        // A set that is expired the moment it is stored would refetch on every request.
        const FLOOR: Duration = Duration::from_millis(100);
        o.ttl = o.ttl.max(FLOOR);
        o.min_ttl = o.min_ttl.max(FLOOR);
        o.max_ttl = o.max_ttl.max(o.min_ttl);
        let source = match self.source {
            None => return Err(ConfigError::new("RemoteJwks needs a jwks_url or a discovery issuer")),
            Some(Err(e)) => return Err(ConfigError::new(e)),
            Some(Ok(Source::Url(url))) => {
                fetch::check_url(&url, self.opts.allow_http, fetch::JWKS).map_err(ConfigError::new)?;
                Source::Url(url)
            }
            Some(Ok(Source::Discovery { issuer })) => {
                let url = Url::parse(&issuer).map_err(|e| ConfigError::new(format!("issuer {issuer:?}: {e}")))?;
                fetch::check_url(&url, self.opts.allow_http, fetch::JWKS.issuer()).map_err(ConfigError::new)?;
                Source::Discovery { issuer }
            }
        };
        let client = match self.client {
            Some(c) => c,
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(self.opts.connect_timeout)
                .timeout(self.opts.timeout)
                .build()
                .map_err(|e| ConfigError::new(format!("HTTP client: {e}")))?,
        };
        let negative = moka::sync::Cache::builder()
            .max_capacity(self.opts.negative_capacity)
            .time_to_live(self.opts.ttl.max(self.opts.cooldown))
            .build();
        let status = Status {
            jwks_url: match &source {
                Source::Url(u) => Some(u.clone()),
                Source::Discovery { .. } => None,
            },
            ..Status::default()
        };
        Ok(RemoteJwks {
            inner: Arc::new(Inner {
                source,
                client,
                opts: self.opts,
                snapshot: ArcSwapOption::empty(),
                inflight: SingleFlight::default(),
                refreshing: AtomicBool::new(false),
                failing: AtomicBool::new(false),
                next_retry_ms: AtomicU64::new(0),
                epoch: Instant::now(),
                status: Mutex::new(status),
                negative,
                counters: Counters::default(),
            }),
        })
    }
}

impl KeyStore for RemoteJwks {
    fn current(&self) -> Option<Arc<KeySet>> {
        let guard = self.inner.snapshot.load();
        let snap = guard.as_ref()?;
        let now = Instant::now();
        if now < snap.refresh_at {
            return Some(snap.keys.clone());
        }
        if now < snap.expires_at {
            // Refresh ahead: this request is served from the cache, one task refetches.
            self.inner.spawn_background();
            return Some(snap.keys.clone());
        }
        // Past the TTL: serve stale only while refreshes are known to fail.
        if self.inner.serving_stale(snap, now) {
            self.inner.spawn_background();
            return Some(snap.keys.clone());
        }
        None
    }

    fn refresh(&self, why: Refresh<'_>) -> BoxFuture<Result<Arc<KeySet>, KeyError>> {
        let this = self.clone();
        match why {
            Refresh::Cold => Box::pin(async move { this.inner.load_cold(&this).await }),
            Refresh::UnknownKid(kid) => {
                let kid: Arc<str> = kid.into();
                Box::pin(async move { this.inner.load_for_kid(kid).await })
            }
        }
    }
}

/// Resets the refresh-ahead flag when the background task ends, whichever way.
struct ResetFlag<'a>(&'a AtomicBool);

impl Drop for ResetFlag<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// A `kid` is attacker-chosen text: log at most 64 characters of it, escaped.
fn truncated(kid: &str) -> &str {
    kid.char_indices().nth(64).map_or(kid, |(i, _)| &kid[..i])
}

impl Inner {
    fn status(&self) -> MutexGuard<'_, Status> {
        // A poisoned lock only means a panic elsewhere mid-update of plain data; the
        // data is still consistent enough to read, so recover instead of panicking.
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn serving_stale(&self, snap: &Snapshot, now: Instant) -> bool {
        self.failing.load(Ordering::Acquire) && now < snap.expires_at + self.opts.max_stale
    }

    fn usable_stale(&self) -> Option<Arc<KeySet>> {
        let guard = self.snapshot.load();
        let snap = guard.as_ref()?;
        (Instant::now() < snap.expires_at + self.opts.max_stale).then(|| snap.keys.clone())
    }

    fn unavailable(&self, reason: String) -> KeyError {
        let now = Instant::now();
        let retry_after = self.status().next_retry.map_or(Duration::from_secs(1), |t| t.saturating_duration_since(now));
        KeyError::Unavailable { retry_after: retry_after.max(Duration::from_secs(1)), reason }
    }

    fn spawn_background(self: &Arc<Self>) {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let next_retry = self.next_retry_ms.load(Ordering::Acquire);
        let due = next_retry == 0 || self.epoch.elapsed().as_millis() as u64 >= next_retry;
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.refreshing.store(false, Ordering::Release);
            return;
        };
        if !due {
            self.refreshing.store(false, Ordering::Release);
            return;
        }
        let fetch = self.fetch_shared();
        let this = self.clone();
        runtime.spawn(async move {
            let _reset = ResetFlag(&this.refreshing);
            let _ = fetch.await;
        });
    }

    async fn load_cold(self: &Arc<Self>, store: &RemoteJwks) -> Result<Arc<KeySet>, KeyError> {
        if let Some(keys) = store.current() {
            return Ok(keys);
        }
        let in_backoff = {
            let st = self.status();
            st.failing_since.is_some() && st.next_retry.is_some_and(|t| Instant::now() < t)
        };
        if in_backoff {
            let reason = self.status().last_error.clone().unwrap_or_default();
            return Err(self.unavailable(reason));
        }
        match self.fetch_shared().await {
            Ok(snap) => Ok(snap.keys.clone()),
            Err(e) => self.usable_stale().ok_or(e),
        }
    }

    async fn load_for_kid(self: &Arc<Self>, kid: Arc<str>) -> Result<Arc<KeySet>, KeyError> {
        // A fetch may have landed since the caller looked.
        if let Some(snap) = self.snapshot.load().as_ref()
            && snap.keys.contains_kid(&kid)
        {
            return Ok(snap.keys.clone());
        }
        if self.negative.contains_key(&kid) {
            self.counters.unknown_kid_rejected.fetch_add(1, Ordering::Relaxed);
            return Err(KeyError::UnknownKid);
        }
        let in_cooldown = {
            let mut st = self.status();
            let now = Instant::now();
            let cooling = st.last_attempt.is_some_and(|t| now < t + self.opts.cooldown);
            if !cooling {
                // Claim the refetch before any await so concurrent unknown kids share it.
                st.last_attempt = Some(now);
            }
            cooling
        };
        if in_cooldown {
            // Inside the cooldown: share a fetch already in flight (a rotation makes
            // many requests name the new kid at once), otherwise answer at once.
            if let Some(fetch) = self.inflight.current() {
                return fetch.await.map(|snap| snap.keys.clone()).map_err(|e| self.unknown_while_usable(e));
            }
            // ...or one that finished between our first look and now.
            if let Some(snap) = self.snapshot.load().as_ref()
                && snap.keys.contains_kid(&kid)
            {
                return Ok(snap.keys.clone());
            }
            self.counters.unknown_kid_rejected.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(kid = ?truncated(&kid), "unknown kid inside the refetch cooldown");
            return Err(KeyError::UnknownKid);
        }
        self.counters.unknown_kid_refetches.fetch_add(1, Ordering::Relaxed);
        let snap = self.fetch_shared().await.map_err(|e| self.unknown_while_usable(e))?;
        // moka may briefly keep an entry even at capacity 0; zero means "remember none".
        if !snap.keys.contains_kid(&kid) && self.opts.negative_capacity > 0 {
            self.negative.insert(kid, ());
            // Apply the capacity bound now rather than at moka's next housekeeping:
            // this path runs at most once per cooldown per kid, so the cost is rare.
            self.negative.run_pending_tasks();
        }
        Ok(snap.keys.clone())
    }

    /// The answer for an unknown `kid` whose refetch failed. While usable keys exist
    /// (fresh, or stale inside `max_stale`), the token names a key this issuer does not
    /// have: `401`, whatever the refetch did, so the same token gets the same answer
    /// at any moment and attacker-chosen kids cannot produce 5xx at will. `503` stays
    /// for "no usable keys at all".
    fn unknown_while_usable(&self, error: KeyError) -> KeyError {
        if self.usable_stale().is_some() {
            tracing::debug!(error = %error, "unknown kid; the refetch failed but usable keys exist");
            self.counters.unknown_kid_rejected.fetch_add(1, Ordering::Relaxed);
            KeyError::UnknownKid
        } else {
            error
        }
    }

    /// Joins the fetch in flight, or starts one.
    fn fetch_shared(self: &Arc<Self>) -> SharedFetch {
        let this = self.clone();
        let span = tracing::debug_span!("jwks_fetch", source = ?self.source);
        self.inflight.join_or_start(
            move || async move { this.fetch_once().await }.instrument(span),
            |e| {
                Err(KeyError::Unavailable {
                    retry_after: Duration::from_secs(1),
                    reason: format!("JWKS fetch task: {e}"),
                })
            },
        )
    }

    async fn fetch_once(&self) -> Result<Arc<Snapshot>, KeyError> {
        let started = Instant::now();
        let (url, etag) = {
            let mut st = self.status();
            st.last_attempt = Some(started);
            (st.jwks_url.clone(), self.snapshot.load().as_ref().and_then(|s| s.etag.clone()))
        };
        let result = self.fetch_inner(url, etag).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(snap) => {
                self.counters.ok.fetch_add(1, Ordering::Relaxed);
                // Kids confirmed absent stay absent until the set changes.
                let changed = self.snapshot.load().as_ref().is_none_or(|prev| !prev.keys.same_keys(&snap.keys));
                if changed {
                    self.negative.invalidate_all();
                }
                let mut st = self.status();
                st.failing_since = None;
                st.next_retry = None;
                st.backoff = Duration::ZERO;
                st.last_error = None;
                self.failing.store(false, Ordering::Release);
                self.next_retry_ms.store(0, Ordering::Release);
                tracing::debug!(url = ?st.jwks_url.as_ref().map(Url::as_str), keys = snap.keys.len(), elapsed_ms, "JWKS fetched");
                drop(st);
                self.snapshot.store(Some(snap.clone()));
                Ok(snap)
            }
            Err(reason) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                let now = Instant::now();
                let mut st = self.status();
                st.failing_since.get_or_insert(now);
                st.backoff =
                    (st.backoff * 2).clamp(Duration::from_secs(1), self.opts.cooldown.max(Duration::from_secs(1)));
                st.next_retry = Some(now + st.backoff);
                st.last_error = Some(reason.clone());
                if matches!(self.source, Source::Discovery { .. }) {
                    // The IdP may have moved its JWKS: discover again on the next try.
                    st.jwks_url = None;
                }
                self.failing.store(true, Ordering::Release);
                let retry_ms = (now + st.backoff).saturating_duration_since(self.epoch).as_millis() as u64;
                self.next_retry_ms.store(retry_ms.max(1), Ordering::Release);
                drop(st);
                tracing::warn!(error = %reason, elapsed_ms, "JWKS fetch failed");
                Err(self.unavailable(reason))
            }
        }
    }

    async fn fetch_inner(&self, url: Option<Url>, etag: Option<String>) -> Result<Arc<Snapshot>, String> {
        let url = match (url, &self.source) {
            (Some(url), _) => url,
            (None, Source::Discovery { issuer }) => {
                let o = &self.opts;
                let url =
                    fetch::discover(&self.client, issuer, o.allow_http, o.same_origin, o.max_body, o.timeout).await?;
                self.status().jwks_url = Some(url.clone());
                url
            }
            (None, Source::Url(url)) => url.clone(),
        };
        let fetched =
            fetch::get(&self.client, &url, JWKS_ACCEPT, etag.as_deref(), self.opts.max_body, self.opts.timeout).await?;
        let now = Instant::now();
        let (keys, etag, max_age) = match fetched {
            Fetched::Body { body, etag, max_age } => {
                let set =
                    parse_set(&body, Origin::Remote, self.opts.max_keys).map_err(|e| format!("JWKS at {url}: {e}"))?;
                if set.is_empty() {
                    return Err(format!("JWKS at {url} holds no usable key"));
                }
                (Arc::new(set), etag, max_age)
            }
            Fetched::NotModified { max_age } => {
                let guard = self.snapshot.load();
                let prev = guard.as_ref().ok_or_else(|| format!("JWKS at {url}: 304 without a cached copy"))?;
                (prev.keys.clone(), prev.etag.clone(), max_age)
            }
        };
        let ttl = max_age.map_or(self.opts.ttl, |a| a.clamp(self.opts.min_ttl, self.opts.max_ttl));
        // Refresh at a random 75-90 % of the TTL so a fleet does not refetch in lockstep.
        let jitter = RandomState::new().build_hasher().finish() % 1000;
        let ahead = ttl.mul_f64(0.75 + 0.15 * jitter as f64 / 1000.0);
        Ok(Arc::new(Snapshot { keys, loaded_at: now, refresh_at: now + ahead, expires_at: now + ttl, etag }))
    }

    /// How long the keep-warm task sleeps before its next fetch (at least 100 ms).
    fn until_next_refresh(&self) -> Duration {
        let now = Instant::now();
        let next_retry = self.next_retry_ms.load(Ordering::Acquire);
        let retry_at = (next_retry != 0).then(|| self.epoch + Duration::from_millis(next_retry));
        let at = match (self.snapshot.load().as_ref().map(|s| s.refresh_at), retry_at) {
            (_, Some(retry)) if self.failing.load(Ordering::Acquire) => retry,
            (Some(refresh), _) => refresh,
            (None, _) => now,
        };
        at.saturating_duration_since(now).max(Duration::from_millis(100))
    }

    fn health(&self) -> KeyHealth {
        let now = Instant::now();
        let guard = self.snapshot.load();
        let st = self.status();
        let state = match guard.as_ref() {
            None => KeyState::NeverLoaded,
            Some(s) if now < s.expires_at => KeyState::Fresh,
            Some(s) if now < s.expires_at + self.opts.max_stale => KeyState::Stale,
            Some(_) => KeyState::Expired,
        };
        KeyHealth {
            state,
            key_count: guard.as_ref().map_or(0, |s| s.keys.len()),
            loaded_secs_ago: guard.as_ref().map(|s| now.saturating_duration_since(s.loaded_at).as_secs()),
            failing_for_secs: st.failing_since.map(|t| now.saturating_duration_since(t).as_secs()),
            cooldown_remaining_secs: st
                .last_attempt
                .map_or(0, |t| (t + self.opts.cooldown).saturating_duration_since(now).as_secs()),
            jwks_url: st.jwks_url.as_ref().map(|u| u.to_string()),
            last_error: st.last_error.clone(),
            fetches_ok: self.counters.ok.load(Ordering::Relaxed),
            fetches_failed: self.counters.failed.load(Ordering::Relaxed),
            unknown_kid_refetches: self.counters.unknown_kid_refetches.load(Ordering::Relaxed),
            unknown_kid_rejected: self.counters.unknown_kid_rejected.load(Ordering::Relaxed),
        }
    }
}
