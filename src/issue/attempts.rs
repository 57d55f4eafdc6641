//! Failed-login budgets: reserved before the password check, so parallel guesses
//! cannot outrun them, and keyed by hashes, so memory does not grow with the names.

use std::sync::Arc;
use std::time::Duration;

#[cfg(test)]
use super::budget::ENTRY_BYTES;
use super::budget::{Budget, Counter, KeyedHash};
use super::limits::LoginLimits;

type Key = super::budget::Key;

/// Three budgets of failures: per name, per client address, in total ([`LoginLimits`]
/// for `/login`; the authorization server's client authentication uses the same).
pub(super) struct Attempts {
    keys: KeyedHash,
    per_login: Budget,
    per_client: Budget,
    total: Budget,
}

/// Attempts counted against the budgets; hand it back on success.
pub(super) struct Reservation<'a> {
    attempts: &'a Attempts,
    login: Key,
    counters: Vec<Arc<Counter>>,
}

impl Attempts {
    pub(super) fn new(limits: &LoginLimits) -> Self {
        Self::with_budgets(limits.per_login, limits.per_client, limits.total, limits.window)
    }

    /// `per_name` failures per name, `per_client` per client address, `total` in all,
    /// each per `window`.
    pub(super) fn with_budgets(per_name: u32, per_client: u32, total: u32, window: Duration) -> Self {
        // Failures are only ever counted after the global budget let them through, and
        // an entry outlives that budget's window by at most one window: twice the
        // ceiling (plus room for logins that succeed) never evicts a live counter.
        let entries = u64::from(total).saturating_mul(2).saturating_add(10_000);
        Self {
            keys: KeyedHash::new(),
            per_login: Budget::new(per_name, window, entries),
            per_client: Budget::new(per_client, window, entries),
            total: Budget::new(total, window, 1),
        }
    }

    /// Counts one attempt for `login` (already normalised) from `client`, or how long
    /// until the spent budget's window ends. Nothing stays counted on refusal.
    ///
    /// Past the global ceiling, a known client address with no failures of its own in
    /// the window is still admitted (its own budgets still apply): otherwise one
    /// attacker spraying names would lock every user out, while a botnet gains only one
    /// guess per address before its addresses are refused too.
    pub(super) fn reserve(&self, login: &str, client: Option<&str>) -> Result<Reservation<'_>, Duration> {
        let login = self.hash(b'l', login);
        let client = client.map(|c| self.hash(b'c', c));
        let mut reservation = Reservation { attempts: self, login, counters: Vec::with_capacity(3) };
        match self.total.reserve([0; 32]) {
            Ok(counter) => reservation.counters.push(counter),
            Err(_) if client.is_some_and(|c| self.per_client.count(c) == 0) => {}
            Err(wait) => return Err(wait),
        }
        let steps = client.map(|c| (&self.per_client, c)).into_iter().chain([(&self.per_login, login)]);
        for (budget, key) in steps {
            match budget.reserve(key) {
                Ok(counter) => reservation.counters.push(counter),
                Err(wait) => {
                    reservation.release();
                    return Err(wait);
                }
            }
        }
        Ok(reservation)
    }

    /// A short keyed hash of `login` for logs: the same name gives the same tag within
    /// this process, and the tag cannot be turned back into the name.
    pub(super) fn tag(&self, login: &str) -> String {
        self.hash(b'l', login).iter().take(6).map(|b| format!("{b:02x}")).collect()
    }

    fn hash(&self, domain: u8, value: &str) -> Key {
        self.keys.hash(domain, value)
    }

    #[cfg(test)]
    fn login_cache_bytes(&self) -> u64 {
        self.per_login.weighted_size()
    }
}

impl Reservation<'_> {
    /// The password was right: give the attempts back and forget the login's failures.
    pub(super) fn succeeded(mut self) {
        self.release();
        self.attempts.per_login.forget(self.login);
    }

    // A failure needs nothing: the attempts stay counted. So does a request dropped
    // while its check runs (fail closed).

    fn release(&mut self) {
        for counter in self.counters.drain(..) {
            counter.release();
        }
    }
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
            assert!(short.reserve(&format!("{i}"), None).is_ok());
            assert!(long.reserve(&format!("{i}-{}", "x".repeat(250)), None).is_ok());
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
        assert!(a.reserve("alice", Some("c")).is_ok());
        assert!(a.reserve("alice", Some("c")).is_ok());
        assert!(a.reserve("alice", Some("c")).is_err(), "alice's budget is spent");
        // The refusals did not eat the client's budget: one failure is left for bob.
        assert!(a.reserve("bob", Some("c")).is_ok());
        assert!(a.reserve("carol", Some("c")).is_err(), "the client's budget is spent");
        // A success gives its attempt back and clears the login.
        let b = attempts(LoginLimits::default().max_failures(1).max_failures_per_client(1));
        b.reserve("dave", Some("d")).unwrap().succeeded();
        assert!(b.reserve("dave", Some("d")).is_ok());
    }

    #[test]
    fn tags_are_stable_short_and_keyed() {
        let (a, b) = (attempts(LoginLimits::default()), attempts(LoginLimits::default()));
        assert_eq!(a.tag("alice"), a.tag("alice"));
        assert_eq!(a.tag("alice").len(), 12);
        assert_ne!(a.tag("alice"), b.tag("alice"), "another process (or router) tags differently");
    }
}
