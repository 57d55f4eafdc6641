//! Configuring a [`RemoteJwks`]; the options are checked and clamped once, in `build`.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;

use super::RemoteJwks;
use super::persist::{FileKeySetStore, KeySetStore, Persist, PersistTo};
use super::state::{Counters, Inner, Status};
use crate::error::ConfigError;
use crate::keys::jwk::DEFAULT_MAX_KEYS;
use crate::metrics::JwksMetrics;
use crate::outbound::{self, EndpointConfig, Rules, UrlUse};
use crate::single_flight::SingleFlight;

/// A JWK set's URL, in refusals.
const JWKS: UrlUse = UrlUse::new(
    "JWKS URL",
    "jwks_uri",
    [
        "Issuer::keys(RemoteJwks::builder().jwks_url(..).dangerous_allow_http(true).build()?)",
        "Issuer::keys(RemoteJwks::builder().discovery(..).dangerous_allow_http(true).build()?)",
    ],
);

/// Configures a [`RemoteJwks`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RemoteJwksBuilder {
    source: Option<EndpointConfig>,
    client: Option<reqwest::Client>,
    persist: Option<PersistTo>,
    opts: Options,
}

#[derive(Debug, Clone)]
pub(super) struct Options {
    pub(super) ttl: Duration,
    pub(super) min_ttl: Duration,
    pub(super) max_ttl: Duration,
    pub(super) cooldown: Duration,
    pub(super) max_stale: Duration,
    pub(super) timeout: Duration,
    pub(super) connect_timeout: Duration,
    pub(super) max_body: usize,
    pub(super) max_keys: usize,
    pub(super) negative_capacity: u64,
    pub(super) allow_http: bool,
    pub(super) same_origin: bool,
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
            connect_timeout: outbound::CONNECT_TIMEOUT,
            max_body: 1024 * 1024,
            max_keys: DEFAULT_MAX_KEYS,
            negative_capacity: 10_000,
            allow_http: false,
            same_origin: false,
        }
    }
}

impl Options {
    /// The TTL of a fetched set: the server's `max-age` clamped, else the default.
    pub(super) fn ttl_for(&self, max_age: Option<Duration>) -> Duration {
        max_age.map_or(self.ttl, |a| a.clamp(self.min_ttl, self.max_ttl))
    }
}

impl RemoteJwks {
    /// A builder; set [`jwks_url`](RemoteJwksBuilder::jwks_url) or
    /// [`discovery`](RemoteJwksBuilder::discovery).
    pub fn builder() -> RemoteJwksBuilder {
        RemoteJwksBuilder { source: None, client: None, persist: None, opts: Options::default() }
    }

    /// Keys from a JWKS URL, with default settings.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        Self::builder().jwks_url(url).build()
    }

    /// Keys found through the issuer's discovery document, with default settings.
    pub fn discover(issuer: &str) -> Result<Self, ConfigError> {
        Self::builder().discovery(issuer).build()
    }
}

impl RemoteJwksBuilder {
    /// Fetch the key set from this URL.
    pub fn jwks_url(mut self, url: &str) -> Self {
        self.source = Some(EndpointConfig::Url(url.to_owned()));
        self
    }

    /// Find the key set through `issuer`'s discovery document
    /// (`/.well-known/openid-configuration`, then RFC 8414).
    pub fn discovery(mut self, issuer: &str) -> Self {
        self.source = Some(EndpointConfig::Discover(issuer.to_owned()));
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

    /// Persists the last good set in `store`, so a service restarted while the JWKS URL
    /// is unreachable still verifies tokens. The set is written after each successful
    /// fetch (a `304` too) with the wall-clock time of that fetch, and read only when a
    /// fetch fails and no set is loaded: a fresh fetch always wins, and a reachable
    /// identity provider is never waited on for the store. A persisted set is served under
    /// the same rules as in memory, counted from its original fetch: past TTL +
    /// [`max_stale`](Self::max_stale) it is not used. A record for another JWKS URL (or
    /// discovery issuer), a corrupt or oversized one, one dated in the future, or a
    /// store that fails or takes more than 2 s, is logged and ignored.
    /// [`KeyHealth::source`](crate::keys::KeyHealth::source) says `persisted` while it
    /// is in use.
    ///
    /// **Trust**: its keys verify tokens. Whoever can write the store can add a key and
    /// mint accepted tokens: give it the protection the JWKS URL has.
    pub fn persist(mut self, store: impl KeySetStore) -> Self {
        self.persist = Some(PersistTo(Arc::new(store)));
        self
    }

    /// [`persist`](Self::persist) to a file ([`FileKeySetStore`]: atomic writes, `0600`).
    pub fn persist_to_file(self, path: impl Into<PathBuf>) -> Self {
        self.persist(FileKeySetStore::new(path))
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
        let o = &self.opts;
        let rules = Rules { allow_http: o.allow_http, same_origin: o.same_origin, max_body: o.max_body };
        let source =
            self.source.ok_or_else(|| ConfigError::new("RemoteJwks needs a jwks_url or a discovery issuer"))?;
        // Labelled with what was configured, never with what a server answered, and
        // shown as logs show URLs: no password, no query (which may hold a key).
        let metrics = match &source {
            EndpointConfig::Url(configured) | EndpointConfig::Discover(configured) => {
                JwksMetrics::register(&metric_label(configured))
            }
        };
        let endpoint = source.build(JWKS, rules).map_err(ConfigError::new)?;
        let client = outbound::http_client(self.client, o.timeout, o.connect_timeout)?;
        let negative = moka::sync::Cache::builder()
            .max_capacity(self.opts.negative_capacity)
            .time_to_live(self.opts.ttl.max(self.opts.cooldown))
            .build();
        Ok(RemoteJwks {
            inner: Arc::new(Inner {
                endpoint,
                client,
                opts: self.opts,
                snapshot: ArcSwapOption::empty(),
                inflight: SingleFlight::default(),
                failing: ArcSwapOption::empty(),
                refreshing: AtomicBool::new(false),
                status: Mutex::new(Status::default()),
                negative,
                counters: Counters::default(),
                metrics,
                persist: self.persist.map(Persist::new),
            }),
        })
    }
}

/// A configured URL as a metric label: without password and query (secrets some
/// providers put there); unparsable text is labelled as it is (it fails the build next).
fn metric_label(configured: &str) -> String {
    match url::Url::parse(configured) {
        Ok(url) => {
            let mut shown = crate::outbound::shown(&url);
            shown.set_query(None);
            shown.to_string()
        }
        Err(_) => configured.to_owned(),
    }
}
