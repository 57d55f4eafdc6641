//! One call to the introspection endpoint; its failures are the operator's (`503`).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::{Answer, Inner};
use crate::outbound::{OutboundError, Posted, post_form};
use crate::reject::{AuthError, Unavailable};
use crate::token::BearerToken;

impl Inner {
    /// One call to the endpoint, and the checks on its answer. A failed call makes
    /// a discovered endpoint suspect, so it is looked up again (it may have moved).
    pub(super) async fn introspect(&self, token: &BearerToken) -> Result<Answer, AuthError> {
        let answer = match self.call(token).await {
            Ok(answer) => answer,
            Err(error) => {
                self.metrics.called(None);
                self.endpoint.suspect();
                let unavailable = Unavailable::caused_by(Duration::from_secs(5), std::sync::Arc::new(error));
                tracing::error!(reason = %unavailable.reason(), "token introspection failed");
                return Err(AuthError::Unavailable(unavailable));
            }
        };
        let outcome = self.judge(answer, token.as_str().len());
        self.metrics.called(Some(outcome.is_ok()));
        let ttl = match &outcome {
            Ok(t) => {
                let left = t.expires_at().saturating_sub(self.clock.now());
                self.max_ttl.min(Duration::from_secs(if t.expires_at() == 0 { u64::MAX } else { left }))
            }
            Err(_) => self.negative_ttl,
        };
        Ok(Answer { outcome, ttl })
    }

    /// The answer as a JSON object, or why there is none.
    async fn call(&self, token: &BearerToken) -> Result<serde_json::Map<String, Value>, OutboundError> {
        let url = self.endpoint.resolve(&self.client, self.timeout).await.map_err(|e| {
            let message = format!("introspection discovery: {e}");
            OutboundError::caused_by(message, e)
        })?;
        let form = vec![("token", token.as_str()), ("token_type_hint", "access_token")];
        let Posted { status, body, .. } =
            post_form(&self.client, &url, &self.auth, form, Default::default(), self.max_body, self.timeout).await?;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(OutboundError::new(format!(
                "POST {url}: {status}: the endpoint rejected this resource server's client credentials"
            )));
        }
        if status != StatusCode::OK {
            return Err(OutboundError::new(format!("POST {url}: status {status}")));
        }
        match serde_json::from_slice::<Value>(&body?) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(OutboundError::new(format!("POST {url}: answer is not a JSON object"))),
            Err(e) => Err(OutboundError::caused_by(format!("POST {url}: answer is not JSON"), e)),
        }
    }
}
