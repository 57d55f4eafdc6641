//! The JWKS and key rotation over HTTP: a new key is published before it signs, the
//! old one stays published until its tokens have expired, on the server's clock.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tower_bearer::issue::server::AuthorizationServer;
use tower_bearer::issue::{KeyType, LocalIssuer};
use tower_bearer::keys::RemoteJwks;
use tower_bearer::token::BearerToken;
use tower_bearer::{Clock as _, Issuer, JwtVerifier, ManualClock, SystemClock, Verifier as _};

use super::metadata::{AUDIENCE, CLIENT_ID, key, kid, start, token};
use crate::common::client;

/// The `kid`s `/jwks` serves now.
async fn published(server: &AuthorizationServer) -> Vec<String> {
    let jwks: Value = client().get(format!("{}/jwks", server.issuer())).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks, server.jwks());
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

/// A resource server's verifier reading `/jwks` afresh, on `clock`.
fn resource_verifier(server: &AuthorizationServer, clock: &ManualClock) -> JwtVerifier {
    let jwks = RemoteJwks::from_url(&format!("{}/jwks", server.issuer())).unwrap();
    JwtVerifier::builder()
        .issuer(Issuer::new(server.issuer()).keys(jwks))
        .audience(AUDIENCE)
        .clock(clock.clone())
        .build()
        .unwrap()
}

async fn accepts(verifier: &JwtVerifier, token: &str) -> bool {
    verifier.verify(&BearerToken::new(token)).resolve().await.is_ok()
}

#[tokio::test]
async fn a_rotated_key_is_published_first_signs_after_the_delay_and_the_old_one_stays_until_its_tokens_expire() {
    let clock = ManualClock::at(SystemClock.now());
    let (old_jwk, new_jwk) = (key(KeyType::Rsa(2048), "old"), key(KeyType::P256, "new"));
    let (server, _) = start("", &old_jwk, |b| b.clock(clock.clone())).await;
    let by_old = token(&server).await;
    assert_eq!(kid(&by_old), "old");
    assert_eq!(published(&server).await, ["old"]);

    server.rotate_key(&new_jwk).unwrap();
    assert_eq!(published(&server).await, ["old", "new"], "published at once, the signing key first");
    clock.advance(Duration::from_secs(359));
    assert_eq!(kid(&token(&server).await), "old", "caches may not know the new key yet: the old one signs");
    assert_eq!(server.signing_kid(), "old");

    clock.advance(Duration::from_secs(1));
    let by_new = token(&server).await;
    assert_eq!(kid(&by_new), "new", "the publish delay (max-age 300 s + 60 s) has passed");
    assert_eq!(published(&server).await, ["new", "old"]);
    let resource = resource_verifier(&server, &clock);
    assert!(accepts(&resource, &by_old).await, "the old key's tokens still verify against /jwks");
    assert!(accepts(&resource, &by_new).await);

    // The old key stopped signing now; its last tokens live an hour, plus a minute of leeway.
    clock.advance(Duration::from_secs(3600 + 60 - 1));
    assert_eq!(published(&server).await, ["new", "old"]);
    let old_signer = LocalIssuer::new(server.issuer(), &old_jwk, AUDIENCE).unwrap().clock(clock.clone());
    let late_old = old_signer.token().subject(CLIENT_ID).sign().unwrap();
    assert!(accepts(&resource_verifier(&server, &clock), late_old.access_token()).await, "control: still published");

    clock.advance(Duration::from_secs(1));
    assert_eq!(published(&server).await, ["new"], "every token of the old key has expired: it drops off");
    let late_old = old_signer.token().subject(CLIENT_ID).sign().unwrap();
    let resource = resource_verifier(&server, &clock);
    assert!(!accepts(&resource, late_old.access_token()).await, "the retired key verifies nothing");
    assert!(accepts(&resource, &token(&server).await).await);
}

#[tokio::test]
async fn a_key_published_already_is_refused_and_nothing_changes() {
    let jwk = key(KeyType::P256, "k");
    let (server, _) = start("", &jwk, |b| b).await;
    let e = server.rotate_key(&key(KeyType::Ed25519, "k")).unwrap_err().to_string();
    assert!(e.contains("kid \"k\" is published already"), "{e}");
    assert!(server.rotate_key(&key(KeyType::Oct, "h")).unwrap_err().to_string().contains("asymmetric"));
    assert!(server.rotate_key("{\"kty\":\"RSA\"}").is_err(), "not a key that signs");
    assert_eq!(published(&server).await, ["k"]);
}

#[tokio::test]
async fn the_jwks_is_cacheable_read_only_and_changes_its_etag_with_the_ring() {
    let (server, _) = start("", &key(KeyType::P256, "a"), |b| b).await;
    let url = format!("{}/jwks", server.issuer());
    let res = client().get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/jwk-set+json");
    assert_eq!(res.headers()["cache-control"], "public, max-age=300");
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let jwks: Value = res.json().await.unwrap();
    let jwk = &jwks["keys"][0];
    assert_eq!(
        (jwk["kid"].as_str(), jwk["alg"].as_str(), jwk["use"].as_str()),
        (Some("a"), Some("ES256"), Some("sig"))
    );
    assert!(jwk.get("d").is_none(), "no private member: {jwk}");

    let res = client().get(&url).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let res = client().head(&url).send().await.unwrap();
    assert_eq!((res.status(), res.headers()["etag"].to_str().unwrap()), (StatusCode::OK, etag.as_str()));
    let res = client().post(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers()["allow"], "GET, HEAD");

    server.rotate_key(&key(KeyType::P256, "b")).unwrap();
    let res = client().get(&url).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "a new key is a new document");
    assert_ne!(res.headers()["etag"].to_str().unwrap(), etag);
}

#[tokio::test]
async fn the_publish_delay_sets_the_jwks_max_age_and_a_previous_key_stays_published_across_a_restart() {
    let clock = ManualClock::at(SystemClock.now());
    let previous = key(KeyType::P256, "before-restart");
    let (server, _) = start("", &key(KeyType::P256, "now"), |b| {
        b.clock(clock.clone()).key_publish_delay(Duration::from_secs(120)).previous_key(&previous)
    })
    .await;
    let res = client().get(format!("{}/jwks", server.issuer())).send().await.unwrap();
    assert_eq!(res.headers()["cache-control"], "public, max-age=60", "caches expire a minute before a new key signs");
    assert_eq!(published(&server).await, ["now", "before-restart"]);
    assert_eq!(kid(&token(&server).await), "now", "a previous key never signs");
    let before = LocalIssuer::new(server.issuer(), &previous, AUDIENCE).unwrap().clock(clock.clone());
    let old_token = before.token().subject(CLIENT_ID).sign().unwrap();
    assert!(accepts(&resource_verifier(&server, &clock), old_token.access_token()).await);
    server.rotate_key(&key(KeyType::P256, "next")).unwrap();
    clock.advance(Duration::from_secs(120));
    assert_eq!(kid(&token(&server).await), "next");
    clock.advance(Duration::from_secs(3660 - 120));
    assert_eq!(published(&server).await, ["next", "now"], "the previous key retired an hour and a minute after start");
}
