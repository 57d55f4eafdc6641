//! A remote JWK set: fetched over HTTPS, cached, refreshed, and kept through outages.
//!
//! State machine (per store, i.e. per issuer):
//!
//! ```text
//!  cold ──fetch ok──► fresh ──refresh_at──► refreshing ahead (served, one background fetch)
//!   │                  ▲                         │
//!   │                  └──────fetch ok───────────┘
//!   │                                            │ fetch fails / TTL passes
//!   ▼                                            ▼
//!  503 (no keys)                     stale: served up to `max_stale` past TTL,
//!                                    retries back off 1 s → cooldown; then 503
//! ```
//! Reads (`current`) are lock-free pointer loads: no lock, no I/O.
//!
//! - `builder.rs`: [`RemoteJwksBuilder`] and the options it checks;
//! - `state.rs`: the published state (snapshot, failure, status) and what reads it;
//! - `load.rs`: cold loads, unknown-`kid` refetches, and the fetch itself;
//! - `keep_warm.rs`: refresh ahead, from requests or from a timer task;
//! - `explain.rs`: one fetch reported key by key (`tower-bearer jwks`);
//! - `persist/`: the last good set kept across restarts (a file, Redis).

use std::sync::Arc;

use tokio::time::Instant;

use super::health::KeyHealth;
use super::key_set::KeySet;
use super::{KeyError, KeyStore, Refresh};
use crate::BoxFuture;

mod builder;
mod explain;
mod keep_warm;
mod load;
mod persist;
mod state;

pub use builder::RemoteJwksBuilder;
pub use explain::JwksReport;
pub use keep_warm::RefreshTask;
#[cfg(feature = "redis")]
pub use persist::RedisKeySetStore;
pub use persist::{FileKeySetStore, KeySetStore, KeySetStoreError};
use state::{Inner, Snapshot};

/// A JWK set fetched from a URL or found through discovery, cached and refreshed.
///
/// Defaults: TTL 10 min (or the server's `Cache-Control: max-age`, clamped to
/// [1 min, 24 h]), refresh ahead of expiry at a jittered 75–90 % of the TTL,
/// one unknown-`kid` refetch per 30 s, stale keys served up to 24 h past the TTL
/// during an outage, 5 s total / 2 s connect timeouts, 1 MiB body cap, no redirects,
/// HTTPS required except on loopback. Optionally the last good set is persisted (a
/// file, Redis) so a restart during an outage still verifies tokens:
/// [`RemoteJwksBuilder::persist`].
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_bearer::keys::RemoteJwks;
/// let keys = RemoteJwks::discover("https://login.example.com/realms/main")?;
/// keys.prefetch().await?; // optional: fail start-up if the IdP is unreachable
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RemoteJwks {
    inner: Arc<Inner>,
}

impl RemoteJwks {
    /// Whether `snap` may be used now; past its refresh time this also starts the
    /// background refresh.
    fn usable(&self, snap: &Snapshot) -> bool {
        let now = Instant::now();
        if now < snap.refresh_at {
            return true;
        }
        if now < snap.expires_at {
            // Refresh ahead: this request is served from the cache, one task refetches.
            self.inner.spawn_background();
            return true;
        }
        // Past the TTL: serve stale only while refreshes are known to fail.
        if self.inner.serving_stale(snap, now) {
            self.inner.spawn_background();
            return true;
        }
        false
    }
}

impl RemoteJwks {
    /// Loads keys now (e.g. at start-up, to fail fast when the IdP is unreachable).
    pub async fn prefetch(&self) -> Result<usize, KeyError> {
        self.refresh(Refresh::NoKeys).await.map(|k| k.len())
    }

    /// The cache's health, for readiness probes.
    pub fn health(&self) -> KeyHealth {
        self.inner.health()
    }
}

impl std::fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteJwks").field("source", &self.inner.endpoint).finish_non_exhaustive()
    }
}

impl KeyStore for RemoteJwks {
    fn current(&self) -> Option<Arc<KeySet>> {
        let guard = self.inner.snapshot.load();
        let snap = guard.as_ref().filter(|snap| self.usable(snap))?;
        Some(snap.keys.clone())
    }

    fn health(&self) -> Option<KeyHealth> {
        Some(self.inner.health())
    }

    fn is_current(&self, keys: &Arc<KeySet>) -> bool {
        let guard = self.inner.snapshot.load();
        guard.as_ref().is_some_and(|snap| Arc::ptr_eq(&snap.keys, keys) && self.usable(snap))
    }

    fn refresh(&self, why: Refresh<'_>) -> BoxFuture<Result<Arc<KeySet>, KeyError>> {
        let this = self.clone();
        match why {
            Refresh::NoKeys => Box::pin(async move { this.inner.load_cold(&this).await }),
            Refresh::UnknownKid(kid) => {
                let kid: Arc<str> = kid.into();
                Box::pin(async move { this.inner.load_for_kid(kid).await })
            }
        }
    }
}
