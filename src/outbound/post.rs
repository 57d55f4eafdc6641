//! Bounded form POSTs (token requests, introspection), authenticated as the client.

use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use url::Url;

use super::exchange::{Answer, within};
use super::{ClientAuth, OutboundError};

/// What a POST returned: the status and headers, and the body read under its cap
/// (or why it could not be).
pub(crate) struct Posted {
    pub(crate) status: StatusCode,
    /// `Retry-After` and `DPoP-Nonce`, for the token request.
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) headers: HeaderMap,
    pub(crate) body: Result<Bytes, OutboundError>,
}

/// POSTs `form` to `url` as `application/x-www-form-urlencoded`, authenticated with
/// `auth`, with `headers` besides (a token request's `DPoP` proof), and reads the
/// answer (at most `max_body` bytes), all within `timeout`.
///
/// The body carries credentials and cannot be replayed, so a client that follows
/// redirects does not re-send it on `307`/`308`; an answer from anywhere but `url` is
/// refused.
pub(crate) async fn post_form(
    client: &reqwest::Client,
    url: &Url,
    auth: &ClientAuth,
    mut form: Vec<(&str, &str)>,
    headers: HeaderMap,
    max_body: usize,
    timeout: Duration,
) -> Result<Posted, OutboundError> {
    let request = client.post(url.clone()).headers(headers).header(ACCEPT, "application/json");
    let request = auth.apply(request, &mut form);
    let form = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&form).finish();
    let body = reqwest::Body::wrap(http_body_util::Full::new(Bytes::from(form)));
    let request = request.header(CONTENT_TYPE, "application/x-www-form-urlencoded").body(body);
    let exchange = async {
        let answer = Answer::send(request, "POST", url).await?;
        let (status, headers) = (answer.status(), answer.headers().clone());
        Ok(Posted { status, headers, body: answer.body(max_body).await })
    };
    within(timeout, || format!("POST {}", super::url_check::shown(url)), exchange).await
}
