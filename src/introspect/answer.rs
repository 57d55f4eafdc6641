//! What an active answer must say: the JWT rules on issuer, audience and time, that it
//! is about an access token, and the application's own rule.

use serde_json::Value;

use super::{Inner, token_type};
use crate::claims::{VerifiedToken, audience_matches};
use crate::reject::InvalidToken;
use crate::verify::TimeClaims;

impl Inner {
    /// RFC 7662 §2.2 answer → claims, with the same rules as for JWTs.
    pub(super) fn judge(
        &self,
        mut answer: serde_json::Map<String, Value>,
        encoded_len: usize,
    ) -> Result<VerifiedToken, InvalidToken> {
        if answer.remove("active") != Some(Value::Bool(true)) {
            return Err(InvalidToken::Inactive);
        }
        if let (Some(expected), Some(found)) = (&self.issuer, answer.get("iss"))
            && found.as_str() != Some(expected.as_str())
        {
            return Err(InvalidToken::Issuer);
        }
        if let Some(allowed) = &self.audiences
            && !audience_matches(answer.get("aud"), allowed)
        {
            return Err(InvalidToken::Audience);
        }
        let times = self.check_time(&answer)?;
        if !token_type::is_access_token(&answer) {
            return Err(InvalidToken::Type);
        }
        // RFC 9449 §6.2: a DPoP token's answer names its key; one that says `DPoP`
        // without `cnf` would be downgraded to a bearer token.
        if answer.get("token_type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("dpop"))
            && answer.get("cnf").and_then(|c| c.get("jkt")).is_none()
        {
            return Err(InvalidToken::Binding);
        }
        if self.accept_if.as_ref().is_some_and(|accept| !accept(&answer)) {
            return Err(InvalidToken::ClaimValue);
        }
        let exp = times.exp.unwrap_or(0);
        VerifiedToken::new(Value::Object(Default::default()), Value::Object(answer), exp, &self.roles, encoded_len)
    }

    /// The JWT time rules, except that `exp` is optional (RFC 7662 §2.2).
    pub(super) fn check_time(&self, claims: &serde_json::Map<String, Value>) -> Result<TimeClaims, InvalidToken> {
        self.time.check_claims(claims, self.clock.now())
    }
}
