//! Finding the bearer token in a request (RFC 6750 §2).
//!
//! By default only the `Authorization: Bearer` header is read. The query-string
//! source (`?access_token=`) is opt-in because URLs end up in logs and browser
//! history (RFC 6750 §2.3, §5.3); a cookie or any other place can be plugged in by
//! implementing [`TokenSource`].

use std::fmt;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, Uri, header::AUTHORIZATION};

use crate::reject::InvalidRequest;

/// Default cap on a credential's length, checked before any parsing.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 16 * 1024;

/// A bearer credential as found in the request, not yet verified.
///
/// Its `Debug` output never shows the token.
#[derive(Clone)]
pub struct BearerToken {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    // Cloning a HeaderValue only bumps a reference count: no copy per request.
    Header { value: HeaderValue, start: usize },
    Owned(Arc<str>),
}

impl BearerToken {
    /// Wraps a token string (for custom sources and tests).
    pub fn new(token: impl Into<Arc<str>>) -> Self {
        Self { repr: Repr::Owned(token.into()) }
    }

    /// The token text.
    pub fn as_str(&self) -> &str {
        match &self.repr {
            // `start` was found on this very value and the bytes were checked to be
            // ASCII, so both the slice and the UTF-8 view always succeed.
            Repr::Header { value, start } => {
                std::str::from_utf8(value.as_bytes().get(*start..).unwrap_or_default()).unwrap_or_default()
            }
            Repr::Owned(s) => s,
        }
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BearerToken([redacted; {} bytes])", self.as_str().len())
    }
}

/// A read-only view of the request head handed to [`TokenSource`]s.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request URI.
    pub uri: &'a Uri,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The request extensions, where earlier layers may have left a credential
    /// (e.g. [`FormBodyLayer`](crate::form::FormBodyLayer)); `None` where unavailable.
    pub extensions: Option<&'a http::Extensions>,
}

/// Somewhere a bearer token can be carried.
///
/// Return `Ok(None)` when this source carries no credential, `Ok(Some(_))` when it
/// does, and `Err(_)` when it carries a malformed one (answered with `400`).
///
/// ```
/// use tower_bearer::token::{BearerToken, RequestHead, TokenSource};
/// use tower_bearer::InvalidRequest;
///
/// /// Reads the token from an `X-Api-Token` header.
/// struct ApiTokenHeader;
/// impl TokenSource for ApiTokenHeader {
///     fn extract(&self, req: &RequestHead<'_>) -> Result<Option<BearerToken>, InvalidRequest> {
///         Ok(req.headers.get("x-api-token")
///             .and_then(|v| v.to_str().ok())
///             .map(BearerToken::new))
///     }
/// }
/// ```
pub trait TokenSource: Send + Sync + 'static {
    /// Looks for a credential in `req`.
    fn extract(&self, req: &RequestHead<'_>) -> Result<Option<BearerToken>, InvalidRequest>;
}

/// `Authorization: Bearer <token>` (RFC 6750 §2.1); the scheme is case-insensitive.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuthorizationHeader;

impl TokenSource for AuthorizationHeader {
    fn extract(&self, req: &RequestHead<'_>) -> Result<Option<BearerToken>, InvalidRequest> {
        let mut values = req.headers.get_all(AUTHORIZATION).iter();
        let Some(value) = values.next() else { return Ok(None) };
        if values.next().is_some() {
            return Err(InvalidRequest::MultipleCredentials);
        }
        let bytes = value.as_bytes();
        let scheme_end = bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len());
        let (scheme, rest) = bytes.split_at_checked(scheme_end).unwrap_or((bytes, &[]));
        if !scheme.eq_ignore_ascii_case(b"bearer") {
            // Another scheme (Basic, DPoP...) is not a bearer credential.
            return Ok(None);
        }
        let spaces = rest.iter().take_while(|&&b| b == b' ').count();
        let token = rest.get(spaces..).unwrap_or_default();
        check_b64token(token)?;
        Ok(Some(BearerToken { repr: Repr::Header { value: value.clone(), start: scheme_end + spaces } }))
    }
}

/// `?access_token=<token>` in the query string (RFC 6750 §2.3). Opt-in.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryParameter;

impl TokenSource for QueryParameter {
    fn extract(&self, req: &RequestHead<'_>) -> Result<Option<BearerToken>, InvalidRequest> {
        let Some(query) = req.uri.query() else { return Ok(None) };
        let mut found = None;
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if name != "access_token" {
                continue;
            }
            if found.is_some() {
                return Err(InvalidRequest::MultipleCredentials);
            }
            found = Some(BearerToken::new(decode_query_value(value)?));
        }
        Ok(found)
    }
}

/// A named cookie carrying the token (for browser front-ends). Opt-in.
#[derive(Debug, Clone)]
pub struct Cookie {
    name: String,
}

impl Cookie {
    /// Reads the cookie called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

impl TokenSource for Cookie {
    fn extract(&self, req: &RequestHead<'_>) -> Result<Option<BearerToken>, InvalidRequest> {
        let mut found = None;
        for header in req.headers.get_all(http::header::COOKIE) {
            let Ok(text) = header.to_str() else { continue };
            for pair in text.split(';') {
                let Some((name, value)) = pair.trim().split_once('=') else { continue };
                if name != self.name {
                    continue;
                }
                if found.is_some() {
                    return Err(InvalidRequest::MultipleCredentials);
                }
                let value = value.trim_matches('"');
                check_b64token(value.as_bytes())?;
                found = Some(BearerToken::new(value));
            }
        }
        Ok(found)
    }
}

/// The ordered set of sources a layer reads, with the length cap.
#[derive(Clone)]
pub(crate) struct Sources {
    sources: Arc<[Arc<dyn TokenSource>]>,
    max_len: usize,
}

impl Default for Sources {
    fn default() -> Self {
        Self {
            sources: Arc::new([Arc::new(AuthorizationHeader) as Arc<dyn TokenSource>]),
            max_len: DEFAULT_MAX_TOKEN_LEN,
        }
    }
}

impl Sources {
    pub(crate) fn add(&mut self, source: Arc<dyn TokenSource>) {
        let mut v = self.sources.to_vec();
        v.push(source);
        self.sources = v.into();
    }

    pub(crate) fn set_max_len(&mut self, max: usize) {
        self.max_len = max;
    }

    /// Runs every source; more than one credential is a `400` (RFC 6750 §2).
    pub(crate) fn extract(&self, req: &RequestHead<'_>) -> Result<Option<BearerToken>, InvalidRequest> {
        // Cheap cap on the raw header before any source parses it.
        for v in req.headers.get_all(AUTHORIZATION) {
            if v.len() > self.max_len.saturating_add("Bearer ".len()) {
                return Err(InvalidRequest::TokenTooLong);
            }
        }
        let mut found: Option<BearerToken> = None;
        for source in self.sources.iter() {
            if let Some(token) = source.extract(req)? {
                if found.is_some() {
                    return Err(InvalidRequest::MultipleCredentials);
                }
                found = Some(token);
            }
        }
        match found {
            Some(t) if t.as_str().len() > self.max_len => Err(InvalidRequest::TokenTooLong),
            other => Ok(other),
        }
    }
}

/// A percent-decoded `application/x-www-form-urlencoded` value that must be a `b64token`.
pub(crate) fn decode_query_value(value: &str) -> Result<String, InvalidRequest> {
    let token = percent_decode(value).ok_or(InvalidRequest::MalformedHeader)?;
    check_b64token(token.as_bytes())?;
    Ok(token)
}

/// Bytes allowed in a `b64token` before its trailing `=` padding.
// Indexing is in range by construction: `b < 256` here, and a `u8` below.
#[allow(clippy::indexing_slicing)]
const B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

/// RFC 6750 `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn check_b64token(bytes: &[u8]) -> Result<(), InvalidRequest> {
    let body_len = bytes.iter().rposition(|&b| b != b'=').map_or(0, |p| p + 1);
    // A table lookup per byte: this runs over every token on every request. A `u8`
    // always indexes a 256-entry table.
    #[allow(clippy::indexing_slicing)]
    let ok = body_len > 0 && bytes.iter().take(body_len).fold(true, |ok, &b| ok & B64TOKEN[usize::from(b)]);
    if ok { Ok(()) } else { Err(InvalidRequest::MalformedHeader) }
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hex = [bytes.next()?, bytes.next()?];
                out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(headers: &[(&str, &str)], uri: &str) -> (Method, Uri, HeaderMap) {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        (Method::GET, uri.parse().unwrap(), map)
    }

    fn run(sources: &Sources, headers: &[(&str, &str)], uri: &str) -> Result<Option<String>, InvalidRequest> {
        let (m, u, h) = head(headers, uri);
        sources
            .extract(&RequestHead { method: &m, uri: &u, headers: &h, extensions: None })
            .map(|t| t.map(|t| t.as_str().to_owned()))
    }

    #[test]
    fn header_extraction() {
        let s = Sources::default();
        assert_eq!(run(&s, &[("authorization", "Bearer abc.def-_~+/==")], "/"), Ok(Some("abc.def-_~+/==".into())));
        assert_eq!(run(&s, &[("authorization", "bEaReR   x")], "/"), Ok(Some("x".into())));
        assert_eq!(run(&s, &[("authorization", "Basic Zm9vOmJhcg==")], "/"), Ok(None));
        assert_eq!(run(&s, &[], "/"), Ok(None));
        assert_eq!(run(&s, &[("authorization", "Bearer")], "/"), Err(InvalidRequest::MalformedHeader));
        assert_eq!(run(&s, &[("authorization", "Bearer ")], "/"), Err(InvalidRequest::MalformedHeader));
        assert_eq!(run(&s, &[("authorization", "Bearer a b")], "/"), Err(InvalidRequest::MalformedHeader));
        assert_eq!(run(&s, &[("authorization", "Bearer a=b")], "/"), Err(InvalidRequest::MalformedHeader));
        assert_eq!(
            run(&s, &[("authorization", "Bearer a"), ("authorization", "Bearer b")], "/"),
            Err(InvalidRequest::MultipleCredentials)
        );
        // Query is off by default.
        assert_eq!(run(&s, &[], "/?access_token=abc"), Ok(None));
    }

    #[test]
    fn length_cap() {
        let mut s = Sources::default();
        s.set_max_len(8);
        assert_eq!(run(&s, &[("authorization", "Bearer 12345678")], "/"), Ok(Some("12345678".into())));
        assert_eq!(run(&s, &[("authorization", "Bearer 123456789")], "/"), Err(InvalidRequest::TokenTooLong));
    }

    #[test]
    fn query_and_cookie_opt_in() {
        let mut s = Sources::default();
        s.add(Arc::new(QueryParameter));
        s.add(Arc::new(Cookie::new("at")));
        assert_eq!(run(&s, &[], "/?a=1&access_token=x%2Ey"), Ok(Some("x.y".into())));
        assert_eq!(run(&s, &[], "/?access_token=a&access_token=b"), Err(InvalidRequest::MultipleCredentials));
        assert_eq!(
            run(&s, &[("authorization", "Bearer a")], "/?access_token=a"),
            Err(InvalidRequest::MultipleCredentials)
        );
        assert_eq!(run(&s, &[("cookie", "x=1; at=tok")], "/"), Ok(Some("tok".into())));
    }

    #[test]
    fn debug_redacts() {
        let t = BearerToken::new("secret.token.value");
        assert!(!format!("{t:?}").contains("secret"));
    }
}
