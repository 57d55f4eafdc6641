//! Regression tests for the outside audit's findings on keys, claims and the layer
//! (issue 12, items 13-19), each over real HTTP on 127.0.0.1.

use crate::common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::{app, get_bearer, serve, serve_with_keys};
use josekit::jwk::KeyPair as _;
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_bearer::axum::{Authorized, Claims, Guard};
use tower_bearer::keys::VerificationKey;
use tower_bearer::policy::{Requirement, role};
use tower_bearer::testing::{Outage, TEST_AUDIENCE, TestIssuer};
use tower_bearer::{BearerLayer, ClaimPath, Issuer, JwtVerifier};

const MS: fn(u64) -> Duration = Duration::from_millis;

fn verifier_with_roles(idp: &TestIssuer, path: impl Into<ClaimPath>) -> Result<JwtVerifier, tower_bearer::ConfigError> {
    let issuer = Issuer::new(idp.issuer()).discover().roles_claim(path);
    JwtVerifier::builder().issuer(issuer).audience(TEST_AUDIENCE).build()
}

/// Item 13: while usable keys exist, an unknown `kid` is `401 invalid_token` whether
/// or not the refetch it triggers fails, and whatever way it fails.
#[tokio::test]
async fn unknown_kid_during_an_outage_is_401_not_503() {
    for outage in [Outage::Status(500), Outage::Hang, Outage::Garbage("<html>down</html>".into())] {
        let idp = TestIssuer::start().await;
        let store = idp.remote_jwks().cooldown(MS(300)).timeout(MS(300)).build().unwrap();
        let me = serve_with_keys(&idp, store.clone()).await;
        let good = idp.token().sign();
        assert_eq!(get_bearer(&me, &good).await.status, StatusCode::OK);
        tokio::time::sleep(MS(350)).await; // past the cooldown of the cold fetch

        idp.set_outage(outage.clone());
        let stranger = idp.token().header("kid", json!("not-published")).sign();
        // The first one triggers the (failing) refetch, the second lands in the cooldown:
        // both get the same answer.
        for attempt in ["triggers the refetch", "inside the cooldown"] {
            let r = get_bearer(&me, &stranger).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{outage:?}, {attempt}: {}", r.body);
            assert!(r.challenge().contains(r#"error="invalid_token""#), "{outage:?}: {}", r.challenge());
        }
        assert!(store.health().fetches_failed >= 1, "{outage:?}: the refetch was tried and failed");
        assert_eq!(get_bearer(&me, &good).await.status, StatusCode::OK, "{outage:?}: cached keys still serve");
    }
}

/// Item 13, the other half: with no usable keys at all the answer stays 503.
#[tokio::test]
async fn unknown_kid_with_no_usable_keys_is_still_503() {
    let idp = TestIssuer::start().await;
    idp.set_outage(Outage::Status(500));
    let store = idp.remote_jwks().timeout(MS(300)).build().unwrap();
    let me = serve_with_keys(&idp, store).await;
    let r = get_bearer(&me, &idp.token().header("kid", json!("not-published")).sign()).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
}

/// Item 16: duplicate members are refused at every depth, not only the top level.
#[tokio::test]
async fn duplicate_members_are_refused_at_every_depth() {
    let idp = TestIssuer::start().await;
    let verifier = verifier_with_roles(&idp, "realm_access.roles");
    let base = serve(app(BearerLayer::new(verifier.unwrap()).detailed_errors(true))).await;
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 300;
    let claims = |inner: &str| {
        format!(r#"{{"iss":"{}","aud":"{TEST_AUDIENCE}","exp":{exp},"sub":"u","realm_access":{inner}}}"#, idp.issuer())
    };
    let header = format!(r#"{{"alg":"RS256","kid":"{}"}}"#, idp.current_kid());
    let single = idp.sign_raw(Some(&idp.current_kid()), &header, &claims(r#"{"roles":["items.admin"]}"#));
    assert_eq!(get_bearer(&format!("{base}/admin"), &single).await.status, StatusCode::OK);

    let nested =
        idp.sign_raw(Some(&idp.current_kid()), &header, &claims(r#"{"roles":["user"],"roles":["items.admin"]}"#));
    let r = get_bearer(&format!("{base}/admin"), &nested).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert!(r.challenge().contains("malformed"), "{}", r.challenge());
    let deeper = idp.sign_raw(Some(&idp.current_kid()), &header, &claims(r#"{"x":[{"a":1,"a":2}],"roles":[]}"#));
    assert_eq!(get_bearer(&format!("{base}/me"), &deeper).await.status, StatusCode::UNAUTHORIZED);
}

/// Item 17: a top-level claim whose name contains a dot never shadows the nested path;
/// a literal dot is written `\.` (or the key is named with `ClaimPath::key`).
#[tokio::test]
async fn claim_paths_are_unambiguous() {
    let idp = TestIssuer::start().await;
    let shadowing = json!({"realm_access.roles": ["items.admin"], "realm_access": {"roles": ["user"]}});
    let mut token = idp.token();
    for (k, v) in shadowing.as_object().unwrap() {
        token = token.claim(k, v.clone());
    }
    let token = token.sign();
    let nested = verifier_with_roles(&idp, "realm_access.roles");
    let base = serve(app(BearerLayer::new(nested.unwrap()))).await;
    assert_eq!(get_bearer(&format!("{base}/admin"), &token).await.status, StatusCode::FORBIDDEN);
    assert_eq!(get_bearer(&format!("{base}/me"), &token).await.json()["roles"], json!(["user"]));

    for literal in [ClaimPath::new(r"realm_access\.roles"), ClaimPath::key("realm_access.roles")] {
        let v = verifier_with_roles(&idp, literal);
        let base = serve(app(BearerLayer::new(v.unwrap()))).await;
        assert_eq!(get_bearer(&format!("{base}/admin"), &token).await.status, StatusCode::OK);
    }
}

/// Item 18: RSA keys are measured in bits on every loading path: 2047 refused, 2048 kept.
#[tokio::test]
async fn rsa_keys_below_2048_bits_are_refused_on_every_path() {
    let weak = josekit::jwk::alg::rsa::RsaKeyPair::generate(2047).unwrap();
    let strong = josekit::jwk::alg::rsa::RsaKeyPair::generate(2048).unwrap();
    let modulus_len = |k: &josekit::jwk::alg::rsa::RsaKeyPair| {
        common::b64::decode(k.to_jwk_public_key().parameter("n").unwrap().as_str().unwrap()).len()
    };
    assert_eq!((modulus_len(&weak), modulus_len(&strong)), (256, 256), "both moduli are 256 bytes");

    assert!(VerificationKey::from_rsa_pem(&weak.to_pem_public_key(), None).is_err(), "PEM, 2047 bits");
    assert!(VerificationKey::from_rsa_pem(&weak.to_traditional_pem_public_key(), None).is_err(), "PKCS#1, 2047");
    assert!(VerificationKey::from_rsa_pem(&strong.to_pem_public_key(), None).is_ok(), "PEM, 2048 bits");
    let jwk = |k: &josekit::jwk::alg::rsa::RsaKeyPair, kid: &str| {
        let mut v: serde_json::Value = serde_json::from_str(&k.to_jwk_public_key().to_string()).unwrap();
        v["kid"] = json!(kid);
        v
    };
    assert!(VerificationKey::from_jwk(&jwk(&weak, "w").to_string()).is_err(), "JWK, 2047 bits");
    assert!(VerificationKey::from_jwk(&jwk(&strong, "s").to_string()).is_ok(), "JWK, 2048 bits");

    let idp = TestIssuer::start().await;
    idp.publish_raw_jwk(jwk(&weak, "weak"));
    idp.publish_raw_jwk(jwk(&strong, "strong"));
    let store = idp.remote_jwks().build().unwrap();
    let me = serve_with_keys(&idp, store.clone()).await;
    assert_eq!(get_bearer(&me, &idp.token().sign()).await.status, StatusCode::OK);
    assert_eq!(store.health().key_count, 2, "the issuer's own key and the 2048-bit one; the 2047-bit one skipped");
}

/// Item 19: a form body that fails to arrive is a `400`, not a `413`; only size is `413`.
#[tokio::test]
async fn form_body_errors_are_400_and_only_size_is_413() {
    let idp = TestIssuer::start().await;
    let router = Router::new().route("/me", axum::routing::post(|| async { "ok" }));
    let base = serve(router.layer(BearerLayer::new(idp.verifier()).with_form_body())).await;
    let addr = base.trim_start_matches("http://");

    async fn raw(addr: &str, request: &[u8]) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut out = vec![0; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut out)).await.unwrap().unwrap();
        String::from_utf8_lossy(&out[..n]).into_owned()
    }
    let broken = b"POST /me HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\n\
                   transfer-encoding: chunked\r\n\r\nzz-not-a-chunk-size\r\n\r\n";
    let answer = raw(addr, broken).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    let big = format!("access_token={}", "a".repeat(70 * 1024));
    let r = common::client()
        .post(format!("{base}/me"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

struct Admin;
impl Guard for Admin {
    fn requirement() -> Requirement {
        role("items.admin")
    }
}

#[derive(serde::Deserialize)]
struct TenantClaims {
    #[allow(dead_code)]
    tenant: String,
}

/// Item 15: the extractors answer exactly as the layer would (its realm, responder
/// and detail setting), and claims that do not fit the handler's type are a `403`
/// naming the claim, never `401 invalid_token`.
#[tokio::test]
async fn extractors_answer_as_the_layer_would() {
    let idp = TestIssuer::start().await;
    let auth = BearerLayer::new(idp.verifier()).realm("orders").detailed_errors(true);
    let router = Router::new()
        .route("/admin", get(|_: Authorized<Admin>| async { "admin" }))
        .route("/tenant", get(|_: Claims<TenantClaims>| async { "tenant" }))
        .route("/required", get(|_: tower_bearer::VerifiedToken| async { "ok" }))
        .layer(auth.clone());
    let base = serve(router).await;
    let layer_403 = serve(common::app(auth.clone())).await;
    let token = idp.token().sign();

    let by_layer = get_bearer(&format!("{layer_403}/admin"), &token).await;
    let by_extractor = get_bearer(&format!("{base}/admin"), &token).await;
    assert_eq!(by_extractor.status, StatusCode::FORBIDDEN);
    assert_eq!(by_extractor.challenge(), by_layer.challenge(), "same challenge as the layer");
    assert!(by_extractor.challenge().contains(r#"realm="orders""#), "{}", by_extractor.challenge());
    assert_eq!(by_extractor.body, by_layer.body);

    let r = get_bearer(&format!("{base}/tenant"), &token).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.challenge().contains(r#"error="insufficient_scope""#), "{}", r.challenge());
    assert!(r.challenge().contains("tenant"), "names the claim: {}", r.challenge());
    assert!(r.challenge().contains(r#"realm="orders""#), "{}", r.challenge());
    let with_tenant = idp.token().claim("tenant", json!("acme")).sign();
    assert_eq!(get_bearer(&format!("{base}/tenant"), &with_tenant).await.status, StatusCode::OK);

    // Without the layer, the extractors still answer (no realm to borrow): 401.
    let bare = serve(Router::new().route("/required", get(|_: tower_bearer::VerifiedToken| async { "ok" }))).await;
    assert_eq!(get_bearer(&format!("{bare}/required"), &token).await.status, StatusCode::UNAUTHORIZED);
}
