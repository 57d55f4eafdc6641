//! Bounded GETs (JWK sets, discovery documents), with `ETag` revalidation and
//! `Cache-Control: max-age`.

use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CACHE_CONTROL, ETAG, HeaderMap, IF_NONE_MATCH};
use url::Url;

use super::OutboundError;
use super::exchange::{Answer, within};

/// What a GET returned.
#[derive(Debug)]
pub(crate) enum Fetched {
    Body {
        body: Bytes,
        etag: Option<String>,
        max_age: Option<Duration>,
    },
    /// `304` to our `If-None-Match`: the cached copy is still current.
    NotModified {
        max_age: Option<Duration>,
    },
}

/// GET `url`; only `200` (or `304` when `etag` was sent) counts, the body is capped
/// at `max_body` bytes, and the whole exchange is bounded by `timeout`. The answer's
/// headers come along, for reports (`tower-bearer jwks`).
pub(crate) async fn get(
    client: &reqwest::Client,
    url: &Url,
    accept: &str,
    etag: Option<&str>,
    max_body: usize,
    timeout: Duration,
) -> Result<(Fetched, HeaderMap), OutboundError> {
    let mut request = client.get(url.clone()).header(ACCEPT, accept);
    if let Some(etag) = etag {
        request = request.header(IF_NONE_MATCH, etag);
    }
    let exchange = async {
        let answer = Answer::send(request, "GET", url).await?;
        let status = answer.status();
        let headers = answer.headers().clone();
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
        let max_age = header(CACHE_CONTROL).and_then(parse_max_age);
        if status == StatusCode::NOT_MODIFIED && etag.is_some() {
            return Ok((Fetched::NotModified { max_age }, headers));
        }
        if status != StatusCode::OK {
            return Err(OutboundError::new(format!("{}: status {status} (only 200 is accepted)", answer.what())));
        }
        let etag = header(ETAG).map(str::to_owned);
        let body = answer.body(max_body).await?;
        Ok((Fetched::Body { body, etag, max_age }, headers))
    };
    within(timeout, || format!("GET {}", super::url_check::shown(url)), exchange).await
}

/// `max-age=N` from a `Cache-Control` value (`no-store`/`no-cache` count as zero).
fn parse_max_age(value: &str) -> Option<Duration> {
    let mut max_age = None;
    for directive in value.split(',') {
        let directive = directive.trim();
        if directive.eq_ignore_ascii_case("no-store") || directive.eq_ignore_ascii_case("no-cache") {
            return Some(Duration::ZERO);
        }
        if let Some((name, v)) = directive.split_once('=')
            && name.trim().eq_ignore_ascii_case("max-age")
        {
            max_age = v.trim().trim_matches('"').parse::<u64>().ok().map(Duration::from_secs);
        }
    }
    max_age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age() {
        assert_eq!(parse_max_age("public, max-age=300"), Some(Duration::from_secs(300)));
        assert_eq!(parse_max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(parse_max_age("public"), None);
    }
}
