//! Key generation, the local issuer, and its `/login` and `/renew` endpoints.

mod common;

use std::time::Duration;

use axum::Router;
use common::{app, client, get_bearer, get_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tower_bearer::issue::{Credentials, Identity, KeyType, LocalIssuer, LoginLimits, generate_key};
use tower_bearer::keys::StaticKeys;
use tower_bearer::testing::unix_now;
use tower_bearer::{BearerLayer, FixedClock, Issuer, JwtVerifier, Verifier, token::BearerToken};

#[tokio::test]
async fn generated_keys_load_into_the_issuer_and_the_key_store() {
    for kty in [KeyType::Rsa(2048), KeyType::P256, KeyType::P384, KeyType::Ed25519, KeyType::Oct] {
        let key = generate_key(kty, None).unwrap();
        let kid = key.private_jwk["kid"].as_str().unwrap().to_owned();
        assert_eq!(kid.len(), 43, "an RFC 7638 thumbprint");
        let issuer = LocalIssuer::new("https://me.example.com", &key.private_jwk.to_string(), "api").unwrap();
        let token = issuer.token().subject("ann").scope("read").sign().unwrap();
        // Verified by the issuer's own verifier (no network)...
        let verified = issuer.verifier().verify(&BearerToken::new(token.access_token.as_str())).resolve().await;
        assert_eq!(verified.unwrap().subject(), Some("ann"), "{kty:?}");
        // ...and, for public keys, by a static key store loaded from the published set.
        if kty != KeyType::Oct {
            let keys = StaticKeys::from_jwks(&key.public_jwks.to_string()).unwrap();
            let v = JwtVerifier::builder()
                .issuer(Issuer::new("https://me.example.com").keys(keys))
                .audience("api")
                .build()
                .unwrap();
            assert!(v.verify(&BearerToken::new(token.access_token.as_str())).resolve().await.is_ok(), "{kty:?}");
        } else {
            assert_eq!(key.public_jwks, json!({"keys": []}), "a secret is never published");
        }
        let header: Value = decode_part(&token.access_token, 0);
        assert_eq!((header["typ"].as_str(), header["kid"].as_str()), (Some("at+jwt"), Some(kid.as_str())));
    }
    assert!(LocalIssuer::new("i", "{\"kty\":\"RSA\"}", "a").is_err(), "an unusable key is a configuration error");
}

fn decode_part(token: &str, i: usize) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// A server with the issuer mounted at `/auth` and `/me` protected by its own keys.
async fn server(clock: FixedClock, limits: LoginLimits) -> (String, LocalIssuer) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let key = generate_key(KeyType::P256, None).unwrap();
    let issuer = LocalIssuer::new(format!("{base}/auth"), &key.private_jwk.to_string(), "api")
        .unwrap()
        .lifetime(Duration::from_secs(3600))
        .max_session_age(Duration::from_secs(600))
        .clock(clock);
    let endpoints = issuer.router(&format!("{base}/auth"), limits, |c: Credentials| async move {
        (c.login == "alice" && c.password == "correct horse").then(|| Identity {
            subject: "alice".into(),
            scopes: vec!["read:items".into()],
            roles: vec!["items.admin".into()],
            claims: json!({"tenant": "t1"}).as_object().unwrap().clone(),
        })
    });
    let app: Router = app(BearerLayer::new(issuer.verifier())).nest("/auth", endpoints);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, issuer)
}

async fn login(body: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let res = body.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn login_and_renew() {
    let clock = FixedClock::at(unix_now());
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
        (Some("Bearer"), Some(3600), Some(60))
    );
    let (status, _) = login(client().post(&url).json(&json!({"login": "alice", "password": "correct horse"}))).await;
    assert_eq!(status, StatusCode::OK);

    // The token works on the same server's protected routes, verified with its own key.
    let token = body["access_token"].as_str().unwrap().to_owned();
    let r = get_bearer(&format!("{base}/admin"), &token).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(decode_part(&token, 1)["tenant"], "t1");

    // Renew: a fresh token with the same identity and session start.
    clock.advance(Duration::from_secs(120));
    let res = client().post(format!("{base}/auth/renew")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let renewed: Value = res.json().await.unwrap();
    let fresh = renewed["access_token"].as_str().unwrap();
    assert_ne!(fresh, token);
    let (old, new) = (decode_part(&token, 1), decode_part(fresh, 1));
    assert_eq!(
        (new["sub"].clone(), new["scope"].clone(), new["roles"].clone()),
        (old["sub"].clone(), old["scope"].clone(), old["roles"].clone())
    );
    assert_eq!(new["auth_time"], old["auth_time"]);
    assert_eq!(new["tenant"], "t1");
    assert!(new["exp"].as_u64() > old["exp"].as_u64());

    // Past the maximum session age, renewal is refused even with a valid token.
    clock.advance(Duration::from_secs(600));
    let res = client().post(format!("{base}/auth/renew")).bearer_auth(fresh).send().await.unwrap();
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
    let limits = LoginLimits { max_failures: 3, window: Duration::from_secs(60) };
    let (base, _) = server(FixedClock::at(unix_now()), limits).await;
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
    let (base, issuer) = server(FixedClock::at(unix_now()), LoginLimits::default()).await;
    let doc = get_with(&format!("{base}/auth/.well-known/openid-configuration"), &[]).await.json();
    assert_eq!(doc["issuer"], issuer.issuer());
    assert_eq!(doc["jwks_uri"], format!("{base}/auth/jwks"));
    // Another service verifies this issuer's tokens through discovery over HTTP.
    let other = JwtVerifier::builder().issuer(Issuer::new(issuer.issuer()).discover()).audience("api").build().unwrap();
    let token = issuer.token().subject("svc").sign().unwrap().access_token;
    assert!(other.verify(&BearerToken::new(token.as_str())).resolve().await.is_ok());
}
