//! Metrics (feature `metrics`): the values a recorder sees move as real requests reach
//! a real server, with real tokens from a [`TestIssuer`].
//!
//! Each test builds its verifier and layer under its own recorder
//! (`metrics::with_local_recorder`): handles are taken at build time, so the counts
//! land there whatever thread serves the requests, and tests running at once do not
//! mix their counts.

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::{app, get_bearer, get_with, serve};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use reqwest::StatusCode;
use serde_json::json;
use tower_bearer::keys::RemoteJwks;
use tower_bearer::testing::{Outage, TEST_AUDIENCE, TestIssuer};
use tower_bearer::{BearerLayer, Issuer, JwtVerifier};

/// A recorder of its own, and what changed since the last look.
struct Recorded {
    recorder: DebuggingRecorder,
    snapshotter: Snapshotter,
}

impl Recorded {
    fn new() -> Self {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        Self { recorder, snapshotter }
    }

    /// Runs `build` with this recorder installed: what it builds counts here.
    fn building<T>(&self, build: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.recorder, build)
    }

    /// Every series as `name{k="v",…}` (labels in registration order) with its change
    /// since the last call: counters their increase, gauges their value, histograms
    /// their number of samples.
    fn changes(&self) -> HashMap<String, f64> {
        self.snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let key = key.key();
                let labels: Vec<String> = key.labels().map(|l| format!("{}=\"{}\"", l.key(), l.value())).collect();
                let name = if labels.is_empty() {
                    key.name().to_owned()
                } else {
                    format!("{}{{{}}}", key.name(), labels.join(","))
                };
                let value = match value {
                    DebugValue::Counter(n) => n as f64,
                    DebugValue::Gauge(g) => g.into_inner(),
                    DebugValue::Histogram(samples) => samples.len() as f64,
                };
                (name, value)
            })
            .collect()
    }
}

/// The nonzero entries of `changes`, for messages and exact comparisons.
fn nonzero(changes: &HashMap<String, f64>) -> Vec<(String, f64)> {
    let mut moved: Vec<_> = changes.iter().filter(|(_, v)| **v != 0.0).map(|(k, v)| (k.clone(), *v)).collect();
    moved.sort_by(|a, b| a.0.cmp(&b.0));
    moved
}

#[track_caller]
fn assert_moved(changes: &HashMap<String, f64>, expected: &[(&str, f64)]) {
    let mut expected: Vec<(String, f64)> = expected.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(nonzero(changes), expected);
}

fn requests(outcome: &str, reason: &str) -> String {
    format!("tower_bearer_requests_total{{outcome=\"{outcome}\",reason=\"{reason}\"}}")
}

fn jwks(name: &str, source: &str, result: Option<&str>) -> String {
    match result {
        Some(result) => format!("tower_bearer_jwks_{name}{{source=\"{source}\",result=\"{result}\"}}"),
        None => format!("tower_bearer_jwks_{name}{{source=\"{source}\"}}"),
    }
}

const HITS: &str = "tower_bearer_token_cache_hits_total";
const MISSES: &str = "tower_bearer_token_cache_misses_total";
const VERIFY: &str = "tower_bearer_verify_duration_seconds";

#[tokio::test]
async fn decisions_caches_and_key_fetches_are_counted() {
    let idp = TestIssuer::start().await;
    let recorded = Recorded::new();
    let source = idp.jwks_url();
    let layer = recorded.building(|| {
        let store = idp.remote_jwks().cooldown(Duration::from_millis(300)).build().unwrap();
        let verifier = JwtVerifier::builder()
            .issuer(Issuer::new(idp.issuer()).keys(store))
            .audience(TEST_AUDIENCE)
            .build()
            .unwrap();
        BearerLayer::new(verifier)
    });
    // `/me`, and `/items` behind a route layer requiring a scope.
    let base = serve(app(layer)).await;
    let every_series = recorded.changes();
    assert_eq!(every_series.get(&requests("allowed", "verified")), Some(&0.0), "registered at build, at zero");

    // A good token twice: one miss (timed, keys fetched), one hit (not timed).
    let token = idp.token().sign();
    for _ in 0..2 {
        assert_eq!(get_bearer(&format!("{base}/me"), &token).await.status, StatusCode::OK);
    }
    let changes = recorded.changes();
    assert!(changes.get(&jwks("last_success_timestamp_seconds", &source, None)).is_some_and(|t| *t > 1.7e9));
    assert_moved(
        &changes,
        &[
            (&requests("allowed", "verified"), 2.0),
            (MISSES, 1.0),
            (HITS, 1.0),
            (VERIFY, 1.0),
            (&jwks("fetches_total", &source, Some("ok")), 1.0),
            (&jwks("keys", &source, None), 1.0),
            (
                &jwks("last_success_timestamp_seconds", &source, None),
                changes[&jwks("last_success_timestamp_seconds", &source, None)],
            ),
        ],
    );

    // No token; a token without the route's scope: refused by the route layer, counted
    // as forbidden only (not also as allowed by the layer that let it in); an expired one.
    assert_eq!(get_with(&format!("{base}/me"), &[]).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(get_bearer(&format!("{base}/items"), &token).await.status, StatusCode::FORBIDDEN);
    let expired = idp.token().claim("exp", json!(1_000_000_000)).sign();
    assert_eq!(get_bearer(&format!("{base}/me"), &expired).await.status, StatusCode::UNAUTHORIZED);
    let scoped = idp.token().scope("read:items").sign();
    assert_eq!(get_bearer(&format!("{base}/items"), &scoped).await.status, StatusCode::OK);
    assert_moved(
        &recorded.changes(),
        &[
            (&requests("unauthorized", "missing_token"), 1.0),
            (&requests("forbidden", "insufficient_scope"), 1.0),
            (&requests("unauthorized", "expired"), 1.0),
            (&requests("allowed", "verified"), 1.0),
            // The first token again (a hit); the expired one and the scoped one: misses, timed.
            (MISSES, 2.0),
            (HITS, 1.0),
            (VERIFY, 2.0),
        ],
    );

    // An unknown kid inside the refetch cooldown: refused without a fetch.
    let unknown = idp.token().header("kid", json!("no-such-key")).sign();
    assert_eq!(get_bearer(&format!("{base}/me"), &unknown).await.status, StatusCode::UNAUTHORIZED);
    let changes = recorded.changes();
    assert_eq!(changes[&jwks("unknown_kid_rejections_total", &source, None)], 1.0, "{:?}", nonzero(&changes));
    assert_eq!(changes[&jwks("unknown_kid_refetches_total", &source, None)], 0.0);
    assert_eq!(changes[&requests("unauthorized", "unknown_key")], 1.0);

    // After the cooldown: one refetch (the set is unchanged: 304), then the kid is
    // known absent and refused without a fetch.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let other = idp.token().header("kid", json!("another-missing-key")).sign();
    for _ in 0..2 {
        assert_eq!(get_bearer(&format!("{base}/me"), &other).await.status, StatusCode::UNAUTHORIZED);
    }
    let changes = recorded.changes();
    let moved = nonzero(&changes);
    assert_eq!(changes[&jwks("unknown_kid_refetches_total", &source, None)], 1.0, "{moved:?}");
    assert_eq!(changes[&jwks("fetches_total", &source, Some("not_modified"))], 1.0, "{moved:?}");
    assert_eq!(changes[&jwks("unknown_kid_rejections_total", &source, None)], 1.0, "{moved:?}");
    assert_eq!(changes[&requests("unauthorized", "unknown_key")], 2.0, "{moved:?}");
}

#[tokio::test]
async fn an_outage_counts_failed_fetches_and_unavailable_answers() {
    let idp = TestIssuer::start().await;
    idp.set_outage(Outage::Status(500));
    let recorded = Recorded::new();
    let source = idp.jwks_url();
    // A layer without route layers: admissions are counted at once.
    let layer = recorded.building(|| {
        let store = RemoteJwks::builder().jwks_url(&source).build().unwrap();
        let verifier = JwtVerifier::builder()
            .issuer(Issuer::new(idp.issuer()).keys(store))
            .audience(TEST_AUDIENCE)
            .build()
            .unwrap();
        BearerLayer::new(verifier)
    });
    let me = format!("{}/me", serve(Router::new().route("/me", get(|| async { "me" })).layer(layer)).await);
    let token = idp.token().sign();
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_moved(
        &recorded.changes(),
        &[
            (&requests("unavailable", "unavailable"), 1.0),
            (&jwks("fetches_total", &source, Some("error")), 1.0),
            (MISSES, 1.0),
            (VERIFY, 1.0),
        ],
    );

    // The IdP is back; after the 1 s backoff the keys load and the token passes.
    idp.set_outage(Outage::None);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get_bearer(&me, &token).await.status, StatusCode::OK);
    let changes = recorded.changes();
    let moved = nonzero(&changes);
    assert_eq!(changes[&requests("allowed", "verified")], 1.0, "{moved:?}");
    assert_eq!(changes[&jwks("fetches_total", &source, Some("ok"))], 1.0, "{moved:?}");
    assert_eq!(changes[&jwks("fetches_total", &source, Some("error"))], 0.0, "{moved:?}");
    assert_eq!(changes[&jwks("keys", &source, None)], 1.0, "{moved:?}");
}
