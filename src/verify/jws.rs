//! Compact JWS parsing and header checks, before any key or signature work.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::Value;

use super::trace::{Check, Trace, traced};
use crate::json::{UniqueObject, depth_within};
use crate::reject::InvalidToken;

/// Default cap on the encoded JOSE header.
pub(crate) const DEFAULT_MAX_HEADER_LEN: usize = 4 * 1024;

/// Default cap on JSON nesting in the header and claims (claims rarely nest past 4).
pub(crate) const DEFAULT_MAX_JSON_DEPTH: usize = 16;

/// Bounds checked while parsing, before any allocation proportional to the input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_header_len: usize,
    pub(crate) max_json_depth: usize,
}

/// What `typ` values are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypPolicy {
    /// Absent, `JWT`, `at+jwt` or `application/at+jwt`.
    Lenient,
    /// RFC 9068: `at+jwt` (or `application/at+jwt`) only.
    AccessTokenOnly,
}

/// A compact JWS split and decoded, signature not yet checked.
pub(crate) struct Jws {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
    pub(crate) header: Value,
    pub(crate) claims: Value,
    /// `token[..signing_input_len]` is `base64(header) "." base64(payload)`.
    pub(crate) signing_input_len: usize,
    pub(crate) signature: Vec<u8>,
}

/// Splits, decodes and checks the header of a compact JWS, each check reported to `trace`.
pub(crate) fn parse(token: &str, typ: TypPolicy, limits: Limits, trace: &impl Trace) -> Result<Jws, InvalidToken> {
    let dots = token.bytes().filter(|b| *b == b'.').count();
    let parts = match dots {
        2 => Ok(()),
        4 => Err(InvalidToken::Encrypted),
        _ => Err(InvalidToken::Malformed),
    }
    .and_then(|()| {
        let mut parts = token.splitn(3, '.');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(h), Some(p), Some(s)) => Ok((h, p, s)),
            _ => Err(InvalidToken::Malformed),
        }
    });
    let (h, p, s) = traced(trace, Check::Compact, parts)?;
    let header = if h.len() > limits.max_header_len {
        Err(InvalidToken::Malformed)
    } else {
        decode_object(h, limits.max_json_depth)
    };
    let header = traced(trace, Check::Header, header)?;
    let (alg, kid) = check_header(&header, typ, trace)?;
    let claims = traced(trace, Check::Payload, decode_object(p, limits.max_json_depth))?;
    let signature = match URL_SAFE_NO_PAD.decode(s) {
        Err(_) => Err(InvalidToken::Malformed),
        Ok(sig) if sig.is_empty() => Err(InvalidToken::Signature),
        Ok(sig) => Ok(sig),
    };
    let signature = traced(trace, Check::SignatureEncoding, signature)?;
    Ok(Jws { alg, kid, header, claims, signing_input_len: h.len() + 1 + p.len(), signature })
}

fn check_header(
    header: &Value,
    typ: TypPolicy,
    trace: &impl Trace,
) -> Result<(Algorithm, Option<String>), InvalidToken> {
    let alg = match header.get("alg") {
        Some(Value::String(a)) => a.parse::<Algorithm>().map_err(|_| InvalidToken::Algorithm),
        _ => Err(InvalidToken::Algorithm),
    };
    let alg = traced(trace, Check::Algorithm, alg)?;
    // RFC 7515 §4.1.11: we implement no extension, so any `crit` is unknown to us.
    // A compressed JWS payload would mean decompressing attacker data; never.
    let critical = match (header.get("crit"), header.get("zip")) {
        (Some(_), _) => Err(InvalidToken::CriticalHeader),
        (None, Some(_)) => Err(InvalidToken::Malformed),
        (None, None) => Ok(()),
    };
    traced(trace, Check::Critical, critical)?;
    let kid = match header.get("kid") {
        None => Ok(None),
        Some(Value::String(k)) => Ok(Some(k.clone())),
        Some(_) => Err(InvalidToken::Malformed),
    };
    let kid = traced(trace, Check::KeyId, kid)?;
    let typ_value = match header.get("typ") {
        None => Ok(None),
        Some(Value::String(t)) => Ok(Some(t.as_str())),
        Some(_) => Err(InvalidToken::Type),
    };
    let accepted = typ_value.and_then(|t| if typ_accepted(t, typ) { Ok(()) } else { Err(InvalidToken::Type) });
    traced(trace, Check::Type, accepted)?;
    // `jwk`, `jku`, `x5u`, `x5c` and `x5t` are deliberately never read: keys come
    // only from the configured key store.
    Ok((alg, kid))
}

/// RFC 7515 §4.1.9: media types compare case-insensitively; `application/` may be omitted.
fn typ_accepted(typ: Option<&str>, policy: TypPolicy) -> bool {
    let Some(typ) = typ else { return policy == TypPolicy::Lenient };
    let lower = typ.to_ascii_lowercase();
    let short = lower.strip_prefix("application/").unwrap_or(&lower);
    match policy {
        TypPolicy::AccessTokenOnly => short == "at+jwt",
        TypPolicy::Lenient => short == "at+jwt" || short == "jwt",
    }
}

/// Strict base64url (no padding, canonical trailing bits) of a JSON object whose
/// top-level keys are unique.
pub(crate) fn decode_object(part: &str, max_depth: usize) -> Result<Value, InvalidToken> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| InvalidToken::Malformed)?;
    if !depth_within(&bytes, max_depth) {
        return Err(InvalidToken::Malformed);
    }
    let UniqueObject(map) = serde_json::from_slice(&bytes).map_err(|_| InvalidToken::Malformed)?;
    Ok(Value::Object(map))
}

/// A NumericDate (RFC 7519 §2): a non-negative JSON number of seconds, possibly
/// fractional, up to year 9999.
pub(crate) fn numeric_date(v: &Value) -> Option<u64> {
    const MAX: u64 = 253_402_300_799;
    let n = v.as_number()?;
    let secs = match (n.as_u64(), n.as_f64()) {
        (Some(u), _) => u,
        (None, Some(f)) if f.is_finite() && f >= 0.0 && f <= MAX as f64 => f as u64,
        _ => return None,
    };
    (secs <= MAX).then_some(secs)
}

/// A compact JWS: three parts whose first decodes to a JSON object with `alg`.
/// Anything else is treated as opaque (by introspection, by the authorization
/// server's own verifier).
#[cfg(any(feature = "introspection", feature = "issuer"))]
pub(crate) fn looks_like_jwt(token: &str) -> bool {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
        .is_some_and(|h| h.get("alg").is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn tok(h: &str, p: &str) -> String {
        format!("{}.{}.{}", b64(h), b64(p), b64("sig"))
    }

    const LIMITS: Limits = Limits { max_header_len: DEFAULT_MAX_HEADER_LEN, max_json_depth: DEFAULT_MAX_JSON_DEPTH };

    fn err(t: &str) -> InvalidToken {
        parse(t, TypPolicy::Lenient, LIMITS, &()).err().unwrap()
    }

    #[test]
    fn header_rules() {
        assert!(parse(&tok(r#"{"alg":"RS256","kid":"k"}"#, "{}"), TypPolicy::Lenient, LIMITS, &()).is_ok());
        assert_eq!(err(&tok(r#"{"alg":"none"}"#, "{}")), InvalidToken::Algorithm);
        assert_eq!(err(&tok(r#"{"alg":"RS256","crit":["exp"]}"#, "{}")), InvalidToken::CriticalHeader);
        assert_eq!(err(&tok(r#"{"alg":"RS256","typ":"JOSE"}"#, "{}")), InvalidToken::Type);
        assert_eq!(err(&tok(r#"{"alg":"RS256","alg":"HS256"}"#, "{}")), InvalidToken::Malformed);
        assert_eq!(err(&tok(r#"{"alg":"RS256"}"#, r#"{"a":1,"a":2}"#)), InvalidToken::Malformed);
        assert_eq!(err(&tok(r#"{"alg":"RS256"}"#, "[1]")), InvalidToken::Malformed);
        assert_eq!(err("a.b.c.d.e"), InvalidToken::Encrypted);
        assert_eq!(err("a.b"), InvalidToken::Malformed);
        let padded = format!("{}=.{}.{}", b64(r#"{"alg":"RS256"}"#), b64("{}"), b64("s"));
        assert_eq!(err(&padded), InvalidToken::Malformed);
        let deep = format!(r#"{{"a":{}{}}}"#, "[".repeat(17), "]".repeat(17));
        assert_eq!(err(&tok(r#"{"alg":"RS256"}"#, &deep)), InvalidToken::Malformed);
        let ok = format!(r#"{{"a":{}{}}}"#, "[".repeat(15), "]".repeat(15));
        assert!(parse(&tok(r#"{"alg":"RS256"}"#, &ok), TypPolicy::Lenient, LIMITS, &()).is_ok());
    }

    #[test]
    fn typ_values() {
        for ok in
            [None, Some("JWT"), Some("jwt"), Some("at+jwt"), Some("application/at+jwt"), Some("Application/AT+JWT")]
        {
            assert!(typ_accepted(ok, TypPolicy::Lenient), "{ok:?}");
        }
        assert!(!typ_accepted(None, TypPolicy::AccessTokenOnly));
        assert!(!typ_accepted(Some("JWT"), TypPolicy::AccessTokenOnly));
        assert!(typ_accepted(Some("at+jwt"), TypPolicy::AccessTokenOnly));
    }

    #[cfg(any(feature = "introspection", feature = "issuer"))]
    #[test]
    fn jwt_shapes() {
        use super::looks_like_jwt;
        assert!(looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"));
        assert!(!looks_like_jwt("2YotnFZFEjr1zCsicMWpAA"));
        assert!(!looks_like_jwt("a.b.c"));
        assert!(!looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.e30.c2ln.x.y"));
    }

    #[test]
    fn numeric_dates() {
        assert_eq!(numeric_date(&serde_json::json!(5)), Some(5));
        assert_eq!(numeric_date(&serde_json::json!(5.9)), Some(5));
        for bad in [serde_json::json!("5"), serde_json::json!(-1), serde_json::json!(1e300), serde_json::json!(null)] {
            assert_eq!(numeric_date(&bad), None, "{bad}");
        }
    }
}
