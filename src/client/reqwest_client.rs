//! reqwest requests that carry tokens by themselves.

use std::sync::Arc;

use super::{ClientError, TokenSource, token_refused};

/// A reqwest client whose requests carry a token from a [`TokenSource`], retried once
/// with a fresh token on `401 invalid_token` when the request can be cloned (no
/// streaming body).
///
/// ```no_run
/// # async fn run(source: tower_bearer::client::ClientCredentials) -> Result<(), Box<dyn std::error::Error>> {
/// use tower_bearer::client::AuthorizedClient;
/// let api = AuthorizedClient::new(reqwest::Client::new(), source);
/// let items = api.send(api.get("https://orders.example.com/items")).await?.text().await?;
/// # let _ = items; Ok(()) }
/// ```
#[derive(Clone)]
pub struct AuthorizedClient {
    client: reqwest::Client,
    source: Arc<dyn TokenSource>,
}

/// Why a call through [`AuthorizedClient`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum CallError {
    /// No token could be had.
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

impl std::error::Error for CallError {}

impl AuthorizedClient {
    /// Wraps `client`, taking tokens from `source`.
    pub fn new(client: reqwest::Client, source: impl TokenSource) -> Self {
        Self { client, source: Arc::new(source) }
    }

    /// A GET request builder (send it with [`send`](Self::send)).
    pub fn get(&self, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
        self.client.get(url)
    }

    /// A POST request builder (send it with [`send`](Self::send)).
    pub fn post(&self, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
        self.client.post(url)
    }

    /// Sends `request` with a token.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, CallError> {
        let request = request.build().map_err(CallError::Http)?;
        let replay = request.try_clone();
        let token = self.source.token().await.map_err(CallError::Token)?;
        let response = self.execute(request, &token).await?;
        match replay {
            Some(again) if token_refused(response.status(), response.headers()) => {
                tracing::debug!("API refused the token; retrying once with a new one");
                self.source.invalidate(&token);
                let fresh = self.source.token().await.map_err(CallError::Token)?;
                self.execute(again, &fresh).await
            }
            _ => Ok(response),
        }
    }

    async fn execute(
        &self,
        mut request: reqwest::Request,
        token: &super::AccessToken,
    ) -> Result<reqwest::Response, CallError> {
        let value = token.header_value().map_err(CallError::Token)?;
        request.headers_mut().insert(reqwest::header::AUTHORIZATION, value);
        self.client.execute(request).await.map_err(CallError::Http)
    }
}
