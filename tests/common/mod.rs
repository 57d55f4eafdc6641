//! Shared helpers: a real axum server on 127.0.0.1 behind the layer, and a client.
#![allow(dead_code, unreachable_pub)]

pub mod api;
pub mod b64;
pub mod dpop_servers;
pub mod examples;
pub mod harness;
pub mod logs;
pub mod oidc_provider;
pub mod token_endpoint;

use axum::Router;
use axum::routing::get;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tower_bearer::keys::RemoteJwks;
use tower_bearer::policy::{role, scope};
use tower_bearer::testing::{TEST_AUDIENCE, TestIssuer};
use tower_bearer::{BearerLayer, Issuer, JsonResponder, JwtVerifier, VerifiedToken};

/// The realm of the tests' layers where the challenge is compared whole.
pub const REALM: &str = "test";

/// The challenge for any invalid token from a layer with realm [`REALM`] (no details).
pub const INVALID: &str =
    r#"Bearer realm="test", error="invalid_token", error_description="the access token is invalid""#;

/// Serves `app` on 127.0.0.1 and returns its base URL. The server lives as long as the runtime.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Serves [`app`] with `store` as `idp`'s keys; returns `/me`'s URL.
pub async fn serve_with_keys(idp: &TestIssuer, store: RemoteJwks) -> String {
    let verifier =
        JwtVerifier::builder().issuer(Issuer::new(idp.issuer()).keys(store)).audience(TEST_AUDIENCE).build().unwrap();
    format!("{}/me", serve(app(BearerLayer::new(verifier))).await)
}

/// `/me` (any token), `/items` (scope read:items), `/admin` (role items.admin).
pub fn app(auth: BearerLayer<JsonResponder>) -> Router {
    Router::new()
        .route("/me", get(me))
        .route("/items", get(|| async { "items" }).route_layer(auth.requiring(scope("read:items"))))
        .route("/admin", get(|| async { "admin" }).route_layer(auth.requiring(role("items.admin"))))
        .layer(auth)
}

async fn me(token: VerifiedToken) -> axum::Json<Value> {
    axum::Json(json!({"sub": token.subject(), "scopes": token.scopes(), "roles": token.roles()}))
}

/// One client for the whole test binary: building one per request is slow.
pub fn client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new)
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn challenge(&self) -> &str {
        self.headers.get("www-authenticate").map(|v| v.to_str().unwrap()).unwrap_or("")
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

pub async fn get_with(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = client().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.text().await.unwrap();
    Reply { status, headers, body }
}

pub async fn get_bearer(url: &str, token: &str) -> Reply {
    get_with(url, &[("authorization", &format!("Bearer {token}"))]).await
}

/// Asserts that `url` (behind a layer with realm [`REALM`]) answers `token` with
/// `401 invalid_token` and the generic description.
pub async fn assert_invalid(url: &str, token: &str) {
    let r = get_bearer(url, token).await;
    assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, INVALID), "{}", r.body);
}

/// An authorization server whose discovery document names `field` at a path that can
/// move: `/old` answers `500` (the endpoint went away), `/new` runs `handler`.
/// [`Moving::relocate`] points the document at `/new`; the issuer is the base URL.
pub struct Moving {
    pub issuer: String,
    path: std::sync::Arc<std::sync::Mutex<&'static str>>,
}

impl Moving {
    pub async fn start<H, T>(field: &'static str, handler: H) -> Self
    where
        H: axum::handler::Handler<T, ()>,
        T: 'static,
    {
        use axum::routing::post;
        let path = std::sync::Arc::new(std::sync::Mutex::new("/old"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let (p, iss) = (path.clone(), issuer.clone());
        let doc = move || {
            let at = format!("{iss}{}", p.lock().unwrap());
            std::future::ready(axum::Json(json!({"issuer": iss, field: at})))
        };
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(doc))
            .route("/old", post(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
            .route("/new", post(handler));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { issuer, path }
    }

    /// The document now names `/new`.
    pub fn relocate(&self) {
        *self.path.lock().unwrap() = "/new";
    }
}
