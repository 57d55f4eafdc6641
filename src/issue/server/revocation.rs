//! The revocation endpoint (RFC 7009): a client ends one of its own tokens; revoking
//! a refresh token ends its whole grant.

use std::net::SocketAddr;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AuthorizationServer;
use super::error::OAuthError;
use super::issuing::store_unavailable;
use super::lookup::{Hint, TokenRecord};
use super::store::TokenKey;

impl AuthorizationServer {
    /// Answers a revocation request (RFC 7009 §2): `POST` form with `token` and an
    /// optional `token_type_hint`, from an authenticated client (a public client
    /// names itself with `client_id`); `peer` is the caller's address, for the limits
    /// of [`token_response`](Self::token_response) (pass it).
    ///
    /// Once the client is authenticated the answer is `200` with an empty body,
    /// whatever the token (§2.2: an unknown, expired or already revoked token, or
    /// another client's, which is left alone: nothing to probe). A wrong or unknown
    /// hint only changes the search order (§2.1). A refresh token of the client ends
    /// its grant: every access and refresh token issued from it (RFC 9700 §4.14); an
    /// access token ends only itself. Otherwise `401 invalid_client` (with
    /// `WWW-Authenticate: Basic`, as every `401`), `400
    /// invalid_request` for a missing `token` or a repeated parameter, `503
    /// temporarily_unavailable` when the store cannot answer.
    ///
    /// JWT access tokens revoked here are refused at once by introspection and by
    /// [`verifier`](Self::verifier); resource servers that verify them offline with
    /// the JWKS accept them until they expire.
    pub async fn revocation_response(&self, headers: &HeaderMap, body: &[u8], peer: Option<SocketAddr>) -> Response {
        match self.revoke(headers, body, peer).await {
            Ok(()) => revoked(),
            Err(error) => error.to_response(&self.inner.error_uris),
        }
    }

    async fn revoke(&self, headers: &HeaderMap, body: &[u8], peer: Option<SocketAddr>) -> Result<(), OAuthError> {
        let params = self.form(headers, body)?;
        let client = self.authenticate_client(super::router::REVOCATION_PATH, headers, &params, peer).await?;
        let token = params.require("token")?;
        let key = TokenKey::of(token);
        let hint = Hint::parse(params.get("token_type_hint"));
        let store = &self.inner.store;
        let Some(record) = self.token_record(&key, hint).await.map_err(store_unavailable)? else {
            return Ok(());
        };
        if record.client_id() != client.client.id() {
            // §2.1: the server checks the token was issued to this client; a client
            // learns nothing of another's tokens, and cannot end them.
            tracing::info!(client_id = client.client.id(), "revocation of another client's token ignored");
            return Ok(());
        }
        match record {
            TokenRecord::Refresh(record) => store.revoke_grant(&record.grant_id).await.map_err(store_unavailable),
            TokenRecord::Access(_) => store.revoke_access_token(&key).await.map_err(store_unavailable),
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
