//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`):
//! any exporter works (Prometheus, OpenTelemetry, StatsD…). Without the feature every
//! handle here is an empty type and every call an empty inline function: the default
//! build pays nothing.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `tower_bearer_requests_total` | counter | `outcome`, `reason` | decisions of [`BearerLayer`](crate::BearerLayer) and [`RequireLayer`](crate::RequireLayer), one per request (see below) |
//! | `tower_bearer_verify_duration_seconds` | histogram | | a JWT verification that missed the token cache, from the miss to the decision (accepted or refused), waiting for keys included |
//! | `tower_bearer_token_cache_hits_total` | counter | | tokens answered from the verified-token cache |
//! | `tower_bearer_token_cache_misses_total` | counter | | tokens not found in the cache, verified in full or refused on the way (cache on) |
//! | `tower_bearer_jwks_fetches_total` | counter | `source`, `result` | JWKS fetches: `ok` (a new body), `not_modified` (`304`), `error` |
//! | `tower_bearer_jwks_last_success_timestamp_seconds` | gauge | `source` | Unix time of the last successful fetch (`ok` or `not_modified`); key-set age is `time() - this` |
//! | `tower_bearer_jwks_keys` | gauge | `source` | usable keys in the set last fetched |
//! | `tower_bearer_jwks_unknown_kid_refetches_total` | counter | `source` | fetches caused by a token naming a `kid` not in the set |
//! | `tower_bearer_jwks_unknown_kid_rejections_total` | counter | `source` | unknown `kid`s refused without a fetch of their own (known absent, or inside the refetch cooldown), or whose refetch failed while older keys are still usable |
//! | `tower_bearer_introspection_requests_total` | counter | `result` | RFC 7662 calls: `active`, `inactive` (including answers refused by the checks), `error` (`503`) |
//! | `tower_bearer_introspection_cache_hits_total` | counter | | tokens answered from the introspection cache (or by a call already in flight) |
//! | `tower_bearer_introspection_cache_misses_total` | counter | | tokens that needed a call of their own |
//! | `tower_bearer_client_token_fetches_total` | counter | `result` | token requests of [`ClientCredentials`](crate::client::ClientCredentials), retries included in one: `ok`, `error` |
//! | `tower_bearer_client_token_renewals_total` | counter | | renewals started ahead of expiry while the current token is still served |
//! | `tower_bearer_dpop_replays_total` | counter | | DPoP proofs refused because they were already used (RFC 9449 §11.1) |
//!
//! `tower_bearer_requests_total`: `outcome` is the answer — `allowed`, `unauthorized`
//! (`401`), `forbidden` (`403`), `bad_request` (`400`) or `unavailable` (`503`) — and
//! `reason` one of a fixed set, each belonging to one outcome:
//!
//! | outcome | reasons |
//! |---|---|
//! | `allowed` | `verified`, `anonymous` (an [`optional`](crate::BearerLayer::optional) layer, no token) |
//! | `unauthorized` | `missing_token`, `malformed`, `expired`, `invalid_time` (`nbf`, `iat`, a missing `exp`), `unknown_key`, `invalid_signature`, `wrong_issuer`, `wrong_audience`, `invalid_claims` (`typ`, `alg`, `crit`, claim types and pinned values, JWE), `inactive` (introspection), `binding` (DPoP or certificate binding), `invalid_dpop_proof`, `dpop_replay`, `use_dpop_nonce`, `not_verified` (a `RequireLayer` with no `BearerLayer` around it) |
//! | `forbidden` | `insufficient_scope` (scopes, roles or claims) |
//! | `bad_request` | `invalid_request` |
//! | `unavailable` | `unavailable` (no usable keys, introspection or replay store down) |
//!
//! Each request is counted once. A refusal is counted when it is made. An admitted
//! request is counted at once, or, when the layer made route layers
//! ([`requiring`](crate::BearerLayer::requiring)), when the inner service answers: a
//! route layer's refusal (`403`) is then what counts, not the admission before it.
//! Refusals that handlers make themselves (axum extractors, the tonic helpers) are the
//! application's and not counted.
//!
//! Cache hits are not timed: a hit takes about a microsecond and two clock reads would
//! add a few percent to it; `tower_bearer_token_cache_hits_total` counts them.
//!
//! Labels never come from a token. `source` is the key set's configured JWKS URL, or
//! the issuer URL when it is found through discovery.
//!
//! **Install the recorder before building** the verifiers, key sets and layers: each
//! takes its handles from the recorder installed when it is built (so that a request
//! costs an atomic add per metric, no lookup, no allocation), and keeps them.

// Each component's handles are unused when its own feature is off.
#![cfg_attr(
    not(all(
        feature = "metrics",
        feature = "remote",
        feature = "introspection",
        feature = "client",
        feature = "dpop"
    )),
    allow(dead_code)
)]

#[cfg(feature = "metrics")]
use std::time::Instant;

use crate::reject::{AuthError, InvalidProof, InvalidToken};

const REQUESTS: &str = "tower_bearer_requests_total";
const VERIFY_DURATION: &str = "tower_bearer_verify_duration_seconds";
const CACHE_HITS: &str = "tower_bearer_token_cache_hits_total";
const CACHE_MISSES: &str = "tower_bearer_token_cache_misses_total";
const JWKS_FETCHES: &str = "tower_bearer_jwks_fetches_total";
const JWKS_LAST_SUCCESS: &str = "tower_bearer_jwks_last_success_timestamp_seconds";
const JWKS_KEYS: &str = "tower_bearer_jwks_keys";
const JWKS_UNKNOWN_KID_REFETCHES: &str = "tower_bearer_jwks_unknown_kid_refetches_total";
const JWKS_UNKNOWN_KID_REJECTIONS: &str = "tower_bearer_jwks_unknown_kid_rejections_total";
const INTROSPECTION_REQUESTS: &str = "tower_bearer_introspection_requests_total";
const INTROSPECTION_CACHE_HITS: &str = "tower_bearer_introspection_cache_hits_total";
const INTROSPECTION_CACHE_MISSES: &str = "tower_bearer_introspection_cache_misses_total";
const CLIENT_TOKEN_FETCHES: &str = "tower_bearer_client_token_fetches_total";
const CLIENT_TOKEN_RENEWALS: &str = "tower_bearer_client_token_renewals_total";
const DPOP_REPLAYS: &str = "tower_bearer_dpop_replays_total";

/// A counter handle, registered once.
#[derive(Clone)]
pub(crate) struct Counter(#[cfg(feature = "metrics")] ::metrics::Counter);

impl Counter {
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    fn register(name: &'static str, help: &'static str, labels: &[(&'static str, &str)]) -> Self {
        #[cfg(feature = "metrics")]
        {
            ::metrics::describe_counter!(name, ::metrics::Unit::Count, help);
            Self(::metrics::counter!(name, owned(labels)))
        }
        #[cfg(not(feature = "metrics"))]
        Self()
    }

    #[inline]
    pub(crate) fn increment(&self) {
        #[cfg(feature = "metrics")]
        self.0.increment(1);
    }
}

/// A gauge handle, registered once.
#[derive(Clone)]
pub(crate) struct Gauge(#[cfg(feature = "metrics")] ::metrics::Gauge);

impl Gauge {
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    fn register(name: &'static str, help: &'static str, labels: &[(&'static str, &str)]) -> Self {
        #[cfg(feature = "metrics")]
        {
            ::metrics::describe_gauge!(name, help);
            Self(::metrics::gauge!(name, owned(labels)))
        }
        #[cfg(not(feature = "metrics"))]
        Self()
    }

    #[inline]
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    fn set(&self, value: f64) {
        #[cfg(feature = "metrics")]
        self.0.set(value);
    }
}

/// A histogram handle, registered once.
#[derive(Clone)]
pub(crate) struct Histogram(#[cfg(feature = "metrics")] ::metrics::Histogram);

impl Histogram {
    fn register(name: &'static str, help: &'static str) -> Self {
        #[cfg(feature = "metrics")]
        {
            ::metrics::describe_histogram!(name, ::metrics::Unit::Seconds, help);
            Self(::metrics::histogram!(name))
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = (name, help);
            Self()
        }
    }

    /// Records the time since `started`.
    #[inline]
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn record_since(&self, started: Started) {
        #[cfg(feature = "metrics")]
        self.0.record(started.0.elapsed().as_secs_f64());
    }
}

/// When a timed step started (nothing, and no clock read, without the feature).
#[derive(Clone, Copy)]
pub(crate) struct Started(#[cfg(feature = "metrics")] Instant);

/// Now, for [`Histogram::record_since`].
#[inline]
pub(crate) fn start() -> Started {
    #[cfg(feature = "metrics")]
    return Started(Instant::now());
    #[cfg(not(feature = "metrics"))]
    Started()
}

#[cfg(feature = "metrics")]
fn owned(labels: &[(&'static str, &str)]) -> Vec<::metrics::Label> {
    labels.iter().map(|&(k, v)| ::metrics::Label::new(k, v.to_owned())).collect()
}

/// Why a request was let through or refused: the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    Verified,
    Anonymous,
    MissingToken,
    Malformed,
    Expired,
    InvalidTime,
    UnknownKey,
    InvalidSignature,
    WrongIssuer,
    WrongAudience,
    InvalidClaims,
    Inactive,
    Binding,
    InvalidDpopProof,
    DpopReplay,
    UseDpopNonce,
    NotVerified,
    InsufficientScope,
    InvalidRequest,
    Unavailable,
}

impl Reason {
    const ALL: [Reason; 20] = [
        Self::Verified,
        Self::Anonymous,
        Self::MissingToken,
        Self::Malformed,
        Self::Expired,
        Self::InvalidTime,
        Self::UnknownKey,
        Self::InvalidSignature,
        Self::WrongIssuer,
        Self::WrongAudience,
        Self::InvalidClaims,
        Self::Inactive,
        Self::Binding,
        Self::InvalidDpopProof,
        Self::DpopReplay,
        Self::UseDpopNonce,
        Self::NotVerified,
        Self::InsufficientScope,
        Self::InvalidRequest,
        Self::Unavailable,
    ];

    pub(crate) fn of(error: &AuthError) -> Self {
        match error {
            AuthError::MissingToken => Self::MissingToken,
            AuthError::NotVerified => Self::NotVerified,
            AuthError::InvalidRequest(_) => Self::InvalidRequest,
            AuthError::Forbidden(_) => Self::InsufficientScope,
            AuthError::Unavailable(_) => Self::Unavailable,
            AuthError::UseDpopNonce => Self::UseDpopNonce,
            AuthError::InvalidDpopProof(InvalidProof::Replayed) => Self::DpopReplay,
            AuthError::InvalidDpopProof(_) => Self::InvalidDpopProof,
            AuthError::InvalidToken(reason) => match reason {
                InvalidToken::Malformed => Self::Malformed,
                InvalidToken::Expired => Self::Expired,
                InvalidToken::NotYetValid | InvalidToken::IssuedAt | InvalidToken::TimeClaim => Self::InvalidTime,
                InvalidToken::UnknownKey => Self::UnknownKey,
                InvalidToken::Signature => Self::InvalidSignature,
                InvalidToken::Issuer => Self::WrongIssuer,
                InvalidToken::Audience => Self::WrongAudience,
                InvalidToken::Encrypted
                | InvalidToken::Algorithm
                | InvalidToken::CriticalHeader
                | InvalidToken::Type
                | InvalidToken::ClaimType
                | InvalidToken::ClaimValue => Self::InvalidClaims,
                InvalidToken::Inactive => Self::Inactive,
                InvalidToken::Binding
                | InvalidToken::BindingMismatch
                | InvalidToken::Unbound
                | InvalidToken::DpopRequired => Self::Binding,
            },
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Anonymous => "anonymous",
            Self::MissingToken => "missing_token",
            Self::Malformed => "malformed",
            Self::Expired => "expired",
            Self::InvalidTime => "invalid_time",
            Self::UnknownKey => "unknown_key",
            Self::InvalidSignature => "invalid_signature",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::InvalidClaims => "invalid_claims",
            Self::Inactive => "inactive",
            Self::Binding => "binding",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::DpopReplay => "dpop_replay",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::NotVerified => "not_verified",
            Self::InsufficientScope => "insufficient_scope",
            Self::InvalidRequest => "invalid_request",
            Self::Unavailable => "unavailable",
        }
    }

    /// The `outcome` label: the answer this reason gets.
    pub(crate) fn outcome(self) -> &'static str {
        match self {
            Self::Verified | Self::Anonymous => "allowed",
            Self::InsufficientScope => "forbidden",
            Self::InvalidRequest => "bad_request",
            Self::Unavailable => "unavailable",
            _ => "unauthorized",
        }
    }
}

/// `tower_bearer_requests_total`, one handle per reason; shared by a layer and the
/// route layers it makes.
pub(crate) struct RequestMetrics {
    by_reason: [Counter; Reason::ALL.len()],
    /// Set once a route layer is made: admissions are then counted when answered
    /// (a route layer may still refuse), otherwise at once (one atomic add, no clone).
    #[cfg(feature = "metrics")]
    route_layers: std::sync::atomic::AtomicBool,
}

impl RequestMetrics {
    pub(crate) fn register() -> Self {
        let help = "Requests decided by tower-bearer's layers, by outcome and reason";
        Self {
            by_reason: Reason::ALL
                .map(|r| Counter::register(REQUESTS, help, &[("outcome", r.outcome()), ("reason", r.as_str())])),
            #[cfg(feature = "metrics")]
            route_layers: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// A route layer that may refuse what this layer admits now exists.
    pub(crate) fn route_layer_made(&self) {
        #[cfg(feature = "metrics")]
        self.route_layers.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn count(&self, reason: Reason) {
        if let Some(counter) = self.by_reason.get(reason as usize) {
            counter.increment();
        }
    }

    /// Counts the refusal for `error`.
    #[inline]
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn refused(&self, error: &AuthError) {
        #[cfg(feature = "metrics")]
        self.count(Reason::of(error));
    }
}

/// A request a layer let in: counted as allowed when the inner service answers (an
/// error included), unless a layer inside refused it and counted that.
pub(crate) struct Admitted(#[cfg(feature = "metrics")] Option<Counter>);

impl Admitted {
    /// Nothing to count: a route layer's admission (the outer layer counts it).
    #[inline]
    pub(crate) fn none() -> Self {
        #[cfg(feature = "metrics")]
        return Self(None);
        #[cfg(not(feature = "metrics"))]
        Self()
    }

    /// Counts the admission, once, now that the inner service answered.
    #[inline]
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn answered<B, E>(&mut self, result: &Result<http::Response<B>, E>) {
        #[cfg(feature = "metrics")]
        if let Some(counter) = self.0.take()
            && !result.as_ref().is_ok_and(is_counted)
        {
            counter.increment();
        }
    }
}

impl RequestMetrics {
    /// A request let in for `reason`, to count when it is answered.
    #[inline]
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn admitted(&self, reason: Reason) -> Admitted {
        #[cfg(feature = "metrics")]
        {
            if self.route_layers.load(std::sync::atomic::Ordering::Relaxed) {
                return Admitted(self.by_reason.get(reason as usize).cloned());
            }
            self.count(reason);
            Admitted(None)
        }
        #[cfg(not(feature = "metrics"))]
        Admitted()
    }
}

/// Marks a refusal response as counted, so that a layer further out, which let the
/// request in, does not count it again as allowed.
#[cfg(feature = "metrics")]
#[derive(Clone, Copy)]
struct Counted;

/// Marks `response` as counted by the layer that refused it.
#[inline]
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn mark_counted<B>(response: &mut http::Response<B>) {
    #[cfg(feature = "metrics")]
    response.extensions_mut().insert(Counted);
}

/// Whether a layer inside already counted `response`.
#[inline]
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn is_counted<B>(response: &http::Response<B>) -> bool {
    #[cfg(feature = "metrics")]
    return response.extensions().get::<Counted>().is_some();
    #[cfg(not(feature = "metrics"))]
    false
}

/// The verified-token cache's counters.
pub(crate) struct CacheMetrics {
    hits: Counter,
    misses: Counter,
}

impl CacheMetrics {
    pub(crate) fn register() -> Self {
        Self {
            hits: Counter::register(CACHE_HITS, "Tokens answered from the verified-token cache", &[]),
            misses: Counter::register(CACHE_MISSES, "Tokens not found in the verified-token cache", &[]),
        }
    }

    #[inline]
    pub(crate) fn count(&self, hit: bool) {
        if hit { self.hits.increment() } else { self.misses.increment() }
    }
}

/// `tower_bearer_verify_duration_seconds`.
pub(crate) fn verify_duration() -> Histogram {
    Histogram::register(VERIFY_DURATION, "Time to verify a token that missed the token cache")
}

/// What a JWKS fetch brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JwksFetch {
    /// A new body.
    Ok,
    /// `304 Not Modified`.
    NotModified,
    /// No usable answer.
    Error,
}

/// One remote key set's metrics, labelled with its configured source.
pub(crate) struct JwksMetrics {
    ok: Counter,
    not_modified: Counter,
    error: Counter,
    last_success: Gauge,
    keys: Gauge,
    pub(crate) unknown_kid_refetches: Counter,
    pub(crate) unknown_kid_rejections: Counter,
}

impl JwksMetrics {
    /// Handles for the key set configured with `source` (a JWKS URL or an issuer).
    pub(crate) fn register(source: &str) -> Self {
        let fetches = |result| {
            let help = "JWKS fetches, by result";
            Counter::register(JWKS_FETCHES, help, &[("source", source), ("result", result)])
        };
        let by_source = &[("source", source)];
        Self {
            ok: fetches("ok"),
            not_modified: fetches("not_modified"),
            error: fetches("error"),
            last_success: Gauge::register(JWKS_LAST_SUCCESS, "Unix time of the last successful JWKS fetch", by_source),
            keys: Gauge::register(JWKS_KEYS, "Usable keys in the JWKS last fetched", by_source),
            unknown_kid_refetches: Counter::register(
                JWKS_UNKNOWN_KID_REFETCHES,
                "JWKS fetches caused by an unknown kid",
                by_source,
            ),
            unknown_kid_rejections: Counter::register(
                JWKS_UNKNOWN_KID_REJECTIONS,
                "Unknown kids refused without a fetch of their own, or whose refetch failed",
                by_source,
            ),
        }
    }

    /// Counts a fetch; a successful one also sets the time and the key count.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn fetched(&self, result: JwksFetch, keys: usize) {
        let counter = match result {
            JwksFetch::Ok => &self.ok,
            JwksFetch::NotModified => &self.not_modified,
            JwksFetch::Error => &self.error,
        };
        counter.increment();
        #[cfg(feature = "metrics")]
        if result != JwksFetch::Error {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            self.last_success.set(now.as_secs_f64());
            self.keys.set(keys as f64);
        }
    }
}

/// An introspection verifier's metrics.
pub(crate) struct IntrospectionMetrics {
    active: Counter,
    inactive: Counter,
    error: Counter,
    cache_hits: Counter,
    cache_misses: Counter,
}

impl IntrospectionMetrics {
    pub(crate) fn register() -> Self {
        let calls = |result| {
            Counter::register(INTROSPECTION_REQUESTS, "Token introspection calls, by result", &[("result", result)])
        };
        Self {
            active: calls("active"),
            inactive: calls("inactive"),
            error: calls("error"),
            cache_hits: Counter::register(
                INTROSPECTION_CACHE_HITS,
                "Tokens answered from the introspection cache",
                &[],
            ),
            cache_misses: Counter::register(
                INTROSPECTION_CACHE_MISSES,
                "Tokens that needed an introspection call of their own",
                &[],
            ),
        }
    }

    pub(crate) fn cache_hit(&self, hit: bool) {
        if hit { self.cache_hits.increment() } else { self.cache_misses.increment() }
    }

    /// Counts a call: `None` failed, `Some(accepted)` was answered (active and
    /// passing the checks, or not).
    pub(crate) fn called(&self, answer: Option<bool>) {
        match answer {
            Some(true) => self.active.increment(),
            Some(false) => self.inactive.increment(),
            None => self.error.increment(),
        }
    }
}

/// A token source's metrics (client credentials).
pub(crate) struct ClientMetrics {
    ok: Counter,
    error: Counter,
    pub(crate) renewals: Counter,
}

impl ClientMetrics {
    pub(crate) fn register() -> Self {
        let fetches = |result| {
            let help = "Token requests to the token endpoint (retries included), by result";
            Counter::register(CLIENT_TOKEN_FETCHES, help, &[("result", result)])
        };
        Self {
            ok: fetches("ok"),
            error: fetches("error"),
            renewals: Counter::register(CLIENT_TOKEN_RENEWALS, "Token renewals started ahead of expiry", &[]),
        }
    }

    pub(crate) fn fetched(&self, ok: bool) {
        if ok { self.ok.increment() } else { self.error.increment() }
    }
}

/// `tower_bearer_dpop_replays_total`.
pub(crate) fn dpop_replays() -> Counter {
    Counter::register(DPOP_REPLAYS, "DPoP proofs refused as already used", &[])
}

#[cfg(test)]
mod tests {
    use super::Reason;

    #[test]
    fn every_reason_has_its_own_slot() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r:?}");
        }
    }
}
