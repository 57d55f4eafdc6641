//! The server's endpoints as one axum [`Router`], to nest under the issuer's path.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;

use super::AuthorizationServer;
use super::body;

impl AuthorizationServer {
    /// The endpoints this crate serves itself, relative to the issuer URL: the token,
    /// revocation and introspection endpoints, the RFC 8414 metadata and the JWKS.
    /// The authorization endpoint is the application's (it owns the login and consent
    /// pages): see [`AuthorizationServer::validate_authorization_request`].
    pub fn router(&self) -> Router {
        Router::new().route("/revoke", post(revoke)).route("/introspect", post(introspect)).with_state(self.clone())
    }
}

async fn revoke(State(server): State<AuthorizationServer>, headers: HeaderMap, request: Body) -> Response {
    match body::read(request).await {
        Ok(bytes) => server.revocation_response(&headers, &bytes).await,
        Err(error) => error.to_response(&server.inner.error_uris),
    }
}

async fn introspect(State(server): State<AuthorizationServer>, headers: HeaderMap, request: Body) -> Response {
    match body::read(request).await {
        Ok(bytes) => server.introspection_response(&headers, &bytes).await,
        Err(error) => error.to_response(&server.inner.error_uris),
    }
}
