//! Readiness probes on 127.0.0.1: `503` while no issuer has usable keys (before the
//! first load, past `max_stale` in an outage), `200` otherwise; and the gRPC health
//! service driven by the same check, asked by tonic-health's own client.

use crate::common;

use std::time::Duration;

use axum::Router;
use common::{get_bearer, get_with, serve};
use reqwest::StatusCode;
use serde_json::Value;
use tower_bearer::keys::{Readiness, RemoteJwksBuilder, StaticKeys, VerificationKey};
use tower_bearer::testing::{Outage, TEST_AUDIENCE, TestIssuer};
use tower_bearer::{BearerLayer, Issuer, JwtVerifier};

const MS: fn(u64) -> Duration = Duration::from_millis;

fn quick(idp: &TestIssuer) -> RemoteJwksBuilder {
    idp.remote_jwks().ttl_bounds(MS(100), Duration::from_secs(3600))
}

fn verifier(issuers: &[(&TestIssuer, RemoteJwksBuilder)]) -> JwtVerifier {
    let mut b = JwtVerifier::builder().audience(TEST_AUDIENCE);
    for (idp, store) in issuers {
        b = b.issuer(Issuer::new(idp.issuer()).keys(store.clone().build().unwrap()));
    }
    b.build().unwrap()
}

/// `/readyz` and `/me` (behind the layer) for `verifier`; the base URL.
async fn serve_ready(verifier: JwtVerifier) -> String {
    let app = Router::new()
        .route("/me", axum::routing::get(|| async { "me" }))
        .layer(BearerLayer::new(verifier.clone()))
        .route_service("/readyz", Readiness::new(&verifier));
    serve(app).await
}

async fn ready(base: &str) -> (StatusCode, Value) {
    let r = get_with(&format!("{base}/readyz"), &[]).await;
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(r.headers["cache-control"], "no-store");
    (r.status, r.json())
}

/// Asks until `/readyz` answers `want` (the store backs off 1 s after a failure).
async fn until(base: &str, want: StatusCode) -> Value {
    for _ in 0..40 {
        let (status, body) = ready(base).await;
        if status == want {
            return body;
        }
        tokio::time::sleep(MS(100)).await;
    }
    panic!("/readyz never answered {want}");
}

#[tokio::test]
async fn not_ready_until_keys_load() {
    let idp = TestIssuer::start().await;
    idp.set_outage(Outage::Status(503));
    let base = serve_ready(verifier(&[(&idp, quick(&idp))])).await;
    let (status, body) = ready(&base).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["issuers"][0]["issuer"], idp.issuer());
    assert_eq!(body["issuers"][0]["usable"], false);
    assert_eq!(body["issuers"][0]["keys"]["state"], "never_loaded");
    assert!(body["issuers"][0]["keys"]["last_error"].as_str().unwrap().contains("503"), "{body}");

    // The probe itself loads the keys once the IdP answers: no token request needed.
    idp.set_outage(Outage::None);
    let body = until(&base, StatusCode::OK).await;
    assert_eq!(body["status"], "ready");
    assert_eq!(body["issuers"][0]["keys"]["state"], "fresh");
    // One refused fetch, one good one: probes share fetches and respect the backoff.
    assert_eq!(idp.jwks_fetches(), 2);

    let r = common::client().post(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn not_ready_past_max_stale_then_ready_again() {
    let idp = TestIssuer::start().await;
    let base = serve_ready(verifier(&[(&idp, quick(&idp).ttl(MS(300)).max_stale(MS(700)))])).await;
    until(&base, StatusCode::OK).await;
    let token = idp.token().sign();
    assert_eq!(get_bearer(&format!("{base}/me"), &token).await.status, StatusCode::OK);

    idp.set_outage(Outage::Status(500));
    tokio::time::sleep(MS(400)).await; // past the TTL: stale keys still serve
    let (status, body) = ready(&base).await;
    assert_eq!((status, &body["issuers"][0]["keys"]["state"]), (StatusCode::OK, &"stale".into()), "{body}");

    tokio::time::sleep(MS(700)).await; // past TTL + max_stale
    let (status, body) = ready(&base).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["issuers"][0]["keys"]["state"], "expired");
    assert_eq!(get_bearer(&format!("{base}/me"), &token).await.status, StatusCode::SERVICE_UNAVAILABLE);

    idp.set_outage(Outage::None);
    let body = until(&base, StatusCode::OK).await;
    assert_eq!(body["issuers"][0]["keys"]["state"], "fresh");
}

/// Ready while any issuer has usable keys: one IdP down does not take the replica out.
#[tokio::test]
async fn any_usable_issuer_is_enough() {
    let (up, down) = (TestIssuer::start().await, TestIssuer::start().await);
    down.set_outage(Outage::Status(500));
    let base = serve_ready(verifier(&[(&up, quick(&up)), (&down, quick(&down))])).await;
    let body = until(&base, StatusCode::OK).await;
    assert_eq!(body["issuers"][0]["usable"], true);
    assert_eq!(body["issuers"][1]["usable"], false);

    // Fixed keys are always usable, and have no cache to report.
    let key = VerificationKey::hmac_secret(&[3; 32], None).unwrap();
    let fixed = JwtVerifier::builder()
        .issuer(Issuer::new("https://fixed.example").keys(StaticKeys::from(key)))
        .issuer(Issuer::new(down.issuer()).keys(quick(&down).build().unwrap()))
        .audience(TEST_AUDIENCE)
        .build()
        .unwrap();
    let report = Readiness::new(&fixed).report();
    assert!(report.is_ready());
    assert!(report.issuers[0].keys.is_none());
}

#[cfg(feature = "tonic-health")]
#[tokio::test]
async fn grpc_health_follows_readiness() {
    use tonic::transport::{Channel, Server};
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let idp = TestIssuer::start().await;
    idp.set_outage(Outage::Status(503));
    let verifier = verifier(&[(&idp, quick(&idp).ttl(MS(300)).max_stale(MS(700)))]);
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let task = Readiness::new(&verifier).report_to(reporter, "", MS(100)).await.unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder()
        .add_service(health_service)
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
    tokio::spawn(server);
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    let mut client = HealthClient::new(channel);
    // No keys yet: NOT_SERVING from the start (tonic-health's own default is SERVING).
    assert_eq!(grpc_check(&mut client).await, ServingStatus::NotServing);
    idp.set_outage(Outage::None);
    grpc_until(&mut client, ServingStatus::Serving).await;
    // An outage past max_stale: NOT_SERVING again, then back.
    idp.set_outage(Outage::Status(500));
    grpc_until(&mut client, ServingStatus::NotServing).await;
    idp.set_outage(Outage::None);
    grpc_until(&mut client, ServingStatus::Serving).await;

    // Dropping the task stops it: the status stays whatever it last set.
    drop(task);
    idp.set_outage(Outage::Status(500));
    tokio::time::sleep(MS(1500)).await;
    assert_eq!(grpc_check(&mut client).await, ServingStatus::Serving);
}

#[cfg(feature = "tonic-health")]
async fn grpc_check(
    client: &mut tonic_health::pb::health_client::HealthClient<tonic::transport::Channel>,
) -> tonic_health::pb::health_check_response::ServingStatus {
    let request = tonic_health::pb::HealthCheckRequest { service: String::new() };
    client.check(request).await.unwrap().into_inner().status()
}

/// Asks until the health service says `want`.
#[cfg(feature = "tonic-health")]
async fn grpc_until(
    client: &mut tonic_health::pb::health_client::HealthClient<tonic::transport::Channel>,
    want: tonic_health::pb::health_check_response::ServingStatus,
) {
    for _ in 0..40 {
        if grpc_check(client).await == want {
            return;
        }
        tokio::time::sleep(MS(100)).await;
    }
    panic!("the health service never said {want:?}");
}
