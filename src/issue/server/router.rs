//! The server's endpoints as one axum [`Router`], serving the issuer URL's paths.

use axum::Router;
use axum::routing::any;

use super::AuthorizationServer;

/// The token endpoint, under the issuer's path.
pub(crate) const TOKEN_PATH: &str = "/token";
/// The revocation endpoint (RFC 7009), under the issuer's path.
pub(crate) const REVOCATION_PATH: &str = "/revoke";
/// The introspection endpoint (RFC 7662), under the issuer's path.
pub(crate) const INTROSPECTION_PATH: &str = "/introspect";
/// The JWKS, under the issuer's path.
pub(crate) const JWKS_PATH: &str = "/jwks";

impl AuthorizationServer {
    /// The endpoints this crate serves itself, at the paths of the issuer URL: merge
    /// it into the application's router at the root (`app.merge(server.router())`),
    /// not nested. For the issuer `https://example.com/auth` it serves
    /// `/auth/token`, `/auth/revoke`, `/auth/introspect`, `/auth/jwks` and the RFC 8414
    /// metadata at `/.well-known/oauth-authorization-server/auth`
    /// ([`metadata_path`](Self::metadata_path): RFC 8414 §3.1 puts the well-known
    /// path before the issuer's path, outside it). For an issuer without a path,
    /// `/token`... and `/.well-known/oauth-authorization-server`. Behind a proxy that
    /// strips a prefix, serve what reaches the application at these paths.
    ///
    /// The metadata and the JWKS answer `GET` and `HEAD` (cacheable, with `ETag`s),
    /// `405` otherwise. The authorization endpoint is the application's (it owns the
    /// login and consent pages): see the `authorize` module.
    pub fn router(&self) -> Router {
        let endpoints = Router::new()
            // Keys (RFC 7517), the current ring on every request.
            .route(JWKS_PATH, any(super::keys::jwks_endpoint))
            .with_state(self.clone());
        let endpoints = match self.issuer_path() {
            "" => endpoints,
            path => Router::new().nest(path, endpoints),
        };
        endpoints.route(self.metadata_path(), any(super::metadata::metadata_endpoint).with_state(self.clone()))
    }
}
