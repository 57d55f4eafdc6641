//! The revocation endpoint (RFC 7009): a client ends one of its own tokens; revoking
//! a refresh token ends its whole grant.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AuthorizationServer;
use super::body;
use super::client_auth::authenticate;
use super::error::OAuthError;
use super::lookup::{Hint, Issued, store_unavailable};
use super::store::TokenKey;

impl AuthorizationServer {
    /// Answers a revocation request (RFC 7009 §2): `POST` form with `token` and an
    /// optional `token_type_hint`, from an authenticated client (a public client
    /// names itself with `client_id`).
    ///
    /// Once the client is authenticated the answer is `200` with an empty body,
    /// whatever the token (§2.2: an unknown, expired or already revoked token, or
    /// another client's, which is left alone: nothing to probe). A wrong or unknown
    /// hint only changes the search order (§2.1). A refresh token of the client ends
    /// its grant: every access and refresh token issued from it (RFC 9700 §4.14); an
    /// access token ends only itself. Otherwise `401 invalid_client` (with
    /// `WWW-Authenticate: Basic` when the Authorization header was tried), `400
    /// invalid_request` for a missing `token` or a repeated parameter, `503
    /// temporarily_unavailable` when the store cannot answer.
    ///
    /// JWT access tokens revoked here are refused at once by introspection and by
    /// [`verifier`](Self::verifier); resource servers that verify them offline with
    /// the JWKS accept them until they expire.
    pub async fn revocation_response(&self, headers: &HeaderMap, body: &[u8]) -> Response {
        match self.revoke(headers, body).await {
            Ok(()) => revoked(),
            Err(error) => error.to_response(&self.inner.error_uris),
        }
    }

    async fn revoke(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), OAuthError> {
        let params = body::form(body)?;
        let client = authenticate(&*self.inner.clients, headers, &params).await.map_err(|failure| failure.error)?;
        let token = params.require("token")?;
        let key = TokenKey::of(token);
        let hint = Hint::parse(params.get("token_type_hint"));
        let store = &self.inner.store;
        let fail = |e| store_unavailable(&e);
        let Some(issued) = self.issued(&key, hint).await.map_err(fail)? else {
            return Ok(());
        };
        if issued.client_id() != client.client.id() {
            // §2.1: the server checks the token was issued to this client; a client
            // learns nothing of another's tokens, and cannot end them.
            tracing::info!(client_id = client.client.id(), "revocation of another client's token ignored");
            return Ok(());
        }
        match issued {
            Issued::Refresh(record) => store.revoke_grant(&record.grant_id).await.map_err(fail),
            Issued::Access(_) => store.revoke_access_token(&key).await.map_err(fail),
        }
    }
}

/// `200`, empty, never cached.
fn revoked() -> Response {
    (
        StatusCode::OK,
        [
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::PRAGMA, HeaderValue::from_static("no-cache")),
        ],
    )
        .into_response()
}
