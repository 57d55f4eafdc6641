//! Shared token storage, so a fleet of instances uses one token per client and scope
//! set instead of each fetching its own.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::BoxFuture;

/// A token as kept in a shared store. Wall-clock expiry, so other processes can use it.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredToken {
    /// The access token.
    pub access_token: String,
    /// Expiry, in seconds since the Unix epoch.
    pub expires_at: u64,
    /// The RFC 7638 thumbprint of the DPoP key the token is bound to (its `cnf.jkt`);
    /// `None` for a Bearer token. An instance never takes a token bound to a key it
    /// does not hold. Entries stored without it read as Bearer tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
}

impl std::fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredToken")
            .field("access_token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("jkt", &self.jkt)
            .finish()
    }
}

/// Where [`ClientCredentials`](super::ClientCredentials) shares tokens between
/// instances. Failures are reported as `None`/`false`: the client then falls back to
/// fetching a token itself, so a store outage never blocks calls.
///
/// How the client uses it: it takes a stored token with time left; else it takes the
/// renewal lock (with a fresh random `owner` value and a TTL covering the whole
/// renewal, retries included), fetches, stores and unlocks; instances that find the
/// lock taken wait for the stored token, bounded by that TTL. When an API refuses a
/// token (`401 invalid_token`), the instance that saw it calls
/// [`remove_if`](Self::remove_if) with that token before fetching a new one, so the
/// fleet moves to the replacement instead of reusing the refused token until it expires.
pub trait TokenStore: Send + Sync + 'static {
    /// The token stored under `key`, if any.
    fn get(&self, key: &str) -> BoxFuture<Option<StoredToken>>;
    /// Stores `token` under `key` until it expires.
    fn put(&self, key: &str, token: StoredToken, ttl: Duration) -> BoxFuture<()>;
    /// Deletes the token under `key` only if it is still `access_token` (atomic
    /// compare-and-delete: a replacement another instance stored meanwhile stays).
    fn remove_if(&self, key: &str, access_token: &str) -> BoxFuture<()>;
    /// Takes the renewal lock for `key`, holding `owner`, for at most `ttl`; `true` if
    /// this caller got it.
    fn try_lock(&self, key: &str, owner: &str, ttl: Duration) -> BoxFuture<bool>;
    /// Releases the renewal lock only if it still holds `owner` (atomic
    /// compare-and-delete: once expired and taken by another instance, it stays theirs).
    fn unlock(&self, key: &str, owner: &str) -> BoxFuture<()>;
}

/// A Redis-backed [`TokenStore`] (feature `redis`). Tokens are JSON under
/// `<prefix><key>` with a `PX` expiry; the lock is `<prefix><key>:lock`, taken with
/// `SET NX PX`; compare-and-delete runs as a Lua script (`EVAL`), so it is atomic. An
/// entry larger than a token answer may be (64 KiB) is not read: the client fetches
/// its own token instead.
#[cfg(feature = "redis")]
#[derive(Clone)]
pub struct RedisStore {
    connection: redis::aio::ConnectionManager,
    prefix: String,
}

#[cfg(feature = "redis")]
impl RedisStore {
    /// Connects to `url` (e.g. `redis://127.0.0.1:6379`); keys start with `prefix`.
    /// Plain `redis://` is refused unless the host is loopback: use `rediss://` (the
    /// redis crate's TLS feature) or a unix socket, or [`from_connection`](Self::from_connection).
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, redis::RedisError> {
        let connection = redis::aio::ConnectionManager::new(super::redis_connect::open_client(url)?).await?;
        Ok(Self::from_connection(connection, prefix))
    }

    /// Uses a connection made by the application, without [`connect`](Self::connect)'s
    /// URL check: for plain `redis://` on a closed network.
    pub fn from_connection(connection: redis::aio::ConnectionManager, prefix: &str) -> Self {
        Self { connection, prefix: prefix.to_owned() }
    }
}

#[cfg(feature = "redis")]
impl TokenStore for RedisStore {
    fn get(&self, key: &str) -> BoxFuture<Option<StoredToken>> {
        let (mut c, key) = (self.connection.clone(), format!("{}{key}", self.prefix));
        Box::pin(async move {
            let raw: Option<String> = redis::cmd("EVAL")
                .arg(GET_IF_SMALL)
                .arg(1)
                .arg(&key)
                .arg(super::credentials::MAX_TOKEN_ANSWER)
                .query_async(&mut c)
                .await
                .ok()?;
            serde_json::from_str(&raw?).ok()
        })
    }

    fn put(&self, key: &str, token: StoredToken, ttl: Duration) -> BoxFuture<()> {
        let (mut c, key) = (self.connection.clone(), format!("{}{key}", self.prefix));
        Box::pin(async move {
            let Ok(json) = serde_json::to_string(&token) else { return };
            let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            let stored: Result<(), _> =
                redis::cmd("SET").arg(&key).arg(json).arg("PX").arg(ms).query_async(&mut c).await;
            if let Err(e) = stored {
                tracing::warn!(error = %e, "could not store the token in redis");
            }
        })
    }

    fn remove_if(&self, key: &str, access_token: &str) -> BoxFuture<()> {
        let (c, key) = (self.connection.clone(), format!("{}{key}", self.prefix));
        let access_token = access_token.to_owned();
        Box::pin(async move {
            if let Err(e) = compare_and_delete(c, REMOVE_IF_TOKEN, &key, &access_token).await {
                tracing::warn!(error = %e, "could not remove the refused token from redis");
            }
        })
    }

    fn try_lock(&self, key: &str, owner: &str, ttl: Duration) -> BoxFuture<bool> {
        let (mut c, key) = (self.connection.clone(), format!("{}{key}:lock", self.prefix));
        let owner = owner.to_owned();
        Box::pin(async move {
            let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            let taken: Result<Option<String>, _> =
                redis::cmd("SET").arg(&key).arg(owner).arg("NX").arg("PX").arg(ms).query_async(&mut c).await;
            matches!(taken, Ok(Some(_)))
        })
    }

    fn unlock(&self, key: &str, owner: &str) -> BoxFuture<()> {
        let (c, key) = (self.connection.clone(), format!("{}{key}:lock", self.prefix));
        let owner = owner.to_owned();
        Box::pin(async move {
            // On failure the lock expires by itself.
            if let Err(e) = compare_and_delete(c, UNLOCK_IF_OWNER, &key, &owner).await {
                tracing::debug!(error = %e, "could not release the renewal lock");
            }
        })
    }
}

/// `KEYS[1]` if it holds at most `ARGV[1]` bytes, else nothing: a polluted entry is
/// never sent to us whole. Also reads the persisted key set (`keys::RedisKeySetStore`).
#[cfg(feature = "redis")]
pub(crate) const GET_IF_SMALL: &str =
    "if redis.call('STRLEN', KEYS[1]) > tonumber(ARGV[1]) then return false end return redis.call('GET', KEYS[1])";

/// Deletes `KEYS[1]` if it holds `ARGV[1]`.
#[cfg(feature = "redis")]
const UNLOCK_IF_OWNER: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// Deletes `KEYS[1]` if it is a stored token whose `access_token` is `ARGV[1]`.
#[cfg(feature = "redis")]
const REMOVE_IF_TOKEN: &str = "local v = redis.call('GET', KEYS[1]) \
    if v then \
        local ok, t = pcall(cjson.decode, v) \
        if ok and type(t) == 'table' and t.access_token == ARGV[1] then return redis.call('DEL', KEYS[1]) end \
    end \
    return 0";

/// Runs one of the compare-and-delete scripts on `key` with `value`.
#[cfg(feature = "redis")]
async fn compare_and_delete(
    mut c: redis::aio::ConnectionManager,
    script: &str,
    key: &str,
    value: &str,
) -> redis::RedisResult<i64> {
    redis::cmd("EVAL").arg(script).arg(1).arg(key).arg(value).query_async(&mut c).await
}
