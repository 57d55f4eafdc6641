use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::future::ResponseFuture;
use crate::challenge::Challenge;
use crate::claims::VerifiedToken;
use crate::error::AuthError;
use crate::policy::Requirement;
use crate::responder::{Reject, Rejector, Responder, log_rejection};
use crate::token::{RequestHead, Sources};
use crate::verify::{Verification, Verifier};

/// The service made by [`BearerLayer`](super::BearerLayer).
pub struct Bearer<S, R> {
    inner: S,
    shared: Arc<Shared<R>>,
}

/// Configuration shared by every clone of the layer and its services.
#[derive(Clone)]
pub(crate) struct Shared<R> {
    pub(crate) verifier: Arc<dyn Verifier>,
    pub(crate) sources: Sources,
    pub(crate) requirement: Option<Requirement>,
    pub(crate) optional: bool,
    pub(crate) challenge: Challenge,
    pub(crate) responder: R,
}

impl<R> Shared<R> {
    /// Checks the requirement and hands the token, and how to refuse, to the request.
    pub(crate) fn admit<B, ResBody>(
        self: &Arc<Self>,
        token: VerifiedToken,
        req: &mut Request<B>,
    ) -> Result<(), AuthError>
    where
        R: Responder<ResBody>,
        ResBody: 'static,
    {
        self.check(&token)?;
        tracing::debug!(sub = token.subject(), "bearer token accepted");
        req.extensions_mut().insert(token);
        self.hand_rejector::<B, ResBody>(req);
        Ok(())
    }

    /// Leaves this layer's way of refusing in the request, for extractors downstream.
    pub(crate) fn hand_rejector<B, ResBody>(self: &Arc<Self>, req: &mut Request<B>)
    where
        R: Responder<ResBody>,
        ResBody: 'static,
    {
        let reject: Arc<dyn Reject<ResBody>> = self.clone();
        req.extensions_mut().insert(Rejector::new(reject));
    }

    /// The layer's requirement, if any.
    pub(crate) fn check(&self, token: &VerifiedToken) -> Result<(), AuthError> {
        match &self.requirement {
            Some(requirement) => requirement.check(token).map_err(AuthError::InsufficientScope),
            None => Ok(()),
        }
    }

    pub(crate) fn reject<B>(&self, error: &AuthError) -> Response<B>
    where
        R: Responder<B>,
    {
        log_rejection(error);
        self.responder.respond(error, &self.challenge)
    }
}

impl<R: Responder<B>, B> Reject<B> for Shared<R> {
    fn challenge(&self) -> &Challenge {
        &self.challenge
    }

    fn respond(&self, error: &AuthError) -> Response<B> {
        self.responder.respond(error, &self.challenge)
    }
}

impl<S, R> Bearer<S, R> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<R>>) -> Self {
        Self { inner, shared }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: Clone, R> Clone for Bearer<S, R> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), shared: self.shared.clone() }
    }
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for Bearer<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    R: Responder<ResBody>,
    ResBody: 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let shared = &self.shared;
        let head = RequestHead {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
            extensions: Some(req.extensions()),
        };
        let token = match shared.sources.extract(&head) {
            Ok(Some(token)) => token,
            Ok(None) if shared.optional && shared.requirement.is_none() => {
                shared.hand_rejector::<ReqBody, ResBody>(&mut req);
                return ResponseFuture::inner(self.inner.call(req));
            }
            Ok(None) => return ResponseFuture::rejected(shared.reject(&AuthError::MissingToken)),
            Err(e) => return ResponseFuture::rejected(shared.reject(&e.into())),
        };
        match shared.verifier.verify(&token) {
            Verification::Ready(Ok(verified)) => match shared.admit::<ReqBody, ResBody>(verified, &mut req) {
                Ok(()) => ResponseFuture::inner(self.inner.call(req)),
                Err(e) => ResponseFuture::rejected(shared.reject(&e)),
            },
            Verification::Ready(Err(e)) => ResponseFuture::rejected(shared.reject(&e)),
            Verification::Pending(verification) => {
                // Take the service that poll_ready readied; leave a fresh clone behind
                // (tower's "be careful when cloning inner services").
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::verifying(verification, ready, req, shared.clone())
            }
        }
    }
}
