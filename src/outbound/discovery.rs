//! Finding an endpoint in an issuer's discovery document: OpenID Connect discovery
//! first, then RFC 8414.

use std::time::Duration;

use url::Url;

use super::get::{Fetched, get};
use super::{OutboundError, UrlUse, check_url};

/// The rules a discovered URL must meet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rules {
    /// Plain `http://` allowed off loopback.
    pub(crate) allow_http: bool,
    /// The endpoint must share the issuer's origin.
    pub(crate) same_origin: bool,
    /// Largest accepted discovery document.
    pub(crate) max_body: usize,
}

impl Rules {
    /// Discovery documents are small: 1 MiB is generous.
    pub(crate) const DEFAULT_MAX_BODY: usize = 1024 * 1024;

    /// Default rules, with `allow_http` as configured.
    pub(crate) const fn allowing_http(allow_http: bool) -> Self {
        Self { allow_http, same_origin: false, max_body: Self::DEFAULT_MAX_BODY }
    }
}

/// The URL of `endpoint` (its member `jwks_uri`, `token_endpoint`...) in `issuer`'s
/// discovery document. The document's `issuer` must equal the configured one exactly.
pub(crate) async fn discover(
    client: &reqwest::Client,
    issuer: &str,
    endpoint: UrlUse,
    rules: Rules,
    timeout: Duration,
) -> Result<Url, OutboundError> {
    let field = endpoint.field();
    let base =
        Url::parse(issuer).map_err(|e| OutboundError::caused_by(format!("issuer {issuer:?} is not a URL"), e))?;
    check_url(&base, rules.allow_http, endpoint.issuer()).map_err(OutboundError::new)?;
    let mut errors = Vec::new();
    for url in discovery_urls(&base) {
        let body = match get(client, &url, "application/json", None, rules.max_body, timeout).await {
            Ok((Fetched::Body { body, .. }, _)) => body,
            Ok((Fetched::NotModified { .. }, _)) => continue,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let doc: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| OutboundError::caused_by(format!("discovery document at {url} is not JSON"), e))?;
        let found = doc.get("issuer").and_then(|v| v.as_str());
        if found != Some(issuer) {
            return Err(OutboundError::new(format!(
                "discovery document at {url} names issuer {found:?}, expected {issuer:?}"
            )));
        }
        let found = doc
            .get(field)
            .and_then(|v| v.as_str())
            .ok_or_else(|| OutboundError::new(format!("discovery document at {url} has no {field}")))?;
        let found =
            Url::parse(found).map_err(|e| OutboundError::caused_by(format!("{field} {found:?} is not a URL"), e))?;
        check_url(&found, rules.allow_http, endpoint.discovered()).map_err(OutboundError::new)?;
        if rules.same_origin && found.origin() != base.origin() {
            return Err(OutboundError::new(format!("{field} {found} is not on the issuer's origin")));
        }
        return Ok(found);
    }
    Err(failed(issuer, errors))
}

/// Both locations failed: the message names both, the source is the last failure.
fn failed(issuer: &str, errors: Vec<OutboundError>) -> OutboundError {
    let message = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
    let message = format!("discovery failed for {issuer}: {message}");
    match errors.into_iter().last() {
        Some(last) => OutboundError::caused_by(message, last),
        None => OutboundError::new(message),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_locations() {
        let [a, b] = discovery_urls(&Url::parse("https://idp.example.com/realms/x/").unwrap());
        assert_eq!(a.as_str(), "https://idp.example.com/realms/x/.well-known/openid-configuration");
        assert_eq!(b.as_str(), "https://idp.example.com/.well-known/oauth-authorization-server/realms/x");
    }
}
