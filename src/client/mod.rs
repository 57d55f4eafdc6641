//! Calling protected APIs (feature `client`): outgoing requests get tokens by themselves.
//!
//! A [`TokenSource`] hands out a valid access token: [`ClientCredentials`] fetches one
//! from a token endpoint (RFC 6749 §4.4), caches it until shortly before it expires,
//! renews it ahead of time in the background, shares one request among concurrent
//! callers, and retries transient failures with backoff; [`StaticToken`] holds a token
//! the application obtained elsewhere. [`AddTokenLayer`] puts the token on any `http`
//! client service (hyper, tonic channels) and [`AuthorizedClient`] on reqwest requests;
//! both drop the token and retry once when the API answers `401 invalid_token`.

mod credentials;
mod layer;
mod reqwest_client;
mod store;

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

pub use credentials::{ClientCredentials, ClientCredentialsBuilder, RetryPolicy};
pub use layer::BoxError;
pub use layer::{AddToken, AddTokenLayer};
/// The reqwest crate [`AuthorizedClient`] is built on: use it as
/// `tower_bearer::client::reqwest` so your clients and builders are the same version.
pub use reqwest;
pub use reqwest_client::{AuthorizedClient, AuthorizedRequest, CallError};
#[cfg(feature = "redis")]
pub use store::RedisStore;
pub use store::{StoredToken, TokenStore};

use crate::BoxFuture;
use crate::outbound::OutboundError;

/// An access token for outgoing requests. `Debug` never shows it.
#[derive(Clone)]
pub struct AccessToken {
    secret: Arc<str>,
    expires_at: Option<Instant>,
}

impl AccessToken {
    /// A token valid until `expires_at` (unknown: `None`).
    pub fn new(secret: impl Into<Arc<str>>, expires_at: Option<Instant>) -> Self {
        Self { secret: secret.into(), expires_at }
    }

    /// The token text, for the `Authorization` header.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// When it expires, if known.
    pub fn expires_at(&self) -> Option<Instant> {
        self.expires_at
    }

    /// `Bearer <token>` as a header value.
    pub(crate) fn header_value(&self) -> Result<http::HeaderValue, ClientError> {
        let mut v = http::HeaderValue::try_from(format!("Bearer {}", self.secret))
            .map_err(|_| ClientError::protocol(OutboundError::new("the access token is not a valid header value")))?;
        v.set_sensitive(true);
        Ok(v)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken").field("secret", &"[redacted]").field("expires_at", &self.expires_at).finish()
    }
}

impl PartialEq for AccessToken {
    fn eq(&self, other: &Self) -> bool {
        self.secret == other.secret
    }
}

/// Why no token could be had.
///
/// `Display` says what failed (never a secret or a token); `source()` leads to the
/// underlying error (reqwest, serde_json) when there is one.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientError {
    /// The authorization server refused (RFC 6749 §5.2): not retried.
    OAuth {
        /// `error`, e.g. `invalid_client`, `invalid_scope`.
        error: String,
        /// `error_description`.
        description: Option<String>,
        /// `error_uri`.
        uri: Option<String>,
    },
    /// The server could not be reached or kept failing (after retries): what failed.
    Unavailable(Arc<dyn Error + Send + Sync>),
    /// The answer did not follow the protocol: what was wrong with it.
    Protocol(Arc<dyn Error + Send + Sync>),
}

impl ClientError {
    pub(crate) fn unavailable(error: OutboundError) -> Self {
        Self::Unavailable(error.shared())
    }

    pub(crate) fn protocol(error: OutboundError) -> Self {
        Self::Protocol(error.shared())
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OAuth { error, description, .. } => {
                write!(f, "token request refused: {error}")?;
                if let Some(d) = description {
                    write!(f, " ({d})")?;
                }
                Ok(())
            }
            Self::Unavailable(why) => write!(f, "token endpoint unavailable: {why}"),
            Self::Protocol(why) => write!(f, "token endpoint answered badly: {why}"),
        }
    }
}

/// The inner error's message is part of this one's `Display`, so `source()` continues
/// with the inner error's cause.
impl Error for ClientError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::OAuth { .. } => None,
            Self::Unavailable(e) | Self::Protocol(e) => e.source(),
        }
    }
}

/// Something that hands out access tokens for outgoing requests.
pub trait TokenSource: Send + Sync + 'static {
    /// A token valid now (cached, or fetched).
    fn token(&self) -> BoxFuture<Result<AccessToken, ClientError>>;

    /// Forgets `token` (the API refused it), so the next call fetches a new one.
    fn invalidate(&self, token: &AccessToken);
}

/// A token obtained elsewhere, replaceable at run time. Cheap to clone; clones share it.
///
/// ```
/// use tower_bearer::client::{AccessToken, StaticToken};
/// let source = StaticToken::new(AccessToken::new("t0", None));
/// source.replace(AccessToken::new("t1", None));
/// ```
#[derive(Clone)]
pub struct StaticToken(Arc<arc_swap::ArcSwap<AccessToken>>);

impl StaticToken {
    /// Holds `token`.
    pub fn new(token: AccessToken) -> Self {
        Self(Arc::new(arc_swap::ArcSwap::from_pointee(token)))
    }

    /// Replaces the token (e.g. after the application refreshed it).
    pub fn replace(&self, token: AccessToken) {
        self.0.store(Arc::new(token));
    }
}

impl TokenSource for StaticToken {
    fn token(&self) -> BoxFuture<Result<AccessToken, ClientError>> {
        let token = (**self.0.load()).clone();
        Box::pin(std::future::ready(Ok(token)))
    }

    fn invalidate(&self, _: &AccessToken) {}
}

impl<T: TokenSource + ?Sized> TokenSource for Arc<T> {
    fn token(&self) -> BoxFuture<Result<AccessToken, ClientError>> {
        (**self).token()
    }

    fn invalidate(&self, token: &AccessToken) {
        (**self).invalidate(token)
    }
}

/// Whether a response is the API refusing the token itself (`401` with
/// `error="invalid_token"`, or a bare `401 Bearer` challenge).
pub(crate) fn token_refused(status: http::StatusCode, headers: &http::HeaderMap) -> bool {
    status == http::StatusCode::UNAUTHORIZED
        && headers.get_all(http::header::WWW_AUTHENTICATE).iter().any(|v| {
            let v = v.to_str().unwrap_or("").to_ascii_lowercase();
            v.starts_with("bearer") && (v.contains("invalid_token") || !v.contains("error="))
        })
}
