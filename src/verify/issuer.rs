//! One trusted issuer: how its tokens are recognised and where its keys come from.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::claims::{ClaimPath, RoleSources, audience_matches};
use crate::error::ConfigError;
use crate::keys::KeyStore;
use crate::reject::InvalidToken;

/// The placeholder an issuer template fills from the token's `tid` claim.
const TENANT: &str = "{tenantid}";

/// One trusted issuer: its exact `iss` value and where its keys come from, plus
/// optional per-issuer audiences, role claim paths and required claim values.
///
/// ```
/// use tower_bearer::Issuer;
/// # #[cfg(feature = "remote")] {
/// let keycloak = Issuer::new("https://sso.example.com/realms/main")
///     .discover()                       // keys via /.well-known/openid-configuration
///     .roles_claim("realm_access.roles");
/// # let _ = keycloak; }
/// ```
#[must_use]
pub struct Issuer {
    issuer: String,
    keys: Option<KeySource>,
    audiences: Option<Vec<String>>,
    audience_claim: Option<String>,
    roles: Option<Vec<ClaimPath>>,
    /// Whether `roles` holds a preset's paths, which the first `roles_claim` replaces.
    preset_roles: bool,
    role_sources: Vec<(Arc<str>, ClaimPath)>,
    required_values: Vec<(String, String)>,
}

enum KeySource {
    Store(Arc<dyn KeyStore>),
    #[cfg(feature = "remote")]
    JwksUrl(String),
    #[cfg(feature = "remote")]
    Discover,
}

impl Issuer {
    /// An issuer whose tokens carry exactly this `iss`.
    ///
    /// A multi-tenant issuer may contain `{tenantid}` (e.g. Microsoft Entra ID's
    /// `https://login.microsoftonline.com/{tenantid}/v2.0`): a token matches when its
    /// `iss` equals the template with `{tenantid}` replaced by the token's own `tid`
    /// claim (letters, digits and `-` only). Restrict tenants with a predicate or a
    /// requirement on `tid` if you do not accept every tenant.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            keys: None,
            audiences: None,
            audience_claim: None,
            roles: None,
            preset_roles: false,
            role_sources: Vec::new(),
            required_values: Vec::new(),
        }
    }

    /// Uses this key store ([`StaticKeys`](crate::keys::StaticKeys),
    /// [`RemoteJwks`](crate::keys::RemoteJwks) with custom settings, or your own).
    pub fn keys(mut self, store: impl KeyStore) -> Self {
        self.keys = Some(KeySource::Store(Arc::new(store)));
        self
    }

    /// Fetches keys from this JWKS URL, with default cache settings.
    #[cfg(feature = "remote")]
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.keys = Some(KeySource::JwksUrl(url.into()));
        self
    }

    /// Finds keys through the issuer's discovery document, with default cache settings.
    #[cfg(feature = "remote")]
    pub fn discover(mut self) -> Self {
        self.keys = Some(KeySource::Discover);
        self
    }

    /// Accepts this audience for this issuer's tokens (replacing the verifier-wide list).
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audiences.get_or_insert_with(Vec::new).push(aud.into());
        self
    }

    /// Reads the audience from this claim instead of `aud` (Amazon Cognito access
    /// tokens carry the app client in `client_id` and have no `aud`).
    pub fn audience_claim(mut self, claim: impl Into<String>) -> Self {
        self.audience_claim = Some(claim.into());
        self
    }

    /// Reads roles for this issuer's tokens from `path` (call again for more paths).
    /// The first call replaces the verifier-wide paths and a preset's own, so
    /// `Issuer::keycloak(..).roles_claim("roles")` reads `roles` only.
    pub fn roles_claim(mut self, path: impl Into<ClaimPath>) -> Self {
        if std::mem::take(&mut self.preset_roles) {
            self.roles = None;
        }
        self.roles.get_or_insert_with(Vec::new).push(path.into());
        self
    }

    /// A named set of roles read from `path` and kept apart from the roles that
    /// [`policy::role`](crate::policy::role) checks: check it with
    /// [`policy::role_in(name, ..)`](crate::policy::role_in). Keycloak's client roles
    /// are the source `"client"` of [`Issuer::keycloak`]. Naming a source again
    /// replaces its path.
    pub fn role_source(mut self, name: &str, path: impl Into<ClaimPath>) -> Self {
        self.role_sources.retain(|(n, _)| &**n != name);
        self.role_sources.push((name.into(), path.into()));
        self
    }

    /// Sets a preset's role paths, which a later `roles_claim` replaces.
    #[cfg(feature = "remote")]
    pub(crate) fn preset_roles(mut self, path: &str) -> Self {
        self.roles = Some(vec![ClaimPath::new(path)]);
        self.preset_roles = true;
        self
    }

    /// Requires the string claim `name` to equal `value`, or the token is invalid
    /// (`401`): e.g. Cognito's `token_use` = `access`, so ID tokens are refused.
    pub fn require_claim_value(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.required_values.push((name.into(), value.into()));
        self
    }

    pub(crate) fn name(&self) -> &str {
        &self.issuer
    }

    pub(crate) fn has_audience(&self) -> bool {
        self.audiences.is_some()
    }

    pub(crate) fn into_entry(self, default_roles: &[ClaimPath]) -> Result<IssuerEntry, ConfigError> {
        if self.audiences.iter().flatten().any(|a| a.trim().is_empty()) {
            return Err(ConfigError::new(format!("issuer {:?}: an audience must not be empty", self.issuer)));
        }
        let keys: Arc<dyn KeyStore> = match self.keys {
            None => return Err(ConfigError::new(format!("issuer {:?} has no key source", self.issuer))),
            Some(KeySource::Store(s)) => s,
            #[cfg(feature = "remote")]
            Some(KeySource::JwksUrl(url)) => Arc::new(crate::keys::RemoteJwks::from_url(&url)?),
            #[cfg(feature = "remote")]
            Some(KeySource::Discover) if self.issuer.contains(TENANT) => {
                return Err(ConfigError::new(format!(
                    "issuer template {:?} cannot be discovered; give it a jwks_url or keys",
                    self.issuer
                )));
            }
            #[cfg(feature = "remote")]
            Some(KeySource::Discover) => Arc::new(crate::keys::RemoteJwks::discover(&self.issuer)?),
        };
        Ok(IssuerEntry {
            template: self.issuer.contains(TENANT),
            issuer: self.issuer,
            keys,
            audiences: self.audiences,
            audience_claim: self.audience_claim.unwrap_or_else(|| "aud".into()),
            roles: RoleSources {
                roles: self.roles.unwrap_or_else(|| default_roles.to_vec()),
                named: self.role_sources,
            },
            required_values: self.required_values,
        })
    }
}

/// A configured issuer, ready to match tokens.
pub(crate) struct IssuerEntry {
    pub(crate) issuer: String,
    template: bool,
    pub(crate) keys: Arc<dyn KeyStore>,
    audiences: Option<Vec<String>>,
    audience_claim: String,
    pub(crate) roles: RoleSources,
    required_values: Vec<(String, String)>,
}

impl IssuerEntry {
    /// The catch-all entry of `dangerous_accept_any_issuer`.
    pub(crate) fn any(keys: Arc<dyn KeyStore>, default_roles: &[ClaimPath]) -> Self {
        Self {
            issuer: String::new(),
            template: false,
            keys,
            audiences: None,
            audience_claim: "aud".into(),
            roles: RoleSources::from_paths(default_roles.to_vec()),
            required_values: Vec::new(),
        }
    }

    /// Whether the issuer is a `{tenantid}` template.
    pub(crate) fn is_template(&self) -> bool {
        self.template
    }

    /// Exact string equality, or the template filled with the token's `tid`.
    pub(crate) fn matches(&self, iss: &str, claims: &Map<String, Value>) -> bool {
        if !self.template {
            return self.issuer == iss;
        }
        let Some(Value::String(tid)) = claims.get("tid") else { return false };
        let safe = !tid.is_empty() && tid.len() <= 64 && tid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        safe && self.issuer.replacen(TENANT, tid, 1) == iss
    }

    /// Any-of on this issuer's audiences (or the verifier-wide ones).
    pub(crate) fn check_audience(
        &self,
        claims: &Map<String, Value>,
        global: Option<&[String]>,
    ) -> Result<(), InvalidToken> {
        let Some(allowed) = self.audiences.as_deref().or(global) else { return Ok(()) };
        if audience_matches(claims.get(&self.audience_claim), allowed) { Ok(()) } else { Err(InvalidToken::Audience) }
    }

    pub(crate) fn check_required_values(&self, claims: &Map<String, Value>) -> Result<(), InvalidToken> {
        for (name, value) in &self.required_values {
            if claims.get(name).and_then(Value::as_str) != Some(value.as_str()) {
                return Err(InvalidToken::ClaimValue);
            }
        }
        Ok(())
    }
}
