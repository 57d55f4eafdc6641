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
    /// Whether, with no client address, a registered name with no failures of its own
    /// passes the global ceiling (see [`Attempts::reserve_registered`]).
    names_pass_ceiling: bool,
}

/// Attempts counted against the budgets; hand it back on success.
pub(super) struct Reservation {
    counters: Vec<Arc<Counter>>,
}

impl Attempts {
    pub(super) fn new(limits: &LoginLimits) -> Self {
        Self::with_budgets(limits.per_login, limits.per_client, limits.total, limits.window, false)
    }

    /// The budgets of client authentication at the authorization server: `per_client`
    /// failures per claimed `client_id`, `per_address` per client address, `total` in
    /// all, each per `window`. Client secrets are generated, not chosen: spraying one
    /// guess over many client ids finds nothing, so past the global ceiling a
    /// registered client with no failures of its own is let through even when no
    /// address is known ([`Attempts::reserve_registered`]).
    pub(super) fn for_clients(per_client: u32, per_address: u32, total: u32, window: Duration) -> Self {
        Self::with_budgets(per_client, per_address, total, window, true)
    }

    fn with_budgets(per_name: u32, per_client: u32, total: u32, window: Duration, names_pass_ceiling: bool) -> Self {
        // Failures are only ever counted after the global budget let them through, and
        // an entry outlives that budget's window by at most one window: twice the
        // ceiling (plus room for logins that succeed) never evicts a live counter.
        let entries = u64::from(total).saturating_mul(2).saturating_add(10_000);
        Self {
            keys: KeyedHash::new(),
            per_login: Budget::new(per_name, window, entries),
            per_client: Budget::new(per_client, window, entries),
            total: Budget::new(total, window, 1),
            names_pass_ceiling,
        }
    }

    /// Counts one attempt for `login` (already normalised; `None`: an attempt counted
    /// against no name) from `client`, or how long until the spent budget's window
    /// ends. Nothing stays counted on refusal.
    ///
    /// Past the global ceiling, a known client address with no failures of its own in
    /// the window is still admitted (its own budgets still apply): otherwise one
    /// attacker spraying names would lock every user out, while a botnet gains only one
    /// guess per address before its addresses are refused too. With no address, a
    /// name is refused (one password sprayed over every user name is what the ceiling
    /// is for); see [`Attempts::reserve_registered`] for registered clients.
    pub(super) fn reserve(&self, login: Option<&str>, client: Option<&str>) -> Result<Reservation, Duration> {
        self.reserve_past_ceiling(login, client, false)
    }

    /// [`Attempts::reserve`] for the `client_id` of a registered client: with no
    /// address, the [client authentication](Self::for_clients) budgets let it past the
    /// global ceiling when it has no failures of its own. Only a registered one: an
    /// unknown id always has none, and fresh ids each adding a counter would evict
    /// real clients' spent ones from the bounded cache.
    pub(super) fn reserve_registered(&self, login: &str, client: Option<&str>) -> Result<Reservation, Duration> {
        self.reserve_past_ceiling(Some(login), client, self.names_pass_ceiling)
    }

    fn reserve_past_ceiling(
        &self,
        login: Option<&str>,
        client: Option<&str>,
        name_may_pass: bool,
    ) -> Result<Reservation, Duration> {
        let login = login.map(|l| self.hash(b'l', l));
        let client = client.map(|c| self.hash(b'c', c));
        let mut reservation = Reservation { counters: Vec::with_capacity(3) };
        match self.total.reserve([0; 32]) {
            Ok(counter) => reservation.counters.push(counter),
            Err(_) if self.passes_ceiling(login, client, name_may_pass) => {}
            Err(wait) => return Err(wait),
        }
        let steps = client.map(|c| (&self.per_client, c)).into_iter().chain(login.map(|l| (&self.per_login, l)));
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

    /// Whether an attempt refused by the spent global budget is let through to its own.
    fn passes_ceiling(&self, login: Option<Key>, client: Option<Key>, name_may_pass: bool) -> bool {
        match client {
            Some(client) => self.per_client.count(client) == 0,
            None => name_may_pass && login.is_some_and(|l| self.per_login.count(l) == 0),
        }
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

impl Reservation {
    /// The password was right: give this attempt back. Only this one: the failures
    /// before it stay counted, or guesses made between the owner's successes would
    /// never run out.
    pub(super) fn succeeded(mut self) {
        self.release();
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
            assert!(short.reserve(Some(&format!("{i}")), None).is_ok());
            assert!(long.reserve(Some(&format!("{i}-{}", "x".repeat(250))), None).is_ok());
        }
        assert_eq!(short.login_cache_bytes(), long.login_cache_bytes());
        assert_eq!(long.login_cache_bytes(), 10_000 * u64::from(ENTRY_BYTES), "32-byte keys, not 256-byte names");
    }

    #[test]
    fn login_cache_stays_bounded_after_many_long_names() {
        // Default ceiling: past 1000 failures nothing new is tracked at all.
        let a = attempts(LoginLimits::default());
        for i in 0..10_000 {
            let _ = a.reserve(Some(&format!("{i}-{}", "x".repeat(250))), Some("192.0.2.1"));
        }
        let with_ceiling = a.login_cache_bytes();
        assert!(with_ceiling <= 1000 * u64::from(ENTRY_BYTES), "{with_ceiling} bytes");
        // A small cache evicts instead of growing.
        let a = Attempts {
            per_login: Budget::new(5, Duration::from_secs(60), 100),
            ..attempts(LoginLimits::default().max_failures_total(u32::MAX))
        };
        for i in 0..10_000 {
            let _ = a.reserve(Some(&format!("{i}-{}", "x".repeat(250))), None);
        }
        assert!(a.login_cache_bytes() <= 100 * u64::from(ENTRY_BYTES), "{} bytes", a.login_cache_bytes());
    }

    #[test]
    fn a_refused_attempt_takes_nothing_and_success_gives_back() {
        let a = attempts(LoginLimits::default().max_failures(2).max_failures_per_client(3));
        assert!(a.reserve(Some("alice"), Some("c")).is_ok());
        assert!(a.reserve(Some("alice"), Some("c")).is_ok());
        assert!(a.reserve(Some("alice"), Some("c")).is_err(), "alice's budget is spent");
        // The refusals did not eat the client's budget: one failure is left for bob.
        assert!(a.reserve(Some("bob"), Some("c")).is_ok());
        assert!(a.reserve(Some("carol"), Some("c")).is_err(), "the client's budget is spent");
        // A success gives its attempt back.
        let b = attempts(LoginLimits::default().max_failures(1).max_failures_per_client(1));
        b.reserve(Some("dave"), Some("d")).unwrap().succeeded();
        assert!(b.reserve(Some("dave"), Some("d")).is_ok());
    }

    #[test]
    fn a_success_gives_back_only_its_own_attempt() {
        let a = attempts(LoginLimits::default().max_failures(2));
        assert!(a.reserve(Some("erin"), None).is_ok());
        a.reserve(Some("erin"), None).unwrap().succeeded();
        assert!(a.reserve(Some("erin"), None).is_ok());
        assert!(a.reserve(Some("erin"), None).is_err(), "two failures in the window, a success between them");
    }

    #[test]
    fn without_an_address_only_registered_clients_pass_the_ceiling() {
        let login = attempts(LoginLimits::default().max_failures_total(1));
        assert!(login.reserve(Some("a"), None).is_ok());
        assert!(login.reserve(Some("b"), None).is_err(), "/login: spraying names meets the ceiling");
        assert!(login.reserve_registered("b", None).is_err(), "/login: whatever the caller says");
        let clients = Attempts::for_clients(10, 10, 1, Duration::from_secs(60));
        assert!(clients.reserve_registered("a", None).is_ok());
        assert!(clients.reserve_registered("b", None).is_ok(), "a client with no failures of its own");
        assert!(clients.reserve_registered("a", None).is_err(), "a client with failures waits");
        assert!(clients.reserve(None, None).is_err(), "no name, no address: nothing to let through");
        let before = clients.login_cache_bytes();
        for i in 0..100 {
            assert!(clients.reserve(Some(&format!("unknown-{i}")), None).is_err(), "an unknown id waits");
        }
        assert_eq!(clients.login_cache_bytes(), before, "and adds no counter");
    }

    #[test]
    fn tags_are_stable_short_and_keyed() {
        let (a, b) = (attempts(LoginLimits::default()), attempts(LoginLimits::default()));
        assert_eq!(a.tag("alice"), a.tag("alice"));
        assert_eq!(a.tag("alice").len(), 12);
        assert_ne!(a.tag("alice"), b.tag("alice"), "another process (or router) tags differently");
    }
}
