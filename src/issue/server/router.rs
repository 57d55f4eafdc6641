//! The server's endpoints as one axum [`Router`], to nest under the issuer's path.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::extract::connect_info::ConnectInfo;
use axum::http::{Extensions, HeaderMap};
use axum::response::Response;
use axum::routing::post;

use super::AuthorizationServer;

impl AuthorizationServer {
    /// The endpoints this crate serves itself, relative to the issuer URL: the token,
    /// revocation and introspection endpoints, the RFC 8414 metadata and the JWKS.
    /// The authorization endpoint is the application's (it owns the login and consent
    /// pages): see [`AuthorizationServer::validate_authorization_request`].
    ///
    /// Serve it with
    /// [`into_make_service_with_connect_info::<SocketAddr>`](axum::Router::into_make_service_with_connect_info)
    /// for the per-address failure limit (or set
    /// [`ServerLimits::address_key`](super::ServerLimits::address_key)).
    pub fn router(&self) -> Router {
        Router::new().route("/token", post(token)).with_state(self.clone())
    }
}

/// `POST /token`: the body read up to the size limit, then [`AuthorizationServer::token_response`].
async fn token(
    State(server): State<AuthorizationServer>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    match server.read_body(body).await {
        Ok(bytes) => server.token_response(&headers, &bytes, peer).await,
        Err(e) => e.to_response(&server.inner.error_uris),
    }
}
