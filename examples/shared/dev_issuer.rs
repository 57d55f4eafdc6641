//! The embedded dev issuer shared by the `protected_api` and `client_credentials`
//! examples (not an example itself).

use std::error::Error;

use axum::extract::OriginalUri;
use axum::routing::post;
use axum::{Form, Json, Router};
use http::{HeaderMap, Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_bearer::AuthError;
use tower_bearer::dpop::{DPOP, Dpop};
use tower_bearer::issue::{Credentials, Identity, IssuerKey, KeyType, LocalIssuer, LoginLimits};
use tower_bearer::token::RequestHead;

/// The audience of tokens from the embedded dev issuer.
pub(crate) const DEV_AUDIENCE: &str = "protected-api";

/// The embedded dev issuer, built on [`LocalIssuer`]: discovery, JWKS, `/login`
/// (login `dev`, password `dev`), `/renew`, and `POST /token` minting any scopes and
/// roles asked for; with a `DPoP` proof checked by `dpop` (RFC 9449 §5), the token is
/// bound to the proof's key. Never use it in production.
pub(crate) fn dev_issuer_routes<S: Clone + Send + Sync + 'static>(
    issuer: String,
    dpop: Dpop,
) -> Result<Router<S>, Box<dyn Error>> {
    let key = IssuerKey::generate(KeyType::Rsa(2048), None)?;
    let local = LocalIssuer::new(&issuer, &key.private_jwk().to_json(), DEV_AUDIENCE)?;
    let endpoints = local.router(&issuer, LoginLimits::default(), |c: Credentials| async move {
        (c.login == "dev" && c.password == "dev").then(|| Identity {
            subject: "dev".into(),
            scopes: vec!["read:items".into(), "write:items".into()],
            roles: vec!["items.admin".into()],
            ..Identity::default()
        })
    });
    let token =
        move |OriginalUri(uri): OriginalUri, method: Method, headers: HeaderMap, Form(form): Form<TokenForm>| {
            let (local, dpop) = (local.clone(), dpop.clone());
            async move {
                // The proof names the URL the client called: the path before nesting.
                let jkt = match headers.contains_key(DPOP) {
                    false => None,
                    true => match dpop.check_token_request(&RequestHead::new(&method, &uri, &headers)).await {
                        Ok(proof) => Some(proof.thumbprint()),
                        Err(e) => return refused_proof(&e),
                    },
                };
                mint(&local, form, jkt)
            }
        };
    Ok(Router::new().route("/token", post(token)).merge(endpoints.with_state(())))
}

#[derive(Deserialize)]
struct TokenForm {
    scope: Option<String>,
    roles: Option<String>,
    sub: Option<String>,
    expires_in: Option<String>,
}

/// RFC 9449 §5: a bad proof at the token endpoint is `400 invalid_dpop_proof`.
fn refused_proof(e: &AuthError) -> (StatusCode, Json<Value>) {
    let status = match e.status() {
        StatusCode::SERVICE_UNAVAILABLE => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let code = e.error_code().map_or("temporarily_unavailable", |c| c.as_str());
    (status, Json(json!({"error": code, "error_description": e.to_string()})))
}

fn mint(issuer: &LocalIssuer, form: TokenForm, jkt: Option<String>) -> (StatusCode, Json<Value>) {
    let bad =
        |desc: &str| (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_request", "error_description": desc})));
    let expires_in = match form.expires_in.as_deref().map(str::parse::<u64>) {
        None => 3600,
        Some(Ok(s)) if (1..=86_400).contains(&s) => s,
        Some(_) => return bad("expires_in must be a number of seconds between 1 and 86400"),
    };
    let mut token = issuer
        .token()
        .subject(form.sub.as_deref().unwrap_or("dev-user"))
        .lifetime(std::time::Duration::from_secs(expires_in))
        .claim("scope", json!(form.scope.as_deref().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ")));
    for role in form.roles.as_deref().unwrap_or("").split_whitespace() {
        token = token.role(role);
    }
    let token_type = match &jkt {
        Some(jkt) => {
            token = token.claim("cnf", json!({ "jkt": jkt }));
            "DPoP"
        }
        None => "Bearer",
    };
    match token.sign() {
        Ok(t) => (
            StatusCode::OK,
            Json(json!({ "access_token": t.access_token(), "token_type": token_type, "expires_in": t.expires_in() })),
        ),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": "server_error"}))),
    }
}
