//! Turning an [`AuthError`] into a response: RFC 6750 JSON for HTTP, a
//! trailers-only status for gRPC, or your own.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};

use super::{AuthError, Challenge};

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
                "error": code.as_str(),
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
