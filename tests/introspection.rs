//! RFC 7662 introspection against loopback servers for every failure (opaque tokens
//! and revocation at a real authorization server are in tests/interop.rs).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use common::api::redirecting;
use common::{app, get_bearer, serve};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tower_bearer::BearerLayer;
use tower_bearer::ClientAuth;
use tower_bearer::introspect::{CombinedVerifier, IntrospectMode, IntrospectionVerifier};
use tower_bearer::testing::TestIssuer;
use tower_bearer::{Clock as _, SystemClock};

/// A loopback introspection endpoint that counts calls and misbehaves on request.
#[derive(Clone)]
struct Fake {
    calls: Arc<AtomicUsize>,
    mode: Arc<std::sync::Mutex<Mode>>,
}

#[derive(Clone)]
enum Mode {
    Answer(Value),
    Status(u16),
    Hang,
    Body(String),
}

async fn fake() -> (String, Fake) {
    let f =
        Fake { calls: Arc::default(), mode: Arc::new(std::sync::Mutex::new(Mode::Answer(json!({"active": false})))) };
    let state = f.clone();
    let app = Router::new().route(
        "/introspect",
        post(move |headers: http::HeaderMap, body: String| {
            let state = state.clone();
            async move {
                state.calls.fetch_add(1, Ordering::SeqCst);
                assert!(body.contains("token_type_hint=access_token"));
                assert!(headers.contains_key("authorization"), "client_secret_basic");
                let mode = state.mode.lock().unwrap().clone();
                match mode {
                    Mode::Answer(v) => (StatusCode::OK, v.to_string()),
                    Mode::Status(s) => (StatusCode::from_u16(s).unwrap(), String::new()),
                    Mode::Hang => std::future::pending().await,
                    Mode::Body(b) => (StatusCode::OK, b),
                }
            }
        }),
    );
    (format!("{}/introspect", serve(app).await), f)
}

fn active(aud: &str) -> Value {
    json!({"active": true, "sub": "u1", "aud": aud, "scope": "read:items", "exp": SystemClock.now() + 300, "client_id": "c"})
}

async fn layer_over(
    endpoint: &str,
    tweak: impl FnOnce(
        tower_bearer::introspect::IntrospectionVerifierBuilder,
    ) -> tower_bearer::introspect::IntrospectionVerifierBuilder,
) -> String {
    let b = IntrospectionVerifier::builder()
        .endpoint(endpoint)
        .client_auth(ClientAuth::basic("rs", "s:e/cret"))
        .audience("api")
        .timeout(Duration::from_millis(300));
    format!("{}/me", serve(app(BearerLayer::new(tweak(b).build().unwrap()))).await)
}

#[tokio::test]
async fn failures_are_503_never_401() {
    let (endpoint, f) = fake().await;
    let me = layer_over(&endpoint, |b| b.no_cache().max_body(1024)).await;
    for (mode, what) in [
        (Mode::Status(500), "server error"),
        (Mode::Status(401), "our client credentials rejected"),
        (Mode::Hang, "slow"),
        (Mode::Body("<html>".into()), "not JSON"),
        (Mode::Body("[1]".into()), "not an object"),
        (Mode::Body(format!("{{\"active\":true,\"pad\":\"{}\"}}", "x".repeat(4096))), "oversized"),
    ] {
        *f.mode.lock().unwrap() = mode;
        let started = Instant::now();
        let r = get_bearer(&me, "opaque-token").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{what}");
        assert!(r.headers.contains_key("retry-after"), "{what}");
        assert!(started.elapsed() < Duration::from_secs(2), "{what}");
    }
    // Nothing listening at all.
    let down = layer_over("http://127.0.0.1:9/introspect", |b| b).await;
    assert_eq!(get_bearer(&down, "opaque-token").await.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn answers_are_checked_like_jwts() {
    let (endpoint, f) = fake().await;
    let me = layer_over(&endpoint, |b| b.no_cache().issuer("https://as.example.com")).await;
    let cases = [
        (json!({"active": false}), StatusCode::UNAUTHORIZED),
        (json!({"active": "true", "aud": "api"}), StatusCode::UNAUTHORIZED),
        (active("other-api"), StatusCode::UNAUTHORIZED),
        (json!({"active": true, "scope": "read:items"}), StatusCode::UNAUTHORIZED), // no aud
        (json!({"active": true, "aud": "api", "exp": SystemClock.now() - 3600}), StatusCode::UNAUTHORIZED),
        (json!({"active": true, "aud": "api", "nbf": SystemClock.now() + 3600}), StatusCode::UNAUTHORIZED),
        (json!({"active": true, "aud": ["x", "api"], "iss": "https://evil.example.com"}), StatusCode::UNAUTHORIZED),
        (json!({"active": true, "aud": ["x", "api"], "iss": "https://as.example.com"}), StatusCode::OK),
        (active("api"), StatusCode::OK),
        // Bound to a DPoP key or a client certificate: not checkable here (fail closed).
        (json!({"active": true, "aud": "api", "cnf": {"jkt": "x"}}), StatusCode::UNAUTHORIZED),
        (json!({"active": true, "aud": "api", "cnf": {"x5t#S256": "y"}}), StatusCode::UNAUTHORIZED),
        // A DPoP token whose answer lost its `cnf` is not a bearer token (RFC 9449 §6.2).
        (json!({"active": true, "aud": "api", "token_type": "DPoP"}), StatusCode::UNAUTHORIZED),
        (json!({"active": true, "aud": "api", "token_type": "Bearer"}), StatusCode::OK),
    ];
    for (answer, status) in cases {
        *f.mode.lock().unwrap() = Mode::Answer(answer.clone());
        assert_eq!(get_bearer(&me, "opaque-token").await.status, status, "{answer}");
    }
}

#[tokio::test]
async fn cached_single_flight_and_negative_ttl() {
    let (endpoint, f) = fake().await;
    *f.mode.lock().unwrap() = Mode::Answer(active("api"));
    let me = layer_over(&endpoint, |b| b.negative_ttl(Duration::from_millis(200))).await;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let me = me.clone();
            tokio::spawn(async move { get_bearer(&me, "one-opaque-token").await.status })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(f.calls.load(Ordering::SeqCst), 1, "50 concurrent requests, one call");
    // Inactive answers are cached briefly.
    *f.mode.lock().unwrap() = Mode::Answer(json!({"active": false}));
    for _ in 0..3 {
        assert_eq!(get_bearer(&me, "another-token").await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(f.calls.load(Ordering::SeqCst), 2);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(get_bearer(&me, "another-token").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(f.calls.load(Ordering::SeqCst), 3);
    // Failures are not cached.
    *f.mode.lock().unwrap() = Mode::Status(500);
    assert_eq!(get_bearer(&me, "third-token").await.status, StatusCode::SERVICE_UNAVAILABLE);
    *f.mode.lock().unwrap() = Mode::Answer(active("api"));
    assert_eq!(get_bearer(&me, "third-token").await.status, StatusCode::OK);
}

#[tokio::test]
async fn jwt_always_mode_checks_locally_first() {
    let idp = TestIssuer::start().await;
    let (endpoint, f) = fake().await;
    *f.mode.lock().unwrap() = Mode::Answer(active("api"));
    let remote = IntrospectionVerifier::builder()
        .endpoint(&endpoint)
        .client_auth(ClientAuth::basic("rs", "x"))
        .audience("api")
        .no_cache()
        .build()
        .unwrap();
    let me = format!(
        "{}/me",
        serve(app(BearerLayer::new(CombinedVerifier::new(idp.verifier(), remote, IntrospectMode::EveryToken)))).await
    );
    assert_eq!(get_bearer(&me, &idp.token().sign()).await.status, StatusCode::OK);
    assert_eq!(f.calls.load(Ordering::SeqCst), 1);
    // A forged JWT never reaches the authorization server.
    let forged = TestIssuer::start().await.token().issuer(idp.issuer()).sign();
    assert_eq!(get_bearer(&me, &forged).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(f.calls.load(Ordering::SeqCst), 1);
    *f.mode.lock().unwrap() = Mode::Answer(json!({"active": false}));
    assert_eq!(get_bearer(&me, &idp.token().sign()).await.status, StatusCode::UNAUTHORIZED, "revoked");
}

#[tokio::test]
async fn client_secret_post_and_custom_auth() {
    // An endpoint that echoes how the client authenticated into the answer.
    let app = Router::new().route(
        "/introspect",
        post(|headers: http::HeaderMap, body: String| async move {
            let basic = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            let custom = headers.get("x-client-assertion").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            // The non-replayable body still goes out with a Content-Length, not chunked.
            let length = headers.get("content-length").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            assert_eq!(length, body.len().to_string());
            let answer = json!({
                "active": true, "aud": "api", "exp": SystemClock.now() + 60,
                "seen_body": body, "seen_basic": basic, "seen_custom": custom,
            });
            answer.to_string()
        }),
    );
    let endpoint = format!("{}/introspect", serve(app).await);
    let check = |auth: ClientAuth| {
        IntrospectionVerifier::builder()
            .endpoint(&endpoint)
            .client_auth(auth)
            .audience("api")
            .no_cache()
            .build()
            .unwrap()
    };
    use tower_bearer::Verifier as _;
    let token = tower_bearer::token::BearerToken::new("opaque-1");
    let post = check(ClientAuth::post("rs", "p@ss"));
    let seen = post.verify(&token).resolve().await.unwrap();
    let body = seen.claim("seen_body").unwrap().as_str().unwrap().to_owned();
    assert!(
        body.contains("client_id=rs") && body.contains("client_secret=p%40ss") && body.contains("token=opaque-1"),
        "{body}"
    );
    assert_eq!(seen.claim("seen_basic").unwrap(), "");
    let hook = check(ClientAuth::custom(|req: reqwest::RequestBuilder| req.header("x-client-assertion", "signed-jwt")));
    let seen = hook.verify(&token).resolve().await.unwrap();
    assert_eq!(seen.claim("seen_custom").unwrap(), "signed-jwt");
    let basic = check(ClientAuth::basic("r s", "a:b"));
    let seen = basic.verify(&token).resolve().await.unwrap();
    // RFC 6749 §2.3.1: form-encoded, then Basic: "r+s:a%3Ab".
    assert_eq!(seen.claim("seen_basic").unwrap(), "Basic citzOmElM0Fi");
}

// Item 11: a custom client that follows redirects never re-sends the token being
// introspected (nor the resource server's secret) to the redirect target.
#[tokio::test]
async fn introspection_is_not_sent_to_a_redirect_target() {
    let following = reqwest::Client::builder().redirect(reqwest::redirect::Policy::limited(5)).build().unwrap();
    for status in [307u16, 308, 302, 303] {
        let (endpoint, seen) = redirecting(status, "/introspect").await;
        let me = layer_over(&endpoint, |b| {
            b.http_client(following.clone()).client_auth(ClientAuth::post("rs", "post-secret")).no_cache()
        })
        .await;
        let r = get_bearer(&me, "the-users-token").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{status}: the redirected answer is refused");
        let seen = seen.lock().unwrap().clone();
        assert!(
            seen.iter().all(|b| !b.contains("the-users-token") && !b.contains("post-secret")),
            "{status}: {seen:?}"
        );
        if status >= 307 {
            assert!(seen.is_empty(), "{status}: the second server got the request: {seen:?}");
        }
    }
}

// Item 12: an active answer about a token that is not an access token is refused.
#[tokio::test]
async fn refresh_token_answers_are_refused() {
    let (endpoint, f) = fake().await;
    let me = layer_over(&endpoint, |b| b.no_cache()).await;
    let with = |extra: Value| {
        let mut answer = active("api");
        answer.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        answer
    };
    let cases = [
        // oidc-provider introspecting a refresh token.
        (with(json!({"token_type": "refresh_token"})), StatusCode::UNAUTHORIZED),
        (with(json!({"token_type": "urn:ietf:params:oauth:token-type:refresh_token"})), StatusCode::UNAUTHORIZED),
        (with(json!({"token_type": "id_token"})), StatusCode::UNAUTHORIZED),
        (with(json!({"token_type": 1})), StatusCode::UNAUTHORIZED),
        // Keycloak's `typ` for refresh, offline and ID tokens.
        (with(json!({"typ": "Refresh"})), StatusCode::UNAUTHORIZED),
        (with(json!({"typ": "Offline"})), StatusCode::UNAUTHORIZED),
        (with(json!({"typ": "ID"})), StatusCode::UNAUTHORIZED),
        // Cognito-style `token_use`.
        (with(json!({"token_use": "refresh"})), StatusCode::UNAUTHORIZED),
        (with(json!({"token_use": "id"})), StatusCode::UNAUTHORIZED),
        // Access tokens as the servers describe them.
        (with(json!({"token_type": "Bearer"})), StatusCode::OK),
        // `DPoP` is an access token too, but without its `cnf` not a bearer one
        // (tests/dpop.rs and `a_dpop_bound_opaque_token_passes_with_its_proof`).
        (with(json!({"token_type": "DPoP"})), StatusCode::UNAUTHORIZED),
        (with(json!({"token_type": "access_token"})), StatusCode::OK),
        (with(json!({"token_type": "urn:ietf:params:oauth:token-type:access_token"})), StatusCode::OK),
        (with(json!({"typ": "Bearer", "token_type": "bearer"})), StatusCode::OK),
        (with(json!({"token_use": "access"})), StatusCode::OK),
        (active("api"), StatusCode::OK),
    ];
    for (answer, status) in cases {
        *f.mode.lock().unwrap() = Mode::Answer(answer.clone());
        let r = get_bearer(&me, "opaque-token").await;
        assert_eq!(r.status, status, "{answer}");
        if status == StatusCode::UNAUTHORIZED {
            assert!(r.challenge().contains(r#"error="invalid_token""#), "{answer}");
        }
    }
}

// Item 12: the application's own rule on server-specific fields.
#[tokio::test]
async fn introspection_answer_predicate_hook() {
    let (endpoint, f) = fake().await;
    let me = layer_over(&endpoint, |b| {
        b.no_cache().accept_answer_if(|answer| answer.get("acr").and_then(Value::as_str) == Some("mfa"))
    })
    .await;
    let mut answer = active("api");
    *f.mode.lock().unwrap() = Mode::Answer(answer.clone());
    assert_eq!(get_bearer(&me, "opaque-token").await.status, StatusCode::UNAUTHORIZED, "refused by the hook");
    answer["acr"] = json!("mfa");
    *f.mode.lock().unwrap() = Mode::Answer(answer);
    assert_eq!(get_bearer(&me, "opaque-token").await.status, StatusCode::OK);
}

// Item 12: a time claim gets the same answer whether it comes in a JWT or in an
// introspection answer (one implementation of the NumericDate rules).
#[tokio::test]
async fn time_claims_follow_the_jwt_rules() {
    use tower_bearer::testing::TEST_AUDIENCE;
    let idp = TestIssuer::start().await;
    let jwt_me = format!("{}/me", serve(app(BearerLayer::new(idp.verifier()))).await);
    let (endpoint, f) = fake().await;
    let remote_me = layer_over(&endpoint, |b| b.no_cache().audience(TEST_AUDIENCE)).await;
    let now = SystemClock.now();
    let cases = [
        ("exp", json!(now + 300)),
        ("exp", json!(now as f64 + 300.5)),
        ("exp", json!(format!("{}", now + 300))),
        ("exp", json!(-1)),
        ("exp", json!(1e300)),
        ("exp", json!(u64::MAX)),
        ("exp", json!(253_402_300_800u64)),
        ("exp", json!(now - 3600)),
        ("exp", json!(null)),
        ("nbf", json!(now + 3600)),
        ("nbf", json!(now - 10)),
        ("nbf", json!("0")),
        ("nbf", json!(-5.5)),
        ("nbf", json!(1e300)),
        ("iat", json!(now + 3600)),
        ("iat", json!(now - 10)),
        ("iat", json!(true)),
        ("iat", json!(1e300)),
    ];
    for (name, value) in cases {
        let mut jwt = idp.token().claim(name, value.clone());
        if name != "exp" {
            jwt = jwt.claim("exp", json!(now + 300));
        }
        let jwt_status = get_bearer(&jwt_me, &jwt.sign()).await.status;
        let mut answer = json!({"active": true, "aud": TEST_AUDIENCE, "exp": now + 300});
        if value.is_null() {
            answer.as_object_mut().unwrap().remove(name);
        } else {
            answer[name] = value.clone();
        }
        *f.mode.lock().unwrap() = Mode::Answer(answer.clone());
        let remote_status = get_bearer(&remote_me, "opaque-token").await.status;
        if value.is_null() {
            // The one documented difference: RFC 7662 makes `exp` optional.
            assert_eq!((jwt_status, remote_status), (StatusCode::UNAUTHORIZED, StatusCode::OK));
            continue;
        }
        assert_eq!(jwt_status, remote_status, "{name}: {value}");
    }
}

// Issue 14 item 2: a discovered introspection endpoint that fails is looked up again.
#[tokio::test]
async fn a_discovered_introspection_endpoint_is_looked_up_again_after_a_failure() {
    let idp = common::Moving::start("introspection_endpoint", || async { axum::Json(active("api")) }).await;
    let remote = IntrospectionVerifier::builder()
        .discover(&idp.issuer)
        .client_auth(ClientAuth::basic("rs", "x"))
        .audience("api")
        .no_cache()
        .build()
        .unwrap();
    let me = format!("{}/me", serve(app(BearerLayer::new(remote))).await);
    assert_eq!(get_bearer(&me, "opaque").await.status, StatusCode::SERVICE_UNAVAILABLE, "the old endpoint fails");
    idp.relocate();
    assert_eq!(get_bearer(&me, "opaque").await.status, StatusCode::OK, "discovered again");
}

// Review of issue 14: a failed call never costs the URL that worked. While the discovery
// document is down, the known endpoint keeps answering; a flood of failures costs the
// issuer one re-discovery per cooldown, not one per request.
#[tokio::test]
async fn a_failure_keeps_the_known_endpoint_and_rediscovery_is_rate_limited() {
    let discoveries = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let (d, iss) = (discoveries.clone(), issuer.clone());
    let doc = move || {
        // The first document is served; every later fetch finds discovery down.
        let n = d.fetch_add(1, Ordering::SeqCst);
        let body = json!({"issuer": iss, "introspection_endpoint": format!("{iss}/introspect")});
        std::future::ready(if n == 0 { Ok(axum::Json(body)) } else { Err(StatusCode::SERVICE_UNAVAILABLE) })
    };
    let c = calls.clone();
    let introspect = move || {
        // Calls 2 to 21 fail (a transient outage of the endpoint itself).
        let n = c.fetch_add(1, Ordering::SeqCst);
        std::future::ready(if (1..=20).contains(&n) {
            Err(StatusCode::INTERNAL_SERVER_ERROR)
        } else {
            Ok(axum::Json(active("api")))
        })
    };
    let idp = Router::new()
        .route("/.well-known/openid-configuration", axum::routing::get(doc))
        .route("/introspect", post(introspect));
    tokio::spawn(async move { axum::serve(listener, idp).await.unwrap() });
    let remote = IntrospectionVerifier::builder()
        .discover(&issuer)
        .client_auth(ClientAuth::basic("rs", "x"))
        .audience("api")
        .no_cache()
        .build()
        .unwrap();
    let me = format!("{}/me", serve(app(BearerLayer::new(remote))).await);
    assert_eq!(get_bearer(&me, "opaque").await.status, StatusCode::OK);
    for _ in 0..20 {
        assert_eq!(get_bearer(&me, "opaque").await.status, StatusCode::SERVICE_UNAVAILABLE);
    }
    assert_eq!(get_bearer(&me, "opaque").await.status, StatusCode::OK, "the known endpoint still works");
    let discovered = discoveries.load(Ordering::SeqCst);
    assert!(discovered <= 2, "{discovered} discovery fetches for 20 failures: one re-discovery per cooldown");
}

#[tokio::test]
async fn a_dpop_bound_opaque_token_passes_with_its_proof() {
    // RFC 9449 §6.2: the introspection answer carries `cnf.jkt`; the proof is checked
    // locally against it, on every request (the answer is cached).
    use tower_bearer::Algorithm;
    use tower_bearer::dpop::{Dpop, DpopMode};
    use tower_bearer::signing::DpopKey;

    let (endpoint, f) = fake().await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let mut answer = active("api");
    answer["cnf"] = json!({"jkt": key.thumbprint()});
    answer["token_type"] = json!("DPoP");
    *f.mode.lock().unwrap() = Mode::Answer(answer);
    let verifier = IntrospectionVerifier::builder()
        .endpoint(&endpoint)
        .client_auth(ClientAuth::basic("rs", "s:e/cret"))
        .audience("api")
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let dpop = Dpop::builder(DpopMode::Allowed).public_url(&base).build().unwrap();
    let api = app(BearerLayer::new(verifier).dpop(dpop));
    tokio::spawn(async move { axum::serve(listener, api).await.unwrap() });
    let me = format!("{base}/me");
    let call = |proof: String| {
        let me = me.clone();
        async move {
            let headers = [("authorization", "DPoP opaque-bound"), ("dpop", proof.as_str())];
            common::get_with(&me, &headers).await.status
        }
    };
    let proof = || key.proof("GET", &me).access_token("opaque-bound").sign().unwrap();
    assert_eq!(call(proof()).await, StatusCode::OK);
    assert_eq!(call(proof()).await, StatusCode::OK);
    let other = DpopKey::generate(Algorithm::ES256).unwrap();
    assert_eq!(
        call(other.proof("GET", &me).access_token("opaque-bound").sign().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(get_bearer(&me, "opaque-bound").await.status, StatusCode::UNAUTHORIZED, "downgraded to Bearer");
    assert_eq!(f.calls.load(Ordering::SeqCst), 1, "the answer is cached; the proof is checked each time");
}
