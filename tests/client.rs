//! Outgoing requests with tokens, against loopback servers for counting and failures
//! (the real authorization server's token endpoint is exercised in tests/interop.rs).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use common::api::{recording_api, redirecting};
use common::token_endpoint::TokenEndpoint;
use common::{b64, serve};
use http::StatusCode;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use tower_bearer::client::{
    AccessToken, AddTokenLayer, AuthorizedClient, ClientCredentials, ClientError, RetryPolicy, StaticToken, TokenSource,
};

fn source(url: &str) -> tower_bearer::client::ClientCredentialsBuilder {
    ClientCredentials::builder()
        .token_url(url)
        .client_auth(tower_bearer::ClientAuth::basic("c", "s"))
        .skew(Duration::ZERO)
}

#[tokio::test]
async fn a_thousand_concurrent_callers_cause_one_request() {
    let server = TokenEndpoint::start(300, Duration::from_millis(100)).await;
    let url = server.url.clone();
    let s = source(&url).build().unwrap();
    let calls: Vec<_> = (0..1000).map(|_| tokio::spawn(s.token())).collect();
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap().secret(), "token-1");
    }
    assert_eq!(server.calls(), 1);
}

#[tokio::test]
async fn renewal_after_expiry_and_ahead_of_it() {
    let server = TokenEndpoint::start(1, Duration::ZERO).await;
    let url = server.url.clone();
    let s = source(&url).build().unwrap();
    assert_eq!(s.token().await.unwrap().secret(), "token-1");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(s.token().await.unwrap().secret(), "token-2", "expired: fetched again");

    let server2 = TokenEndpoint::start(2, Duration::ZERO).await;
    let url = server2.url.clone();
    let s = source(&url).build().unwrap();
    assert_eq!(s.token().await.unwrap().secret(), "token-1");
    tokio::time::sleep(Duration::from_millis(1700)).await; // past 80 % of the lifetime
    assert_eq!(s.token().await.unwrap().secret(), "token-1", "still valid: served at once");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server2.calls(), 2, "renewed in the background");
    assert_eq!(s.token().await.unwrap().secret(), "token-2");
    let _ = server;
}

#[tokio::test]
async fn retries_with_backoff_on_5xx_and_429_then_gives_up() {
    let server = TokenEndpoint::start(300, Duration::ZERO).await;
    let url = server.url.clone();
    server.fail_first(2, 503);
    let policy = RetryPolicy { max_attempts: 4, base_delay: Duration::from_millis(20), ..RetryPolicy::default() };
    let s = source(&url).retry(policy).build().unwrap();
    assert_eq!(s.token().await.unwrap().secret(), "token-3");
    assert_eq!(server.calls(), 3);

    let server = TokenEndpoint::start(300, Duration::ZERO).await;
    let url = server.url.clone();
    server.fail_first(10, 429);
    let s = source(&url).retry(RetryPolicy { max_attempts: 3, ..policy }).build().unwrap();
    assert!(matches!(s.token().await, Err(ClientError::Unavailable(_))));
    assert_eq!(server.calls(), 3, "bounded");

    let down = source("http://127.0.0.1:9/token").retry(RetryPolicy { max_attempts: 2, ..policy }).build().unwrap();
    assert!(matches!(down.token().await, Err(ClientError::Unavailable(_))));
}

#[tokio::test]
async fn oauth_errors_surface_at_once() {
    let server = TokenEndpoint::start(300, Duration::ZERO).await;
    let url = server.url.clone();
    server.fail_first(10, 401);
    match source(&url).build().unwrap().token().await {
        Err(ClientError::OAuth { error, description, uri }) => {
            assert_eq!(error, "invalid_client");
            assert_eq!(description.as_deref(), Some("unknown client"));
            assert_eq!(uri.as_deref(), Some("https://as.example.com/e"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.calls(), 1, "not retried");
}

#[tokio::test]
async fn retry_once_on_401_with_a_fresh_token() {
    let server = TokenEndpoint::start(300, Duration::ZERO).await;
    let url = server.url.clone();
    let (api, seen) = recording_api().await;
    let client = AuthorizedClient::new(reqwest::Client::new(), source(&url).build().unwrap());
    let res = client.send(client.get(&api)).await.unwrap();
    assert_eq!((res.status(), res.text().await.unwrap().as_str()), (StatusCode::OK, "GET done"));
    assert_eq!((server.calls(), seen.lock().unwrap().len()), (2, 2));

    // A second 401 goes back to the caller: a static token the API always refuses.
    let stuck = AuthorizedClient::new(reqwest::Client::new(), StaticToken::new(AccessToken::new("token-1", None)));
    let res = stuck.send(stuck.get(&api)).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tower_layer_on_an_http_client_service() {
    let server = TokenEndpoint::start(300, Duration::ZERO).await;
    let url = server.url.clone();
    let (api, _) = recording_api().await;
    // The client service: a real HTTP call per request.
    let http = tower::service_fn(|req: http::Request<String>| async move {
        let res = reqwest::Client::new().get(req.uri().to_string()).headers(req.headers().clone()).send().await?;
        let mut out = http::Response::builder().status(res.status());
        for (k, v) in res.headers() {
            out = out.header(k, v);
        }
        Ok::<_, reqwest::Error>(out.body(res.text().await?).unwrap())
    });
    let service = tower::ServiceBuilder::new().layer(AddTokenLayer::new(source(&url).build().unwrap())).service(http);
    let res = service.clone().oneshot(http::Request::get(&api).body(String::new()).unwrap()).await.unwrap();
    assert_eq!((res.status(), res.body().as_str()), (StatusCode::OK, "GET done"), "retried once with a fresh token");
    // A request with a body is not replayed by the generic layer.
    let url = TokenEndpoint::start(300, Duration::ZERO).await.url;
    let service = tower::ServiceBuilder::new().layer(AddTokenLayer::new(source(&url).build().unwrap())).service(
        tower::service_fn(|req: http::Request<String>| async move {
            let auth = req.headers().get("authorization").cloned();
            let status = if auth.as_ref().is_some_and(|v| v == "Bearer token-1") { 401 } else { 200 };
            let res =
                http::Response::builder().status(status).header("www-authenticate", r#"Bearer error="invalid_token""#);
            Ok::<_, std::convert::Infallible>(res.body(String::new()).unwrap())
        }),
    );
    let res = service.oneshot(http::Request::post("/").body("payload".to_owned()).unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let _ = server;
}

#[tokio::test]
async fn refresh_tokens_are_used_and_fall_back_when_refused() {
    let grants = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let g = grants.clone();
    let app = Router::new().route(
        "/token",
        post(move |body: String| {
            let g = g.clone();
            async move {
                let n = {
                    let mut grants = g.lock().unwrap();
                    grants.push(body.clone());
                    grants.len()
                };
                if body.contains("grant_type=refresh_token") && !body.contains("refresh_token=r-1") {
                    let err = json!({"error": "invalid_grant"});
                    return (StatusCode::BAD_REQUEST, err.to_string());
                }
                let answer = json!({"access_token": format!("t-{n}"), "token_type": "Bearer", "expires_in": 1, "refresh_token": format!("r-{n}")});
                (StatusCode::OK, answer.to_string())
            }
        }),
    );
    let url = format!("{}/token", serve(app).await);
    let s = source(&url).build().unwrap();
    assert_eq!(s.token().await.unwrap().secret(), "t-1");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Renewed with the refresh token r-1.
    assert_eq!(s.token().await.unwrap().secret(), "t-2");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // r-2 is refused: the client's credentials are used instead.
    assert_eq!(s.token().await.unwrap().secret(), "t-4");
    let grants = grants.lock().unwrap().clone();
    assert!(grants[0].contains("grant_type=client_credentials"));
    assert!(grants[1].contains("grant_type=refresh_token") && grants[1].contains("refresh_token=r-1"));
    assert!(grants[2].contains("refresh_token=r-2"));
    assert!(grants[3].contains("grant_type=client_credentials"));
}

/// A token endpoint that answers every request with `body` (status 200).
async fn answering(body: Value) -> String {
    let app = Router::new().route("/token", post(move || std::future::ready(body.to_string())));
    format!("{}/token", serve(app).await)
}

fn unsigned_jwt(claims: Value) -> String {
    format!("{}.{}.sig", b64::encode(json!({"alg": "RS256"}).to_string()), b64::encode(claims.to_string()))
}

// Item 9: `Instant::now() + lifetime` must not overflow on any answer.
#[tokio::test]
async fn huge_lifetimes_do_not_panic() {
    let day = Duration::from_secs(24 * 3600);
    let answers = [
        json!({"access_token": "a", "token_type": "Bearer", "expires_in": u64::MAX}),
        json!({"access_token": "b", "token_type": "Bearer", "expires_in": 1e300}),
        json!({"access_token": "c", "token_type": "Bearer", "expires_in": f64::MAX}),
        json!({"access_token": "d", "token_type": "Bearer", "expires_in": -1}),
        json!({"access_token": "e", "token_type": "Bearer", "expires_in": "18446744073709551615"}),
        json!({"access_token": unsigned_jwt(json!({"exp": u64::MAX})), "token_type": "Bearer"}),
        json!({"access_token": unsigned_jwt(json!({"exp": 1e300})), "token_type": "Bearer"}),
    ];
    for answer in answers {
        let s = source(&answering(answer.clone()).await).build().unwrap();
        let token = s.token().await.unwrap_or_else(|e| panic!("{answer}: {e}"));
        let left = token.expires_at().expect("a lifetime").saturating_duration_since(std::time::Instant::now());
        assert!(left > Duration::from_secs(60) && left <= day, "{answer}: a sane lifetime, got {left:?}");
        assert_eq!(s.token().await.unwrap(), token, "{answer}: cached");
    }
}

// Item 10: the token answer is read under its 64 KiB cap, never whole.
#[tokio::test]
async fn token_endpoint_body_is_capped_while_streaming() {
    let sent = Arc::new(AtomicUsize::new(0));
    let s2 = sent.clone();
    let app = Router::new().route(
        "/token",
        post(move || {
            let sent = s2.clone();
            async move {
                // 256 MiB of JSON-looking padding, chunked (no Content-Length).
                let chunk = bytes::Bytes::from(vec![b' '; 64 * 1024]);
                let stream = futures_util::stream::iter((0..4096).map(move |_| {
                    sent.fetch_add(chunk.len(), Ordering::SeqCst);
                    Ok::<_, std::convert::Infallible>(chunk.clone())
                }));
                axum::body::Body::from_stream(stream)
            }
        }),
    );
    let url = format!("{}/token", serve(app).await);
    let started = std::time::Instant::now();
    let err = source(&url).build().unwrap().token().await.unwrap_err();
    assert!(err.to_string().contains("larger than 65536 bytes"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3), "refused while streaming");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let produced = sent.load(Ordering::SeqCst);
    assert!(produced < 32 * 1024 * 1024, "the client stopped reading: {produced} bytes produced");
}

// Item 11: a custom client that follows redirects never re-sends the credentials.
#[tokio::test]
async fn token_request_is_not_sent_to_a_redirect_target() {
    let following = reqwest::Client::builder().redirect(reqwest::redirect::Policy::limited(5)).build().unwrap();
    for status in [307, 308, 302, 303] {
        let (url, seen) = redirecting(status, "/token").await;
        let s = source(&url)
            .client_auth(tower_bearer::ClientAuth::post("c", "post-secret"))
            .http_client(following.clone())
            .retry(RetryPolicy { max_attempts: 1, ..RetryPolicy::default() })
            .build()
            .unwrap();
        let result = s.token().await;
        assert!(result.is_err(), "{status}: the redirected answer is refused, got {result:?}");
        let seen = seen.lock().unwrap().clone();
        assert!(seen.iter().all(|r| !r.contains("post-secret") && !r.contains("grant_type")), "{status}: {seen:?}");
        if status >= 307 {
            assert!(seen.is_empty(), "{status}: the second server got the request: {seen:?}");
        }
    }
}

// Issue 13, item 9: every method, built and sent from the client itself, carries the
// token and is retried once (body included) when the API refuses it.
#[tokio::test]
async fn every_method_carries_the_token_and_is_retried_once() {
    use tower_bearer::client::reqwest::Method;
    let server = TokenEndpoint::start(300, Duration::ZERO).await;
    let url = server.url.clone();
    let (api, seen) = recording_api().await;
    let client = AuthorizedClient::new(reqwest::Client::new(), source(&url).build().unwrap());
    // token-1 is refused once; every request after that carries token-2.
    let res = client.get(format!("{api}/a")).header("x-trace", "1").send().await.unwrap();
    assert_eq!((res.status(), res.text().await.unwrap().as_str()), (StatusCode::OK, "GET done"));
    assert_eq!(seen.lock().unwrap().clone(), ["GET /a Bearer token-1  ", "GET /a Bearer token-2  "]);
    seen.lock().unwrap().clear();

    let requests = [
        client.post(format!("{api}/b")).body("post-body"),
        client.put(format!("{api}/c")).body("put-body"),
        client.patch(format!("{api}/d")).with(|r| r.json(&json!({"op": "patch"}))),
        client.delete(format!("{api}/e")),
        client.head(format!("{api}/f")),
        client.request(Method::OPTIONS, format!("{api}/g")).timeout(Duration::from_secs(5)),
    ];
    for request in requests {
        assert_eq!(request.send().await.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(
        seen.lock().unwrap().clone(),
        [
            "POST /b Bearer token-2  post-body",
            "PUT /c Bearer token-2  put-body",
            r#"PATCH /d Bearer token-2 application/json {"op":"patch"}"#,
            "DELETE /e Bearer token-2  ",
            "HEAD /f Bearer token-2  ",
            "OPTIONS /g Bearer token-2  ",
        ]
    );
    assert_eq!(server.calls(), 2, "one renewal for the refused token");

    // A refused PUT is replayed with its body and the fresh token.
    let url = TokenEndpoint::start(300, Duration::ZERO).await.url;
    seen.lock().unwrap().clear();
    let client = AuthorizedClient::new(reqwest::Client::new(), source(&url).build().unwrap());
    let res = client.put(format!("{api}/h")).body("again").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(seen.lock().unwrap().clone(), ["PUT /h Bearer token-1  again", "PUT /h Bearer token-2  again"]);
}

// Issue 13, item 9: the reqwest the client is built on is the one re-exported, so an
// application's builders and clients are of the same version.
#[tokio::test]
async fn the_reexported_reqwest_is_the_one_the_client_takes() {
    let url = TokenEndpoint::start(300, Duration::ZERO).await.url;
    let (api, seen) = recording_api().await;
    let http: tower_bearer::client::reqwest::Client = tower_bearer::client::reqwest::Client::new();
    let client = AuthorizedClient::new(http.clone(), source(&url).build().unwrap());
    // A builder from the application's own client goes through `send` too.
    let builder: tower_bearer::client::reqwest::RequestBuilder = http.post(format!("{api}/own")).body("x");
    assert_eq!(client.send(builder).await.unwrap().status(), StatusCode::OK);
    assert_eq!(seen.lock().unwrap().last().unwrap(), "POST /own Bearer token-2  x");
}

// Issue 14 item 2: a discovered token endpoint that fails is looked up again, as the
// JWKS URL is (the server may have moved it).
#[tokio::test]
async fn a_discovered_token_endpoint_is_looked_up_again_after_a_failure() {
    let idp = common::Moving::start("token_endpoint", || async {
        axum::Json(json!({"access_token": "from-new", "token_type": "Bearer", "expires_in": 300}))
    })
    .await;
    let s = ClientCredentials::builder()
        .discover(&idp.issuer)
        .client_auth(tower_bearer::ClientAuth::basic("c", "s"))
        .retry(RetryPolicy { max_attempts: 1, ..RetryPolicy::default() })
        .build()
        .unwrap();
    assert!(matches!(s.token().await, Err(ClientError::Unavailable(_))), "the old endpoint answers 500");
    idp.relocate();
    assert_eq!(s.token().await.expect("discovered again").secret(), "from-new");
}

/// The error's chain down to its root cause.
fn causes<'a>(e: &'a (dyn std::error::Error + 'static)) -> Vec<&'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |e| e.source()).collect()
}

// Issue 14 item 4: a failed token request says what failed and leads, through
// `source()`, to the reqwest error underneath; the secret appears nowhere.
#[tokio::test]
async fn token_errors_lead_to_the_underlying_error() {
    let s = ClientCredentials::builder()
        .token_url("http://127.0.0.1:9/token") // nothing listens on the discard port
        .client_auth(tower_bearer::ClientAuth::basic("c", "chain-Secret-1"))
        .retry(RetryPolicy { max_attempts: 1, ..RetryPolicy::default() })
        .build()
        .unwrap();
    let err = s.token().await.unwrap_err();
    assert!(matches!(err, ClientError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("POST http://127.0.0.1:9/token"), "{err}");
    let chain = causes(&err);
    assert!(chain.iter().any(|e| e.downcast_ref::<reqwest::Error>().is_some()), "{chain:?}");
    let all = chain.iter().map(|e| format!("{e} {e:?}")).collect::<String>();
    assert!(!all.contains("chain-Secret-1"), "{all}");

    let api = AuthorizedClient::new(reqwest::Client::new(), s);
    let err = api.get("http://127.0.0.1:9/items").send().await.unwrap_err();
    assert!(causes(&err).iter().any(|e| e.downcast_ref::<reqwest::Error>().is_some()), "{err:?}");
}

// Issue 16, item 6: DPoP-bound tokens (RFC 9449), from a token endpoint that checks
// the proofs with the layer's own check to an API behind the layer, over real HTTP.
mod dpop {
    use std::convert::Infallible;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use http::StatusCode;
    use tower::ServiceExt as _;
    use tower_bearer::Algorithm;
    use tower_bearer::client::{
        AccessToken, AddTokenLayer, AuthorizedClient, ClientError, RetryPolicy, StaticToken, StoredToken, TokenSource,
        TokenStore,
    };
    use tower_bearer::dpop::DpopMode;
    use tower_bearer::signing::DpopKey;

    use super::common::b64;
    use super::common::dpop_servers::{AsMode, AsNonces, DpopAs, Log, dpop_api};
    use super::common::logs::Capture;
    use super::source;

    fn key() -> DpopKey {
        DpopKey::generate(Algorithm::ES256).unwrap()
    }

    /// A tower client service doing one real HTTP call per request (method, URI,
    /// headers and body as given).
    fn over_reqwest() -> tower::util::BoxCloneService<http::Request<String>, http::Response<String>, reqwest::Error> {
        tower::util::BoxCloneService::new(tower::service_fn(|req: http::Request<String>| async move {
            let (parts, body) = req.into_parts();
            let res = reqwest::Client::new()
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut out = http::Response::builder().status(res.status());
            for (k, v) in res.headers() {
                out = out.header(k, v);
            }
            Ok(out.body(res.text().await?).unwrap())
        }))
    }

    async fn get_through_layer(layer: &AddTokenLayer, url: &str) -> http::Response<String> {
        let service = tower::ServiceBuilder::new().layer(layer.clone()).service(over_reqwest());
        service.oneshot(http::Request::get(url).body(String::new()).unwrap()).await.unwrap()
    }

    fn lines(log: &Log) -> Vec<String> {
        std::mem::take(&mut *log.lock().unwrap())
    }

    /// `METHOD path scheme nonce status` with the nonce shown as `-` or `N`.
    fn shapes(log: &Log) -> Vec<String> {
        lines(log)
            .into_iter()
            .map(|l| {
                let parts: Vec<&str> = l.split(' ').collect();
                let nonce = if parts[3] == "-" { "-" } else { "N" };
                format!("{} {} {} {nonce} {}", parts[0], parts[1], parts[2], parts[4])
            })
            .collect()
    }

    #[tokio::test]
    async fn a_bound_token_is_requested_with_a_proof_and_sent_with_a_fresh_one_per_request() {
        let key = key();
        let idp = DpopAs::start(AsMode::default()).await;
        let (api, log) = dpop_api(idp.idp(), DpopMode::Required, false).await;
        // htu is the endpoint without its query (RFC 9449 §4.2).
        let s = source(&format!("{}?tenant=a", idp.url)).dpop(key.clone()).build().unwrap();
        let token = s.token().await.unwrap();
        assert_eq!(token.token_type(), "DPoP");
        assert_eq!(token.dpop_key().map(DpopKey::thumbprint), Some(key.thumbprint()));
        assert_eq!(b64::json_part(token.secret(), 1)["cnf"]["jkt"], key.thumbprint(), "bound by the server");
        assert!(!format!("{token:?}").contains(token.secret()));
        let requests = idp.requests();
        let proof = requests[0].proof.as_ref().expect("a DPoP proof on the token request");
        assert_eq!((proof["htm"].as_str(), proof["htu"].as_str()), (Some("POST"), Some(idp.url.as_str())));
        assert!(proof.get("ath").is_none() && proof.get("nonce").is_none(), "{proof}");

        // Twice each way: the API refuses a replayed proof, so each request had its own.
        // Query and fragment are not part of htu.
        let client = AuthorizedClient::new(reqwest::Client::new(), s.clone());
        for _ in 0..2 {
            let res = client.get(format!("{api}/me?page=2#top")).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        }
        let layer = AddTokenLayer::new(s.clone());
        for _ in 0..2 {
            let res = get_through_layer(&layer, &format!("{api}/me")).await;
            assert_eq!(res.status(), StatusCode::OK, "{}", res.body());
        }
        assert_eq!(shapes(&log), ["GET /me DPoP - 200"; 4]);
        assert_eq!(idp.calls(), 1);
    }

    #[tokio::test]
    async fn the_token_endpoint_nonce_is_used_at_once_and_the_latest_kept() {
        let idp = DpopAs::start(AsMode { nonces: AsNonces::Rotating, ..AsMode::default() }).await;
        // A backoff this long would show: the nonce retry is no failure.
        let slow = RetryPolicy { base_delay: Duration::from_secs(10), ..RetryPolicy::default() };
        let s = source(&idp.url).dpop(key()).retry(slow).build().unwrap();
        let started = Instant::now();
        let first = s.token().await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(3), "asked again at once: {:?}", started.elapsed());
        // The nonce the success answer carried is used next, without a refusal.
        s.invalidate(&first);
        let second = s.token().await.unwrap();
        assert_ne!(first, second);
        let seen: Vec<(u16, Option<String>)> = idp
            .requests()
            .into_iter()
            .map(|r| (r.status, r.proof.and_then(|p| p["nonce"].as_str().map(str::to_owned))))
            .collect();
        assert_eq!(seen, [(400, None), (200, Some("as-nonce-0".into())), (200, Some("as-nonce-1".into()))]);

        // A server that wants a new nonce every time is asked twice, not forever.
        let idp = DpopAs::start(AsMode { nonces: AsNonces::Stubborn, ..AsMode::default() }).await;
        let s = source(&idp.url).dpop(key()).retry(slow).build().unwrap();
        match s.token().await {
            Err(ClientError::OAuth { error, .. }) => assert_eq!(error, "use_dpop_nonce"),
            other => panic!("{other:?}"),
        }
        assert_eq!(idp.calls(), 2);
    }

    #[tokio::test]
    async fn the_api_nonce_is_used_once_asked_and_kept_per_origin() {
        let idp = DpopAs::start(AsMode::default()).await;
        let (api, log) = dpop_api(idp.idp(), DpopMode::Required, true).await;
        let s = source(&idp.url).dpop(key()).build().unwrap();
        let client = AuthorizedClient::new(reqwest::Client::new(), s.clone());
        for _ in 0..2 {
            let res = client.get(format!("{api}/me")).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        }
        assert_eq!(shapes(&log), ["GET /me DPoP - 401", "GET /me DPoP N 200", "GET /me DPoP N 200"]);
        // The layer keeps its own nonces.
        let layer = AddTokenLayer::new(s.clone());
        for _ in 0..2 {
            let res = get_through_layer(&layer, &format!("{api}/me")).await;
            assert_eq!(res.status(), StatusCode::OK, "{}", res.body());
        }
        assert_eq!(shapes(&log), ["GET /me DPoP - 401", "GET /me DPoP N 200", "GET /me DPoP N 200"]);
        assert_eq!(idp.calls(), 1, "the token was never in question");
    }

    #[tokio::test]
    async fn a_dpop_token_the_api_refuses_is_replaced() {
        // The first token is bound to a key the client does not hold: `DPoP
        // error="invalid_token"`; the client drops it and fetches another.
        let idp = DpopAs::start(AsMode { misbind_first: true, ..AsMode::default() }).await;
        let (api, log) = dpop_api(idp.idp(), DpopMode::Required, false).await;
        let client = AuthorizedClient::new(reqwest::Client::new(), source(&idp.url).dpop(key()).build().unwrap());
        let res = client.get(format!("{api}/me")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        assert_eq!(shapes(&log), ["GET /me DPoP - 401", "GET /me DPoP - 200"]);
        assert_eq!(idp.calls(), 2);
    }

    #[tokio::test]
    async fn a_bearer_answer_to_a_dpop_request_is_used_as_bearer() {
        let idp = DpopAs::start(AsMode { token_type: "Bearer", ..AsMode::default() }).await;
        let (api, log) = dpop_api(idp.idp(), DpopMode::Allowed, false).await;
        let (logs, _guard) = Capture::start();
        let s = source(&idp.url).dpop(key()).build().unwrap();
        let token = s.token().await.unwrap();
        assert_eq!((token.token_type(), token.dpop_key().is_none()), ("Bearer", true));
        assert!(logs.text().contains("INFO") && logs.text().contains("ignored DPoP"), "{}", logs.text());
        assert!(idp.requests()[0].proof.is_some(), "DPoP was asked for");
        let client = AuthorizedClient::new(reqwest::Client::new(), s);
        assert_eq!(client.get(format!("{api}/me")).send().await.unwrap().status(), StatusCode::OK);
        assert_eq!(shapes(&log), ["GET /me Bearer - 200"]);

        // And a DPoP answer to a client without a key is refused.
        let idp = DpopAs::start(AsMode::default()).await;
        let plain = source(&idp.url).build().unwrap();
        // No proof: the endpoint answers 400; with a proof it would bind a token.
        assert!(plain.token().await.is_err());
    }

    #[tokio::test]
    async fn the_refresh_token_grant_carries_a_proof_too() {
        let idp = DpopAs::start(AsMode { refresh_tokens: true, expires_in: 1, ..AsMode::default() }).await;
        let s = source(&idp.url).dpop(key()).build().unwrap();
        let first = s.token().await.unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_ne!(s.token().await.unwrap(), first);
        let requests = idp.requests();
        assert_eq!(requests.iter().map(|r| r.status).collect::<Vec<_>>(), [200, 200]);
        assert!(requests[1].form.contains("grant_type=refresh_token"), "{:?}", requests[1]);
        assert_eq!(requests[1].proof.as_ref().unwrap()["htm"], "POST");
    }

    /// A store of one entry, whatever the key.
    #[derive(Clone, Default)]
    struct OneEntry(std::sync::Arc<Mutex<Option<StoredToken>>>);

    impl TokenStore for OneEntry {
        fn get(&self, _: &str) -> tower_bearer::BoxFuture<Option<StoredToken>> {
            let entry = self.0.lock().unwrap().clone();
            Box::pin(std::future::ready(entry))
        }
        fn put(&self, _: &str, token: StoredToken, _: Duration) -> tower_bearer::BoxFuture<()> {
            *self.0.lock().unwrap() = Some(token);
            Box::pin(std::future::ready(()))
        }
        fn remove_if(&self, _: &str, _: &str) -> tower_bearer::BoxFuture<()> {
            Box::pin(std::future::ready(()))
        }
        fn try_lock(&self, _: &str, _: &str, _: Duration) -> tower_bearer::BoxFuture<bool> {
            Box::pin(std::future::ready(true))
        }
        fn unlock(&self, _: &str, _: &str) -> tower_bearer::BoxFuture<()> {
            Box::pin(std::future::ready(()))
        }
    }

    #[tokio::test]
    async fn a_stored_token_bound_to_another_key_is_not_taken() {
        let (ours, theirs) = (key(), key());
        let idp = DpopAs::start(AsMode::default()).await;
        let store = OneEntry::default();
        let stored = |jkt: Option<&str>| StoredToken {
            access_token: "stored-token".into(),
            expires_at: 4_000_000_000,
            jkt: jkt.map(str::to_owned),
        };
        *store.0.lock().unwrap() = Some(stored(Some(theirs.thumbprint())));
        let s = source(&idp.url).dpop(ours.clone()).store(store.clone()).build().unwrap();
        let token = s.token().await.unwrap();
        assert_ne!(token.secret(), "stored-token");
        assert_eq!(idp.calls(), 1);
        let entry = store.0.lock().unwrap().clone().unwrap();
        assert_eq!(entry.jkt.as_deref(), Some(ours.thumbprint()), "stored with the key it is bound to");

        // Bound to our key: taken, as a DPoP token. A Bearer entry (also the format of
        // entries written before DPoP) is taken as Bearer.
        *store.0.lock().unwrap() = Some(stored(Some(ours.thumbprint())));
        let s = source(&idp.url).dpop(ours.clone()).store(store.clone()).build().unwrap();
        let token = s.token().await.unwrap();
        assert_eq!((token.secret(), token.token_type()), ("stored-token", "DPoP"));
        let old: StoredToken =
            serde_json::from_str(r#"{"access_token":"stored-token","expires_at":4000000000}"#).unwrap();
        assert_eq!(old, stored(None));
        *store.0.lock().unwrap() = Some(old);
        let s = source(&idp.url).dpop(ours.clone()).store(store.clone()).build().unwrap();
        assert_eq!(s.token().await.unwrap().token_type(), "Bearer");
        // Without a key, a bound token is useless.
        *store.0.lock().unwrap() = Some(stored(Some(ours.thumbprint())));
        let url = super::TokenEndpoint::start(300, Duration::ZERO).await.url;
        let plain = source(&url).store(store.clone()).build().unwrap();
        assert_eq!(plain.token().await.unwrap().secret(), "token-1");
        assert_eq!(idp.calls(), 1);
    }

    #[tokio::test]
    async fn a_request_without_scheme_and_authority_cannot_be_proved() {
        let answer = tower::service_fn(|_: http::Request<String>| async {
            Ok::<_, Infallible>(http::Response::new(String::new()))
        });
        let bound = StaticToken::new(AccessToken::new("t", None).dpop_bound(key()));
        let service = tower::ServiceBuilder::new().layer(AddTokenLayer::new(bound)).service(answer);
        let request = http::Request::post("/pkg.Orders/Get").body(String::new()).unwrap();
        let err = service.oneshot(request).await.unwrap_err();
        match err.downcast_ref::<ClientError>() {
            Some(ClientError::Proof(why)) => assert!(why.to_string().contains("no scheme and authority"), "{why}"),
            other => panic!("{other:?}"),
        }
        // A Bearer token needs no URL.
        let bearer = StaticToken::new(AccessToken::new("t", None));
        let service = tower::ServiceBuilder::new().layer(AddTokenLayer::new(bearer)).service(answer);
        let request = http::Request::post("/pkg.Orders/Get").body(String::new()).unwrap();
        assert_eq!(service.oneshot(request).await.unwrap().status(), StatusCode::OK);
    }
}
