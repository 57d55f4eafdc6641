use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::future::ResponseFuture;
use super::shared::Shared;
use crate::metrics::Reason;
use crate::reject::{AuthError, Responder};
use crate::token::{RequestHead, Scheme};
use crate::verify::Verification;

/// The service made by [`BearerLayer`](super::BearerLayer).
pub struct Bearer<S, R> {
    inner: S,
    shared: Arc<Shared<R>>,
}

impl<S, R> Bearer<S, R> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<R>>) -> Self {
        Self { inner, shared }
    }

    inner_service_accessors!();
}

impl<S: std::fmt::Debug, R> std::fmt::Debug for Bearer<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bearer").field("inner", &self.inner).field("layer", &*self.shared).finish()
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
        let token = match shared.locations.extract(&RequestHead::from_request(&req)) {
            Ok(Some(token)) => token,
            Ok(None) if shared.optional && shared.requirement.is_none() => {
                shared.hand_rejector::<ReqBody, ResBody>(&mut req);
                let admitted = shared.metrics.admitted(Reason::Anonymous);
                return ResponseFuture::inner_with(self.inner.call(req), None, admitted);
            }
            Ok(None) => return ResponseFuture::rejected(shared.refuse(Scheme::Bearer, &AuthError::MissingToken)),
            Err(e) => return ResponseFuture::rejected(shared.refuse(Scheme::Bearer, &e.into())),
        };
        let scheme = token.scheme();
        let refuse = |e: AuthError| ResponseFuture::rejected(shared.refuse(scheme, &e));
        let (evidence, proof) = match shared.binding.evidence(&req, &token) {
            Ok(found) => found,
            Err(e) => return refuse(e),
        };
        // The proof rides in the request; a refused request is dropped with it.
        let nonce = shared.fresh_nonce(proof.as_ref());
        if let Some(proof) = proof {
            req.extensions_mut().insert(proof);
        }
        let verification = match shared.verifier.verify_for_binding(&token) {
            Verification::Ready(Ok(verified)) => shared.binding.confirm(verified, evidence),
            Verification::Ready(Err(e)) => return refuse(e),
            Verification::Pending(verification) => {
                let binding = shared.binding.clone();
                Verification::Pending(Box::pin(async move {
                    let verified = verification.await?;
                    binding.confirm(verified, evidence).resolve().await
                }))
            }
        };
        match verification {
            Verification::Ready(Ok(verified)) => match shared.admit::<ReqBody, ResBody>(verified, scheme, &mut req) {
                Ok(()) => {
                    let admitted = shared.metrics.admitted(Reason::Verified);
                    ResponseFuture::inner_with(self.inner.call(req), nonce, admitted)
                }
                Err(e) => refuse(e),
            },
            Verification::Ready(Err(e)) => refuse(e),
            Verification::Pending(verification) => {
                // Take the service that poll_ready readied; leave a fresh clone behind
                // (tower's "be careful when cloning inner services").
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::verifying(verification, (scheme, nonce), ready, req, shared.clone())
            }
        }
    }
}
