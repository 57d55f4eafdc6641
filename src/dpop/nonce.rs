//! STUB (helper replaces): stateless server nonces (RFC 9449 §8, §9).

use std::time::Duration;

use http::HeaderValue;

use crate::ConfigError;

/// The secret server nonces are derived from. Share it across a fleet.
#[derive(Clone)]
pub struct NonceSecret([u8; 32]);

impl std::fmt::Debug for NonceSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceSecret([redacted])")
    }
}

impl NonceSecret {
    /// A secret from at least 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ConfigError> {
        let _ = bytes;
        Err(ConfigError::new("stub"))
    }

    /// A random secret for this process.
    pub fn random() -> Result<Self, ConfigError> {
        Err(ConfigError::new("stub"))
    }
}

/// What a presented nonce is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonceCheck {
    Current,
    Previous,
    Invalid,
}

/// Issues and checks nonces.
#[derive(Debug, Clone)]
pub(crate) struct Nonces {
    secret: NonceSecret,
    step: Duration,
}

impl Nonces {
    pub(crate) fn new(secret: NonceSecret, step: Duration) -> Self {
        Self { secret, step }
    }

    pub(crate) fn issue(&self, now: u64) -> HeaderValue {
        let _ = (now, &self.secret, self.step);
        HeaderValue::from_static("stub")
    }

    pub(crate) fn check(&self, nonce: &str, now: u64) -> NonceCheck {
        let _ = (nonce, now);
        NonceCheck::Invalid
    }
}
