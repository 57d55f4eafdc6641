//! Bounded HTTP GETs for JWK sets and discovery documents, and the same rules (no
//! redirects, capped bodies) for the token and introspection POSTs.

use std::net::IpAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_LENGTH, ETAG, IF_NONE_MATCH};
use url::Url;

/// Accept header for JWK sets (RFC 7517 §8.5).
pub(crate) const JWKS_ACCEPT: &str = "application/jwk-set+json, application/json";

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

/// What a URL is for, and how its builder allows plain HTTP: refusals name both.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UrlUse {
    /// "JWKS URL", "token endpoint", "introspection endpoint".
    what: &'static str,
    /// Its member in a discovery document.
    field: &'static str,
    /// The call that allows plain HTTP on a closed network, for a configured URL and
    /// for one reached through discovery.
    opt_out: [&'static str; 2],
    via: Via,
}

/// Where the checked URL came from.
#[derive(Clone, Copy, Debug)]
enum Via {
    /// Configured as the endpoint itself.
    Configured,
    /// The issuer whose discovery document names the endpoint.
    Issuer,
    /// Found in the discovery document.
    Discovered,
}

/// A JWK set.
pub(crate) const JWKS: UrlUse = UrlUse {
    what: "JWKS URL",
    field: "jwks_uri",
    opt_out: [
        "Issuer::keys(RemoteJwks::builder().jwks_url(..).dangerous_allow_http(true).build()?)",
        "Issuer::keys(RemoteJwks::builder().discovery(..).dangerous_allow_http(true).build()?)",
    ],
    via: Via::Configured,
};

/// An OAuth token endpoint (client credentials).
#[cfg(feature = "client")]
pub(crate) const TOKEN_ENDPOINT: UrlUse = UrlUse {
    what: "token endpoint",
    field: "token_endpoint",
    opt_out: ["ClientCredentials::builder().dangerous_allow_http(true)"; 2],
    via: Via::Configured,
};

/// An RFC 7662 introspection endpoint.
#[cfg(feature = "introspection")]
pub(crate) const INTROSPECTION_ENDPOINT: UrlUse = UrlUse {
    what: "introspection endpoint",
    field: "introspection_endpoint",
    opt_out: ["IntrospectionVerifier::builder().dangerous_allow_http(true)"; 2],
    via: Via::Configured,
};

impl UrlUse {
    /// The issuer URL whose discovery document locates this endpoint.
    pub(crate) const fn issuer(self) -> Self {
        Self { via: Via::Issuer, ..self }
    }

    /// This endpoint as found in a discovery document.
    const fn discovered(self) -> Self {
        Self { via: Via::Discovered, ..self }
    }

    fn opt_out(&self) -> &'static str {
        let [configured, discovered] = self.opt_out;
        if matches!(self.via, Via::Configured) { configured } else { discovered }
    }

    /// "the token endpoint https://…", "the issuer https://… (discovery of its JWKS URL)".
    fn describe(&self, url: &Url) -> String {
        let mut shown = url.clone();
        let _ = shown.set_password(None); // never in an error message
        match self.via {
            Via::Configured => format!("the {} {shown}", self.what),
            Via::Issuer => format!("the issuer {shown} (discovery of its {})", self.what),
            Via::Discovered => format!("the {} {shown} ({} of the discovery document)", self.what, self.field),
        }
    }
}

/// Only `https`, except for loopback hosts (or when the user opted out). A scheme that
/// is neither is a typo (`htps://`) and is named as such.
pub(crate) fn check_url(url: &Url, allow_http: bool, used_for: UrlUse) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http || is_loopback(url) => Ok(()),
        "http" => Err(format!(
            "refusing plain http:// for {}: HTTPS is required except on loopback (localhost, 127.0.0.1, ::1); \
             on a closed network (e.g. docker-compose http://keycloak:8080) opt out with {}",
            used_for.describe(url),
            used_for.opt_out()
        )),
        other => Err(format!(
            "unsupported scheme {other:?} in {}: use https:// (http:// only on loopback)",
            used_for.describe(url)
        )),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// GET `url`; only `200` (or `304` when `etag` was sent) counts, the body is capped
/// at `max_body` bytes, and the whole exchange is bounded by `timeout`.
pub(crate) async fn get(
    client: &reqwest::Client,
    url: &Url,
    accept: &str,
    etag: Option<&str>,
    max_body: usize,
    timeout: Duration,
) -> Result<Fetched, String> {
    match tokio::time::timeout(timeout, get_unbounded(client, url, accept, etag, max_body)).await {
        Ok(result) => result,
        Err(_) => Err(format!("GET {url} timed out after {timeout:?}")),
    }
}

async fn get_unbounded(
    client: &reqwest::Client,
    url: &Url,
    accept: &str,
    etag: Option<&str>,
    max_body: usize,
) -> Result<Fetched, String> {
    let mut request = client.get(url.clone()).header(ACCEPT, accept);
    if let Some(etag) = etag {
        request = request.header(IF_NONE_MATCH, etag);
    }
    let mut response = request.send().await.map_err(|e| format!("GET {url}: {}", error_chain(&e)))?;
    check_not_redirected(&response, "GET", url)?;
    let status = response.status();
    let max_age = response.headers().get(CACHE_CONTROL).and_then(|v| v.to_str().ok()).and_then(parse_max_age);
    if status == reqwest::StatusCode::NOT_MODIFIED && etag.is_some() {
        return Ok(Fetched::NotModified { max_age });
    }
    if status != reqwest::StatusCode::OK {
        return Err(format!("GET {url}: status {status} (only 200 is accepted)"));
    }
    let new_etag = response.headers().get(ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = read_capped(&mut response, "GET", url, max_body).await?;
    Ok(Fetched::Body { body, etag: new_etag, max_age })
}

/// The answer must come from `url` itself: a user-supplied client may follow
/// redirects, which would bypass the HTTPS-only and no-redirect rules.
pub(crate) fn check_not_redirected(response: &reqwest::Response, method: &str, url: &Url) -> Result<(), String> {
    if response.url() != url {
        return Err(format!("{method} {url}: redirected to {} (redirects are not followed)", response.url()));
    }
    Ok(())
}

/// The body, refused as soon as it exceeds `max_body` bytes (declared or streamed):
/// never buffered whole.
pub(crate) async fn read_capped(
    response: &mut reqwest::Response,
    method: &str,
    url: &Url,
    max_body: usize,
) -> Result<Bytes, String> {
    let too_large = || format!("{method} {url}: body larger than {max_body} bytes");
    let declared =
        response.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max_body as u64) {
        return Err(too_large());
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("{method} {url}: {}", error_chain(&e)))? {
        if body.len().saturating_add(chunk.len()) > max_body {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

#[cfg(any(feature = "client", feature = "introspection"))]
/// POSTs a form (token request, introspection) whose body carries credentials.
/// The body cannot be replayed, so a client that follows redirects does not re-send
/// it on `307`/`308`; an answer from anywhere but `url` is refused.
pub(crate) async fn post_form(
    request: reqwest::RequestBuilder,
    url: &Url,
    form: String,
) -> Result<reqwest::Response, String> {
    let body = reqwest::Body::wrap(http_body_util::Full::new(Bytes::from(form)));
    let response = request
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("POST {url}: {}", error_chain(&e)))?;
    check_not_redirected(&response, "POST", url)?;
    Ok(response)
}

/// `max-age=N` from a `Cache-Control` value (`no-store`/`no-cache` count as zero).
pub(crate) fn parse_max_age(value: &str) -> Option<Duration> {
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

/// Finds `jwks_uri` for `issuer`: OpenID Connect discovery first, then RFC 8414.
/// The document's `issuer` must equal the configured one exactly.
pub(crate) async fn discover(
    client: &reqwest::Client,
    issuer: &str,
    allow_http: bool,
    same_origin: bool,
    max_body: usize,
    timeout: Duration,
) -> Result<Url, String> {
    discover_endpoint(client, issuer, JWKS, allow_http, same_origin, max_body, timeout).await
}

/// Finds the URL of `endpoint` (its member `jwks_uri`, `introspection_endpoint`...) in
/// `issuer`'s discovery document; same rules as [`discover`].
pub(crate) async fn discover_endpoint(
    client: &reqwest::Client,
    issuer: &str,
    endpoint: UrlUse,
    allow_http: bool,
    same_origin: bool,
    max_body: usize,
    timeout: Duration,
) -> Result<Url, String> {
    let field = endpoint.field;
    let base = Url::parse(issuer).map_err(|e| format!("issuer {issuer:?} is not a URL: {e}"))?;
    check_url(&base, allow_http, endpoint.issuer())?;
    let mut errors = Vec::new();
    for url in discovery_urls(&base) {
        let body = match get(client, &url, "application/json", None, max_body, timeout).await {
            Ok(Fetched::Body { body, .. }) => body,
            Ok(Fetched::NotModified { .. }) => continue,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let doc: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("discovery document at {url} is not JSON: {e}"))?;
        let found = doc.get("issuer").and_then(|v| v.as_str());
        if found != Some(issuer) {
            return Err(format!("discovery document at {url} names issuer {found:?}, expected {issuer:?}"));
        }
        let found = doc
            .get(field)
            .and_then(|v| v.as_str())
            .ok_or_else(|| format!("discovery document at {url} has no {field}"))?;
        let found = Url::parse(found).map_err(|e| format!("{field} {found:?} is not a URL: {e}"))?;
        check_url(&found, allow_http, endpoint.discovered())?;
        if same_origin && found.origin() != base.origin() {
            return Err(format!("{field} {found} is not on the issuer's origin"));
        }
        return Ok(found);
    }
    Err(format!("discovery failed for {issuer}: {}", errors.join("; ")))
}

#[cfg(any(feature = "client", feature = "introspection"))]
/// An endpoint given as a URL, or found in an issuer's discovery document on first use
/// (and remembered).
pub(crate) struct Endpoint {
    source: EndpointSource,
    resolved: arc_swap::ArcSwapOption<Url>,
}

#[cfg(any(feature = "client", feature = "introspection"))]
enum EndpointSource {
    Url(Url),
    Discover { issuer: String, endpoint: UrlUse },
}

#[cfg(any(feature = "client", feature = "introspection"))]
impl Endpoint {
    /// A fixed URL for `endpoint`; it must pass [`check_url`].
    pub(crate) fn url(url: &str, endpoint: UrlUse, allow_http: bool) -> Result<Self, String> {
        let url = Url::parse(url).map_err(|e| format!("{} {url:?} is not a URL: {e}", endpoint.what))?;
        check_url(&url, allow_http, endpoint)?;
        Ok(Self { source: EndpointSource::Url(url), resolved: Default::default() })
    }

    /// The URL of `endpoint` in `issuer`'s discovery document.
    pub(crate) fn discover(issuer: &str, endpoint: UrlUse, allow_http: bool) -> Result<Self, String> {
        let url = Url::parse(issuer).map_err(|e| format!("issuer {issuer:?} is not a URL: {e}"))?;
        check_url(&url, allow_http, endpoint.issuer())?;
        let source = EndpointSource::Discover { issuer: issuer.to_owned(), endpoint };
        Ok(Self { source, resolved: Default::default() })
    }

    /// The configured URL or issuer, for logs and keys.
    #[cfg(feature = "client")]
    pub(crate) fn describe(&self) -> String {
        match &self.source {
            EndpointSource::Url(u) => u.to_string(),
            EndpointSource::Discover { issuer, endpoint } => format!("{issuer}#{}", endpoint.field),
        }
    }

    /// The URL, discovering it the first time.
    pub(crate) async fn resolve(
        &self,
        client: &reqwest::Client,
        allow_http: bool,
        timeout: Duration,
    ) -> Result<Url, String> {
        if let Some(url) = self.resolved.load_full() {
            return Ok((*url).clone());
        }
        let url = match &self.source {
            EndpointSource::Url(u) => u.clone(),
            EndpointSource::Discover { issuer, endpoint } => {
                discover_endpoint(client, issuer, *endpoint, allow_http, false, 1024 * 1024, timeout).await?
            }
        };
        self.resolved.store(Some(std::sync::Arc::new(url.clone())));
        Ok(url)
    }
}

#[cfg(any(feature = "client", feature = "introspection"))]
/// HTTP Basic client authentication with id and secret form-encoded first
/// (RFC 6749 §2.3.1), as OAuth servers expect.
pub(crate) fn client_basic_auth(request: reqwest::RequestBuilder, id: &str, secret: &str) -> reqwest::RequestBuilder {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    request.basic_auth(encode(id), Some(encode(secret)))
}

/// `<issuer>/.well-known/openid-configuration`, then RFC 8414's
/// `<origin>/.well-known/oauth-authorization-server<issuer path>`.
fn discovery_urls(issuer: &Url) -> [Url; 2] {
    let path = issuer.path().trim_end_matches('/');
    let mut oidc = issuer.clone();
    oidc.set_path(&format!("{path}/.well-known/openid-configuration"));
    let mut rfc8414 = issuer.clone();
    rfc8414.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    [oidc, rfc8414]
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_except_loopback() {
        for ok in ["https://idp.example.com/jwks", "http://127.0.0.1:8080/j", "http://localhost/j", "http://[::1]/j"] {
            assert!(check_url(&Url::parse(ok).unwrap(), false, JWKS).is_ok(), "{ok}");
        }
        for bad in ["http://idp.example.com/jwks", "http://10.0.0.1/j", "file:///etc/passwd", "ftp://x/y"] {
            assert!(check_url(&Url::parse(bad).unwrap(), false, JWKS).is_err(), "{bad}");
        }
        assert!(check_url(&Url::parse("http://idp.example.com/jwks").unwrap(), true, JWKS).is_ok());
    }

    #[test]
    fn max_age() {
        assert_eq!(parse_max_age("public, max-age=300"), Some(Duration::from_secs(300)));
        assert_eq!(parse_max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(parse_max_age("public"), None);
    }

    #[test]
    fn discovery_locations() {
        let [a, b] = discovery_urls(&Url::parse("https://idp.example.com/realms/x/").unwrap());
        assert_eq!(a.as_str(), "https://idp.example.com/realms/x/.well-known/openid-configuration");
        assert_eq!(b.as_str(), "https://idp.example.com/.well-known/oauth-authorization-server/realms/x");
    }
}
