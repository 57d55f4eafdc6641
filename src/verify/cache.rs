//! The verified-token cache: a token seen before skips parsing and signature work.
//!
//! Safety rules, each covered by a test in `tests/safety/cache.rs`:
//! - an entry answers only for the token it was made from, compared byte for byte with
//!   the whole presented token, never a prefix or a digest (see [`TokenCache::get`]);
//! - only tokens that passed every check are stored;
//! - every hit re-runs the time checks (`exp`, `nbf`, `iat`/max age) against the clock,
//!   so an entry never outlives its token;
//! - a hit counts only while the key that verified the token is still in its issuer's
//!   current key set (rotation or removal of a key ends its entries);
//! - requirements (scopes, roles...) are not cached: the layer checks them per route;
//! - the cache belongs to one verifier, so a new configuration starts empty.
//!
//! The map is quick_cache with its sharded read lock, not moka: `benches/cache_maps.rs`
//! measured hits 4–20× faster across threads (no read log to replay, no shared lock
//! word) and misses that insert and evict 4–6× faster (moka's map rehashes itself as
//! deleted entries pile up).

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::issuer::IssuerEntry;
use super::stripes::Counters;
use crate::claims::VerifiedToken;
use crate::keys::KeySet;

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

/// Where a token's entry would be: a keyed 64-bit hash of the whole token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CacheKey(u64);

/// What a hit re-checks, carried by each cached [`VerifiedToken`] itself, so a hit
/// hands out the stored token: one reference count taken, no wrapper to count.
pub(crate) struct CacheCheck {
    pub(crate) issuer: Arc<IssuerEntry>,
    /// The issuer's key set that verified the token, and the key in it: while the set
    /// is current, a hit compares one pointer (`KeyStore::is_current`).
    pub(crate) keys: Arc<KeySet>,
    pub(crate) key_fingerprint: u64,
    /// Read once, so a hit re-checks time without touching the claims map.
    pub(crate) times: super::TimeClaims,
    /// The token itself: an entry answers only for exactly these bytes.
    pub(crate) raw: Box<[u8]>,
}

pub(crate) struct TokenCache {
    entries: quick_cache::sync::Cache<u64, VerifiedToken, Weight, PreHashed>,
    /// Seeded at random per cache, so nobody outside can aim tokens at one slot.
    hasher: foldhash::quality::FixedState,
    counters: Counters,
    metrics: crate::metrics::CacheMetrics,
    doorkeeper: Doorkeeper,
    /// The least an entry weighs.
    floor: u64,
}

/// Once the cache is full, a token is stored only when it comes back: the first
/// sighting leaves its key here. Tokens used once (more distinct tokens than the
/// cache holds) then cost no insertion and no eviction, so a thrashing cache is no
/// slower than none; a token used again is cached from its second request on.
struct Doorkeeper {
    seen: Box<[AtomicU64]>,
}

impl Doorkeeper {
    const SLOTS: usize = 4096;

    fn new() -> Self {
        Self { seen: (0..Self::SLOTS).map(|_| AtomicU64::new(0)).collect() }
    }

    /// Whether `key` was seen lately; remembers it if not. Slots are shared and
    /// overwritten, so this forgets: it only decides what is worth storing.
    fn admits(&self, key: CacheKey) -> bool {
        let Some(slot) = self.seen.get(key.0 as usize % Self::SLOTS) else { return true };
        slot.swap(key.0, Ordering::Relaxed) == key.0
    }
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
        let items = usize::try_from(limits.max_entries).unwrap_or(usize::MAX);
        let entries = quick_cache::sync::Cache::with(
            items,
            limits.max_bytes,
            Weight { floor },
            PreHashed,
            quick_cache::sync::DefaultLifecycle::default(),
        );
        let hasher = crate::random::os_seeded_hasher();
        let metrics = crate::metrics::CacheMetrics::register();
        Self { entries, hasher, counters: Counters::default(), metrics, doorkeeper: Doorkeeper::new(), floor }
    }

    pub(crate) fn key(&self, token: &[u8]) -> CacheKey {
        CacheKey(self.hasher.hash_one(token))
    }

    /// The entry made from exactly `token`, if any.
    ///
    /// The hash only says where to look. Whether the entry answers is decided by
    /// comparing its stored token with the presented one in full, so two tokens with
    /// the same hash, by chance or forged, can never share an entry: the second is a
    /// miss and is verified in full. That is what SHA-256 gave before, at a fraction of
    /// the cost per request. The comparison takes the same time wherever the first
    /// differing byte is, so even a token placed in the slot of another one learns
    /// nothing about it.
    pub(crate) fn get(&self, key: CacheKey, token: &[u8]) -> Option<VerifiedToken> {
        let found = self
            .entries
            .get(&key.0)
            .filter(|t| t.cache_check().is_some_and(|check| constant_time_eq(&check.raw, token)));
        self.counters.count(found.is_some());
        self.metrics.count(found.is_some());
        found
    }

    /// Whether a verified token with this key should be stored (see [`Doorkeeper`]).
    pub(crate) fn worth_storing(&self, key: CacheKey) -> bool {
        // The total weight sums the shards: read only on a miss, beside a signature check.
        let full = self.entries.weight().saturating_add(self.floor) > self.entries.capacity();
        !full || self.doorkeeper.admits(key)
    }

    /// Stores `token`, which must carry its [`CacheCheck`] (one without never hits).
    pub(crate) fn insert(&self, key: CacheKey, token: VerifiedToken) {
        self.entries.insert(key.0, token);
    }

    pub(crate) fn remove(&self, key: CacheKey) {
        self.entries.remove(&key.0);
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let (hits, misses) = self.counters.totals();
        CacheStats { hits, misses, entries: self.entries.len() as u64 }
    }
}

/// Equal lengths and equal bytes, read to the end whatever the first difference.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut differ = 0u8;
    for (x, y) in a.chunks(64).zip(b.chunks(64)) {
        let block = x.iter().zip(y).fold(0u8, |d, (p, q)| d | (p ^ q));
        // The running result goes through `black_box` after every block, so the
        // compiler must compute each block and cannot stop at the first difference;
        // within a block the fold stays vectorised (`subtle` compares byte by byte).
        differ = std::hint::black_box(differ | block);
    }
    differ == 0
}

/// Each entry weighs its approximate heap size, at least `floor`.
#[derive(Clone)]
struct Weight {
    floor: u64,
}

impl quick_cache::Weighter<u64, VerifiedToken> for Weight {
    fn weight(&self, _: &u64, token: &VerifiedToken) -> u64 {
        let raw = token.cache_check().map_or(0, |c| c.raw.len());
        let estimate = token.approx_size().saturating_add(raw) as u64;
        estimate.max(self.floor)
    }
}

/// The map's keys are already keyed hashes: used as they are, not hashed again.
#[derive(Clone, Copy, Default)]
struct PreHashed;

#[derive(Default)]
struct PreHashedHasher(u64);

impl Hasher for PreHashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys reach this map (`write_u64`); anything else still hashes.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl BuildHasher for PreHashed {
    type Hasher = PreHashedHasher;

    fn build_hasher(&self) -> PreHashedHasher {
        PreHashedHasher::default()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::{CacheCheck, CacheKey, CacheLimits, TokenCache, constant_time_eq};
    use crate::claims::{RoleSources, VerifiedToken};
    use crate::keys::{KeyStore as _, StaticKeys};
    use crate::verify::TimeClaims;
    use crate::verify::issuer::IssuerEntry;

    fn entry(raw: &[u8]) -> VerifiedToken {
        let claims = json!({"sub": "u", "exp": 4_000_000_000_u64});
        let token = VerifiedToken::new(json!({}), claims, 4_000_000_000, &RoleSources::default(), raw.len()).unwrap();
        let store = StaticKeys::new(Vec::new());
        let keys = store.current().unwrap();
        let issuer = Arc::new(IssuerEntry::any(Arc::new(store), &[]));
        let times = TimeClaims { exp: Some(4_000_000_000), nbf: None, iat: None };
        token.with_cache_check(CacheCheck { issuer, keys, key_fingerprint: 1, times, raw: raw.into() }).ok().unwrap()
    }

    #[test]
    fn an_entry_answers_only_for_its_own_token() {
        let cache = TokenCache::new(CacheLimits::default());
        let key = cache.key(b"token-a");
        cache.insert(key, entry(b"token-a"));
        assert!(cache.get(key, b"token-a").is_some());
        // Another token landing on the same key (a collision, by chance or forged) is a
        // miss, whatever it shares with the stored one.
        for other in [&b"token-b"[..], b"token-", b"token-ab", b""] {
            assert!(cache.get(key, other).is_none());
        }
        assert!(cache.get(CacheKey(key.0 ^ 1), b"token-a").is_none());
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.entries), (1, 5, 1));
    }

    #[test]
    fn a_full_cache_stores_a_token_when_it_comes_back() {
        let cache = TokenCache::new(CacheLimits { max_entries: 2, max_bytes: 1 << 20 });
        for raw in [&b"one"[..], b"two"] {
            let key = cache.key(raw);
            assert!(cache.worth_storing(key), "room left: stored at once");
            cache.insert(key, entry(raw));
        }
        let key = cache.key(b"three");
        assert!(!cache.worth_storing(key), "full: a first sighting is not stored");
        assert!(cache.worth_storing(key), "its second one is");
        let other = cache.key(b"four");
        assert!(!cache.worth_storing(other));
    }

    #[test]
    fn equal_means_same_length_and_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        // Differences in any 64-byte block, the last one partial.
        let a = vec![b'x'; 200];
        for at in [0, 63, 64, 127, 199] {
            let mut b = a.clone();
            b[at] = b'y';
            assert!(!constant_time_eq(&a, &b), "difference at {at}");
        }
        assert!(constant_time_eq(&a, &a.clone()));
    }
}
