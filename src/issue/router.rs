//! The HTTP face of a [`LocalIssuer`]: keys, discovery, `/login` and `/renew`.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use super::limits::LoginLimits;
use super::local::LocalIssuer;
use super::login::{Credentials, Identity, login};
use super::renew::renew;
use super::throttle::LoginThrottle;
use crate::token::Locations;

pub(super) struct RouterState<F> {
    pub(super) issuer: LocalIssuer,
    /// Built once: `/renew` checks tokens with the issuer's own key.
    pub(super) verifier: crate::JwtVerifier,
    /// `/renew` finds the token as [`BearerLayer`](crate::BearerLayer) does by default.
    pub(super) locations: Locations,
    pub(super) base_url: String,
    pub(super) check: F,
    pub(super) throttle: LoginThrottle,
}

impl LocalIssuer {
    /// The issuer's endpoints, to mount where `base_url` points:
    /// `GET /.well-known/openid-configuration`, `GET /jwks`, `POST /login` (form or JSON
    /// `login` and `password`, checked by `check`, failures limited by `limits`) and
    /// `POST /renew` (a valid bearer token in, a fresh one out, until `max_session_age`
    /// after the login; no token outlives that).
    ///
    /// `/login` and `/renew` are this crate's own small protocol, not OAuth: the
    /// discovery document names only the issuer and its keys.
    ///
    /// To count failures per client address, serve the app with
    /// [`into_make_service_with_connect_info::<SocketAddr>`](axum::Router::into_make_service_with_connect_info)
    /// or set [`LoginLimits::client_key`].
    ///
    /// ```no_run
    /// # async fn run(issuer: tower_bearer::issue::LocalIssuer) {
    /// use tower_bearer::issue::{Credentials, Identity, LoginLimits};
    /// let auth = issuer.router("https://api.example.com/auth", LoginLimits::default(), |c: Credentials| async move {
    ///     (c.login == "alice" && c.password == "correct horse")
    ///         .then(|| Identity { subject: "alice".into(), scopes: vec!["read".into()], ..Identity::default() })
    /// });
    /// let app: axum::Router = axum::Router::new().nest("/auth", auth);
    /// let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await.unwrap();
    /// axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await.unwrap();
    /// # }
    /// ```
    pub fn router<F, Fut>(&self, base_url: &str, limits: LoginLimits, check: F) -> Router
    where
        F: Fn(Credentials) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Option<Identity>> + Send + 'static,
    {
        let state = Arc::new(RouterState {
            issuer: self.clone(),
            verifier: self.verifier(),
            locations: Locations::default(),
            base_url: base_url.to_owned(),
            check,
            throttle: LoginThrottle::new(limits),
        });
        Router::new()
            .route("/.well-known/openid-configuration", get(discovery::<F>))
            .route("/jwks", get(jwks::<F>))
            .route("/login", post(login::<F, Fut>))
            .route("/renew", post(renew::<F>))
            .with_state(state)
    }
}

pub(super) type Shared<F> = State<Arc<RouterState<F>>>;

async fn discovery<F>(State(s): Shared<F>) -> Response {
    axum::Json(s.issuer.discovery(&s.base_url)).into_response()
}

async fn jwks<F>(State(s): Shared<F>) -> Response {
    ([(header::CACHE_CONTROL, "public, max-age=300")], axum::Json(s.issuer.jwks())).into_response()
}

pub(super) fn error(status: StatusCode, code: &str, description: &str) -> Response {
    let body = json!({ "error": code, "error_description": description });
    (status, [(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

/// A token for `identity`, in a session that started at `session_start` (now, for a
/// login): it never outlives `session_start + max_session_age`.
pub(super) fn mint(issuer: &LocalIssuer, identity: Identity, session_start: u64) -> Response {
    let Identity { subject, scopes, roles, claims } = identity;
    let mut b = issuer.token().subject(subject);
    for (k, v) in claims {
        b = b.claim(&k, v);
    }
    b = b
        .claim("auth_time", json!(session_start))
        .not_after(session_start.saturating_add(issuer.session_age_limit().as_secs()));
    for scope in scopes {
        b = b.scope(scope);
    }
    for role in roles {
        b = b.role(role);
    }
    match b.sign() {
        Ok(token) => (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], axum::Json(token)).into_response(),
        Err(e) => {
            tracing::error!(error = %crate::error_chain::error_chain(&e), "signing a token failed");
            error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "cannot issue tokens right now")
        }
    }
}

/// Claims a renewed token carries over from the old one: all but those the issuer sets.
pub(super) fn carried_claims(claims: &Map<String, Value>) -> Map<String, Value> {
    let mut extra = claims.clone();
    for registered in ["iss", "aud", "iat", "exp", "nbf", "jti", "sub", "scope", "roles", "auth_time"] {
        extra.remove(registered);
    }
    extra
}
