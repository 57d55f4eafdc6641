//! Drives `examples/protected_api` as a process, the way outside checks do (with a
//! real authorization server: tests/interop.rs).

mod common;

use std::process::Command;

use common::examples::{binary, example_binary, start};
use common::{client, get_bearer, get_with};
use reqwest::StatusCode;
use serde_json::Value;
use tower_bearer::testing::{TEST_AUDIENCE, TestIssuer};

async fn dev_token(base: &str, form: &[(&str, &str)]) -> String {
    let res = client().post(format!("{base}/dev/token")).form(form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn embedded_dev_issuer_and_every_route() {
    let app = start(&[]);
    let base = &app.base;
    assert_eq!(get_with(&format!("{base}/healthz"), &[]).await.status, StatusCode::OK);
    let reader = dev_token(base, &[("scope", "read:items"), ("sub", "ann")]).await;
    let admin = dev_token(base, &[("scope", "read:items write:items"), ("roles", "items.admin")]).await;

    let r = get_bearer(&format!("{base}/me"), &reader).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["sub"], "ann");
    assert_eq!(r.json()["scopes"], serde_json::json!(["read:items"]));
    assert_eq!(get_bearer(&format!("{base}/items"), &reader).await.status, StatusCode::OK);
    let r = client().post(format!("{base}/items")).bearer_auth(&reader).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains(r#"scope="write:items""#));
    let r = client().post(format!("{base}/items")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(get_bearer(&format!("{base}/admin"), &reader).await.status, StatusCode::FORBIDDEN);
    assert_eq!(get_bearer(&format!("{base}/admin"), &admin).await.status, StatusCode::OK);
    let r = get_with(&format!("{base}/items"), &[]).await;
    assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, r#"Bearer realm="protected-api""#));

    let health = get_with(&format!("{base}/healthz"), &[]).await.json();
    assert_eq!(health["issuers"][0]["issuer"], format!("{base}/dev"));
    assert_eq!(health["issuers"][0]["keys"]["state"], "fresh");

    // Bad input to the dev token endpoint is a 400, not a 500.
    let r = client().post(format!("{base}/dev/token")).form(&[("expires_in", "soon")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let short = dev_token(base, &[("expires_in", "1")]).await;
    assert_eq!(get_bearer(&format!("{base}/me"), &short).await.status, StatusCode::OK);
}

#[tokio::test]
async fn several_external_issuers() {
    let a = TestIssuer::start().await;
    let b = TestIssuer::start().await;
    let issuers = format!("{} {}", a.issuer(), b.issuer());
    let app = start(&[("ISSUER", &issuers), ("AUDIENCE", &format!("other {TEST_AUDIENCE}")), ("ROLES_CLAIM", "roles")]);
    let base = app.base.clone();
    for idp in [&a, &b] {
        let t = idp.token().role("items.admin").sign();
        assert_eq!(get_bearer(&format!("{base}/admin"), &t).await.status, StatusCode::OK);
    }
    let health = get_with(&format!("{base}/healthz"), &[]).await.json();
    assert_eq!(health["issuers"].as_array().unwrap().len(), 2);
    assert_eq!(health["issuers"][1]["keys"]["key_count"], 1);
}

#[test]
fn missing_audience_is_a_startup_error() {
    let out = Command::new(example_binary())
        .env("BIND", "127.0.0.1:0")
        .env("ISSUER", "https://idp.example.com")
        .env_remove("AUDIENCE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("AUDIENCE is required"));
}

#[tokio::test]
async fn client_credentials_example_calls_the_dev_issuer() {
    let app = start(&[]);
    let run = |scope: &str| {
        Command::new(binary("client_credentials"))
            .env("TOKEN_URL", format!("{}/dev/token", app.base))
            .env("API_URL", format!("{}/items", app.base))
            .env("CLIENT_ID", "demo")
            .env("SCOPE", scope)
            .output()
            .unwrap()
    };
    let ok = run("read:items");
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success() && out.contains("200 OK") && out.contains("apple"), "{out}");
    let denied = run("other");
    assert!(String::from_utf8_lossy(&denied.stdout).contains("403 Forbidden"));
    // With no environment it runs against its own in-process API.
    let alone = Command::new(binary("client_credentials")).output().unwrap();
    assert!(String::from_utf8_lossy(&alone.stdout).contains("200 OK"));
}
