//! Heap allocations per request, counted with a counting global allocator:
//! `cargo bench --bench allocations`. Prints a table; fails if the cached path
//! allocates more than it did when this benchmark was written.

// A counting global allocator needs `unsafe impl GlobalAlloc`; the library itself
// forbids unsafe code (src/lib.rs).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use tower::ServiceExt as _;
use tower_bearer::keys::{StaticKeys, VerificationKey};
use tower_bearer::signing::{PrivateJwk, compact_jws};
use tower_bearer::token::BearerToken;
use tower_bearer::{Algorithm, BearerLayer, Clock as _, Issuer, JwtVerifier, SystemClock, Verifier};

struct Counting;
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn count<T>(n: usize, mut f: impl FnMut() -> T) -> f64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..n {
        std::hint::black_box(f());
    }
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / n as f64
}

fn main() {
    let private = PrivateJwk::generate(Algorithm::RS256, "k").unwrap();
    let key = VerificationKey::from_jwk(&serde_json::Value::Object(private.public().unwrap()).to_string()).unwrap();
    let token_for = |i: u64| {
        let claims = json!({"iss":"i","aud":"a","sub":"u","exp": SystemClock.now() + 3600,"jti": i,"scope":"read write","roles":["r"]});
        compact_jws(&json!({"alg":"RS256","kid":"k"}).to_string(), &claims.to_string(), |m| {
            private.sign(Algorithm::RS256, m).unwrap()
        })
    };
    let build = |cache: bool| {
        let b = JwtVerifier::builder().issuer(Issuer::new("i").keys(StaticKeys::from(key.clone()))).audience("a");
        if cache { b } else { b.no_token_cache() }.build().unwrap()
    };
    let token = BearerToken::new(token_for(0));
    let cached = build(true);
    let cold = build(false);
    let _ = cached.verify(&token);

    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let service =
        axum::Router::new().route("/", axum::routing::get(|| async { "ok" })).layer(BearerLayer::new(cached.clone()));
    let bare = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    let header = format!("Bearer {}", token.as_str());
    let request =
        || http::Request::get("/").header("authorization", header.as_str()).body(axum::body::Body::empty()).unwrap();

    let n = 2000;
    let verify_cached = count(n, || cached.verify(&token));
    let verify_cold = count(n, || cold.verify(&token));
    let through_layer = count(n, || rt.block_on(service.clone().oneshot(request())).unwrap());
    let without_layer = count(n, || rt.block_on(bare.clone().oneshot(request())).unwrap());
    println!("allocations per operation (mean of {n})");
    println!("  verify, cached        {verify_cached:6.1}");
    println!("  verify, cold (RS256)  {verify_cold:6.1}");
    println!("  request via layer     {through_layer:6.1}");
    println!("  request, no layer     {without_layer:6.1}");
    println!("  layer overhead        {:6.1}", through_layer - without_layer);
    // A guard against regressions on the hot path (observed when written: see README).
    assert!(verify_cached <= 4.0, "cached verification allocates {verify_cached} times");
}
