//! [`RemoteJwks::explain`]: one fetch, reported (where from, caching headers, each key),
//! through the store's own endpoint, rules and parser, leaving its cache alone.

use std::time::Duration;

use reqwest::header::{AGE, CACHE_CONTROL, CONTENT_TYPE, ETAG, EXPIRES, LAST_MODIFIED};

use super::RemoteJwks;
use super::load::JWKS_ACCEPT;
use crate::keys::KeyError;
use crate::keys::jwk::{JudgedJwks, Origin, judge_set};
use crate::outbound::{self, Fetched, OutboundError};

/// What one fetch of a remote JWK set found: see [`RemoteJwks::explain`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JwksReport {
    /// The JWKS URL fetched (configured, or found through discovery), without a password.
    pub url: String,
    /// The answer's caching headers that were present, in this order: `Cache-Control`,
    /// `ETag`, `Last-Modified`, `Age`, `Expires`, `Content-Type`.
    pub headers: Vec<(&'static str, String)>,
    /// The `max-age` the store reads from `Cache-Control` (`no-store`/`no-cache` as zero).
    pub max_age: Option<Duration>,
    /// The TTL the store would give this set: `max-age` clamped to its bounds, or its
    /// default TTL.
    pub ttl: Duration,
    /// Each key, usable or skipped with the reason.
    pub keys: JudgedJwks,
}

impl RemoteJwks {
    /// Fetches the key set once, exactly as the store does (discovery, HTTPS except
    /// loopback, no redirects, timeouts, body cap, the same JWK parser), and reports
    /// which keys are usable and which are skipped and why, the caching headers and
    /// the TTL. The store's cache is not changed. An error is what a fetch by the
    /// store would have failed with.
    pub async fn explain(&self) -> Result<JwksReport, KeyError> {
        let inner = &self.inner;
        let o = &inner.opts;
        let failed = |e: OutboundError| KeyError::unavailable(Duration::from_secs(1), e);
        let url = inner.endpoint.resolve(&inner.client, o.timeout).await.map_err(failed)?;
        let (fetched, answer) =
            outbound::get(&inner.client, &url, JWKS_ACCEPT, None, o.max_body, o.timeout).await.map_err(failed)?;
        let shown = outbound::shown(&url).to_string();
        let (body, max_age) = match fetched {
            Fetched::Body { body, max_age, .. } => (body, max_age),
            // Only an `If-None-Match` can get a 304, and none was sent.
            Fetched::NotModified { .. } => {
                return Err(failed(OutboundError::new(format!("JWKS at {shown}: 304 to an unconditional GET"))));
            }
        };
        let keys = judge_set(&body, Origin::Remote, o.max_keys)
            .map_err(|e| failed(OutboundError::new(format!("JWKS at {shown}: {e}"))))?;
        let headers = [
            ("Cache-Control", CACHE_CONTROL),
            ("ETag", ETAG),
            ("Last-Modified", LAST_MODIFIED),
            ("Age", AGE),
            ("Expires", EXPIRES),
            ("Content-Type", CONTENT_TYPE),
        ]
        .into_iter()
        .filter_map(|(name, header)| {
            let value = answer.get(header)?;
            Some((name, String::from_utf8_lossy(value.as_bytes()).into_owned()))
        })
        .collect();
        Ok(JwksReport { url: shown, headers, max_age, ttl: o.ttl_for(max_age), keys })
    }
}
