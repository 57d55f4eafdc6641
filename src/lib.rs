#![doc = include_str!("../README.md")]
//!
//! ## Module map
//!
//! One concept, one module. Modules marked *(root)* are private: their types are
//! exported at the crate root, so each type has exactly one path.
//!
//! | concept | module |
//! |---|---|
//! | where the token is in a request ([`token::TokenLocation`], [`token::FormBodyLayer`]) | [`token`] |
//! | the layer and its route requirements ([`BearerLayer`], [`RequireLayer`]) | `layer` *(root)* |
//! | deciding whether a token is good ([`JwtVerifier`], [`Issuer`], [`Verifier`], the verified-token cache, the clock; [`JwtVerifier::explain`] check by check) | `verify` *(root)* |
//! | where verification keys come from ([`keys::KeyStore`], [`keys::StaticKeys`], [`keys::RemoteJwks`]) | [`keys`] |
//! | what a verified token says ([`VerifiedToken`], [`ClaimPath`], [`NameSet`]) | `claims` *(root)* |
//! | what a route needs ([`policy::Requirement`]) | [`policy`] |
//! | refusing ([`AuthError`], [`Challenge`], [`Responder`], [`Rejector`], the log line) | `reject` *(root)* |
//! | describing the resource to clients (RFC 9728, [`metadata::ResourceMetadata`]) | [`metadata`] |
//! | configuration mistakes ([`ConfigError`]) | `error` *(root)* |
//! | talking to an authorization server (one HTTP client, bounded GET/POST, no redirects, [`ClientAuth`], discovery) | `outbound` *(private)* |
//! | response bodies that end when their token expires ([`streams::TokenExpiry`]) | [`streams`] |
//! | axum extractors; tonic helpers | [`axum`], [`tonic`] |
//! | opaque tokens, RFC 7662 | [`introspect`] |
//! | calling protected APIs with client credentials | [`client`] |
//! | keys and JWS signing; a local issuer; a test identity provider | [`signing`], [`issue`], [`testing`] |
//! | what the layer counts and times, for any `metrics` exporter (feature `metrics`) | [`metrics`] |
//!
//! A request's path: [`Bearer`] (the service) asks `token` for the credential, hands
//! it to the [`Verifier`] (`verify`: cache lookup, then header, key from `keys`,
//! signature, time and claim rules), gets a [`VerifiedToken`] (`claims`), checks the
//! layer's [`policy::Requirement`], and calls the inner service with the token in the
//! request's extensions. Every refusal on the way goes through `reject`: one log line,
//! the RFC 6750 challenge, and the responder's answer. Key sets, discovery,
//! introspection and client tokens are fetched through `outbound`.
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
#[cfg(feature = "dpop")]
#[cfg_attr(docsrs, doc(cfg(feature = "dpop")))]
pub mod dpop;
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
pub mod metadata;
pub mod metrics;
#[cfg(feature = "remote")]
mod outbound;
pub mod policy;
mod random;
mod reject;
#[cfg(any(feature = "testing", feature = "issuer", feature = "client"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "testing", feature = "issuer", feature = "client"))))]
pub mod signing;
#[cfg(feature = "remote")]
mod single_flight;
pub mod tls;
pub mod token;
mod verify;

#[cfg(feature = "axum")]
pub mod axum;

pub use claims::{ClaimPath, NameSet, VerifiedToken};
pub use error::ConfigError;
pub use future::BoxFuture;
#[cfg(feature = "streams")]
pub use layer::streams;
pub use layer::{Bearer, BearerLayer, Require, RequireLayer, ResponseFuture};
pub use reject::{
    AuthError, Challenge, ErrorCode, GrpcResponder, Insufficient, InvalidProof, InvalidRequest, InvalidToken,
    JsonResponder, Rejector, Responder, Unavailable,
};
pub use verify::{
    CacheStats, Check, Clock, Explanation, Issuer, JwtVerifier, JwtVerifierBuilder, ManualClock, Step, SystemClock,
    Verification, Verifier,
};

#[cfg(any(feature = "client", feature = "introspection"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "client", feature = "introspection"))))]
pub use outbound::ClientAuth;

/// The `jsonwebtoken` algorithm type, re-exported for key configuration.
pub use jsonwebtoken::Algorithm;

#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "tonic")]
pub mod tonic;
