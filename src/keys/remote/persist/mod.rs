//! The last good key set, persisted so a service restarted while its identity provider
//! is down still verifies tokens (under the same `max_stale` rule as in memory).
//!
//! - `mod.rs`: [`KeySetStore`], and when [`RemoteJwks`](super::RemoteJwks) reads and
//!   writes it: written after each successful fetch (a `304` too, so its age stays
//!   right), read only when a fetch fails and no set is loaded (a fresh fetch always
//!   wins), each access bounded by [`STORE_TIMEOUT`];
//! - `record.rs`: the record's format, its binding to the JWKS source, its age;
//! - `file.rs`: [`FileKeySetStore`] (atomic writes, 0600);
//! - `redis.rs`: [`RedisKeySetStore`] (feature `redis`), for a fleet.
//!
//! Trust: the record's keys verify tokens. Whoever can write the file or the Redis key
//! can add a key and mint accepted tokens, exactly like whoever controls the JWKS URL.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::state::{Inner, Snapshot};
use crate::BoxFuture;

mod file;
mod record;
#[cfg(feature = "redis")]
mod redis;

pub use file::FileKeySetStore;
#[cfg(feature = "redis")]
pub use redis::RedisKeySetStore;

/// The longest a store may take to load or save a record; then it is ignored.
pub(crate) const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// Room for the record's own fields beside the JWK set, whose size `max_body` bounds.
const RECORD_OVERHEAD: usize = 16 * 1024;

/// What a store's `load` and `save` may fail with (I/O, Redis...). Logged, then ignored.
pub type KeySetStoreError = Box<dyn std::error::Error + Send + Sync>;

/// Where a [`RemoteJwks`](super::RemoteJwks) keeps its last good key set across
/// restarts: [`FileKeySetStore`], [`RedisKeySetStore`] (feature `redis`), or your own.
///
/// A store moves opaque bytes; the key store encodes the record (JWKS URL, issuer,
/// fetch time, the JWK set), checks its size, binding and age when reading it, and
/// parses its keys exactly as fetched keys. Each call is bounded to 2 s by the caller;
/// a failure or a timeout is logged and the record ignored, so a store can never stop
/// a fetched set from being used.
///
/// **Trust**: the record's keys verify tokens; protect the store like the JWKS URL.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use tower_bearer::BoxFuture;
/// use tower_bearer::keys::{KeySetStore, KeySetStoreError};
///
/// /// Keeps the record in memory (e.g. to hand it to another system).
/// #[derive(Default)]
/// struct InMemory(Arc<Mutex<Option<Vec<u8>>>>);
///
/// impl KeySetStore for InMemory {
///     fn load(&self, max_len: usize) -> BoxFuture<Result<Option<Vec<u8>>, KeySetStoreError>> {
///         let record = self.0.lock().unwrap().clone().filter(|r| r.len() <= max_len);
///         Box::pin(async move { Ok(record) })
///     }
///     fn save(&self, record: Vec<u8>, _useful_for: Duration) -> BoxFuture<Result<(), KeySetStoreError>> {
///         *self.0.lock().unwrap() = Some(record);
///         Box::pin(async { Ok(()) })
///     }
/// }
/// ```
pub trait KeySetStore: Send + Sync + 'static {
    /// The stored record, `None` if there is none. A record longer than `max_len` bytes
    /// must not be read whole: answer an error (or `None`).
    fn load(&self, max_len: usize) -> BoxFuture<Result<Option<Vec<u8>>, KeySetStoreError>>;

    /// Replaces the stored record. `useful_for` is how long it can serve at most (TTL +
    /// `max_stale`): a store with expiries may drop it after that.
    fn save(&self, record: Vec<u8>, useful_for: Duration) -> BoxFuture<Result<(), KeySetStoreError>>;
}

/// A configured store, as the builder holds it.
#[derive(Clone)]
pub(super) struct PersistTo(pub(super) Arc<dyn KeySetStore>);

impl std::fmt::Debug for PersistTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySetStore")
    }
}

/// The store in use, and the order of its writes.
pub(super) struct Persist {
    store: Arc<dyn KeySetStore>,
    /// Fetch time (ms) of the last record written: one write at a time, never an older
    /// set over a newer one.
    last_saved: Arc<tokio::sync::Mutex<u64>>,
}

impl Persist {
    pub(super) fn new(to: PersistTo) -> Self {
        Self { store: to.0, last_saved: Arc::default() }
    }
}

/// The wall clock in ms since the Unix epoch (0 for a clock set before 1970).
pub(super) fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Inner {
    fn max_record_len(&self) -> usize {
        self.opts.max_body.saturating_add(RECORD_OVERHEAD)
    }

    /// Writes `snap` in the background (the fetch's waiters do not wait for the store).
    pub(super) fn save_persisted(&self, snap: &Snapshot) {
        let (Some(persist), Some(document)) = (&self.persist, &snap.document) else { return };
        let Some(jwks_url) = self.endpoint.current() else { return };
        let record = record::encode(&record::Fields {
            jwks_url: jwks_url.as_str(),
            issuer: self.endpoint.discovered_from(),
            fetched_at_ms: snap.fetched_at_ms,
            ttl: snap.expires_at.saturating_duration_since(snap.loaded_at),
            document,
        });
        let record = match record {
            Ok(r) if r.len() <= self.max_record_len() => r,
            Ok(r) => return tracing::warn!(bytes = r.len(), "persisted key set: record too large, not written"),
            Err(e) => return tracing::warn!(error = %e, "persisted key set: could not encode the record"),
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let useful_for = snap.stale_until.saturating_duration_since(snap.loaded_at);
        let (store, last_saved, fetched_at) = (persist.store.clone(), persist.last_saved.clone(), snap.fetched_at_ms);
        runtime.spawn(async move {
            let mut last = last_saved.lock().await;
            if fetched_at < *last {
                return;
            }
            match tokio::time::timeout(STORE_TIMEOUT, store.save(record, useful_for)).await {
                Ok(Ok(())) => *last = fetched_at,
                Ok(Err(e)) => tracing::warn!(error = %e, "persisted key set: could not be written"),
                Err(_) => tracing::warn!("persisted key set: the store did not answer within 2 s; not written"),
            }
        });
    }

    /// The persisted set, if there is one for this source, readable, and young enough.
    pub(super) async fn load_persisted(&self) -> Option<Arc<Snapshot>> {
        let persist = self.persist.as_ref()?;
        let bytes = match tokio::time::timeout(STORE_TIMEOUT, persist.store.load(self.max_record_len())).await {
            Ok(Ok(Some(bytes))) => bytes,
            Ok(Ok(None)) => {
                tracing::debug!("no persisted key set");
                return None;
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "persisted key set: could not be read; ignored");
                return None;
            }
            Err(_) => {
                tracing::warn!("persisted key set: the store did not answer within 2 s; ignored");
                return None;
            }
        };
        match record::decode(&bytes, self) {
            Ok(snap) => {
                let age_secs = snap.loaded_before.as_secs();
                tracing::warn!(keys = snap.keys.len(), age_secs, "JWKS unreachable: serving the persisted key set");
                Some(Arc::new(snap))
            }
            Err(why) => {
                tracing::warn!(reason = %why, "persisted key set ignored");
                None
            }
        }
    }
}
