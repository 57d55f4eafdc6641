//! Interop with a real, independent authorization server: panva's `oidc-provider`
//! (OpenID Certified), installed from npm by `.ci/run` (`npm ci --prefix tests/interop`)
//! and started on 127.0.0.1 by this test. Without Node or the installed package the
//! test is skipped with a message saying how to enable it.

mod common;

use std::time::Duration;

use common::oidc_provider::{Idp, free_port, unavailable};
use common::{app, get_bearer, serve};
use reqwest::StatusCode;
use serde_json::Value;
use tower_bearer::keys::RemoteJwks;
use tower_bearer::policy::claim;
use tower_bearer::{BearerLayer, Issuer, JwtVerifier};

const API: &str = "https://api.example.com";

#[tokio::test]
async fn oidc_provider_end_to_end() {
    if let Some(why) = unavailable() {
        // CI sets this so that a broken install fails loudly instead of skipping.
        assert!(std::env::var_os("TOWER_BEARER_REQUIRE_INTEROP").is_none(), "interop suite required: {why}");
        eprintln!("SKIPPED interop suite: {why}");
        return;
    }
    let port = free_port();
    let keys_file = std::env::temp_dir().join(format!("tower-bearer-interop-{port}.json"));
    let _ = std::fs::remove_file(&keys_file);
    let mut idp = Idp::start(port, &keys_file, false);

    let keys = RemoteJwks::builder().discovery(&idp.issuer()).cooldown(Duration::from_secs(1)).build().unwrap();
    let verifier = JwtVerifier::builder()
        .issuer(Issuer::new(idp.issuer()).keys(keys.clone()))
        .audience(API)
        .require_access_token_typ()
        .leeway(Duration::ZERO)
        .build()
        .unwrap();
    let auth = BearerLayer::new(verifier).realm("api").require(claim("name").and(claim("oid")));
    let base = serve(app(auth)).await;
    let (me, items, admin) = (format!("{base}/me"), format!("{base}/items"), format!("{base}/admin"));

    // Valid token with scopes, roles and extra claims.
    let admin_token = idp.token("admin-client", "read:items write:items", API).await;
    let r = get_bearer(&me, &admin_token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["sub"], "admin-client");
    assert_eq!(r.json()["roles"], serde_json::json!(["items.admin"]));
    assert_eq!(get_bearer(&items, &admin_token).await.status, StatusCode::OK);
    assert_eq!(get_bearer(&admin, &admin_token).await.status, StatusCode::OK);

    // Missing scope: 403 naming it.
    let no_read = idp.token("admin-client", "write:items", API).await;
    let r = get_bearer(&items, &no_read).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.challenge().contains(r#"scope="read:items""#), "{}", r.challenge());

    // Missing role: 403.
    let reader = idp.token("reader-client", "read:items", API).await;
    assert_eq!(get_bearer(&items, &reader).await.status, StatusCode::OK);
    let r = get_bearer(&admin, &reader).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.challenge().contains("missing role 'items.admin'"));

    // A token for another resource: wrong audience, 401.
    let other = idp.token("admin-client", "read:items", "https://other.example.com").await;
    let r = get_bearer(&me, &other).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.challenge().contains(r#"error="invalid_token""#));

    // Expired: a 2-second token, no leeway.
    let short = idp.token("admin-client", "read:items", "https://short.example.com").await;
    let short_verifier = JwtVerifier::builder()
        .issuer(Issuer::new(idp.issuer()).keys(keys.clone()))
        .audience("https://short.example.com")
        .leeway(Duration::ZERO)
        .build()
        .unwrap();
    let short_me = format!("{}/me", serve(app(BearerLayer::new(short_verifier))).await);
    assert_eq!(get_bearer(&short_me, &short).await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let r = get_bearer(&short_me, &short).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.challenge().contains("expired"));

    // Key rotation at the IdP: a new signing key is published and used; accepted
    // without restarting the service.
    let fetches_before = keys.health().fetches_ok;
    idp.stop();
    let mut idp = Idp::start(port, &keys_file, true);
    let rotated = idp.token("admin-client", "read:items", API).await;
    assert_ne!(kid(&rotated), kid(&admin_token), "the IdP signs with the new key");
    let r = get_bearer(&items, &rotated).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(keys.health().fetches_ok, fetches_before + 1, "one refetch for the new kid");
    assert_eq!(get_bearer(&items, &admin_token).await.status, StatusCode::OK, "old key still published");

    // The IdP goes away: cached keys keep serving.
    idp.stop();
    assert_eq!(get_bearer(&items, &rotated).await.status, StatusCode::OK);
    assert_eq!(get_bearer(&items, &admin_token).await.status, StatusCode::OK);
    let _ = std::fs::remove_file(&idp.keys_file);
}

fn kid(token: &str) -> String {
    use base64::Engine as _;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap();
    serde_json::from_slice::<Value>(&header).unwrap()["kid"].as_str().unwrap().to_owned()
}
