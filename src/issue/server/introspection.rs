//! The introspection endpoint (RFC 7662): an authenticated client asks whether one of
//! its tokens is active, and what it carries.

use std::net::SocketAddr;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AuthorizationServer;
use super::client_auth::AuthMethod;
use super::error::{OAuthError, no_store_json};
use super::issuing::store_unavailable;
use super::lookup::{Hint, TokenRecord};
use super::store::{Grant, TokenKey};

impl AuthorizationServer {
    /// Answers an introspection request (RFC 7662 §2): `POST` form with `token` and an
    /// optional `token_type_hint`, from a client authenticated with its secret
    /// (`client_secret_basic` or `client_secret_post`; a public client proves nothing
    /// and is refused); `peer` is the caller's address, for the limits of
    /// [`token_response`](Self::token_response) (pass it).
    ///
    /// A client sees only its own tokens: another client's token, an unknown, expired
    /// or revoked one, a used refresh token and a token whose grant ended are all
    /// answered exactly `{"active":false}` (§2.2: nothing else to learn from).
    /// An active access token is answered with `active`, `scope`, `client_id`, `sub`,
    /// `exp`, `iat`, `iss`, `aud`, `jti` and `token_type: "Bearer"`; an active refresh
    /// token with `active`, `scope`, `client_id`, `sub`, `exp` and `token_type:
    /// "refresh_token"`, and no `aud`: a resource server that checks either (as
    /// [`IntrospectionVerifier`](crate::introspect::IntrospectionVerifier) does) never
    /// takes a refresh token for an access token. Errors: `401 invalid_client`, `400
    /// invalid_request` (no `token`, a repeated parameter), `503
    /// temporarily_unavailable`. Every answer is sent with `Cache-Control: no-store`.
    pub async fn introspection_response(&self, headers: &HeaderMap, body: &[u8], peer: Option<SocketAddr>) -> Response {
        match self.introspect(headers, body, peer).await {
            Ok(answer) => (StatusCode::OK, no_store_json(&answer)).into_response(),
            Err(error) => error.to_response(&self.inner.error_uris),
        }
    }

    async fn introspect(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        peer: Option<SocketAddr>,
    ) -> Result<Value, OAuthError> {
        let params = self.form(headers, body)?;
        let client = self.authenticate_client(super::router::INTROSPECTION_PATH, headers, &params, peer).await?;
        if client.method == AuthMethod::None {
            return Err(OAuthError::invalid_client("introspection requires client authentication"));
        }
        let token = params.require("token")?;
        let key = TokenKey::of(token);
        let hint = Hint::parse(params.get("token_type_hint"));
        let Some(record) = self.token_record(&key, hint).await.map_err(store_unavailable)? else {
            return Ok(inactive());
        };
        if record.client_id() != client.client.id() {
            return Ok(inactive());
        }
        Ok(match self.active(record).await.map_err(store_unavailable)? {
            Some((record, grant)) => self.active_answer(&record, &grant),
            None => inactive(),
        })
    }

    fn active_answer(&self, record: &TokenRecord, grant: &Grant) -> Value {
        match record {
            TokenRecord::Access(r) => json!({
                "active": true,
                "scope": r.scope.join(" "),
                "client_id": r.client_id,
                "sub": r.subject,
                "exp": r.expires_at,
                "iat": r.issued_at,
                "iss": self.inner.issuer,
                "aud": r.audience,
                "jti": r.jti,
                "token_type": "Bearer",
            }),
            TokenRecord::Refresh(r) => json!({
                "active": true,
                "scope": grant.scope.join(" "),
                "client_id": r.client_id,
                "sub": grant.subject,
                "exp": r.expires_at.min(grant.expires_at),
                "token_type": "refresh_token",
            }),
        }
    }
}

/// The one inactive answer (§2.2): `{"active":false}`, nothing more.
fn inactive() -> Value {
    json!({ "active": false })
}
