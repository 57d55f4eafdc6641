//! Tokens in a form-encoded body (RFC 6750 §2.2). Opt-in.
//!
//! A separate layer: [`FormBodyLayer`] buffers `application/x-www-form-urlencoded`
//! bodies (bounded, 64 KiB by default), puts any `access_token` field into the request
//! extensions and hands the body on unchanged; the [`FormBodyParameter`] source lets
//! [`BearerLayer`](crate::BearerLayer) read it. [`BearerLayer::with_form_body`](crate::BearerLayer::with_form_body) stacks
//! both in the right order.
//!
//! Per §2.2 only requests that have a body, are not `GET`, carry exactly this content
//! type and carry no `Authorization` header are read.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Limited};
use tower_layer::Layer;
use tower_service::Service;

use super::syntax::decode_form_value;
use super::{BearerToken, RequestHead, TokenLocation};
use crate::reject::InvalidRequest;

/// Default cap on a buffered form body.
pub const DEFAULT_MAX_FORM_BODY: usize = 64 * 1024;

/// What [`FormBodyLayer`] found, stored in request extensions.
#[derive(Clone, Debug)]
struct FoundInForm(Result<BearerToken, InvalidRequest>);

/// A [`TokenLocation`] reading the `access_token` that [`FormBodyLayer`] found.
#[derive(Debug, Clone, Copy, Default)]
pub struct FormBodyParameter;

impl TokenLocation for FormBodyParameter {
    fn extract(&self, req: &RequestHead<'_>) -> Result<Option<BearerToken>, InvalidRequest> {
        match req.extensions().and_then(|e| e.get::<FoundInForm>()) {
            None => Ok(None),
            Some(FoundInForm(found)) => found.clone().map(Some),
        }
    }
}

/// Buffers form-encoded bodies to find an `access_token` field; see the module docs.
#[derive(Debug, Clone, Copy)]
pub struct FormBodyLayer {
    max_body: usize,
}

impl FormBodyLayer {
    /// A layer buffering at most `max_body` bytes (larger form bodies get `413`, a body
    /// that fails to arrive `400`).
    pub fn new(max_body: usize) -> Self {
        Self { max_body }
    }
}

impl Default for FormBodyLayer {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FORM_BODY)
    }
}

impl<S> Layer<S> for FormBodyLayer {
    type Service = FormBody<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FormBody { inner, max_body: self.max_body }
    }
}

/// The service made by [`FormBodyLayer`].
#[derive(Debug, Clone)]
pub struct FormBody<S> {
    inner: S,
    max_body: usize,
}

impl<S> FormBody<S> {
    inner_service_accessors!();
}

fn carries_form(req: &Request<impl Body>) -> bool {
    req.method() != Method::GET
        && !req.headers().contains_key(AUTHORIZATION)
        && req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

impl<S, B, ResBody> Service<Request<B>> for FormBody<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    B: Body + From<Bytes> + Send + 'static,
    B::Data: Send,
    B::Error: std::error::Error + Send + Sync + 'static,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResBody>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if !carries_form(&req) {
            return Box::pin(inner.call(req));
        }
        let max = self.max_body;
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            let bytes = match Limited::new(body, max).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) => {
                    // Only size is 413; a body that breaks off or is malformed is the
                    // client's bad request.
                    let too_large = e.downcast_ref::<http_body_util::LengthLimitError>().is_some();
                    let mut res = Response::new(ResBody::default());
                    *res.status_mut() = if too_large { StatusCode::PAYLOAD_TOO_LARGE } else { StatusCode::BAD_REQUEST };
                    return Ok(res);
                }
            };
            if let Some(found) = find_access_token(&bytes) {
                parts.extensions.insert(FoundInForm(found));
            }
            inner.call(Request::from_parts(parts, B::from(bytes))).await
        })
    }
}

/// The `access_token` field of a form body: `None` if absent, an error if repeated
/// or not a valid `b64token`.
fn find_access_token(body: &[u8]) -> Option<Result<BearerToken, InvalidRequest>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut found: Option<Result<BearerToken, InvalidRequest>> = None;
    for pair in text.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name != "access_token" {
            continue;
        }
        if found.is_some() {
            return Some(Err(InvalidRequest::MultipleCredentials));
        }
        found = Some(decode_form_value(value).map(BearerToken::new));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_field() {
        assert_eq!(find_access_token(b"a=1&access_token=abc.def").unwrap().unwrap().as_str(), "abc.def");
        assert!(find_access_token(b"a=1").is_none());
        assert_eq!(
            find_access_token(b"access_token=a&access_token=b").unwrap().unwrap_err(),
            InvalidRequest::MultipleCredentials
        );
        assert_eq!(find_access_token(b"access_token=a%20b").unwrap().unwrap_err(), InvalidRequest::MalformedHeader);
    }
}
