//! A budget of events per key in a time window (failed logins, failed client
//! authentications, token requests): counters in a cache bounded in entries, keyed by
//! keyed hashes, so memory does not grow with what attackers send.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// A budget key: a keyed SHA-256 of what is counted.
pub(super) type Key = [u8; 32];

/// Bytes one tracked key costs, roughly: the 32-byte hash, its counter and moka's own
/// bookkeeping. Every entry weighs the same, however long the name was.
pub(super) const ENTRY_BYTES: u32 = 128;

/// Most entries one budget keeps (about 128 MiB), whatever the configured ceiling.
pub(super) const MAX_ENTRIES: u64 = 1 << 20;

/// At most `max` events per key in a window that starts with the key's first event.
pub(super) struct Budget {
    max: u32,
    window: Duration,
    counters: moka::sync::Cache<Key, Arc<Counter>>,
}

/// The events counted for one key, and when its window started.
pub(super) struct Counter {
    n: AtomicU32,
    started: Instant,
}

impl Counter {
    /// Gives one event back (never below zero, even if the counter was reset
    /// meanwhile).
    pub(super) fn release(&self) {
        let _ = self.n.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }
}

impl Budget {
    /// `max` events per key per `window`, for at most `entries` keys at once.
    pub(super) fn new(max: u32, window: Duration, entries: u64) -> Self {
        let counters = moka::sync::Cache::builder()
            .weigher(|_, _| ENTRY_BYTES)
            .max_capacity(entries.min(MAX_ENTRIES).saturating_mul(u64::from(ENTRY_BYTES)))
            // LRU admits every new key: TinyLFU could refuse to keep a fresh counter, and
            // a counter not kept would let every event start from zero.
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .time_to_live(window)
            .build();
        Self { max, window, counters }
    }

    /// Events counted for `key` in the window.
    pub(super) fn count(&self, key: Key) -> u32 {
        self.counters.get(&key).map_or(0, |c| c.n.load(Ordering::Acquire))
    }

    /// Takes one event from `key`'s budget, atomically, if any is left; otherwise how
    /// long until its window ends (at least a second).
    pub(super) fn reserve(&self, key: Key) -> Result<Arc<Counter>, Duration> {
        let counter =
            self.counters.get_with(key, || Arc::new(Counter { n: AtomicU32::new(0), started: Instant::now() }));
        let max = self.max;
        match counter.n.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then(|| n.saturating_add(1))) {
            Ok(_) => Ok(counter),
            // `elapsed` never panics, and Duration::saturating_sub never underflows.
            Err(_) => Err(self.window.saturating_sub(counter.started.elapsed()).max(Duration::from_secs(1))),
        }
    }

    /// The cache's weight in bytes, after pending evictions.
    #[cfg(test)]
    pub(super) fn weighted_size(&self) -> u64 {
        self.counters.run_pending_tasks();
        self.counters.weighted_size()
    }
}

/// Hashes names into budget keys with a per-process secret: the same name gives the
/// same key here, and nobody outside can precompute colliding names.
pub(super) struct KeyedHash {
    secret: Key,
}

impl KeyedHash {
    /// A fresh secret.
    pub(super) fn new() -> Self {
        Self { secret: random_key() }
    }

    /// The key of `value` in `domain` (one byte, so equal names in different budgets
    /// give different keys).
    pub(super) fn hash(&self, domain: u8, value: &str) -> Key {
        Sha256::new().chain_update(self.secret).chain_update([domain]).chain_update(value).finalize().into()
    }
}

/// 256 random bits from the crypto backend's generator.
fn random_key() -> Key {
    if let Ok(bytes) = crate::signing::random_bytes(32)
        && let Ok(key) = Key::try_from(bytes.as_slice())
    {
        return key;
    }
    let seed = {
        // No generator: the process's random hasher keys still keep tags unguessable
        // from outside.
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
        format!("{}-{}", h.finish(), std::process::id())
    };
    Sha256::digest(seed.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spent_budget_says_when_its_window_ends() {
        let budget = Budget::new(2, Duration::from_secs(60), 10);
        let key = [7; 32];
        let first = budget.reserve(key).unwrap();
        budget.reserve(key).unwrap();
        let wait = budget.reserve(key).err().unwrap();
        assert!(wait <= Duration::from_secs(60) && wait >= Duration::from_secs(58), "{wait:?}");
        first.release();
        assert_eq!(budget.count(key), 1);
        assert!(budget.reserve(key).is_ok());
    }
}
