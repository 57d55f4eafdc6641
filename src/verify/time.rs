//! The time rules (`exp`, `nbf`, `iat`, maximum age), one implementation for JWTs and
//! introspection answers, so a claim gets the same answer on both paths.

use serde_json::Value;

use super::jws::numeric_date;
use super::trace::{Check, Trace, traced};
use crate::reject::InvalidToken;

/// `exp`, `nbf` and `iat`, read once as NumericDates (RFC 7519 §2).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeClaims {
    pub(crate) exp: Option<u64>,
    pub(crate) nbf: Option<u64>,
    pub(crate) iat: Option<u64>,
}

impl TimeClaims {
    /// Each claim, when present, must be a NumericDate: a non-negative number up to
    /// year 9999 (fractions dropped). Strings, booleans, negatives, `1e300`... are refused.
    pub(crate) fn read(claims: &serde_json::Map<String, Value>) -> Result<Self, InvalidToken> {
        let date = |name: &str| -> Result<Option<u64>, InvalidToken> {
            match claims.get(name) {
                None => Ok(None),
                Some(v) => numeric_date(v).map(Some).ok_or(InvalidToken::TimeClaim),
            }
        };
        Ok(Self { exp: date("exp")?, nbf: date("nbf")?, iat: date("iat")? })
    }
}

/// What the time claims are checked against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeRules {
    /// Clock skew tolerated on every claim, in seconds.
    pub(crate) leeway: u64,
    /// `iat` becomes required and may be at most this old.
    pub(crate) max_age: Option<u64>,
    /// JWTs must carry `exp`; in introspection answers it is optional (RFC 7662 §2.2).
    pub(crate) exp_required: bool,
}

impl TimeRules {
    /// Checks `t` at `now` (seconds since the epoch), each rule reported to `trace`;
    /// saturating, never overflowing.
    pub(crate) fn check_traced(&self, t: &TimeClaims, now: u64, trace: &impl Trace) -> Result<(), InvalidToken> {
        let leeway = self.leeway;
        let expiry = match t.exp {
            None if self.exp_required => Err(InvalidToken::TimeClaim),
            Some(exp) if now >= exp.saturating_add(leeway) => Err(InvalidToken::Expired),
            _ => Ok(()),
        };
        traced(trace, Check::Expiry, expiry)?;
        let not_before = match t.nbf {
            Some(nbf) if now.saturating_add(leeway) < nbf => Err(InvalidToken::NotYetValid),
            _ => Ok(()),
        };
        traced(trace, Check::NotBefore, not_before)?;
        let issued_at = match t.iat {
            Some(iat) if now.saturating_add(leeway) < iat => Err(InvalidToken::IssuedAt),
            _ => Ok(()),
        };
        traced(trace, Check::IssuedAt, issued_at)?;
        if let Some(max_age) = self.max_age {
            let age = match t.iat {
                None => Err(InvalidToken::TimeClaim),
                Some(iat) if now > iat.saturating_add(max_age).saturating_add(leeway) => Err(InvalidToken::IssuedAt),
                Some(_) => Ok(()),
            };
            traced(trace, Check::MaxAge, age)?;
        }
        Ok(())
    }

    /// Reads and checks in one step (introspection answers).
    #[cfg(any(test, feature = "introspection"))]
    pub(crate) fn check_claims(
        &self,
        claims: &serde_json::Map<String, Value>,
        now: u64,
    ) -> Result<TimeClaims, InvalidToken> {
        let times = TimeClaims::read(claims)?;
        self.check_traced(&times, now, &())?;
        Ok(times)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: TimeRules = TimeRules { leeway: 60, max_age: None, exp_required: true };

    fn claims(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn rules() {
        let now = 1_000_000;
        let ok = |v: Value, rules: TimeRules| rules.check_claims(&claims(v), now).map(|_| ());
        assert_eq!(ok(serde_json::json!({"exp": now + 1}), JWT), Ok(()));
        assert_eq!(ok(serde_json::json!({"exp": now - 61}), JWT), Err(InvalidToken::Expired));
        assert_eq!(ok(serde_json::json!({}), JWT), Err(InvalidToken::TimeClaim));
        let optional = TimeRules { exp_required: false, ..JWT };
        assert_eq!(ok(serde_json::json!({}), optional), Ok(()));
        assert_eq!(ok(serde_json::json!({"exp": "5"}), optional), Err(InvalidToken::TimeClaim));
        assert_eq!(ok(serde_json::json!({"exp": now + 1, "iat": now + 61}), JWT), Err(InvalidToken::IssuedAt));
        assert_eq!(ok(serde_json::json!({"exp": now + 1, "nbf": now + 61}), JWT), Err(InvalidToken::NotYetValid));
        let aged = TimeRules { max_age: Some(10), ..JWT };
        assert_eq!(ok(serde_json::json!({"exp": now + 1}), aged), Err(InvalidToken::TimeClaim));
        assert_eq!(ok(serde_json::json!({"exp": now + 1, "iat": now - 71}), aged), Err(InvalidToken::IssuedAt));
        assert_eq!(ok(serde_json::json!({"exp": u64::MAX}), JWT), Err(InvalidToken::TimeClaim));
    }
}
