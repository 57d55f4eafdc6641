//! A real identity provider for your tests (feature `testing`).
//!
//! [`TestIssuer`] starts a JWKS + discovery server on 127.0.0.1 with fresh keys,
//! mints tokens in one line, rotates and unpublishes keys, and simulates outages,
//! so protected routes are tested exactly as they run in production: over HTTP,
//! with real signatures. Put `tower-bearer = { features = ["testing"] }` in your
//! `[dev-dependencies]`.
//!
//! Keys are generated and tokens signed with the crypto backend the crate verifies
//! with (aws-lc-rs, or the RustCrypto crates of `rust-crypto`): the test kit adds no
//! second crypto stack and needs no system library. To sign tokens by other means,
//! see [`signing`](crate::signing).
//!
//! | item | file |
//! |---|---|
//! | [`TestIssuer`]: keys, rotation, counters, raw signing | `idp.rs` |
//! | its JWKS and discovery endpoints | `server.rs` |
//! | [`Outage`]: the JWKS endpoint's bad days | `outage.rs` |
//! | [`TestTokenBuilder`]: one token, any claim or header | `token.rs` |
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use axum::{Router, routing::get};
//! use tower_bearer::{BearerLayer, policy::scope, testing::TestIssuer};
//!
//! let idp = TestIssuer::start().await;
//! let app: Router = Router::new()
//!     .route("/items", get(|| async { "items" }))
//!     .layer(BearerLayer::new(idp.verifier()).require(scope("read")));
//!
//! let token = idp.token().scope("read").sign();
//! let res = tower::ServiceExt::oneshot(app, http::Request::get("/items")
//!     .header("authorization", format!("Bearer {token}"))
//!     .body(axum::body::Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), 200);
//! # }
//! ```

// Test support: failing to bind a loopback port or to generate a key is a broken test
// machine, reported by a panic with a message (documented under "Panics").
#![allow(clippy::expect_used)]

use std::sync::{Mutex, MutexGuard};

mod idp;
mod outage;
mod server;
mod token;

pub use idp::TestIssuer;
pub use outage::Outage;
pub use token::TestTokenBuilder;

/// The audience of tokens minted by [`TestIssuer::token`] unless changed.
pub const TEST_AUDIENCE: &str = "test-api";

/// A poisoned lock still holds usable test state.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
