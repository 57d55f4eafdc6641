//! How one layer refuses: its [`RejectConfig`] (challenge and responder), shared by the
//! layer, its route layers and, type-erased as a [`Rejector`], by everything downstream.

use std::sync::Arc;

use http::Response;

use super::log::log_rejection;
use super::{AuthError, Challenge, JsonResponder, Responder};

/// A layer's way of refusing: the challenge settings and the responder. One value,
/// held by [`BearerLayer`](crate::BearerLayer), the [`RequireLayer`](crate::RequireLayer)s
/// it makes, and the [`Rejector`] it leaves in each request.
#[derive(Debug, Clone, Default)]
pub(crate) struct RejectConfig<R = JsonResponder> {
    pub(crate) challenge: Challenge,
    pub(crate) responder: R,
    /// Server nonces: every refusal on the DPoP scheme carries a fresh one (RFC 9449
    /// §8), whatever the responder.
    #[cfg(feature = "dpop")]
    pub(crate) nonces: Option<crate::dpop::Nonces>,
}

impl<R> RejectConfig<R> {
    pub(crate) fn new(challenge: Challenge, responder: R) -> Self {
        Self {
            challenge,
            responder,
            #[cfg(feature = "dpop")]
            nonces: None,
        }
    }

    /// Logs the refusal and builds its response.
    pub(crate) fn reject<B>(&self, error: &AuthError) -> Response<B>
    where
        R: Responder<B>,
    {
        log_rejection(error);
        #[allow(unused_mut)]
        let mut response = self.responder.respond(error, &self.challenge);
        #[cfg(feature = "dpop")]
        if let Some(nonces) = &self.nonces
            && error.status() == http::StatusCode::UNAUTHORIZED
            && self.challenge.is_dpop(error)
        {
            response.headers_mut().insert(crate::dpop::DPOP_NONCE, nonces.issue(crate::dpop::now()));
        }
        response
    }

    /// This configuration as the handle downstream code finds in the request.
    pub(crate) fn rejector<B: 'static>(self: &Arc<Self>) -> Rejector<B>
    where
        R: Responder<B>,
    {
        Rejector(self.clone())
    }
}

/// What a [`Rejector`] needs from a [`RejectConfig`], without its responder type.
trait Reject<B>: Send + Sync + 'static {
    fn challenge(&self) -> &Challenge;
    fn reject(&self, error: &AuthError) -> Response<B>;
}

impl<R: Responder<B>, B> Reject<B> for RejectConfig<R> {
    fn challenge(&self) -> &Challenge {
        &self.challenge
    }

    fn reject(&self, error: &AuthError) -> Response<B> {
        RejectConfig::reject(self, error)
    }
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

impl<B: 'static> Rejector<B> {
    /// The response for `error` (logged like the layer's own refusals).
    pub fn reject(&self, error: &AuthError) -> Response<B> {
        self.0.reject(error)
    }

    /// The layer's challenge settings.
    pub fn challenge(&self) -> &Challenge {
        self.0.challenge()
    }
}
