//! Calling protected APIs (feature `client`): outgoing requests get tokens by themselves.
//!
//! A [`TokenSource`] hands out a valid access token: [`ClientCredentials`] fetches one
//! from a token endpoint (RFC 6749 §4.4), caches it until shortly before it expires,
//! renews it ahead of time in the background, shares one request among concurrent
//! callers, and retries transient failures with backoff; [`StaticToken`] holds a token
//! the application obtained elsewhere. [`AddTokenLayer`] puts the token on any `http`
//! client service (hyper, tonic channels) and [`AuthorizedClient`] on reqwest requests;
//! both drop the token and retry once when the API answers `401 invalid_token`.
//!
//! # DPoP (RFC 9449)
//!
//! With [`ClientCredentialsBuilder::dpop`] the token request carries a proof of a key
//! the client holds, and the authorization server binds the token to it (`token_type`
//! `DPoP`). Such a token is useless without the key: [`AddTokenLayer`] and
//! [`AuthorizedClient`] send it as `Authorization: DPoP <token>` with a fresh `DPoP`
//! proof per request, naming the method, the URL (scheme, authority and path) and the
//! token's hash. Nonces (RFC 9449 §8, §9) are handled on both sides: a server that
//! answers `use_dpop_nonce` with a `DPoP-Nonce` gets the request once more with a proof
//! carrying it, and the latest nonce of each server is used from then on. A token
//! obtained elsewhere is bound with [`AccessToken::dpop_bound`].
//!
//! # Certificate-bound tokens (RFC 8705)
//!
//! They need nothing here: give [`ClientCredentialsBuilder::http_client`] and
//! [`AuthorizedClient::new`] a reqwest client with the client certificate
//! (`reqwest::Client::builder().identity(reqwest::Identity::from_pem(&pem)?)`); the
//! authorization server binds the token to the certificate of the TLS connection, and
//! the API checks the same certificate.

mod challenge;
mod credentials;
mod dpop;
mod layer;
#[cfg(feature = "redis")]
mod redis_connect;
mod reqwest_client;
mod store;

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

pub use credentials::{ClientCredentials, ClientCredentialsBuilder, RetryPolicy};
pub use layer::BoxError;
pub use layer::{AddToken, AddTokenLayer};
#[cfg(feature = "redis")]
pub(crate) use redis_connect::connect_within;
#[cfg(all(feature = "redis", feature = "dpop"))]
pub(crate) use redis_connect::open_client;
/// The reqwest crate [`AuthorizedClient`] is built on: use it as
/// `tower_bearer::client::reqwest` so your clients and builders are the same version.
pub use reqwest;
pub use reqwest_client::{AuthorizedClient, AuthorizedRequest, CallError};
#[cfg(feature = "redis")]
pub(crate) use store::GET_IF_SMALL;
#[cfg(feature = "redis")]
pub use store::RedisStore;
pub use store::{StoredToken, TokenStore};

use crate::BoxFuture;
use crate::outbound::OutboundError;
use crate::signing::DpopKey;

/// An access token for outgoing requests: a `Bearer` token, or one bound to a DPoP
/// key (sent with a proof signed by that key). `Debug` never shows the token.
///
/// ```
/// use tower_bearer::Algorithm;
/// use tower_bearer::client::AccessToken;
/// use tower_bearer::signing::DpopKey;
///
/// let key = DpopKey::generate(Algorithm::ES256).unwrap();
/// let token = AccessToken::new("eyJ...", None).dpop_bound(key);
/// assert_eq!(token.token_type(), "DPoP");
/// assert!(!format!("{token:?}").contains("eyJ"));
/// ```
#[derive(Clone)]
pub struct AccessToken {
    secret: Arc<str>,
    expires_at: Option<Instant>,
    dpop: Option<Arc<DpopKey>>,
}

impl AccessToken {
    /// A `Bearer` token valid until `expires_at` (unknown: `None`).
    pub fn new(secret: impl Into<Arc<str>>, expires_at: Option<Instant>) -> Self {
        Self { secret: secret.into(), expires_at, dpop: None }
    }

    /// The same token, bound to `key` (its `cnf.jkt` is the key's thumbprint): sent as
    /// `Authorization: DPoP` with a proof signed by `key` on every request.
    pub fn dpop_bound(mut self, key: impl Into<Arc<DpopKey>>) -> Self {
        self.dpop = Some(key.into());
        self
    }

    /// The key the token is bound to, if it is a DPoP token.
    pub fn dpop_key(&self) -> Option<&DpopKey> {
        self.dpop.as_deref()
    }

    /// `Bearer`, or `DPoP` for a token bound to a key: the `Authorization` scheme.
    pub fn token_type(&self) -> &'static str {
        if self.dpop.is_some() { "DPoP" } else { "Bearer" }
    }

    /// The token text, for the `Authorization` header.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// When it expires, if known.
    pub fn expires_at(&self) -> Option<Instant> {
        self.expires_at
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token_type", &self.token_type())
            .field("secret", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("jkt", &self.dpop.as_ref().map(|k| k.thumbprint()))
            .finish()
    }
}

impl PartialEq for AccessToken {
    fn eq(&self, other: &Self) -> bool {
        self.secret == other.secret
    }
}

/// Why no token could be had (or put on a request).
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
    /// No DPoP proof could be made for a request: its URI names no scheme and
    /// authority (a request inside a tonic `Channel`, see
    /// [`AddTokenLayer`]), or signing failed.
    Proof(Arc<dyn Error + Send + Sync>),
}

impl ClientError {
    pub(crate) fn unavailable(error: OutboundError) -> Self {
        Self::Unavailable(error.shared())
    }

    pub(crate) fn protocol(error: OutboundError) -> Self {
        Self::Protocol(error.shared())
    }

    pub(crate) fn proof(error: OutboundError) -> Self {
        Self::Proof(error.shared())
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
            Self::Proof(why) => write!(f, "DPoP proof: {why}"),
        }
    }
}

/// The inner error's message is part of this one's `Display`, so `source()` continues
/// with the inner error's cause.
impl Error for ClientError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::OAuth { .. } => None,
            Self::Unavailable(e) | Self::Protocol(e) | Self::Proof(e) => e.source(),
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
