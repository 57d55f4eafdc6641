//! A tower layer for outgoing requests: adds `Authorization: Bearer`, and retries once
//! with a fresh token when the API refuses the current one.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower_layer::Layer;
use tower_service::Service;

use super::{TokenSource, token_refused};
use crate::BoxFuture;

/// The error of [`AddToken`]: the inner service's, or no token.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Adds a token from a [`TokenSource`] to every request of an `http` client service
/// (hyper, a tonic `Channel`: gRPC calls get `authorization` metadata).
///
/// When the API answers `401` with `error="invalid_token"` (or a bare `Bearer`
/// challenge), the token is dropped, a new one fetched, and a request with an empty
/// body is sent once more; a second `401` goes back to the caller. Requests with a
/// body cannot be replayed by a generic layer and are returned as they are.
#[derive(Clone)]
pub struct AddTokenLayer {
    source: Arc<dyn TokenSource>,
}

impl AddTokenLayer {
    /// Tokens from `source`.
    pub fn new(source: impl TokenSource) -> Self {
        Self { source: Arc::new(source) }
    }
}

/// Shows no token: the source is named only.
impl std::fmt::Debug for AddTokenLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddTokenLayer").field("source", &"dyn TokenSource").finish()
    }
}

impl<S> Layer<S> for AddTokenLayer {
    type Service = AddToken<S>;

    fn layer(&self, inner: S) -> AddToken<S> {
        AddToken { inner, source: self.source.clone() }
    }
}

/// The service made by [`AddTokenLayer`].
#[derive(Clone)]
pub struct AddToken<S> {
    inner: S,
    source: Arc<dyn TokenSource>,
}

impl<S> AddToken<S> {
    inner_service_accessors!();
}

/// Shows the wrapped service, never a token.
impl<S: std::fmt::Debug> std::fmt::Debug for AddToken<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddToken").field("inner", &self.inner).field("source", &"dyn TokenSource").finish()
    }
}

impl<S, B, ResBody> Service<Request<B>> for AddToken<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Body + Default + Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = BoxError;
    type Future = BoxFuture<Result<Response<ResBody>, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let source = self.source.clone();
        Box::pin(async move {
            // Only an empty body can be sent again.
            let replay = (req.body().size_hint().exact() == Some(0)).then(|| {
                let mut copy = Request::new(B::default());
                *copy.method_mut() = req.method().clone();
                *copy.uri_mut() = req.uri().clone();
                *copy.version_mut() = req.version();
                *copy.headers_mut() = req.headers().clone();
                *copy.extensions_mut() = req.extensions().clone();
                copy
            });
            let token = source.token().await?;
            let mut req = req;
            req.headers_mut().insert(http::header::AUTHORIZATION, token.header_value()?);
            let response = inner.call(req).await.map_err(Into::into)?;
            let Some(mut again) = replay.filter(|_| token_refused(response.status(), response.headers())) else {
                return Ok(response);
            };
            tracing::debug!("API refused the token; retrying once with a new one");
            source.invalidate(&token);
            let fresh = source.token().await?;
            again.headers_mut().insert(http::header::AUTHORIZATION, fresh.header_value()?);
            std::future::poll_fn(|cx| inner.poll_ready(cx)).await.map_err(Into::into)?;
            inner.call(again).await.map_err(Into::into)
        })
    }
}
