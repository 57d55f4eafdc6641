//! Failed-login budgets: reserved before the password check, so parallel guesses
//! cannot outrun them, and keyed by hashes, so memory does not grow with the names.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::limits::LoginLimits;

type Key = [u8; 32];

/// Bytes one tracked key costs, roughly: the 32-byte hash, its counter and moka's own
/// bookkeeping. Every entry weighs the same, however long the name was.
const ENTRY_BYTES: u32 = 128;

/// Most entries one budget keeps (about 128 MiB), whatever the configured ceiling.
const MAX_ENTRIES: u64 = 1 << 20;

/// The three budgets of [`LoginLimits`].
pub(super) struct Attempts {
    secret: Key,
    per_login: Budget,
    per_client: Budget,
    total: Budget,
}

/// Attempts counted against the budgets; hand it back on success.
pub(super) struct Reservation<'a> {
    attempts: &'a Attempts,
    login: Key,
    counters: Vec<Arc<AtomicU32>>,
}

struct Budget {
    max: u32,
    counters: moka::sync::Cache<Key, Arc<AtomicU32>>,
}

impl Attempts {
    pub(super) fn new(limits: &LoginLimits) -> Self {
        // Failures are only ever counted after the global budget let them through, and
        // an entry outlives that budget's window by at most one window: twice the
        // ceiling (plus room for logins that succeed) never evicts a live counter.
        let entries = u64::from(limits.total).saturating_mul(2).saturating_add(10_000).min(MAX_ENTRIES);
        Self {
            secret: random_key(),
            per_login: Budget::new(limits.per_login, limits.window, entries),
            per_client: Budget::new(limits.per_client, limits.window, entries),
            total: Budget::new(limits.total, limits.window, 1),
        }
    }

    /// Counts one attempt for `login` (already normalised) from `client`, or `None`
    /// when a budget is spent. Nothing stays counted when `None` is returned.
    ///
    /// Past the global ceiling, a known client address with no failures of its own in
    /// the window is still admitted (its own budgets still apply): otherwise one
    /// attacker spraying names would lock every user out, while a botnet gains only one
    /// guess per address before its addresses are refused too.
    pub(super) fn reserve(&self, login: &str, client: Option<&str>) -> Option<Reservation<'_>> {
        let login = self.hash(b'l', login);
        let client = client.map(|c| self.hash(b'c', c));
        let mut reservation = Reservation { attempts: self, login, counters: Vec::with_capacity(3) };
        match self.total.reserve([0; 32]) {
            Some(counter) => reservation.counters.push(counter),
            None if client.is_some_and(|c| self.per_client.count(c) == 0) => {}
            None => return None,
        }
        let steps = client.map(|c| (&self.per_client, c)).into_iter().chain([(&self.per_login, login)]);
        for (budget, key) in steps {
            match budget.reserve(key) {
                Some(counter) => reservation.counters.push(counter),
                None => {
                    reservation.release();
                    return None;
                }
            }
        }
        Some(reservation)
    }

    /// A short keyed hash of `login` for logs: the same name gives the same tag within
    /// this process, and the tag cannot be turned back into the name.
    pub(super) fn tag(&self, login: &str) -> String {
        self.hash(b'l', login).iter().take(6).map(|b| format!("{b:02x}")).collect()
    }

    fn hash(&self, domain: u8, value: &str) -> Key {
        Sha256::new().chain_update(self.secret).chain_update([domain]).chain_update(value).finalize().into()
    }

    #[cfg(test)]
    fn login_cache_bytes(&self) -> u64 {
        self.per_login.counters.run_pending_tasks();
        self.per_login.counters.weighted_size()
    }
}

impl Reservation<'_> {
    /// The password was right: give the attempts back and forget the login's failures.
    pub(super) fn succeeded(mut self) {
        self.release();
        self.attempts.per_login.counters.invalidate(&self.login);
    }

    // A failure needs nothing: the attempts stay counted. So does a request dropped
    // while its check runs (fail closed).

    fn release(&mut self) {
        for counter in self.counters.drain(..) {
            // Never below zero, even if the counter was reset meanwhile.
            let _ = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        }
    }
}

impl Budget {
    fn new(max: u32, window: Duration, entries: u64) -> Self {
        let counters = moka::sync::Cache::builder()
            .weigher(|_, _| ENTRY_BYTES)
            .max_capacity(entries.saturating_mul(u64::from(ENTRY_BYTES)))
            // LRU admits every new key: TinyLFU could refuse to keep a fresh counter, and
            // a counter not kept would let every guess start from zero.
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .time_to_live(window)
            .build();
        Self { max, counters }
    }

    /// Attempts counted for `key` in the window.
    fn count(&self, key: Key) -> u32 {
        self.counters.get(&key).map_or(0, |c| c.load(Ordering::Acquire))
    }

    /// Takes one attempt from `key`'s budget, atomically, if any is left.
    fn reserve(&self, key: Key) -> Option<Arc<AtomicU32>> {
        let counter = self.counters.get_with(key, Arc::default);
        let max = self.max;
        counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then(|| n.saturating_add(1))).ok()?;
        Some(counter)
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

    fn attempts(limits: LoginLimits) -> Attempts {
        Attempts::new(&limits)
    }

    #[test]
    fn login_cache_weight_does_not_grow_with_name_length() {
        let short = attempts(LoginLimits::default().max_failures_total(u32::MAX));
        let long = attempts(LoginLimits::default().max_failures_total(u32::MAX));
        for i in 0..10_000 {
            assert!(short.reserve(&format!("{i}"), None).is_some());
            assert!(long.reserve(&format!("{i}-{}", "x".repeat(250)), None).is_some());
        }
        assert_eq!(short.login_cache_bytes(), long.login_cache_bytes());
        assert_eq!(long.login_cache_bytes(), 10_000 * u64::from(ENTRY_BYTES), "32-byte keys, not 256-byte names");
    }

    #[test]
    fn login_cache_stays_bounded_after_many_long_names() {
        // Default ceiling: past 1000 failures nothing new is tracked at all.
        let a = attempts(LoginLimits::default());
        for i in 0..10_000 {
            let _ = a.reserve(&format!("{i}-{}", "x".repeat(250)), Some("192.0.2.1"));
        }
        let with_ceiling = a.login_cache_bytes();
        assert!(with_ceiling <= 1000 * u64::from(ENTRY_BYTES), "{with_ceiling} bytes");
        // A small cache evicts instead of growing.
        let a = Attempts {
            per_login: Budget::new(5, Duration::from_secs(60), 100),
            ..attempts(LoginLimits::default().max_failures_total(u32::MAX))
        };
        for i in 0..10_000 {
            let _ = a.reserve(&format!("{i}-{}", "x".repeat(250)), None);
        }
        assert!(a.login_cache_bytes() <= 100 * u64::from(ENTRY_BYTES), "{} bytes", a.login_cache_bytes());
    }

    #[test]
    fn a_refused_attempt_takes_nothing_and_success_gives_back() {
        let a = attempts(LoginLimits::default().max_failures(2).max_failures_per_client(3));
        assert!(a.reserve("alice", Some("c")).is_some());
        assert!(a.reserve("alice", Some("c")).is_some());
        assert!(a.reserve("alice", Some("c")).is_none(), "alice's budget is spent");
        // The refusals did not eat the client's budget: one failure is left for bob.
        assert!(a.reserve("bob", Some("c")).is_some());
        assert!(a.reserve("carol", Some("c")).is_none(), "the client's budget is spent");
        // A success gives its attempt back and clears the login.
        let b = attempts(LoginLimits::default().max_failures(1).max_failures_per_client(1));
        b.reserve("dave", Some("d")).unwrap().succeeded();
        assert!(b.reserve("dave", Some("d")).is_some());
    }

    #[test]
    fn tags_are_stable_short_and_keyed() {
        let (a, b) = (attempts(LoginLimits::default()), attempts(LoginLimits::default()));
        assert_eq!(a.tag("alice"), a.tag("alice"));
        assert_eq!(a.tag("alice").len(), 12);
        assert_ne!(a.tag("alice"), b.tag("alice"), "another process (or router) tags differently");
    }
}
