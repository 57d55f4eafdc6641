//! Requirements a verified token must meet: scopes, roles, claims, predicates.
//!
//! ```
//! use tower_bearer::policy::{all, any, claim, role, scope};
//! // read:items, and either the admin role or a `tenant` claim.
//! let needs = all([scope("read:items"), any([role("admin"), claim("tenant")])]);
//! # let _ = needs;
//! ```

use std::fmt;
use std::sync::Arc;

use crate::claims::{ClaimPath, VerifiedToken};
use crate::reject::Insufficient;

/// A requirement on a verified token. Unmet requirements are answered with
/// `403 insufficient_scope`, naming missing scopes in `scope="…"` and what failed in
/// `error_description`.
#[derive(Clone)]
pub struct Requirement(Arc<Node>);

type Predicate = dyn Fn(&VerifiedToken) -> bool + Send + Sync;

enum Node {
    Scope(String),
    Role(String),
    RoleIn(Arc<str>, String),
    Claim(ClaimPath),
    Predicate(String, Box<Predicate>),
    All(Vec<Requirement>),
    Any(Vec<Requirement>),
}

/// The token's scopes must include `name`.
pub fn scope(name: impl Into<String>) -> Requirement {
    Requirement(Arc::new(Node::Scope(name.into())))
}

/// The token's roles must include `name`.
pub fn role(name: impl Into<String>) -> Requirement {
    Requirement(Arc::new(Node::Role(name.into())))
}

/// The roles of the issuer's named role source `source` must include `name`: e.g.
/// `role_in("client", "admin")` for a Keycloak client role, which [`role`] never
/// matches (see the presets on [`Issuer`](crate::Issuer)).
pub fn role_in(source: &str, name: impl Into<String>) -> Requirement {
    Requirement(Arc::new(Node::RoleIn(source.into(), name.into())))
}

/// The claim at `path` (name or dotted path) must be present and not `null`.
pub fn claim(path: impl Into<ClaimPath>) -> Requirement {
    Requirement(Arc::new(Node::Claim(path.into())))
}

/// A custom check; `name` appears in the 403 description when it fails.
///
/// ```
/// use tower_bearer::policy::predicate;
/// let internal = predicate("internal client", |t| t.client_id().is_some_and(|c| c.starts_with("svc-")));
/// # let _ = internal;
/// ```
pub fn predicate(
    name: impl Into<String>,
    check: impl Fn(&VerifiedToken) -> bool + Send + Sync + 'static,
) -> Requirement {
    Requirement(Arc::new(Node::Predicate(name.into(), Box::new(check))))
}

/// Every requirement must hold.
pub fn all(reqs: impl IntoIterator<Item = Requirement>) -> Requirement {
    Requirement(Arc::new(Node::All(reqs.into_iter().collect())))
}

/// At least one requirement must hold. An empty `any` is never met (fail closed).
pub fn any(reqs: impl IntoIterator<Item = Requirement>) -> Requirement {
    Requirement(Arc::new(Node::Any(reqs.into_iter().collect())))
}

/// All of these scopes.
pub fn all_scopes<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Requirement {
    all(names.into_iter().map(scope))
}

/// At least one of these scopes.
pub fn any_scope<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Requirement {
    any(names.into_iter().map(scope))
}

/// All of these roles.
pub fn all_roles<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Requirement {
    all(names.into_iter().map(role))
}

/// At least one of these roles.
pub fn any_role<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Requirement {
    any(names.into_iter().map(role))
}

impl Requirement {
    /// This and `other`.
    pub fn and(self, other: Requirement) -> Requirement {
        all([self, other])
    }

    /// This or `other`.
    pub fn or(self, other: Requirement) -> Requirement {
        any([self, other])
    }

    /// Checks `token`, saying what is missing when it fails.
    pub fn check(&self, token: &VerifiedToken) -> Result<(), Insufficient> {
        match &*self.0 {
            Node::Scope(s) if token.scopes().contains(s) => Ok(()),
            Node::Scope(s) => {
                Err(Insufficient { scopes: vec![s.clone()], description: format!("missing scope '{s}'") })
            }
            Node::Role(r) if token.roles().contains(r) => Ok(()),
            Node::Role(r) => Err(Insufficient { scopes: Vec::new(), description: format!("missing role '{r}'") }),
            Node::RoleIn(source, r) if token.roles_in(source).is_some_and(|set| set.contains(r)) => Ok(()),
            Node::RoleIn(source, r) => {
                Err(Insufficient { scopes: Vec::new(), description: format!("missing {source} role '{r}'") })
            }
            Node::Claim(p) if p.lookup(token.claims()).is_some_and(|v| !v.is_null()) => Ok(()),
            Node::Claim(p) => {
                Err(Insufficient { scopes: Vec::new(), description: format!("missing claim '{}'", p.as_str()) })
            }
            Node::Predicate(_, f) if f(token) => Ok(()),
            Node::Predicate(name, _) => {
                Err(Insufficient { scopes: Vec::new(), description: format!("requirement not met: {name}") })
            }
            Node::All(reqs) => {
                let failures: Vec<Insufficient> = reqs.iter().filter_map(|r| r.check(token).err()).collect();
                if failures.is_empty() { Ok(()) } else { Err(merge(failures, "; ")) }
            }
            // Fail closed: `any_role(configured)` with an empty list must not allow everyone.
            Node::Any(reqs) if reqs.is_empty() => {
                Err(Insufficient { scopes: Vec::new(), description: "no acceptable alternative is configured".into() })
            }
            Node::Any(reqs) => {
                let mut failures = Vec::with_capacity(reqs.len());
                for r in reqs {
                    match r.check(token) {
                        Ok(()) => return Ok(()),
                        Err(f) => failures.push(f),
                    }
                }
                let mut merged = merge(failures, " or ");
                merged.description = format!("one of: {}", merged.description);
                Err(merged)
            }
        }
    }
}

fn merge(failures: Vec<Insufficient>, sep: &str) -> Insufficient {
    let mut scopes: Vec<String> = Vec::new();
    let mut parts = Vec::with_capacity(failures.len());
    for f in failures {
        for s in f.scopes {
            if !scopes.contains(&s) {
                scopes.push(s);
            }
        }
        parts.push(f.description);
    }
    Insufficient { scopes, description: parts.join(sep) }
}

impl fmt::Debug for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            Node::Scope(s) => write!(f, "scope({s:?})"),
            Node::Role(r) => write!(f, "role({r:?})"),
            Node::RoleIn(source, r) => write!(f, "role_in({source:?}, {r:?})"),
            Node::Claim(p) => write!(f, "claim({:?})", p.as_str()),
            Node::Predicate(n, _) => write!(f, "predicate({n:?})"),
            Node::All(r) => f.debug_tuple("all").field(r).finish(),
            Node::Any(r) => f.debug_tuple("any").field(r).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token() -> VerifiedToken {
        let claims = json!({"scope":"read write","roles":["admin"],"name":"Al","gone":null});
        VerifiedToken::new(json!({}), claims, 1, &crate::claims::RoleSources::from_paths(vec!["roles".into()]), 0)
            .unwrap()
    }

    #[test]
    fn combinators() {
        let t = token();
        assert!(all([scope("read"), role("admin"), claim("name")]).check(&t).is_ok());
        assert!(any([scope("nope"), role("admin")]).check(&t).is_ok());
        let e = all([scope("read"), scope("delete"), scope("x"), role("root")]).check(&t).unwrap_err();
        assert_eq!(e.scopes, ["delete", "x"]);
        assert_eq!(e.description, "missing scope 'delete'; missing scope 'x'; missing role 'root'");
        let e = any([scope("a"), scope("b")]).check(&t).unwrap_err();
        assert_eq!(e.scopes, ["a", "b"]);
        assert!(e.description.starts_with("one of: "));
        assert!(claim("gone").check(&t).is_err());
        assert!(predicate("named Al", |t| t.claim("name") == Some(&json!("Al"))).check(&t).is_ok());
        assert!(scope("read").and(role("admin")).check(&t).is_ok());
        assert!(scope("nope").or(role("admin")).check(&t).is_ok());
        assert!(any_role(Vec::<String>::new()).check(&t).is_err(), "an empty any fails closed");
        assert!(all_roles(Vec::<String>::new()).check(&t).is_ok());
    }
}
