//! What a verified token says: registered claims, scopes, roles, and the raw JSON.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::reject::InvalidToken;

/// A set of names (scopes or roles), in the order the token listed them, without
/// duplicates.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NameSet(Vec<String>);

/// The token's scopes, read from `scope` (space-delimited) or else `scp`
/// (a string or an array, as Entra ID and Okta send it).
pub type ScopeSet = NameSet;

/// The token's roles, read from the configured claim paths.
pub type RoleSet = NameSet;

impl NameSet {
    /// Whether `name` is in the set (exact, case-sensitive match).
    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|n| n == name)
    }

    /// The names.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn push(&mut self, name: &str) {
        if !name.is_empty() && !self.contains(name) {
            self.0.push(name.to_owned());
        }
    }
}

impl fmt::Debug for NameSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(&self.0).finish()
    }
}

impl<S: AsRef<str>> FromIterator<S> for NameSet {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut set = Self::default();
        for s in iter {
            set.push(s.as_ref());
        }
        set
    }
}

/// Where a claim lives in a token: `roles`, `realm_access.roles`,
/// `resource_access.my-client.roles`, `permissions`, `groups`...
///
/// Paths are unambiguous: a `.` always separates nested members, and a top-level
/// member whose name contains a dot never stands in for the nested path. Write a
/// literal dot as `\.` (and a literal backslash as `\\`), or name one top-level
/// member with [`ClaimPath::key`], as namespaced claims such as Auth0's need:
///
/// ```
/// use serde_json::json;
/// use tower_bearer::ClaimPath;
///
/// let claims = json!({
///     "realm_access": {"roles": ["user"]},
///     "realm_access.roles": ["admin"],
///     "https://example.com/roles": ["support"],
/// });
/// let claims = claims.as_object().unwrap();
/// assert_eq!(ClaimPath::new("realm_access.roles").lookup(claims), Some(&json!(["user"])));
/// assert_eq!(ClaimPath::new(r"realm_access\.roles").lookup(claims), Some(&json!(["admin"])));
/// assert_eq!(ClaimPath::key("https://example.com/roles").lookup(claims), Some(&json!(["support"])));
/// assert_eq!(ClaimPath::new("https://example.com/roles").lookup(claims), None, "dots split");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath {
    /// As written (escaped), for messages.
    text: Arc<str>,
    segments: Arc<[Box<str>]>,
}

impl ClaimPath {
    /// A dotted path such as `realm_access.roles` (`\.` is a literal dot).
    pub fn new(path: impl Into<Arc<str>>) -> Self {
        let text = path.into();
        let mut segments = Vec::new();
        let mut current = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(next) => current.push(next),
                    None => current.push('\\'),
                },
                '.' => segments.push(std::mem::take(&mut current).into_boxed_str()),
                _ => current.push(c),
            }
        }
        segments.push(current.into_boxed_str());
        Self { text, segments: segments.into() }
    }

    /// One top-level member, named exactly (dots and all), e.g. a namespaced claim
    /// `https://example.com/roles`.
    pub fn key(name: &str) -> Self {
        Self::from_segments([name])
    }

    /// A path given as its member names, outermost first; no escaping involved.
    pub fn from_segments<I, S>(segments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let segments: Vec<Box<str>> = segments.into_iter().map(|s| Box::from(s.as_ref())).collect();
        let text = segments.iter().map(|s| s.replace('\\', "\\\\").replace('.', "\\.")).collect::<Vec<_>>().join(".");
        Self { text: text.into(), segments: segments.into() }
    }

    /// The path as written (a literal dot shown as `\.`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value at this path in `claims`.
    pub fn lookup<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        let (first, rest) = self.segments.split_first()?;
        let mut current = claims.get(&**first)?;
        for part in rest {
            current = current.as_object()?.get(&**part)?;
        }
        Some(current)
    }
}

impl From<&str> for ClaimPath {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for ClaimPath {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

/// Where a token's roles are read: the paths behind [`VerifiedToken::roles`] (and
/// `policy::role`), and named sources kept apart from them, such as Keycloak's client
/// roles, behind [`VerifiedToken::roles_in`] (and `policy::role_in`).
#[derive(Debug, Clone, Default)]
pub(crate) struct RoleSources {
    pub(crate) roles: Vec<ClaimPath>,
    pub(crate) named: Vec<(Arc<str>, ClaimPath)>,
}

impl RoleSources {
    pub(crate) fn from_paths(roles: Vec<ClaimPath>) -> Self {
        Self { roles, named: Vec::new() }
    }
}

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
    scopes: ScopeSet,
    roles: RoleSet,
    named_roles: Vec<(Arc<str>, RoleSet)>,
    /// Rough heap footprint, for the cache's byte bound.
    approx_size: usize,
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
        let mut roles = RoleSet::default();
        for path in &sources.roles {
            read_names(path.lookup(map), &mut roles);
        }
        let named_roles = sources
            .named
            .iter()
            .map(|(name, path)| {
                let mut set = RoleSet::default();
                read_names(path.lookup(map), &mut set);
                (name.clone(), set)
            })
            .collect();
        // Measured: decoded claims held as `Value`s, scopes and roles take about five
        // times the encoded token, plus fixed overhead.
        let approx_size = 5 * encoded_len + 512;
        Ok(Self(Arc::new(Inner { header, claims, expires_at, scopes, roles, named_roles, approx_size })))
    }

    /// The roles of the named source `source` (e.g. `"client"` for Keycloak client
    /// roles), kept apart from [`roles`](Self::roles); `None` when the issuer has no
    /// such source.
    pub fn roles_in(&self, source: &str) -> Option<&RoleSet> {
        self.0.named_roles.iter().find(|(name, _)| &**name == source).map(|(_, set)| set)
    }

    pub(crate) fn approx_size(&self) -> usize {
        self.0.approx_size
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
    pub fn scopes(&self) -> &ScopeSet {
        &self.0.scopes
    }

    /// The roles found at the configured claim paths.
    pub fn roles(&self) -> &RoleSet {
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
fn read_scopes(claims: &Map<String, Value>) -> Result<ScopeSet, InvalidToken> {
    let mut scopes = ScopeSet::default();
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
        #[derive(Deserialize)]
        struct Mine {
            sub: String,
        }
        let t = token(json!({"sub":"alice","aud":["a","b"]}), &[]);
        assert_eq!(t.deserialize::<Mine>().unwrap().sub, "alice");
        assert_eq!(t.audiences(), ["a", "b"]);
        assert!(format!("{t:?}").contains("alice"));
    }
}
