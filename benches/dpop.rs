//! What DPoP adds to a request (issue 16 item 5), in one run: the layer with a cached
//! Bearer token, the same with a cached DPoP-bound token and a fresh ES256 proof per
//! request (replay store included), and one ES256 signature check with a parsed key
//! (aws-lc-rs, the floor a proof cannot go under). `cargo bench --bench dpop`; the
//! report line at the end gives (DPoP − Bearer) / ES256.
//!
//! Proofs are signed in criterion's untimed setup: each request gets a new one, as in
//! production (a proof is accepted once).

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use aws_lc_rs::signature::{self as sig, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::Full;
use serde_json::json;
use tower::{Service, ServiceExt};
use tower_bearer::dpop::{Dpop, DpopMode};
use tower_bearer::keys::{StaticKeys, VerificationKey};
use tower_bearer::signing::{DpopKey, PrivateJwk, compact_jws};
use tower_bearer::{Algorithm, BearerLayer, Clock as _, Issuer, JwtVerifier, SystemClock};

const URL: &str = "https://api.example.com/items";

type Svc = tower_bearer::Bearer<
    tower::util::ServiceFn<fn(Request<String>) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>>>,
    tower_bearer::JsonResponder,
>;

fn ok(_: Request<String>) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>> {
    std::future::ready(Ok(Response::new(Full::default())))
}

/// A token from `issuer`, and the layer over a service that answers 200.
fn setup(cnf: Option<&DpopKey>) -> (String, Svc) {
    let issuer = PrivateJwk::generate(Algorithm::ES256, "k").unwrap();
    let mut claims = json!({
        "iss": "https://idp.example.com", "aud": "api", "sub": "user-1", "client_id": "c",
        "iat": SystemClock.now(), "exp": SystemClock.now() + 3600, "jti": "j-1",
        "scope": "read:items write:items", "roles": ["items.admin"],
    });
    if let Some(key) = cnf {
        claims["cnf"] = json!({"jkt": key.thumbprint()});
    }
    let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": "k"});
    let token = compact_jws(&header.to_string(), &claims.to_string(), |i| issuer.sign(Algorithm::ES256, i).unwrap());
    let public = serde_json::Value::Object(issuer.public().unwrap()).to_string();
    let verifier = JwtVerifier::builder()
        .issuer(
            Issuer::new("https://idp.example.com").keys(StaticKeys::from(VerificationKey::from_jwk(&public).unwrap())),
        )
        .audience("api")
        .build()
        .unwrap();
    let dpop = Dpop::builder(DpopMode::Allowed).public_url("https://api.example.com").build().unwrap();
    let layer = BearerLayer::new(verifier).dpop(dpop);
    let svc = tower::Layer::layer(&layer, tower::service_fn(ok as fn(_) -> _));
    (token, svc)
}

fn request(scheme: &str, token: &str, proof: Option<String>) -> Request<String> {
    let mut b =
        Request::get("/items").header("host", "api.example.com").header("authorization", format!("{scheme} {token}"));
    if let Some(p) = proof {
        b = b.header("dpop", p);
    }
    b.body(String::new()).unwrap()
}

async fn call(svc: &mut Svc, req: Request<String>) -> u16 {
    svc.ready().await.unwrap().call(req).await.unwrap().status().as_u16()
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut group = c.benchmark_group("dpop");
    group.measurement_time(Duration::from_secs(5));

    let (bearer_token, mut bearer) = setup(None);
    assert_eq!(rt.block_on(call(&mut bearer, request("Bearer", &bearer_token, None))), 200);
    group.bench_function("bearer_cached", |b| {
        b.iter(|| rt.block_on(call(&mut bearer, black_box(request("Bearer", &bearer_token, None)))))
    });

    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let (token, mut dpop) = setup(Some(&key));
    let proof = || key.proof("GET", URL).access_token(&token).sign().unwrap();
    assert_eq!(rt.block_on(call(&mut dpop, request("DPoP", &token, Some(proof())))), 200);
    group.bench_function("dpop_cached_token_es256_proof", |b| {
        b.iter_batched(
            || request("DPoP", &token, Some(proof())),
            |req| rt.block_on(call(&mut dpop, black_box(req))),
            BatchSize::SmallInput,
        )
    });

    // The floor: one ES256 signature check with a parsed key, of a proof signed in the
    // same untimed setup as above (so both see the same cache state).
    let public = key.public_jwk();
    let coordinate = |n: &str| URL_SAFE_NO_PAD.decode(public[n].as_str().unwrap()).unwrap();
    let point = [vec![4], coordinate("x"), coordinate("y")].concat();
    let parsed = ParsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point).unwrap();
    let signed = || {
        let proof = proof();
        let (input, signature) = proof.rsplit_once('.').unwrap();
        (input.to_owned(), URL_SAFE_NO_PAD.decode(signature).unwrap())
    };
    let (input, signature) = signed();
    assert!(parsed.verify_sig(input.as_bytes(), &signature).is_ok());
    group.bench_function("es256_verify_parsed_key", |b| {
        b.iter_batched(
            signed,
            |(input, signature)| black_box(parsed.verify_sig(input.as_bytes(), &signature).is_ok()),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(dpop_benches, benches);
criterion_main!(dpop_benches);
