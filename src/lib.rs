#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]
// Library code never panics on input; the few justified exceptions carry a comment.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
compile_error!(
    "tower-bearer needs a crypto backend: enable the `aws-lc-rs` feature (default) or the `rust-crypto` feature"
);

#[macro_use]
mod macros;

mod claims;
#[cfg(feature = "client")]
pub mod client;
mod error;
mod error_chain;
mod future;
#[cfg(feature = "introspection")]
pub mod introspect;
#[cfg(feature = "issuer")]
pub mod issue;
mod json;
pub mod keys;
mod layer;
#[cfg(feature = "remote")]
mod outbound;
pub mod policy;
mod reject;
#[cfg(any(feature = "testing", feature = "issuer"))]
mod signing;
#[cfg(feature = "remote")]
mod single_flight;
pub mod token;
mod verify;

#[cfg(feature = "axum")]
pub mod axum;

pub use claims::{ClaimPath, NameSet, VerifiedToken};
pub use error::ConfigError;
pub use future::BoxFuture;
pub use layer::{Bearer, BearerLayer, Require, RequireLayer, ResponseFuture};
pub use reject::{
    AuthError, Challenge, ErrorCode, GrpcResponder, Insufficient, InvalidRequest, InvalidToken, JsonResponder,
    Rejector, Responder, Unavailable,
};
pub use verify::{
    CacheStats, Clock, Issuer, JwtVerifier, JwtVerifierBuilder, ManualClock, SystemClock, Verification, Verifier,
};

#[cfg(any(feature = "client", feature = "introspection"))]
pub use outbound::ClientAuth;

/// The `jsonwebtoken` algorithm type, re-exported for key configuration.
pub use jsonwebtoken::Algorithm;

#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "tonic")]
pub mod tonic;
