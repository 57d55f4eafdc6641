//! An endpoint given as a URL, or found in an issuer's discovery document on first use,
//! remembered, and looked up again after a failure (the server may have moved it).

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use url::Url;

use super::discovery::{Rules, discover};
use super::{OutboundError, UrlUse, check_url};

/// One endpoint of an authorization server (JWKS, token, introspection).
pub(crate) struct Endpoint {
    source: Source,
    used_for: UrlUse,
    rules: Rules,
    /// The discovered URL, while it works.
    discovered: ArcSwapOption<Url>,
}

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
        let source = Source::Url(parsed);
        Ok(Self { source, used_for, rules: Rules::allowing_http(allow_http), discovered: ArcSwapOption::empty() })
    }

    /// The URL of `used_for` in `issuer`'s discovery document, found under `rules`.
    fn discover(issuer: &str, used_for: UrlUse, rules: Rules) -> Result<Self, String> {
        let url = Url::parse(issuer).map_err(|e| format!("issuer {issuer:?} is not a URL: {e}"))?;
        check_url(&url, rules.allow_http, used_for.issuer())?;
        let source = Source::Discover { issuer: issuer.to_owned() };
        Ok(Self { source, used_for, rules, discovered: ArcSwapOption::empty() })
    }

    /// The configured URL or issuer, for logs and keys.
    #[cfg(feature = "client")]
    pub(crate) fn describe(&self) -> String {
        match &self.source {
            Source::Url(u) => u.to_string(),
            Source::Discover { issuer } => format!("{issuer}#{}", self.used_for.field()),
        }
    }

    /// The URL in use: the configured one, or the last one discovered (if it works).
    pub(crate) fn current(&self) -> Option<Url> {
        match &self.source {
            Source::Url(u) => Some(u.clone()),
            Source::Discover { .. } => self.discovered.load_full().map(|u| (*u).clone()),
        }
    }

    /// The URL, discovering it when it is not known (first use, or after [`forget`](Self::forget)).
    pub(crate) async fn resolve(&self, client: &reqwest::Client, timeout: Duration) -> Result<Url, OutboundError> {
        let issuer = match &self.source {
            Source::Url(u) => return Ok(u.clone()),
            Source::Discover { issuer } => issuer,
        };
        if let Some(url) = self.discovered.load_full() {
            return Ok((*url).clone());
        }
        let url = discover(client, issuer, self.used_for, self.rules, timeout).await?;
        self.discovered.store(Some(Arc::new(url.clone())));
        Ok(url)
    }

    /// A call to the endpoint failed: a discovered URL is looked up again next time.
    pub(crate) fn forget(&self) {
        self.discovered.store(None);
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Source::Url(u) => f.debug_tuple("Url").field(&u.as_str()).finish(),
            Source::Discover { issuer } => f.debug_struct("Discovery").field("issuer", issuer).finish(),
        }
    }
}
