//! The one log line every refusal writes.

use super::AuthError;

/// Rejections are routine (expired tokens, scanners): debug level, never the token.
pub(crate) fn log_rejection(error: &AuthError) {
    match error {
        AuthError::Unavailable(u) => {
            tracing::warn!(reason = %u.reason, "access token not verifiable right now")
        }
        other => tracing::debug!(status = other.status().as_u16(), error = %other, "bearer token rejected"),
    }
}
