//! A read-only view of a remote key cache, for readiness probes and dashboards.

use serde::Serialize;

/// Where a remote key cache stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// No key set has ever been loaded.
    NeverLoaded,
    /// Keys are within their TTL.
    Fresh,
    /// Keys are past their TTL and the last refresh failed; they are still served
    /// (inside the stale window).
    Stale,
    /// Keys are past the stale window: tokens are answered with `503`.
    Expired,
}

/// Where the key set in use came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySetSource {
    /// Fetched from the JWKS URL by this process (or confirmed by a `304`).
    Fetched,
    /// Read at start from the persisted record
    /// ([`RemoteJwksBuilder::persist`](crate::keys::RemoteJwksBuilder::persist)), because
    /// the JWKS URL could not be fetched; replaced by the next successful fetch.
    Persisted,
}

/// Health of one issuer's key cache.
#[derive(Debug, Clone, Serialize)]
pub struct KeyHealth {
    /// The cache state.
    pub state: KeyState,
    /// Keys in the current set.
    pub key_count: usize,
    /// Seconds since the current set was fetched (or confirmed by a `304`); for a
    /// persisted set, since the fetch that produced the record.
    pub loaded_secs_ago: Option<u64>,
    /// Where the current set came from (`None` while none is loaded).
    pub source: Option<KeySetSource>,
    /// Seconds since refreshes started failing, while they fail.
    pub failing_for_secs: Option<u64>,
    /// Seconds until a token naming an unknown `kid` may trigger a refetch again
    /// (0: not cooling down).
    pub cooldown_remaining_secs: u64,
    /// The JWKS URL in use (after discovery).
    pub jwks_url: Option<String>,
    /// The last fetch error, if the last fetch failed.
    pub last_error: Option<String>,
    /// Successful fetches (including `304`).
    pub fetches_ok: u64,
    /// Failed fetches.
    pub fetches_failed: u64,
    /// Fetches triggered by a token naming an unknown `kid`.
    pub unknown_kid_refetches: u64,
    /// Unknown `kid`s answered from the negative cache or inside the cooldown, without a fetch.
    pub unknown_kid_rejected: u64,
}

impl KeyState {
    /// Whether tokens can be verified with keys in this state: fresh, or stale inside
    /// the `max_stale` window.
    pub fn is_usable(self) -> bool {
        matches!(self, Self::Fresh | Self::Stale)
    }
}
