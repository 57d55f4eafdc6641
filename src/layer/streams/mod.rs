//! Streams that end with their token: [`BearerLayer::end_streams_at_expiry`](crate::BearerLayer::end_streams_at_expiry).
//!
//! A token is checked once, when a request arrives; a response body that streams for
//! hours (server-sent events, a gRPC server stream, a long download) would outlive it.
//! With this option the layer ends such a body when its token expires:
//!
//! - **gRPC** responses (`content-type: application/grpc…`) end with trailers
//!   `grpc-status: 16` (`UNAUTHENTICATED`) and `grpc-message: access token expired`:
//!   the client sees `Status::unauthenticated`, refreshes its token and calls again.
//!   A stream whose service already sent its trailers is left alone.
//! - **Other HTTP** responses are aborted: the body yields a [`StreamExpired`] error, on
//!   which hyper resets the HTTP/2 stream or closes the HTTP/1 connection without the
//!   final chunk. A cut download is then visibly incomplete to the client, never
//!   mistaken for a whole file; an `EventSource` reconnects, and its next request with
//!   the expired token gets a `401`. A handler that prefers a clean end (a last SSE
//!   event, a WebSocket close frame) selects on [`TokenExpiry`] itself, before the cut.
//! - **WebSocket upgrades** and any other handler: every request the layer lets in
//!   with a token that has an `exp` carries a [`TokenExpiry`] in its extensions, a
//!   future to select on; take it as `Option<Extension<TokenExpiry>>` (a token without
//!   `exp`, or an anonymous request on an `optional` layer, carries none).
//!
//! When: at the token's `exp` plus [`StreamExpiry::leeway`] (default 60 s, the
//! verifiers' default clock-skew leeway), the moment the layer would refuse the same
//! token on a new request; a token the layer accepts but whose stream would end at
//! once (accepted within a longer verifier leeway) is refused with `401` instead, so no
//! client ever gets a `200` cut before its first byte. A token without `exp` (an
//! introspected opaque token may lack one) is never cut. The deadline is the token's
//! own `exp`, whether the token came from the verified-token cache or not, with DPoP
//! or without.
//!
//! Without the option nothing changes: the layer's service and body types stay the
//! same, no timer exists. With it, a body that goes idle allocates one Tokio timer
//! (lazily, at its first wait); a body that is ready at once (a plain JSON answer)
//! never does. The timer needs a Tokio runtime with time enabled, as `axum::serve`
//! and tonic's server have.
//!
//! ```
//! use std::time::Duration;
//! use axum::{Extension, Router, routing::get};
//! use tower_bearer::{BearerLayer, JwtVerifier, streams::{StreamExpiry, TokenExpiry}};
//!
//! # fn app(verifier: JwtVerifier) -> Router {
//! let auth = BearerLayer::new(verifier).realm("api");
//! Router::new()
//!     .route("/events", get(|| async { "an SSE stream, a download, …" }))
//!     .route("/socket", get(socket))
//!     // Last in the chain: it wraps the layer (call `.grpc()`, `.realm()`… before).
//!     .layer(auth.end_streams_at_expiry(StreamExpiry::new().leeway(Duration::from_secs(30))))
//! # }
//!
//! // A WebSocket (or any long-lived handler) selects on the token's expiry, e.g. with
//! // axum's `ws` feature: `ws.on_upgrade(move |socket| serve(socket, expiry))`.
//! async fn socket(expiry: Option<Extension<TokenExpiry>>) -> &'static str {
//!     // None: a token without `exp`, or a request let in without one (`optional`).
//!     let Some(Extension(expiry)) = expiry else { return "no expiry to end on" };
//!     let expired = expiry.expired();
//!     tokio::pin!(expired);
//!     let mut ticks = tokio::time::interval(Duration::from_secs(1));
//!     loop {
//!         tokio::select! {
//!             // Send a close frame (code 1008, "token expired") and stop.
//!             () = &mut expired => return "closed: token expired",
//!             // Receive and send messages as usual.
//!             _ = ticks.tick() => {}
//!         }
//!     }
//! }
//! ```

mod body;
mod expiry;
mod service;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use body::{ExpiringBody, StreamExpired};
pub(crate) use expiry::ExpirySlot;
pub use expiry::TokenExpiry;
pub use service::{EndStreams, EndStreamsFuture, EndStreamsLayer};

use crate::claims::VerifiedToken;
use crate::reject::{AuthError, InvalidToken};
use crate::verify::Clock;

/// When streams end: the token's `exp` plus a leeway, by a clock. See the [module](self).
#[derive(Clone)]
#[must_use]
pub struct StreamExpiry {
    leeway: Duration,
    /// `None`: the system clock, read to the nanosecond.
    clock: Option<Arc<dyn Clock>>,
}

impl Default for StreamExpiry {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for StreamExpiry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamExpiry").field("leeway", &self.leeway).field("own_clock", &self.clock.is_some()).finish()
    }
}

impl StreamExpiry {
    /// Streams end 60 s after `exp` (the verifiers' default leeway), by the system clock.
    pub fn new() -> Self {
        Self { leeway: Duration::from_secs(60), clock: None }
    }

    /// How long after `exp` a stream may go on: set it to your verifier's leeway
    /// ([`JwtVerifierBuilder::leeway`](crate::JwtVerifierBuilder::leeway)), so that a
    /// stream ends exactly when its token would be refused. Zero ends streams at `exp`.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Reads the time from `clock` (whole seconds) instead of the system clock; use the
    /// verifier's clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The expiry of a request with `token`: `None` without `exp`; an error when it is
    /// already due (the stream would end before its first byte).
    pub(crate) fn of(&self, token: &VerifiedToken) -> Result<Option<TokenExpiry>, AuthError> {
        let exp = token.expires_at();
        if exp == 0 {
            return Ok(None);
        }
        let now = match &self.clock {
            Some(clock) => Duration::from_secs(clock.now()),
            None => SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default(),
        };
        let end = Duration::from_secs(exp).saturating_add(self.leeway);
        let left = end.checked_sub(now).filter(|left| !left.is_zero()).ok_or(InvalidToken::Expired)?;
        // Beyond the timer's range (a far-future `exp`): such a stream is never cut.
        Ok(tokio::time::Instant::now().checked_add(left).map(|deadline| TokenExpiry::new(exp, deadline)))
    }
}
