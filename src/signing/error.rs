//! [`SigningError`]: a key could not be generated, read or used, at run time.

use std::error::Error;
use std::fmt;

type Source = Box<dyn Error + Send + Sync + 'static>;

/// A private key could not be generated, read, or used to sign.
///
/// Not a [`ConfigError`](crate::ConfigError): signing runs after configuration, and a
/// failing random generator or crypto library is no mistake of the caller's. The
/// message names what failed; [`source`](Error::source) is the underlying error,
/// when there is one. Neither ever holds key material.
#[derive(Debug)]
pub struct SigningError {
    what: String,
    source: Option<Source>,
}

impl SigningError {
    pub(crate) fn new(what: impl Into<String>) -> Self {
        Self { what: what.into(), source: None }
    }

    pub(crate) fn caused_by(what: impl Into<String>, source: impl Error + Send + Sync + 'static) -> Self {
        Self { what: what.into(), source: Some(Box::new(source)) }
    }
}

impl fmt::Display for SigningError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl Error for SigningError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

impl From<SigningError> for crate::ConfigError {
    /// Where a key is read as configuration (e.g. `LocalIssuer::new`).
    fn from(e: SigningError) -> Self {
        crate::ConfigError::with_source("the signing key is not usable", e)
    }
}
