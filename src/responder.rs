//! Turning an [`AuthError`] into a response: RFC 6750 JSON for HTTP, a
//! trailers-only status for gRPC, or your own.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};

use crate::challenge::Challenge;
use crate::error::AuthError;

/// Builds the response for a refused request.
///
/// ```
/// use http::Response;
/// use tower_bearer::{AuthError, Challenge, Responder};
///
/// /// Plain-text rejections.
/// #[derive(Clone)]
/// struct Plain;
/// impl Responder<String> for Plain {
///     fn respond(&self, error: &AuthError, challenge: &Challenge) -> Response<String> {
///         let mut res = Response::new(error.to_string());
///         *res.status_mut() = error.status();
///         res.headers_mut().insert("www-authenticate", challenge.header_value(error));
///         res
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot build `{B}` responses",
    label = "this responder cannot answer with a `{B}` body",
    note = "on a tonic server, call `.grpc()` on the layer: `BearerLayer::new(verifier).grpc()` (the default JSON responder needs a body built from bytes)"
)]
pub trait Responder<B>: Send + Sync + 'static {
    /// The response for `error`.
    fn respond(&self, error: &AuthError, challenge: &Challenge) -> Response<B>;
}

/// How the layer that verified a request answers refusals: its challenge (realm,
/// `error_uri`s, detail setting) and its responder. [`BearerLayer`](crate::BearerLayer)
/// leaves one in the request extensions (as `Rejector<ResBody>`, the service's
/// response body), so the axum extractors, the tonic helpers and your own code
/// refuse a request exactly as the layer would.
///
/// ```
/// use tower_bearer::{AuthError, Rejector};
///
/// fn refuse(req: &http::Request<String>) -> Option<http::Response<String>> {
///     let rejector = req.extensions().get::<Rejector<String>>()?;
///     Some(rejector.reject(&AuthError::MissingToken))
/// }
/// ```
pub struct Rejector<B: 'static>(Arc<dyn Reject<B>>);

impl<B: 'static> Clone for Rejector<B> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<B: 'static> std::fmt::Debug for Rejector<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Rejector").field(self.0.challenge()).finish()
    }
}

/// What a [`Rejector`] needs from the layer's configuration.
pub(crate) trait Reject<B>: Send + Sync + 'static {
    fn challenge(&self) -> &Challenge;
    fn respond(&self, error: &AuthError) -> Response<B>;
}

impl<B: 'static> Rejector<B> {
    pub(crate) fn new(reject: Arc<dyn Reject<B>>) -> Self {
        Self(reject)
    }

    /// The response for `error` (logged like the layer's own refusals).
    pub fn reject(&self, error: &AuthError) -> Response<B> {
        log_rejection(error);
        self.0.respond(error)
    }

    /// The layer's challenge settings.
    pub fn challenge(&self) -> &Challenge {
        self.0.challenge()
    }
}

/// Rejections are routine (expired tokens, scanners): debug level, never the token.
pub(crate) fn log_rejection(error: &AuthError) {
    match error {
        AuthError::Unavailable(u) => {
            tracing::warn!(reason = %u.reason, "bearer token not verifiable: keys unavailable")
        }
        other => tracing::debug!(status = other.status().as_u16(), error = %other, "bearer token rejected"),
    }
}

/// The default: the RFC 6750 status and `WWW-Authenticate` challenge, plus a small
/// JSON body `{"error","error_description"}`. Needs a body type built from bytes
/// (axum's `Body`, `String`, `Full<Bytes>`...).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonResponder;

// Not recommended in errors, so a tonic server missing `.grpc()` is told about
// `.grpc()` (the trait's hint) instead of `Body: From<Bytes>`.
#[diagnostic::do_not_recommend]
impl<B: From<Bytes>> Responder<B> for JsonResponder {
    fn respond(&self, error: &AuthError, challenge: &Challenge) -> Response<B> {
        let body = match error.error_code() {
            Some(code) => serde_json::json!({
                "error": code,
                "error_description": error.description(challenge.is_detailed()),
            }),
            None if matches!(error, AuthError::Unavailable(_)) => serde_json::json!({
                "error": "temporarily_unavailable",
                "error_description": error.description(false),
            }),
            None => serde_json::json!({
                "error": "unauthorized",
                "error_description": error.description(false).unwrap_or("an access token is required"),
            }),
        };
        let mut res = Response::new(B::from(Bytes::from(body.to_string())));
        *res.status_mut() = error.status();
        add_common_headers(&mut res, error, challenge);
        res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        res
    }
}

/// gRPC answers: HTTP 200 with `grpc-status` `UNAUTHENTICATED` (16),
/// `PERMISSION_DENIED` (7), `INVALID_ARGUMENT` (3, a malformed request) or
/// `UNAVAILABLE` (14), `grpc-message`, and the same
/// `WWW-Authenticate` challenge as metadata. Needs only `B: Default`, so it fits
/// tonic's body without depending on tonic.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcResponder;

impl GrpcResponder {
    /// The gRPC status code for `error`.
    pub fn code(error: &AuthError) -> u16 {
        match error.status() {
            StatusCode::BAD_REQUEST => 3,
            StatusCode::FORBIDDEN => 7,
            StatusCode::SERVICE_UNAVAILABLE => 14,
            _ => 16,
        }
    }
}

impl<B: Default> Responder<B> for GrpcResponder {
    fn respond(&self, error: &AuthError, challenge: &Challenge) -> Response<B> {
        let mut res = Response::new(B::default());
        add_common_headers(&mut res, error, challenge);
        let headers = res.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert("grpc-status", HeaderValue::from(Self::code(error)));
        let message = error.description(challenge.is_detailed()).unwrap_or("an access token is required");
        if let Ok(v) = HeaderValue::from_str(&percent_encode(message)) {
            headers.insert("grpc-message", v);
        }
        res
    }
}

fn add_common_headers<B>(res: &mut Response<B>, error: &AuthError, challenge: &Challenge) {
    let headers = res.headers_mut();
    if error.status() != StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(WWW_AUTHENTICATE, challenge.header_value(error));
    }
    if let AuthError::Unavailable(u) = error {
        headers.insert(RETRY_AFTER, HeaderValue::from(u.retry_after.as_secs().max(1)));
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// gRPC `grpc-message` is percent-encoded (gRPC over HTTP/2 spec).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
