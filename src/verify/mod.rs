//! Turning a bearer token into a [`VerifiedToken`], or saying why not.
//!
//! - [`Verifier`] / [`Verification`] (this file): the seam every layer calls;
//! - [`JwtVerifier`] (`jwt.rs`): the verification pipeline, fast path and slow path;
//! - [`JwtVerifierBuilder`] (`builder.rs`): configuration, checked once at build;
//! - `signature.rs`: key selection and the crypto backend;
//! - `time.rs`, `issuer.rs`, `jws.rs`, `binding.rs`, `cache.rs`: the individual rules;
//! - `stripes.rs`: the cache's hit and miss counters, one stripe per thread;
//! - `trace.rs`, `explain.rs`: [`JwtVerifier::explain`], the pipeline watched check by check.

mod binding;
mod builder;
mod cache;
mod clock;
mod explain;
mod issuer;
mod jws;
mod jwt;
mod near_miss;
#[cfg(feature = "remote")]
mod profiles;
mod signature;
mod stripes;
mod time;
mod trace;

pub(crate) use binding::{BindingPolicy, Confirmation, Presented, check_binding, refuse_bound};
pub use builder::JwtVerifierBuilder;
pub(crate) use cache::CacheCheck;
pub use cache::CacheStats;
#[cfg(feature = "issuer")]
pub(crate) use cache::constant_time_eq;
pub use clock::{Clock, ManualClock, SystemClock};
pub use explain::Explanation;
pub use issuer::Issuer;
#[cfg(any(feature = "introspection", feature = "issuer"))]
pub(crate) use jws::looks_like_jwt;
#[cfg(feature = "dpop")]
pub(crate) use jws::{decode_object, numeric_date};
pub use jwt::JwtVerifier;
#[cfg(any(feature = "testing", feature = "issuer", feature = "client"))]
pub(crate) use signature::crypto_provider;
#[cfg(feature = "dpop")]
pub(crate) use signature::verify_with_key;
pub(crate) use time::TimeClaims;
#[cfg(feature = "introspection")]
pub(crate) use time::TimeRules;
pub use trace::{Check, Step};

use crate::BoxFuture;
use crate::claims::VerifiedToken;
use crate::reject::AuthError;
use crate::token::BearerToken;

/// The result of [`Verifier::verify`]: ready at once when keys are cached (the common
/// case, no allocation for a future), or a future when keys must be loaded first.
pub enum Verification {
    /// Decided without I/O.
    Ready(Result<VerifiedToken, AuthError>),
    /// Waiting on keys (cold cache, unknown `kid`) or on a remote verifier.
    Pending(BoxFuture<Result<VerifiedToken, AuthError>>),
}

impl Verification {
    /// Waits for the result.
    pub async fn resolve(self) -> Result<VerifiedToken, AuthError> {
        match self {
            Self::Ready(r) => r,
            Self::Pending(f) => f.await,
        }
    }
}

/// Something that checks bearer tokens: [`JwtVerifier`], or your own.
///
/// [`verify`](Self::verify) refuses every sender-constrained token (one with `cnf`):
/// only a caller that checks the binding may accept those, and the layer does so
/// through [`verify_for_binding`](Self::verify_for_binding).
pub trait Verifier: Send + Sync + 'static {
    /// Checks `token`.
    fn verify(&self, token: &BearerToken) -> Verification;

    /// Checks `token` like [`verify`](Self::verify), except that a token bound to a key
    /// (`cnf`, RFC 9449 / RFC 8705) is returned instead of refused. The caller must
    /// then check the binding ([`VerifiedToken::is_sender_constrained`]): the layer
    /// does, on every request. The default is [`verify`](Self::verify): fail closed.
    ///
    /// A verifier wrapping another forwards both methods, each to the same one of the
    /// inner verifier: `verify` to `verify` (or refusing bound tokens itself), and
    /// `verify_for_binding` to `verify_for_binding`, or bound tokens are refused by the
    /// layer (the default) or, worse, handed to direct callers that check no binding.
    fn verify_for_binding(&self, token: &BearerToken) -> Verification {
        self.verify(token)
    }

    /// The issuers whose tokens this verifier accepts, as RFC 9728 metadata lists them
    /// in `authorization_servers`. The default lists none; a verifier wrapping another
    /// forwards this.
    fn authorization_servers(&self) -> Vec<String> {
        Vec::new()
    }
}
