//! One token request (client credentials, or a refresh token) and what its answer means.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

use super::{Inner, MAX_LIFETIME, MAX_TOKEN_ANSWER, later, unix_now};
use crate::client::dpop::{RequestUri, Target, nonce_in, proof, sensitive};
use crate::client::{AccessToken, ClientError};
use crate::outbound::{OutboundError, Posted, post_form};
use crate::signing::DpopKey;
use crate::token::DPOP;

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
    ///
    /// With DPoP, an answer asking for a nonce it has just given (RFC 9449 §8) is asked
    /// once more at once, with that nonce: no failure, so no backoff.
    pub(super) async fn attempt(&self, refresh_token: Option<&str>) -> Attempt {
        let used = self.nonce.load_full();
        let mut outcome = self.request(refresh_token).await;
        if let Attempt::Fail(ClientError::OAuth { error, .. }) = &outcome
            && error == "use_dpop_nonce"
            && self.dpop.is_some()
        {
            let given = self.nonce.load_full();
            if given.is_some() && given != used {
                tracing::debug!(client_id = %self.client_id, "the token endpoint asked for a DPoP nonce; asking again with it");
                outcome = self.request(refresh_token).await;
            }
        }
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
        let proof = match self.dpop.as_deref().map(|key| self.token_request_proof(key, &url)).transpose() {
            Ok(proof) => proof,
            Err(e) => return Attempt::Fail(e),
        };
        let Posted { status, headers, body } = match post_form(
            &self.client,
            &url,
            &self.auth,
            form,
            proof.unwrap_or_default(),
            MAX_TOKEN_ANSWER,
            self.timeout,
        )
        .await
        {
            Ok(answer) => answer,
            Err(reason) => return Attempt::Retry { reason, after: None },
        };
        // RFC 9449 §8.2: a nonce on any answer, success included, is the one to use next.
        if self.dpop.is_some()
            && let Some(nonce) = nonce_in(&headers)
        {
            self.nonce.store(Some(Arc::new(nonce.to_string())));
        }
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
        parse_token(&body, self.default_lifetime, self.dpop.as_ref(), &self.client_id)
            .unwrap_or_else(|e| Attempt::Fail(ClientError::protocol(OutboundError::new(e))))
    }

    /// The `DPoP` header of a token request (RFC 9449 §5): `htm` POST, `htu` the
    /// endpoint, no `ath`, the server's latest nonce if it gave one.
    fn token_request_proof(&self, key: &DpopKey, url: &url::Url) -> Result<HeaderMap, ClientError> {
        let target = Target::of(RequestUri::Url(url))?;
        let nonce = self.nonce.load_full();
        let proof = proof(key, "POST", &target.htu, None, nonce.as_deref().map(String::as_str))?;
        let mut headers = HeaderMap::new();
        headers.insert(DPOP, sensitive(proof, "the DPoP proof")?);
        Ok(headers)
    }
}

/// RFC 6749 §5.1: `access_token`, `token_type` Bearer (or DPoP when asked for, RFC
/// 9449 §5), optional `expires_in`; else the `exp` of a JWT access token; else the
/// default lifetime. At most [`MAX_LIFETIME`].
fn parse_token(
    body: &Value,
    default_lifetime: Duration,
    dpop: Option<&Arc<DpopKey>>,
    client_id: &str,
) -> Result<Attempt, &'static str> {
    let token = body.get("access_token").and_then(Value::as_str).ok_or("no access_token in the answer")?;
    let token_type = body.get("token_type").and_then(Value::as_str).unwrap_or_default();
    let bound = match dpop {
        Some(key) if token_type.eq_ignore_ascii_case("dpop") => Some(key.clone()),
        _ if token_type.eq_ignore_ascii_case("bearer") => None,
        Some(_) => return Err("token_type is neither DPoP nor Bearer"),
        None if token_type.eq_ignore_ascii_case("dpop") => {
            return Err("token_type is DPoP, but this client has no DPoP key (ClientCredentialsBuilder::dpop)");
        }
        None => return Err("token_type is not Bearer"),
    };
    if dpop.is_some() && bound.is_none() {
        tracing::info!(
            client_id,
            "the authorization server ignored DPoP (token_type Bearer): the token is used as a Bearer token"
        );
    }
    let lifetime = body
        .get("expires_in")
        .and_then(seconds)
        .map(Duration::from_secs)
        .or_else(|| jwt_lifetime(token))
        .unwrap_or(default_lifetime)
        .clamp(Duration::from_secs(1), MAX_LIFETIME);
    let refresh_token = body.get("refresh_token").and_then(Value::as_str).map(str::to_owned);
    let mut access_token = AccessToken::new(token, Some(later(lifetime)));
    if let Some(key) = bound {
        access_token = access_token.dpop_bound(key);
    }
    Ok(Attempt::Token(access_token, lifetime, refresh_token))
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
