//! Retrying the token request on connection errors, `5xx` and `429`, with backoff.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Inner;
use super::request::Attempt;
use crate::client::{AccessToken, ClientError};
use crate::error_chain::error_chain;

/// Retries of the token request on connection errors, `5xx` and `429`.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (4).
    pub max_attempts: u32,
    /// First backoff; doubles each retry, with full jitter (200 ms).
    pub base_delay: Duration,
    /// Longest single wait, also caps `Retry-After` (5 s).
    pub max_delay: Duration,
    /// No retry starts after this long since the first attempt (20 s).
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_elapsed: Duration::from_secs(20),
        }
    }
}

impl Inner {
    /// A token from the endpoint, retried under the policy; cached once had.
    pub(super) async fn fetch_with_retries(&self) -> Result<AccessToken, ClientError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let refresh = self.refresh_token.load_full();
            let outcome = match self.attempt(refresh.as_deref().map(String::as_str)).await {
                // A refused refresh token: forget it and ask with the client's credentials.
                Attempt::Fail(ClientError::OAuth { error, .. }) if refresh.is_some() && error == "invalid_grant" => {
                    self.refresh_token.store(None);
                    self.attempt(None).await
                }
                other => other,
            };
            match outcome {
                Attempt::Token(token, lifetime, refresh_token) => {
                    if let Some(rt) = refresh_token {
                        self.refresh_token.store(Some(Arc::new(rt)));
                    }
                    self.metrics.fetched(true);
                    let usable = lifetime.saturating_sub(self.skew.min(lifetime / 2));
                    return Ok(self.cache(token, usable));
                }
                Attempt::Fail(e) => {
                    self.metrics.fetched(false);
                    tracing::warn!(client_id = %self.client_id, error = %error_chain(&e), "token request refused");
                    return Err(e);
                }
                Attempt::Retry { reason, after } => {
                    let backoff = self.retry.base_delay.saturating_mul(1 << (attempt - 1).min(16));
                    let jitter = (RandomState::new().build_hasher().finish() % 1000) as f64 / 1000.0;
                    let wait = after.unwrap_or_else(|| backoff.mul_f64(jitter)).min(self.retry.max_delay);
                    let out_of_time = started.elapsed() + wait > self.retry.max_elapsed;
                    let why = error_chain(&reason);
                    if attempt >= self.retry.max_attempts || out_of_time {
                        self.metrics.fetched(false);
                        tracing::warn!(client_id = %self.client_id, reason = %why, attempt, "token request failed");
                        return Err(ClientError::unavailable(reason));
                    }
                    tracing::debug!(reason = %why, attempt, wait_ms = wait.as_millis() as u64, "retrying token request");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}
