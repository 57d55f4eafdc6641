//! The part of a request a [`TokenLocation`](super::TokenLocation) may look at.

use http::{Extensions, HeaderMap, Method, Request, Uri};

/// A read-only view of the request head handed to [`TokenLocation`](super::TokenLocation)s.
///
/// ```
/// use tower_bearer::token::RequestHead;
/// let req = http::Request::get("/items?access_token=abc").body(()).unwrap();
/// let head = RequestHead::from_request(&req);
/// assert_eq!(head.uri().query(), Some("access_token=abc"));
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RequestHead<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    extensions: Option<&'a Extensions>,
}

impl<'a> RequestHead<'a> {
    /// The head of `req`, extensions included.
    pub fn from_request<B>(req: &'a Request<B>) -> Self {
        Self { method: req.method(), uri: req.uri(), headers: req.headers(), extensions: Some(req.extensions()) }
    }

    /// A head built from its parts, without extensions (for tests, benchmarks and
    /// places that have no request, such as a login form).
    pub fn new(method: &'a Method, uri: &'a Uri, headers: &'a HeaderMap) -> Self {
        Self { method, uri, headers, extensions: None }
    }

    /// The request method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The request URI.
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }

    /// The request headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The request extensions, where earlier layers may have left a credential (e.g.
    /// [`FormBodyLayer`](super::FormBodyLayer)); `None` where unavailable.
    pub fn extensions(&self) -> Option<&'a Extensions> {
        self.extensions
    }
}
