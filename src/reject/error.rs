//! Why a request was refused, and which HTTP status that maps to.

use std::error::Error;
use std::fmt;
use std::sync::Arc;
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
    /// The token is valid but does not meet the route's requirements (scopes, roles or
    /// claims): `403 insufficient_scope`.
    Forbidden(Insufficient),
    /// A route requirement ran on a request that no [`BearerLayer`](crate::BearerLayer)
    /// verified: `route_layer(auth.requiring(..))` without `.layer(auth)` around it.
    /// A server misconfiguration, answered `401` with a description naming it.
    NotVerified,
    /// No usable keys (or verifier) right now, e.g. the identity provider is
    /// unreachable and nothing is cached: `503` with `Retry-After`.
    Unavailable(Unavailable),
    /// The DPoP proof (RFC 9449 §4.3) is missing or fails a check:
    /// `401 invalid_dpop_proof` on a `DPoP` challenge.
    InvalidDpopProof(InvalidProof),
    /// The DPoP proof lacks the server nonce, or carries an old or forged one (RFC 9449
    /// §9): `401 use_dpop_nonce` with a fresh `DPoP-Nonce` header.
    UseDpopNonce,
}

/// The error codes a challenge can carry: RFC 6750 §3.1's three and RFC 9449 §7.1's two.
///
/// ```
/// assert_eq!(tower_bearer::ErrorCode::InsufficientScope.as_str(), "insufficient_scope");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `invalid_request`: `400`.
    InvalidRequest,
    /// `invalid_token`: `401`.
    InvalidToken,
    /// `insufficient_scope`: `403`.
    InsufficientScope,
    /// `invalid_dpop_proof`: `401` (RFC 9449 §7.1).
    InvalidDpopProof,
    /// `use_dpop_nonce`: `401` (RFC 9449 §9).
    UseDpopNonce,
}

impl ErrorCode {
    /// The code as it appears in `error="…"` and in JSON bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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
    /// The token is sender-constrained (`cnf`: bound to a DPoP key or a client
    /// certificate) in a way this service is not configured to check, so whoever
    /// presents it could be a thief (RFC 9449 §7.2, RFC 8705 §3).
    Binding,
    /// The token is bound to another DPoP key than the proof's, or to another TLS
    /// client certificate than the connection's (or the connection has none).
    BindingMismatch,
    /// The `DPoP` scheme with a token that is not DPoP-bound (RFC 9449 §7.1).
    Unbound,
    /// This resource requires DPoP: a DPoP-bound token with the `DPoP` scheme.
    DpopRequired,
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
            Self::Binding => "the access token is bound to a key (cnf) this resource cannot check",
            Self::BindingMismatch => "the access token is bound to another key or certificate",
            Self::Unbound => "the access token is not DPoP-bound",
            Self::DpopRequired => "this resource requires a DPoP-bound access token and the DPoP scheme",
        }
    }

    /// The description sent to clients when details are off: generic, except for
    /// the two reasons a client can act on without learning anything secret.
    pub fn public_description(self) -> &'static str {
        match self {
            Self::Encrypted | Self::Expired | Self::DpopRequired => self.detail(),
            _ => "the access token is invalid",
        }
    }
}

/// Reasons for `401 invalid_dpop_proof` (RFC 9449 §4.3): what is wrong with the proof
/// itself. Like [`InvalidToken`], the precise reason is logged and sent only with
/// [`detailed_errors`](crate::BearerLayer::detailed_errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidProof {
    /// No `DPoP` header beside `Authorization: DPoP`.
    Missing,
    /// More than one `DPoP` header.
    Multiple,
    /// Not one well-formed compact JWS, or a required claim is missing or mistyped.
    Malformed,
    /// `typ` is not `dpop+jwt`.
    Type,
    /// `alg` is not an allowed asymmetric algorithm, or does not fit the key.
    Algorithm,
    /// The `jwk` header is missing, private, symmetric or unusable.
    Key,
    /// The signature does not verify with the `jwk`.
    Signature,
    /// `htm` is not the request's method.
    Method,
    /// `htu` is not this resource's URL.
    Uri,
    /// `iat` is outside the accepted window.
    IssuedAt,
    /// `ath` is missing or is not the hash of the presented token.
    TokenHash,
    /// This proof was already used.
    Replayed,
}

impl InvalidProof {
    /// The precise description of this reason.
    pub fn detail(self) -> &'static str {
        match self {
            Self::Missing => "the DPoP proof is missing",
            Self::Multiple => "more than one DPoP proof was presented",
            Self::Malformed => "the DPoP proof is malformed",
            Self::Type => "the DPoP proof's typ is not dpop+jwt",
            Self::Algorithm => "the DPoP proof's algorithm is not allowed",
            Self::Key => "the DPoP proof's jwk is not an acceptable public key",
            Self::Signature => "the DPoP proof's signature is invalid",
            Self::Method => "the DPoP proof's htm does not match the request method",
            Self::Uri => "the DPoP proof's htu does not match the request URL",
            Self::IssuedAt => "the DPoP proof's iat is outside the accepted window",
            Self::TokenHash => "the DPoP proof's ath does not match the access token",
            Self::Replayed => "the DPoP proof was already used",
        }
    }

    /// The description sent when details are off: generic, except for the reasons a
    /// client can act on without learning anything secret.
    pub fn public_description(self) -> &'static str {
        match self {
            Self::Missing | Self::Multiple | Self::IssuedAt | Self::Replayed => self.detail(),
            _ => "the DPoP proof is invalid",
        }
    }
}

/// An unmet requirement: what is missing, for `403 insufficient_scope`.
///
/// ```
/// let missing = tower_bearer::Insufficient::new(vec!["items.write".into()], "missing scope 'items.write'");
/// assert_eq!(missing.scopes(), ["items.write"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Insufficient {
    pub(crate) scopes: Vec<String>,
    pub(crate) description: String,
}

impl Insufficient {
    /// An unmet requirement: the scopes that would satisfy it (empty when what is
    /// missing is a role or a claim) and which requirement failed.
    pub fn new(scopes: Vec<String>, description: impl Into<String>) -> Self {
        Self { scopes, description: description.into() }
    }

    /// Scopes that would satisfy the requirement, rendered as `scope="…"`.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Which requirement failed, e.g. `missing role 'items.admin'`.
    pub fn description(&self) -> &str {
        &self.description
    }
}

/// The verifier cannot decide right now (`503`); the client should retry later.
///
/// ```
/// use std::time::Duration;
/// let outage = tower_bearer::Unavailable::new(Duration::from_secs(5), "JWKS endpoint unreachable");
/// assert_eq!(outage.retry_after(), Duration::from_secs(5));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Unavailable {
    pub(crate) retry_after: Duration,
    pub(crate) reason: String,
    cause: Option<Arc<dyn Error + Send + Sync>>,
}

impl Unavailable {
    /// The verifier cannot decide now; `reason` is for logs and never sent to clients.
    pub fn new(retry_after: Duration, reason: impl Into<String>) -> Self {
        Self { retry_after, reason: reason.into(), cause: None }
    }

    /// The verifier cannot decide now because of `cause` (an unreachable endpoint, a
    /// refused answer): [`AuthError`]'s `Display` names it and its
    /// [`source`](Error::source) continues with the cause's own cause; the reason for
    /// logs is the whole chain on one line.
    pub fn caused_by(retry_after: Duration, cause: Arc<dyn Error + Send + Sync>) -> Self {
        Self { retry_after, reason: crate::error_chain::error_chain(&*cause), cause: Some(cause) }
    }

    /// Suggested wait before retrying, rendered as `Retry-After` in whole seconds.
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }

    /// What is unavailable, for logs.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl PartialEq for Unavailable {
    /// Equal when they say the same (the cause is a trait object, compared by its text
    /// through `reason`).
    fn eq(&self, other: &Self) -> bool {
        self.retry_after == other.retry_after && self.reason == other.reason
    }
}

impl Eq for Unavailable {}

impl AuthError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Self::MissingToken
            | Self::NotVerified
            | Self::InvalidToken(_)
            | Self::InvalidDpopProof(_)
            | Self::UseDpopNonce => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The RFC 6750 error code, or `None` for a missing token and for `503`.
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            Self::MissingToken | Self::NotVerified | Self::Unavailable(_) => None,
            Self::InvalidRequest(_) => Some(ErrorCode::InvalidRequest),
            Self::InvalidToken(_) => Some(ErrorCode::InvalidToken),
            Self::Forbidden(_) => Some(ErrorCode::InsufficientScope),
            Self::InvalidDpopProof(_) => Some(ErrorCode::InvalidDpopProof),
            Self::UseDpopNonce => Some(ErrorCode::UseDpopNonce),
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
            Self::Forbidden(i) => Some(&i.description),
            Self::Unavailable(_) => Some("the token cannot be verified right now; retry later"),
            Self::InvalidDpopProof(r) if detailed => Some(r.detail()),
            Self::InvalidDpopProof(r) => Some(r.public_description()),
            Self::UseDpopNonce => Some(USE_NONCE),
        }
    }
}

const USE_NONCE: &str = "the DPoP proof must carry the nonce of the DPoP-Nonce header";

const NOT_VERIFIED: &str = "server misconfiguration: a route requirement ran but no BearerLayer verified \
     the request; add .layer(auth) outside .route_layer(auth.requiring(..))";

impl From<InvalidToken> for AuthError {
    fn from(reason: InvalidToken) -> Self {
        Self::InvalidToken(reason)
    }
}

impl From<InvalidProof> for AuthError {
    fn from(reason: InvalidProof) -> Self {
        Self::InvalidDpopProof(reason)
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
            Self::Forbidden(i) => f.write_str(&i.description),
            Self::Unavailable(Unavailable { cause: Some(cause), .. }) => write!(f, "verification unavailable: {cause}"),
            Self::Unavailable(u) => write!(f, "verification unavailable: {}", u.reason),
            Self::InvalidDpopProof(r) => f.write_str(r.detail()),
            Self::UseDpopNonce => f.write_str(USE_NONCE),
        }
    }
}

impl Error for AuthError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            // The cause's own message is in this error's `Display` (as for `KeyError`), so
            // the chain continues with the cause's cause.
            Self::Unavailable(Unavailable { cause: Some(cause), .. }) => cause.source(),
            _ => None,
        }
    }
}
