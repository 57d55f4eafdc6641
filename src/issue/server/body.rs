//! Request bodies of the token, revocation and introspection endpoints: a form of a
//! few parameters, read up to a bound.

use axum::body::{Body, Bytes};
use axum::http::StatusCode;

use super::error::OAuthError;
use super::params::Params;

/// Largest form body an endpoint reads: a token request with the longest client
/// credentials and a JWT is a few kilobytes.
pub(crate) const MAX_BODY: usize = 16 * 1024;

/// `413 invalid_request`: a body over [`MAX_BODY`].
fn too_large() -> OAuthError {
    OAuthError::invalid_request("the request body is too large or could not be read")
        .with_status(StatusCode::PAYLOAD_TOO_LARGE)
}

/// Reads `body`, at most [`MAX_BODY`] bytes.
pub(crate) async fn read(body: Body) -> Result<Bytes, OAuthError> {
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| too_large())
}

/// The parameters of a form `body` of at most [`MAX_BODY`] bytes (the endpoint
/// methods take bodies read by the application's own routes too).
pub(crate) fn form(body: &[u8]) -> Result<Params, OAuthError> {
    if body.len() > MAX_BODY {
        return Err(too_large());
    }
    Params::parse(body)
}
