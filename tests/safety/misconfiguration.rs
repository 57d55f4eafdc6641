//! Misconfigurations that used to fail silently at run time now say what is wrong
//! (issue 13, item 5), over real HTTP on 127.0.0.1.

use crate::common;

use axum::Router;
use axum::routing::get;
use common::logs::Capture;
use common::{get_bearer, serve};
use reqwest::StatusCode;
use tower_bearer::policy::scope;
use tower_bearer::testing::{TEST_AUDIENCE, TestIssuer};
use tower_bearer::{BearerLayer, Issuer, JwtVerifier};

#[tokio::test(flavor = "current_thread")]
async fn near_miss_issuer_is_logged_and_warned_once() {
    let (logs, _guard) = Capture::start();
    let idp = TestIssuer::start().await;
    // Configured with a trailing slash the tokens do not carry.
    let configured = format!("{}/", idp.issuer());
    let verifier = JwtVerifier::builder()
        .issuer(Issuer::new(&configured).keys(idp.remote_jwks().build().unwrap()))
        .audience(TEST_AUDIENCE)
        .build()
        .unwrap();
    let me = format!("{}/me", serve(common::app(BearerLayer::new(verifier))).await);
    let token = idp.token().sign();
    for _ in 0..3 {
        assert_eq!(get_bearer(&me, &token).await.status, StatusCode::UNAUTHORIZED);
    }
    let stranger = idp.token().issuer("https://elsewhere.example.com\nforged line").sign();
    assert_eq!(get_bearer(&me, &stranger).await.status, StatusCode::UNAUTHORIZED);

    let text = logs.text();
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains("WARN") && l.contains("trailing slash")).collect();
    assert_eq!(warnings.len(), 1, "warned once per distinct near miss:\n{text}");
    assert!(warnings[0].contains(idp.issuer()) && warnings[0].contains(&configured), "{}", warnings[0]);
    let received = format!("iss=\"{}\"", idp.issuer());
    assert!(text.lines().any(|l| l.contains("DEBUG") && l.contains(&received)), "received iss at debug:\n{text}");
    assert!(!text.contains("\nforged line"), "attacker text is escaped:\n{text}");
    assert!(text.contains(r"elsewhere.example.com\nforged line"), "shown escaped:\n{text}");
}

#[tokio::test(flavor = "current_thread")]
async fn requirement_without_the_outer_layer_names_the_mistake() {
    let (logs, _guard) = Capture::start();
    let idp = TestIssuer::start().await;
    let auth = BearerLayer::new(idp.verifier());
    // The mistake: a route layer, and no `.layer(auth)` around the router.
    let router = Router::new().route("/items", get(|| async { "items" }).route_layer(auth.requiring(scope("read"))));
    let base = serve(router).await;
    let token = idp.token().scope("read").sign();
    for _ in 0..2 {
        let r = get_bearer(&format!("{base}/items"), &token).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.json()["error_description"].as_str().unwrap().contains("no BearerLayer verified"), "{}", r.body);
    }
    let text = logs.text();
    assert_eq!(
        text.lines().filter(|l| l.contains("WARN") && l.contains("no BearerLayer verified")).count(),
        1,
        "{text}"
    );

    // With the layer in place the same request passes, and a missing token is the usual 401.
    let router = Router::new()
        .route("/items", get(|| async { "items" }).route_layer(auth.requiring(scope("read"))))
        .layer(auth.clone().optional());
    let base = serve(router).await;
    assert_eq!(get_bearer(&format!("{base}/items"), &token).await.status, StatusCode::OK);
    let r = common::get_with(&format!("{base}/items"), &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["error_description"], "an access token is required");
}

#[test]
fn empty_audience_is_refused_at_build() {
    let issuer = || Issuer::new("https://idp.example.com").jwks_url("https://idp.example.com/jwks");
    let e = JwtVerifier::builder().issuer(issuer()).audience("").build().err().expect("refused");
    assert!(e.to_string().contains("audience must not be empty"), "{e}");
    let e = JwtVerifier::builder().issuer(issuer().audience(" ")).build().err().expect("refused");
    assert!(e.to_string().contains("audience must not be empty"), "{e}");
}
