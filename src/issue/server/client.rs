//! Registered clients: [`Client`], what they may do ([`GrantType`]), and where the
//! server finds them ([`ClientStore`], [`ClientRegistry`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::store::StoreFuture;
use crate::ConfigError;

/// The grants this server implements (RFC 6749 §4.1, §4.4, §6). The password and
/// implicit grants are not among them (RFC 9700 §2.4, §2.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GrantType {
    /// `authorization_code`, always with PKCE.
    AuthorizationCode,
    /// `client_credentials`, for confidential clients only.
    ClientCredentials,
    /// `refresh_token`, rotated on every use.
    RefreshToken,
}

impl GrantType {
    /// The `grant_type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::ClientCredentials => "client_credentials",
            Self::RefreshToken => "refresh_token",
        }
    }

    /// The grant named `name`, if this server implements it.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "authorization_code" => Some(Self::AuthorizationCode),
            "client_credentials" => Some(Self::ClientCredentials),
            "refresh_token" => Some(Self::RefreshToken),
            _ => None,
        }
    }
}

/// A client secret as stored: a random salt and SHA-256(salt ‖ secret). Client
/// secrets are generated, high-entropy values (use at least 128 random bits), so a
/// fast hash suffices; comparisons are constant-time. A client secret shorter than 16
/// bytes never authenticates a client, whatever its hash (`new` still hashes any
/// text, for other uses such as passwords). Its text form
/// (`sha256$<salt>$<hash>`, base64url) is what to keep in a configuration store.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash {
    salt: [u8; 16],
    hash: [u8; 32],
}

impl SecretHash {
    /// Hashes `secret` with a fresh random salt.
    pub fn new(secret: &str) -> Result<Self, ConfigError> {
        let bytes = crate::signing::random_bytes(16).map_err(|e| ConfigError::with_source("no randomness", e))?;
        let mut salt = [0u8; 16];
        salt.copy_from_slice(bytes.get(..16).unwrap_or(&[0; 16]));
        Ok(Self { salt, hash: Self::digest(&salt, secret) })
    }

    /// Reads the text form made by [`Display`](fmt::Display).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError::new("a secret hash is `sha256$<salt>$<hash>` (base64url)");
        let mut parts = text.split('$');
        let (Some("sha256"), Some(salt), Some(hash), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let salt: [u8; 16] = URL_SAFE_NO_PAD.decode(salt).ok().and_then(|s| s.try_into().ok()).ok_or_else(bad)?;
        let hash: [u8; 32] = URL_SAFE_NO_PAD.decode(hash).ok().and_then(|h| h.try_into().ok()).ok_or_else(bad)?;
        Ok(Self { salt, hash })
    }

    /// Whether `secret` is the hashed secret, compared in constant time.
    pub fn matches(&self, secret: &str) -> bool {
        crate::verify::constant_time_eq(&Self::digest(&self.salt, secret), &self.hash)
    }

    fn digest(salt: &[u8; 16], secret: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(salt);
        h.update(secret.as_bytes());
        h.finalize().into()
    }
}

impl fmt::Display for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256${}${}", URL_SAFE_NO_PAD.encode(self.salt), URL_SAFE_NO_PAD.encode(self.hash))
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash([redacted])")
    }
}

/// Shortest client secret accepted, in bytes: an empty or short one can be guessed
/// within the failure limits.
const MIN_SECRET_LEN: usize = 16;

/// One registered client (RFC 6749 §2): confidential (with a secret, authenticated
/// with `client_secret_basic` or `client_secret_post`) or public (`none`).
///
/// ```
/// use tower_bearer::issue::server::{Client, GrantType};
///
/// let web = Client::confidential("web", "a long random secret")
///     .unwrap()
///     .redirect_uri("https://app.example.com/callback")
///     .grant_type(GrantType::AuthorizationCode)
///     .grant_type(GrantType::RefreshToken)
///     .scope("read");
/// let cli = Client::public("cli").redirect_uri("http://127.0.0.1:8976/done").grant_type(GrantType::AuthorizationCode);
/// # let _ = (web, cli);
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    pub(super) id: String,
    pub(super) secret: Option<SecretHash>,
    pub(super) redirect_uris: Vec<String>,
    pub(super) grant_types: Vec<GrantType>,
    pub(super) scopes: Vec<String>,
}

impl Client {
    /// A public client (no secret; `token_endpoint_auth_method` `none`).
    pub fn public(id: impl Into<String>) -> Self {
        Self { id: id.into(), secret: None, redirect_uris: Vec::new(), grant_types: Vec::new(), scopes: Vec::new() }
    }

    /// A confidential client whose secret is `secret` (kept only hashed): a generated
    /// random value of at least 16 bytes (a fast hash is all that protects it), an
    /// error otherwise.
    pub fn confidential(id: impl Into<String>, secret: &str) -> Result<Self, ConfigError> {
        let id = id.into();
        if secret.len() < MIN_SECRET_LEN {
            return Err(ConfigError::new(format!(
                "client {id}: a client secret has at least {MIN_SECRET_LEN} bytes (generate 128 random bits or more)"
            )));
        }
        Ok(Self::with_secret_hash(id, SecretHash::new(secret)?))
    }

    /// A confidential client whose secret hashes to `hash`. A secret shorter than 16
    /// bytes never authenticates it, even one that hashes to `hash`.
    pub fn with_secret_hash(id: impl Into<String>, hash: SecretHash) -> Self {
        Self { secret: Some(hash), ..Self::public(id) }
    }

    /// Registers a redirection URI, compared by exact string match (RFC 9700 §4.1.3).
    #[must_use]
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uris.push(uri.into());
        self
    }

    /// Allows a grant type.
    #[must_use]
    pub fn grant_type(mut self, grant: GrantType) -> Self {
        if !self.grant_types.contains(&grant) {
            self.grant_types.push(grant);
        }
        self
    }

    /// Allows a scope: the client can never be granted one it was not registered with.
    #[must_use]
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// The `client_id`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether the client has a secret.
    pub fn is_confidential(&self) -> bool {
        self.secret.is_some()
    }

    /// Whether `secret` is this client's secret (constant-time); `false` for a public
    /// client and for a secret shorter than 16 bytes.
    pub fn secret_matches(&self, secret: &str) -> bool {
        // A hash made of a short secret slips past `confidential`'s check. The hash is
        // compared all the same, so a short secret is not answered faster.
        let matches = self.secret.as_ref().is_some_and(|h| h.matches(secret));
        matches && secret.len() >= MIN_SECRET_LEN
    }

    /// Its registered redirection URIs.
    pub fn redirect_uris(&self) -> &[String] {
        &self.redirect_uris
    }

    /// The grant types it may use.
    pub fn grant_types(&self) -> &[GrantType] {
        &self.grant_types
    }

    /// Whether it may use `grant`.
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// The scopes it may be granted.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Checks the registration: a client id, redirect URIs that are absolute, without
    /// fragment (RFC 6749 §3.1.2), https or http on loopback (RFC 8252 §7.3); public
    /// clients cannot use client credentials (RFC 6749 §4.4).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let who = &self.id;
        if self.id.is_empty() || self.id.len() > 256 || self.id.chars().any(|c| c.is_control()) {
            return Err(ConfigError::new("a client_id is 1-256 characters, no control characters"));
        }
        if self.secret.is_none() && self.allows(GrantType::ClientCredentials) {
            return Err(ConfigError::new(format!("client {who}: a public client cannot use client_credentials")));
        }
        if self.allows(GrantType::AuthorizationCode) && self.redirect_uris.is_empty() {
            return Err(ConfigError::new(format!("client {who}: authorization_code needs a redirect_uri")));
        }
        for uri in &self.redirect_uris {
            let parsed = url::Url::parse(uri).map_err(|e| {
                ConfigError::new(format!("client {who}: redirect_uri {uri:?} is not an absolute URI: {e}"))
            })?;
            if parsed.fragment().is_some() {
                return Err(ConfigError::new(format!("client {who}: redirect_uri {uri:?} has a fragment")));
            }
            match parsed.scheme() {
                "https" => {}
                "http" if crate::outbound::is_loopback(&parsed) => {}
                "http" => {
                    return Err(ConfigError::new(format!("client {who}: redirect_uri {uri:?} is http off loopback")));
                }
                "javascript" | "data" | "file" | "vbscript" => {
                    return Err(ConfigError::new(format!("client {who}: redirect_uri {uri:?} has a forbidden scheme")));
                }
                // Private-use schemes of native apps (RFC 8252 §7.1).
                _ => {}
            }
        }
        Ok(())
    }
}

/// Where the server looks clients up by `client_id`.
pub trait ClientStore: Send + Sync + 'static {
    /// The client `id`, if registered.
    fn client<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Arc<Client>>>;
}

/// Clients held in memory, checked when added.
///
/// ```
/// use tower_bearer::issue::server::ClientRegistry;
///
/// let clients = ClientRegistry::from_json(r#"[
///   {"client_id": "web", "client_secret": "s3cr3t-long-random", "redirect_uris": ["https://app.example.com/cb"],
///    "grant_types": ["authorization_code", "refresh_token"], "scope": "read write"},
///   {"client_id": "worker", "client_secret": "another-long-secret", "redirect_uris": [],
///    "grant_types": ["client_credentials"], "scope": "jobs"}
/// ]"#).unwrap();
/// # let _ = clients;
/// ```
#[derive(Clone, Debug, Default)]
pub struct ClientRegistry {
    clients: HashMap<String, Arc<Client>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Registration {
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    client_secret_hash: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    grant_types: Vec<String>,
    #[serde(default)]
    scope: String,
}

impl ClientRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `client` after [`Client::validate`]; a second client with the same id is
    /// an error.
    pub fn add(&mut self, client: Client) -> Result<(), ConfigError> {
        client.validate()?;
        if self.clients.contains_key(&client.id) {
            return Err(ConfigError::new(format!("client {} is registered twice", client.id)));
        }
        self.clients.insert(client.id.clone(), Arc::new(client));
        Ok(())
    }

    /// Adds `client`, for chaining.
    pub fn with(mut self, client: Client) -> Result<Self, ConfigError> {
        self.add(client)?;
        Ok(self)
    }

    /// Reads a JSON array of registrations `{client_id, client_secret?,
    /// client_secret_hash?, redirect_uris, grant_types, scope}` (RFC 7591 names; no
    /// secret = public client; `scope` space-separated). A `client_secret` shorter than
    /// 16 bytes, unknown grant types (such as `password` or `implicit`) and unknown
    /// fields are errors (a `client_secret_hash` cannot be checked so: a secret shorter
    /// than 16 bytes never authenticates).
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let registrations: Vec<Registration> =
            serde_json::from_str(text).map_err(|e| ConfigError::with_source("invalid client registrations", e))?;
        let mut registry = Self::new();
        for r in registrations {
            let mut client = match (r.client_secret, r.client_secret_hash) {
                (Some(_), Some(_)) => {
                    return Err(ConfigError::new(format!(
                        "client {}: client_secret and client_secret_hash both given",
                        r.client_id
                    )));
                }
                (Some(secret), None) => Client::confidential(r.client_id, &secret)?,
                (None, Some(hash)) => Client::with_secret_hash(r.client_id, SecretHash::parse(&hash)?),
                (None, None) => Client::public(r.client_id),
            };
            for grant in &r.grant_types {
                let parsed = GrantType::parse(grant).ok_or_else(|| {
                    ConfigError::new(format!("client {}: unsupported grant type {grant:?}", client.id))
                })?;
                client = client.grant_type(parsed);
            }
            for uri in r.redirect_uris {
                client = client.redirect_uri(uri);
            }
            for scope in r.scope.split(' ').filter(|s| !s.is_empty()) {
                client = client.scope(scope);
            }
            registry.add(client)?;
        }
        Ok(registry)
    }

    /// The registered clients.
    pub fn clients(&self) -> impl Iterator<Item = &Client> {
        self.clients.values().map(|c| &**c)
    }
}

impl ClientStore for ClientRegistry {
    fn client<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Arc<Client>>> {
        let found = self.clients.get(id).cloned();
        Box::pin(async move { Ok(found) })
    }
}
