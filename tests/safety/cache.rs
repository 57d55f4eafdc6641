//! The verified-token cache's safety rules.

use crate::common;

use std::time::Duration;

use common::{app, get_bearer, serve};
use reqwest::StatusCode;
use serde_json::json;
use tower_bearer::testing::{TEST_AUDIENCE, TestIssuer};
use tower_bearer::{BearerLayer, Issuer, JwtVerifier, ManualClock, Verifier, token::BearerToken};
use tower_bearer::{Clock as _, SystemClock};

#[tokio::test]
async fn repeated_tokens_hit_the_cache() {
    let idp = TestIssuer::start().await;
    let verifier = idp.verifier();
    let base = serve(app(BearerLayer::new(verifier.clone()))).await;
    let token = idp.token().sign();
    for _ in 0..5 {
        assert_eq!(get_bearer(&format!("{base}/me"), &token).await.status, StatusCode::OK);
    }
    let stats = verifier.cache_stats().unwrap();
    assert_eq!((stats.misses, stats.hits), (1, 4));
}

#[tokio::test]
async fn an_entry_never_outlives_exp() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::at(SystemClock.now());
    let verifier = idp.verifier_builder().clock(clock.clone()).leeway(Duration::from_secs(5)).build().unwrap();
    let me = format!("{}/me", serve(app(BearerLayer::new(verifier.clone()))).await);
    let token = idp.token().expires_in(Duration::from_secs(60)).sign();
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::OK);
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::OK);
    clock.advance(Duration::from_secs(66));
    let r = get_bearer(&me, &token).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.challenge().contains("expired"));
    assert!(verifier.cache_stats().unwrap().hits >= 2, "the refusal came from a cache hit");
}

/// An issuer whose key set is refetched every 200 ms, a verifier on it, and its `/me` URL.
async fn refreshing_every_200ms() -> (TestIssuer, JwtVerifier, String) {
    let idp = TestIssuer::start().await;
    let keys = idp
        .remote_jwks()
        .ttl_bounds(Duration::from_millis(100), Duration::from_secs(60))
        .ttl(Duration::from_millis(200))
        .build()
        .unwrap();
    let verifier =
        JwtVerifier::builder().issuer(Issuer::new(idp.issuer()).keys(keys)).audience(TEST_AUDIENCE).build().unwrap();
    let me = format!("{}/me", serve(app(BearerLayer::new(verifier.clone()))).await);
    (idp, verifier, me)
}

#[tokio::test]
async fn a_removed_key_ends_its_entries() {
    let (idp, verifier, me) = refreshing_every_200ms().await;
    let old_kid = idp.current_kid();
    let token = idp.token().sign();
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::OK);
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::OK);
    assert_eq!(verifier.cache_stats().unwrap().hits, 1);
    // The IdP revokes the key; once the set is refreshed the cached verification is void.
    idp.rotate();
    idp.unpublish(&old_kid);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(get_bearer(&me, &idp.token().sign()).await.status, StatusCode::OK); // refreshes the set
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_new_key_set_that_keeps_the_key_keeps_its_entries() {
    let (idp, verifier, me) = refreshing_every_200ms().await;
    let token = idp.token().sign();
    for _ in 0..2 {
        assert_eq!(get_bearer(&me, &token).await.status, StatusCode::OK);
    }
    assert_eq!(verifier.cache_stats().unwrap().hits, 1);
    // A new key is published beside the old one: the set changes, the token's key stays.
    idp.rotate();
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(get_bearer(&me, &idp.token().sign()).await.status, StatusCode::OK); // refreshes the set
    for _ in 0..2 {
        assert_eq!(get_bearer(&me, &token).await.status, StatusCode::OK);
    }
    let stats = verifier.cache_stats().unwrap();
    assert_eq!((stats.hits, stats.misses), (3, 2), "the old token stayed cached across the change");
}

#[tokio::test]
async fn a_refetch_of_the_same_keys_keeps_the_set() {
    use tower_bearer::keys::{KeyStore as _, Refresh};
    let idp = TestIssuer::start().await;
    let keys = idp
        .remote_jwks()
        .ttl_bounds(Duration::from_millis(50), Duration::from_secs(60))
        .ttl(Duration::from_millis(50))
        .build()
        .unwrap();
    let first = keys.refresh(Refresh::NoKeys).await.unwrap();
    let fetches = idp.jwks_fetches();
    tokio::time::sleep(Duration::from_millis(120)).await;
    let again = keys.refresh(Refresh::NoKeys).await.unwrap();
    assert!(idp.jwks_fetches() > fetches, "the set was fetched again");
    assert!(std::sync::Arc::ptr_eq(&first, &again), "same keys, same set: what was checked against it holds");
    assert!(keys.is_current(&first));
    idp.rotate();
    tokio::time::sleep(Duration::from_millis(120)).await;
    let changed = keys.refresh(Refresh::NoKeys).await.unwrap();
    assert!(!std::sync::Arc::ptr_eq(&first, &changed));
    assert!(!keys.is_current(&first) && keys.is_current(&changed));
}

#[tokio::test]
async fn keyed_by_the_whole_token_never_a_prefix() {
    let idp = TestIssuer::start().await;
    let verifier = idp.verifier();
    let token = idp.token().sign();
    assert!(verifier.verify(&BearerToken::new(token.as_str())).resolve().await.is_ok());
    // Same header and payload, one signature character changed (or appended): a miss,
    // then refused on its own merits.
    let last = token.chars().last().unwrap();
    let flipped = format!("{}{}", &token[..token.len() - 1], if last == 'A' { 'Q' } else { 'A' });
    for forged in [flipped, format!("{token}A"), format!("{token}AAAA"), token[..token.len() - 4].to_owned()] {
        assert!(verifier.verify(&BearerToken::new(forged.as_str())).resolve().await.is_err(), "{forged}");
    }
    let stats = verifier.cache_stats().unwrap();
    assert_eq!(stats.hits, 0);
    // The original still hits.
    assert!(verifier.verify(&BearerToken::new(token.as_str())).resolve().await.is_ok());
    assert_eq!(verifier.cache_stats().unwrap().hits, 1);
}

#[tokio::test]
async fn requirements_are_checked_per_route_on_every_hit() {
    let idp = TestIssuer::start().await;
    let verifier = idp.verifier();
    let base = serve(app(BearerLayer::new(verifier.clone()))).await;
    let token = idp.token().scope("other").sign();
    assert_eq!(get_bearer(&format!("{base}/me"), &token).await.status, StatusCode::OK);
    for _ in 0..3 {
        assert_eq!(get_bearer(&format!("{base}/items"), &token).await.status, StatusCode::FORBIDDEN);
        assert_eq!(get_bearer(&format!("{base}/admin"), &token).await.status, StatusCode::FORBIDDEN);
    }
    assert!(verifier.cache_stats().unwrap().hits >= 6);
}

#[tokio::test]
async fn failed_tokens_are_not_cached_and_the_cache_can_be_off() {
    let idp = TestIssuer::start().await;
    let verifier = idp.verifier();
    let bad = idp.token().audience("other").sign();
    for _ in 0..3 {
        assert!(verifier.verify(&BearerToken::new(bad.as_str())).resolve().await.is_err());
    }
    assert_eq!(verifier.cache_stats().unwrap().hits, 0);
    let off = idp.verifier_builder().no_token_cache().build().unwrap();
    assert!(off.cache_stats().is_none());
    let good = idp.token().claim("x", json!(1)).sign();
    assert!(off.verify(&BearerToken::new(good.as_str())).resolve().await.is_ok());
}

#[tokio::test]
async fn entries_are_bounded() {
    let idp = TestIssuer::start_with(tower_bearer::Algorithm::ES256).await;
    let verifier = idp.verifier_builder().token_cache(50, 1 << 20).build().unwrap();
    for i in 0..200 {
        let t = idp.token().claim("n", json!(i)).sign();
        assert!(verifier.verify(&BearerToken::new(t.as_str())).resolve().await.is_ok());
    }
    let entries = verifier.cache_stats().unwrap().entries;
    assert!((40..=50).contains(&entries), "{entries} entries for a bound of 50");
}
