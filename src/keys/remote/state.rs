//! The store's state, published for lock-free reads on the request path, and what
//! reads it: the stale window, the `503` answer, the health report.
//!
//! One source of truth per fact: the key set in `snapshot`, the failure (since when,
//! next retry, why) in `failing`, both swapped whole; the last fetch attempt, read and
//! written only off the hot path, in `status`; the JWKS URL (configured, or discovered
//! and forgotten after a failure) in `endpoint`.

use std::error::Error;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use tokio::time::Instant;

use super::builder::Options;
use super::persist::Persist;
use crate::error_chain::error_chain;
use crate::keys::KeyError;
use crate::keys::health::{KeyHealth, KeySetSource, KeyState};
use crate::keys::key_set::KeySet;
use crate::metrics::JwksMetrics;
use crate::outbound::Endpoint;
use crate::single_flight::{Flight, SingleFlight};

pub(super) struct Inner {
    pub(super) endpoint: Endpoint,
    pub(super) client: reqwest::Client,
    pub(super) opts: Options,
    /// The last good set; swapped whole, read without locks.
    pub(super) snapshot: ArcSwapOption<Snapshot>,
    /// Set while refreshes fail (`None` once one succeeds); swapped whole, read without locks.
    pub(super) failing: ArcSwapOption<Failing>,
    /// The fetch in flight, shared by every waiter.
    pub(super) inflight: SingleFlight<Result<Arc<Snapshot>, KeyError>>,
    /// Set while a background refresh-ahead task runs, so requests spawn at most one.
    pub(super) refreshing: AtomicBool,
    /// Also serializes the writers of `failing`.
    pub(super) status: Mutex<Status>,
    pub(super) negative: moka::sync::Cache<Arc<str>, ()>,
    pub(super) counters: Counters,
    pub(super) metrics: JwksMetrics,
    /// Where the last good set is written and read at start, if configured.
    pub(super) persist: Option<Persist>,
}

pub(super) type SharedFetch = Flight<Result<Arc<Snapshot>, KeyError>>;

pub(super) struct Snapshot {
    pub(super) keys: Arc<KeySet>,
    pub(super) loaded_at: Instant,
    /// How old the set already was at `loaded_at` (a persisted set's age at start).
    pub(super) loaded_before: Duration,
    pub(super) refresh_at: Instant,
    pub(super) expires_at: Instant,
    /// The end of the stale window: `expires_at + max_stale` for a fetched set, counted
    /// from the original fetch for a persisted one.
    pub(super) stale_until: Instant,
    pub(super) etag: Option<String>,
    pub(super) source: KeySetSource,
    /// Wall-clock time of the fetch that produced the set, in ms since the Unix epoch.
    pub(super) fetched_at_ms: u64,
    /// The document as fetched, kept only when the set is persisted (a `304` writes it again).
    pub(super) document: Option<bytes::Bytes>,
}

/// Refreshes are failing: since when, when the next try is due, and why.
pub(super) struct Failing {
    pub(super) since: Instant,
    pub(super) next_retry: Instant,
    pub(super) backoff: Duration,
    pub(super) last_error: Arc<dyn Error + Send + Sync>,
}

#[derive(Default)]
pub(super) struct Status {
    pub(super) last_attempt: Option<Instant>,
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) ok: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) unknown_kid_refetches: AtomicU64,
    pub(super) unknown_kid_rejected: AtomicU64,
}

impl Inner {
    pub(super) fn status(&self) -> MutexGuard<'_, Status> {
        // A poisoned lock only means a panic elsewhere mid-update of plain data; the
        // data is still consistent enough to read, so recover instead of panicking.
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn serving_stale(&self, snap: &Snapshot, now: Instant) -> bool {
        self.failing.load().is_some() && now < snap.stale_until
    }

    pub(super) fn usable_stale(&self) -> Option<Arc<KeySet>> {
        let guard = self.snapshot.load();
        let snap = guard.as_ref()?;
        (Instant::now() < snap.stale_until).then(|| snap.keys.clone())
    }

    pub(super) fn unavailable(&self, cause: Arc<dyn Error + Send + Sync>) -> KeyError {
        let now = Instant::now();
        let failing = self.failing.load();
        let retry_after =
            failing.as_ref().map_or(Duration::from_secs(1), |f| f.next_retry.saturating_duration_since(now));
        KeyError::Unavailable { retry_after: retry_after.max(Duration::from_secs(1)), cause }
    }

    pub(super) fn health(&self) -> KeyHealth {
        let now = Instant::now();
        let guard = self.snapshot.load();
        let st = self.status();
        let failing = self.failing.load();
        let state = match guard.as_ref() {
            None => KeyState::NeverLoaded,
            Some(s) if now < s.expires_at => KeyState::Fresh,
            Some(s) if now < s.stale_until => KeyState::Stale,
            Some(_) => KeyState::Expired,
        };
        KeyHealth {
            state,
            key_count: guard.as_ref().map_or(0, |s| s.keys.len()),
            loaded_secs_ago: guard
                .as_ref()
                .map(|s| now.saturating_duration_since(s.loaded_at).saturating_add(s.loaded_before).as_secs()),
            source: guard.as_ref().map(|s| s.source),
            failing_for_secs: failing.as_ref().map(|f| now.saturating_duration_since(f.since).as_secs()),
            cooldown_remaining_secs: st
                .last_attempt
                .map_or(0, |t| (t + self.opts.cooldown).saturating_duration_since(now).as_secs()),
            jwks_url: self.endpoint.current().map(|u| u.to_string()),
            last_error: failing.as_ref().map(|f| error_chain(&*f.last_error)),
            fetches_ok: self.counters.ok.load(Ordering::Relaxed),
            fetches_failed: self.counters.failed.load(Ordering::Relaxed),
            unknown_kid_refetches: self.counters.unknown_kid_refetches.load(Ordering::Relaxed),
            unknown_kid_rejected: self.counters.unknown_kid_rejected.load(Ordering::Relaxed),
        }
    }
}
