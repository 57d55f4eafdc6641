//! The JWT verification pipeline: cache, key-free prechecks, signature, hand-off.

use std::sync::Arc;

use jsonwebtoken::Algorithm;
use serde_json::Value;

use super::cache::{self, TokenCache};
use super::issuer::IssuerEntry;
use super::jws::{self, Jws, TypPolicy};
use super::near_miss::NearMisses;
use super::signature::{Step, check_signature};
use super::time::{TimeClaims, TimeRules};
use super::trace::{Check, Trace, traced};
use super::{CacheStats, Clock, Verification, Verifier};
use crate::claims::VerifiedToken;
use crate::keys::{KeyError, KeySet, KeyStore, Refresh};
use crate::metrics;
use crate::reject::{AuthError, InvalidToken, Unavailable};
use crate::token::BearerToken;

/// Validates JWT access tokens: signature against the issuer's keys, `exp`/`nbf`/`iat`,
/// `iss`, `aud`, `typ`, `crit`. Cheap to clone.
///
/// ```
/// use tower_bearer::{Issuer, JwtVerifier};
/// use tower_bearer::keys::{StaticKeys, VerificationKey};
///
/// let key = VerificationKey::hmac_secret(b"a-local-secret-of-at-least-32-bytes!", None).unwrap();
/// let verifier = JwtVerifier::builder()
///     .issuer(Issuer::new("https://auth.example.com").keys(StaticKeys::from(key)))
///     .audience("my-api")
///     .build()
///     .unwrap();
/// # let _ = verifier;
/// ```
#[derive(Clone)]
pub struct JwtVerifier {
    pub(super) config: Arc<Config>,
}

/// The checked configuration, shared by every clone.
pub(super) struct Config {
    pub(super) issuers: Vec<Arc<IssuerEntry>>,
    pub(super) any_issuer: Option<Arc<IssuerEntry>>,
    pub(super) audiences: Option<Vec<String>>,
    pub(super) leeway: u64,
    pub(super) max_age: Option<u64>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) typ: TypPolicy,
    pub(super) limits: jws::Limits,
    pub(super) cache: Option<TokenCache>,
    pub(super) near_misses: NearMisses,
    /// Verifications that missed the cache, timed.
    pub(super) duration: metrics::Histogram,
}

impl JwtVerifier {
    /// Loads every issuer's keys now; the first failure is returned.
    pub async fn prefetch(&self) -> Result<(), KeyError> {
        for entry in self.config.issuers.iter().chain(self.config.any_issuer.as_ref()) {
            entry.keys.refresh(Refresh::NoKeys).await?;
        }
        Ok(())
    }

    /// Counters of the verified-token cache (`None` when it is off).
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.config.cache.as_ref().map(TokenCache::stats)
    }

    /// The configured issuers and their key stores.
    pub fn issuers(&self) -> impl Iterator<Item = (&str, &dyn KeyStore)> {
        self.config.issuers.iter().map(|e| (e.issuer.as_str(), &*e.keys))
    }

    /// Every issuer's key store, and the keys of `dangerous_accept_any_issuer` (named
    /// `""`), for readiness.
    #[cfg(feature = "remote")]
    pub(crate) fn key_stores(&self) -> impl Iterator<Item = (String, Arc<dyn KeyStore>)> + '_ {
        self.config.issuers.iter().chain(self.config.any_issuer.as_ref()).map(|e| (e.issuer.clone(), e.keys.clone()))
    }
}

impl Verifier for JwtVerifier {
    fn verify(&self, token: &BearerToken) -> Verification {
        super::refuse_bound(self.verify_for_binding(token))
    }

    /// Every configured issuer but tenant templates (`{tenantid}`), which name no
    /// one server.
    fn authorization_servers(&self) -> Vec<String> {
        self.config.issuers.iter().filter(|e| !e.is_template()).map(|e| e.issuer.clone()).collect()
    }

    fn verify_for_binding(&self, token: &BearerToken) -> Verification {
        self.verify_traced(token, ())
    }
}

impl JwtVerifier {
    /// The pipeline, each check reported to `trace` (`()` on the request path). A
    /// cache miss is timed for `tower_bearer_verify_duration_seconds`.
    pub(super) fn verify_traced(&self, token: &BearerToken, trace: impl Trace) -> Verification {
        let cache_key = self.config.cache.as_ref().map(|c| c.key(token.as_bytes()));
        if let Some(hit) = cache_key.and_then(|k| self.cached(k, token)) {
            return Verification::Ready(traced(&trace, Check::Cache, hit));
        }
        let started = metrics::start();
        let verification = self.verify_in_full(token, cache_key, started, trace);
        if let Verification::Ready(_) = verification {
            // A pending one is timed when it ends.
            self.config.duration.record_since(started);
        }
        verification
    }

    /// Every check, the signature included: a cache miss (or no cache).
    fn verify_in_full(
        &self,
        token: &BearerToken,
        cache_key: Option<cache::CacheKey>,
        started: metrics::Started,
        trace: impl Trace,
    ) -> Verification {
        let (jws, entry) = match self.precheck(token.as_str(), &trace) {
            Ok(v) => v,
            Err(e) => return Verification::Ready(Err(e.into())),
        };
        let current = entry.keys.current();
        if current.is_some() {
            trace.record(Check::Keys, || Ok(()));
        }
        let pending =
            |jws, cold, trace| self.pending(token.clone(), jws, entry.clone(), (cold, cache_key), started, trace);
        match current {
            Some(keys) => match check_signature(token.as_str(), &jws, &keys, &trace) {
                Ok(Step::Verified(fp)) => {
                    Verification::Ready(self.accept(token, jws, entry, (&keys, fp), cache_key, &trace))
                }
                Ok(Step::UnknownKid) if !entry.keys.refreshes() => {
                    Verification::Ready(Err(InvalidToken::UnknownKey.into()))
                }
                Ok(Step::UnknownKid) => pending(jws, false, trace),
                Err(e) => Verification::Ready(Err(e.into())),
            },
            None => pending(jws, true, trace),
        }
    }

    /// A cached verification still valid now: time checks re-run, and the verifying key
    /// must still be in its issuer's current set. Stale entries are dropped.
    fn cached(&self, key: cache::CacheKey, token: &BearerToken) -> Option<Result<VerifiedToken, AuthError>> {
        let cache = self.config.cache.as_ref()?;
        let hit = cache.get(key, token.as_bytes())?;
        let check = hit.cache_check()?;
        let store = &check.issuer.keys;
        // The issuer's set changed since: the entry stands while its key is still in it.
        if !store.is_current(&check.keys)
            && !store.current().is_some_and(|k| k.contains_fingerprint(check.key_fingerprint))
        {
            cache.remove(key);
            return None;
        }
        match self.check_times(&check.times, &()) {
            Ok(()) => Some(Ok(hit)),
            Err(e) => {
                cache.remove(key);
                Some(Err(e.into()))
            }
        }
    }

    /// Hands the checked claims over (moved, not copied) and caches the result.
    fn accept(
        &self,
        token: &BearerToken,
        jws: Jws,
        issuer: &Arc<IssuerEntry>,
        (keys, key_fingerprint): (&Arc<KeySet>, u64),
        cache_key: Option<cache::CacheKey>,
        trace: &impl Trace,
    ) -> Result<VerifiedToken, AuthError> {
        let cfg = &self.config;
        let roles = &issuer.roles;
        let read = || -> Result<_, InvalidToken> {
            let times = jws.claims.as_object().map(TimeClaims::read).transpose()?.ok_or(InvalidToken::Malformed)?;
            Ok((times, times.exp.ok_or(InvalidToken::TimeClaim)?))
        };
        let (times, exp) = read()?;
        let verified = traced(
            trace,
            Check::ClaimTypes,
            VerifiedToken::new(jws.header, jws.claims, exp, roles, token.as_str().len()),
        )?;
        if let (Some(cache), Some(key)) = (&cfg.cache, cache_key)
            && cache.worth_storing(key)
        {
            let raw = token.as_bytes().into();
            let check = cache::CacheCheck { issuer: issuer.clone(), keys: keys.clone(), key_fingerprint, times, raw };
            // A fresh token is not shared yet, so this always stores it.
            return Ok(match verified.with_cache_check(check) {
                Ok(storable) => {
                    cache.insert(key, storable.clone());
                    storable
                }
                Err(shared) => shared,
            });
        }
        Ok(verified)
    }

    /// Everything that needs no key: parsing, header rules, time, `iss`, `aud`.
    /// Failing here never causes a key fetch.
    fn precheck(&self, token: &str, trace: &impl Trace) -> Result<(Jws, &Arc<IssuerEntry>), InvalidToken> {
        let cfg = &self.config;
        let jws = jws::parse(token, cfg.typ, cfg.limits, trace)?;
        let claims = jws.claims.as_object().ok_or(InvalidToken::Malformed)?;
        let named = match claims.get("iss") {
            Some(Value::String(iss)) => cfg.issuers.iter().find(|e| e.matches(iss, claims)),
            _ => None,
        };
        let entry = traced(trace, Check::Issuer, named.or(cfg.any_issuer.as_ref()).ok_or(InvalidToken::Issuer));
        let Ok(entry) = entry else {
            if let Some(Value::String(iss)) = claims.get("iss") {
                cfg.near_misses.report(iss, cfg.issuers.iter().map(|e| e.issuer.as_str()));
            }
            return Err(InvalidToken::Issuer);
        };
        let times = traced(trace, Check::TimeClaims, TimeClaims::read(claims))?;
        self.check_times(&times, trace)?;
        traced(trace, Check::Audience, entry.check_audience(claims, cfg.audiences.as_deref()))?;
        traced(trace, Check::RequiredClaims, entry.check_required_values(claims))?;
        // A malformed or unknown `cnf` is refused before any key work; what it binds
        // to is the layer's to check.
        traced(trace, Check::Confirmation, super::Confirmation::read(claims))?;
        // HS* only ever with a local secret: remote key sets never hold one, so this
        // is decided by the key binding in `finish`; refuse early when no key could fit.
        if matches!(jws.alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            let secret = entry.keys.current().is_some_and(|k| k.algorithms().contains(jws.alg));
            traced(trace, Check::LocalSecret, if secret { Ok(()) } else { Err(InvalidToken::Algorithm) })?;
        }
        Ok((jws, entry))
    }

    /// The time rules on already-read claims (the cache keeps them read).
    fn check_times(&self, t: &TimeClaims, trace: &impl Trace) -> Result<(), InvalidToken> {
        let cfg = &self.config;
        let rules = TimeRules { leeway: cfg.leeway, max_age: cfg.max_age, exp_required: true };
        rules.check_traced(t, cfg.clock.now(), trace)
    }

    /// The slow path: wait for keys, then check the signature; timed from `started`.
    fn pending(
        &self,
        token: BearerToken,
        jws: Jws,
        entry: Arc<IssuerEntry>,
        (cold, cache_key): (bool, Option<cache::CacheKey>),
        started: metrics::Started,
        trace: impl Trace,
    ) -> Verification {
        let this = self.clone();
        Verification::Pending(Box::pin(async move {
            let result = this.load_keys_and_check(&token, jws, &entry, cold, cache_key, &trace).await;
            this.config.duration.record_since(started);
            result
        }))
    }

    async fn load_keys_and_check(
        &self,
        token: &BearerToken,
        jws: Jws,
        entry: &Arc<IssuerEntry>,
        cold: bool,
        cache_key: Option<cache::CacheKey>,
        trace: &impl Trace,
    ) -> Result<VerifiedToken, AuthError> {
        let store = entry.keys.clone();
        let mut why_cold = cold;
        loop {
            let why = if why_cold { Refresh::NoKeys } else { Refresh::UnknownKid(jws.kid.as_deref().unwrap_or("")) };
            let check = if why_cold { Check::Keys } else { Check::KeysRefetch };
            let keys = traced(trace, check, store.refresh(why).await.map_err(key_error))?;
            match check_signature(token.as_str(), &jws, &keys, trace)? {
                Step::Verified(fp) => return self.accept(token, jws, entry, (&keys, fp), cache_key, trace),
                // A cold load that lacks the kid gets one rate-limited refetch.
                Step::UnknownKid if why_cold => why_cold = false,
                Step::UnknownKid => return Err(InvalidToken::UnknownKey.into()),
            }
        }
    }
}

fn key_error(e: KeyError) -> AuthError {
    match e {
        KeyError::UnknownKid => AuthError::InvalidToken(InvalidToken::UnknownKey),
        // The log line names the whole cause: `GET …: could not connect: … refused`.
        KeyError::Unavailable { retry_after, cause, .. } => {
            AuthError::Unavailable(Unavailable::caused_by(retry_after, cause))
        }
    }
}
