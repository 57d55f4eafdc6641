//! [`TokenExpiry`]: when the token that let a request in stops being good, for
//! handlers to select on.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

/// When the request's token expires, in the request's extensions whenever the layer
/// [ends streams at expiry](crate::BearerLayer::end_streams_at_expiry). Cheap to copy.
///
/// A WebSocket handler (or any handler that outlives its response) selects on
/// [`expired`](Self::expired) and closes; see the [module example](super).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenExpiry {
    exp: u64,
    deadline: Instant,
}

impl TokenExpiry {
    pub(super) fn new(exp: u64, deadline: Instant) -> Self {
        Self { exp, deadline }
    }

    /// The token's `exp`, in seconds since the Unix epoch.
    pub fn expires_at(&self) -> u64 {
        self.exp
    }

    /// When the layer ends the request's stream: `exp` plus the leeway, on Tokio's clock.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The time left before [`deadline`](Self::deadline) (zero once past).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Whether the deadline has passed.
    pub fn is_expired(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Completes at the deadline: `Send` and `'static`, for `tokio::select!` (pin it
    /// once outside a loop) or a spawned task.
    pub fn expired(&self) -> impl Future<Output = ()> + Send + 'static {
        tokio::time::sleep_until(self.deadline)
    }
}

/// Where the layer leaves a request's [`TokenExpiry`] for [`EndStreams`](super::EndStreams),
/// which put it into the request and reads it beside the response.
#[derive(Clone, Default)]
pub(crate) struct ExpirySlot(pub(super) Arc<OnceLock<TokenExpiry>>);

impl ExpirySlot {
    pub(crate) fn fill(&self, expiry: TokenExpiry) {
        // Set once per request: a second layer on the same request keeps the first's.
        let _ = self.0.set(expiry);
    }

    pub(super) fn get(&self) -> Option<TokenExpiry> {
        self.0.get().copied()
    }
}
