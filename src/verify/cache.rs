//! The verified-token cache: a token seen before skips parsing and signature work.
//!
//! Safety rules, each covered by a test in `tests/cache.rs`:
//! - the key is the SHA-256 of the whole token, never a prefix;
//! - only tokens that passed every check are stored;
//! - every hit re-runs the time checks (`exp`, `nbf`, `iat`/max age) against the clock,
//!   so an entry never outlives its token;
//! - a hit counts only while the key that verified the token is still in its issuer's
//!   current key set (rotation or removal of a key ends its entries);
//! - requirements (scopes, roles...) are not cached: the layer checks them per route;
//! - the cache belongs to one verifier, so a new configuration starts empty.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use super::issuer::IssuerEntry;
use crate::claims::VerifiedToken;

/// Cache bounds: entries and (approximate) bytes, whichever is reached first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CacheLimits {
    pub(crate) max_entries: u64,
    pub(crate) max_bytes: u64,
}

impl Default for CacheLimits {
    fn default() -> Self {
        // Over 10 000 tokens of a typical 800 bytes (about 4.5 KiB each once decoded)
        // stay cached; memory stays bounded however many distinct tokens arrive.
        Self { max_entries: 11_000, max_bytes: 64 * 1024 * 1024 }
    }
}

pub(crate) type CacheKey = [u8; 32];

pub(crate) struct Entry {
    pub(crate) token: VerifiedToken,
    pub(crate) issuer: Arc<IssuerEntry>,
    pub(crate) key_fingerprint: u64,
    /// Read once, so a hit re-checks time without touching the claims map.
    pub(crate) times: super::TimeClaims,
}

pub(crate) struct TokenCache {
    entries: moka::sync::Cache<CacheKey, Arc<Entry>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Counters of the verified-token cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// Tokens answered from the cache.
    pub hits: u64,
    /// Tokens verified in full.
    pub misses: u64,
    /// Entries held now.
    pub entries: u64,
}

impl TokenCache {
    pub(crate) fn new(limits: CacheLimits) -> Self {
        // Weighing each entry at least max_bytes / max_entries bounds the entry count too.
        let floor = (limits.max_bytes / limits.max_entries.max(1)).max(1);
        let entries = moka::sync::Cache::builder()
            .max_capacity(limits.max_bytes)
            .weigher(move |_: &CacheKey, e: &Arc<Entry>| -> u32 {
                let estimate = e.token.approx_size() as u64;
                u32::try_from(estimate.max(floor)).unwrap_or(u32::MAX)
            })
            .build();
        Self { entries, hits: AtomicU64::new(0), misses: AtomicU64::new(0) }
    }

    pub(crate) fn key(token: &str) -> CacheKey {
        Sha256::digest(token.as_bytes()).into()
    }

    pub(crate) fn get(&self, key: &CacheKey) -> Option<Arc<Entry>> {
        let found = self.entries.get(key);
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    pub(crate) fn insert(&self, key: CacheKey, entry: Entry) {
        self.entries.insert(key, Arc::new(entry));
    }

    pub(crate) fn remove(&self, key: &CacheKey) {
        self.entries.invalidate(key);
    }

    pub(crate) fn stats(&self) -> CacheStats {
        // moka applies evictions lazily; settle them so the count is exact.
        self.entries.run_pending_tasks();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.entries.entry_count(),
        }
    }
}
