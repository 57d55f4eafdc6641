//! Errors: [`ConfigError`] for configuration mistakes; the rejection reasons live in
//! [`reject`](crate::reject) and are re-exported here until the public surface is pruned.

use std::fmt;

pub use crate::reject::{AuthError, Insufficient, InvalidRequest, InvalidToken, Unavailable};

/// A configuration mistake found when building a verifier or layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub(crate) String);

impl ConfigError {
    pub(crate) fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tower-bearer configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}
