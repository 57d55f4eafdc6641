//! The HTTP face of a [`LocalIssuer`]: keys, discovery, `/login` and `/renew`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::local::LocalIssuer;
use crate::token::{AuthorizationHeader, RequestHead, TokenSource};
use crate::verify::Verifier;

/// What a client sent to `/login`. `Debug` never shows the password.
#[derive(Clone, Deserialize)]
pub struct Credentials {
    /// The login name.
    pub login: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("login", &self.login).finish_non_exhaustive()
    }
}

/// Who logged in, and what goes into their token.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// `sub`.
    pub subject: String,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// Roles granted.
    pub roles: Vec<String>,
    /// Any other claims.
    pub claims: Map<String, Value>,
}

/// Failed-login limits per login name.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failures allowed within `window` before `/login` answers `429` (5).
    pub max_failures: u32,
    /// How long failures are remembered (15 min).
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self { max_failures: 5, window: Duration::from_secs(15 * 60) }
    }
}

struct RouterState<F> {
    issuer: LocalIssuer,
    /// Built once: `/renew` checks tokens with the issuer's own key.
    verifier: crate::JwtVerifier,
    base_url: String,
    check: F,
    limits: LoginLimits,
    failures: moka::sync::Cache<String, Arc<AtomicU32>>,
}

impl LocalIssuer {
    /// The issuer's endpoints, to mount where `base_url` points:
    /// `GET /.well-known/openid-configuration`, `GET /jwks`, `POST /login` (form or JSON
    /// `login` and `password`, checked by `check`) and `POST /renew` (a valid bearer token
    /// in, a fresh one out, until `max_session_age` after the login).
    ///
    /// ```no_run
    /// # async fn run(issuer: tower_bearer::issue::LocalIssuer) {
    /// use tower_bearer::issue::{Credentials, Identity, LoginLimits};
    /// let auth = issuer.router("https://api.example.com/auth", LoginLimits::default(), |c: Credentials| async move {
    ///     (c.login == "alice" && c.password == "correct horse")
    ///         .then(|| Identity { subject: "alice".into(), scopes: vec!["read".into()], ..Identity::default() })
    /// });
    /// let app: axum::Router = axum::Router::new().nest("/auth", auth);
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
            base_url: base_url.to_owned(),
            check,
            limits,
            failures: moka::sync::Cache::builder().max_capacity(100_000).time_to_live(limits.window).build(),
        });
        Router::new()
            .route("/.well-known/openid-configuration", get(discovery::<F>))
            .route("/jwks", get(jwks::<F>))
            .route("/login", post(login::<F, Fut>))
            .route("/renew", post(renew::<F>))
            .with_state(state)
    }
}

type Shared<F> = State<Arc<RouterState<F>>>;

async fn discovery<F>(State(s): Shared<F>) -> Response {
    axum::Json(s.issuer.discovery(&s.base_url)).into_response()
}

async fn jwks<F>(State(s): Shared<F>) -> Response {
    ([(header::CACHE_CONTROL, "public, max-age=300")], axum::Json(s.issuer.jwks())).into_response()
}

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    let body = json!({ "error": code, "error_description": description });
    (status, [(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

fn issued(token: super::IssuedToken) -> Response {
    (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], axum::Json(token)).into_response()
}

async fn login<F, Fut>(State(s): Shared<F>, headers: HeaderMap, body: Bytes) -> Response
where
    F: Fn(Credentials) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Option<Identity>> + Send + 'static,
{
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    let parsed: Option<Credentials> =
        if is_json { serde_json::from_slice(&body).ok() } else { serde_urlencoded::from_bytes(&body).ok() };
    let Some(credentials) = parsed else {
        return error(StatusCode::BAD_REQUEST, "invalid_request", "send `login` and `password` as a form or JSON");
    };
    let counter = s.failures.get_with(credentials.login.clone(), Arc::default);
    if counter.load(Ordering::Relaxed) >= s.limits.max_failures {
        let mut res = error(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", "too many failed logins; retry later");
        res.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(s.limits.window.as_secs()));
        return res;
    }
    let login_name = credentials.login.clone();
    match (s.check)(credentials).await {
        Some(identity) => {
            s.failures.invalidate(&login_name);
            mint(&s.issuer, identity.subject, identity.scopes, identity.roles, identity.claims, None)
        }
        None => {
            counter.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(login = %login_name, "failed login");
            error(StatusCode::UNAUTHORIZED, "invalid_grant", "wrong login or password")
        }
    }
}

async fn renew<F>(State(s): Shared<F>, headers: HeaderMap) -> Response {
    let uri = axum::http::Uri::from_static("/renew");
    let head = RequestHead { method: &axum::http::Method::POST, uri: &uri, headers: &headers, extensions: None };
    let token = match AuthorizationHeader.extract(&head) {
        Ok(Some(t)) => t,
        _ => return error(StatusCode::UNAUTHORIZED, "invalid_token", "a valid bearer token is required"),
    };
    let verified = match s.verifier.verify(&token).resolve().await {
        Ok(v) => v,
        Err(e) => return error(StatusCode::UNAUTHORIZED, "invalid_token", e.description(false).unwrap_or("")),
    };
    let claims = verified.claims();
    let session_start = claims.get("auth_time").and_then(Value::as_u64).unwrap_or(0);
    if s.issuer.now() > session_start.saturating_add(s.issuer.session_age_limit().as_secs()) {
        return error(StatusCode::UNAUTHORIZED, "invalid_token", "the session is too old; log in again");
    }
    let mut extra = claims.clone();
    for registered in ["iss", "aud", "iat", "exp", "nbf", "jti", "sub", "scope", "roles"] {
        extra.remove(registered);
    }
    let subject = verified.subject().unwrap_or_default().to_owned();
    let scopes = verified.scopes().iter().map(str::to_owned).collect();
    let roles = verified.roles().iter().map(str::to_owned).collect();
    mint(&s.issuer, subject, scopes, roles, extra, Some(session_start))
}

fn mint(
    issuer: &LocalIssuer,
    subject: String,
    scopes: Vec<String>,
    roles: Vec<String>,
    claims: Map<String, Value>,
    session_start: Option<u64>,
) -> Response {
    let mut b = issuer.token().subject(subject);
    for (k, v) in claims {
        b = b.claim(&k, v);
    }
    if let Some(start) = session_start {
        b = b.claim("auth_time", json!(start));
    }
    for scope in scopes {
        b = b.scope(scope);
    }
    for role in roles {
        b = b.role(role);
    }
    match b.sign() {
        Ok(token) => issued(token),
        Err(e) => {
            tracing::error!(error = %e, "signing a token failed");
            error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "cannot issue tokens right now")
        }
    }
}
