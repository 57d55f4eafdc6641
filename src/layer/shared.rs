//! What every clone of a [`BearerLayer`](super::BearerLayer) and its services share,
//! and the step that lets a verified request in.

use std::sync::Arc;

use http::Request;

use crate::claims::VerifiedToken;
use crate::policy::Requirement;
use crate::reject::{AuthError, RejectConfig, Responder};
use crate::token::Locations;
use crate::verify::Verifier;

/// Configuration shared by every clone of the layer and its services.
#[derive(Clone)]
pub(crate) struct Shared<R> {
    pub(crate) verifier: Arc<dyn Verifier>,
    pub(crate) locations: Locations,
    pub(crate) requirement: Option<Requirement>,
    pub(crate) optional: bool,
    /// Also held by the route layers made with `requiring` and by each request's
    /// `Rejector`.
    pub(crate) reject: Arc<RejectConfig<R>>,
}

impl<R> std::fmt::Debug for Shared<R> {
    // The verifier and the responder are user types without a `Debug` bound; what the
    // layer decides on is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerLayer")
            .field("requirement", &self.requirement)
            .field("optional", &self.optional)
            .field("challenge", &self.reject.challenge)
            .finish_non_exhaustive()
    }
}

impl<R> Shared<R> {
    /// Checks the requirement and hands the token, and how to refuse, to the request.
    pub(crate) fn admit<B, ResBody>(&self, token: VerifiedToken, req: &mut Request<B>) -> Result<(), AuthError>
    where
        R: Responder<ResBody>,
        ResBody: 'static,
    {
        check(self.requirement.as_ref(), &token)?;
        tracing::debug!(sub = token.subject(), "bearer token accepted");
        req.extensions_mut().insert(token);
        self.hand_rejector::<B, ResBody>(req);
        Ok(())
    }

    /// Leaves this layer's way of refusing in the request, for extractors downstream.
    pub(crate) fn hand_rejector<B, ResBody>(&self, req: &mut Request<B>)
    where
        R: Responder<ResBody>,
        ResBody: 'static,
    {
        req.extensions_mut().insert(self.reject.rejector::<ResBody>());
    }
}

/// `requirement`, if any, checked against `token` (unmet is `403`).
pub(crate) fn check(requirement: Option<&Requirement>, token: &VerifiedToken) -> Result<(), AuthError> {
    match requirement {
        Some(requirement) => requirement.check(token).map_err(AuthError::Forbidden),
        None => Ok(()),
    }
}
