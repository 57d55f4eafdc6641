//! axum extractors (feature `axum`).
//!
//! Behind a [`BearerLayer`](crate::BearerLayer), handlers take:
//! - [`VerifiedToken`]: the verified token (`Option<VerifiedToken>` in optional mode);
//! - [`Claims<T>`]: your own claims type, deserialized from the token;
//! - [`Authorized<G>`]: the token, after checking the [`Guard`] `G`'s requirement.
//!
//! Rejections are the same RFC 6750 responses the layer sends.

use std::marker::PhantomData;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use serde::de::DeserializeOwned;

use crate::challenge::Challenge;
use crate::claims::VerifiedToken;
use crate::error::{AuthError, InvalidToken};
use crate::policy::Requirement;
use crate::responder::{JsonResponder, Responder};

/// Why an extractor refused the request; answers like the layer would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection(pub AuthError);

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        crate::layer::log_rejection(&self.0);
        JsonResponder.respond(&self.0, &Challenge::default())
    }
}

fn token(parts: &Parts) -> Result<VerifiedToken, Rejection> {
    parts.extensions.get::<VerifiedToken>().cloned().ok_or(Rejection(AuthError::MissingToken))
}

impl<S: Send + Sync> FromRequestParts<S> for VerifiedToken {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Rejection> {
        token(parts)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for VerifiedToken {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Rejection> {
        Ok(parts.extensions.get::<VerifiedToken>().cloned())
    }
}

/// The token's claims as your own type.
///
/// ```
/// use tower_bearer::axum::Claims;
///
/// #[derive(serde::Deserialize)]
/// struct MyClaims { sub: String, tenant: String }
///
/// async fn handler(Claims(c): Claims<MyClaims>) -> String {
///     format!("{} of {}", c.sub, c.tenant)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Claims<T>(pub T);

fn claims<T: DeserializeOwned>(token: &VerifiedToken) -> Result<Claims<T>, Rejection> {
    token.deserialize().map(Claims).map_err(|e| {
        tracing::debug!(error = %e, "token claims do not fit the handler's claims type");
        Rejection(AuthError::InvalidToken(InvalidToken::ClaimType))
    })
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Claims<T> {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Rejection> {
        claims(&token(parts)?)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> OptionalFromRequestParts<S> for Claims<T> {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Rejection> {
        parts.extensions.get::<VerifiedToken>().map(claims).transpose()
    }
}

/// A requirement named by a type, for the [`Authorized`] extractor.
///
/// ```
/// use tower_bearer::axum::{Authorized, Guard};
/// use tower_bearer::policy::{Requirement, role};
///
/// struct Admin;
/// impl Guard for Admin {
///     fn requirement() -> Requirement { role("admin") }
/// }
///
/// async fn handler(Authorized(token, ..): Authorized<Admin>) -> String {
///     format!("hello admin {}", token.subject().unwrap_or("?"))
/// }
/// ```
pub trait Guard: Send + Sync + 'static {
    /// What the token must satisfy.
    fn requirement() -> Requirement;
}

/// The verified token, after checking `G`'s requirement (`403` when unmet).
pub struct Authorized<G>(pub VerifiedToken, pub PhantomData<G>);

impl<S: Send + Sync, G: Guard> FromRequestParts<S> for Authorized<G> {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Rejection> {
        let token = token(parts)?;
        G::requirement().check(&token).map_err(|e| Rejection(AuthError::InsufficientScope(e)))?;
        Ok(Authorized(token, PhantomData))
    }
}
