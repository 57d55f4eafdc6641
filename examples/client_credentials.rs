//! Calls a protected API with a client-credentials token:
//! `cargo run --example client_credentials`.
//!
//! Environment: `TOKEN_URL` (or `ISSUER`, for discovery), `CLIENT_ID`, `CLIENT_SECRET`,
//! `SCOPE`, `AUDIENCE` or `RESOURCE` (optional), `API_URL`, `DPOP=1` (ask for DPoP-bound
//! tokens, RFC 9449, with a fresh ES256 key). Prints the API's status and body. With no
//! `API_URL` it starts the `protected_api` dev issuer and a protected `/items` route in
//! this process (DPoP required with `DPOP=1`), and calls them.

use std::error::Error;

use axum::Router;
use axum::routing::get;
use tower_bearer::client::{AuthorizedClient, ClientCredentials};
use tower_bearer::dpop::{Dpop, DpopMode};
use tower_bearer::policy::scope;
use tower_bearer::signing::DpopKey;
use tower_bearer::{Algorithm, BearerLayer, Issuer, JwtVerifier};

#[path = "shared/dev_issuer.rs"]
mod dev_issuer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let dpop = var("DPOP").as_deref() == Some("1");
    let (token_url, issuer, api_url) = match var("API_URL") {
        Some(api) => (var("TOKEN_URL"), var("ISSUER"), api),
        None => {
            let (token_url, api) = start_local_api(dpop).await?;
            println!("no API_URL: calling an in-process API at {api} with tokens from {token_url}");
            (Some(token_url), None, api)
        }
    };
    let mut builder = ClientCredentials::builder()
        .client_auth(tower_bearer::ClientAuth::basic(
            var("CLIENT_ID").unwrap_or_else(|| "demo-client".into()),
            var("CLIENT_SECRET").unwrap_or_default(),
        ))
        .scope(var("SCOPE").unwrap_or_else(|| "read:items".into()));
    builder = match (token_url, issuer) {
        (Some(url), _) => builder.token_url(&url),
        (None, Some(issuer)) => builder.discover(&issuer),
        (None, None) => return Err("set TOKEN_URL or ISSUER with API_URL".into()),
    };
    if let Some(aud) = var("AUDIENCE") {
        builder = builder.audience(aud);
    }
    if let Some(resource) = var("RESOURCE") {
        builder = builder.resource(resource);
    }
    if dpop {
        // One key per process here; load a stored one (DpopKey::from_jwk) to keep it.
        builder = builder.dpop(DpopKey::generate(Algorithm::ES256)?);
    }
    let client = AuthorizedClient::new(reqwest::Client::new(), builder.build()?);
    let response = client.send(client.get(&api_url)).await?;
    println!("{}", response.status());
    println!("{}", response.text().await?);
    Ok(())
}

/// The dev issuer at `/dev` and `GET /items` (scope `read:items`, DPoP required when
/// `dpop`) on 127.0.0.1.
async fn start_local_api(dpop: bool) -> Result<(String, String), Box<dyn Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let issuer = format!("{base}/dev");
    let verifier =
        JwtVerifier::builder().issuer(Issuer::new(&issuer).discover()).audience(dev_issuer::DEV_AUDIENCE).build()?;
    let (api_dpop, token_dpop) = match dpop {
        true => (
            Dpop::builder(DpopMode::Required).public_url(&base).build()?,
            Dpop::builder(DpopMode::Allowed).public_url(&base).build()?,
        ),
        false => (Dpop::off(), Dpop::off()),
    };
    let app = Router::new()
        .route("/items", get(|| async { r#"{"items":["apple","pear"]}"# }))
        .layer(BearerLayer::new(verifier).require(scope("read:items")).dpop(api_dpop))
        .nest("/dev", dev_issuer::dev_issuer_routes(issuer, token_dpop)?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((format!("{base}/dev/token"), format!("{base}/items")))
}
