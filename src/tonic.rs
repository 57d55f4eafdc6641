//! tonic integration (feature `tonic`).
//!
//! The layer itself needs nothing from tonic: mount
//! [`BearerLayer::grpc`](crate::BearerLayer::grpc) on a tonic server and refused calls
//! get `UNAUTHENTICATED`, `PERMISSION_DENIED` or `UNAVAILABLE` with the RFC 6750
//! challenge in the `www-authenticate` metadata. This module adds per-method checks
//! inside handlers.
//!
//! ```
//! use tower_bearer::policy::role;
//!
//! fn admin_only(request: &tonic::Request<()>) -> Result<(), tonic::Status> {
//!     let token = tower_bearer::tonic::authorize(request, &role("admin"))?;
//!     println!("admin call by {:?}", token.subject());
//!     Ok(())
//! }
//! ```

use tonic::{Request, Status};

use crate::challenge::Challenge;
use crate::claims::VerifiedToken;
use crate::error::AuthError;
use crate::policy::Requirement;

/// The token the layer verified for this call (`UNAUTHENTICATED` when there is none,
/// e.g. in optional mode).
pub fn verified_token<T>(request: &Request<T>) -> Result<&VerifiedToken, Status> {
    request.extensions().get::<VerifiedToken>().ok_or_else(|| status(&AuthError::MissingToken))
}

/// Checks `requirement` for this call: the token, or `PERMISSION_DENIED` naming what
/// is missing.
pub fn authorize<T>(request: &Request<T>, requirement: &Requirement) -> Result<VerifiedToken, Status> {
    let token = verified_token(request)?;
    requirement.check(token).map_err(|e| status(&AuthError::InsufficientScope(e)))?;
    Ok(token.clone())
}

/// The gRPC status for `error`, with the `www-authenticate` challenge as metadata.
pub fn status(error: &AuthError) -> Status {
    crate::layer::log_rejection(error);
    let message = error.description(false).unwrap_or("an access token is required").to_owned();
    let mut status = match error.status() {
        http::StatusCode::FORBIDDEN => Status::permission_denied(message),
        http::StatusCode::SERVICE_UNAVAILABLE => Status::unavailable(message),
        _ => Status::unauthenticated(message),
    };
    if let Ok(value) = Challenge::default().header_value(error).to_str()
        && let Ok(value) = value.parse()
    {
        status.metadata_mut().insert("www-authenticate", value);
    }
    status
}
