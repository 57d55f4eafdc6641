//! [`MetadataService`]: the document over HTTP, `GET` and `HEAD` only, cacheable.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use sha2::{Digest, Sha256};

/// How long clients and caches may keep the document; the `ETag` makes revalidation cheap.
const CACHE: &str = "public, max-age=3600";

/// Serves one layer's RFC 9728 document as `application/json`: `200` to `GET`, headers
/// only to `HEAD`, `304` to a matching `If-None-Match`, `405` to any other method.
/// It answers whatever path it is mounted at; mount it at each of
/// [`paths`](Self::paths), outside the [`BearerLayer`](crate::BearerLayer) (the
/// document is public). From [`BearerLayer::metadata_service`](crate::BearerLayer::metadata_service).
///
/// A plain tower service: axum's `route_service`, tonic's `Routes` or a hand-written
/// hyper dispatch all take it.
#[derive(Clone)]
pub struct MetadataService {
    body: Bytes,
    etag: HeaderValue,
    paths: Arc<[String]>,
}

impl MetadataService {
    pub(crate) fn new(body: Bytes, paths: &[String]) -> Self {
        let etag = etag_of(&body);
        Self { body, etag, paths: paths.into() }
    }

    /// The paths to mount this service at: `/.well-known/oauth-protected-resource`
    /// and, for a resource with a path, its RFC 9728 §3.1 form.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.paths.iter().map(String::as_str)
    }

    /// The document's JSON text.
    pub fn document(&self) -> &[u8] {
        &self.body
    }

    fn answer(&self, method: &Method, headers: &HeaderMap) -> Response<Full<Bytes>> {
        let cache = HeaderValue::from_static(CACHE);
        serve_document(&self.body, &self.etag, "application/json", cache, method, headers)
    }
}

/// A strong `ETag` for `body`: the first 128 bits of its SHA-256, in hex.
pub(crate) fn etag_of(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    // Hex digits in quotes are always a valid header value.
    HeaderValue::from_str(&format!("\"{hex}\"")).unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// A public, cacheable document: `200` to `GET`, headers only to `HEAD`, `304` to a
/// matching `If-None-Match`, `405` to any other method.
pub(crate) fn serve_document(
    body: &Bytes,
    etag: &HeaderValue,
    content_type: &'static str,
    cache: HeaderValue,
    method: &Method,
    headers: &HeaderMap,
) -> Response<Full<Bytes>> {
    let head = method == Method::HEAD;
    if !head && method != Method::GET {
        return method_not_allowed();
    }
    let not_modified = headers.get_all(IF_NONE_MATCH).iter().any(|v| etag_matches(etag, v));
    let sent = if head || not_modified { Bytes::new() } else { body.clone() };
    let mut res = Response::new(Full::new(sent));
    let h = res.headers_mut();
    h.insert(ETAG, etag.clone());
    h.insert(CACHE_CONTROL, cache);
    if not_modified {
        *res.status_mut() = StatusCode::NOT_MODIFIED;
        return res;
    }
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    res
}

/// RFC 9110 §13.1.2: `*`, or any listed tag equal under weak comparison.
fn etag_matches(etag: &HeaderValue, value: &HeaderValue) -> bool {
    let Ok(text) = value.to_str() else { return false };
    text.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == etag.as_bytes())
}

/// `405` with `Allow: GET, HEAD`: the answer of the crate's read-only endpoints to
/// other methods.
pub(crate) fn method_not_allowed() -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    res.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    res
}

impl std::fmt::Debug for MetadataService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataService")
            .field("paths", &self.paths)
            .field("document", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

impl<B> tower_service::Service<Request<B>> for MetadataService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        ready(Ok(self.answer(req.method(), req.headers())))
    }
}
