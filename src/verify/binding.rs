//! Sender-constrained tokens: the `cnf` (confirmation) claim.
//!
//! A token with `cnf` is bound to a key its holder must prove (a DPoP key, RFC 9449, or
//! a TLS client certificate, RFC 8705). Accepted as a plain bearer token it would work
//! for whoever stole it, which is what binding exists to stop. This layer checks no
//! binding yet, so every `cnf`, whatever it holds (even empty or unknown members), is
//! refused: fail closed, one rule for JWTs and introspection answers.

use serde_json::{Map, Value};

use crate::reject::InvalidToken;

/// Refuses a token whose claims (or introspection answer) carry `cnf`.
pub(crate) fn check_confirmation(claims: &Map<String, Value>) -> Result<(), InvalidToken> {
    match claims.get("cnf") {
        None => Ok(()),
        Some(_) => Err(InvalidToken::Binding),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn any_cnf_is_refused() {
        let claims = |v: Value| v.as_object().cloned().unwrap();
        assert_eq!(check_confirmation(&claims(json!({"sub": "u"}))), Ok(()));
        for cnf in
            [json!({"jkt": "x"}), json!({"x5t#S256": "y"}), json!({}), json!({"other": 1}), json!("jkt"), json!(null)]
        {
            assert_eq!(check_confirmation(&claims(json!({"cnf": cnf}))), Err(InvalidToken::Binding), "{cnf}");
        }
    }
}
