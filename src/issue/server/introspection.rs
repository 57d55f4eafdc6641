//! The introspection endpoint (RFC 7662): an authenticated client asks whether one of
//! its tokens is active, and what it carries.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AuthorizationServer;
use super::body;
use super::client_auth::{AuthMethod, authenticate};
use super::error::{OAuthError, no_store_json};
use super::lookup::{Hint, Issued, store_unavailable};
use super::store::{Grant, TokenKey};

impl AuthorizationServer {
    /// Answers an introspection request (RFC 7662 §2): `POST` form with `token` and an
    /// optional `token_type_hint`, from a client authenticated with its secret
    /// (`client_secret_basic` or `client_secret_post`; a public client proves nothing
    /// and is refused).
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
    pub async fn introspection_response(&self, headers: &HeaderMap, body: &[u8]) -> Response {
        match self.introspect(headers, body).await {
            Ok(answer) => (StatusCode::OK, no_store_json(&answer)).into_response(),
            Err(error) => error.to_response(&self.inner.error_uris),
        }
    }

    async fn introspect(&self, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
        let params = body::form(body)?;
        let client = authenticate(&*self.inner.clients, headers, &params).await.map_err(|failure| failure.error)?;
        if client.method == AuthMethod::None {
            return Err(OAuthError::invalid_client("introspection requires client authentication", false));
        }
        let token = params.require("token")?;
        let key = TokenKey::of(token);
        let hint = Hint::parse(params.get("token_type_hint"));
        let fail = |e| store_unavailable(&e);
        let Some(issued) = self.issued(&key, hint).await.map_err(fail)? else {
            return Ok(inactive());
        };
        if issued.client_id() != client.client.id() {
            return Ok(inactive());
        }
        Ok(match self.active(issued).await.map_err(fail)? {
            Some((issued, grant)) => self.active_answer(&issued, &grant),
            None => inactive(),
        })
    }

    fn active_answer(&self, issued: &Issued, grant: &Grant) -> Value {
        match issued {
            Issued::Access(r) => json!({
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
            Issued::Refresh(r) => json!({
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
