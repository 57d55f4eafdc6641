//! Watching the verification pipeline check by check, for [`JwtVerifier::explain`].
//!
//! The pipeline is generic over a [`Trace`]: the request path runs it with `()`, whose
//! `record` does nothing and is inlined away (the outcome closure is never even
//! built), and `explain` runs the very same code with a [`Recorder`]. So what
//! `explain` reports is what `verify` decided, step by step, never a second copy.
//!
//! [`JwtVerifier::explain`]: super::JwtVerifier::explain

use std::sync::{Arc, Mutex};

use crate::reject::AuthError;

/// One check of the verification pipeline, in the order [`JwtVerifier`](super::JwtVerifier)
/// runs them (see [`JwtVerifier::explain`](super::JwtVerifier::explain)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Check {
    /// The layer's credential syntax: an RFC 6750 `b64token` no longer than the cap.
    Syntax,
    /// Answered from the verified-token cache (time claims re-checked).
    Cache,
    /// Three dot-separated parts: a compact JWS (five would be an encrypted JWE).
    Compact,
    /// The JOSE header: base64url of a JSON object, unique members, size and depth caps.
    Header,
    /// `alg`: a known JWS algorithm (`none` never is).
    Algorithm,
    /// No `crit` (no extension is understood) and no `zip` (no decompression).
    Critical,
    /// `kid`: absent or a string.
    KeyId,
    /// `typ`: an accepted access-token type.
    Type,
    /// The payload: base64url of a JSON object with unique members.
    Payload,
    /// The signature part: base64url, not empty.
    SignatureEncoding,
    /// `iss`: exactly one configured issuer.
    Issuer,
    /// `exp`, `nbf`, `iat`: NumericDates when present.
    TimeClaims,
    /// `exp`: present, and not in the past beyond the leeway.
    Expiry,
    /// `nbf`: not in the future beyond the leeway.
    NotBefore,
    /// `iat`: not in the future beyond the leeway.
    IssuedAt,
    /// `iat`: present and not older than the configured maximum age.
    MaxAge,
    /// `aud` (or the issuer's audience claim): names an accepted audience.
    Audience,
    /// The issuer's pinned claim values (e.g. Cognito's `token_use`).
    RequiredClaims,
    /// `cnf`: absent, or a well-formed confirmation.
    Confirmation,
    /// An HS* token needs a local secret among the issuer's keys.
    LocalSecret,
    /// The issuer's key set: at hand, or loaded now.
    Keys,
    /// The key set looked up again for an unknown `kid`: refetched at most once per
    /// cooldown, answered at once inside it.
    KeysRefetch,
    /// The key: the token's `kid` in the set, and its `alg` bound to that key.
    KeyLookup,
    /// The signature verifies with that key.
    Signature,
    /// The claims the layer reads have the right types (`scope`, `scp`...).
    ClaimTypes,
    /// Sender-constrained (`cnf`) tokens are refused by `verify`: only a layer that
    /// checks the binding (DPoP, certificates) may accept them.
    Binding,
}

impl Check {
    /// What the check requires, in a few words.
    pub fn description(self) -> &'static str {
        match self {
            Self::Syntax => "credential syntax (RFC 6750 b64token, length cap)",
            Self::Cache => "verified-token cache",
            Self::Compact => "compact JWS (three parts)",
            Self::Header => "JOSE header (base64url JSON object)",
            Self::Algorithm => "alg is a known JWS algorithm",
            Self::Critical => "no crit, no zip",
            Self::KeyId => "kid is a string when present",
            Self::Type => "typ is an accepted access-token type",
            Self::Payload => "payload (base64url JSON object)",
            Self::SignatureEncoding => "signature part (base64url, not empty)",
            Self::Issuer => "iss is a configured issuer",
            Self::TimeClaims => "exp/nbf/iat are NumericDates",
            Self::Expiry => "exp (present, not passed)",
            Self::NotBefore => "nbf (not in the future)",
            Self::IssuedAt => "iat (not in the future)",
            Self::MaxAge => "iat (not older than the maximum age)",
            Self::Audience => "aud names an accepted audience",
            Self::RequiredClaims => "required claim values",
            Self::Confirmation => "cnf is well-formed when present",
            Self::LocalSecret => "HS* only with a local secret",
            Self::Keys => "issuer's key set",
            Self::KeysRefetch => "key set looked up again for the unknown kid (one fetch per cooldown)",
            Self::KeyLookup => "kid found, alg bound to the key",
            Self::Signature => "signature",
            Self::ClaimTypes => "claim types",
            Self::Binding => "not sender-constrained (cnf)",
        }
    }
}

/// One check and what it found: passed, or the refusal it caused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Which check.
    pub check: Check,
    /// `Ok` when it passed; the error the verifier answers with when it failed.
    pub outcome: Result<(), AuthError>,
}

/// Receives each check's outcome as the pipeline runs. `()` ignores them.
pub(crate) trait Trace: Clone + Send + Sync + 'static {
    /// `outcome` is only called by tracers that keep it, so the request path builds
    /// no error value for it.
    fn record(&self, check: Check, outcome: impl FnOnce() -> Result<(), AuthError>);
}

impl Trace for () {
    #[inline(always)]
    fn record(&self, _: Check, _: impl FnOnce() -> Result<(), AuthError>) {}
}

/// Keeps every step, in order; clones share the list (the slow path moves one into
/// its future).
#[derive(Clone, Default)]
pub(crate) struct Recorder(Arc<Mutex<Vec<Step>>>);

impl Recorder {
    pub(crate) fn steps(&self) -> Vec<Step> {
        self.0.lock().map(|s| s.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }
}

impl Trace for Recorder {
    fn record(&self, check: Check, outcome: impl FnOnce() -> Result<(), AuthError>) {
        let step = Step { check, outcome: outcome() };
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(step);
    }
}

/// Records `result` as the outcome of `check` and passes it on.
#[inline(always)]
pub(crate) fn traced<T, E: Clone + Into<AuthError>>(
    trace: &impl Trace,
    check: Check,
    result: Result<T, E>,
) -> Result<T, E> {
    trace.record(check, || result.as_ref().map(|_| ()).map_err(|e| e.clone().into()));
    result
}
