//! Micro-benchmarks: extraction, cold verification per algorithm, cached verification,
//! policy evaluation, and raw jsonwebtoken verification with a preloaded key as the
//! reference, all in one run. `cargo bench --bench verify`.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method, Uri};
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::json;
use tower_bearer::keys::{StaticKeys, VerificationKey};
use tower_bearer::policy::{all, role, scope};
use tower_bearer::signing::{PrivateJwk, compact_jws};
use tower_bearer::token::{AuthorizationHeader, BearerToken, RequestHead, TokenLocation};
use tower_bearer::{Algorithm, Clock as _, Issuer, JwtVerifier, SystemClock, Verification, Verifier};

struct Fixture {
    alg: Algorithm,
    token: String,
    public: serde_json::Value,
}

fn fixture(alg: Algorithm) -> Fixture {
    let private = PrivateJwk::generate(alg, "bench").unwrap();
    let claims = json!({
        "iss": "https://idp.example.com", "aud": "api", "sub": "user-1", "client_id": "c",
        "iat": SystemClock.now(), "exp": SystemClock.now() + 3600, "jti": "j-1",
        "scope": "read:items write:items", "roles": ["items.admin"],
    });
    let header = json!({"alg": format!("{alg:?}"), "typ": "at+jwt", "kid": "bench"});
    let token = compact_jws(&header.to_string(), &claims.to_string(), |i| private.sign(alg, i).unwrap());
    Fixture { alg, token, public: serde_json::Value::Object(private.public().unwrap()) }
}

fn verifier(f: &Fixture, cached: bool) -> JwtVerifier {
    let key = VerificationKey::from_jwk(&f.public.to_string()).unwrap();
    let b = JwtVerifier::builder()
        .issuer(Issuer::new("https://idp.example.com").keys(StaticKeys::from(key)))
        .audience("api");
    if cached { b } else { b.no_token_cache() }.build().unwrap()
}

fn verify_ready(v: &JwtVerifier, token: &BearerToken) -> bool {
    matches!(v.verify(token), Verification::Ready(Ok(_)))
}

fn reference_key(f: &Fixture) -> DecodingKey {
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(f.public.clone()).unwrap();
    DecodingKey::from_jwk(&jwk).unwrap()
}

fn benches(c: &mut Criterion) {
    // jsonwebtoken's decode uses its process-wide crypto provider.
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();

    let rs = fixture(Algorithm::RS256);
    let mut headers = HeaderMap::new();
    headers.insert("authorization", HeaderValue::from_str(&format!("Bearer {}", rs.token)).unwrap());
    let uri = Uri::from_static("/items");
    c.bench_function("extract/authorization_header", |b| {
        b.iter(|| {
            let head = RequestHead::new(&Method::GET, &uri, &headers);
            black_box(AuthorizationHeader.extract(black_box(&head)).unwrap())
        })
    });

    let mut group = c.benchmark_group("verify");
    for alg in [Algorithm::RS256, Algorithm::PS256, Algorithm::ES256, Algorithm::EdDSA] {
        let f = if alg == Algorithm::RS256 { fixture(Algorithm::RS256) } else { fixture(alg) };
        let token = BearerToken::new(f.token.as_str());
        let cold = verifier(&f, false);
        assert!(verify_ready(&cold, &token));
        group.bench_function(format!("cold/{alg:?}"), |b| b.iter(|| black_box(verify_ready(&cold, black_box(&token)))));

        let key = reference_key(&f);
        let mut validation = Validation::new(f.alg);
        validation.set_audience(&["api"]);
        validation.set_issuer(&["https://idp.example.com"]);
        assert!(jsonwebtoken::decode::<serde_json::Value>(&f.token, &key, &validation).is_ok());
        group.bench_function(format!("jsonwebtoken_reference/{alg:?}"), |b| {
            b.iter(|| {
                black_box(jsonwebtoken::decode::<serde_json::Value>(black_box(&f.token), &key, &validation).is_ok())
            })
        });
    }
    let token = BearerToken::new(rs.token.as_str());
    let cached = verifier(&rs, true);
    assert!(verify_ready(&cached, &token));
    group.bench_function("cached/RS256", |b| b.iter(|| black_box(verify_ready(&cached, black_box(&token)))));

    // 10 000 distinct tokens in rotation, all cached: the working set of a busy service.
    let private = PrivateJwk::generate(Algorithm::ES256, "rot").unwrap();
    let rot_key = VerificationKey::from_jwk(&serde_json::Value::Object(private.public().unwrap()).to_string()).unwrap();
    let rotating_verifier = JwtVerifier::builder()
        .issuer(Issuer::new("https://idp.example.com").keys(StaticKeys::from(rot_key)))
        .audience("api")
        .build()
        .unwrap();
    let tokens: Vec<BearerToken> = (0..10_000)
        .map(|i| {
            let claims = json!({"iss": "https://idp.example.com", "aud": "api", "sub": format!("u{i}"), "exp": SystemClock.now() + 3600, "scope": "read:items write:items", "roles": ["items.admin"]});
            let header = json!({"alg": "ES256", "kid": "rot"}).to_string();
            BearerToken::new(compact_jws(&header, &claims.to_string(), |m| private.sign(Algorithm::ES256, m).unwrap()))
        })
        .collect();
    for t in tokens.iter().chain(tokens.iter()) {
        assert!(verify_ready(&rotating_verifier, t));
    }
    let warm = rotating_verifier.cache_stats().unwrap();
    let mut i = 0;
    group.bench_function("cached_rotating_10k/ES256", |b| {
        b.iter(|| {
            i = (i + 1) % tokens.len();
            black_box(verify_ready(&rotating_verifier, black_box(&tokens[i])))
        })
    });
    let after = rotating_verifier.cache_stats().unwrap();
    let (hits, misses) = (after.hits - warm.hits, after.misses - warm.misses);
    println!(
        "cached_rotating_10k: {hits} hits, {misses} misses ({:.2} % misses), {} entries",
        100.0 * misses as f64 / (hits + misses).max(1) as f64,
        after.entries
    );
    group.finish();

    // The whole layer in process: one cached request vs the same router without it.
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let protected = axum::Router::new()
        .route("/items", axum::routing::get(|| async { "ok" }))
        .layer(tower_bearer::BearerLayer::new(cached.clone()).require(scope("read:items")));
    let bare = axum::Router::new().route("/items", axum::routing::get(|| async { "ok" }));
    let auth = HeaderValue::from_str(&format!("Bearer {}", rs.token)).unwrap();
    let request =
        || http::Request::get("/items").header("authorization", auth.clone()).body(axum::body::Body::empty()).unwrap();
    let mut group = c.benchmark_group("layer");
    group.bench_function("request/no_layer", |b| {
        b.iter(|| rt.block_on(tower::ServiceExt::oneshot(bare.clone(), request())).unwrap())
    });
    group.bench_function("request/cached_token", |b| {
        b.iter(|| rt.block_on(tower::ServiceExt::oneshot(protected.clone(), request())).unwrap())
    });
    // The same with streams ending at expiry: the expiry slot and extension, the body
    // wrapper (a plain answer never waits, so no timer).
    let ending = axum::Router::new().route("/items", axum::routing::get(|| async { "ok" })).layer(
        tower_bearer::BearerLayer::new(cached.clone())
            .require(scope("read:items"))
            .end_streams_at_expiry(tower_bearer::streams::StreamExpiry::new()),
    );
    group.bench_function("request/cached_token_end_streams", |b| {
        b.iter(|| rt.block_on(tower::ServiceExt::oneshot(ending.clone(), request())).unwrap())
    });
    group.finish();

    let digest_input = rs.token.as_bytes();
    c.bench_function("sha256/token", |b| {
        b.iter(|| black_box(<sha2::Sha256 as sha2::Digest>::digest(black_box(digest_input))))
    });

    let Verification::Ready(Ok(verified)) = cached.verify(&token) else { panic!("verifies") };
    let policy = all([scope("read:items"), role("items.admin")]);
    c.bench_function("policy/scope_and_role", |b| b.iter(|| black_box(policy.check(black_box(&verified)).is_ok())));
}

criterion_group!(name = group; config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2)); targets = benches);
criterion_main!(group);
