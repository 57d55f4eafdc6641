//! The server's endpoints as one axum [`Router`], serving the issuer URL's paths.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::extract::connect_info::ConnectInfo;
use axum::http::{Extensions, HeaderMap};
use axum::response::Response;
use axum::routing::{any, post};

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
    /// Serve it with
    /// [`into_make_service_with_connect_info::<SocketAddr>`](axum::Router::into_make_service_with_connect_info),
    /// or set [`ServerLimits::address_key`](super::ServerLimits::address_key) to read
    /// the client's address from a proxy's header. Without an address there is no
    /// per-address failure limit, every caller shares each public client's request
    /// budget, and a warning is logged once.
    ///
    /// The metadata and the JWKS answer `GET` and `HEAD` (cacheable, with `ETag`s),
    /// `405` otherwise. The authorization endpoint is the application's (it owns the
    /// login and consent pages): see [`validate_authorization_request`](Self::validate_authorization_request).
    pub fn router(&self) -> Router {
        let endpoints = Router::new()
            .route(TOKEN_PATH, form_handler(FormEndpoint::Token))
            .route(REVOCATION_PATH, form_handler(FormEndpoint::Revocation))
            .route(INTROSPECTION_PATH, form_handler(FormEndpoint::Introspection))
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

/// The three form endpoints, served alike.
#[derive(Clone, Copy)]
enum FormEndpoint {
    Token,
    Revocation,
    Introspection,
}

/// `POST /token`, `/revoke` or `/introspect`: the body read up to the size limit, then
/// [`AuthorizationServer::token_response`], [`revocation_response`](AuthorizationServer::revocation_response)
/// or [`introspection_response`](AuthorizationServer::introspection_response).
async fn form_endpoint(
    endpoint: FormEndpoint,
    server: AuthorizationServer,
    extensions: Extensions,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let peer = peer(&extensions);
    let bytes = match server.read_body(body).await {
        Ok(bytes) => bytes,
        Err(e) => return e.to_response(&server.inner.error_uris),
    };
    match endpoint {
        FormEndpoint::Token => server.token_response(&headers, &bytes, peer).await,
        FormEndpoint::Revocation => server.revocation_response(&headers, &bytes, peer).await,
        FormEndpoint::Introspection => server.introspection_response(&headers, &bytes, peer).await,
    }
}

/// The handler of `endpoint`.
fn form_handler(endpoint: FormEndpoint) -> axum::routing::MethodRouter<AuthorizationServer> {
    post(move |State(server): State<AuthorizationServer>, extensions: Extensions, headers: HeaderMap, body: Body| {
        form_endpoint(endpoint, server, extensions, headers, body)
    })
}

/// The client's address, when served with connect info.
fn peer(extensions: &Extensions) -> Option<SocketAddr> {
    extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}
