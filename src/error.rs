//! [`ConfigError`]: a configuration mistake, found when a verifier, store or layer is built.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// A configuration mistake found when building a verifier, key store or layer.
///
/// Runtime failures (an unreachable identity provider, a refused token) are never a
/// `ConfigError`. Where the mistake has an underlying cause (a file that cannot be
/// read, a URL that does not parse) it is the [`source`](Error::source).
///
/// ```
/// let err = tower_bearer::keys::StaticKeys::from_jwks_file("/no/such/jwks.json").unwrap_err();
/// assert!(std::error::Error::source(&err).is_some());
/// ```
#[derive(Clone)]
pub struct ConfigError {
    message: String,
    source: Option<Arc<dyn Error + Send + Sync>>,
}

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), source: None }
    }

    pub(crate) fn with_source(message: impl Into<String>, source: impl Error + Send + Sync + 'static) -> Self {
        Self { message: message.into(), source: Some(Arc::new(source)) }
    }
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigError").field("message", &self.message).field("source", &self.source).finish()
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tower-bearer configuration: {}", self.message)
    }
}

impl PartialEq for ConfigError {
    /// Two errors are equal when they say the same thing.
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message
    }
}

impl Eq for ConfigError {}

impl Error for ConfigError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}
