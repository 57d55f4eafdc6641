//! OAuth error answers (RFC 6749 §4.1.2.1, §5.2; RFC 7009 §2.2.1) and the registry of
//! `error_uri`s per code.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

/// The `error` codes this server answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `invalid_request`: malformed, missing or repeated parameter.
    InvalidRequest,
    /// `invalid_client`: client authentication failed (`401`).
    InvalidClient,
    /// `invalid_grant`: code, refresh token or verifier invalid, expired, revoked or
    /// for another client or redirect URI.
    InvalidGrant,
    /// `unauthorized_client`: the client may not use this grant or response type.
    UnauthorizedClient,
    /// `unsupported_grant_type`.
    UnsupportedGrantType,
    /// `invalid_scope`: unknown, or wider than registered or granted.
    InvalidScope,
    /// `access_denied`: the user (or the server) said no.
    AccessDenied,
    /// `unsupported_response_type`.
    UnsupportedResponseType,
    /// `unsupported_token_type` (RFC 7009 §2.2.1).
    UnsupportedTokenType,
    /// `server_error`.
    ServerError,
    /// `temporarily_unavailable`: storage unreachable or a rate limit hit.
    TemporarilyUnavailable,
}

impl ErrorCode {
    /// The code as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One OAuth error: its code, a description for the developer (never a secret), and
/// the HTTP status of a token-endpoint answer.
#[derive(Clone, Debug, PartialEq)]
pub struct OAuthError {
    code: ErrorCode,
    description: String,
    status: StatusCode,
    retry_after: Option<u64>,
}

impl OAuthError {
    /// `code` with `description`, answered with `400` (`401` for `invalid_client`,
    /// `503` for `temporarily_unavailable`, `500` for `server_error`).
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        let status = match code {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        Self { code, description: description.into(), status, retry_after: None }
    }

    /// `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_grant`.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    /// `invalid_scope`.
    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidScope, description)
    }

    /// `unauthorized_client`.
    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, description)
    }

    /// `invalid_client` (`401`, answered with `WWW-Authenticate: Basic` as every
    /// `401` is).
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, description)
    }

    /// `temporarily_unavailable` (`503`).
    pub fn unavailable(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::TemporarilyUnavailable, description)
    }

    /// A rate limit: `429` with `Retry-After: seconds`.
    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: Some(retry_after.max(1)),
            ..Self::new(ErrorCode::TemporarilyUnavailable, "too many requests; retry later")
        }
    }

    /// Overrides the HTTP status.
    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The HTTP status of the JSON answer.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `error`, `error_description` and (when registered) `error_uri` members.
    pub fn to_json(&self, uris: &ErrorUris) -> Map<String, Value> {
        let mut body = Map::new();
        body.insert("error".into(), Value::String(self.code.as_str().into()));
        if !self.description.is_empty() {
            body.insert("error_description".into(), Value::String(self.description.clone()));
        }
        if let Some(uri) = uris.get(self.code) {
            body.insert("error_uri".into(), Value::String(uri.into()));
        }
        body
    }

    /// The JSON answer of the token, revocation and introspection endpoints, with
    /// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1–5.2); a `401`
    /// with `WWW-Authenticate: Basic realm="token"`, whichever method the client
    /// tried (RFC 7235 §3.1: every `401` carries a challenge; RFC 6749 §5.2).
    pub fn to_response(&self, uris: &ErrorUris) -> Response {
        let mut response = (self.status, no_store_json(&Value::Object(self.to_json(uris)))).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"token\""));
        }
        response
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl std::error::Error for OAuthError {}

/// A JSON body with `Cache-Control: no-store` and `Pragma: no-cache`, as every token
/// and error answer is sent.
pub(crate) fn no_store_json(body: &Value) -> impl IntoResponse + use<> {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::PRAGMA, HeaderValue::from_static("no-cache")),
        ],
        body.to_string(),
    )
}

/// `error_uri`s registered per error code (Authlib's `OAUTH2_ERROR_URIS`): a page
/// explaining the error to the client's developer, sent with every answer of that
/// code.
///
/// ```
/// use tower_bearer::issue::server::{ErrorCode, ErrorUris};
///
/// let uris = ErrorUris::new().with(ErrorCode::InvalidScope, "https://docs.example.com/oauth#scopes");
/// # let _ = uris;
/// ```
#[derive(Clone, Debug, Default)]
pub struct ErrorUris {
    uris: Arc<HashMap<ErrorCode, String>>,
}

impl ErrorUris {
    /// None registered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `uri` for `code`.
    #[must_use]
    pub fn with(mut self, code: ErrorCode, uri: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.uris).insert(code, uri.into());
        self
    }

    /// The URI for `code`, if any.
    pub fn get(&self, code: ErrorCode) -> Option<&str> {
        self.uris.get(&code).map(String::as_str)
    }
}
