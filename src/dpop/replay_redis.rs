//! [`RedisReplayStore`]: one replay record for a whole fleet (features `dpop` and
//! `redis`).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use super::{ReplayCheck, ReplayKey, ReplayStore};
use crate::reject::Unavailable;

/// The longest a check may wait for Redis; then the request is answered `503`.
const TIMEOUT: Duration = Duration::from_secs(2);

/// `Retry-After` when Redis failed or was too slow.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A [`ReplayStore`] in Redis, shared by every instance that connects to it: a proof
/// accepted by one instance is refused by all the others.
///
/// A proof is recorded as `<prefix><hex of its ReplayKey>` with
/// `SET key 1 NX EXAT expires_at`: atomic, and Redis drops the record when the proof
/// could no longer be accepted anyway. If Redis answers with an error, or not within
/// 2 seconds, the request is answered `503` with `Retry-After: 1`: a proof is never
/// accepted unrecorded. Needs Redis 6.2 or later (`EXAT`).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_bearer::dpop::{Dpop, DpopMode, RedisReplayStore};
/// let store = RedisReplayStore::connect("redis://127.0.0.1:6379", "api:dpop:").await?;
/// let dpop = Dpop::builder(DpopMode::Required)
///     .public_url("https://api.example.com")
///     .replay_store(store)
///     .build()?;
/// # let _ = dpop; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisReplayStore {
    connection: redis::aio::ConnectionManager,
    prefix: Arc<str>,
}

impl std::fmt::Debug for RedisReplayStore {
    // No URL: it may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisReplayStore").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl RedisReplayStore {
    /// Connects to `url` (e.g. `redis://127.0.0.1:6379`); records start with `prefix`.
    /// Plain `redis://` is refused unless the host is loopback: use `rediss://` (the
    /// redis crate's TLS feature) or a unix socket, or [`from_connection`](Self::from_connection).
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, redis::RedisError> {
        let connection = redis::aio::ConnectionManager::new(crate::client::open_client(url)?).await?;
        Ok(Self::from_connection(connection, prefix))
    }

    /// Uses a connection made by the application, without [`connect`](Self::connect)'s
    /// URL check: for plain `redis://` on a closed network.
    pub fn from_connection(connection: redis::aio::ConnectionManager, prefix: &str) -> Self {
        Self { connection, prefix: prefix.into() }
    }
}

impl ReplayStore for RedisReplayStore {
    fn first_use(&self, key: ReplayKey, expires_at: u64) -> ReplayCheck {
        let mut record = String::with_capacity(self.prefix.len() + 64);
        record.push_str(&self.prefix);
        for byte in key.as_bytes() {
            let _ = write!(record, "{byte:02x}");
        }
        let mut connection = self.connection.clone();
        ReplayCheck::Pending(Box::pin(async move {
            // `EXAT 0` is refused by Redis; 1 is as long past.
            let mut set = redis::cmd("SET");
            set.arg(&record).arg(1).arg("NX").arg("EXAT").arg(expires_at.max(1));
            let answer = tokio::time::timeout(TIMEOUT, set.query_async::<Option<String>>(&mut connection)).await;
            match answer {
                Ok(Ok(Some(_))) => Ok(true),
                Ok(Ok(None)) => Ok(false),
                Ok(Err(e)) => Err(Unavailable::caused_by(RETRY_AFTER, Arc::new(ReplayStoreError(e)))),
                Err(_) => Err(Unavailable::new(RETRY_AFTER, "the DPoP replay store (redis) did not answer within 2 s")),
            }
        }))
    }
}

/// A Redis error, named as the replay store's.
#[derive(Debug)]
struct ReplayStoreError(redis::RedisError);

impl std::fmt::Display for ReplayStoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the DPoP replay store (redis) failed: {}", self.0)
    }
}

impl std::error::Error for ReplayStoreError {}
