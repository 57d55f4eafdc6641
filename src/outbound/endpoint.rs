//! An endpoint given as a URL, or found in an issuer's discovery document on first use,
//! remembered, and looked up again after a failure (the server may have moved it).
//!
//! A failure never costs the URL that worked: the next call re-discovers (one caller at
//! a time, at most once per [`REDISCOVERY_COOLDOWN`]) and keeps the old URL unless the
//! document names a new one. A flood of failing calls therefore costs the issuer one
//! discovery per cooldown, and an outage of the discovery document alone changes nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use url::Url;

use super::discovery::{Rules, discover};
use super::url_check::shown;
use super::{OutboundError, UrlUse, check_url};

/// One endpoint of an authorization server (JWKS, token, introspection).
pub(crate) struct Endpoint {
    source: Source,
    used_for: UrlUse,
    rules: Rules,
    /// The last discovered URL.
    discovered: ArcSwapOption<Url>,
    /// A call failed since the last discovery: look the URL up again.
    suspect: AtomicBool,
    /// When the last re-discovery started (only read after a failure).
    last_rediscovery: Mutex<Option<Instant>>,
}

/// The shortest time between two re-discoveries of one endpoint.
pub(crate) const REDISCOVERY_COOLDOWN: Duration = Duration::from_secs(30);

/// An endpoint as a builder holds it until `build`: a URL, or an issuer to discover it from.
#[derive(Debug, Clone)]
pub(crate) enum EndpointConfig {
    Url(String),
    Discover(String),
}

impl EndpointConfig {
    /// The checked endpoint for `used_for`; `rules.allow_http` applies to a configured
    /// URL too.
    pub(crate) fn build(self, used_for: UrlUse, rules: Rules) -> Result<Endpoint, String> {
        match self {
            Self::Url(url) => Endpoint::url(&url, used_for, rules.allow_http),
            Self::Discover(issuer) => Endpoint::discover(&issuer, used_for, rules),
        }
    }
}

#[derive(Debug)]
enum Source {
    Url(Url),
    Discover { issuer: String },
}

impl Endpoint {
    /// A fixed URL for `used_for`; it must pass [`check_url`].
    fn url(url: &str, used_for: UrlUse, allow_http: bool) -> Result<Self, String> {
        let parsed = Url::parse(url).map_err(|e| format!("{} {url:?} is not a URL: {e}", used_for.what()))?;
        check_url(&parsed, allow_http, used_for)?;
        Ok(Self::new(Source::Url(parsed), used_for, Rules::allowing_http(allow_http)))
    }

    /// The URL of `used_for` in `issuer`'s discovery document, found under `rules`.
    fn discover(issuer: &str, used_for: UrlUse, rules: Rules) -> Result<Self, String> {
        let url = Url::parse(issuer).map_err(|e| format!("issuer {issuer:?} is not a URL: {e}"))?;
        check_url(&url, rules.allow_http, used_for.issuer())?;
        Ok(Self::new(Source::Discover { issuer: issuer.to_owned() }, used_for, rules))
    }

    fn new(source: Source, used_for: UrlUse, rules: Rules) -> Self {
        Self {
            source,
            used_for,
            rules,
            discovered: ArcSwapOption::empty(),
            suspect: AtomicBool::new(false),
            last_rediscovery: Mutex::new(None),
        }
    }

    /// The configured URL or issuer, for logs and keys.
    #[cfg(feature = "client")]
    pub(crate) fn describe(&self) -> String {
        match &self.source {
            Source::Url(u) => u.to_string(),
            Source::Discover { issuer } => format!("{issuer}#{}", self.used_for.field()),
        }
    }

    /// The issuer whose discovery document names this endpoint; `None` for a configured URL.
    pub(crate) fn discovered_from(&self) -> Option<&str> {
        match &self.source {
            Source::Url(_) => None,
            Source::Discover { issuer } => Some(issuer),
        }
    }

    /// The URL in use, as logs and health reports show it (without a password): the
    /// configured one, or the last one discovered.
    pub(crate) fn current(&self) -> Option<Url> {
        match &self.source {
            Source::Url(u) => Some(shown(u)),
            Source::Discover { .. } => self.discovered.load_full().map(|u| shown(&u)),
        }
    }

    /// The URL: discovered on first use, and again after [`suspect`](Self::suspect) by
    /// one caller per cooldown, keeping the known URL if that re-discovery fails.
    pub(crate) async fn resolve(&self, client: &reqwest::Client, timeout: Duration) -> Result<Url, OutboundError> {
        let issuer = match &self.source {
            Source::Url(u) => return Ok(u.clone()),
            Source::Discover { issuer } => issuer,
        };
        let Some(known) = self.discovered.load_full() else {
            let url = discover(client, issuer, self.used_for, self.rules, timeout).await?;
            self.discovered.store(Some(Arc::new(url.clone())));
            return Ok(url);
        };
        if !self.suspect.load(Ordering::Relaxed) || !self.claim_rediscovery() {
            return Ok((*known).clone());
        }
        match discover(client, issuer, self.used_for, self.rules, timeout).await {
            Ok(url) => {
                if url != *known {
                    tracing::info!(field = self.used_for.field(), from = %shown(&known), to = %shown(&url), "endpoint moved");
                }
                self.discovered.store(Some(Arc::new(url.clone())));
                Ok(url)
            }
            Err(e) => {
                let error = crate::error_chain::error_chain(&e);
                tracing::warn!(%error, "re-discovery failed; keeping the known endpoint");
                Ok((*known).clone())
            }
        }
    }

    /// Whether this caller re-discovers now: the first since the cooldown passed.
    fn claim_rediscovery(&self) -> bool {
        let Ok(mut last) = self.last_rediscovery.lock() else { return false };
        if last.is_some_and(|at| at.elapsed() < REDISCOVERY_COOLDOWN) {
            return false;
        }
        *last = Some(Instant::now());
        self.suspect.store(false, Ordering::Relaxed);
        true
    }

    /// A call to the endpoint failed: a discovered URL is looked up again (see
    /// [`resolve`](Self::resolve)).
    pub(crate) fn suspect(&self) {
        if matches!(self.source, Source::Discover { .. }) {
            self.suspect.store(true, Ordering::Relaxed);
        }
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Source::Url(u) => f.debug_tuple("Url").field(&super::url_check::shown(u).as_str()).finish(),
            Source::Discover { issuer } => f.debug_struct("Discovery").field("issuer", issuer).finish(),
        }
    }
}
