use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::shared::Shared;
use crate::BoxFuture;
use crate::claims::VerifiedToken;
use crate::metrics::{Admitted, Reason};
use crate::reject::{AuthError, Responder};
use crate::token::Scheme;

pin_project! {
    /// The response future of [`Bearer`](super::Bearer) and [`Require`](super::Require).
    pub struct ResponseFuture<S, B, R>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S::Future, S, B, S::Response, R>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, S, B, Res, R> {
        // `nonce`: a `DPoP-Nonce` header for the answer (rare, so no extra state).
        // `admitted`: counted as allowed when `fut` answers.
        Inner { #[pin] fut: F, nonce: Option<HeaderValue>, admitted: Admitted },
        Rejected { response: Option<Res> },
        // Boxed: rare (keys being loaded), and inline it would make every response
        // future as large as a whole request, copied on each move.
        Verifying { waiting: Box<Waiting<S, B, R>> },
    }
}

/// A request waiting for its token's verification (keys being loaded).
struct Waiting<S, B, R> {
    verification: BoxFuture<Result<VerifiedToken, AuthError>>,
    scheme: Scheme,
    nonce: Option<HeaderValue>,
    service: Option<S>,
    req: Option<Request<B>>,
    shared: Arc<Shared<R>>,
}

impl<S: Service<Request<B>>, B, R> ResponseFuture<S, B, R> {
    /// The inner service's answer, as it is.
    pub(crate) fn inner(fut: S::Future) -> Self {
        Self::inner_with(fut, None, Admitted::none())
    }

    /// The inner service's answer, with `nonce` as its `DPoP-Nonce` header; `admitted`
    /// counts it.
    pub(crate) fn inner_with(fut: S::Future, nonce: Option<HeaderValue>, admitted: Admitted) -> Self {
        Self { state: State::Inner { fut, nonce, admitted } }
    }

    pub(crate) fn rejected(response: S::Response) -> Self {
        Self { state: State::Rejected { response: Some(response) } }
    }

    pub(crate) fn verifying(
        verification: BoxFuture<Result<VerifiedToken, AuthError>>,
        (scheme, nonce): (Scheme, Option<HeaderValue>),
        service: S,
        req: Request<B>,
        shared: Arc<Shared<R>>,
    ) -> Self {
        let waiting = Box::new(Waiting { verification, scheme, nonce, service: Some(service), req: Some(req), shared });
        Self { state: State::Verifying { waiting } }
    }
}

impl<S, B, R, ResBody> Future for ResponseFuture<S, B, R>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    R: Responder<ResBody>,
    ResBody: 'static,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            let next = match state.as_mut().project() {
                StateProj::Inner { fut, nonce, admitted } => {
                    let mut result = ready!(fut.poll(cx));
                    admitted.answered(&result);
                    if let (Ok(response), Some(nonce)) = (&mut result, nonce.take()) {
                        response.headers_mut().insert(crate::token::DPOP_NONCE, nonce);
                    }
                    return Poll::Ready(result);
                }
                StateProj::Rejected { response } => {
                    // `take` only fails if polled again after completion, which the
                    // Future contract forbids.
                    #[allow(clippy::expect_used)]
                    return Poll::Ready(Ok(response.take().expect("ResponseFuture polled after completion")));
                }
                StateProj::Verifying { waiting } => {
                    let Waiting { verification, scheme, nonce, service, req, shared } = &mut **waiting;
                    let result = ready!(verification.as_mut().poll(cx));
                    let (Some(mut service), Some(mut req)) = (service.take(), req.take()) else {
                        // Both are set together and taken together, right before the
                        // state changes below.
                        unreachable!("ResponseFuture polled after completion")
                    };
                    match result.and_then(|token| shared.admit::<B, ResBody>(token, *scheme, &mut req)) {
                        Ok(()) => {
                            let admitted = shared.metrics.admitted(Reason::Verified);
                            State::Inner { fut: service.call(req), nonce: nonce.take(), admitted }
                        }
                        Err(e) => State::Rejected { response: Some(shared.refuse(*scheme, &e)) },
                    }
                }
            };
            state.set(next);
        }
    }
}
