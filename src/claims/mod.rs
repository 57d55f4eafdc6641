//! What a verified token says: registered claims, scopes, roles, and the raw JSON.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::reject::InvalidToken;
use crate::verify::{CacheCheck, Confirmation};

mod names;
mod path;
mod roles;

pub use names::NameSet;
pub use path::ClaimPath;
pub(crate) use roles::RoleSources;

/// A token that passed verification, with its claims. Cheap to clone.
///
/// The layer puts it into request extensions; with the `axum` feature it is also an
/// extractor. Its `Debug` output shows a few claims, never the token or signature.
///
/// ```
/// # use tower_bearer::VerifiedToken;
/// fn describe(token: &VerifiedToken) -> String {
///     format!("{} with {:?}", token.subject().unwrap_or("?"), token.scopes())
/// }
/// ```
#[derive(Clone)]
pub struct VerifiedToken(Arc<Inner>);

struct Inner {
    header: Value,
    claims: Value,
    expires_at: u64,
    scopes: NameSet,
    roles: NameSet,
    named_roles: Vec<(Arc<str>, NameSet)>,
    /// Rough heap footprint, for the cache's byte bound.
    approx_size: usize,
    /// What a verified-token cache hit re-checks; only on tokens the cache holds, so a
    /// hit hands out the stored token itself (one reference count, no wrapper).
    cached: Option<CacheCheck>,
    /// `cnf`, read once: the layer checks it on every request, cache hits included.
    confirmation: Option<Confirmation>,
}

impl VerifiedToken {
    /// Builds the view of checked `claims`. `claims` must be a JSON object.
    pub(crate) fn new(
        header: Value,
        claims: Value,
        expires_at: u64,
        sources: &RoleSources,
        encoded_len: usize,
    ) -> Result<Self, InvalidToken> {
        let map = claims.as_object().ok_or(InvalidToken::Malformed)?;
        let scopes = read_scopes(map)?;
        let confirmation = Confirmation::read(map)?;
        let mut roles = NameSet::default();
        for path in &sources.roles {
            read_names(path.lookup(map), &mut roles);
        }
        let named_roles = sources
            .named
            .iter()
            .map(|(name, path)| {
                let mut set = NameSet::default();
                read_names(path.lookup(map), &mut set);
                (name.clone(), set)
            })
            .collect();
        // Measured: decoded claims held as `Value`s, scopes and roles take about five
        // times the encoded token, plus fixed overhead.
        let approx_size = 5 * encoded_len + 512;
        let cached = None;
        Ok(Self(Arc::new(Inner {
            header,
            claims,
            expires_at,
            scopes,
            roles,
            named_roles,
            approx_size,
            cached,
            confirmation,
        })))
    }

    /// The roles of the named source `source` (e.g. `"client"` for Keycloak client
    /// roles), kept apart from [`roles`](Self::roles); `None` when the issuer has no
    /// such source.
    pub fn roles_in(&self, source: &str) -> Option<&NameSet> {
        self.0.named_roles.iter().find(|(name, _)| &**name == source).map(|(_, set)| set)
    }

    pub(crate) fn approx_size(&self) -> usize {
        self.0.approx_size
    }

    /// This token, made storable in the verified-token cache; a token already shared
    /// comes back unchanged as the error.
    pub(crate) fn with_cache_check(mut self, check: CacheCheck) -> Result<Self, Self> {
        match Arc::get_mut(&mut self.0) {
            Some(inner) => inner.cached = Some(check),
            None => return Err(self),
        }
        Ok(self)
    }

    /// What a cache hit on this token re-checks (only set on cached tokens).
    pub(crate) fn cache_check(&self) -> Option<&CacheCheck> {
        self.0.cached.as_ref()
    }

    /// What the token is bound to (`cnf`), if anything.
    pub(crate) fn confirmation(&self) -> Option<&Confirmation> {
        self.0.confirmation.as_ref()
    }

    /// Whether the token is sender-constrained (has `cnf`): usable only with the proof
    /// it names, a DPoP key (RFC 9449) or a TLS client certificate (RFC 8705).
    pub fn is_sender_constrained(&self) -> bool {
        self.0.confirmation.is_some()
    }

    /// All claims, as JSON.
    pub fn claims(&self) -> &Map<String, Value> {
        // `new` only accepts objects, so the fallback is never used.
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        self.0.claims.as_object().unwrap_or_else(|| EMPTY.get_or_init(Map::new))
    }

    /// The JOSE header (for introspected tokens: an empty object).
    pub fn header(&self) -> &Value {
        &self.0.header
    }

    /// Deserializes the claims into your own type.
    ///
    /// ```
    /// # fn f(token: tower_bearer::VerifiedToken) -> Result<(), serde_json::Error> {
    /// #[derive(serde::Deserialize)]
    /// struct MyClaims { sub: String, tenant: Option<String> }
    /// let mine: MyClaims = token.deserialize()?;
    /// # Ok(()) }
    /// ```
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(self.claims())
    }

    /// One claim by dotted path (see [`ClaimPath`] for the syntax).
    pub fn claim(&self, path: &str) -> Option<&Value> {
        ClaimPath::new(path).lookup(self.claims())
    }

    fn str_claim(&self, name: &str) -> Option<&str> {
        self.claims().get(name).and_then(Value::as_str)
    }

    /// `iss`.
    pub fn issuer(&self) -> Option<&str> {
        self.str_claim("iss")
    }

    /// `sub`.
    pub fn subject(&self) -> Option<&str> {
        self.str_claim("sub")
    }

    /// `jti`.
    pub fn jwt_id(&self) -> Option<&str> {
        self.str_claim("jti")
    }

    /// `client_id` (RFC 9068), or else `azp` (OpenID Connect), or Okta's `cid`.
    pub fn client_id(&self) -> Option<&str> {
        self.str_claim("client_id").or_else(|| self.str_claim("azp")).or_else(|| self.str_claim("cid"))
    }

    /// `aud` as a list (a single string becomes one entry).
    pub fn audiences(&self) -> Vec<&str> {
        match self.claims().get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// `exp`, in seconds since the Unix epoch.
    pub fn expires_at(&self) -> u64 {
        self.0.expires_at
    }

    /// The scopes.
    pub fn scopes(&self) -> &NameSet {
        &self.0.scopes
    }

    /// The roles found at the configured claim paths.
    pub fn roles(&self) -> &NameSet {
        &self.0.roles
    }
}

impl fmt::Debug for VerifiedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedToken")
            .field("iss", &self.issuer())
            .field("sub", &self.subject())
            .field("exp", &self.expires_at())
            .field("scopes", self.scopes())
            .field("roles", self.roles())
            .finish_non_exhaustive()
    }
}

/// Whether an audience claim (a string or an array of strings) names one of `allowed`.
pub(crate) fn audience_matches(claim: Option<&Value>, allowed: &[String]) -> bool {
    match claim {
        Some(Value::String(a)) => allowed.iter().any(|x| x == a),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(|a| allowed.iter().any(|x| x == a)),
        _ => false,
    }
}

/// `scope` (space-delimited string; an array is tolerated), else `scp`.
fn read_scopes(claims: &Map<String, Value>) -> Result<NameSet, InvalidToken> {
    let mut scopes = NameSet::default();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            None | Some(Value::Null) => continue,
            Some(v @ (Value::String(_) | Value::Array(_))) => {
                read_names(Some(v), &mut scopes);
                return Ok(scopes);
            }
            Some(_) => return Err(InvalidToken::ClaimType),
        }
    }
    Ok(scopes)
}

/// Adds names from a space-delimited string or an array of strings.
fn read_names(value: Option<&Value>, out: &mut NameSet) {
    match value {
        Some(Value::String(s)) => s.split(' ').for_each(|n| out.push(n)),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).for_each(|n| out.push(n)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token(claims: Value, roles: &[&str]) -> VerifiedToken {
        let paths: Vec<ClaimPath> = roles.iter().map(|r| ClaimPath::from(*r)).collect();
        VerifiedToken::new(json!({}), claims, 10, &RoleSources::from_paths(paths), 0).unwrap()
    }

    #[test]
    fn scopes_from_scope_or_scp() {
        assert_eq!(token(json!({"scope":"a b  a"}), &[]).scopes().iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(token(json!({"scp":["x","y"]}), &[]).scopes().len(), 2);
        assert_eq!(token(json!({"scp":"x y"}), &[]).scopes().len(), 2);
        assert!(VerifiedToken::new(json!({}), json!({"scope": 5}), 1, &RoleSources::default(), 0).is_err());
    }

    #[test]
    fn roles_from_paths() {
        let claims = json!({
            "roles": ["r1"],
            "realm_access": {"roles": ["r2"]},
            "resource_access": {"my-client": {"roles": ["r3"]}},
            "https://example.com/roles": ["r4"],
        });
        let t = token(
            claims,
            &["roles", "realm_access.roles", "resource_access.my-client.roles", r"https://example\.com/roles"],
        );
        assert_eq!(t.roles().iter().collect::<Vec<_>>(), ["r1", "r2", "r3", "r4"]);
    }

    #[test]
    fn typed_claims_and_debug() {
        #[derive(serde::Deserialize)]
        struct Mine {
            sub: String,
        }
        let t = token(json!({"sub":"alice","aud":["a","b"]}), &[]);
        assert_eq!(t.deserialize::<Mine>().unwrap().sub, "alice");
        assert_eq!(t.audiences(), ["a", "b"]);
        assert!(format!("{t:?}").contains("alice"));
    }
}
