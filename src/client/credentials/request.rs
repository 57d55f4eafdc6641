//! One token request (client credentials, or a refresh token) and what its answer means.

use std::time::Duration;

use serde_json::Value;

use super::{Inner, MAX_LIFETIME, MAX_TOKEN_ANSWER, later, unix_now};
use crate::client::{AccessToken, ClientError};
use crate::outbound::{OutboundError, Posted, post_form};

/// What one attempt found.
pub(super) enum Attempt {
    Token(AccessToken, Duration, Option<String>),
    Retry { reason: OutboundError, after: Option<Duration> },
    Fail(ClientError),
}

impl Inner {
    /// One token request: the refresh token grant when one is held, else client
    /// credentials. A failure other than the server's own refusal makes a discovered
    /// endpoint suspect, so it is looked up again (the server may have moved it).
    pub(super) async fn attempt(&self, refresh_token: Option<&str>) -> Attempt {
        let outcome = self.request(refresh_token).await;
        if !matches!(outcome, Attempt::Token(..) | Attempt::Fail(ClientError::OAuth { .. })) {
            self.endpoint.suspect();
        }
        outcome
    }

    async fn request(&self, refresh_token: Option<&str>) -> Attempt {
        let url = match self.endpoint.resolve(&self.client, self.timeout).await {
            Ok(u) => u,
            Err(reason) => return Attempt::Retry { reason, after: None },
        };
        let mut form: Vec<(&str, &str)> = match refresh_token {
            Some(rt) => vec![("grant_type", "refresh_token"), ("refresh_token", rt)],
            None => vec![("grant_type", "client_credentials")],
        };
        for (name, value) in [("scope", &self.scope), ("audience", &self.audience), ("resource", &self.resource)] {
            if let Some(v) = value {
                form.push((name, v));
            }
        }
        let Posted { status, headers, body } =
            match post_form(&self.client, &url, &self.auth, form, MAX_TOKEN_ANSWER, self.timeout).await {
                Ok(answer) => answer,
                Err(reason) => return Attempt::Retry { reason, after: None },
            };
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let retryable = status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
        let body: Value = match body.map(|b| serde_json::from_slice::<Value>(&b)) {
            Ok(Ok(v)) => v,
            _ if retryable => Value::Null,
            Ok(Err(e)) => {
                let message = format!("POST {url}: status {status}, body is not JSON");
                return Attempt::Fail(ClientError::protocol(OutboundError::caused_by(message, e)));
            }
            Err(reason) => return Attempt::Fail(ClientError::protocol(reason)),
        };
        if retryable {
            let reason = OutboundError::new(format!("POST {url}: status {status}"));
            return Attempt::Retry { reason, after: retry_after };
        }
        if !status.is_success() {
            let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
            return Attempt::Fail(match text("error") {
                Some(error) => {
                    ClientError::OAuth { error, description: text("error_description"), uri: text("error_uri") }
                }
                None => ClientError::protocol(OutboundError::new(format!("POST {url}: status {status}"))),
            });
        }
        parse_token(&body, self.default_lifetime)
            .unwrap_or_else(|e| Attempt::Fail(ClientError::protocol(OutboundError::new(e))))
    }
}

/// RFC 6749 §5.1: `access_token`, `token_type` Bearer, optional `expires_in`; else the
/// `exp` of a JWT access token; else the default lifetime. At most [`MAX_LIFETIME`].
fn parse_token(body: &Value, default_lifetime: Duration) -> Result<Attempt, &'static str> {
    let token = body.get("access_token").and_then(Value::as_str).ok_or("no access_token in the answer")?;
    if !body.get("token_type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("bearer")) {
        return Err("token_type is not Bearer");
    }
    let lifetime = body
        .get("expires_in")
        .and_then(seconds)
        .map(Duration::from_secs)
        .or_else(|| jwt_lifetime(token))
        .unwrap_or(default_lifetime)
        .clamp(Duration::from_secs(1), MAX_LIFETIME);
    let refresh_token = body.get("refresh_token").and_then(Value::as_str).map(str::to_owned);
    Ok(Attempt::Token(AccessToken::new(token, Some(later(lifetime))), lifetime, refresh_token))
}

/// `expires_in` as sent: an integer, or (leniently) a non-negative number or a string
/// of digits, as some servers send; anything else is ignored.
fn seconds(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            // Saturating: 1e300 becomes u64::MAX, then clamped by the caller.
            n.as_f64().filter(|f| f.is_finite() && *f >= 0.0).map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
}

/// The time left before a JWT access token's `exp` (read, not verified: it only
/// schedules renewal; the API verifies the token). `exp` must be a NumericDate.
fn jwt_lifetime(token: &str) -> Option<Duration> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let exp = crate::verify::TimeClaims::read(claims.as_object()?).ok()?.exp?;
    Some(Duration::from_secs(exp.saturating_sub(unix_now())))
}
