//! axum extractors (feature `axum`).
//!
//! Behind a [`BearerLayer`](crate::BearerLayer), handlers take:
//! - [`VerifiedToken`]: the verified token (`Option<VerifiedToken>` in optional mode);
//! - [`Claims<T>`]: your own claims type, deserialized from the token;
//! - [`Authorized<G>`]: the token, after checking the [`Guard`] `G`'s requirement.
//!
//! Rejections are the same RFC 6750 responses the layer sends.

use std::marker::PhantomData;

use axum_core::body::Body;
use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use serde::de::DeserializeOwned;

use crate::claims::VerifiedToken;
use crate::policy::Requirement;
use crate::reject::{AuthError, Insufficient, JsonResponder, RejectConfig, Rejector};

/// Why an extractor refused the request. It answers exactly as the layer that
/// verified the request would (its realm, responder and detail setting, through the
/// [`Rejector`] the layer leaves in the extensions); without a layer, with the
/// default challenge and JSON body.
#[derive(Debug, Clone)]
pub struct Rejection {
    error: AuthError,
    rejector: Option<Rejector<Body>>,
}

impl Rejection {
    fn new(parts: &Parts, error: AuthError) -> Self {
        Self { error, rejector: parts.extensions.get::<Rejector<Body>>().cloned() }
    }

    /// Why the request was refused.
    pub fn error(&self) -> &AuthError {
        &self.error
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match &self.rejector {
            Some(rejector) => rejector.reject(&self.error),
            None => RejectConfig::<JsonResponder>::default().reject(&self.error),
        }
    }
}

fn token(parts: &Parts) -> Result<VerifiedToken, Rejection> {
    parts.extensions.get::<VerifiedToken>().cloned().ok_or_else(|| Rejection::new(parts, AuthError::MissingToken))
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

/// A token that does not fit the handler's claims type is a good token lacking what
/// this endpoint needs (or a server-side type mistake), not an invalid one: `403
/// insufficient_scope` naming the claim, never `401 invalid_token`, which would tell
/// the client to throw a good token away.
fn claims<T: DeserializeOwned>(parts: &Parts, token: &VerifiedToken) -> Result<Claims<T>, Rejection> {
    token.deserialize().map(Claims).map_err(|e| {
        tracing::debug!(error = %e, "token claims do not fit the handler's claims type");
        let message = e.to_string();
        let description = match message.strip_prefix("missing field `").and_then(|rest| rest.split_once('`')) {
            Some((field, _)) => format!("the access token lacks the claim '{field}' this resource needs"),
            None => "the access token's claims do not have the form this resource needs".to_owned(),
        };
        Rejection::new(parts, AuthError::Forbidden(Insufficient { scopes: Vec::new(), description }))
    })
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Claims<T> {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Rejection> {
        claims(parts, &token(parts)?)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> OptionalFromRequestParts<S> for Claims<T> {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Rejection> {
        parts.extensions.get::<VerifiedToken>().map(|token| claims(parts, token)).transpose()
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
        G::requirement().check(&token).map_err(|e| Rejection::new(parts, AuthError::Forbidden(e)))?;
        Ok(Authorized(token, PhantomData))
    }
}
