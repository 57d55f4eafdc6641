//! Configuring a [`JwtVerifier`]; every rule is checked once, in [`JwtVerifierBuilder::build`].

use std::sync::Arc;
use std::time::Duration;

use super::cache::{CacheLimits, TokenCache};
use super::issuer::{Issuer, IssuerEntry};
use super::jws::{self, TypPolicy};
use super::jwt::{Config, JwtVerifier};
use super::{Clock, SystemClock};
use crate::claims::ClaimPath;
use crate::error::ConfigError;
use crate::keys::KeyStore;

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
                duration: crate::metrics::verify_duration(),
            }),
        })
    }
}
