//! An OAuth 2.0 authorization server with its own login page, ready to run:
//! `cargo run --example authorization_server`.
//!
//! Configuration (environment):
//! - `BIND`: listen address (default `127.0.0.1:4000`); the issuer is `http://ADDR`
//!   (plain http is accepted on loopback only).
//! - `CLIENTS_FILE`: a JSON array of `{client_id, client_secret?, redirect_uris,
//!   grant_types, scope}` (no secret = public client). Without it, three demo clients
//!   are printed at start.
//! - `USERS_FILE`: a JSON array of `{login, password}`. Without it, the demo user
//!   `alice` / `alice`.
//! - `ACCESS_TOKEN_FORMAT`: `jwt` (default; RFC 9068, RS256) or `opaque`.
//! - `AUDIENCE`: the `aud` of access tokens (default `http://ADDR/api`).
//!
//! Routes: `GET /authorize` (the login and consent page: one form with the request's
//! hidden fields, `login`, `password`, and the `consent` buttons `allow` and `deny`),
//! `POST /authorize` (completes the authorization: `303` to the client), `POST /token`,
//! `POST /revoke`, `POST /introspect`, `GET /.well-known/oauth-authorization-server`,
//! `GET /jwks`, and `GET /api/me` (protected by tower-bearer's own layer over this
//! server's tokens: `{"sub", "scope"}`).
//!
//! Prints `listening on http://ADDR` on stdout once it accepts connections.
//!
//! The login page is the application's, so its limits are too: failed logins are
//! counted per login and per client address ([`LoginThrottle`] with the
//! [`LoginLimits`] defaults: 5 per login, 20 per address, in 15 minutes), and past a
//! limit the page comes back with `429` and `Retry-After`, the password unchecked.
//! Passwords are kept as PBKDF2 hashes, and an unknown login costs the same hash.

mod page;
mod users;

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json};
use serde_json::json;
use tower_bearer::issue::server::{
    AccessTokenFormat, AuthorizationServer, Client, ClientRegistry, Consent, Decision, GrantType, form_value,
};
use tower_bearer::issue::{IssuerKey, KeyType, LoginLimits, LoginThrottle};
use tower_bearer::{BearerLayer, VerifiedToken};

use users::Users;

#[derive(Clone)]
struct App {
    server: AuthorizationServer,
    users: Arc<Users>,
    throttle: Arc<LoginThrottle>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt().with_max_level(tracing::Level::INFO).with_writer(std::io::stderr).init();
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:4000".into());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    let addr = listener.local_addr()?;
    let issuer = format!("http://{addr}");
    let audience = non_empty("AUDIENCE").unwrap_or_else(|| format!("{issuer}/api"));
    let format = match non_empty("ACCESS_TOKEN_FORMAT").as_deref() {
        None | Some("jwt") => AccessTokenFormat::Jwt,
        Some("opaque") => AccessTokenFormat::Opaque,
        Some(other) => return Err(format!("ACCESS_TOKEN_FORMAT is jwt or opaque, not {other:?}").into()),
    };
    let (clients, demo) = match non_empty("CLIENTS_FILE") {
        Some(path) => (ClientRegistry::from_json(&std::fs::read_to_string(&path)?)?, None),
        None => {
            let (clients, printed) = demo_clients()?;
            (clients, Some(printed))
        }
    };
    let users = match non_empty("USERS_FILE") {
        Some(path) => Users::from_json(&std::fs::read_to_string(&path)?)?,
        None => Users::demo()?,
    };

    // RS256, the RFC 9068 default every resource server accepts.
    let key = IssuerKey::generate(KeyType::Rsa(2048), None)?;
    let server = AuthorizationServer::builder(&issuer, &key.private_jwk().to_json())
        .audience(&audience)
        .clients(clients)
        .access_token_format(format)
        .build()?;

    let api = Router::new().route("/me", get(me)).layer(BearerLayer::new(server.verifier()));
    let app = Router::new()
        .route("/authorize", get(authorize_page).post(authorize_decision))
        .with_state(App {
            server: server.clone(),
            users: Arc::new(users),
            throttle: Arc::new(LoginThrottle::new(LoginLimits::default())),
        })
        .nest("/api", api)
        .merge(server.router());

    println!("listening on {issuer}");
    if let Some(demo) = demo {
        println!("{demo}");
    }
    // The client address feeds the per-address failure limits: the login page's and
    // the server's client authentication's.
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
    Ok(())
}

fn non_empty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `GET /authorize`: the request validated, then the login and consent page; errors
/// that make the redirect untrustworthy are a page, the others a redirect.
async fn authorize_page(State(app): State<App>, RawQuery(query): RawQuery) -> Response {
    match app.server.validate_authorization_request(query.unwrap_or_default().as_bytes()).await {
        Ok(request) => page::consent(&request, None),
        Err(error) => error.into_response(),
    }
}

/// `POST /authorize`: the hidden fields are re-validated (they came back from the
/// browser; the form's own fields are ignored by the validation), then the user's
/// decision becomes the redirect.
///
/// No CSRF token is needed here: every POST carries the login and password, so a
/// forged one cannot consent in the user's name. An application that keeps a session
/// cookie and posts consent without the password needs one (or `SameSite=Strict`).
async fn authorize_decision(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = match app.server.validate_authorization_request(&body).await {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let decision = match form_value(&body, "consent").as_deref() {
        Some("allow") => {
            let login = form_value(&body, "login").unwrap_or_default();
            let password = form_value(&body, "password").unwrap_or_default();
            // Counted before the check, so parallel guesses cannot outrun the limit.
            let attempt = match app.throttle.attempt(&login, &headers, Some(peer)) {
                Ok(attempt) => attempt,
                Err(wait) => return throttled(&request, wait),
            };
            // The hash is slow on purpose: off the async workers.
            let users = app.users.clone();
            match tokio::task::spawn_blocking(move || users.check(&login, &password)).await.ok().flatten() {
                Some(subject) => {
                    attempt.succeeded();
                    Decision::Allow(Consent::new(subject))
                }
                None => return page::consent(&request, Some("wrong login or password")),
            }
        }
        Some("deny") => Decision::Deny,
        _ => return page::consent(&request, Some("choose allow or deny")),
    };
    match app.server.create_authorization_response(&request, decision).await {
        Ok(redirect) => redirect.into_response(),
        Err(error) => error.into_response(),
    }
}

/// The page again, `429` with `Retry-After`: too many failed logins.
fn throttled(request: &tower_bearer::issue::server::AuthorizationRequest, wait: std::time::Duration) -> Response {
    let mut page = page::consent(request, Some("too many failed logins: try again later"));
    *page.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let seconds = wait.as_secs().saturating_add(u64::from(wait.subsec_nanos() > 0));
    page.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    page
}

/// `GET /api/me`: who the token is for, and what it may do.
async fn me(Extension(token): Extension<VerifiedToken>) -> Json<serde_json::Value> {
    let scope: Vec<&str> = token.scopes().iter().collect();
    Json(json!({ "sub": token.subject(), "scope": scope.join(" ") }))
}

/// Three clients to try the server with, and the lines that describe them.
fn demo_clients() -> Result<(ClientRegistry, String), Box<dyn Error>> {
    let secret = |name: &str| -> Result<String, Box<dyn Error>> {
        Ok(format!("{name}-{}", IssuerKey::generate(KeyType::Oct, None)?.private_jwk().str("k").unwrap_or_default()))
    };
    let (web_secret, service_secret) = (secret("web")?, secret("service")?);
    let clients = ClientRegistry::new()
        .with(
            Client::confidential("demo-web", &web_secret)?
                .redirect_uri("http://127.0.0.1:8080/callback")
                .grant_type(GrantType::AuthorizationCode)
                .grant_type(GrantType::RefreshToken)
                .scope("read")
                .scope("write"),
        )?
        .with(
            Client::public("demo-cli")
                .redirect_uri("http://127.0.0.1:8976/callback")
                .grant_type(GrantType::AuthorizationCode)
                .grant_type(GrantType::RefreshToken)
                .scope("read"),
        )?
        .with(
            Client::confidential("demo-service", &service_secret)?
                .grant_type(GrantType::ClientCredentials)
                .scope("read"),
        )?;
    let printed = format!(
        "demo client demo-web (confidential, secret {web_secret}): authorization_code refresh_token, \
         redirect_uri http://127.0.0.1:8080/callback, scope \"read write\"\n\
         demo client demo-cli (public): authorization_code refresh_token, \
         redirect_uri http://127.0.0.1:8976/callback, scope \"read\"\n\
         demo client demo-service (confidential, secret {service_secret}): client_credentials, scope \"read\"\n\
         demo user alice / alice (unless USERS_FILE)"
    );
    Ok((clients, printed))
}
