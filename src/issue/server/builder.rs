//! [`AuthorizationServerBuilder`]: the settings of an [`AuthorizationServer`].

use std::sync::Arc;
use std::time::Duration;

use super::client::{ClientRegistry, ClientStore};
use super::error::ErrorUris;
use super::generator::{RandomToken, TokenGenerator};
use super::keys::{KeyRing, KeySettings};
use super::limits::{Limiter, ServerLimits};
use super::memory_store::MemoryStore;
use super::metadata::{Metadata, MetadataSettings};
use super::store::GrantStore;
use super::{AccessTokenFormat, AuthorizationServer, Inner, Lifetimes};
use crate::ConfigError;
use crate::verify::{Clock, SystemClock};

/// Longest an authorization code may live (RFC 6749 §4.1.2: "a maximum authorization
/// code lifetime of 10 minutes is RECOMMENDED").
const MAX_CODE_LIFETIME: Duration = Duration::from_secs(600);

/// Settings of an [`AuthorizationServer`]; see [`AuthorizationServer::builder`].
#[must_use]
pub struct AuthorizationServerBuilder {
    issuer: String,
    signing_key: String,
    audience: Option<String>,
    clients: Arc<dyn ClientStore>,
    store: Option<Arc<dyn GrantStore>>,
    format: AccessTokenFormat,
    lifetimes: Lifetimes,
    error_uris: ErrorUris,
    clock: Arc<dyn Clock>,
    pub(super) keys: KeySettings,
    pub(super) metadata: MetadataSettings,
    access_generator: Option<Arc<dyn TokenGenerator>>,
    refresh_generator: Arc<dyn TokenGenerator>,
    limits: ServerLimits,
}

impl std::fmt::Debug for AuthorizationServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationServerBuilder")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl AuthorizationServerBuilder {
    pub(super) fn new(issuer: String, signing_key: String) -> Self {
        Self {
            issuer,
            signing_key,
            audience: None,
            clients: Arc::new(ClientRegistry::new()),
            store: None,
            format: AccessTokenFormat::default(),
            lifetimes: Lifetimes::default(),
            error_uris: ErrorUris::default(),
            clock: Arc::new(SystemClock),
            keys: KeySettings::default(),
            metadata: MetadataSettings::default(),
            access_generator: None,
            refresh_generator: Arc::new(RandomToken),
            limits: ServerLimits::default(),
        }
    }

    /// The `aud` of access tokens (required: a token for every API is a token for
    /// none in particular).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Where clients are looked up (default: none registered).
    pub fn clients(mut self, clients: impl ClientStore) -> Self {
        self.clients = Arc::new(clients);
        self
    }

    /// Where codes, grants and tokens are kept (default: a [`MemoryStore`] with its
    /// default bounds, for a single instance). The store is told this server's issuer
    /// ([`GrantStore::for_issuer`]), so servers of different issuers sharing one store
    /// do not see each other's records.
    pub fn store(mut self, store: impl GrantStore) -> Self {
        // The issuer as `build` normalises it: `https://a/` and `https://a` are one server.
        let issuer = self.issuer.trim_end_matches('/');
        self.store = Some(Arc::new(store.for_issuer(issuer)));
        self
    }

    /// JWT (default) or opaque access tokens.
    pub fn access_token_format(mut self, format: AccessTokenFormat) -> Self {
        self.format = format;
        self
    }

    /// Access-token lifetime for the authorization-code and refresh grants (1 h).
    pub fn access_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetimes.access_code_flow = lifetime;
        self
    }

    /// Access-token lifetime for client credentials (1 h).
    pub fn client_credentials_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetimes.access_client_credentials = lifetime;
        self
    }

    /// How long one refresh token stays usable (14 days); each use rotates it.
    pub fn refresh_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetimes.refresh_token = lifetime;
        self
    }

    /// How long a grant lasts from the user's consent, however often it is refreshed
    /// (30 days).
    pub fn grant_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetimes.grant = lifetime;
        self
    }

    /// How long an authorization code stays usable (60 s; at most 10 minutes).
    pub fn code_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetimes.code = lifetime;
        self
    }

    /// `error_uri`s per error code.
    pub fn error_uris(mut self, uris: ErrorUris) -> Self {
        self.error_uris = uris;
        self
    }

    /// The clock for `iat`, `exp` and every expiry (the system's).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Makes opaque access tokens ([`AccessTokenFormat::Opaque`], which this sets
    /// too; default [`RandomToken`]).
    pub fn access_token_generator(mut self, generator: impl TokenGenerator) -> Self {
        self.access_generator = Some(Arc::new(generator));
        self.format = AccessTokenFormat::Opaque;
        self
    }

    /// Makes refresh tokens (default [`RandomToken`]).
    pub fn refresh_token_generator(mut self, generator: impl TokenGenerator) -> Self {
        self.refresh_generator = Arc::new(generator);
        self
    }

    /// Request size, rate and failed-authentication limits ([`ServerLimits`]'s
    /// defaults otherwise).
    pub fn limits(mut self, limits: ServerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Checks the settings: an `https` issuer (http only on loopback) without query or
    /// fragment, an audience, an asymmetric key that signs, a code lifetime of at most
    /// 10 minutes, the metadata's URLs and scopes.
    pub fn build(self) -> Result<AuthorizationServer, ConfigError> {
        let issuer = check_issuer(&self.issuer)?;
        let audience = self
            .audience
            .filter(|a| !a.is_empty())
            .ok_or_else(|| ConfigError::new("the authorization server needs an audience for its access tokens"))?;
        if self.lifetimes.code > MAX_CODE_LIFETIME || self.lifetimes.code.is_zero() {
            return Err(ConfigError::new("the code lifetime is between 1 s and 10 minutes (RFC 6749 §4.1.2)"));
        }
        if self.format == AccessTokenFormat::Jwt && self.access_generator.is_some() {
            return Err(ConfigError::new("an access token generator makes opaque tokens: the format cannot be jwt"));
        }
        let store = self.store.unwrap_or_else(|| Arc::new(MemoryStore::default()));
        let longest_token = self.lifetimes.access_code_flow.max(self.lifetimes.access_client_credentials);
        let keys = KeyRing::new(&issuer, &audience, &self.signing_key, self.keys, longest_token, self.clock.clone())?;
        let metadata = Metadata::new(&issuer, self.metadata)?;
        Ok(AuthorizationServer {
            inner: Arc::new(Inner {
                issuer,
                audience,
                keys,
                metadata,
                clients: self.clients,
                store,
                format: self.format,
                lifetimes: self.lifetimes,
                error_uris: self.error_uris,
                clock: self.clock,
                access_generator: self.access_generator.unwrap_or_else(|| Arc::new(RandomToken)),
                refresh_generator: self.refresh_generator,
                limiter: Limiter::new(self.limits),
            }),
        })
    }
}

/// RFC 8414 §2: `https`, no query, no fragment; RFC 9207 compares it as a string, so
/// it is kept as given (without a trailing slash).
fn check_issuer(issuer: &str) -> Result<String, ConfigError> {
    let parsed =
        url::Url::parse(issuer).map_err(|e| ConfigError::with_source(format!("issuer {issuer:?} is not a URL"), e))?;
    match parsed.scheme() {
        "https" => {}
        "http" if crate::outbound::is_loopback(&parsed) => {}
        _ => return Err(ConfigError::new(format!("issuer {issuer:?} must be https (http only on loopback)"))),
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(ConfigError::new(format!("issuer {issuer:?} has a query or fragment (RFC 8414 §2)")));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ConfigError::new(format!("issuer {issuer:?} has user info")));
    }
    Ok(issuer.trim_end_matches('/').to_owned())
}
