//! Why an exchange with an authorization server failed.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// What was asked and what went wrong (`GET https://…/jwks: status 500 …`), and the
/// underlying error (reqwest, serde_json) as its `source()` when there is one. The
/// message never holds a request body, so never a secret or a token.
#[derive(Debug, Clone)]
pub(crate) struct OutboundError {
    message: String,
    source: Option<Arc<dyn Error + Send + Sync>>,
}

impl OutboundError {
    /// A failure of our own finding (a status, a size, a missing member).
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), source: None }
    }

    /// A failure whose cause is `source`; `message` says what it broke.
    pub(crate) fn caused_by(message: impl Into<String>, source: impl Error + Send + Sync + 'static) -> Self {
        Self { message: message.into(), source: Some(Arc::new(source)) }
    }

    /// A reqwest failure during `what` (`GET https://…`), named by its kind.
    pub(crate) fn http(what: impl fmt::Display, error: reqwest::Error) -> Self {
        let kind = if error.is_timeout() {
            "timed out"
        } else if error.is_connect() {
            "could not connect"
        } else if error.is_body() || error.is_decode() {
            "the answer broke off"
        } else {
            "request failed"
        };
        // `what` names the URL without its password; reqwest's own message would repeat
        // the URL with it.
        Self::caused_by(format!("{what}: {kind}"), error.without_url())
    }

    /// The same failure as a shareable error value, for the public errors that carry it.
    pub(crate) fn shared(self) -> Arc<dyn Error + Send + Sync> {
        Arc::new(self)
    }
}

impl fmt::Display for OutboundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for OutboundError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}
