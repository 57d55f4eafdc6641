//! Every limit is configurable, and each one holds.

use crate::common;

use std::time::{Duration, Instant};

use common::{REALM, app, assert_invalid, get_bearer, serve, serve_with_keys};
use reqwest::StatusCode;
use serde_json::json;
use tower::ServiceExt as _;
use tower_bearer::testing::{TEST_AUDIENCE, TestIssuer};
use tower_bearer::{BearerLayer, Issuer, JwtVerifier};
use tower_bearer::{Clock as _, SystemClock};

#[tokio::test]
async fn token_length() {
    let idp = TestIssuer::start().await;
    let token = idp.token().sign();
    let exact = serve(app(BearerLayer::new(idp.verifier()).max_token_len(token.len()))).await;
    assert_eq!(get_bearer(&format!("{exact}/me"), &token).await.status, StatusCode::OK);
    let short = serve(app(BearerLayer::new(idp.verifier()).max_token_len(token.len() - 1))).await;
    let r = get_bearer(&format!("{short}/me"), &token).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.challenge().contains(r#"error="invalid_request""#) && r.challenge().contains("too long"),
        "{}",
        r.challenge()
    );

    // The default cap refuses a 10 MB token before parsing: at once, and with no key fetch.
    let fetches = idp.jwks_fetches();
    let service = app(BearerLayer::new(idp.verifier()));
    let huge = format!("Bearer {}", "A".repeat(10 * 1024 * 1024));
    let req = http::Request::get("/me").header("authorization", huge).body(axum::body::Body::empty()).unwrap();
    let started = Instant::now();
    let res = service.oneshot(req).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let challenge = res.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains(r#"error="invalid_request""#) && challenge.contains("too long"), "{challenge}");
    assert_eq!(idp.jwks_fetches(), fetches);
    // Over HTTP, hyper itself refuses a 10 MB header; it never reaches the service.
    let base = serve(app(BearerLayer::new(idp.verifier()))).await;
    let over_http = common::client()
        .get(format!("{base}/me"))
        .header("authorization", format!("Bearer {}", "A".repeat(10 << 20)))
        .send()
        .await;
    if let Ok(r) = over_http {
        assert!(r.status().is_client_error(), "{}", r.status());
    }
}

/// Claims that pass every check, for tokens signed as raw JSON text.
fn good_claims(idp: &TestIssuer) -> String {
    json!({"iss": idp.issuer(), "aud": TEST_AUDIENCE, "sub": "mallory", "exp": SystemClock.now() + 300}).to_string()
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

    // A 100 KiB header: past the 16 KiB token cap, a 400 before any decoding.
    let header = json!({"alg":"RS256","kid":idp.current_kid(),"pad":"x".repeat(100 * 1024)}).to_string();
    let token = idp.sign_raw(None, &header, &good_claims(&idp));
    let default = serve(app(BearerLayer::new(idp.verifier()).realm(REALM))).await;
    assert_eq!(get_bearer(&format!("{default}/me"), &token).await.status, StatusCode::BAD_REQUEST);
    // With the token cap raised, the default 4 KiB JOSE-header cap still refuses it undecoded.
    let raised = serve(app(BearerLayer::new(idp.verifier()).realm(REALM).max_token_len(1 << 20))).await;
    let started = Instant::now();
    assert_invalid(&format!("{raised}/me"), &token).await;
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[tokio::test]
async fn json_nesting_depth() {
    let idp = TestIssuer::start().await;
    let token = idp.token().claim("realm_access", json!({"roles": ["a"]})).sign(); // claims nest 3 deep
    let three = serve(app(BearerLayer::new(idp.verifier_builder().max_json_depth(3).build().unwrap()))).await;
    assert_eq!(get_bearer(&format!("{three}/me"), &token).await.status, StatusCode::OK);
    let two = serve(app(BearerLayer::new(idp.verifier_builder().max_json_depth(2).build().unwrap()))).await;
    assert_eq!(get_bearer(&format!("{two}/me"), &token).await.status, StatusCode::UNAUTHORIZED);

    // Three thousand nested arrays, in the claims or in the header, under the default depth.
    let me = format!("{}/me", serve(app(BearerLayer::new(idp.verifier()).realm(REALM))).await);
    let nested = format!(
        r#"{{"iss":"{}","aud":"{TEST_AUDIENCE}","exp":{},"x":{}{}}}"#,
        idp.issuer(),
        SystemClock.now() + 60,
        "[".repeat(3000),
        "]".repeat(3000)
    );
    let header = json!({"alg":"RS256","kid":idp.current_kid()}).to_string();
    assert_invalid(&me, &idp.sign_raw(None, &header, &nested)).await;
    let nested_header = format!(r#"{{"alg":"RS256","x":{}{}}}"#, "[".repeat(3000), "]".repeat(3000));
    assert_invalid(&me, &idp.sign_raw(None, &nested_header, &good_claims(&idp))).await;
}

#[tokio::test]
async fn jwks_body_size() {
    let idp = TestIssuer::start().await;
    let body_len = reqwest::get(idp.jwks_url()).await.unwrap().bytes().await.unwrap().len();
    let fits = idp.remote_jwks().max_body(body_len).build().unwrap();
    assert_eq!(fits.prefetch().await.unwrap(), 1);
    let tight = idp.remote_jwks().max_body(body_len - 1).build().unwrap();
    assert!(tight.prefetch().await.is_err());
    // Behind the layer: 503, and the health report names the cap.
    let tight = idp.remote_jwks().max_body(body_len - 1).build().unwrap();
    let me = serve_with_keys(&idp, tight.clone()).await;
    assert_eq!(get_bearer(&me, &idp.token().sign()).await.status, StatusCode::SERVICE_UNAVAILABLE);
    let error = tight.health().last_error.unwrap();
    assert!(error.contains(&format!("larger than {} bytes", body_len - 1)), "{error}");
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

#[tokio::test]
async fn negative_cache_capacity() {
    let idp = TestIssuer::start().await;
    let token = idp.token().header("kid", json!("absent")).sign();
    let cooldown = Duration::from_millis(150);

    // Default capacity: the absent kid is remembered, so later sightings cost nothing.
    let url = serve_with_keys(&idp, idp.remote_jwks().cooldown(cooldown).build().unwrap()).await;
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
    let url = serve_with_keys(&idp, forgetful).await;
    for _ in 0..3 {
        tokio::time::sleep(cooldown * 2).await;
        assert_eq!(get_bearer(&url, &token).await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(idp.jwks_fetches() - with_cache, 3, "cold load, then a refetch at each later sighting");

    // Issue 12 item 14: capacity `n` bounds what is remembered (40 absent kids, no cooldown).
    async fn refetches_on_second_pass(capacity: u64) -> usize {
        let idp = TestIssuer::start().await;
        let store = idp.remote_jwks().cooldown(Duration::ZERO).negative_cache_capacity(capacity).build().unwrap();
        let me = serve_with_keys(&idp, store).await;
        assert_eq!(get_bearer(&me, &idp.token().sign()).await.status, StatusCode::OK);
        let tokens: Vec<String> =
            (0..40).map(|i| idp.token().header("kid", json!(format!("absent-{i}"))).sign()).collect();
        for t in &tokens {
            assert_eq!(get_bearer(&me, t).await.status, StatusCode::UNAUTHORIZED);
        }
        let before = idp.jwks_fetches();
        for t in &tokens {
            assert_eq!(get_bearer(&me, t).await.status, StatusCode::UNAUTHORIZED);
        }
        idp.jwks_fetches() - before
    }
    assert_eq!(refetches_on_second_pass(10_000).await, 0, "a large cache remembers every absent kid");
    let small = refetches_on_second_pass(4).await;
    assert!(small >= 30, "a 4-entry cache cannot remember 40 kids: {small} refetches");
}
