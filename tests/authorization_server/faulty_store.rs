//! A real `MemoryStore` with faults injected on demand: a write that fails once, a
//! take that fails once or that another request beats, a revocation landing during a
//! refresh, a grant read failing after a take, a `put_grant` held until a replay has
//! revoked. Not a mock: every call that
//! is not made to fail reaches the store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tower_bearer::issue::server::{
    AccessRecord, Grant, GrantStore, MemoryStore, PendingCode, RefreshRecord, StoreError, StoreFuture, Taken, TokenKey,
};

/// Which faults are armed; each fires once, then disarms itself.
#[derive(Default)]
pub(crate) struct Faults {
    /// The next `put_refresh_token` fails (a full or unreachable store).
    pub(crate) fail_put_refresh: AtomicBool,
    /// The next `take_refresh_token` fails before reaching the store.
    pub(crate) fail_take: AtomicBool,
    /// The next `take_refresh_token` is beaten by another request using the token.
    pub(crate) use_before_take: AtomicBool,
    /// The next `take_refresh_token` finds its grant revoked meanwhile.
    pub(crate) revoke_before_take: AtomicBool,
    /// The next successful `take_refresh_token` makes the `grant` read after it fail.
    pub(crate) fail_grant_after_take: AtomicBool,
    grant_read_fails: AtomicBool,
    /// The next `put_grant` waits until `revoke_grant` has run.
    pub(crate) hold_put_grant: AtomicBool,
    /// Signalled when a held `put_grant` starts waiting.
    pub(crate) put_grant_held: Notify,
    revoked: Notify,
    /// The keys of every refresh and access record written, in order.
    pub(crate) written: Mutex<Vec<TokenKey>>,
}

impl Faults {
    fn fires(flag: &AtomicBool) -> bool {
        flag.swap(false, Ordering::SeqCst)
    }
}

/// `MemoryStore` plus [`Faults`]; clones share both.
#[derive(Clone)]
pub(crate) struct FaultyStore {
    pub(crate) inner: MemoryStore,
    pub(crate) faults: Arc<Faults>,
}

impl FaultyStore {
    pub(crate) fn new(inner: MemoryStore) -> Self {
        Self { inner, faults: Arc::default() }
    }

    pub(crate) fn written(&self) -> Vec<TokenKey> {
        self.faults.written.lock().unwrap().clone()
    }
}

impl GrantStore for FaultyStore {
    fn put_code<'a>(&'a self, key: &'a TokenKey, code: PendingCode, ttl: Duration) -> StoreFuture<'a, ()> {
        self.inner.put_code(key, code, ttl)
    }

    fn take_code<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Taken<PendingCode>> {
        self.inner.take_code(key)
    }

    fn put_grant<'a>(&'a self, grant: Grant, ttl: Duration) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            if Faults::fires(&self.faults.hold_put_grant) {
                self.faults.put_grant_held.notify_one();
                self.faults.revoked.notified().await;
            }
            self.inner.put_grant(grant, ttl).await
        })
    }

    fn grant<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Grant>> {
        Box::pin(async move {
            if Faults::fires(&self.faults.grant_read_fails) {
                return Err(StoreError::new("injected: the grant read failed"));
            }
            self.inner.grant(id).await
        })
    }

    fn revoke_grant<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let revoked = self.inner.revoke_grant(id).await;
            self.faults.revoked.notify_one();
            revoked
        })
    }

    fn put_refresh_token<'a>(&'a self, key: &'a TokenKey, record: RefreshRecord, ttl: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if Faults::fires(&self.faults.fail_put_refresh) {
                return Err(StoreError::new("injected: the refresh-token write failed"));
            }
            self.inner.put_refresh_token(key, record, ttl).await?;
            self.faults.written.lock().unwrap().push(key.clone());
            Ok(())
        })
    }

    fn take_refresh_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Taken<RefreshRecord>> {
        Box::pin(async move {
            if Faults::fires(&self.faults.fail_take) {
                return Err(StoreError::new("injected: the take failed"));
            }
            if Faults::fires(&self.faults.use_before_take) {
                self.inner.take_refresh_token(key).await?;
            }
            if Faults::fires(&self.faults.revoke_before_take)
                && let Some(record) = self.inner.refresh_token(key).await?
            {
                self.inner.revoke_grant(&record.grant_id).await?;
            }
            let taken = self.inner.take_refresh_token(key).await;
            if matches!(taken, Ok(Taken::First(_))) && Faults::fires(&self.faults.fail_grant_after_take) {
                self.faults.grant_read_fails.store(true, Ordering::SeqCst);
            }
            taken
        })
    }

    fn delete_refresh_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, ()> {
        self.inner.delete_refresh_token(key)
    }

    fn refresh_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Option<RefreshRecord>> {
        self.inner.refresh_token(key)
    }

    fn put_access_token<'a>(&'a self, key: &'a TokenKey, record: AccessRecord, ttl: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.inner.put_access_token(key, record, ttl).await?;
            self.faults.written.lock().unwrap().push(key.clone());
            Ok(())
        })
    }

    fn access_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Option<AccessRecord>> {
        self.inner.access_token(key)
    }

    fn revoke_access_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, ()> {
        self.inner.revoke_access_token(key)
    }
}
