//! The layer as users mount it, over real HTTP on 127.0.0.1, with real keys.

mod common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::{INVALID, REALM, app, assert_invalid, b64, get_bearer, get_with, serve};
use reqwest::StatusCode;
use serde_json::json;
use tower_bearer::SystemClock;
use tower_bearer::axum::{Authorized, Claims, Guard};
use tower_bearer::keys::{StaticKeys, VerificationKey};
use tower_bearer::policy::{Requirement, claim, role};
use tower_bearer::signing::compact_jws;
use tower_bearer::testing::{Outage, TEST_AUDIENCE, TestIssuer};
use tower_bearer::token::QueryParameter;
use tower_bearer::{Algorithm, BearerLayer, Clock, Issuer, JwtVerifier, ManualClock, VerifiedToken};

async fn setup(idp: &TestIssuer) -> String {
    serve(app(BearerLayer::new(idp.verifier()).realm(REALM))).await
}

#[tokio::test]
async fn valid_tokens_of_every_algorithm_pass_and_hand_claims_over() {
    for alg in [Algorithm::RS256, Algorithm::PS256, Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA] {
        let idp = TestIssuer::start_with(alg).await;
        let base = setup(&idp).await;
        let token = idp.token().subject("alice").scope("read:items").role("items.admin").sign();
        let r = get_bearer(&format!("{base}/me"), &token).await;
        assert_eq!(r.status, StatusCode::OK, "{alg:?}: {}", r.body);
        assert_eq!(r.json(), json!({"sub":"alice","scopes":["read:items"],"roles":["items.admin"]}));
        assert_eq!(get_bearer(&format!("{base}/items"), &token).await.status, StatusCode::OK);
        assert_eq!(get_bearer(&format!("{base}/admin"), &token).await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn rs384_rs512_ps384_ps512_verify_with_an_rsa_key() {
    let idp = TestIssuer::start().await;
    let base = setup(&idp).await;
    for alg in ["RS384", "RS512", "PS384", "PS512"] {
        let kid = idp.current_kid();
        // The published key has alg RS256, so a different alg must be refused even
        // though the key type fits: the JWK's `alg` binds it.
        let token = idp.token().header("alg", json!(alg)).sign();
        let r = get_bearer(&format!("{base}/me"), &token).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{alg} with kid {kid}");
    }
    // A JWK without `alg` allows the whole RSA family.
    let jwk = idp.public_jwk(&idp.current_kid()).unwrap();
    let mut jwk = jwk.as_object().unwrap().clone();
    jwk.remove("alg");
    let key = VerificationKey::from_jwk(&serde_json::Value::Object(jwk).to_string()).unwrap();
    let verifier = JwtVerifier::builder()
        .issuer(Issuer::new(idp.issuer()).keys(StaticKeys::from(key)))
        .audience(TEST_AUDIENCE)
        .build()
        .unwrap();
    let base = serve(app(BearerLayer::new(verifier))).await;
    for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
        let now = SystemClock.now();
        let header = json!({"alg": alg, "kid": idp.current_kid()}).to_string();
        let payload = json!({"iss": idp.issuer(), "aud": TEST_AUDIENCE, "exp": now + 60, "sub": "x"}).to_string();
        let a: Algorithm = alg.parse().unwrap();
        let token = sign_as(&idp, a, &header, &payload);
        assert_eq!(get_bearer(&format!("{base}/me"), &token).await.status, StatusCode::OK, "{alg}");
    }
}

/// Signs with the issuer's current private key under another RSA algorithm (the
/// signer ignores the JWK's own `alg`).
fn sign_as(idp: &TestIssuer, alg: Algorithm, header: &str, payload: &str) -> String {
    let private = idp.private_jwk(&idp.current_kid()).unwrap();
    compact_jws(header, payload, |input| private.sign(alg, input).unwrap())
}

#[tokio::test]
async fn missing_token_gets_a_bare_challenge() {
    let idp = TestIssuer::start().await;
    let base = setup(&idp).await;
    let r = get_with(&format!("{base}/me"), &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.challenge(), r#"Bearer realm="test""#);
    // Another scheme is not a bearer credential.
    let r = get_with(&format!("{base}/me"), &[("authorization", "Basic Zm9vOmJhcg==")]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.challenge(), r#"Bearer realm="test""#);
}

#[tokio::test]
async fn malformed_requests_get_400_invalid_request() {
    let idp = TestIssuer::start().await;
    let base = setup(&idp).await;
    let token = idp.token().sign();
    for bad in ["Bearer", "Bearer ", "Bearer    ", "Bearer a b", "Bearer a\"b", "Bearer ===="] {
        let r = get_with(&format!("{base}/me"), &[("authorization", bad)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad:?}");
        assert!(r.challenge().starts_with(r#"Bearer realm="test", error="invalid_request""#), "{}", r.challenge());
        assert_eq!(r.json()["error"], "invalid_request");
    }
    // Two Authorization headers, even when the second is another scheme.
    let auth = format!("Bearer {token}");
    for second in [auth.as_str(), "Basic Zm9vOmJhcg=="] {
        let r = get_with(&format!("{base}/me"), &[("authorization", &auth), ("authorization", second)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{second}");
        assert!(r.challenge().contains(r#"error="invalid_request""#), "{}", r.challenge());
        assert!(r.challenge().contains("more than one access token"), "{}", r.challenge());
    }
}

#[tokio::test]
async fn scheme_is_case_insensitive() {
    let idp = TestIssuer::start().await;
    let base = setup(&idp).await;
    let token = idp.token().sign();
    // Any case, and more than one space before the token (RFC 6750 §2.1: 1*SP).
    for scheme in ["bearer", "BEARER", "bEaReR", "bEaReR  "] {
        let r = get_with(&format!("{base}/me"), &[("authorization", &format!("{scheme} {token}"))]).await;
        assert_eq!(r.status, StatusCode::OK, "{scheme}");
    }
}

#[tokio::test]
async fn time_claims() {
    let idp = TestIssuer::start().await;
    let base = setup(&idp).await;
    let now = SystemClock.now();
    let me = format!("{base}/me");
    // Expired beyond the 60 s leeway: the one reason said out loud.
    let expired = r#"Bearer realm="test", error="invalid_token", error_description="the access token expired""#;
    let long_ago = idp.token().issued_at(now - 600).expires_in(Duration::from_secs(300)).sign();
    for t in [long_ago, idp.token().claim("exp", json!(now - 61)).sign()] {
        let r = get_bearer(&me, &t).await;
        assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, expired));
    }
    // Expired 30 or 50 s ago: inside leeway.
    for exp in [now - 30, now - 50] {
        let t = idp.token().claim("exp", json!(exp)).sign();
        assert_eq!(get_bearer(&me, &t).await.status, StatusCode::OK, "exp {exp}");
    }
    // nbf in the future.
    for nbf in [now + 120, now + 600] {
        assert_invalid(&me, &idp.token().claim("nbf", json!(nbf)).sign()).await;
    }
    // nbf inside leeway.
    let t = idp.token().claim("nbf", json!(now + 30)).sign();
    assert_eq!(get_bearer(&me, &t).await.status, StatusCode::OK);
    // exp missing, or not a NumericDate.
    for exp in [
        json!(null),
        json!("9999999999"),
        json!((now + 300).to_string()),
        json!(-5),
        json!(-1),
        json!(-1.5),
        json!(1e20),
        json!(1e300),
        json!(u64::MAX),
        json!(f64::MAX),
        json!(true),
    ] {
        let r = get_bearer(&me, &idp.token().claim("exp", exp.clone()).sign()).await;
        assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, INVALID), "exp {exp}");
    }
    // A fractional NumericDate is valid (RFC 7519 §2), and a past one is expired.
    for exp in [now as f64 + 120.5, (now + 300) as f64 + 0.25] {
        assert_eq!(get_bearer(&me, &idp.token().claim("exp", json!(exp)).sign()).await.status, StatusCode::OK);
    }
    let t = idp.token().claim("exp", json!((now - 120) as f64 + 0.5)).sign();
    assert_eq!(get_bearer(&me, &t).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn injected_clock_and_max_age() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::at(SystemClock.now());
    let verifier = idp.verifier_builder().clock(clock.clone()).max_age(Duration::from_secs(600)).build().unwrap();
    let base = serve(app(BearerLayer::new(verifier).realm(REALM))).await;
    let me = format!("{base}/me");
    // iat pinned to the fixed clock: minted from the system clock it could fall a second
    // later and sit exactly on the max-age boundary.
    let token = idp.token().issued_at(clock.now()).expires_in(Duration::from_secs(3600)).sign();
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::OK);
    clock.advance(Duration::from_secs(600 + 61));
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::UNAUTHORIZED, "older than max age");
    // max_age makes iat required.
    clock.set(SystemClock.now());
    let no_iat = idp.token().claim("iat", json!(null)).sign();
    assert_eq!(get_bearer(&me, &no_iat).await.status, StatusCode::UNAUTHORIZED);
    // iat far in the future.
    for ahead in [3600, 86_400] {
        assert_invalid(&me, &idp.token().issued_at(SystemClock.now() + ahead).sign()).await;
    }
    clock.advance(Duration::from_secs(3000));
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::UNAUTHORIZED, "expired by the clock");
}

#[tokio::test]
async fn issuer_and_audience() {
    let idp = TestIssuer::start().await;
    let base = setup(&idp).await;
    let me = format!("{base}/me");
    let iss = idp.issuer();
    let bad_iss = [
        json!("https://evil.example.com"),
        json!(null),
        json!(format!("{iss}/")),
        json!(iss.replace("http", "httр")),            // Cyrillic 'р'
        json!(iss.replace("127.0.0.1", "127.0.0.１")), // fullwidth digit
        json!(format!("{iss}\u{200b}")),               // zero-width space
        json!(iss.to_uppercase()),
        json!(format!(" {iss}")),
        json!(&iss[..iss.len() - 1]), // a prefix
        json!([iss]),
        json!(5),
    ];
    for bad in bad_iss {
        let r = get_bearer(&me, &idp.token().claim("iss", bad.clone()).sign()).await;
        assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, INVALID), "iss {bad}");
    }
    for aud in [
        json!("other-api"),
        json!(null),
        json!([]),
        json!(["other"]),
        json!(["a", "b"]),
        json!(format!("{TEST_AUDIENCE} ")),
        json!({"aud": TEST_AUDIENCE}),
        json!(7),
    ] {
        let r = get_bearer(&me, &idp.token().claim("aud", aud.clone()).sign()).await;
        assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, INVALID), "aud {aud}");
    }
    for aud in [json!(["other", TEST_AUDIENCE]), json!(["a", TEST_AUDIENCE, "b"])] {
        assert_eq!(get_bearer(&me, &idp.token().claim("aud", aud).sign()).await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn unmet_requirements_are_403_naming_what_is_missing() {
    let idp = TestIssuer::start().await;
    let base = setup(&idp).await;
    let token = idp.token().scope("other").sign();
    let r = get_bearer(&format!("{base}/items"), &token).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.challenge(),
        r#"Bearer realm="test", error="insufficient_scope", error_description="missing scope 'read:items'", scope="read:items""#
    );
    assert_eq!(r.json(), json!({"error":"insufficient_scope","error_description":"missing scope 'read:items'"}));
    let r = get_bearer(&format!("{base}/admin"), &token).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.challenge(),
        r#"Bearer realm="test", error="insufficient_scope", error_description="missing role 'items.admin'""#
    );
}

#[tokio::test]
async fn required_claims_for_the_whole_router() {
    let idp = TestIssuer::start().await;
    let auth = BearerLayer::new(idp.verifier()).require(claim("name").and(claim("oid")));
    let base = serve(app(auth)).await;
    let t = idp.token().claim("name", json!("Ann")).sign();
    let r = get_bearer(&format!("{base}/me"), &t).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.challenge().contains("missing claim 'oid'"), "{}", r.challenge());
    let t = idp.token().claim("name", json!("Ann")).claim("oid", json!("o-1")).sign();
    assert_eq!(get_bearer(&format!("{base}/me"), &t).await.status, StatusCode::OK);
}

#[tokio::test]
async fn typ_lenient_by_default_strict_on_request() {
    let idp = TestIssuer::start().await;
    let lenient = setup(&idp).await;
    let strict = serve(app(BearerLayer::new(idp.verifier_builder().require_access_token_typ().build().unwrap()))).await;
    for (typ, lenient_ok, strict_ok) in [
        (json!(null), true, false),
        (json!("JWT"), true, false),
        (json!("at+jwt"), true, true),
        (json!("application/at+jwt"), true, true),
        (json!("id_token+jwt"), false, false),
    ] {
        let t = idp.token().header("typ", typ.clone()).sign();
        let want = |ok: bool| if ok { StatusCode::OK } else { StatusCode::UNAUTHORIZED };
        assert_eq!(get_bearer(&format!("{lenient}/me"), &t).await.status, want(lenient_ok), "lenient {typ}");
        assert_eq!(get_bearer(&format!("{strict}/me"), &t).await.status, want(strict_ok), "strict {typ}");
    }
}

#[tokio::test]
async fn optional_mode_lets_anonymous_through_but_not_bad_tokens() {
    let idp = TestIssuer::start().await;
    let app = Router::new()
        .route(
            "/",
            get(|t: Option<VerifiedToken>| async move {
                t.and_then(|t| t.subject().map(str::to_owned)).unwrap_or("anonymous".into())
            }),
        )
        .layer(BearerLayer::new(idp.verifier()).optional());
    let base = serve(app).await;
    let r = get_with(&base, &[]).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "anonymous"));
    let r = get_bearer(&base, &idp.token().subject("bob").sign()).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "bob"));
    assert_eq!(get_bearer(&base, "not.a.token").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn query_source_is_opt_in() {
    let idp = TestIssuer::start().await;
    let token = idp.token().sign();
    let off = setup(&idp).await;
    assert_eq!(get_with(&format!("{off}/me?access_token={token}"), &[]).await.status, StatusCode::UNAUTHORIZED);
    let on = serve(app(BearerLayer::new(idp.verifier()).token_location(QueryParameter))).await;
    assert_eq!(get_with(&format!("{on}/me?access_token={token}"), &[]).await.status, StatusCode::OK);
    let both =
        get_with(&format!("{on}/me?access_token={token}"), &[("authorization", &format!("Bearer {token}"))]).await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn idp_down_on_a_cold_cache_is_503_with_retry_after() {
    let idp = TestIssuer::start().await;
    idp.set_outage(Outage::Status(500));
    let base = setup(&idp).await;
    let r = get_bearer(&format!("{base}/me"), &idp.token().sign()).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert_eq!(r.json()["error"], "temporarily_unavailable");
}

#[tokio::test]
async fn detailed_errors_are_opt_in() {
    let idp = TestIssuer::start().await;
    let base = serve(app(BearerLayer::new(idp.verifier()).realm("test").detailed_errors(true))).await;
    let t = idp.token().audience("other").sign();
    let r = get_bearer(&format!("{base}/me"), &t).await;
    assert!(r.challenge().contains("not meant for this resource"), "{}", r.challenge());
}

#[derive(serde::Deserialize)]
struct MyClaims {
    sub: String,
    tenant: String,
}

struct Admin;
impl Guard for Admin {
    fn requirement() -> Requirement {
        role("admin")
    }
}

#[tokio::test]
async fn typed_claims_and_guard_extractors() {
    let idp = TestIssuer::start().await;
    let app = Router::new()
        .route("/claims", get(|Claims(c): Claims<MyClaims>| async move { format!("{}@{}", c.sub, c.tenant) }))
        .route(
            "/guard",
            get(|Authorized(t, ..): Authorized<Admin>| async move { t.subject().unwrap_or("").to_owned() }),
        )
        .layer(BearerLayer::new(idp.verifier()));
    let base = serve(app).await;
    let t = idp.token().subject("al").claim("tenant", json!("t1")).role("admin").sign();
    assert_eq!(get_bearer(&format!("{base}/claims"), &t).await.body, "al@t1");
    assert_eq!(get_bearer(&format!("{base}/guard"), &t).await.body, "al");
    let t = idp.token().sign();
    // A good token lacking what the handler's type needs is a 403 (issue 12, item 15).
    assert_eq!(get_bearer(&format!("{base}/claims"), &t).await.status, StatusCode::FORBIDDEN);
    let r = get_bearer(&format!("{base}/guard"), &t).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.challenge().contains("missing role 'admin'"));
}

#[tokio::test]
async fn hmac_only_with_a_local_secret() {
    let secret = [9u8; 32];
    let verifier = JwtVerifier::builder()
        .issuer(Issuer::new("local").keys(StaticKeys::from(VerificationKey::hmac_secret(&secret, None).unwrap())))
        .audience("a")
        .build()
        .unwrap();
    let base = serve(app(BearerLayer::new(verifier))).await;
    let jwk = b64::oct_jwk(&secret);
    let payload = json!({"iss":"local","aud":"a","exp": SystemClock.now() + 60}).to_string();
    let hs256 = compact_jws(&json!({"alg": "HS256"}).to_string(), &payload, |i| jwk.sign(Algorithm::HS256, i).unwrap());
    assert_eq!(get_bearer(&format!("{base}/me"), &hs256).await.status, StatusCode::OK);
    // A 32-byte secret is too short for HS384/HS512 (RFC 7518 §3.2): refused before
    // any signature work.
    for alg in ["HS384", "HS512"] {
        let t = compact_jws(&json!({"alg": alg}).to_string(), &payload, |_| vec![1; 64]);
        assert_eq!(get_bearer(&format!("{base}/me"), &t).await.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn builder_fails_closed() {
    let keys = || StaticKeys::from(VerificationKey::hmac_secret(&[1; 32], None).unwrap());
    let no_aud = JwtVerifier::builder().issuer(Issuer::new("i").keys(keys())).build();
    assert!(no_aud.err().unwrap().to_string().contains("no audience"));
    let no_iss = JwtVerifier::builder().audience("a").build();
    assert!(no_iss.err().unwrap().to_string().contains("no issuer"));
    let no_keys = JwtVerifier::builder().issuer(Issuer::new("i")).audience("a").build();
    assert!(no_keys.is_err());
    let http = JwtVerifier::builder().issuer(Issuer::new("http://idp.example.com").discover()).audience("a").build();
    assert!(http.err().unwrap().to_string().contains("HTTPS"));
    assert!(
        JwtVerifier::builder().issuer(Issuer::new("i").keys(keys())).dangerous_accept_any_audience().build().is_ok()
    );
    assert!(JwtVerifier::builder().issuer(Issuer::new("i").keys(keys()).audience("per-issuer")).build().is_ok());
}

#[tokio::test]
async fn custom_responder() {
    #[derive(Clone)]
    struct Teapot;
    impl tower_bearer::Responder<axum::body::Body> for Teapot {
        fn respond(
            &self,
            e: &tower_bearer::AuthError,
            _: &tower_bearer::Challenge,
        ) -> http::Response<axum::body::Body> {
            http::Response::builder().status(418).body(axum::body::Body::from(e.to_string())).unwrap()
        }
    }
    let idp = TestIssuer::start().await;
    let app =
        Router::new().route("/", get(|| async { "ok" })).layer(BearerLayer::new(idp.verifier()).responder(Teapot));
    let base = serve(app).await;
    let r = get_with(&base, &[]).await;
    assert_eq!((r.status.as_u16(), r.body.as_str()), (418, "no access token"));
}

#[tokio::test]
async fn form_body_source_is_opt_in_and_post_only() {
    let idp = TestIssuer::start().await;
    let token = idp.token().subject("formy").sign();
    let handler = |t: VerifiedToken| async move { t.subject().unwrap_or("").to_owned() };
    let app =
        Router::new().route("/", get(handler).post(handler)).layer(BearerLayer::new(idp.verifier()).with_form_body());
    let base = serve(app).await;
    let client = common::client();
    let form = format!("x=1&access_token={token}");
    let post = |body: String, ct: &'static str| client.post(&base).header("content-type", ct).body(body).send();
    let r = post(form.clone(), "application/x-www-form-urlencoded").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "formy");
    // Another content type is not read.
    assert_eq!(post(form.clone(), "text/plain").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    // Form and header together are two credentials... but §2.2 reads the body only
    // without an Authorization header, so the header wins and the body is untouched.
    let r = client
        .post(&base)
        .header("content-type", "application/x-www-form-urlencoded")
        .bearer_auth(&token)
        .body(form.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Repeated field: 400.
    let twice = format!("access_token={token}&access_token={token}");
    assert_eq!(post(twice, "application/x-www-form-urlencoded").await.unwrap().status(), StatusCode::BAD_REQUEST);
    // Oversized form body: 413, never buffered past the cap.
    let big = format!("pad={}&access_token={token}", "x".repeat(70_000));
    assert_eq!(post(big, "application/x-www-form-urlencoded").await.unwrap().status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Without the opt-in, a form token is not a credential.
    let plain = serve(app_without_form(&idp)).await;
    let r = client
        .post(&plain)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

fn app_without_form(idp: &TestIssuer) -> Router {
    Router::new().route("/", axum::routing::post(|| async { "ok" })).layer(BearerLayer::new(idp.verifier()))
}

#[tokio::test]
async fn cookie_source_error_uri_and_resource_metadata() {
    let idp = TestIssuer::start().await;
    let challenge = tower_bearer::Challenge::new("api")
        .error_uri(tower_bearer::ErrorCode::InvalidToken, "https://docs.example.com/errors#invalid_token")
        .resource_metadata("https://api.example.com/.well-known/oauth-protected-resource");
    let auth = BearerLayer::new(idp.verifier())
        .challenge(challenge)
        .token_location(tower_bearer::token::Cookie::new("access_token"));
    let base = serve(app(auth)).await;
    let token = idp.token().sign();
    let r = get_with(&format!("{base}/me"), &[("cookie", &format!("theme=dark; access_token={token}"))]).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = get_with(&format!("{base}/me"), &[("cookie", "access_token=bad.token.x")]).await;
    assert_eq!(
        r.challenge(),
        r#"Bearer realm="api", error="invalid_token", error_description="the access token is invalid", error_uri="https://docs.example.com/errors#invalid_token", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#
    );
    let r = get_with(&format!("{base}/me"), &[]).await;
    assert_eq!(
        r.challenge(),
        r#"Bearer realm="api", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#
    );
}

#[tokio::test]
async fn static_pem_keys_of_each_type() {
    use josekit::jwk::alg::ed::EdCurve;
    let rsa = josekit::jws::RS256.generate_key_pair(2048).unwrap();
    let ec = josekit::jws::ES384.generate_key_pair().unwrap();
    let ed = josekit::jws::EdDSA.generate_key_pair(EdCurve::Ed25519).unwrap();
    // Keys from another implementation (josekit/OpenSSL), signed by the test kit.
    let native = |jwk: josekit::jwk::Jwk| tower_bearer::signing::PrivateJwk::from_map(jwk.into()).unwrap();
    let cases = [
        (
            VerificationKey::from_rsa_pem(&rsa.to_pem_public_key(), Some("r")).unwrap(),
            native(rsa.to_jwk_private_key()),
            "r",
            Algorithm::RS256,
        ),
        (
            VerificationKey::from_ec_pem(&ec.to_pem_public_key(), Some("e")).unwrap(),
            native(ec.to_jwk_private_key()),
            "e",
            Algorithm::ES384,
        ),
        (
            VerificationKey::from_ed_pem(&ed.to_pem_public_key(), Some("d")).unwrap(),
            native(ed.to_jwk_private_key()),
            "d",
            Algorithm::EdDSA,
        ),
    ];
    let keys: Vec<VerificationKey> = cases.iter().map(|c| c.0.clone()).collect();
    let verifier =
        JwtVerifier::builder().issuer(Issuer::new("local").keys(StaticKeys::new(keys))).audience("a").build().unwrap();
    let base = serve(app(BearerLayer::new(verifier))).await;
    let payload = json!({"iss":"local","aud":"a","exp": SystemClock.now() + 60}).to_string();
    for (_, private, kid, alg) in &cases {
        let header = json!({"alg": format!("{alg:?}"), "kid": kid}).to_string();
        let t = compact_jws(&header, &payload, |i| private.sign(*alg, i).unwrap());
        assert_eq!(get_bearer(&format!("{base}/me"), &t).await.status, StatusCode::OK, "{alg:?}");
        // The same signature under another kid's key fails.
        let other = if *kid == "r" { "e" } else { "r" };
        let header = json!({"alg": format!("{alg:?}"), "kid": other}).to_string();
        let t = compact_jws(&header, &payload, |i| private.sign(*alg, i).unwrap());
        assert_eq!(get_bearer(&format!("{base}/me"), &t).await.status, StatusCode::UNAUTHORIZED, "{alg:?} via {other}");
    }
    // A JWK set with private parts loads as public keys.
    let set = json!({"keys": [rsa.to_jwk_private_key()]}).to_string();
    assert_eq!(StaticKeys::from_jwks(&set).unwrap().key_set().len(), 1);
}

/// The test kit signs with the verifier's own crypto backend; tokens signed by an
/// independent implementation (josekit on OpenSSL) must verify too, so a flaw shared by
/// the backend's signer and verifier cannot hide.
#[tokio::test]
async fn tokens_signed_by_an_independent_implementation_verify() {
    use josekit::jwk::KeyPair as _;
    use josekit::jwk::alg::ed::EdCurve;
    let rsa = josekit::jws::RS256.generate_key_pair(2048).unwrap();
    let pss = josekit::jws::PS384.generate_key_pair(2048).unwrap();
    let p256 = josekit::jws::ES256.generate_key_pair().unwrap();
    let p384 = josekit::jws::ES384.generate_key_pair().unwrap();
    let ed = josekit::jws::EdDSA.generate_key_pair(EdCurve::Ed25519).unwrap();
    // (algorithm name, public JWK, josekit's signer) for a josekit key pair.
    macro_rules! case {
        ($alg:ident, $pair:expr) => {{
            let signer = josekit::jws::$alg.signer_from_jwk(&$pair.to_jwk_key_pair()).unwrap();
            (stringify!($alg), $pair.to_jwk_public_key(), Box::new(signer) as Box<dyn josekit::jws::JwsSigner>)
        }};
    }
    let cases = [case!(RS256, rsa), case!(PS384, pss), case!(ES256, p256), case!(ES384, p384), case!(EdDSA, ed)];
    let payload = json!({"iss":"local","aud":"a","exp": SystemClock.now() + 60}).to_string();
    for (alg, public, signer) in cases {
        let key = VerificationKey::from_jwk(&public.to_string()).unwrap();
        let verifier = JwtVerifier::builder()
            .issuer(Issuer::new("local").keys(StaticKeys::from(key)))
            .audience("a")
            .build()
            .unwrap();
        let base = serve(app(BearerLayer::new(verifier))).await;
        let token = compact_jws(&json!({"alg": alg}).to_string(), &payload, |i| signer.sign(i).unwrap());
        assert_eq!(get_bearer(&format!("{base}/me"), &token).await.status, StatusCode::OK, "{alg}");
        let other = json!({"iss":"local","aud":"a","exp": SystemClock.now() + 61}).to_string();
        let forged = compact_jws(&json!({"alg": alg}).to_string(), &other, |_| b64::signature(&token));
        assert_eq!(get_bearer(&format!("{base}/me"), &forged).await.status, StatusCode::UNAUTHORIZED, "{alg}");
    }
}
