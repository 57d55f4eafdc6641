//! The rules every exchange follows: the answer comes from the URL we asked (no
//! redirect), the whole exchange has a deadline, and a body is read only capped.

use std::future::Future;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{CONTENT_LENGTH, HeaderMap};
use reqwest::{RequestBuilder, Response, StatusCode};
use url::Url;

use super::OutboundError;

/// An answer from the URL we asked. Its body can only be read capped.
pub(crate) struct Answer {
    response: Response,
    /// `GET https://…`, for messages.
    what: String,
}

impl Answer {
    /// Sends `request` (a `method` to `url`). A user-supplied client may follow
    /// redirects, which would bypass the HTTPS-only and no-redirect rules: an answer
    /// from anywhere but `url` is refused.
    pub(crate) async fn send(request: RequestBuilder, method: &str, url: &Url) -> Result<Self, OutboundError> {
        let what = format!("{method} {}", super::url_check::shown(url));
        let response = request.send().await.map_err(|e| OutboundError::http(&what, e))?;
        if response.url() != url {
            return Err(OutboundError::new(format!(
                "{what}: redirected to {} (redirects are not followed)",
                super::url_check::shown(response.url())
            )));
        }
        Ok(Self { response, what })
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.response.status()
    }

    pub(crate) fn headers(&self) -> &HeaderMap {
        self.response.headers()
    }

    /// `GET https://…`.
    pub(crate) fn what(&self) -> &str {
        &self.what
    }

    /// The body, refused as soon as it exceeds `max_body` bytes (declared or
    /// streamed): never buffered whole.
    pub(crate) async fn body(mut self, max_body: usize) -> Result<Bytes, OutboundError> {
        let too_large = |what: &str| OutboundError::new(format!("{what}: body larger than {max_body} bytes"));
        let declared = self
            .response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > max_body as u64) {
            return Err(too_large(&self.what));
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = self.response.chunk().await.map_err(|e| OutboundError::http(&self.what, e))? {
            if body.len().saturating_add(chunk.len()) > max_body {
                return Err(too_large(&self.what));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }
}

/// `exchange`, or a timeout error naming `what` once `timeout` has passed.
pub(crate) async fn within<T>(
    timeout: Duration,
    what: impl FnOnce() -> String,
    exchange: impl Future<Output = Result<T, OutboundError>>,
) -> Result<T, OutboundError> {
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(OutboundError::new(format!("{}: no answer within {timeout:?}", what()))),
    }
}
