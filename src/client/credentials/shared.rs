//! One token for a fleet: taken from a [`TokenStore`], or renewed under its lock by
//! one instance while the others wait (bounded) for the stored result.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Inner, MAX_LIFETIME, later, unix_now};
use crate::client::{AccessToken, ClientError, StoredToken, TokenStore};

impl Inner {
    /// Through the shared store when there is one: use a token another instance stored,
    /// else renew under the store's lock, else wait (bounded) for the instance that
    /// holds it, else fetch alone.
    pub(super) async fn fetch_shared(&self) -> Result<AccessToken, ClientError> {
        let Some((store, key)) = &self.store else { return self.fetch_with_retries().await };
        let store = store.as_ref();
        if let Some(token) = self.stored_token(store, key).await {
            return Ok(token);
        }
        let lock_ttl = self.renewal_budget();
        let waited = Instant::now();
        loop {
            let owner = lock_owner();
            if store.try_lock(key, &owner, lock_ttl).await {
                let result = self.renew_under_lock(store, key).await;
                store.unlock(key, &owner).await;
                return result;
            }
            // The holder may have finished or given up (then the lock is free again).
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Some(token) = self.stored_token(store, key).await {
                return Ok(token);
            }
            if waited.elapsed() >= lock_ttl {
                return self.fetch_with_retries().await;
            }
        }
    }

    /// Renews and stores, unless another instance stored a token just before we got
    /// the lock.
    async fn renew_under_lock(&self, store: &dyn TokenStore, key: &str) -> Result<AccessToken, ClientError> {
        if let Some(token) = self.stored_token(store, key).await {
            return Ok(token);
        }
        let result = self.fetch_with_retries().await;
        if let Ok(token) = &result
            && let Some(expires) = token.expires_at()
        {
            let ttl = expires.saturating_duration_since(Instant::now());
            let expires_at = unix_now().saturating_add(ttl.as_secs());
            let jkt = token.dpop_key().map(|k| k.thumbprint().to_owned());
            store.put(key, StoredToken { access_token: token.secret().to_owned(), expires_at, jkt }, ttl).await;
        }
        result
    }

    /// How long one renewal may hold the lock: retries start until `max_elapsed`; the
    /// last may try the refresh token and then the client's credentials; each attempt
    /// may first discover the endpoint (two GETs); every request is bounded by
    /// `timeout`. Plus a margin.
    fn renewal_budget(&self) -> Duration {
        let attempt = self.timeout.saturating_mul(3);
        self.retry.max_elapsed.saturating_add(attempt.saturating_mul(2)).saturating_add(Duration::from_secs(5))
    }

    /// A stored token with more than `skew` left, cached here too. A token an API
    /// refused is removed from the store instead (if it is still the stored one). A
    /// token bound to a key this instance does not hold is useless here, so never taken.
    async fn stored_token(&self, store: &dyn TokenStore, key: &str) -> Option<AccessToken> {
        let stored = store.get(key).await?;
        let ours = self.dpop.as_ref().map(|k| k.thumbprint());
        if let Some(jkt) = stored.jkt.as_deref()
            && ours != Some(jkt)
        {
            tracing::warn!(
                client_id = %self.client_id,
                "the shared token store returned a token bound to another DPoP key: not used \
                 (instances share tokens only when they hold the same key)"
            );
            return None;
        }
        if self.refused.load().as_deref().is_some_and(|refused| *refused == stored.access_token) {
            store.remove_if(key, &stored.access_token).await;
            return None;
        }
        let left = Duration::from_secs(stored.expires_at.saturating_sub(unix_now())).min(MAX_LIFETIME);
        if left <= self.skew {
            return None;
        }
        let usable = left - self.skew;
        let mut token = AccessToken::new(stored.access_token, Some(later(left)));
        if stored.jkt.is_some()
            && let Some(key) = &self.dpop
        {
            token = token.dpop_bound(key.clone());
        }
        Some(self.cache(token, usable))
    }
}

/// A lock value unique to one renewal, so that only its holder releases the lock.
fn lock_owner() -> String {
    use std::sync::atomic::AtomicU64;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let seed = (std::process::id(), nanos, COUNTER.fetch_add(1, Ordering::Relaxed));
    // Two independently keyed (randomly seeded) hashes: 128 bits.
    let part = |state: RandomState| {
        let mut h = state.build_hasher();
        std::hash::Hash::hash(&seed, &mut h);
        h.finish()
    };
    format!("{:016x}{:016x}", part(RandomState::new()), part(RandomState::new()))
}
