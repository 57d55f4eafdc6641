//! tonic integration (feature `tonic`).
//!
//! The layer itself needs nothing from tonic: mount
//! [`BearerLayer::grpc`](crate::BearerLayer::grpc) on a tonic server and refused calls
//! get `UNAUTHENTICATED`, `PERMISSION_DENIED` or `UNAVAILABLE` with the RFC 6750
//! challenge in the `www-authenticate` metadata. This module adds per-method checks
//! inside handlers.
//!
//! Forgetting `.grpc()` on a tonic server is a compile error whose note says to call
//! `.grpc()` (the default JSON responder cannot build tonic's body):
//!
//! ```compile_fail,E0277
//! # async fn run(verifier: tower_bearer::JwtVerifier, svc: tonic::service::Routes) {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! tonic::transport::Server::builder()
//!     .layer(tower_bearer::BearerLayer::new(verifier)) // missing .grpc()
//!     .add_routes(svc)
//!     .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
//!     .await;
//! # }
//! ```
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

use crate::claims::VerifiedToken;
use crate::policy::Requirement;
use crate::reject::{AuthError, Challenge, GrpcResponder, Rejector, log_rejection};

/// The token the layer verified for this call (`UNAUTHENTICATED` when there is none,
/// e.g. in optional mode).
pub fn verified_token<T>(request: &Request<T>) -> Result<&VerifiedToken, Status> {
    request.extensions().get::<VerifiedToken>().ok_or_else(|| refuse(request, &AuthError::MissingToken))
}

/// Checks `requirement` for this call: the token, or `PERMISSION_DENIED` naming what
/// is missing.
pub fn authorize<T>(request: &Request<T>, requirement: &Requirement) -> Result<VerifiedToken, Status> {
    let token = verified_token(request)?;
    requirement.check(token).map_err(|e| refuse(request, &AuthError::Forbidden(e)))?;
    Ok(token.clone())
}

/// The gRPC status for `error`, answered as the layer that verified `request` would
/// (its realm and detail setting), or with the default challenge without a layer.
pub fn refuse<T>(request: &Request<T>, error: &AuthError) -> Status {
    match request.extensions().get::<Rejector<tonic::body::Body>>() {
        Some(rejector) => status_with(error, rejector.challenge()),
        None => status(error),
    }
}

/// The gRPC status for `error` with the default challenge (no realm); prefer
/// [`refuse`], which answers with the layer's own challenge.
pub fn status(error: &AuthError) -> Status {
    status_with(error, &Challenge::default())
}

fn status_with(error: &AuthError, challenge: &Challenge) -> Status {
    log_rejection(error);
    let message = error.description(challenge.is_detailed()).unwrap_or("an access token is required").to_owned();
    let mut status = match GrpcResponder::code(error) {
        3 => Status::invalid_argument(message),
        7 => Status::permission_denied(message),
        14 => Status::unavailable(message),
        _ => Status::unauthenticated(message),
    };
    if let Ok(value) = challenge.header_value(error).to_str()
        && let Ok(value) = value.parse()
    {
        status.metadata_mut().insert("www-authenticate", value);
    }
    status
}
