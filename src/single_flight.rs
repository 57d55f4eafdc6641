//! One operation in flight at a time, shared by every caller that asks meanwhile.

use std::future::Future;
use std::sync::{Arc, Mutex};

use futures_util::FutureExt as _;
use futures_util::future::Shared;

use crate::BoxFuture;

/// The shared handle callers await.
pub(crate) type Flight<T> = Shared<BoxFuture<T>>;

/// Holds the operation in flight. The lock is held only to clone or install the
/// handle, never across I/O; the operation runs as its own tokio task when a runtime is
/// present, so it completes (and frees the slot) even if every caller goes away.
pub(crate) struct SingleFlight<T: Clone> {
    slot: Arc<Mutex<Option<Flight<T>>>>,
}

impl<T: Clone> Default for SingleFlight<T> {
    fn default() -> Self {
        Self { slot: Arc::default() }
    }
}

impl<T: Clone + Send + Sync + 'static> SingleFlight<T> {
    /// The operation in flight, if any.
    pub(crate) fn current(&self) -> Option<Flight<T>> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Joins the operation in flight, or starts `make()`. `on_panic` answers callers if
    /// the task dies.
    pub(crate) fn join_or_start<F>(&self, make: impl FnOnce() -> F, on_panic: fn(String) -> T) -> Flight<T>
    where
        F: Future<Output = T> + Send + 'static,
    {
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(flight) = slot.as_ref() {
            return flight.clone();
        }
        let clear = ClearOnDrop(self.slot.clone());
        let work = make();
        let run = async move {
            let _clear = clear;
            work.await
        };
        let fut: BoxFuture<T> = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let task = runtime.spawn(run);
                Box::pin(async move { task.await.unwrap_or_else(|e| on_panic(e.to_string())) })
            }
            Err(_) => Box::pin(run),
        };
        let flight = fut.shared();
        *slot = Some(flight.clone());
        flight
    }
}

/// Frees the slot however the operation ends (success, error, panic, abort). The slot
/// is locked by `join_or_start` until the handle is installed, so this never clears a
/// newer operation's handle.
struct ClearOnDrop<T: Clone>(Arc<Mutex<Option<Flight<T>>>>);

impl<T: Clone> Drop for ClearOnDrop<T> {
    fn drop(&mut self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}
