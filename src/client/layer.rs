//! A tower layer for outgoing requests: adds the token (`Authorization: Bearer`, or
//! `DPoP` with a proof), and retries once with a fresh token when the API refuses the
//! current one, once with a new proof when it asks for a nonce.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower_layer::Layer;
use tower_service::Service;

use super::TokenSource;
use super::dpop::{Next, Presenter, RequestUri, Retries};
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
///
/// A DPoP-bound token (see [`client`](super#dpop-rfc-9449)) goes out as
/// `Authorization: DPoP` with a fresh proof naming the request's method and URI
/// (scheme, authority and path), so the request URI must be absolute: a bare path
/// fails with [`ClientError::Proof`](super::ClientError::Proof). Inside a tonic
/// `Channel` requests carry only the path unless the generated client is made with
/// `with_origin(service, "https://api.example.com".parse()?)`. A `401` with
/// `DPoP error="use_dpop_nonce"` and a `DPoP-Nonce` header is answered once more with
/// a proof carrying that nonce (empty bodies only, as above); each origin's latest
/// nonce is used from then on, by every service of this layer.
#[derive(Clone)]
pub struct AddTokenLayer {
    source: Arc<dyn TokenSource>,
    presenter: Presenter,
}

impl AddTokenLayer {
    /// Tokens from `source`.
    pub fn new(source: impl TokenSource) -> Self {
        Self { source: Arc::new(source), presenter: Presenter::default() }
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
        AddToken { inner, source: self.source.clone(), presenter: self.presenter.clone() }
    }
}

/// The service made by [`AddTokenLayer`].
#[derive(Clone)]
pub struct AddToken<S> {
    inner: S,
    source: Arc<dyn TokenSource>,
    presenter: Presenter,
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
        let (source, presenter) = (self.source.clone(), self.presenter.clone());
        Box::pin(async move {
            // Only an empty body can be sent again.
            let template = (req.body().size_hint().exact() == Some(0)).then(|| copy(&req));
            let mut token = source.token().await?;
            let mut retries = Retries::default();
            let (mut parts, mut body) = req.into_parts();
            loop {
                let sent =
                    presenter.present(&token, &parts.method, RequestUri::Http(&parts.uri), &mut parts.headers)?;
                let response = inner.call(Request::from_parts(parts, body)).await.map_err(Into::into)?;
                let next = presenter.next(&sent, response.status(), response.headers(), &mut retries);
                let Some(again) = template.as_ref().filter(|_| next != Next::Answer) else {
                    return Ok(response);
                };
                (parts, body) = copy(again).into_parts();
                if next == Next::FreshToken {
                    tracing::debug!("API refused the token; retrying once with a new one");
                    source.invalidate(&token);
                    token = source.token().await?;
                } else {
                    tracing::debug!("API asked for a DPoP nonce; retrying once with it");
                }
                std::future::poll_fn(|cx| inner.poll_ready(cx)).await.map_err(Into::into)?;
            }
        })
    }
}

/// A copy of `req` with an empty body (only such a request is replayed).
fn copy<B: Default>(req: &Request<B>) -> Request<B> {
    let mut copy = Request::new(B::default());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    *copy.extensions_mut() = req.extensions().clone();
    copy
}
