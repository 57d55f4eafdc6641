//! [`MemoryStore`]: the [`GrantStore`] of one process, bounded in size and time.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::store::{
    AccessRecord, Grant, GrantStore, MAX_TTL, PendingCode, REVOCATION_MEMORY, RefreshRecord, StoreError, StoreFuture,
    Taken, TokenKey,
};

/// Default bounds, per record kind. Codes live minutes and need a user's consent;
/// grants and tokens live days.
const DEFAULT_MAX_CODES: usize = 100_000;
const DEFAULT_MAX_GRANTS: usize = 1_000_000;
const DEFAULT_MAX_TOKENS: usize = 1_000_000;

/// Codes, grants and tokens in this process's memory: for a single instance (several
/// instances need a shared store such as [`RedisGrantStore`](super::RedisGrantStore)).
/// The default store of [`AuthorizationServer`](super::AuthorizationServer).
///
/// Each record kind is bounded (100 000 codes; 1 000 000 grants, refresh tokens and
/// access tokens by default) and each record is dropped at the end of its `ttl`.
/// A full kind **refuses** new records (the endpoint answers `503
/// temporarily_unavailable`) rather than evicting old ones: evicting a live grant
/// would silently log a user out, and evicting a used code or refresh token's marker
/// would turn a replay, which must revoke its grant (RFC 9700 §4.14), into a mere
/// miss. Refusing issues nothing and forgets nothing: it fails closed. Expired
/// records never count against the bound. A grant holds at most three refresh-token
/// records (its live token, one used marker, and a new token while it rotates), and a
/// revoked grant's slot holds its revocation for
/// [`REVOCATION_MEMORY`](super::REVOCATION_MEMORY).
///
/// Clones share one state; servers of different issuers sharing it read only their own
/// grants ([`Grant::issuer`](super::Grant::issuer)). Its `Debug` shows how many records
/// it holds, never a key.
///
/// ```
/// use tower_bearer::issue::server::MemoryStore;
///
/// let store = MemoryStore::new().max_codes(10_000).max_grants(100_000);
/// # let _ = store;
/// ```
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Tables>,
}

struct Tables {
    codes: Mutex<Table<SingleUse<PendingCode>>>,
    grants: Mutex<Table<GrantSlot>>,
    refresh_tokens: Mutex<Table<SingleUse<RefreshRecord>>>,
    access_tokens: Mutex<Table<AccessRecord>>,
}

impl Default for Tables {
    fn default() -> Self {
        Self {
            codes: Mutex::new(Table::new("codes", DEFAULT_MAX_CODES)),
            grants: Mutex::new(Table::new("grants", DEFAULT_MAX_GRANTS)),
            refresh_tokens: Mutex::new(Table::new("refresh tokens", DEFAULT_MAX_TOKENS)),
            access_tokens: Mutex::new(Table::new("access tokens", DEFAULT_MAX_TOKENS)),
        }
    }
}

/// A code or refresh token: unused, or used and kept as a marker naming its grant.
enum SingleUse<T> {
    Unused(T),
    Used { grant_id: String },
}

/// A grant, or the memory of its revocation (so it is not stored again late).
enum GrantSlot {
    Live(Box<Grant>),
    Revoked,
}

/// One record kind: entries with their deadlines, and a min-heap of deadlines so
/// expired entries are dropped in `O(log n)` each, without scanning.
struct Table<V> {
    kind: &'static str,
    max: usize,
    entries: HashMap<String, (V, Instant)>,
    /// `(deadline, key)`; an item whose entry was replaced or deleted is skipped when
    /// popped.
    deadlines: BinaryHeap<Reverse<(Instant, String)>>,
}

impl<V> Table<V> {
    fn new(kind: &'static str, max: usize) -> Self {
        Self { kind, max, entries: HashMap::new(), deadlines: BinaryHeap::new() }
    }

    /// Drops the entries whose deadline has passed.
    fn purge(&mut self, now: Instant) {
        while self.deadlines.peek().is_some_and(|Reverse((deadline, _))| *deadline <= now) {
            let Some(Reverse((deadline, key))) = self.deadlines.pop() else { break };
            if self.entries.get(&key).is_some_and(|(_, d)| *d == deadline) {
                self.entries.remove(&key);
            }
        }
    }

    /// Stores `value` under `key` unless a live entry is there: `false` then.
    fn insert_new(&mut self, key: &str, value: V, ttl: Duration) -> Result<bool, StoreError> {
        self.purge(Instant::now());
        if self.entries.contains_key(key) {
            return Ok(false);
        }
        self.insert(key, value, ttl).map(|()| true)
    }

    /// Stores `value` under `key`, replacing what is there.
    fn insert(&mut self, key: &str, value: V, ttl: Duration) -> Result<(), StoreError> {
        let now = Instant::now();
        self.purge(now);
        if !self.entries.contains_key(key) && self.entries.len() >= self.max {
            return Err(StoreError::new(format!(
                "the memory store is full: it holds its maximum of {} {}",
                self.max, self.kind
            )));
        }
        // Unreachable with MAX_TTL; if it were, the record is born expired (denies).
        let deadline = now.checked_add(ttl.min(MAX_TTL)).unwrap_or(now);
        // Deleted entries leave their deadline queued until it passes; churn
        // (issue, revoke, issue…) must not grow the queue past the table's bound.
        if self.deadlines.len() >= self.max.saturating_mul(2).max(1024) {
            self.deadlines = self.entries.iter().map(|(k, (_, d))| Reverse((*d, k.clone()))).collect();
        }
        self.deadlines.push(Reverse((deadline, key.to_owned())));
        self.entries.insert(key.to_owned(), (value, deadline));
        Ok(())
    }

    /// The entry under `key`, unless expired.
    fn live(&mut self, key: &str) -> Option<&mut V> {
        let now = Instant::now();
        match self.entries.get_mut(key) {
            Some((value, deadline)) if *deadline > now => Some(value),
            _ => None,
        }
    }

    fn remove(&mut self, key: &str) {
        self.entries.remove(key);
    }
}

fn lock<V>(table: &Mutex<Table<V>>) -> Result<MutexGuard<'_, Table<V>>, StoreError> {
    table.lock().map_err(|_| StoreError::new("the memory store's lock is poisoned"))
}

/// Marks the record under `key` used and returns what it was, in one critical
/// section: of concurrent takes exactly one sees it unused.
fn take<T>(
    table: &Mutex<Table<SingleUse<T>>>,
    key: &TokenKey,
    grant_of: fn(&T) -> &str,
) -> Result<Taken<T>, StoreError> {
    let mut table = lock(table)?;
    let Some(slot) = table.live(key.as_str()) else { return Ok(Taken::Missing) };
    let grant_id = match slot {
        SingleUse::Unused(record) => grant_of(record),
        SingleUse::Used { grant_id } => grant_id,
    }
    .to_owned();
    Ok(match std::mem::replace(slot, SingleUse::Used { grant_id }) {
        SingleUse::Unused(record) => Taken::First(record),
        SingleUse::Used { grant_id } => Taken::Again { grant_id },
    })
}

/// `insert_new` for a key only a token generator chose: a taken key is an error.
fn insert_token<V>(table: &Mutex<Table<V>>, key: &TokenKey, value: V, ttl: Duration) -> Result<(), StoreError> {
    match lock(table)?.insert_new(key.as_str(), value, ttl)? {
        true => Ok(()),
        false => Err(StoreError::new("a record is already stored under this key (a repeated token)")),
    }
}

fn done<'a, T: Send + 'a>(result: Result<T, StoreError>) -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(result))
}

impl MemoryStore {
    /// An empty store with the default bounds.
    pub fn new() -> Self {
        Self::default()
    }

    /// Most authorization codes held at once, used ones included (100 000).
    pub fn max_codes(self, max: usize) -> Self {
        if let Ok(mut t) = lock(&self.inner.codes) {
            t.max = max;
        }
        self
    }

    /// Most grants held at once (1 000 000).
    pub fn max_grants(self, max: usize) -> Self {
        if let Ok(mut t) = lock(&self.inner.grants) {
            t.max = max;
        }
        self
    }

    /// Most refresh tokens held at once, used ones included (1 000 000).
    pub fn max_refresh_tokens(self, max: usize) -> Self {
        if let Ok(mut t) = lock(&self.inner.refresh_tokens) {
            t.max = max;
        }
        self
    }

    /// Most access-token records held at once (1 000 000).
    pub fn max_access_tokens(self, max: usize) -> Self {
        if let Ok(mut t) = lock(&self.inner.access_tokens) {
            t.max = max;
        }
        self
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn held<V>(table: &Mutex<Table<V>>) -> usize {
            lock(table).map_or(0, |t| t.entries.len())
        }
        let i = &self.inner;
        f.debug_struct("MemoryStore")
            .field("codes", &held(&i.codes))
            .field("grants", &held(&i.grants))
            .field("refresh_tokens", &held(&i.refresh_tokens))
            .field("access_tokens", &held(&i.access_tokens))
            .finish()
    }
}

impl GrantStore for MemoryStore {
    fn put_code<'a>(&'a self, key: &'a TokenKey, code: PendingCode, ttl: Duration) -> StoreFuture<'a, ()> {
        done(insert_token(&self.inner.codes, key, SingleUse::Unused(code), ttl))
    }

    fn take_code<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Taken<PendingCode>> {
        done(take(&self.inner.codes, key, |code| &code.grant.id))
    }

    fn put_grant<'a>(&'a self, grant: Grant, ttl: Duration) -> StoreFuture<'a, bool> {
        done(
            lock(&self.inner.grants)
                .and_then(|mut t| t.insert_new(&grant.id.clone(), GrantSlot::Live(Box::new(grant)), ttl)),
        )
    }

    fn grant<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Grant>> {
        done(lock(&self.inner.grants).map(|mut t| match t.live(id) {
            Some(GrantSlot::Live(grant)) => Some(Grant::clone(grant)),
            _ => None,
        }))
    }

    fn revoke_grant<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        // One critical section: the grant is gone and its revocation remembered.
        done(lock(&self.inner.grants).and_then(|mut t| t.insert(id, GrantSlot::Revoked, REVOCATION_MEMORY)))
    }

    fn put_refresh_token<'a>(&'a self, key: &'a TokenKey, record: RefreshRecord, ttl: Duration) -> StoreFuture<'a, ()> {
        done(insert_token(&self.inner.refresh_tokens, key, SingleUse::Unused(record), ttl))
    }

    fn delete_refresh_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, ()> {
        done(lock(&self.inner.refresh_tokens).map(|mut t| t.remove(key.as_str())))
    }

    fn take_refresh_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Taken<RefreshRecord>> {
        done(take(&self.inner.refresh_tokens, key, |record| &record.grant_id))
    }

    fn refresh_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Option<RefreshRecord>> {
        done(lock(&self.inner.refresh_tokens).map(|mut t| match t.live(key.as_str()) {
            Some(SingleUse::Unused(record)) => Some(record.clone()),
            _ => None,
        }))
    }

    fn put_access_token<'a>(&'a self, key: &'a TokenKey, record: AccessRecord, ttl: Duration) -> StoreFuture<'a, ()> {
        done(insert_token(&self.inner.access_tokens, key, record, ttl))
    }

    fn access_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Option<AccessRecord>> {
        done(lock(&self.inner.access_tokens).map(|mut t| t.live(key.as_str()).cloned()))
    }

    fn revoke_access_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, ()> {
        done(lock(&self.inner.access_tokens).map(|mut t| t.remove(key.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    use futures_util::FutureExt as _;
    use serde_json::Map;

    use super::MemoryStore;
    use crate::issue::server::store::{AccessRecord, Grant, GrantStore, PendingCode, RefreshRecord, Taken, TokenKey};

    fn grant(id: &str) -> Grant {
        Grant {
            id: id.into(),
            issuer: "https://as.example.com".into(),
            client_id: "web".into(),
            subject: "alice".into(),
            scope: vec!["read".into()],
            auth_time: 1,
            created_at: 1,
            expires_at: 2,
            claims: Map::new(),
        }
    }

    fn code(grant_id: &str) -> PendingCode {
        PendingCode { grant: grant(grant_id), redirect_uri: None, code_challenge: "c".repeat(43), expires_at: 2 }
    }

    fn refresh(grant_id: &str) -> RefreshRecord {
        RefreshRecord { grant_id: grant_id.into(), client_id: "web".into(), expires_at: 2, previous: None }
    }

    fn access(grant_id: &str) -> AccessRecord {
        AccessRecord {
            grant_id: grant_id.into(),
            client_id: "web".into(),
            subject: "alice".into(),
            scope: vec![],
            audience: "api".into(),
            issued_at: 1,
            expires_at: 2,
            jti: "j".into(),
        }
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn of_concurrent_takes_exactly_one_is_first() {
        for round in 0..20 {
            let store = MemoryStore::new();
            let (code_key, refresh_key) = (TokenKey::of(&format!("code-{round}")), TokenKey::of("rt"));
            store.put_code(&code_key, code("g"), MINUTE).now_or_never().unwrap().unwrap();
            store.put_refresh_token(&refresh_key, refresh("g"), MINUTE).now_or_never().unwrap().unwrap();
            let barrier = Arc::new(Barrier::new(8));
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let (store, barrier, code_key, refresh_key) =
                        (store.clone(), barrier.clone(), code_key.clone(), refresh_key.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        let code = store.take_code(&code_key).now_or_never().unwrap().unwrap();
                        let refresh = store.take_refresh_token(&refresh_key).now_or_never().unwrap().unwrap();
                        (matches!(code, Taken::First(_)), matches!(refresh, Taken::First(_)), code, refresh)
                    })
                })
                .collect();
            let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
            assert_eq!(results.iter().filter(|r| r.0).count(), 1, "one first use of the code");
            assert_eq!(results.iter().filter(|r| r.1).count(), 1, "one first use of the refresh token");
            for (first_code, first_refresh, code, refresh) in results {
                if !first_code {
                    assert_eq!(code, Taken::Again { grant_id: "g".into() });
                }
                if !first_refresh {
                    assert_eq!(refresh, Taken::Again { grant_id: "g".into() });
                }
            }
        }
    }

    #[test]
    fn a_used_record_is_a_marker_until_its_ttl() {
        let store = MemoryStore::new();
        let key = TokenKey::of("rt");
        store.put_refresh_token(&key, refresh("g"), Duration::from_millis(150)).now_or_never().unwrap().unwrap();
        assert_eq!(store.refresh_token(&key).now_or_never().unwrap().unwrap(), Some(refresh("g")));
        assert_eq!(store.take_refresh_token(&key).now_or_never().unwrap().unwrap(), Taken::First(refresh("g")));
        assert_eq!(store.refresh_token(&key).now_or_never().unwrap().unwrap(), None, "used: not readable");
        let again = Taken::Again { grant_id: "g".into() };
        assert_eq!(store.take_refresh_token(&key).now_or_never().unwrap().unwrap(), again);
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(store.take_refresh_token(&key).now_or_never().unwrap().unwrap(), Taken::Missing);
    }

    #[test]
    fn records_expire_at_their_ttl() {
        let store = MemoryStore::new();
        let key = TokenKey::of("at");
        let short = Duration::from_millis(100);
        store.put_access_token(&key, access("g"), short).now_or_never().unwrap().unwrap();
        store.put_grant(grant("g"), short).now_or_never().unwrap().unwrap();
        store.put_code(&key, code("g"), short).now_or_never().unwrap().unwrap();
        assert!(store.access_token(&key).now_or_never().unwrap().unwrap().is_some());
        assert!(store.grant("g").now_or_never().unwrap().unwrap().is_some());
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(store.access_token(&key).now_or_never().unwrap().unwrap(), None);
        assert_eq!(store.grant("g").now_or_never().unwrap().unwrap(), None);
        assert_eq!(store.take_code(&key).now_or_never().unwrap().unwrap(), Taken::Missing);
        // A ttl no Instant can hold does not panic; the record is kept (bounded by MAX_TTL).
        store.put_grant(grant("long"), Duration::MAX).now_or_never().unwrap().unwrap();
        assert!(store.grant("long").now_or_never().unwrap().unwrap().is_some());
    }

    #[test]
    fn a_full_kind_refuses_new_records_and_keeps_the_old_ones() {
        let store = MemoryStore::new().max_codes(2).max_grants(1);
        let (a, b, c) = (TokenKey::of("a"), TokenKey::of("b"), TokenKey::of("c"));
        store.put_code(&a, code("ga"), MINUTE).now_or_never().unwrap().unwrap();
        store.put_code(&b, code("gb"), Duration::from_millis(100)).now_or_never().unwrap().unwrap();
        // Used codes still count: their markers are what detects a replay.
        assert!(matches!(store.take_code(&a).now_or_never().unwrap().unwrap(), Taken::First(_)));
        let full = store.put_code(&c, code("gc"), MINUTE).now_or_never().unwrap().unwrap_err();
        assert!(full.to_string().contains("full"), "{full}");
        assert_eq!(store.take_code(&a).now_or_never().unwrap().unwrap(), Taken::Again { grant_id: "ga".into() });
        assert!(matches!(store.take_code(&b).now_or_never().unwrap().unwrap(), Taken::First(_)));
        // Expired records do not count.
        std::thread::sleep(Duration::from_millis(150));
        store.put_code(&c, code("gc"), MINUTE).now_or_never().unwrap().unwrap();

        assert!(store.put_grant(grant("g1"), MINUTE).now_or_never().unwrap().unwrap());
        assert!(store.put_grant(grant("g2"), MINUTE).now_or_never().unwrap().is_err());
        // Storing a grant again (same id) is no new record, and stores nothing.
        assert!(!store.put_grant(grant("g1"), MINUTE).now_or_never().unwrap().unwrap());
        // A revocation holds its grant's slot (it is remembered), taking no new one.
        store.revoke_grant("g1").now_or_never().unwrap().unwrap();
        assert!(store.put_grant(grant("g2"), MINUTE).now_or_never().unwrap().is_err());
        // Full, a revocation of a grant not stored yet cannot be remembered: an error.
        assert!(store.revoke_grant("g3").now_or_never().unwrap().is_err());
    }

    #[test]
    fn churn_does_not_grow_the_deadline_queue_past_its_bound() {
        let store = MemoryStore::new().max_access_tokens(4);
        for i in 0..5000 {
            let key = TokenKey::of(&i.to_string());
            store.put_access_token(&key, access("g"), MINUTE).now_or_never().unwrap().unwrap();
            store.revoke_access_token(&key).now_or_never().unwrap().unwrap();
        }
        let queued = store.inner.access_tokens.lock().unwrap().deadlines.len();
        assert!(queued <= 1024, "{queued} deadlines queued");
    }

    #[test]
    fn debug_shows_counts_not_keys() {
        let store = MemoryStore::new();
        let key = TokenKey::of("secret-code");
        store.put_code(&key, code("g"), MINUTE).now_or_never().unwrap().unwrap();
        let shown = format!("{store:?}");
        assert_eq!(shown, "MemoryStore { codes: 1, grants: 0, refresh_tokens: 0, access_tokens: 0 }");
        assert!(!shown.contains(key.as_str()));
    }
}
