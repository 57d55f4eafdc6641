//! [`RedisKeySetStore`]: one record for a fleet, in Redis (feature `redis`).

use std::sync::Arc;
use std::time::Duration;

use super::{KeySetStore, KeySetStoreError, STORE_TIMEOUT};
use crate::BoxFuture;
use crate::client::{GET_IF_SMALL, connect_within};

/// A [`KeySetStore`] under one Redis key, shared by every instance of a service: an
/// instance started while the identity provider is down serves the set another one
/// fetched last.
///
/// The record is written with `SET key value PX (TTL + max_stale)`, and read only if
/// it is no longer than the limit (a Lua `STRLEN` check, so an oversized value is never
/// sent). Each call is bounded to 2 s; an error or a timeout leaves the record unused.
/// Use one key per issuer. Whoever can write the key can add verification keys:
/// protect it (ACLs, a dedicated database) like the JWKS URL itself.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_bearer::keys::{RedisKeySetStore, RemoteJwks};
/// let store = RedisKeySetStore::connect("redis://127.0.0.1:6379", "api:jwks:main").await?;
/// let keys = RemoteJwks::builder()
///     .discovery("https://login.example.com/realms/main")
///     .persist(store)
///     .build()?;
/// # let _ = keys; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisKeySetStore {
    connection: redis::aio::ConnectionManager,
    key: Arc<str>,
}

impl std::fmt::Debug for RedisKeySetStore {
    // No URL: it may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisKeySetStore").field("key", &self.key).finish_non_exhaustive()
    }
}

impl RedisKeySetStore {
    /// Connects to `url` (e.g. `redis://127.0.0.1:6379`), within 2 s; the record is
    /// kept under `key`. Plain `redis://` is refused unless the host is loopback: use
    /// `rediss://` (the redis crate's TLS feature) or a unix socket, or
    /// [`from_connection`](Self::from_connection).
    pub async fn connect(url: &str, key: &str) -> Result<Self, redis::RedisError> {
        Ok(Self::from_connection(connect_within(url, STORE_TIMEOUT).await?, key))
    }

    /// Uses a connection made by the application, without [`connect`](Self::connect)'s
    /// URL check: for plain `redis://` on a closed network.
    pub fn from_connection(connection: redis::aio::ConnectionManager, key: &str) -> Self {
        Self { connection, key: key.into() }
    }
}

impl KeySetStore for RedisKeySetStore {
    fn load(&self, max_len: usize) -> BoxFuture<Result<Option<Vec<u8>>, KeySetStoreError>> {
        let (mut c, key) = (self.connection.clone(), self.key.clone());
        Box::pin(async move {
            let record: Option<Vec<u8>> =
                redis::cmd("EVAL").arg(GET_IF_SMALL).arg(1).arg(&*key).arg(max_len).query_async(&mut c).await?;
            Ok(record)
        })
    }

    fn save(&self, record: Vec<u8>, useful_for: Duration) -> BoxFuture<Result<(), KeySetStoreError>> {
        let (mut c, key) = (self.connection.clone(), self.key.clone());
        Box::pin(async move {
            let ms = u64::try_from(useful_for.as_millis()).unwrap_or(u64::MAX).max(1);
            redis::cmd("SET").arg(&*key).arg(record).arg("PX").arg(ms).query_async::<()>(&mut c).await?;
            Ok(())
        })
    }
}
