//! Streams that end with their token (issue 17 item 6): an SSE route and a gRPC server
//! stream behind the layer on 127.0.0.1, with tokens that expire during the stream.

use crate::common;

use crate::service;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::response::sse::{Event, Sse};
use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;
use common::serve;
use futures_util::stream::{self, Stream};
use http::uri::PathAndQuery;
use serde_json::json;
use service::RawCodec;
use tonic::Code;
use tonic::server::NamedService;
use tower_bearer::introspect::IntrospectionVerifier;
use tower_bearer::streams::{EndStreamsLayer, StreamExpiry, TokenExpiry};
use tower_bearer::testing::TestIssuer;
use tower_bearer::{BearerLayer, ClientAuth, JwtVerifier};

/// Every stream in these tests emits a message this often, for ever.
const TICK: Duration = Duration::from_millis(200);

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// A token expiring 2 s from now (whole seconds, as `exp` is), and that `exp`.
fn expiring_token(idp: &TestIssuer) -> (String, u64) {
    let exp = now() as u64 + 2;
    (idp.token().claim("exp", json!(exp)).sign(), exp)
}

fn ticks() -> impl Stream<Item = u64> + Send + 'static {
    stream::unfold(0u64, |n| async move {
        tokio::time::sleep(TICK).await;
        Some((n, n + 1))
    })
}

/// `/events`: an endless SSE stream; `/plain`: a small JSON answer.
fn sse_app() -> Router {
    let events = || async {
        Sse::new(futures_util::StreamExt::map(ticks(), |n| Ok::<_, Infallible>(Event::default().data(n.to_string()))))
    };
    Router::new().route("/events", get(events)).route("/plain", get(|| async { axum::Json(json!({"ok": true})) }))
}

/// How an SSE stream read by a client ended.
#[derive(Debug)]
struct Read {
    events: usize,
    /// When the stream ended (or the read stopped), Unix seconds.
    at: f64,
    /// The stream failed (was aborted) rather than ending cleanly or still running.
    aborted: bool,
}

/// Reads `url`'s event stream until it ends or until `until` (Unix seconds).
async fn read_events(url: &str, token: &str, until: f64) -> Read {
    let mut response = common::client().get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut events = 0;
    let read = async {
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => events += String::from_utf8_lossy(&chunk).matches("data: ").count(),
                Ok(None) => return false,
                Err(_) => return true,
            }
        }
    };
    let left = Duration::from_secs_f64((until - now()).max(0.0));
    let aborted = tokio::time::timeout(left, read).await.unwrap_or(false);
    Read { events, at: now(), aborted }
}

fn layer_without_leeway(verifier: JwtVerifier) -> tower::layer::util::Stack<BearerLayer, EndStreamsLayer> {
    BearerLayer::new(verifier).end_streams_at_expiry(StreamExpiry::new().leeway(Duration::ZERO))
}

#[tokio::test]
async fn an_sse_stream_is_cut_shortly_after_its_token_expires() {
    let idp = TestIssuer::start().await;
    let base = serve(sse_app().layer(layer_without_leeway(idp.verifier()))).await;
    let (token, exp) = expiring_token(&idp);
    let read = read_events(&format!("{base}/events"), &token, exp as f64 + 5.0).await;
    assert!(read.aborted, "the stream is aborted, so the client sees it cut: {read:?}");
    let exp = exp as f64;
    assert!(read.at >= exp && read.at < exp + 1.0, "cut at {:.2}, exp {exp}", read.at);
    // Events flowed until the cut: one every 200 ms for 1 to 2 s.
    assert!(read.events >= 4, "{read:?}");

    // A plain answer under the same layer is whole, and the same token, expired, is refused.
    let plain = common::get_bearer(&format!("{base}/plain"), &idp.token().sign()).await;
    assert_eq!((plain.status.as_u16(), plain.json()), (200, json!({"ok": true})));
    let refused = common::get_bearer(&format!("{base}/events"), &token).await;
    assert_eq!(refused.status, 401, "a new request with the expired token");
}

#[tokio::test]
async fn without_the_option_a_stream_outlives_its_token() {
    let idp = TestIssuer::start().await;
    let base = serve(sse_app().layer(BearerLayer::new(idp.verifier()))).await;
    let (token, exp) = expiring_token(&idp);
    let read = read_events(&format!("{base}/events"), &token, exp as f64 + 1.5).await;
    assert!(!read.aborted && read.at >= exp as f64 + 1.5, "still streaming past exp: {read:?}");
    assert!(read.events >= 8, "{read:?}");
}

#[tokio::test]
async fn the_leeway_keeps_a_stream_going_past_exp() {
    let idp = TestIssuer::start().await;
    let layer =
        BearerLayer::new(idp.verifier()).end_streams_at_expiry(StreamExpiry::new().leeway(Duration::from_secs(2)));
    let base = serve(sse_app().layer(layer)).await;
    let (token, exp) = expiring_token(&idp);
    let read = read_events(&format!("{base}/events"), &token, exp as f64 + 5.0).await;
    let end = exp as f64 + 2.0;
    assert!(read.aborted && read.at >= end && read.at < end + 1.0, "cut at {:.2}, exp + leeway {end}", read.at);
}

#[tokio::test]
async fn a_token_whose_stream_would_end_at_once_is_refused() {
    // The verifier's leeway (60 s) accepts a token expired 5 s ago; with no leeway for
    // streams its answer would be cut before its first byte: a 401 instead of a cut 200.
    let idp = TestIssuer::start().await;
    let base = serve(sse_app().layer(layer_without_leeway(idp.verifier()))).await;
    let expired = idp.token().claim("exp", json!(now() as u64 - 5)).sign();
    let reply = common::get_bearer(&format!("{base}/plain"), &expired).await;
    assert_eq!(reply.status, 401);
    assert!(reply.challenge().contains("invalid_token"), "{}", reply.challenge());
    // The same layer with the verifier's leeway lets it in.
    let base =
        serve(sse_app().layer(BearerLayer::new(idp.verifier()).end_streams_at_expiry(StreamExpiry::new()))).await;
    assert_eq!(common::get_bearer(&format!("{base}/plain"), &expired).await.status, 200);
}

#[tokio::test]
async fn the_token_expiry_extension_completes_at_expiry() {
    // A WebSocket-like handler: its work outlives the response and selects on the expiry.
    let idp = TestIssuer::start().await;
    let seen: Arc<Mutex<Option<(u64, f64)>>> = Arc::default();
    let record = seen.clone();
    let handler = move |Extension(expiry): Extension<TokenExpiry>| {
        let record = record.clone();
        async move {
            assert!(!expiry.is_expired() && expiry.remaining() <= Duration::from_secs(2));
            tokio::spawn(async move {
                let expired = expiry.expired();
                tokio::pin!(expired);
                let mut ticks = tokio::time::interval(TICK);
                loop {
                    tokio::select! {
                        () = &mut expired => break,
                        _ = ticks.tick() => {}
                    }
                }
                assert!(expiry.is_expired());
                *record.lock().unwrap() = Some((expiry.expires_at(), now()));
            });
            "upgraded"
        }
    };
    let app = Router::new().route("/socket", get(handler));
    let base = serve(app.layer(layer_without_leeway(idp.verifier()))).await;
    let (token, exp) = expiring_token(&idp);
    assert_eq!(common::get_bearer(&format!("{base}/socket"), &token).await.body, "upgraded");
    tokio::time::timeout(Duration::from_secs(5), async {
        while seen.lock().unwrap().is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the expiry future completed");
    let (expires_at, at) = seen.lock().unwrap().unwrap();
    assert_eq!(expires_at, exp);
    assert!(at >= exp as f64 && at < exp as f64 + 1.0, "completed at {at:.2}, exp {exp}");
}

#[tokio::test]
async fn a_token_without_exp_is_never_cut() {
    // An introspected opaque token may have no `exp` (RFC 7662 §2.2).
    let answer = json!({"active": true, "sub": "u1", "aud": "api", "client_id": "c"});
    let endpoint = Router::new().route("/introspect", axum::routing::post(move || async move { axum::Json(answer) }));
    let endpoint = format!("{}/introspect", serve(endpoint).await);
    let verifier = IntrospectionVerifier::builder()
        .endpoint(&endpoint)
        .client_auth(ClientAuth::basic("rs", "secret"))
        .audience("api")
        .build()
        .unwrap();
    let layer = BearerLayer::new(verifier).end_streams_at_expiry(StreamExpiry::new().leeway(Duration::ZERO));
    let base = serve(sse_app().layer(layer)).await;
    let read = read_events(&format!("{base}/events"), "an-opaque-token", now() + 2.5).await;
    assert!(!read.aborted && read.events >= 10, "{read:?}");
}

/// `demo.Ticks/Watch`: a server stream sending `tick N` every 200 ms, for ever.
#[derive(Clone)]
struct Ticks;

impl NamedService for Ticks {
    const NAME: &'static str = "demo.Ticks";
}

type TickStream = Pin<Box<dyn Stream<Item = Result<Bytes, tonic::Status>> + Send>>;

impl tower::Service<http::Request<tonic::body::Body>> for Ticks {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            let watch = tower::service_fn(|_: tonic::Request<Bytes>| async {
                let stream = futures_util::StreamExt::map(ticks(), |n| Ok(Bytes::from(format!("tick {n}"))));
                Ok::<_, tonic::Status>(tonic::Response::new(Box::pin(stream) as TickStream))
            });
            Ok(tonic::server::Grpc::new(RawCodec).server_streaming(watch, req).await)
        })
    }
}

#[tokio::test]
async fn a_grpc_server_stream_ends_unauthenticated_after_its_token_expires() {
    let idp = TestIssuer::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let layer =
        BearerLayer::new(idp.verifier()).grpc().end_streams_at_expiry(StreamExpiry::new().leeway(Duration::ZERO));
    let server = tonic::transport::Server::builder()
        .layer(layer)
        .add_service(Ticks)
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
    tokio::spawn(server);
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();

    let (token, exp) = expiring_token(&idp);
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.unwrap();
    let mut request = tonic::Request::new(Bytes::new());
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let path = PathAndQuery::from_static("/demo.Ticks/Watch");
    let mut stream = client.server_streaming(request, path, RawCodec).await.unwrap().into_inner();
    let mut messages = Vec::new();
    let status = tokio::time::timeout(Duration::from_secs(6), async {
        loop {
            match stream.message().await {
                Ok(Some(message)) => messages.push(message),
                Ok(None) => panic!("the stream ended without a status"),
                Err(status) => return status,
            }
        }
    })
    .await
    .expect("the stream ended");
    let at = now();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(status.message(), "access token expired");
    assert!(at >= exp as f64 && at < exp as f64 + 1.0, "ended at {at:.2}, exp {exp}");
    assert!(messages.len() >= 4, "{}", messages.len());
    assert_eq!(messages[0], "tick 0");
}
