//! Shared token storage, so a fleet of instances uses one token per client and scope
//! set instead of each fetching its own.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::keys::BoxFuture;

/// A token as kept in a shared store. Wall-clock expiry, so other processes can use it.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredToken {
    /// The access token.
    pub access_token: String,
    /// Expiry, in seconds since the Unix epoch.
    pub expires_at: u64,
}

impl std::fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredToken")
            .field("access_token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Where [`ClientCredentials`](super::ClientCredentials) shares tokens between
/// instances. Failures are reported as `None`/`false`: the client then falls back to
/// fetching a token itself, so a store outage never blocks calls.
pub trait TokenStore: Send + Sync + 'static {
    /// The token stored under `key`, if any.
    fn get(&self, key: &str) -> BoxFuture<Option<StoredToken>>;
    /// Stores `token` under `key` until it expires.
    fn put(&self, key: &str, token: StoredToken, ttl: Duration) -> BoxFuture<()>;
    /// Takes the renewal lock for `key` for at most `ttl`; `true` if this instance got it.
    fn try_lock(&self, key: &str, ttl: Duration) -> BoxFuture<bool>;
    /// Releases the renewal lock.
    fn unlock(&self, key: &str) -> BoxFuture<()>;
}

/// A Redis-backed [`TokenStore`] (feature `redis`).
#[cfg(feature = "redis")]
#[derive(Clone)]
pub struct RedisStore {
    connection: redis::aio::ConnectionManager,
    prefix: String,
}

#[cfg(feature = "redis")]
impl RedisStore {
    /// Connects to `url` (e.g. `redis://127.0.0.1:6379`); keys start with `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, crate::ConfigError> {
        let client = redis::Client::open(url).map_err(|e| crate::ConfigError::new(format!("redis: {e}")))?;
        let connection = redis::aio::ConnectionManager::new(client)
            .await
            .map_err(|e| crate::ConfigError::new(format!("redis: {e}")))?;
        Ok(Self { connection, prefix: prefix.to_owned() })
    }
}

#[cfg(feature = "redis")]
impl TokenStore for RedisStore {
    fn get(&self, key: &str) -> BoxFuture<Option<StoredToken>> {
        let (mut c, key) = (self.connection.clone(), format!("{}{key}", self.prefix));
        Box::pin(async move {
            let raw: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut c).await.ok()?;
            serde_json::from_str(&raw?).ok()
        })
    }

    fn put(&self, key: &str, token: StoredToken, ttl: Duration) -> BoxFuture<()> {
        let (mut c, key) = (self.connection.clone(), format!("{}{key}", self.prefix));
        Box::pin(async move {
            let Ok(json) = serde_json::to_string(&token) else { return };
            let ms = ttl.as_millis().max(1) as u64;
            let stored: Result<(), _> =
                redis::cmd("SET").arg(&key).arg(json).arg("PX").arg(ms).query_async(&mut c).await;
            if let Err(e) = stored {
                tracing::warn!(error = %e, "could not store the token in redis");
            }
        })
    }

    fn try_lock(&self, key: &str, ttl: Duration) -> BoxFuture<bool> {
        let (mut c, key) = (self.connection.clone(), format!("{}{key}:lock", self.prefix));
        Box::pin(async move {
            let ms = ttl.as_millis().max(1) as u64;
            let taken: Result<Option<String>, _> =
                redis::cmd("SET").arg(&key).arg("1").arg("NX").arg("PX").arg(ms).query_async(&mut c).await;
            matches!(taken, Ok(Some(_)))
        })
    }

    fn unlock(&self, key: &str) -> BoxFuture<()> {
        let (mut c, key) = (self.connection.clone(), format!("{}{key}:lock", self.prefix));
        Box::pin(async move {
            let _: Result<(), _> = redis::cmd("DEL").arg(&key).query_async(&mut c).await;
        })
    }
}
