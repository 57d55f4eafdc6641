//! What the test kit's and the local issuer's token builders share: the claims of an
//! RFC 9068 access token as they are added, and its JOSE header.

use serde_json::{Map, Value, json};

use crate::Algorithm;

/// Claims being added, with scopes and roles collected apart so each builder call adds
/// one; [`into_claims`](Self::into_claims) writes them as `scope` (space-joined) and
/// `roles`, over any `scope` or `roles` claim set directly.
#[derive(Debug, Default)]
pub(crate) struct ClaimsDraft {
    pub(crate) claims: Map<String, Value>,
    scopes: Vec<String>,
    roles: Vec<String>,
}

impl ClaimsDraft {
    pub(crate) fn new(claims: Map<String, Value>) -> Self {
        Self { claims, ..Self::default() }
    }

    pub(crate) fn scope(&mut self, scope: String) {
        self.scopes.push(scope);
    }

    pub(crate) fn role(&mut self, role: String) {
        self.roles.push(role);
    }

    pub(crate) fn into_claims(self) -> Map<String, Value> {
        let mut claims = self.claims;
        if !self.scopes.is_empty() {
            claims.insert("scope".into(), json!(self.scopes.join(" ")));
        }
        if !self.roles.is_empty() {
            claims.insert("roles".into(), json!(self.roles));
        }
        claims
    }
}

/// The JOSE header of an RFC 9068 access token: `alg`, `typ: at+jwt` and `kid`.
pub(crate) fn header(alg: Algorithm, kid: &str) -> Map<String, Value> {
    let mut header = Map::new();
    header.insert("alg".into(), json!(format!("{alg:?}")));
    header.insert("typ".into(), json!("at+jwt"));
    header.insert("kid".into(), json!(kid));
    header
}
