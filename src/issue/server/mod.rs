//! An embeddable OAuth 2.0 authorization server (feature `issuer`): the token,
//! revocation and introspection endpoints, the authorization endpoint split so the
//! application owns its login and consent pages, RFC 8414 metadata and a rotating
//! JWKS.
//!
//! | piece | where |
//! |---|---|
//! | the server and its settings | [`AuthorizationServer`], [`AuthorizationServerBuilder`] |
//! | registered clients | [`Client`], [`ClientRegistry`], [`ClientStore`] |
//! | codes, grants, tokens | [`GrantStore`] and its records, [`MemoryStore`] |
//! | errors and their `error_uri`s | [`OAuthError`], [`ErrorUris`] |
//! | the authorization endpoint (the app's login and consent page) | [`AuthorizationServer::validate_authorization_request`], [`AuthorizationServer::create_authorization_response`], [`secure_page`] |
//! | signing keys and their rotation | [`AuthorizationServer::rotate_key`], [`AuthorizationServer::jwks`] |
//! | RFC 8414 metadata | [`AuthorizationServer::metadata`], [`AuthorizationServer::metadata_path`] |
//!
//! What it is not: no user management (the application checks passwords, and
//! throttles failed logins: [`LoginThrottle`](crate::issue::LoginThrottle)), no consent
//! UI (the application renders it, and guards a session-based consent `POST` against
//! CSRF), no OpenID Connect ID tokens.

mod authorize;
mod builder;
mod client;
mod client_auth;
mod error;
mod generator;
mod grants;
mod introspection;
mod issuing;
mod keys;
mod limits;
mod lookup;
mod memory_store;
mod metadata;
mod params;
mod pkce;
#[cfg(feature = "redis")]
mod redis_store;
mod revocation;
mod router;
mod store;
mod token_endpoint;
mod verifier;

use std::sync::Arc;
use std::time::Duration;

pub use authorize::{
    AuthorizationError, AuthorizationRedirect, AuthorizationRequest, Consent, Decision, escape_html, form_value,
    page_headers, secure_page,
};
pub use builder::AuthorizationServerBuilder;
pub use client::{Client, ClientRegistry, ClientStore, GrantType, SecretHash};
pub use error::{ErrorCode, ErrorUris, OAuthError};
pub use generator::{GeneratorError, RandomToken, TokenContext, TokenGenerator};
pub use limits::ServerLimits;
pub use memory_store::MemoryStore;
#[cfg(feature = "redis")]
pub use redis_store::RedisGrantStore;
pub use store::{
    AccessRecord, Grant, GrantStore, PendingCode, REVOCATION_MEMORY, RefreshRecord, StoreError, StoreFuture, Taken,
    TokenKey,
};
pub use verifier::ServerVerifier;

use crate::verify::Clock;

/// The format of issued access tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccessTokenFormat {
    /// Signed JWTs (RFC 9068: `typ: at+jwt`), verifiable offline with the published
    /// JWKS; revocation is seen only by introspection and [`AuthorizationServer`]'s
    /// own verifier.
    #[default]
    Jwt,
    /// Random strings, meaningful only to this server: resource servers introspect
    /// them (RFC 7662), so revocation is seen at once.
    Opaque,
}

/// Token lifetimes, per grant where it matters (Authlib's `OAUTH2_TOKEN_EXPIRES_IN`).
#[derive(Clone, Debug)]
pub struct Lifetimes {
    pub(crate) access_code_flow: Duration,
    pub(crate) access_client_credentials: Duration,
    pub(crate) refresh_token: Duration,
    pub(crate) grant: Duration,
    pub(crate) code: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            access_code_flow: Duration::from_secs(3600),
            access_client_credentials: Duration::from_secs(3600),
            refresh_token: Duration::from_secs(14 * 24 * 3600),
            grant: Duration::from_secs(30 * 24 * 3600),
            code: Duration::from_secs(60),
        }
    }
}

/// An OAuth 2.0 authorization server: its endpoints as methods (to wire to routes of
/// your own) and as an axum router. Cheap to clone.
///
/// # The login page is the application's
///
/// The token, revocation and introspection endpoints limit failed client
/// authentication ([`ServerLimits`]). The authorization endpoint limits nothing: the
/// password check on the login page is the application's, and so are its limits and
/// its defences. The `authorization_server` example does what follows.
///
/// - **Throttle failed logins.** Count each attempt *before* checking the password
///   with [`LoginThrottle`](crate::issue::LoginThrottle) (the budgets of
///   [`LocalIssuer`](crate::issue::LocalIssuer)'s `/login`: per login name, per client
///   address and in total, set by [`LoginLimits`](crate::issue::LoginLimits)); past a
///   limit, answer the page again with `429` and `Retry-After`, the password
///   unchecked. Hash passwords slowly (argon2id, or PBKDF2 at OWASP's rounds) and check
///   an unknown login against a dummy hash, so a failure takes the same time whether
///   the login exists or not.
/// - **Protect the consent `POST` from cross-site requests.** A form that asks for
///   the password on every `POST` cannot be forged: another site does not know it. An
///   application that keeps the user signed in with a session cookie and posts only
///   the decision must put a CSRF token in the form and check it before
///   [`create_authorization_response`](Self::create_authorization_response), or set
///   the session cookie `SameSite=Strict`: otherwise any site can post
///   `consent=allow` in the user's name and receive a code for a client of its own.
///
/// ```
/// use tower_bearer::issue::{IssuerKey, KeyType};
/// use tower_bearer::issue::server::{AuthorizationServer, Client, ClientRegistry, GrantType};
///
/// let key = IssuerKey::generate(KeyType::Rsa(2048), None).unwrap();
/// let clients = ClientRegistry::new()
///     .with(Client::confidential("worker", "a long random secret").unwrap().grant_type(GrantType::ClientCredentials).scope("jobs"))
///     .unwrap();
/// let server = AuthorizationServer::builder("https://auth.example.com", &key.private_jwk().to_json())
///     .audience("https://api.example.com")
///     .clients(clients)
///     .build()
///     .unwrap();
/// # let _ = server;
/// ```
#[derive(Clone)]
pub struct AuthorizationServer {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) issuer: String,
    pub(crate) audience: String,
    /// The signing keys (rotating) and what the JWKS publishes.
    pub(crate) keys: keys::KeyRing,
    pub(crate) metadata: metadata::Metadata,
    pub(crate) clients: Arc<dyn ClientStore>,
    pub(crate) store: Arc<dyn GrantStore>,
    pub(crate) format: AccessTokenFormat,
    pub(crate) lifetimes: Lifetimes,
    pub(crate) error_uris: ErrorUris,
    pub(crate) clock: Arc<dyn Clock>,
    /// Opaque access tokens (with [`AccessTokenFormat::Opaque`]).
    pub(crate) access_generator: Arc<dyn TokenGenerator>,
    pub(crate) refresh_generator: Arc<dyn TokenGenerator>,
    pub(crate) limiter: limits::Limiter,
}

impl std::fmt::Debug for AuthorizationServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = &self.inner;
        f.debug_struct("AuthorizationServer")
            .field("issuer", &i.issuer)
            .field("audience", &i.audience)
            .field("format", &i.format)
            .field("lifetimes", &i.lifetimes)
            .finish_non_exhaustive()
    }
}

impl AuthorizationServer {
    /// Starts a server named `issuer` (https, or http on loopback) signing with the
    /// private JWK `signing_key`.
    pub fn builder(issuer: impl Into<String>, signing_key: &str) -> AuthorizationServerBuilder {
        AuthorizationServerBuilder::new(issuer.into(), signing_key.to_owned())
    }

    /// The issuer identifier (`iss`, RFC 9207's `iss` parameter).
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The `aud` of its access tokens.
    pub fn audience(&self) -> &str {
        &self.inner.audience
    }

    pub(crate) fn now(&self) -> u64 {
        self.inner.clock.now()
    }
}
