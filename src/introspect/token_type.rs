//! Whether an introspection answer is about an access token at all: an authorization
//! server answers `active: true` for its refresh tokens (and some for ID tokens) too.

use serde_json::{Map, Value};

/// `token_type` values naming an access token (RFC 6749 §7.1 types, RFC 8693 type
/// URIs), compared case-insensitively. oidc-provider answers `Bearer` or `DPoP` for
/// access tokens and `refresh_token` for refresh tokens.
const ACCESS_TOKEN_TYPES: [&str; 4] =
    ["bearer", "dpop", "access_token", "urn:ietf:params:oauth:token-type:access_token"];

/// Keycloak's `typ` claim for tokens that are not access tokens (access tokens are
/// `Bearer`); `typ` is not standard in answers, so only these known kinds are refused.
const OTHER_KEYCLOAK_TYPES: [&str; 4] = ["refresh", "offline", "id", "logout"];

/// `false` when the answer says the token is another kind: `token_type` present and
/// not an access-token type, Keycloak's `typ` naming a refresh/offline/ID token, or
/// `token_use` (AWS Cognito, Ory Hydra) other than `access` / `access_token`.
pub(super) fn is_access_token(answer: &Map<String, Value>) -> bool {
    let listed = |s: &str, list: &[&str]| list.iter().any(|a| s.eq_ignore_ascii_case(a));
    // Absent: no objection; present but not a string: refused.
    let check = |name: &str, ok: &dyn Fn(&str) -> bool| answer.get(name).is_none_or(|v| v.as_str().is_some_and(ok));
    let token_type_ok = check("token_type", &|t| listed(t, &ACCESS_TOKEN_TYPES));
    let typ_ok = check("typ", &|t| !listed(t, &OTHER_KEYCLOAK_TYPES));
    // Cognito says `access`, Ory Hydra `access_token`.
    let token_use_ok = check("token_use", &|t| listed(t, &["access", "access_token"]));
    token_type_ok && typ_ok && token_use_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> bool {
        is_access_token(v.as_object().unwrap_or(&Map::new()))
    }

    #[test]
    fn kinds() {
        assert!(check(json!({})));
        assert!(check(json!({"token_type": "Bearer", "typ": "Bearer"})));
        assert!(check(json!({"token_type": "DPoP"})));
        assert!(!check(json!({"token_type": "refresh_token"})));
        assert!(!check(json!({"token_type": null})));
        assert!(!check(json!({"typ": "Refresh"})));
        // A `typ` that is not a known other kind is left alone.
        assert!(check(json!({"typ": "at+jwt"})));
        assert!(!check(json!({"typ": 5})));
        assert!(!check(json!({"token_use": "id"})));
        assert!(check(json!({"token_use": "access"})));
        // Ory Hydra's answers.
        assert!(check(json!({"token_use": "access_token", "token_type": "Bearer"})));
        assert!(!check(json!({"token_use": "refresh_token"})));
    }
}
