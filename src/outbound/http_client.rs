//! The one way the crate builds an HTTP client: no redirects, a deadline per call,
//! and a connect timeout.

use std::time::Duration;

use crate::error::ConfigError;

/// Connect timeout of the built-in clients: an authorization server that does not
/// accept a connection within 2 s is down for our purposes. Never longer than the
/// whole call.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The application's client if it gave one (its own timeouts apply; ours still bound
/// each call, and redirects are refused on the answer), else ours: redirects off,
/// `timeout` for a whole call, `connect_timeout` (at most `timeout`) to connect.
pub(crate) fn http_client(
    given: Option<reqwest::Client>,
    timeout: Duration,
    connect_timeout: Duration,
) -> Result<reqwest::Client, ConfigError> {
    if let Some(client) = given {
        return Ok(client);
    }
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(connect_timeout.min(timeout))
        .build()
        .map_err(|e| ConfigError::new(format!("HTTP client: {e}")))
}
