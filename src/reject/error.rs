//! Why a request was refused, and which HTTP status that maps to.

use std::fmt;
use std::time::Duration;

/// Why a request was not let through.
///
/// Each variant maps to exactly one RFC 6750 answer; see [`AuthError::status`].
/// Nothing here ever holds the token itself, so `Debug` and `Display` are safe to log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials at all: `401` with a bare `Bearer` challenge (RFC 6750 §3.1).
    MissingToken,
    /// The request itself is malformed (e.g. two credentials, a broken
    /// `Authorization` header): `400 invalid_request`.
    InvalidRequest(InvalidRequest),
    /// The token was presented but is not acceptable: `401 invalid_token`.
    InvalidToken(InvalidToken),
    /// The token is valid but does not meet the route's requirements:
    /// `403 insufficient_scope`.
    InsufficientScope(Insufficient),
    /// A route requirement ran on a request that no [`BearerLayer`](crate::BearerLayer)
    /// verified: `route_layer(auth.requiring(..))` without `.layer(auth)` around it.
    /// A server misconfiguration, answered `401` with a description naming it.
    NotVerified,
    /// No usable keys (or verifier) right now, e.g. the identity provider is
    /// unreachable and nothing is cached: `503` with `Retry-After`.
    Unavailable(Unavailable),
}

/// Reasons for `400 invalid_request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidRequest {
    /// More than one credential (several `Authorization` headers, or header and query).
    MultipleCredentials,
    /// `Authorization: Bearer` with a value outside the RFC 6750 `b64token` charset.
    MalformedHeader,
    /// The bearer credential is longer than the configured cap.
    TokenTooLong,
}

impl InvalidRequest {
    /// A short, fixed description suitable for `error_description`.
    pub fn description(self) -> &'static str {
        match self {
            Self::MultipleCredentials => "more than one access token was presented",
            Self::MalformedHeader => "the Authorization header is malformed",
            Self::TokenTooLong => "the access token is too long",
        }
    }
}

/// Reasons for `401 invalid_token`.
///
/// The precise reason is logged at debug level and can be sent to clients with
/// [`detailed_errors`](crate::BearerLayer::detailed_errors); by default clients get a
/// generic description, so an attacker learns nothing about which check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidToken {
    /// Not a compact JWS (wrong number of parts, bad base64url, bad JSON...).
    Malformed,
    /// A five-part JWE: encrypted tokens are not accepted.
    Encrypted,
    /// The `alg` is not allowed (e.g. `none`, HS* without a local secret, or not
    /// bound to the selected key).
    Algorithm,
    /// The header carries a `crit` parameter this crate does not understand.
    CriticalHeader,
    /// `typ` is not an accepted access-token type.
    Type,
    /// No key matches the token's `kid` (or no `kid` and several candidate keys).
    UnknownKey,
    /// The signature does not verify.
    Signature,
    /// `exp` is in the past (beyond leeway).
    Expired,
    /// `nbf` is in the future (beyond leeway).
    NotYetValid,
    /// `iat` is in the future, or older than the configured maximum age.
    IssuedAt,
    /// A required time claim (`exp`, or `iat` with a max age) is missing or not a NumericDate.
    TimeClaim,
    /// `iss` is missing or not an allowed issuer.
    Issuer,
    /// `aud` is missing or names none of the allowed audiences.
    Audience,
    /// A claim has the wrong JSON type (e.g. `scope` as a number).
    ClaimType,
    /// A claim the issuer profile pins (e.g. Cognito's `token_use`) has another value.
    ClaimValue,
    /// The authorization server says the token is not active (introspection).
    Inactive,
}

impl InvalidToken {
    /// The precise description of this reason.
    pub fn detail(self) -> &'static str {
        match self {
            Self::Malformed => "the access token is malformed",
            Self::Encrypted => "encrypted (JWE) access tokens are not accepted",
            Self::Algorithm => "the token's signing algorithm is not allowed",
            Self::CriticalHeader => "the token has an unsupported critical header",
            Self::Type => "the token's typ is not an accepted access-token type",
            Self::UnknownKey => "no key matches the token",
            Self::Signature => "the token's signature is invalid",
            Self::Expired => "the access token expired",
            Self::NotYetValid => "the access token is not yet valid",
            Self::IssuedAt => "the access token's issue time is not acceptable",
            Self::TimeClaim => "the access token's time claims are missing or invalid",
            Self::Issuer => "the access token's issuer is not trusted",
            Self::Audience => "the access token is not meant for this resource",
            Self::ClaimType => "the access token has a claim of the wrong type",
            Self::ClaimValue => "the token is not an access token for this resource",
            Self::Inactive => "the access token is not active",
        }
    }

    /// The description sent to clients when details are off: generic, except for
    /// the two reasons a client can act on without learning anything secret.
    pub fn public_description(self) -> &'static str {
        match self {
            Self::Encrypted | Self::Expired => self.detail(),
            _ => "the access token is invalid",
        }
    }
}

/// An unmet requirement: what is missing, for `403 insufficient_scope`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insufficient {
    /// Scopes that would satisfy the requirement (rendered as `scope="…"`); empty
    /// when what is missing is a role or a claim.
    pub scopes: Vec<String>,
    /// Which requirement failed, e.g. `missing role 'items.admin'`.
    pub description: String,
}

/// The verifier cannot decide right now (`503`); the client should retry later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// Suggested wait before retrying (rendered as `Retry-After`, in whole seconds).
    pub retry_after: Duration,
    /// What is unavailable, for logs (never sent to clients).
    pub reason: String,
}

impl AuthError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Self::MissingToken | Self::NotVerified | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The RFC 6750 error code (`invalid_request`, `invalid_token`,
    /// `insufficient_scope`), or `None` for a missing token and for `503`.
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            Self::MissingToken | Self::NotVerified | Self::Unavailable(_) => None,
            Self::InvalidRequest(_) => Some("invalid_request"),
            Self::InvalidToken(_) => Some("invalid_token"),
            Self::InsufficientScope(_) => Some("insufficient_scope"),
        }
    }

    /// The `error_description` for clients; `detailed` selects precise 401 reasons.
    pub fn description(&self, detailed: bool) -> Option<&str> {
        match self {
            Self::MissingToken => None,
            Self::NotVerified => Some(NOT_VERIFIED),
            Self::InvalidRequest(r) => Some(r.description()),
            Self::InvalidToken(r) if detailed => Some(r.detail()),
            Self::InvalidToken(r) => Some(r.public_description()),
            Self::InsufficientScope(i) => Some(&i.description),
            Self::Unavailable(_) => Some("the token cannot be verified right now; retry later"),
        }
    }
}

const NOT_VERIFIED: &str = "server misconfiguration: a route requirement ran but no BearerLayer verified \
     the request; add .layer(auth) outside .route_layer(auth.requiring(..))";

impl From<InvalidToken> for AuthError {
    fn from(reason: InvalidToken) -> Self {
        Self::InvalidToken(reason)
    }
}

impl From<InvalidRequest> for AuthError {
    fn from(reason: InvalidRequest) -> Self {
        Self::InvalidRequest(reason)
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingToken => f.write_str("no access token"),
            Self::NotVerified => f.write_str(NOT_VERIFIED),
            Self::InvalidRequest(r) => f.write_str(r.description()),
            Self::InvalidToken(r) => f.write_str(r.detail()),
            Self::InsufficientScope(i) => f.write_str(&i.description),
            Self::Unavailable(u) => write!(f, "verification unavailable: {}", u.reason),
        }
    }
}

impl std::error::Error for AuthError {}
