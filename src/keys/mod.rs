//! Where verification keys come from.
//!
//! A [`KeyStore`] hands the verifier a [`KeySet`] without I/O whenever it can
//! ([`KeyStore::current`], lock-free), and loads or refreshes one only when needed
//! ([`KeyStore::refresh`]). Two stores ship with the crate:
//!
//! - [`StaticKeys`]: PEM, JWK or JWK set given by the application, and the only
//!   place an HMAC secret (HS*) can come from;
//! - [`RemoteJwks`] (feature `remote`): a JWKS URL or OIDC/RFC 8414 discovery, cached,
//!   refreshed ahead of expiry, rate-limited on unknown `kid`s, single-flight, and
//!   serving the last good keys through an outage, optionally across restarts
//!   ([`KeySetStore`]: [`FileKeySetStore`], `RedisKeySetStore`).

use std::sync::Arc;
use std::time::Duration;

use crate::BoxFuture;

pub(crate) mod jwk;
mod key_set;
#[cfg(feature = "aws-lc-rs")]
mod parsed;
mod static_keys;
#[cfg(any(feature = "dpop", feature = "testing", feature = "issuer", feature = "client"))]
mod thumbprint;

mod health;
#[cfg(feature = "remote")]
mod readiness;
#[cfg(feature = "remote")]
mod remote;
mod rsa;

#[cfg(all(feature = "aws-lc-rs", any(feature = "testing", feature = "issuer", feature = "client")))]
pub(crate) use rsa::der_element;

pub use jwk::{DEFAULT_MAX_KEYS, JudgedJwk, JudgedJwks};
pub(crate) use key_set::Selection;
pub use key_set::{AlgorithmSet, InvalidJwks, KeySet, VerificationKey};
pub use static_keys::StaticKeys;
#[cfg(any(feature = "dpop", feature = "testing", feature = "issuer", feature = "client"))]
pub(crate) use thumbprint::thumbprint;

pub use health::{KeyHealth, KeySetSource, KeyState};
#[cfg(feature = "tonic-health")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic-health")))]
pub use readiness::HealthTask;
#[cfg(feature = "remote")]
pub use readiness::{IssuerReadiness, Readiness, ReadinessReport};
#[cfg(feature = "redis")]
pub use remote::RedisKeySetStore;
#[cfg(feature = "remote")]
pub use remote::{
    FileKeySetStore, JwksReport, KeySetStore, KeySetStoreError, RefreshTask, RemoteJwks, RemoteJwksBuilder,
};

/// Why the verifier asks a store for keys it does not have at hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh<'a> {
    /// [`KeyStore::current`] returned nothing: load keys (waiting on any load
    /// already in flight).
    NoKeys,
    /// A signature-checked-later token names a `kid` that the current set lacks. A store
    /// should refetch at most once per cooldown and answer inside it at once.
    UnknownKid(&'a str),
}

/// Why a store could not provide keys.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum KeyError {
    /// The `kid` is not (and, for now, will not be looked up again) in the set: `401`.
    UnknownKid,
    /// No usable keys at all, e.g. the JWKS endpoint is down and nothing is cached:
    /// `503` with `Retry-After`. Build it with [`KeyError::unavailable`].
    #[non_exhaustive]
    Unavailable {
        /// When a retry might succeed.
        retry_after: Duration,
        /// What went wrong: its `Display` is the reason (for logs), its `source()` the
        /// underlying error (reqwest, serde_json...) when there is one.
        cause: Arc<dyn std::error::Error + Send + Sync>,
    },
}

impl KeyError {
    /// No usable keys because of `cause` (a message or an error); retry after `retry_after`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_bearer::keys::KeyError;
    /// let e = KeyError::unavailable(Duration::from_secs(5), "the key vault is sealed");
    /// assert_eq!(e.to_string(), "keys unavailable (retry in 5s): the key vault is sealed");
    /// ```
    pub fn unavailable(retry_after: Duration, cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Unavailable { retry_after, cause: Arc::from(cause.into()) }
    }
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownKid => f.write_str("no key with this kid"),
            Self::Unavailable { cause, retry_after } => {
                write!(f, "keys unavailable (retry in {}s): {cause}", retry_after.as_secs())
            }
        }
    }
}

/// The cause's own message is part of this error's `Display`, so `source()` continues
/// with the cause's cause.
impl std::error::Error for KeyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::UnknownKid => None,
            Self::Unavailable { cause, .. } => cause.source(),
        }
    }
}

/// A source of verification keys for one issuer.
///
/// Implementations must be cheap on [`current`](Self::current): it runs on every
/// request and should take no lock and do no I/O.
///
/// ```
/// use std::sync::Arc;
/// use tower_bearer::BoxFuture;
/// use tower_bearer::keys::{KeyError, KeySet, KeyStore, Refresh};
///
/// /// Keys that an application swaps itself, e.g. from a config watcher.
/// struct MyKeys(Arc<KeySet>);
///
/// impl KeyStore for MyKeys {
///     fn current(&self) -> Option<Arc<KeySet>> {
///         Some(self.0.clone())
///     }
///     fn refresh(&self, _why: Refresh<'_>) -> BoxFuture<Result<Arc<KeySet>, KeyError>> {
///         let keys = self.0.clone();
///         Box::pin(async move { Ok(keys) })
///     }
/// }
/// ```
pub trait KeyStore: Send + Sync + 'static {
    /// The keys to use now, without I/O; `None` when none are loaded (or they are
    /// too old to use), in which case the verifier calls [`refresh`](Self::refresh).
    fn current(&self) -> Option<Arc<KeySet>>;

    /// Loads keys. Called on a cold cache and on an unknown `kid`.
    fn refresh(&self, why: Refresh<'_>) -> BoxFuture<Result<Arc<KeySet>, KeyError>>;

    /// Whether [`refresh`](Self::refresh) can ever find a key that
    /// [`current`](Self::current) lacks. A fixed store says no, so an unknown `kid`
    /// is refused at once, without a future.
    fn refreshes(&self) -> bool {
        true
    }

    /// Whether `keys`, a set this store returned before, is still the set
    /// [`current`](Self::current) would return. The verified-token cache asks this on
    /// every hit, so stores that keep their set behind a pointer should answer by
    /// comparing pointers, without taking a new reference to the set each time.
    ///
    /// Answer `true` only when `current` would return this very set now: a `true` for
    /// a replaced or expired set keeps tokens verified by its keys accepted.
    fn is_current(&self, keys: &Arc<KeySet>) -> bool {
        self.current().is_some_and(|now| Arc::ptr_eq(&now, keys))
    }

    /// The store's health, for readiness probes ([`Readiness`]):
    /// [`RemoteJwks`] reports its cache; `None` (the default) means a store whose keys
    /// are always at hand, such as [`StaticKeys`]. A store wrapping a [`RemoteJwks`]
    /// forwards this, or readiness counts it as always usable.
    fn health(&self) -> Option<KeyHealth> {
        None
    }
}

impl<K: KeyStore + ?Sized> KeyStore for Arc<K> {
    fn current(&self) -> Option<Arc<KeySet>> {
        (**self).current()
    }

    fn refresh(&self, why: Refresh<'_>) -> BoxFuture<Result<Arc<KeySet>, KeyError>> {
        (**self).refresh(why)
    }

    fn refreshes(&self) -> bool {
        (**self).refreshes()
    }

    fn is_current(&self, keys: &Arc<KeySet>) -> bool {
        (**self).is_current(keys)
    }

    fn health(&self) -> Option<KeyHealth> {
        (**self).health()
    }
}
