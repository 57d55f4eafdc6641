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

pub mod claims;
#[cfg(feature = "client")]
pub mod client;
pub mod error;
pub mod form;
#[cfg(feature = "introspection")]
pub mod introspect;
#[cfg(feature = "issuer")]
pub mod issue;
mod json;
pub mod keys;
pub mod layer;
pub mod policy;
pub mod reject;
#[cfg(any(feature = "testing", feature = "issuer"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "testing", feature = "issuer"))))]
pub mod signing;
#[cfg(feature = "remote")]
mod single_flight;
pub mod token;
pub mod verify;

#[cfg(feature = "axum")]
pub mod axum;

pub use claims::{ClaimPath, RoleSet, ScopeSet, VerifiedToken};
pub use error::ConfigError;
pub use layer::{Bearer, BearerLayer, RequireLayer};
pub use reject::{
    AuthError, Challenge, GrpcResponder, Insufficient, InvalidRequest, InvalidToken, JsonResponder, Rejector,
    Responder, Unavailable,
};
pub use verify::{
    CacheStats, Clock, FixedClock, Issuer, JwtVerifier, JwtVerifierBuilder, SystemClock, Verification, Verifier,
};

/// The `jsonwebtoken` algorithm type, re-exported for key configuration.
pub use jsonwebtoken::Algorithm;

#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "tonic")]
pub mod tonic;

/// The challenge, now in [`crate::reject`]; this path stays until the public surface is pruned.
pub mod challenge {
    pub use crate::reject::Challenge;
}

/// The responders and the [`crate::Rejector`], now in [`crate::reject`]; this path
/// stays until the public surface is pruned.
pub mod responder {
    pub use crate::reject::{GrpcResponder, JsonResponder, Rejector, Responder};
}
