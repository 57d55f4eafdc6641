//! `POST /login`: a login name and password in, a token out, failures limited.

use std::future::Future;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::connect_info::ConnectInfo;
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::router::{Shared, error, mint};

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
        // A password typed into the login field must not reach logs either.
        f.debug_struct("Credentials").field("login_len", &self.login.len()).finish_non_exhaustive()
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

pub(super) async fn login<F, Fut>(
    State(s): Shared<F>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Response
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
    let limits = s.throttle.limits();
    if credentials.login.len() > limits.max_login_len {
        return error(StatusCode::BAD_REQUEST, "invalid_request", "the login is too long");
    }
    let peer = extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let Ok(reservation) = s.throttle.attempt(&credentials.login, &headers, peer) else {
        let mut res = error(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", "too many failed logins; retry later");
        res.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(limits.window.as_secs().max(1)));
        return res;
    };
    let tag = s.throttle.tag(&credentials.login);
    match (s.check)(credentials).await {
        Some(identity) => {
            reservation.succeeded();
            mint(&s.issuer, identity, s.issuer.now())
        }
        None => {
            // A keyed hash only: the name may hold a newline or a password typed in the wrong field.
            tracing::debug!(login = %tag, "failed login");
            error(StatusCode::UNAUTHORIZED, "invalid_grant", "wrong login or password")
        }
    }
}
