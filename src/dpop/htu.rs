//! STUB (helper replaces): RFC 3986 normalisation of `htu` and the public origins.

use crate::ConfigError;
use crate::token::RequestHead;

/// RFC 3986 §6.2.2–6.2.3 normal form of an absolute `http`/`https` URI, query and
/// fragment dropped; `None` when it is not one.
pub(crate) fn normalize(uri: &str) -> Option<String> {
    let _ = uri;
    None
}

/// Where the `htu` a request's proof must name comes from.
#[derive(Debug, Clone)]
pub(crate) enum Origins {
    /// Configured public URLs (`scheme://host[:port][/base]`), normalised.
    Configured(Vec<String>),
    /// The request's own `Host` (or HTTP/2 authority), with this scheme: development only.
    FromRequest(http::uri::Scheme),
}

impl Origins {
    /// Parses a configured public URL.
    pub(crate) fn parse_public_url(url: &str) -> Result<String, ConfigError> {
        Err(ConfigError::new(format!("stub: {url}")))
    }

    /// Whether `htu` (as sent, not yet normalised) names this request.
    pub(crate) fn matches(&self, htu: &str, req: &RequestHead<'_>) -> bool {
        let _ = (htu, req);
        false
    }
}
