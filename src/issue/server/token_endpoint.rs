//! The token endpoint (RFC 6749 §3.2, §5): a form in, tokens or an error out.

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use http_body_util::{BodyExt as _, Limited};

use super::AuthorizationServer;
use super::client::GrantType;
use super::error::{ErrorCode, OAuthError};
use super::issuing::Issued;
use super::params::Params;

impl AuthorizationServer {
    /// Answers a token request (oauthlib's `create_token_response`): `headers` and the
    /// form `body` of a `POST` to the token endpoint, and `peer`, the client's address.
    /// Grants: `authorization_code` (with PKCE), `client_credentials` and
    /// `refresh_token` (rotated; a reused one revokes its grant). Every answer is JSON
    /// with `Cache-Control: no-store`.
    ///
    /// Pass the peer address (with axum, `ConnectInfo<SocketAddr>`, the app served
    /// with [`into_make_service_with_connect_info::<SocketAddr>`](axum::Router::into_make_service_with_connect_info)),
    /// or set [`ServerLimits::address_key`](super::ServerLimits::address_key) to read
    /// a proxy's header. Without an address there is no per-address failure limit,
    /// every caller shares each public client's request budget, and a warning is
    /// logged once.
    ///
    /// [`router`](Self::router) serves it at `POST /token`; call it yourself to mount
    /// the endpoint elsewhere.
    ///
    /// ```no_run
    /// # async fn run(server: tower_bearer::issue::server::AuthorizationServer) {
    /// use std::net::SocketAddr;
    ///
    /// use axum::body::Bytes;
    /// use axum::extract::ConnectInfo;
    /// use axum::http::HeaderMap;
    /// use axum::routing::post;
    ///
    /// let app: axum::Router = axum::Router::new().route(
    ///     "/oauth/token",
    ///     post(move |ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: HeaderMap, body: Bytes| async move {
    ///         server.token_response(&headers, &body, Some(peer)).await
    ///     }),
    /// );
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.unwrap();
    /// axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    /// # }
    /// ```
    pub async fn token_response(&self, headers: &HeaderMap, body: &[u8], peer: Option<SocketAddr>) -> Response {
        match self.token(headers, body, peer).await {
            Ok(issued) => issued.into_response(),
            Err(e) => {
                if e.code() == ErrorCode::InvalidGrant || e.code() == ErrorCode::InvalidClient {
                    tracing::debug!(error = %e, "token request refused");
                }
                e.to_response(&self.inner.error_uris)
            }
        }
    }

    async fn token(&self, headers: &HeaderMap, body: &[u8], peer: Option<SocketAddr>) -> Result<Issued, OAuthError> {
        let params = self.form(headers, body)?;
        let authenticated = self.authenticate_client(super::router::TOKEN_PATH, headers, &params, peer).await?;
        let client = &*authenticated.client;
        let name = params.require("grant_type")?;
        let Some(grant) = GrantType::parse(name) else {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "supported grant types: authorization_code, client_credentials, refresh_token",
            ));
        };
        if !client.allows(grant) {
            return Err(OAuthError::unauthorized_client(format!("this client may not use {}", grant.as_str())));
        }
        match grant {
            GrantType::ClientCredentials => self.client_credentials(client, &params).await,
            GrantType::AuthorizationCode => self.authorization_code(client, &params).await,
            GrantType::RefreshToken => self.refresh(client, &params).await,
        }
    }

    /// The parameters of a form `POST` to a client-authenticated endpoint:
    /// `application/x-www-form-urlencoded` (RFC 6749 §3.2), at most
    /// [`ServerLimits::max_body`](super::ServerLimits::max_body) bytes, each
    /// parameter once.
    pub(crate) fn form(&self, headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
        if body.len() > self.inner.limiter.limits.max_body {
            return Err(too_large());
        }
        let form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        if !form {
            return Err(OAuthError::invalid_request("send the parameters as application/x-www-form-urlencoded"));
        }
        Params::parse(body)
    }

    /// Reads a request body of at most
    /// [`ServerLimits::max_body`](super::ServerLimits::max_body) bytes, without
    /// buffering more.
    pub(crate) async fn read_body(&self, body: Body) -> Result<Bytes, OAuthError> {
        match Limited::new(body, self.inner.limiter.limits.max_body).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(too_large()),
            Err(_) => Err(OAuthError::invalid_request("the request body broke off")),
        }
    }
}

/// `413` with an OAuth body: the status says what is wrong to any HTTP client or
/// proxy, the body still parses as an RFC 6749 §5.2 error.
fn too_large() -> OAuthError {
    OAuthError::invalid_request("the request body is too large").with_status(StatusCode::PAYLOAD_TOO_LARGE)
}
