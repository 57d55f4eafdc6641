//! The remote key cache against a real JWKS server on 127.0.0.1 that counts
//! fetches, rotates keys and misbehaves on request.

mod common;

use std::time::{Duration, Instant};

use common::{app, get_bearer, serve, serve_with_keys};
use reqwest::StatusCode;
use serde_json::json;
use tower_bearer::keys::{KeyState, RemoteJwks, RemoteJwksBuilder};
use tower_bearer::testing::{Outage, TEST_AUDIENCE, TestIssuer};
use tower_bearer::{BearerLayer, Issuer, JwtVerifier};

const MS: fn(u64) -> Duration = Duration::from_millis;

fn quick(idp: &TestIssuer) -> RemoteJwksBuilder {
    idp.remote_jwks().ttl_bounds(MS(100), Duration::from_secs(3600))
}

#[tokio::test]
async fn rotation_is_picked_up_without_restart_and_removed_keys_stop_working() {
    let idp = TestIssuer::start().await;
    let store = idp.remote_jwks().cooldown(MS(200)).build().unwrap();
    let me = serve_with_keys(&idp, store).await;
    let first = idp.current_kid();
    let old_token = idp.token().sign();
    assert_eq!(get_bearer(&me, &old_token).await.status, StatusCode::OK);
    assert_eq!(idp.jwks_fetches(), 1);

    tokio::time::sleep(MS(250)).await;
    idp.rotate();
    idp.unpublish(&first);
    // A burst of requests naming the new kid: all share one refetch, none is refused.
    let new_token = idp.token().sign();
    let burst: Vec<_> = (0..20)
        .map(|_| {
            let (me, t) = (me.clone(), new_token.clone());
            tokio::spawn(async move { get_bearer(&me, &t).await.status })
        })
        .collect();
    for r in burst {
        assert_eq!(r.await.unwrap(), StatusCode::OK, "new key found by refetch");
    }
    assert_eq!(idp.jwks_fetches(), 2);
    // The refetched set replaced the old one: the unpublished key no longer verifies.
    assert_eq!(get_bearer(&me, &old_token).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_flood_of_unknown_kids_causes_at_most_one_fetch_per_cooldown() {
    let idp = TestIssuer::start().await;
    let store = idp.remote_jwks().cooldown(MS(500)).build().unwrap();
    let me = serve_with_keys(&idp, store.clone()).await;
    assert_eq!(get_bearer(&me, &idp.token().sign()).await.status, StatusCode::OK);
    tokio::time::sleep(MS(550)).await;

    let tokens: Vec<String> = (0..200)
        .map(|i| idp.token().header("kid", json!(format!("random-{i}-{}", rand::random::<u64>()))).sign())
        .collect();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for token in tokens {
        let me = me.clone();
        tasks.push(tokio::spawn(async move { get_bearer(&me, &token).await.status }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::UNAUTHORIZED);
    }
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(2), "flood took {elapsed:?}");
    // At most one refetch per cooldown the flood lasted (a loaded machine stretches the
    // flood past one 500 ms window; an idle one keeps it inside it: one refetch).
    let windows = 1 + elapsed.as_millis() as u64 / 500;
    let refetches = idp.jwks_fetches() as u64 - 1;
    assert!((1..=windows).contains(&refetches), "{refetches} refetches in {elapsed:?}");
    let health = store.health();
    assert_eq!(health.unknown_kid_refetches, refetches);
    // The rest were refused at once or joined a fetch.
    assert!(health.unknown_kid_rejected <= 200 - refetches);

    // The same unknown kid again after the cooldown: answered from the negative cache.
    tokio::time::sleep(MS(550)).await;
    let token = idp.token().header("kid", json!("random-0-repeat")).sign();
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(idp.jwks_fetches() as u64, refetches + 2, "first sighting refetches once, the repeat does not");
}

#[tokio::test]
async fn many_concurrent_cold_requests_cause_one_fetch() {
    let idp = TestIssuer::start().await;
    let verifier = idp.verifier(); // discovery, then JWKS
    let me = format!("{}/me", serve(app(BearerLayer::new(verifier))).await);
    let token = idp.token().sign();
    let mut tasks = Vec::new();
    for _ in 0..500 {
        let req = common::client().get(&me).bearer_auth(&token);
        tasks.push(tokio::spawn(async move { req.send().await.unwrap().status() }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(idp.discovery_fetches(), 1);
    assert_eq!(idp.jwks_fetches(), 1);
}

#[tokio::test]
async fn stale_keys_serve_through_an_outage_until_the_bound() {
    let idp = TestIssuer::start().await;
    let store = quick(&idp).ttl(MS(300)).max_stale(MS(700)).build().unwrap();
    let me = serve_with_keys(&idp, store.clone()).await;
    let token = idp.token().sign();
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::OK);

    idp.set_outage(Outage::Status(500));
    tokio::time::sleep(MS(400)).await; // past the TTL
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::OK, "stale keys serve");
    assert_eq!(store.health().state, KeyState::Stale);
    assert!(store.health().last_error.unwrap().contains("500"));

    tokio::time::sleep(MS(700)).await; // past TTL + max_stale
    let r = get_bearer(&me, &token).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(r.headers.contains_key("retry-after"));

    idp.set_outage(Outage::None);
    tokio::time::sleep(Duration::from_secs(1)).await; // let the 1 s retry backoff pass
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::OK, "recovers once the IdP is back");
    assert_eq!(store.health().state, KeyState::Fresh);
}

#[tokio::test]
async fn zero_max_stale_fails_closed() {
    let idp = TestIssuer::start().await;
    let store = quick(&idp).ttl(MS(200)).max_stale(Duration::ZERO).build().unwrap();
    let me = serve_with_keys(&idp, store).await;
    let token = idp.token().sign();
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::OK);
    idp.set_outage(Outage::Status(500));
    tokio::time::sleep(MS(250)).await;
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn refresh_ahead_happens_in_the_background() {
    let idp = TestIssuer::start().await;
    let store = quick(&idp).ttl(MS(400)).build().unwrap();
    let me = serve_with_keys(&idp, store).await;
    let token = idp.token().sign();
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::OK);
    tokio::time::sleep(MS(370)).await; // past refresh_at (75-90 % of TTL), before expiry
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::OK);
    tokio::time::sleep(MS(100)).await;
    assert_eq!(idp.jwks_fetches(), 2, "one background refresh");
}

#[tokio::test]
async fn cache_control_max_age_is_honoured_within_clamps() {
    let idp = TestIssuer::start().await;
    idp.set_cache_control(Some("public, max-age=0"));
    let store = idp.remote_jwks().ttl_bounds(MS(200), Duration::from_secs(3600)).build().unwrap();
    let me = serve_with_keys(&idp, store).await;
    let token = idp.token().sign();
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::OK);
    tokio::time::sleep(MS(250)).await; // max-age=0 clamped up to 200 ms, then expired
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::OK);
    assert_eq!(idp.jwks_fetches(), 2);
    // Without Cache-Control the default TTL (10 min) applies: no refetch.
    let idp = TestIssuer::start().await;
    let store = idp.remote_jwks().ttl_bounds(MS(200), Duration::from_secs(3600)).build().unwrap();
    let me = serve_with_keys(&idp, store).await;
    let token = idp.token().sign();
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::OK);
    tokio::time::sleep(MS(250)).await;
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::OK);
    assert_eq!(idp.jwks_fetches(), 1);
}

#[tokio::test]
async fn one_bad_jwk_does_not_poison_the_set() {
    let idp = TestIssuer::start().await;
    idp.publish_raw_jwk(json!({"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"}));
    idp.publish_raw_jwk(json!({"kty": "oct", "kid": "secret", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}));
    idp.publish_raw_jwk(json!("not an object"));
    let store = idp.remote_jwks().build().unwrap();
    let me = serve_with_keys(&idp, store.clone()).await;
    assert_eq!(get_bearer(&me, &idp.token().sign()).await.status, StatusCode::OK);
    assert_eq!(store.health().key_count, 1);
}

#[tokio::test]
async fn misbehaving_jwks_endpoints_give_503_quickly() {
    let cases = [
        Outage::Hang,
        Outage::Garbage("<html>oops</html>".into()),
        Outage::Garbage(r#"{"keys": []}"#.into()),
        Outage::Redirect("http://127.0.0.1:9/jwks".into()),
        Outage::Status(404),
    ];
    for outage in cases {
        let idp = TestIssuer::start().await;
        idp.set_outage(outage.clone());
        let store = idp.remote_jwks().timeout(MS(300)).build().unwrap();
        let me = serve_with_keys(&idp, store.clone()).await;
        let started = Instant::now();
        let r = get_bearer(&me, &idp.token().sign()).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{outage:?}");
        assert!(started.elapsed() < Duration::from_secs(2), "{outage:?} took {:?}", started.elapsed());
        assert_eq!(store.health().state, KeyState::NeverLoaded);
        assert_eq!(store.health().fetches_failed, 1, "{outage:?}");
    }
}

#[tokio::test]
async fn multiple_issuers_with_their_own_audiences_and_no_fetch_for_strangers() {
    let a = TestIssuer::start().await;
    let b = TestIssuer::start_with(tower_bearer::Algorithm::ES256).await;
    let stranger = TestIssuer::start().await;
    let verifier = JwtVerifier::builder()
        .issuer(Issuer::new(a.issuer()).discover())
        .issuer(Issuer::new(b.issuer()).jwks_url(b.jwks_url()).audience("b-api"))
        .audience(TEST_AUDIENCE)
        .build()
        .unwrap();
    let me = format!("{}/me", serve(app(BearerLayer::new(verifier))).await);
    assert_eq!(get_bearer(&me, &a.token().sign()).await.status, StatusCode::OK);
    assert_eq!(get_bearer(&me, &b.token().audience("b-api").sign()).await.status, StatusCode::OK);
    assert_eq!(get_bearer(&me, &b.token().sign()).await.status, StatusCode::UNAUTHORIZED, "b's own audience list");
    assert_eq!(get_bearer(&me, &stranger.token().sign()).await.status, StatusCode::UNAUTHORIZED);
    // A token claiming a trusted issuer but signed by the stranger fails on signature.
    let forged = stranger.token().issuer(a.issuer()).header("kid", json!(a.current_kid())).sign();
    assert_eq!(get_bearer(&me, &forged).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(stranger.jwks_fetches() + stranger.discovery_fetches(), 0, "untrusted issuers cause no I/O");
}

#[tokio::test]
async fn prefetch_reports_an_unreachable_idp() {
    let idp = TestIssuer::start().await;
    let verifier = idp.verifier();
    verifier.prefetch().await.unwrap();
    assert_eq!(idp.jwks_fetches(), 1);
    let down = TestIssuer::start().await;
    down.set_outage(Outage::Status(500));
    let err = down.verifier().prefetch().await.unwrap_err();
    assert!(format!("{err:?}").contains("500"), "{err:?}");
}

#[tokio::test]
async fn discovery_document_must_name_the_configured_issuer() {
    let idp = TestIssuer::start().await;
    // Same server, but configured with a trailing slash: not the same issuer string.
    let store = RemoteJwks::discover(&format!("{}/", idp.issuer())).unwrap();
    let err = store.prefetch().await.unwrap_err();
    assert!(format!("{err:?}").contains("names issuer"), "{err:?}");
}

#[tokio::test]
async fn etag_revalidation_keeps_the_keys() {
    let idp = TestIssuer::start().await;
    let store = quick(&idp).ttl(MS(200)).build().unwrap();
    let me = serve_with_keys(&idp, store.clone()).await;
    let token = idp.token().sign();
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::OK);
    tokio::time::sleep(MS(250)).await;
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::OK);
    assert_eq!((idp.jwks_fetches(), idp.jwks_not_modified()), (2, 1), "second fetch revalidated with If-None-Match");
    assert_eq!(store.health().state, KeyState::Fresh);
    // A changed set gets a new ETag and is fetched in full.
    idp.rotate();
    tokio::time::sleep(MS(250)).await;
    assert_eq!(get_bearer(&me, &idp.token().sign()).await.status, StatusCode::OK);
    assert_eq!(idp.jwks_not_modified(), 1);
}

#[tokio::test]
async fn keep_warm_refreshes_an_idle_cache_until_stopped() {
    let idp = TestIssuer::start().await;
    let store = quick(&idp).ttl(MS(200)).build().unwrap();
    let task = store.keep_warm().unwrap();
    tokio::time::sleep(MS(700)).await;
    let fetched = idp.jwks_fetches();
    assert!(fetched >= 3, "{fetched} fetches in 700 ms with a 200 ms TTL");
    assert_eq!(store.health().state, KeyState::Fresh);
    task.stop();
    tokio::time::sleep(MS(400)).await;
    let after = idp.jwks_fetches();
    tokio::time::sleep(MS(400)).await;
    assert_eq!(idp.jwks_fetches(), after, "no fetches after stop");
}

#[tokio::test]
async fn rfc8414_discovery_is_the_fallback() {
    let idp = TestIssuer::start().await;
    idp.set_oidc_discovery(false);
    let me = format!("{}/me", serve(app(BearerLayer::new(idp.verifier()))).await);
    assert_eq!(get_bearer(&me, &idp.token().sign()).await.status, StatusCode::OK);
    assert_eq!(idp.discovery_fetches(), 2, "OIDC location first (404), then RFC 8414");
}

#[tokio::test]
async fn health_reports_cooldown_and_counters() {
    let idp = TestIssuer::start().await;
    let store = idp.remote_jwks().build().unwrap();
    assert_eq!(store.health().state, KeyState::NeverLoaded);
    store.prefetch().await.unwrap();
    let h = store.health();
    assert_eq!((h.state, h.key_count, h.fetches_ok), (KeyState::Fresh, 1, 1));
    assert!(h.cooldown_remaining_secs > 25 && h.cooldown_remaining_secs <= 30, "{h:?}");
    assert_eq!(h.jwks_url.as_deref(), Some(idp.jwks_url().as_str()));
}

// Issue 14 item 4: an unreachable JWKS URL is a `KeyError` whose `source()` chain leads
// to the reqwest error; the health report names the whole cause.
#[tokio::test]
async fn key_errors_lead_to_the_underlying_error() {
    let store = RemoteJwks::from_url("http://127.0.0.1:9/jwks").unwrap(); // nothing listens there
    let err = store.prefetch().await.unwrap_err();
    assert!(err.to_string().contains("GET http://127.0.0.1:9/jwks"), "{err}");
    let chain: Vec<&(dyn std::error::Error + 'static)> =
        std::iter::successors(Some(&err as &(dyn std::error::Error + 'static)), |e| e.source()).collect();
    assert!(chain.iter().any(|e| e.downcast_ref::<reqwest::Error>().is_some()), "{err:?}");
    let last_error = store.health().last_error.unwrap();
    assert!(last_error.starts_with("GET http://127.0.0.1:9/jwks: could not connect: "), "{last_error}");

    // The verifier's 503 keeps the chain: its error names the fetch and leads to reqwest.
    let idp = TestIssuer::start().await;
    let verifier = JwtVerifier::builder()
        .issuer(Issuer::new(idp.issuer()).keys(RemoteJwks::from_url("http://127.0.0.1:9/jwks").unwrap()))
        .audience(TEST_AUDIENCE)
        .build()
        .unwrap();
    let token = tower_bearer::token::BearerToken::new(idp.token().sign());
    let err = tower_bearer::Verifier::verify(&verifier, &token).resolve().await.unwrap_err();
    assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(err.to_string().contains("GET http://127.0.0.1:9/jwks"), "{err}");
    let chain: Vec<&(dyn std::error::Error + 'static)> =
        std::iter::successors(Some(&err as &(dyn std::error::Error + 'static)), |e| e.source()).collect();
    assert!(chain.iter().any(|e| e.downcast_ref::<reqwest::Error>().is_some()), "{err:?}");
}

// Review of issue 14: a password in a JWKS URL never reaches health reports or errors.
#[tokio::test]
async fn a_url_password_is_never_shown() {
    let store = RemoteJwks::from_url("http://user:hunter2@127.0.0.1:9/jwks").unwrap(); // nothing listens there
    let err = store.prefetch().await.unwrap_err();
    let health = store.health();
    let shown = format!("{err} {err:?} {:?} {:?} {store:?}", health.jwks_url, health.last_error);
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(health.jwks_url.unwrap().contains("127.0.0.1:9/jwks"));
}
