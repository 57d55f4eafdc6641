//! Refresh ahead of expiry: one background fetch spawned from the request path, or
//! a timer task that keeps an idle service's keys fresh.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::RemoteJwks;
use super::state::Inner;
use crate::error::ConfigError;

impl RemoteJwks {
    /// Keeps the keys fresh on a timer, so even an idle service never meets an
    /// expired cache: refetches at the refresh-ahead point, and backs off while the
    /// server fails. The task stops when the returned handle is dropped or stopped,
    /// or when every clone of this store is gone. Needs a tokio runtime.
    pub fn keep_warm(&self) -> Result<RefreshTask, ConfigError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| ConfigError::new("keep_warm needs a tokio runtime"))?;
        let weak = Arc::downgrade(&self.inner);
        let handle = runtime.spawn(async move {
            while let Some(wait) = weak.upgrade().map(|inner| inner.until_next_refresh()) {
                tokio::time::sleep(wait).await;
                let Some(inner) = weak.upgrade() else { break };
                let fetch = inner.fetch_shared();
                drop(inner);
                let _ = fetch.await;
            }
        });
        Ok(RefreshTask { handle })
    }
}

/// The timer task started by [`RemoteJwks::keep_warm`]; dropping it stops the task.
#[derive(Debug)]
#[must_use = "the refresh task stops when this handle is dropped"]
pub struct RefreshTask {
    handle: tokio::task::JoinHandle<()>,
}

impl RefreshTask {
    /// Stops the task (same as dropping the handle).
    pub fn stop(self) {}
}

impl Drop for RefreshTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Resets the refresh-ahead flag when the background task ends, whichever way.
struct ResetFlag<'a>(&'a AtomicBool);

impl Drop for ResetFlag<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Inner {
    /// Starts one background refresh-ahead fetch, unless one runs or the backoff says wait.
    pub(super) fn spawn_background(self: &Arc<Self>) {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let due = self.failing.load().as_ref().is_none_or(|f| Instant::now() >= f.next_retry);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.refreshing.store(false, Ordering::Release);
            return;
        };
        if !due {
            self.refreshing.store(false, Ordering::Release);
            return;
        }
        let fetch = self.fetch_shared();
        let this = self.clone();
        runtime.spawn(async move {
            let _reset = ResetFlag(&this.refreshing);
            let _ = fetch.await;
        });
    }

    /// How long the keep-warm task sleeps before its next fetch (at least 100 ms).
    pub(super) fn until_next_refresh(&self) -> Duration {
        let now = Instant::now();
        // While refreshes fail, the backoff decides; otherwise the refresh-ahead point.
        let at = match (self.failing.load().as_ref(), self.snapshot.load().as_ref()) {
            (Some(failing), _) => failing.next_retry,
            (None, Some(snap)) => snap.refresh_at,
            (None, None) => now,
        };
        at.saturating_duration_since(now).max(Duration::from_millis(100))
    }
}
