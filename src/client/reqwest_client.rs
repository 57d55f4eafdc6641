//! reqwest requests that carry tokens by themselves.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Body, IntoUrl, Method, RequestBuilder, Response, Version};

use super::dpop::{Next, Presenter, RequestUri, Retries};
use super::{AccessToken, ClientError, TokenSource};

/// A reqwest client whose requests carry a token from a [`TokenSource`], retried once
/// with a fresh token on `401 invalid_token` when the request can be cloned (no
/// streaming body).
///
/// A DPoP-bound token (see [`client`](super#dpop-rfc-9449)) goes out as
/// `Authorization: DPoP` with a fresh proof per request; a `401` with
/// `DPoP error="use_dpop_nonce"` and a `DPoP-Nonce` header is retried once with a
/// proof carrying that nonce (same rule: the request must be cloneable), and each
/// origin's latest nonce is used from then on by this client and its clones. For
/// certificate-bound tokens (RFC 8705), give [`new`](Self::new) a client built with
/// `reqwest::Client::builder().identity(..)`.
///
/// Build requests with [`request`](Self::request) (or [`get`](Self::get),
/// [`post`](Self::post), [`put`](Self::put), [`patch`](Self::patch),
/// [`delete`](Self::delete), [`head`](Self::head)) and send them with
/// [`AuthorizedRequest::send`]; a builder from your own `reqwest::Client` goes through
/// [`send`](Self::send). Name the crate as [`tower_bearer::client::reqwest`](super::reqwest)
/// so your reqwest types are the version this client takes.
///
/// ```no_run
/// # async fn run(source: tower_bearer::client::ClientCredentials) -> Result<(), Box<dyn std::error::Error>> {
/// use tower_bearer::client::{AuthorizedClient, reqwest};
/// let api = AuthorizedClient::new(reqwest::Client::new(), source);
/// let items = api.get("https://orders.example.com/items").send().await?.text().await?;
/// api.put("https://orders.example.com/items/7")
///     .header("content-type", "application/json")
///     .body(r#"{"name":"lamp"}"#)
///     .send()
///     .await?
///     .error_for_status()?;
/// # let _ = items; Ok(()) }
/// ```
#[derive(Clone)]
pub struct AuthorizedClient {
    client: reqwest::Client,
    source: Arc<dyn TokenSource>,
    presenter: Presenter,
}

/// Why a call through [`AuthorizedClient`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum CallError {
    /// No token could be had, or no DPoP proof made for the request
    /// ([`ClientError::Proof`]).
    Token(ClientError),
    /// The HTTP exchange failed.
    Http(reqwest::Error),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Token(e) => e.fmt(f),
            Self::Http(e) => e.fmt(f),
        }
    }
}

/// `Display` is the inner error's, so `source()` continues with its cause.
impl std::error::Error for CallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Token(e) => e.source(),
            Self::Http(e) => e.source(),
        }
    }
}

impl AuthorizedClient {
    /// Wraps `client`, taking tokens from `source`.
    pub fn new(client: reqwest::Client, source: impl TokenSource) -> Self {
        Self { client, source: Arc::new(source), presenter: Presenter::default() }
    }

    /// A request with any method; the token is added when it is sent.
    pub fn request(&self, method: Method, url: impl IntoUrl) -> AuthorizedRequest {
        AuthorizedRequest { client: self.clone(), builder: self.client.request(method, url) }
    }

    /// A `GET` request.
    pub fn get(&self, url: impl IntoUrl) -> AuthorizedRequest {
        self.request(Method::GET, url)
    }

    /// A `POST` request.
    pub fn post(&self, url: impl IntoUrl) -> AuthorizedRequest {
        self.request(Method::POST, url)
    }

    /// A `PUT` request.
    pub fn put(&self, url: impl IntoUrl) -> AuthorizedRequest {
        self.request(Method::PUT, url)
    }

    /// A `PATCH` request.
    pub fn patch(&self, url: impl IntoUrl) -> AuthorizedRequest {
        self.request(Method::PATCH, url)
    }

    /// A `DELETE` request.
    pub fn delete(&self, url: impl IntoUrl) -> AuthorizedRequest {
        self.request(Method::DELETE, url)
    }

    /// A `HEAD` request.
    pub fn head(&self, url: impl IntoUrl) -> AuthorizedRequest {
        self.request(Method::HEAD, url)
    }

    /// Sends `request` (an [`AuthorizedRequest`], or a builder from any
    /// `reqwest::Client`: it is sent through this one) with a token.
    pub async fn send(&self, request: impl Into<RequestBuilder>) -> Result<Response, CallError> {
        let mut request = request.into().build().map_err(CallError::Http)?;
        let mut token = self.source.token().await.map_err(CallError::Token)?;
        let mut retries = Retries::default();
        loop {
            let replay = request.try_clone();
            let (response, next) = self.execute(request, &token, &mut retries).await?;
            let Some(again) = replay.filter(|_| next != Next::Answer) else { return Ok(response) };
            if next == Next::FreshToken {
                tracing::debug!("API refused the token; retrying once with a new one");
                self.source.invalidate(&token);
                token = self.source.token().await.map_err(CallError::Token)?;
            } else {
                tracing::debug!("API asked for a DPoP nonce; retrying once with it");
            }
            request = again;
        }
    }

    /// Sends `request` with `token`, and says what to do with the answer.
    async fn execute(
        &self,
        mut request: reqwest::Request,
        token: &AccessToken,
        retries: &mut Retries,
    ) -> Result<(Response, Next), CallError> {
        let (method, url) = (request.method().clone(), request.url().clone());
        let sent = self
            .presenter
            .present(token, &method, RequestUri::Url(&url), request.headers_mut())
            .map_err(CallError::Token)?;
        let response = self.client.execute(request).await.map_err(CallError::Http)?;
        let next = self.presenter.next(&sent, response.status(), response.headers(), retries);
        Ok((response, next))
    }
}

/// A request of an [`AuthorizedClient`]: a `reqwest::RequestBuilder` that gets the
/// token, and one retry with a fresh token, when [sent](Self::send).
///
/// The common builder methods are here; [`with`](Self::with) reaches every other one
/// (`json`, `form`, `query`, `multipart`: whichever reqwest features your application
/// enables).
///
/// ```no_run
/// # async fn run(api: tower_bearer::client::AuthorizedClient) -> Result<(), Box<dyn std::error::Error>> {
/// // `json` needs reqwest's `json` feature in your Cargo.toml.
/// let new_order = serde_json::json!({"item": 7, "quantity": 2});
/// let created = api.post("https://orders.example.com/orders").with(|r| r.json(&new_order)).send().await?;
/// # let _ = created; Ok(()) }
/// ```
#[must_use = "a request does nothing until it is sent"]
pub struct AuthorizedRequest {
    client: AuthorizedClient,
    builder: RequestBuilder,
}

impl AuthorizedRequest {
    /// Adds a header (an `Authorization` header is replaced by the token).
    pub fn header<K, V>(self, key: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.with(|b| b.header(key, value))
    }

    /// Adds these headers.
    pub fn headers(self, headers: HeaderMap) -> Self {
        self.with(|b| b.headers(headers))
    }

    /// The body. A streaming body cannot be replayed, so such a request is not retried.
    pub fn body(self, body: impl Into<Body>) -> Self {
        self.with(|b| b.body(body))
    }

    /// A timeout for this request, from connecting until the response body is read.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.with(|b| b.timeout(timeout))
    }

    /// The HTTP version.
    pub fn version(self, version: Version) -> Self {
        self.with(|b| b.version(version))
    }

    /// Applies any `reqwest::RequestBuilder` method, e.g. `.with(|r| r.json(&body))`.
    pub fn with(mut self, f: impl FnOnce(RequestBuilder) -> RequestBuilder) -> Self {
        self.builder = f(self.builder);
        self
    }

    /// Sends it with a token; see [`AuthorizedClient`].
    pub async fn send(self) -> Result<Response, CallError> {
        let Self { client, builder } = self;
        client.send(builder).await
    }
}

impl From<AuthorizedRequest> for RequestBuilder {
    fn from(request: AuthorizedRequest) -> Self {
        request.builder
    }
}
