//! [`EndStreams`]: the service around a [`Bearer`](crate::Bearer) that wraps response
//! bodies in [`ExpiringBody`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response, header::CONTENT_TYPE};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::{ExpiringBody, ExpirySlot};

/// The outer half of [`BearerLayer::end_streams_at_expiry`](crate::BearerLayer::end_streams_at_expiry),
/// which stacks it over the layer (it reads the expiry the layer finds).
#[derive(Debug, Clone, Copy)]
pub struct EndStreamsLayer {
    _private: (),
}

impl EndStreamsLayer {
    pub(crate) fn new() -> Self {
        Self { _private: () }
    }
}

impl<S> Layer<S> for EndStreamsLayer {
    type Service = EndStreams<S>;

    fn layer(&self, inner: S) -> EndStreams<S> {
        EndStreams { inner }
    }
}

/// The service made by [`EndStreamsLayer`]: answers with [`ExpiringBody`]s.
#[derive(Debug, Clone)]
pub struct EndStreams<S> {
    inner: S,
}

impl<S> EndStreams<S> {
    inner_service_accessors!();
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for EndStreams<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ExpiringBody<ResBody>>;
    type Error = S::Error;
    type Future = EndStreamsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let slot = ExpirySlot::default();
        req.extensions_mut().insert(slot.clone());
        EndStreamsFuture { inner: self.inner.call(req), slot }
    }
}

pin_project! {
    /// The response future of [`EndStreams`].
    pub struct EndStreamsFuture<F> {
        #[pin]
        inner: F,
        slot: ExpirySlot,
    }
}

impl<F, B, E> Future for EndStreamsFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ExpiringBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        let expiry = this.slot.get();
        let grpc = is_grpc(&response);
        Poll::Ready(Ok(response.map(|body| ExpiringBody::new(body, expiry, grpc))))
    }
}

impl<F> std::fmt::Debug for EndStreamsFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndStreamsFuture").finish_non_exhaustive()
    }
}

/// A gRPC answer, whatever the layer's responder: it is what the client speaks that
/// decides how its stream must end (one router may serve REST and gRPC).
/// gRPC-Web (`application/grpc-web…`) is not: over HTTP/1.1 its trailers travel in the
/// body, so it is cut like any HTTP body.
fn is_grpc<B>(response: &Response<B>) -> bool {
    let Some(value) = response.headers().get(CONTENT_TYPE) else { return false };
    match value.as_bytes().strip_prefix(b"application/grpc") {
        Some(rest) => matches!(rest.first(), None | Some(b'+' | b';')),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_but_not_grpc_web() {
        let with = |ct: &str| is_grpc(&Response::builder().header(CONTENT_TYPE, ct).body(()).unwrap());
        assert!(with("application/grpc"));
        assert!(with("application/grpc+proto"));
        assert!(with("application/grpc;charset=utf-8"));
        assert!(!with("application/grpc-web"));
        assert!(!with("application/grpc-web+proto"));
        assert!(!with("application/json"));
        assert!(!is_grpc(&Response::new(())));
    }
}
