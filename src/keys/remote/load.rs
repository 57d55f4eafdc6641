//! Loading keys: on a cold cache, for an unknown `kid`, and the fetch they share.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument as _;
use url::Url;

use super::RemoteJwks;
use super::persist::unix_ms;
use super::state::{Failing, Inner, SharedFetch, Snapshot};
use crate::error_chain::error_chain;
use crate::keys::health::KeySetSource;
use crate::keys::jwk::{Origin, parse_set};
use crate::keys::key_set::KeySet;
use crate::keys::{KeyError, KeyStore};
use crate::metrics::JwksFetch;
use crate::outbound::{self, Fetched, OutboundError};

/// Accept header for JWK sets (RFC 7517 §8.5).
pub(super) const JWKS_ACCEPT: &str = "application/jwk-set+json, application/json";

/// A `kid` is attacker-chosen text: log at most 64 characters of it, escaped.
fn truncated(kid: &str) -> &str {
    kid.char_indices().nth(64).map_or(kid, |(i, _)| &kid[..i])
}

impl Inner {
    /// A cold cache: fetch (sharing any fetch in flight) unless the backoff says wait.
    pub(super) async fn load_cold(self: &Arc<Self>, store: &RemoteJwks) -> Result<Arc<KeySet>, KeyError> {
        if let Some(keys) = store.current() {
            return Ok(keys);
        }
        let in_backoff = self.failing.load_full().filter(|f| Instant::now() < f.next_retry);
        if let Some(failing) = in_backoff {
            return Err(self.unavailable(failing.last_error.clone()));
        }
        match self.fetch_shared().await {
            Ok(snap) => Ok(snap.keys.clone()),
            Err(e) => self.usable_stale().ok_or(e),
        }
    }

    /// An unknown `kid`: negative cache, then the cooldown, then one shared refetch.
    pub(super) async fn load_for_kid(self: &Arc<Self>, kid: Arc<str>) -> Result<Arc<KeySet>, KeyError> {
        // A fetch may have landed since the caller looked.
        if let Some(snap) = self.snapshot.load().as_ref()
            && snap.keys.contains_kid(&kid)
        {
            return Ok(snap.keys.clone());
        }
        if self.negative.contains_key(&kid) {
            self.unknown_kid_rejected();
            return Err(KeyError::UnknownKid);
        }
        let in_cooldown = {
            let mut st = self.status();
            let now = Instant::now();
            let cooling = st.last_attempt.is_some_and(|t| now < t + self.opts.cooldown);
            if !cooling {
                // Claim the refetch before any await so concurrent unknown kids share it.
                st.last_attempt = Some(now);
            }
            cooling
        };
        if in_cooldown {
            // Inside the cooldown: share a fetch already in flight (a rotation makes
            // many requests name the new kid at once), otherwise answer at once.
            if let Some(fetch) = self.inflight.current() {
                return fetch.await.map(|snap| snap.keys.clone()).map_err(|e| self.unknown_while_usable(e));
            }
            // ...or one that finished between our first look and now.
            if let Some(snap) = self.snapshot.load().as_ref()
                && snap.keys.contains_kid(&kid)
            {
                return Ok(snap.keys.clone());
            }
            self.unknown_kid_rejected();
            tracing::debug!(kid = ?truncated(&kid), "unknown kid inside the refetch cooldown");
            return Err(KeyError::UnknownKid);
        }
        self.counters.unknown_kid_refetches.fetch_add(1, Ordering::Relaxed);
        self.metrics.unknown_kid_refetches.increment();
        let snap = self.fetch_shared().await.map_err(|e| self.unknown_while_usable(e))?;
        // moka may briefly keep an entry even at capacity 0; zero means "remember none".
        if !snap.keys.contains_kid(&kid) && self.opts.negative_capacity > 0 {
            self.negative.insert(kid, ());
            // Apply the capacity bound now rather than at moka's next housekeeping:
            // this path runs at most once per cooldown per kid, so the cost is rare.
            self.negative.run_pending_tasks();
        }
        Ok(snap.keys.clone())
    }

    /// The answer for an unknown `kid` whose refetch failed. While usable keys exist
    /// (fresh, or stale inside `max_stale`), the token names a key this issuer does not
    /// have: `401`, whatever the refetch did, so the same token gets the same answer
    /// at any moment and attacker-chosen kids cannot produce 5xx at will. `503` stays
    /// for "no usable keys at all".
    fn unknown_while_usable(&self, error: KeyError) -> KeyError {
        if self.usable_stale().is_some() {
            tracing::debug!(error = %error, "unknown kid; the refetch failed but usable keys exist");
            self.unknown_kid_rejected();
            KeyError::UnknownKid
        } else {
            error
        }
    }

    fn unknown_kid_rejected(&self) {
        self.counters.unknown_kid_rejected.fetch_add(1, Ordering::Relaxed);
        self.metrics.unknown_kid_rejections.increment();
    }

    /// Joins the fetch in flight, or starts one.
    pub(super) fn fetch_shared(self: &Arc<Self>) -> SharedFetch {
        let this = self.clone();
        let span = tracing::debug_span!("jwks_fetch", source = ?self.endpoint);
        self.inflight.join_or_start(
            move || async move { this.fetch_once().await }.instrument(span),
            |e| Err(KeyError::unavailable(Duration::from_secs(1), format!("JWKS fetch task: {e}"))),
        )
    }

    async fn fetch_once(&self) -> Result<Arc<Snapshot>, KeyError> {
        let started = Instant::now();
        self.status().last_attempt = Some(started);
        let etag = self.snapshot.load().as_ref().and_then(|s| s.etag.clone());
        let result = self.fetch_inner(etag).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok((mut snap, result)) => {
                self.counters.ok.fetch_add(1, Ordering::Relaxed);
                self.metrics.fetched(result, snap.keys.len());
                let previous = self.snapshot.load().as_ref().map(|prev| prev.keys.clone());
                match previous {
                    // The same keys again: keep the set already in use, so what was
                    // checked against it (cached tokens, parsed keys) stays valid.
                    Some(prev) if prev.same_keys(&snap.keys) => {
                        if let Some(fresh) = Arc::get_mut(&mut snap) {
                            fresh.keys = prev;
                        }
                    }
                    // Kids confirmed absent stay absent until the set changes.
                    _ => self.negative.invalidate_all(),
                }
                let st = self.status();
                self.failing.store(None);
                drop(st);
                let url = self.endpoint.current();
                tracing::debug!(url = ?url.as_ref().map(Url::as_str), keys = snap.keys.len(), elapsed_ms, "JWKS fetched");
                self.snapshot.store(Some(snap.clone()));
                self.save_persisted(&snap);
                Ok(snap)
            }
            Err(error) => {
                let error = error.shared();
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                self.metrics.fetched(JwksFetch::Error, 0);
                let now = Instant::now();
                let st = self.status();
                let prev = self.failing.load_full();
                let backoff = (prev.as_ref().map_or(Duration::ZERO, |f| f.backoff) * 2)
                    .clamp(Duration::from_secs(1), self.opts.cooldown.max(Duration::from_secs(1)));
                let failing = Failing {
                    since: prev.as_ref().map_or(now, |f| f.since),
                    next_retry: now + backoff,
                    backoff,
                    last_error: error.clone(),
                };
                // The IdP may have moved its JWKS: discover again on the next try.
                self.endpoint.suspect();
                // Published while `status` is held, so concurrent writers cannot interleave.
                self.failing.store(Some(Arc::new(failing)));
                drop(st);
                tracing::warn!(error = %error_chain(&*error), elapsed_ms, "JWKS fetch failed");
                // Restarted during an outage: the last good set written before, if any.
                if self.snapshot.load().is_none()
                    && let Some(persisted) = self.load_persisted().await
                {
                    self.snapshot.compare_and_swap(&None::<Arc<Snapshot>>, Some(persisted));
                }
                Err(self.unavailable(error))
            }
        }
    }

    /// A new snapshot, and whether it came with a body or as `304 Not Modified`.
    async fn fetch_inner(&self, etag: Option<String>) -> Result<(Arc<Snapshot>, JwksFetch), OutboundError> {
        let (client, o) = (&self.client, &self.opts);
        let url = self.endpoint.resolve(client, o.timeout).await?;
        let (fetched, _) = outbound::get(client, &url, JWKS_ACCEPT, etag.as_deref(), o.max_body, o.timeout).await?;
        let now = Instant::now();
        // Errors reach logs and health reports: the URL without its password.
        let url = crate::outbound::shown(&url);
        let (keys, etag, max_age, document, result) = match fetched {
            Fetched::Body { body, etag, max_age } => {
                let set = parse_set(&body, Origin::Remote, self.opts.max_keys)
                    .map_err(|e| OutboundError::new(format!("JWKS at {url}: {e}")))?;
                if set.is_empty() {
                    return Err(OutboundError::new(format!("JWKS at {url} holds no usable key")));
                }
                (Arc::new(set), etag, max_age, self.persist.as_ref().map(|_| body), JwksFetch::Ok)
            }
            Fetched::NotModified { max_age } => {
                let guard = self.snapshot.load();
                let prev = guard
                    .as_ref()
                    .ok_or_else(|| OutboundError::new(format!("JWKS at {url}: 304 without a cached copy")))?;
                (prev.keys.clone(), prev.etag.clone(), max_age, prev.document.clone(), JwksFetch::NotModified)
            }
        };
        let ttl = self.opts.ttl_for(max_age);
        // Refresh at a random 75-90 % of the TTL so a fleet does not refetch in lockstep.
        let jitter = RandomState::new().build_hasher().finish() % 1000;
        let ahead = ttl.mul_f64(0.75 + 0.15 * jitter as f64 / 1000.0);
        let snap = Snapshot {
            keys,
            loaded_at: now,
            loaded_before: Duration::ZERO,
            refresh_at: now + ahead,
            expires_at: now + ttl,
            stale_until: now + ttl + self.opts.max_stale,
            etag,
            source: KeySetSource::Fetched,
            fetched_at_ms: unix_ms(),
            document,
        };
        Ok((Arc::new(snap), result))
    }
}
