use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::future::ResponseFuture;
use super::shared::check;
use crate::claims::VerifiedToken;
use crate::metrics::RequestMetrics;
use crate::policy::Requirement;
use crate::reject::{AuthError, JsonResponder, RejectConfig, Rejector, Responder};

/// Checks a [`Requirement`] against the token that an outer
/// [`BearerLayer`](super::BearerLayer) verified; no token in the request is a `401`.
/// Made by [`BearerLayer::requiring`](super::BearerLayer::requiring), so that it answers
/// with the outer layer's challenge and responder.
#[derive(Clone)]
#[must_use]
pub struct RequireLayer<R = JsonResponder> {
    requirement: Requirement,
    reject: Arc<RejectConfig<R>>,
    metrics: Arc<RequestMetrics>,
}

/// The service made by [`RequireLayer`].
#[derive(Clone)]
pub struct Require<S, R> {
    inner: S,
    requirement: Requirement,
    reject: Arc<RejectConfig<R>>,
    metrics: Arc<RequestMetrics>,
}

impl<R> RequireLayer<R> {
    /// Refusing with `reject`, the outer layer's own configuration, and counting with
    /// its `metrics`.
    pub(crate) fn with_reject(
        requirement: Requirement,
        reject: Arc<RejectConfig<R>>,
        metrics: Arc<RequestMetrics>,
    ) -> Self {
        Self { requirement, reject, metrics }
    }
}

impl<R> std::fmt::Debug for RequireLayer<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireLayer")
            .field("requirement", &self.requirement)
            .field("challenge", &self.reject.challenge)
            .finish_non_exhaustive()
    }
}

impl<S, R> Require<S, R> {
    inner_service_accessors!();
}

impl<S: std::fmt::Debug, R> std::fmt::Debug for Require<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Require")
            .field("inner", &self.inner)
            .field("requirement", &self.requirement)
            .finish_non_exhaustive()
    }
}

fn warn_once_not_verified() {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            "a RequireLayer saw a request no BearerLayer verified: mount `.layer(auth)` outside \
             `.route_layer(auth.requiring(..))` (every such request is refused)"
        );
    }
}

impl<S, R> Layer<S> for RequireLayer<R> {
    type Service = Require<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Require {
            inner,
            requirement: self.requirement.clone(),
            reject: self.reject.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for Require<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: Responder<ResBody>,
    ResBody: 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let Some(token) = req.extensions().get::<VerifiedToken>() else {
            // The outer layer leaves its Rejector in every request it lets through; none
            // means no BearerLayer ran at all, which no client can fix.
            if req.extensions().get::<Rejector<ResBody>>().is_none() {
                warn_once_not_verified();
                return self.refuse(self.reject.reject(&AuthError::NotVerified), &AuthError::NotVerified);
            }
            return self.refuse(self.reject.reject(&AuthError::MissingToken), &AuthError::MissingToken);
        };
        // The outer layer already put the token in; only the requirement is new here.
        match check(Some(&self.requirement), token) {
            Ok(()) => ResponseFuture::inner(self.inner.call(req)),
            // The outer layer's Rejector answers on the scheme the request used.
            Err(e) => self.refuse(
                match req.extensions().get::<Rejector<ResBody>>() {
                    Some(rejector) => rejector.reject(&e),
                    None => self.reject.reject(&e),
                },
                &e,
            ),
        }
    }
}

impl<S, R> Require<S, R> {
    /// `response`, the refusal for `error`, counted (the outer layer that let the
    /// request in then counts nothing).
    fn refuse<B, ResBody>(&self, mut response: Response<ResBody>, error: &AuthError) -> ResponseFuture<S, B, R>
    where
        S: Service<Request<B>, Response = Response<ResBody>>,
    {
        self.metrics.refused(error);
        crate::metrics::mark_counted(&mut response);
        ResponseFuture::rejected(response)
    }
}
