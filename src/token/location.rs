//! Where a bearer token can be carried: the trait and the three places RFC 6750 and
//! browsers use.

use http::header::AUTHORIZATION;

use super::syntax::{check_b64token, decode_form_value};
use super::{BearerToken, RequestHead, Scheme};
use crate::reject::InvalidRequest;

/// Somewhere a bearer token can be carried.
///
/// Return `Ok(None)` when this source carries no credential, `Ok(Some(_))` when it
/// does, and `Err(_)` when it carries a malformed one (answered with `400`).
///
/// ```
/// use tower_bearer::token::{BearerToken, RequestHead, TokenLocation};
/// use tower_bearer::InvalidRequest;
///
/// /// Reads the token from an `X-Api-Token` header.
/// struct ApiTokenHeader;
/// impl TokenLocation for ApiTokenHeader {
///     fn extract(&self, req: &RequestHead<'_>) -> Result<Option<BearerToken>, InvalidRequest> {
///         Ok(req.headers().get("x-api-token")
///             .and_then(|v| v.to_str().ok())
///             .map(BearerToken::new))
///     }
/// }
/// ```
pub trait TokenLocation: Send + Sync + 'static {
    /// Looks for a credential in `req`.
    fn extract(&self, req: &RequestHead<'_>) -> Result<Option<BearerToken>, InvalidRequest>;
}

/// `Authorization: Bearer <token>` (RFC 6750 §2.1); the scheme is case-insensitive.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuthorizationHeader;

impl TokenLocation for AuthorizationHeader {
    fn extract(&self, req: &RequestHead<'_>) -> Result<Option<BearerToken>, InvalidRequest> {
        authorization(req, Scheme::Bearer)
    }
}

/// The `Authorization` credential if it uses `scheme` (case-insensitive); another
/// scheme (Basic, or DPoP where it is not accepted) is no credential of this kind.
pub(crate) fn authorization(req: &RequestHead<'_>, scheme: Scheme) -> Result<Option<BearerToken>, InvalidRequest> {
    let mut values = req.headers().get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(InvalidRequest::MultipleCredentials);
    }
    let bytes = value.as_bytes();
    let name_end = bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len());
    let (name, rest) = bytes.split_at_checked(name_end).unwrap_or((bytes, &[]));
    if !name.eq_ignore_ascii_case(scheme.name().as_bytes()) {
        return Ok(None);
    }
    let spaces = rest.iter().take_while(|&&b| b == b' ').count();
    let token = rest.get(spaces..).unwrap_or_default();
    check_b64token(token)?;
    Ok(Some(BearerToken::from_header(value, name_end + spaces, scheme)))
}

/// `?access_token=<token>` in the query string (RFC 6750 §2.3). Opt-in.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryParameter;

impl TokenLocation for QueryParameter {
    fn extract(&self, req: &RequestHead<'_>) -> Result<Option<BearerToken>, InvalidRequest> {
        let Some(query) = req.uri().query() else { return Ok(None) };
        let mut found = None;
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if name != "access_token" {
                continue;
            }
            if found.is_some() {
                return Err(InvalidRequest::MultipleCredentials);
            }
            found = Some(BearerToken::new(decode_form_value(value)?));
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

impl TokenLocation for Cookie {
    fn extract(&self, req: &RequestHead<'_>) -> Result<Option<BearerToken>, InvalidRequest> {
        let mut found = None;
        for header in req.headers().get_all(http::header::COOKIE) {
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
