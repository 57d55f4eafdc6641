//! The client credentials grant (RFC 6749 §4.4): a token cached until shortly before
//! it expires and renewed ahead of time, one request shared by concurrent callers.
//!
//! - `builder.rs`: [`ClientCredentialsBuilder`] and what it checks;
//! - `request.rs`: one token request and its answer;
//! - `retry.rs`: [`RetryPolicy`] and the retry loop around the request;
//! - `shared.rs`: sharing one token across a fleet through a [`TokenStore`].

mod builder;
mod request;
mod retry;
mod shared;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;

pub use builder::ClientCredentialsBuilder;
pub use retry::RetryPolicy;

use super::{AccessToken, ClientError, TokenSource, TokenStore};
use crate::BoxFuture;
use crate::outbound::{ClientAuth, Endpoint};
use crate::signing::DpopKey;
use crate::single_flight::{Flight, SingleFlight};

/// Tokens from a token endpoint with the client credentials grant. Cheap to clone;
/// clones share the cached token. When the server also issues a refresh token, renewals
/// use it (RFC 6749 §6), falling back to the client's credentials if it is refused.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_bearer::ClientAuth;
/// use tower_bearer::client::{ClientCredentials, TokenSource};
/// let source = ClientCredentials::builder()
///     .discover("https://sso.example.com/realms/main")  // finds `token_endpoint`
///     .client_auth(ClientAuth::basic("billing", "s3cret"))
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
    endpoint: Endpoint,
    client: reqwest::Client,
    auth: ClientAuth,
    /// The client id of `auth`, for logs.
    client_id: String,
    scope: Option<String>,
    audience: Option<String>,
    resource: Option<String>,
    skew: Duration,
    default_lifetime: Duration,
    retry: RetryPolicy,
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
    last_refusal: std::sync::Mutex<Option<Instant>>,
    /// The key token requests prove (RFC 9449 §5), when DPoP is asked for.
    dpop: Option<Arc<DpopKey>>,
    /// The authorization server's latest `DPoP-Nonce` (RFC 9449 §8).
    nonce: ArcSwapOption<String>,
    metrics: crate::metrics::ClientMetrics,
}

/// At most one renewal per this interval is driven by APIs refusing tokens: an API that
/// refuses every token (a missing audience mapper, a key rotation it has not picked up
/// yet) must not turn each call into a token request, for this instance or the fleet.
const REFUSAL_RENEWAL_INTERVAL: Duration = Duration::from_secs(10);

/// Longest lifetime a token is trusted for, whatever the server says: renewing a
/// longer-lived token once a day costs little, and `Instant` arithmetic stays in range.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Token answers are small; 64 KiB is generous. A stored token is held to the same cap.
pub(crate) const MAX_TOKEN_ANSWER: usize = 64 * 1024;

struct Cached {
    token: AccessToken,
    usable_until: Instant,
    renew_at: Instant,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.inner.client_id)
            .field("client_secret", &"[redacted]")
            .field("scope", &self.inner.scope)
            .field("dpop", &self.inner.dpop.as_ref().map(|k| k.thumbprint()))
            .finish_non_exhaustive()
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
                    inner.metrics.renewals.increment();
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
            let now = Instant::now();
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

impl Inner {
    /// Joins the request in flight or starts one; every caller gets its result.
    fn fetch(this: &Arc<Self>) -> Flight<Result<AccessToken, ClientError>> {
        let me = this.clone();
        this.flight.join_or_start(
            move || async move {
                let result = me.fetch_shared().await;
                me.renewing.store(false, Ordering::Release);
                result
            },
            |e| Err(ClientError::unavailable(crate::outbound::OutboundError::new(format!("token task: {e}")))),
        )
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
}

/// `now + d`, for durations clamped to [`MAX_LIFETIME`]; checked all the same (an
/// `Instant` cannot represent every sum), and "now" if it ever overflowed.
fn later(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d.min(MAX_LIFETIME)).unwrap_or(now)
}

/// Seconds since the epoch, for stored expiries and JWT `exp`.
fn unix_now() -> u64 {
    use crate::verify::Clock as _;
    crate::verify::SystemClock.now()
}
