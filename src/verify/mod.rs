//! Turning a bearer token into a [`VerifiedToken`], or saying why not.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::Value;

mod cache;
mod clock;
mod issuer;
mod jws;
mod near_miss;
mod profiles;
mod time;

pub use cache::CacheStats;
use cache::{CacheLimits, TokenCache};

/// The cache key of a token: SHA-256 of the whole token.
#[cfg(feature = "introspection")]
pub(crate) fn cache_key(token: &str) -> [u8; 32] {
    TokenCache::key(token)
}
pub use clock::{Clock, FixedClock, SystemClock};
pub use issuer::Issuer;
use issuer::IssuerEntry;

use crate::claims::{ClaimPath, VerifiedToken};
use crate::error::{AuthError, ConfigError, InvalidToken, Unavailable};
use crate::keys::{BoxFuture, KeyError, KeySet, KeyStore, Refresh, Selection, VerificationKey};
use crate::token::BearerToken;
use jws::{Jws, TypPolicy};
pub(crate) use time::{TimeClaims, TimeRules};

/// The result of [`Verifier::verify`]: ready at once when keys are cached (the common
/// case, no allocation for a future), or a future when keys must be loaded first.
pub enum Verification {
    /// Decided without I/O.
    Ready(Result<VerifiedToken, AuthError>),
    /// Waiting on keys (cold cache, unknown `kid`) or on a remote verifier.
    Pending(BoxFuture<Result<VerifiedToken, AuthError>>),
}

impl Verification {
    /// Waits for the result.
    pub async fn resolve(self) -> Result<VerifiedToken, AuthError> {
        match self {
            Self::Ready(r) => r,
            Self::Pending(f) => f.await,
        }
    }
}

/// Something that checks bearer tokens: [`JwtVerifier`], or your own.
pub trait Verifier: Send + Sync + 'static {
    /// Checks `token`.
    fn verify(&self, token: &BearerToken) -> Verification;
}

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
    config: Arc<Config>,
}

struct Config {
    issuers: Vec<Arc<IssuerEntry>>,
    any_issuer: Option<Arc<IssuerEntry>>,
    audiences: Option<Vec<String>>,
    leeway: u64,
    max_age: Option<u64>,
    clock: Arc<dyn Clock>,
    typ: TypPolicy,
    limits: jws::Limits,
    cache: Option<TokenCache>,
    near_misses: near_miss::NearMisses,
}

/// Configures a [`JwtVerifier`]. An issuer and an audience are required unless
/// explicitly waived with the `dangerous_*` methods.
#[must_use]
pub struct JwtVerifierBuilder {
    issuers: Vec<Issuer>,
    any_issuer: Option<Arc<dyn KeyStore>>,
    audiences: Vec<String>,
    any_audience: bool,
    roles: Vec<ClaimPath>,
    leeway: Duration,
    max_age: Option<Duration>,
    clock: Arc<dyn Clock>,
    typ: TypPolicy,
    max_header_len: usize,
    max_json_depth: usize,
    max_issuers: usize,
    cache: Option<CacheLimits>,
}

impl JwtVerifier {
    /// Starts configuring a verifier.
    pub fn builder() -> JwtVerifierBuilder {
        JwtVerifierBuilder {
            issuers: Vec::new(),
            any_issuer: None,
            audiences: Vec::new(),
            any_audience: false,
            roles: Vec::new(),
            leeway: Duration::from_secs(60),
            max_age: None,
            clock: Arc::new(SystemClock),
            typ: TypPolicy::Lenient,
            max_header_len: jws::DEFAULT_MAX_HEADER_LEN,
            max_json_depth: jws::DEFAULT_MAX_JSON_DEPTH,
            max_issuers: 64,
            cache: Some(CacheLimits::default()),
        }
    }

    /// Loads every issuer's keys now; the first failure is returned.
    pub async fn prefetch(&self) -> Result<(), KeyError> {
        for entry in self.config.issuers.iter().chain(self.config.any_issuer.as_ref()) {
            entry.keys.refresh(Refresh::Cold).await?;
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
}

impl JwtVerifierBuilder {
    /// Trusts `issuer` (call again for more issuers).
    pub fn issuer(mut self, issuer: Issuer) -> Self {
        self.issuers.push(issuer);
        self
    }

    /// Accepts tokens whose `aud` contains `aud` (call again for more; any-of).
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audiences.push(aud.into());
        self
    }

    /// Reads roles from `path` (call again for more paths). Default: `roles`.
    pub fn roles_claim(mut self, path: impl Into<ClaimPath>) -> Self {
        self.roles.push(path.into());
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat` (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Rejects tokens issued (`iat`) longer ago than `max_age`; `iat` becomes required.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Uses this clock instead of the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// RFC 9068 strict mode: `typ` must be `at+jwt`, so ID tokens and other JWTs from
    /// the same issuer cannot be replayed as access tokens.
    pub fn require_access_token_typ(mut self) -> Self {
        self.typ = TypPolicy::AccessTokenOnly;
        self
    }

    /// Cap on the encoded JOSE header (default 4 KiB).
    pub fn max_header_len(mut self, bytes: usize) -> Self {
        self.max_header_len = bytes;
        self
    }

    /// Cap on JSON nesting in the header and claims (default 16), checked by a
    /// linear scan before parsing.
    pub fn max_json_depth(mut self, depth: usize) -> Self {
        self.max_json_depth = depth;
        self
    }

    /// Bounds the verified-token cache (default 11 000 entries and 64 MiB, whichever
    /// comes first). Each hit still re-checks the time claims and that the verifying
    /// key is still published.
    pub fn token_cache(mut self, max_entries: u64, max_bytes: u64) -> Self {
        self.cache = Some(CacheLimits { max_entries, max_bytes });
        self
    }

    /// Verifies every token in full, every time.
    pub fn no_token_cache(mut self) -> Self {
        self.cache = None;
        self
    }

    /// Cap on configured issuers (default 64).
    pub fn max_issuers(mut self, n: usize) -> Self {
        self.max_issuers = n;
        self
    }

    /// **Dangerous**: accepts tokens for any audience. Only for services that are
    /// the sole audience of their issuer; otherwise a token minted for another API
    /// is accepted here.
    pub fn dangerous_accept_any_audience(mut self) -> Self {
        self.any_audience = true;
        self
    }

    /// **Dangerous**: accepts any `iss`, verifying every token against `keys`.
    pub fn dangerous_accept_any_issuer(mut self, keys: impl KeyStore) -> Self {
        self.any_issuer = Some(Arc::new(keys));
        self
    }

    /// Checks the configuration. No I/O happens here.
    pub fn build(self) -> Result<JwtVerifier, ConfigError> {
        if self.issuers.is_empty() && self.any_issuer.is_none() {
            return Err(ConfigError::new(
                "no issuer configured; add .issuer(..) or call .dangerous_accept_any_issuer(keys)",
            ));
        }
        if self.issuers.len() > self.max_issuers {
            return Err(ConfigError::new(format!("more than {} issuers configured", self.max_issuers)));
        }
        let every_issuer_has_audience = self.issuers.iter().all(Issuer::has_audience);
        if self.audiences.is_empty() && !self.any_audience && !(every_issuer_has_audience && self.any_issuer.is_none())
        {
            return Err(ConfigError::new(
                "no audience configured; add .audience(..) or call .dangerous_accept_any_audience()",
            ));
        }
        if self.audiences.iter().any(|a| a.trim().is_empty()) {
            return Err(ConfigError::new(
                "an audience must not be empty; give the API's identifier, e.g. .audience(\"orders-api\")",
            ));
        }
        let roles = if self.roles.is_empty() { vec![ClaimPath::new("roles")] } else { self.roles };
        let mut issuers = Vec::with_capacity(self.issuers.len());
        for issuer in self.issuers {
            if issuer.name().is_empty() {
                return Err(ConfigError::new("an issuer must not be empty"));
            }
            if issuers.iter().any(|e: &Arc<IssuerEntry>| e.issuer == issuer.name()) {
                return Err(ConfigError::new(format!("issuer {:?} configured twice", issuer.name())));
            }
            issuers.push(Arc::new(issuer.into_entry(&roles)?));
        }
        let any_issuer = self.any_issuer.map(|keys| Arc::new(IssuerEntry::any(keys, &roles)));
        Ok(JwtVerifier {
            config: Arc::new(Config {
                issuers,
                any_issuer,
                audiences: (!self.any_audience || !self.audiences.is_empty()).then_some(self.audiences),
                leeway: self.leeway.as_secs(),
                max_age: self.max_age.map(|d| d.as_secs()),
                clock: self.clock,
                typ: self.typ,
                limits: jws::Limits { max_header_len: self.max_header_len, max_json_depth: self.max_json_depth },
                cache: self.cache.map(TokenCache::new),
                near_misses: Default::default(),
            }),
        })
    }
}

/// What a key set lookup decided.
enum Step {
    /// The signature verifies with the key that has this fingerprint.
    Verified(u64),
    /// The `kid` is not in the set: ask the store to refetch.
    UnknownKid,
}

impl Verifier for JwtVerifier {
    fn verify(&self, token: &BearerToken) -> Verification {
        let cache_key = self.config.cache.as_ref().map(|_| TokenCache::key(token.as_str()));
        if let Some(hit) = cache_key.as_ref().and_then(|k| self.cached(k)) {
            return Verification::Ready(hit);
        }
        let (jws, entry) = match self.precheck(token.as_str()) {
            Ok(v) => v,
            Err(e) => return Verification::Ready(Err(e.into())),
        };
        match entry.keys.current() {
            Some(keys) => match self.check_signature(token.as_str(), &jws, &keys) {
                Ok(Step::Verified(fp)) => Verification::Ready(self.accept(token, jws, entry, fp, cache_key)),
                Ok(Step::UnknownKid) if !entry.keys.refreshes() => {
                    Verification::Ready(Err(InvalidToken::UnknownKey.into()))
                }
                Ok(Step::UnknownKid) => self.pending(token.clone(), jws, entry.clone(), false, cache_key),
                Err(e) => Verification::Ready(Err(e.into())),
            },
            None => self.pending(token.clone(), jws, entry.clone(), true, cache_key),
        }
    }
}

impl JwtVerifier {
    /// A cached verification still valid now: time checks re-run, and the verifying key
    /// must still be in its issuer's current set. Stale entries are dropped.
    fn cached(&self, key: &cache::CacheKey) -> Option<Result<VerifiedToken, AuthError>> {
        let cache = self.config.cache.as_ref()?;
        let hit = cache.get(key)?;
        let key_present = hit.issuer.keys.current().is_some_and(|k| k.contains_fingerprint(hit.key_fingerprint));
        if !key_present {
            cache.remove(key);
            return None;
        }
        match self.check_times(&hit.times) {
            Ok(()) => Some(Ok(hit.token.clone())),
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
        key_fingerprint: u64,
        cache_key: Option<cache::CacheKey>,
    ) -> Result<VerifiedToken, AuthError> {
        let cfg = &self.config;
        let roles = &issuer.roles;
        let times = jws.claims.as_object().map(TimeClaims::read).transpose()?.ok_or(InvalidToken::Malformed)?;
        let exp = times.exp.ok_or(InvalidToken::TimeClaim)?;
        let verified = VerifiedToken::new(jws.header, jws.claims, exp, roles, token.as_str().len())?;
        if let (Some(cache), Some(key)) = (&cfg.cache, cache_key) {
            let entry = cache::Entry { token: verified.clone(), issuer: issuer.clone(), key_fingerprint, times };
            cache.insert(key, entry);
        }
        Ok(verified)
    }

    /// Everything that needs no key: parsing, header rules, time, `iss`, `aud`.
    /// Failing here never causes a key fetch.
    fn precheck(&self, token: &str) -> Result<(Jws, &Arc<IssuerEntry>), InvalidToken> {
        let cfg = &self.config;
        let jws = jws::parse(token, cfg.typ, cfg.limits)?;
        let claims = jws.claims.as_object().ok_or(InvalidToken::Malformed)?;
        let named = match claims.get("iss") {
            Some(Value::String(iss)) => cfg.issuers.iter().find(|e| e.matches(iss, claims)),
            _ => None,
        };
        let Some(entry) = named.or(cfg.any_issuer.as_ref()) else {
            if let Some(Value::String(iss)) = claims.get("iss") {
                cfg.near_misses.report(iss, cfg.issuers.iter().map(|e| e.issuer.as_str()));
            }
            return Err(InvalidToken::Issuer);
        };
        self.check_time(claims)?;
        entry.check_audience(claims, cfg.audiences.as_deref())?;
        entry.check_required_values(claims)?;
        // HS* only ever with a local secret: remote key sets never hold one, so this
        // is decided by the key binding in `finish`; refuse early when no key could fit.
        if matches!(jws.alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
            && !entry.keys.current().is_some_and(|k| k.algorithms().contains(jws.alg))
        {
            return Err(InvalidToken::Algorithm);
        }
        Ok((jws, entry))
    }

    fn check_time(&self, claims: &serde_json::Map<String, Value>) -> Result<(), InvalidToken> {
        self.check_times(&TimeClaims::read(claims)?)
    }

    /// The time rules on already-read claims (the cache keeps them read).
    fn check_times(&self, t: &TimeClaims) -> Result<(), InvalidToken> {
        let cfg = &self.config;
        let rules = TimeRules { leeway: cfg.leeway, max_age: cfg.max_age, exp_required: true };
        rules.check(t, cfg.clock.now())
    }

    /// Key selection, signature, and the hand-off to [`VerifiedToken`].
    fn check_signature(&self, token: &str, jws: &Jws, keys: &KeySet) -> Result<Step, InvalidToken> {
        let key = match keys.select(jws.kid.as_deref(), jws.alg) {
            Selection::Found(k) => k,
            Selection::KidNotFound => return Ok(Step::UnknownKid),
            Selection::AlgorithmMismatch => return Err(InvalidToken::Algorithm),
            Selection::NoMatch if !keys.algorithms().contains(jws.alg) => return Err(InvalidToken::Algorithm),
            Selection::NoMatch => return Err(InvalidToken::UnknownKey),
        };
        let signing_input = token.as_bytes().get(..jws.signing_input_len).ok_or(InvalidToken::Malformed)?;
        verify_with_key(key, jws.alg, signing_input, &jws.signature)?;
        Ok(Step::Verified(key.fingerprint))
    }

    /// The slow path: wait for keys, then check the signature.
    fn pending(
        &self,
        token: BearerToken,
        jws: Jws,
        entry: Arc<IssuerEntry>,
        cold: bool,
        cache_key: Option<cache::CacheKey>,
    ) -> Verification {
        let this = self.clone();
        Verification::Pending(Box::pin(async move {
            let store = entry.keys.clone();
            let mut why_cold = cold;
            loop {
                let why = if why_cold { Refresh::Cold } else { Refresh::UnknownKid(jws.kid.as_deref().unwrap_or("")) };
                let keys = store.refresh(why).await.map_err(key_error)?;
                match this.check_signature(token.as_str(), &jws, &keys)? {
                    Step::Verified(fp) => return this.accept(&token, jws, &entry, fp, cache_key),
                    // A cold load that lacks the kid gets one rate-limited refetch.
                    Step::UnknownKid if why_cold => why_cold = false,
                    Step::UnknownKid => return Err(InvalidToken::UnknownKey.into()),
                }
            }
        }))
    }
}

fn key_error(e: KeyError) -> AuthError {
    match e {
        KeyError::UnknownKid => AuthError::InvalidToken(InvalidToken::UnknownKey),
        KeyError::Unavailable { retry_after, reason } => AuthError::Unavailable(Unavailable { retry_after, reason }),
    }
}

/// The crypto backend chosen by crate features, passed explicitly so that the
/// process-wide jsonwebtoken default (which panics when ambiguous) is never used.
pub(crate) fn crypto_provider() -> &'static jsonwebtoken::crypto::CryptoProvider {
    #[cfg(feature = "aws-lc-rs")]
    {
        &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER
    }
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    {
        &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER
    }
    #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
    {
        // Never compiled into a working crate: lib.rs emits compile_error! first.
        unreachable!("no crypto backend")
    }
}

// `&Vec` because jsonwebtoken's verifier trait is `Verifier<Vec<u8>>`.
#[allow(clippy::ptr_arg)]
fn verify_with_key(
    key: &VerificationKey,
    alg: Algorithm,
    message: &[u8],
    signature: &Vec<u8>,
) -> Result<(), InvalidToken> {
    #[cfg(feature = "aws-lc-rs")]
    if let Some(valid) = key.parsed.verify(key.decoding_key(), alg, message, signature) {
        return if valid { Ok(()) } else { Err(InvalidToken::Signature) };
    }
    let verifier =
        (crypto_provider().verifier_factory)(&alg, key.decoding_key()).map_err(|_| InvalidToken::Algorithm)?;
    verifier.verify(message, signature).map_err(|_| InvalidToken::Signature)
}
