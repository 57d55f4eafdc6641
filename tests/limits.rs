//! Every limit is configurable, and each one holds.

mod common;

use std::time::Duration;

use common::{app, get_bearer, serve};
use reqwest::StatusCode;
use serde_json::json;
use tower_bearer::testing::{TEST_AUDIENCE, TestIssuer};
use tower_bearer::{BearerLayer, Issuer, JwtVerifier};

#[tokio::test]
async fn token_length() {
    let idp = TestIssuer::start().await;
    let token = idp.token().sign();
    let exact = serve(app(BearerLayer::new(idp.verifier()).max_token_len(token.len()))).await;
    assert_eq!(get_bearer(&format!("{exact}/me"), &token).await.status, StatusCode::OK);
    let short = serve(app(BearerLayer::new(idp.verifier()).max_token_len(token.len() - 1))).await;
    assert_eq!(get_bearer(&format!("{short}/me"), &token).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn header_size() {
    let idp = TestIssuer::start().await;
    let token = idp.token().header("pad", json!("x".repeat(300))).sign();
    let header_len = token.split('.').next().unwrap().len();
    let fits = serve(app(BearerLayer::new(idp.verifier_builder().max_header_len(header_len).build().unwrap()))).await;
    assert_eq!(get_bearer(&format!("{fits}/me"), &token).await.status, StatusCode::OK);
    let tight =
        serve(app(BearerLayer::new(idp.verifier_builder().max_header_len(header_len - 1).build().unwrap()))).await;
    assert_eq!(get_bearer(&format!("{tight}/me"), &token).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn json_nesting_depth() {
    let idp = TestIssuer::start().await;
    let token = idp.token().claim("realm_access", json!({"roles": ["a"]})).sign(); // claims nest 3 deep
    let three = serve(app(BearerLayer::new(idp.verifier_builder().max_json_depth(3).build().unwrap()))).await;
    assert_eq!(get_bearer(&format!("{three}/me"), &token).await.status, StatusCode::OK);
    let two = serve(app(BearerLayer::new(idp.verifier_builder().max_json_depth(2).build().unwrap()))).await;
    assert_eq!(get_bearer(&format!("{two}/me"), &token).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn jwks_body_size() {
    let idp = TestIssuer::start().await;
    let body_len = reqwest::get(idp.jwks_url()).await.unwrap().bytes().await.unwrap().len();
    let fits = idp.remote_jwks().max_body(body_len).build().unwrap();
    assert_eq!(fits.prefetch().await.unwrap(), 1);
    let tight = idp.remote_jwks().max_body(body_len - 1).build().unwrap();
    assert!(tight.prefetch().await.is_err());
}

#[tokio::test]
async fn keys_per_set() {
    let idp = TestIssuer::start().await;
    idp.rotate();
    idp.rotate();
    let all = idp.remote_jwks().build().unwrap();
    assert_eq!(all.prefetch().await.unwrap(), 3);
    let two = idp.remote_jwks().max_keys(2).build().unwrap();
    assert_eq!(two.prefetch().await.unwrap(), 2);
}

#[tokio::test]
async fn number_of_issuers() {
    let idp = TestIssuer::start().await;
    let build = |max: usize| {
        let mut b = JwtVerifier::builder().audience(TEST_AUDIENCE).max_issuers(max);
        for i in 0..3 {
            b = b.issuer(Issuer::new(format!("{}/{i}", idp.issuer())).jwks_url(idp.jwks_url()));
        }
        b.build()
    };
    assert!(build(3).is_ok());
    assert!(build(2).err().unwrap().to_string().contains("more than 2 issuers"));
}

async fn serve_store(idp: &TestIssuer, store: tower_bearer::keys::RemoteJwks) -> String {
    let v = JwtVerifier::builder().issuer(Issuer::new(idp.issuer()).keys(store)).audience(TEST_AUDIENCE).build();
    format!("{}/me", serve(app(BearerLayer::new(v.unwrap()))).await)
}

#[tokio::test]
async fn negative_cache_capacity() {
    let idp = TestIssuer::start().await;
    let token = idp.token().header("kid", json!("absent")).sign();
    let cooldown = Duration::from_millis(150);

    // Default capacity: the absent kid is remembered, so later sightings cost nothing.
    let url = serve_store(&idp, idp.remote_jwks().cooldown(cooldown).build().unwrap()).await;
    for _ in 0..3 {
        tokio::time::sleep(cooldown * 2).await;
        assert_eq!(get_bearer(&url, &token).await.status, StatusCode::UNAUTHORIZED);
    }
    let with_cache = idp.jwks_fetches();
    // The first sighting comes with the cold load (inside its cooldown), the second
    // refetches once and is remembered, the third costs nothing.
    assert_eq!(with_cache, 2);

    // Capacity zero: every sighting after a cooldown refetches.
    let forgetful = idp.remote_jwks().cooldown(cooldown).negative_cache_capacity(0).build().unwrap();
    let url = serve_store(&idp, forgetful).await;
    for _ in 0..3 {
        tokio::time::sleep(cooldown * 2).await;
        assert_eq!(get_bearer(&url, &token).await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(idp.jwks_fetches() - with_cache, 3, "cold load, then a refetch at each later sighting");
}
