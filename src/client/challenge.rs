//! Reading an API's `WWW-Authenticate` challenges (RFC 9110 §11.6.1): which scheme
//! asked for what, so a refused token is told apart from a nonce the proof lacked.
//!
//! One header may hold several challenges (`Bearer realm="a", error="invalid_token",
//! DPoP algs="ES256"`), so each `error` is read as its own challenge's, never as the
//! header's.

use http::{HeaderMap, StatusCode};

/// One challenge: its scheme (lowercase) and its `error` parameter.
#[derive(Debug, PartialEq)]
struct Challenge {
    scheme: String,
    error: Option<String>,
}

/// Whether the API refused the token itself: `401` with `error="invalid_token"` on a
/// `Bearer` or `DPoP` challenge, or, when no challenge names an error, a bare
/// `Bearer` or `DPoP` challenge (the token was not accepted, for no stated reason).
pub(crate) fn token_refused(status: StatusCode, headers: &HeaderMap) -> bool {
    if status != StatusCode::UNAUTHORIZED {
        return false;
    }
    let challenges = challenges(headers);
    let ours = |c: &&Challenge| c.scheme == "bearer" || c.scheme == "dpop";
    if challenges.iter().any(|c| c.error.is_some()) {
        challenges.iter().filter(ours).any(|c| c.error.as_deref() == Some("invalid_token"))
    } else {
        challenges.iter().any(|c| ours(&c))
    }
}

/// Whether the API asks for a proof carrying its nonce (RFC 9449 §9): `401` with a
/// `DPoP` challenge whose error is `use_dpop_nonce`.
pub(crate) fn nonce_requested(status: StatusCode, headers: &HeaderMap) -> bool {
    status == StatusCode::UNAUTHORIZED
        && challenges(headers).iter().any(|c| c.scheme == "dpop" && c.error.as_deref() == Some("use_dpop_nonce"))
}

/// Every challenge of every `WWW-Authenticate` header, in order. Values that are not
/// text are skipped; anything unparsable is read as leniently as it comes.
fn challenges(headers: &HeaderMap) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    for value in headers.get_all(http::header::WWW_AUTHENTICATE) {
        let Ok(value) = value.to_str() else { continue };
        for item in split_outside_quotes(value) {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let param = match starts_challenge(item) {
                Some((scheme, rest)) => {
                    out.push(Challenge { scheme: scheme.to_ascii_lowercase(), error: None });
                    rest
                }
                None => item,
            };
            if let (Some(current), Some((name, value))) = (out.last_mut(), param.split_once('='))
                && name.trim().eq_ignore_ascii_case("error")
            {
                current.error = Some(unquote(value.trim()));
            }
        }
    }
    out
}

/// `Scheme` or `Scheme first-param`: a token followed by the end or by whitespace
/// and something that is not `=` (which would make it a parameter name).
fn starts_challenge(item: &str) -> Option<(&str, &str)> {
    let end = item.find(|c: char| !is_tchar(c)).unwrap_or(item.len());
    let (scheme, rest) = item.split_at(end);
    if scheme.is_empty() {
        return None;
    }
    if rest.is_empty() {
        return Some((scheme, ""));
    }
    let after = rest.trim_start();
    (rest.starts_with([' ', '\t']) && !after.starts_with('=')).then_some((scheme, after))
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Splits at commas that are not inside a quoted string.
fn split_outside_quotes(value: &str) -> Vec<&str> {
    let (mut parts, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(value.get(start..i).unwrap_or(""));
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(value.get(start..).unwrap_or(""));
    parts
}

/// A quoted-string's content (backslash escapes undone), or a token as it is.
fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"') else { return value.to_owned() };
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next().unwrap_or('\\') } else { c });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(http::header::WWW_AUTHENTICATE, v.parse().unwrap());
        }
        h
    }

    fn parsed(values: &[&str]) -> Vec<(String, Option<String>)> {
        challenges(&headers(values)).into_iter().map(|c| (c.scheme, c.error)).collect()
    }

    #[test]
    fn several_challenges_in_one_header_keep_their_own_errors() {
        let both = r#"Bearer realm="a, b", error="invalid_token", error_description="x=\"y\"", DPoP realm="a", algs="ES256 RS256""#;
        assert_eq!(parsed(&[both]), [("bearer".into(), Some("invalid_token".into())), ("dpop".into(), None)],);
        assert_eq!(
            parsed(&["Basic", "DPoP error=use_dpop_nonce"]),
            [("basic".into(), None), ("dpop".into(), Some("use_dpop_nonce".into()))]
        );
        assert_eq!(parsed(&["Newauth realm = \"x\""]), [("newauth".into(), None)]);
    }

    #[test]
    fn refusals_and_nonce_requests() {
        let unauthorized = StatusCode::UNAUTHORIZED;
        let refused = [
            r#"Bearer error="invalid_token""#,
            r#"DPoP error="invalid_token", algs="ES256""#,
            "Bearer",
            r#"Bearer realm="x", DPoP algs="ES256""#,
            r#"Bearer realm="x", error="invalid_token", DPoP realm="x", algs="ES256""#,
        ];
        for v in refused {
            assert!(token_refused(unauthorized, &headers(&[v])), "{v}");
            assert!(!token_refused(StatusCode::FORBIDDEN, &headers(&[v])), "{v}");
        }
        let not_refused = [
            r#"DPoP error="use_dpop_nonce", algs="ES256""#,
            r#"DPoP error="invalid_dpop_proof""#,
            r#"Bearer realm="x", DPoP error="use_dpop_nonce""#,
            r#"Basic realm="x""#,
            r#"Bearer error="insufficient_scope""#,
        ];
        for v in not_refused {
            assert!(!token_refused(unauthorized, &headers(&[v])), "{v}");
        }
        assert!(nonce_requested(unauthorized, &headers(&[r#"DPoP error="use_dpop_nonce""#])));
        assert!(!nonce_requested(unauthorized, &headers(&[r#"Bearer error="use_dpop_nonce""#])));
        assert!(!nonce_requested(StatusCode::BAD_REQUEST, &headers(&[r#"DPoP error="use_dpop_nonce""#])));
    }
}
