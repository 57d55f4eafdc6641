//! Key generation, the local issuer, and its `/login` and `/renew` endpoints.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use common::{app, b64, client, get_bearer, get_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tower_bearer::issue::{Credentials, Identity, IssuerKey, KeyType, LocalIssuer, LoginLimits};
use tower_bearer::keys::StaticKeys;
use tower_bearer::{BearerLayer, Issuer, JwtVerifier, ManualClock, Verifier, token::BearerToken};
use tower_bearer::{Clock as _, SystemClock};

#[tokio::test]
async fn generated_keys_load_into_the_issuer_and_the_key_store() {
    for kty in [KeyType::Rsa(2048), KeyType::P256, KeyType::P384, KeyType::Ed25519, KeyType::Oct] {
        let key = IssuerKey::generate(kty, None).unwrap();
        let kid = key.private_jwk().kid().unwrap().to_owned();
        assert_eq!(kid.len(), 43, "an RFC 7638 thumbprint");
        let issuer = LocalIssuer::new("https://me.example.com", &key.private_jwk().to_json(), "api").unwrap();
        let token = issuer.token().subject("ann").scope("read").sign().unwrap();
        // Verified by the issuer's own verifier (no network)...
        let verified = issuer.verifier().verify(&BearerToken::new(token.access_token())).resolve().await;
        assert_eq!(verified.unwrap().subject(), Some("ann"), "{kty:?}");
        // ...and, for public keys, by a static key store loaded from the published set.
        if kty != KeyType::Oct {
            let keys = StaticKeys::from_jwks(&key.public_jwks().to_string()).unwrap();
            let v = JwtVerifier::builder()
                .issuer(Issuer::new("https://me.example.com").keys(keys))
                .audience("api")
                .build()
                .unwrap();
            assert!(v.verify(&BearerToken::new(token.access_token())).resolve().await.is_ok(), "{kty:?}");
        } else {
            assert_eq!(key.public_jwks(), &json!({"keys": []}), "a secret is never published");
        }
        let header: Value = b64::json_part(token.access_token(), 0);
        assert_eq!((header["typ"].as_str(), header["kid"].as_str()), (Some("at+jwt"), Some(kid.as_str())));
    }
    assert!(LocalIssuer::new("i", "{\"kty\":\"RSA\"}", "a").is_err(), "an unusable key is a configuration error");
}

/// The application's password check in these tests: only alice's password works.
async fn alice_check(c: Credentials) -> Option<Identity> {
    (c.login == "alice" && c.password == "correct horse").then(|| Identity {
        subject: "alice".into(),
        scopes: vec!["read:items".into()],
        roles: vec!["items.admin".into()],
        claims: json!({"tenant": "t1"}).as_object().unwrap().clone(),
    })
}

/// A server with the issuer mounted at `/auth` and `/me` protected by its own keys.
async fn server(clock: ManualClock, limits: LoginLimits) -> (String, LocalIssuer) {
    server_with(clock, limits, false, alice_check).await
}

/// Like [`server`], with this password check, and with the peer address available to
/// handlers (`ConnectInfo`) when `connect_info` is set.
async fn server_with<F, Fut>(
    clock: ManualClock,
    limits: LoginLimits,
    connect_info: bool,
    check: F,
) -> (String, LocalIssuer)
where
    F: Fn(Credentials) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Option<Identity>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let key = IssuerKey::generate(KeyType::P256, None).unwrap();
    let issuer = LocalIssuer::new(format!("{base}/auth"), &key.private_jwk().to_json(), "api")
        .unwrap()
        .lifetime(Duration::from_secs(300))
        .max_session_age(Duration::from_secs(600))
        .clock(clock);
    let endpoints = issuer.router(&format!("{base}/auth"), limits, check);
    let app: Router = app(BearerLayer::new(issuer.verifier())).nest("/auth", endpoints);
    if connect_info {
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    } else {
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    }
    (base, issuer)
}

async fn login(body: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let res = body.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn login_and_renew() {
    let clock = ManualClock::at(SystemClock.now());
    let (base, _issuer) = server(clock.clone(), LoginLimits::default()).await;
    let url = format!("{base}/auth/login");
    // Form and JSON bodies.
    let form = client().post(&url).form(&[("login", "alice"), ("password", "correct horse")]);
    let (status, body) = login(form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for field in ["access_token", "token_type", "expires_in", "starts", "expires", "ttl", "leeway"] {
        assert!(body.get(field).is_some(), "missing {field} in {body}");
    }
    assert_eq!(
        (body["token_type"].as_str(), body["expires_in"].as_u64(), body["leeway"].as_u64()),
        (Some("Bearer"), Some(300), Some(60))
    );
    let (status, _) = login(client().post(&url).json(&json!({"login": "alice", "password": "correct horse"}))).await;
    assert_eq!(status, StatusCode::OK);

    // The token works on the same server's protected routes, verified with its own key.
    let token = body["access_token"].as_str().unwrap().to_owned();
    let r = get_bearer(&format!("{base}/admin"), &token).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(b64::json_part(&token, 1)["tenant"], "t1");

    // Renew: a fresh token with the same identity and session start.
    clock.advance(Duration::from_secs(120));
    let res = client().post(format!("{base}/auth/renew")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let renewed: Value = res.json().await.unwrap();
    let fresh = renewed["access_token"].as_str().unwrap();
    assert_ne!(fresh, token);
    let (old, new) = (b64::json_part(&token, 1), b64::json_part(fresh, 1));
    assert_eq!(
        (new["sub"].clone(), new["scope"].clone(), new["roles"].clone()),
        (old["sub"].clone(), old["scope"].clone(), old["roles"].clone())
    );
    assert_eq!(new["auth_time"], old["auth_time"]);
    assert_eq!(new["tenant"], "t1");
    assert!(new["exp"].as_u64() > old["exp"].as_u64());

    // Past the maximum session age (600 s), renewal is refused even with a token the
    // verifier still accepts (its exp is capped at the session's end, and there is leeway).
    clock.advance(Duration::from_secs(280));
    let res = client().post(format!("{base}/auth/renew")).bearer_auth(fresh).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let last: Value = res.json().await.unwrap();
    clock.advance(Duration::from_secs(230));
    let res = client().post(format!("{base}/auth/renew")).bearer_auth(last["access_token"].as_str().unwrap());
    let res = res.send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
    assert!(body["error_description"].as_str().unwrap().contains("too old"));
    // Renew without or with a bad token.
    assert_eq!(client().post(format!("{base}/auth/renew")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let bad = client().post(format!("{base}/auth/renew")).bearer_auth("a.b.c").send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn failed_logins_and_rate_limit() {
    let limits = LoginLimits::default().max_failures(3).window(Duration::from_secs(60));
    let (base, _) = server(ManualClock::at(SystemClock.now()), limits).await;
    let url = format!("{base}/auth/login");
    let attempt = |login: &'static str, password: &'static str| {
        client().post(&url).form(&[("login", login), ("password", password)])
    };
    let (status, body) = login(attempt("alice", "wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({"error": "invalid_grant", "error_description": "wrong login or password"}));
    let (status, _) = login(client().post(&url).body("garbage").header("content-type", "application/json")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for _ in 0..2 {
        assert_eq!(login(attempt("alice", "wrong")).await.0, StatusCode::UNAUTHORIZED);
    }
    // Three failures: even the right password is refused for a while, for this login only.
    let res = attempt("alice", "correct horse").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()["retry-after"], "60");
    assert_eq!(login(attempt("bob", "x")).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn discovery_and_keys_are_served_for_other_services() {
    let (base, issuer) = server(ManualClock::at(SystemClock.now()), LoginLimits::default()).await;
    let doc = get_with(&format!("{base}/auth/.well-known/openid-configuration"), &[]).await.json();
    assert_eq!(doc["issuer"], issuer.issuer());
    assert_eq!(doc["jwks_uri"], format!("{base}/auth/jwks"));
    // Another service verifies this issuer's tokens through discovery over HTTP.
    let other = JwtVerifier::builder().issuer(Issuer::new(issuer.issuer()).discover()).audience("api").build().unwrap();
    let token = issuer.token().subject("svc").sign().unwrap().access_token().to_owned();
    assert!(other.verify(&BearerToken::new(token.as_str())).resolve().await.is_ok());
}

/// A form POST of `login` and `password` to `url`.
fn attempt_at(url: &str, login: &str, password: &str) -> reqwest::RequestBuilder {
    client().post(url).form(&[("login", login), ("password", password)])
}

/// Sends all requests at once.
async fn send_all(requests: impl IntoIterator<Item = reqwest::RequestBuilder>) -> Vec<reqwest::Response> {
    let mut set = tokio::task::JoinSet::new();
    for request in requests {
        set.spawn(request.send());
    }
    let mut answers = Vec::new();
    while let Some(res) = set.join_next().await {
        answers.push(res.unwrap().unwrap());
    }
    answers
}

fn limits(max_failures: u32) -> LoginLimits {
    LoginLimits::default().max_failures(max_failures).window(Duration::from_secs(60))
}

// Item 1: the attempt is reserved before the password check, so parallel guesses
// cannot all slip in while the counter is still low.
#[tokio::test]
async fn login_limit_holds_under_parallel_guesses() {
    let checks = Arc::new(AtomicUsize::new(0));
    let counted = checks.clone();
    let check = move |c: Credentials| {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            // A slow password hash: every guess is in flight at once.
            tokio::time::sleep(Duration::from_millis(200)).await;
            alice_check(c).await
        }
    };
    let (base, _) = server_with(ManualClock::at(SystemClock.now()), limits(5), false, check).await;
    let url = format!("{base}/auth/login");
    let answers = send_all((0..50).map(|i| attempt_at(&url, "alice", &format!("guess {i}")))).await;
    let mut refused = 0;
    for res in answers {
        match res.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(res.headers()["retry-after"], "60");
                refused += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    let ran = checks.load(Ordering::SeqCst);
    assert!(ran <= 5, "{ran} password checks ran for a limit of 5");
    assert_eq!(refused, 50 - ran, "every guess past the limit is answered 429");
}

// Item 2: one budget per person, however the name is spelled.
#[tokio::test]
async fn login_limit_shares_one_budget_across_spellings() {
    let (base, _) = server(ManualClock::at(SystemClock.now()), limits(3)).await;
    let url = format!("{base}/auth/login");
    for spelling in ["ALICE", " alice", "Alice "] {
        assert_eq!(login(attempt_at(&url, spelling, "wrong")).await.0, StatusCode::UNAUTHORIZED, "{spelling:?}");
    }
    let res = attempt_at(&url, "alice", "correct horse").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "ALICE, \" alice\" and Alice share alice's budget");
    assert_eq!(res.headers()["retry-after"], "60");

    // The application's own rule replaces the default: here, names are case-sensitive.
    let (base, _) = server(ManualClock::at(SystemClock.now()), limits(1).normalize(str::to_owned)).await;
    let url = format!("{base}/auth/login");
    assert_eq!(login(attempt_at(&url, "ALICE", "wrong")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(login(attempt_at(&url, "alice", "correct horse")).await.0, StatusCode::OK);
}

// Item 2: one address spraying many names hits the per-address limit (default 20).
#[tokio::test]
async fn login_limit_per_client_address() {
    let (base, _) = server_with(ManualClock::at(SystemClock.now()), LoginLimits::default(), true, alice_check).await;
    let url = format!("{base}/auth/login");
    for i in 0..20 {
        assert_eq!(login(attempt_at(&url, &format!("user{i}"), "wrong")).await.0, StatusCode::UNAUTHORIZED, "{i}");
    }
    let res = attempt_at(&url, "someone-else", "wrong").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "the 21st failure from one address");
    assert!(res.headers().contains_key("retry-after"));
    let (status, _) = login(attempt_at(&url, "alice", "correct horse")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "that address waits, whatever it sends");

    // Behind a proxy: the application names the client (here from a header).
    let by_header = LoginLimits::default()
        .max_failures_per_client(2)
        .client_key(|headers, _| headers.get("x-client")?.to_str().ok().map(str::to_owned));
    let (base, _) = server_with(ManualClock::at(SystemClock.now()), by_header, false, alice_check).await;
    let url = format!("{base}/auth/login");
    let from = |client: &str, name: &str| attempt_at(&url, name, "wrong").header("x-client", client);
    assert_eq!(login(from("a", "n1")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(login(from("a", "n2")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(login(from("a", "n3")).await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(login(from("b", "n3")).await.0, StatusCode::UNAUTHORIZED, "another client has its own budget");

    // No address known (no ConnectInfo, no header): never a 500; the per-client limit
    // cannot apply, the per-login one still does.
    let no_address = LoginLimits::default().max_failures_per_client(1).max_failures(2);
    let (base, _) = server_with(ManualClock::at(SystemClock.now()), no_address, false, alice_check).await;
    let url = format!("{base}/auth/login");
    for name in ["n1", "n2", "n3"] {
        assert_eq!(login(attempt_at(&url, name, "wrong")).await.0, StatusCode::UNAUTHORIZED, "{name}");
    }
    assert_eq!(login(attempt_at(&url, "n1", "wrong")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(login(attempt_at(&url, "n1", "wrong")).await.0, StatusCode::TOO_MANY_REQUESTS);
}

// Item 2: a ceiling on failures across all names and addresses (default 1000).
#[tokio::test]
async fn login_limit_global_ceiling() {
    // No ConnectInfo here: addresses are unknown, so only the per-login and global limits apply.
    let (base, _) = server(ManualClock::at(SystemClock.now()), LoginLimits::default()).await;
    let url = format!("{base}/auth/login");
    for chunk in (0..1000).collect::<Vec<_>>().chunks(50) {
        let sent = chunk.iter().map(|i| attempt_at(&url, &format!("user{i}"), "wrong"));
        for res in send_all(sent).await {
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        }
    }
    let res = attempt_at(&url, "alice", "correct horse").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "past the global ceiling every login waits");
    assert!(res.headers().contains_key("retry-after"));

    // A configured ceiling, across addresses.
    let ceiling = LoginLimits::default().max_failures_total(3);
    let (base, _) = server_with(ManualClock::at(SystemClock.now()), ceiling, true, alice_check).await;
    let url = format!("{base}/auth/login");
    for name in ["n1", "n2", "n3"] {
        assert_eq!(login(attempt_at(&url, name, "wrong")).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login(attempt_at(&url, "n4", "wrong")).await.0, StatusCode::TOO_MANY_REQUESTS);

    // Past the ceiling, a client with no failures of its own still gets in (one sprayer
    // must not lock every user out), while the sprayer's address stays refused.
    let by_header = LoginLimits::default()
        .max_failures_total(3)
        .client_key(|headers, _| headers.get("x-client").and_then(|v| v.to_str().ok()).map(str::to_owned));
    let (base, _) = server_with(ManualClock::at(SystemClock.now()), by_header, false, alice_check).await;
    let url = format!("{base}/auth/login");
    let from = |client: &str, name: &str, password: &str| attempt_at(&url, name, password).header("x-client", client);
    for name in ["n1", "n2", "n3"] {
        assert_eq!(login(from("sprayer", name, "wrong")).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login(from("sprayer", "n4", "wrong")).await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(login(from("alice-laptop", "alice", "correct horse")).await.0, StatusCode::OK);
    assert_eq!(login(from("bot-2", "n5", "wrong")).await.0, StatusCode::UNAUTHORIZED, "one guess per fresh address");
    assert_eq!(login(from("bot-2", "n6", "wrong")).await.0, StatusCode::TOO_MANY_REQUESTS);
}

// Item 3: a login name longer than 256 bytes is a malformed request, checked before
// anything is stored or the password check runs.
#[tokio::test]
async fn login_field_length_is_capped() {
    let (base, _) = server(ManualClock::at(SystemClock.now()), LoginLimits::default()).await;
    let url = format!("{base}/auth/login");
    let (status, body) = login(attempt_at(&url, &"a".repeat(257), "wrong")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(login(attempt_at(&url, &"a".repeat(256), "wrong")).await.0, StatusCode::UNAUTHORIZED);
}

/// Resident memory of this process, in bytes.
fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm.split_whitespace().nth(1).unwrap().parse::<usize>().unwrap() * 4096
}

// Item 3: failed names are not kept whole for the window.
#[tokio::test]
async fn login_cache_stays_bounded_after_many_long_names() {
    let (base, _) = server(ManualClock::at(SystemClock.now()), LoginLimits::default()).await;
    let url = format!("{base}/auth/login");
    let before = rss_bytes();
    for chunk in (0..10_000).collect::<Vec<_>>().chunks(50) {
        // 16 KiB names: 160 MiB in all if they were stored.
        let sent = chunk.iter().map(|i| attempt_at(&url, &format!("{i}-{}", "x".repeat(16 * 1024)), "w"));
        for res in send_all(sent).await {
            assert_ne!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        }
    }
    let grown = rss_bytes().saturating_sub(before);
    assert!(grown < 48 * 1024 * 1024, "resident memory grew by {} MiB", grown / (1024 * 1024));
}

// Item 4: /renew never extends a session past `max_session_age` (600 s here).
#[tokio::test]
async fn renew_caps_exp_at_max_session_age() {
    let clock = ManualClock::at(SystemClock.now());
    let (base, _) = server(clock.clone(), LoginLimits::default()).await;
    let (status, body) = login(attempt_at(&format!("{base}/auth/login"), "alice", "correct horse")).await;
    assert_eq!(status, StatusCode::OK);
    let auth_time = b64::json_part(body["access_token"].as_str().unwrap(), 1)["auth_time"].as_u64().unwrap();
    let renew = |token: Value| client().post(format!("{base}/auth/renew")).bearer_auth(token.as_str().unwrap());
    clock.advance(Duration::from_secs(250));
    let (status, renewed) = login(renew(body["access_token"].clone())).await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    clock.advance(Duration::from_secs(250));
    let (status, renewed) = login(renew(renewed["access_token"].clone())).await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let exp = b64::json_part(renewed["access_token"].as_str().unwrap(), 1)["exp"].as_u64().unwrap();
    assert_eq!(exp, auth_time + 600, "exp is capped at auth_time + max_session_age");
    assert_eq!((renewed["expires"].as_u64(), renewed["expires_in"].as_u64()), (Some(exp), Some(100)));
}

// Item 4: /renew reads the token exactly as the layer does (length cap, one credential).
#[tokio::test]
async fn renew_uses_the_layers_token_extraction() {
    let (base, _) = server(ManualClock::at(SystemClock.now()), LoginLimits::default()).await;
    let too_long = "a".repeat(tower_bearer::token::DEFAULT_MAX_TOKEN_LEN + 1);
    let cases: [&[(&str, &str)]; 2] = [
        &[("authorization", &format!("Bearer {too_long}"))],
        &[("authorization", "Bearer a.b.c"), ("authorization", "Bearer d.e.f")],
    ];
    for headers in cases {
        let layer = get_with(&format!("{base}/me"), headers).await;
        assert_eq!(layer.status, StatusCode::BAD_REQUEST);
        let mut renew = client().post(format!("{base}/auth/renew"));
        for (k, v) in headers {
            renew = renew.header(*k, *v);
        }
        let res = renew.send().await.unwrap();
        assert_eq!(res.status(), layer.status);
        assert_eq!(res.headers().get("www-authenticate").unwrap().to_str().unwrap(), layer.challenge());
        assert_eq!(res.json::<Value>().await.unwrap(), layer.json());
    }
}

// Issue 13 item 2: the discovery document names only endpoints that speak the protocol
// its field stands for; the crate's own client is not sent to the password form.
#[tokio::test]
async fn discovery_advertises_only_endpoints_it_serves() {
    let (base, issuer) = server(ManualClock::at(SystemClock.now()), LoginLimits::default()).await;
    let doc = get_with(&format!("{base}/auth/.well-known/openid-configuration"), &[]).await.json();
    assert!(doc.get("token_endpoint").is_none(), "/login is a password form, not an OAuth token endpoint: {doc}");
    for (field, value) in doc.as_object().unwrap() {
        if field.ends_with("_endpoint") || field.ends_with("_uri") {
            let reply = get_with(value.as_str().unwrap(), &[]).await;
            assert_eq!(reply.status, StatusCode::OK, "{field} {value} is advertised but not served");
        }
    }
    let client = tower_bearer::client::ClientCredentials::builder()
        .discover(issuer.issuer())
        .client_auth(tower_bearer::ClientAuth::basic("svc", "s"))
        .retry(tower_bearer::client::RetryPolicy { max_attempts: 1, ..Default::default() })
        .build()
        .unwrap();
    let err = tower_bearer::client::TokenSource::token(&client).await.unwrap_err();
    assert!(err.to_string().contains("no token_endpoint"), "a clear discovery error, got: {err}");
}
