//! Drives `examples/protected_api` as a process, the way outside checks do (with a
//! real authorization server: tests/interop.rs).

mod common;
#[path = "common/tls.rs"]
mod tls;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::examples::{binary, example_binary, start};
use common::{client, get_bearer, get_with};
use reqwest::StatusCode;
use serde_json::Value;
use tls::{PemFiles, TestCa, get_via, https_client, serve_https};
use tower_bearer::Algorithm;
use tower_bearer::signing::DpopKey;
use tower_bearer::testing::{TEST_AUDIENCE, TestIssuer};

/// The example's challenge for an invalid Bearer token (realm `protected-api`, no
/// details; DPoP allowed, so its challenge follows), each naming the RFC 9728 document
/// of the example at `base`.
fn example_invalid(base: &str) -> String {
    let meta = metadata_param(base);
    format!(
        r#"Bearer realm="protected-api", error="invalid_token", error_description="the access token is invalid", {meta}, DPoP realm="protected-api", algs="ES256 ES384 RS256 PS256 EdDSA", {meta}"#
    )
}

/// The example's challenge without credentials (DPoP allowed: both schemes).
fn example_offered(base: &str) -> String {
    let meta = metadata_param(base);
    format!(
        r#"Bearer realm="protected-api", {meta}, DPoP realm="protected-api", algs="ES256 ES384 RS256 PS256 EdDSA", {meta}"#
    )
}

/// `resource_metadata="…"` for the example's resource `base` (RFC 9728 §5.1).
fn metadata_param(base: &str) -> String {
    format!(r#"resource_metadata="{base}/.well-known/oauth-protected-resource""#)
}

async fn dev_token(base: &str, form: &[(&str, &str)]) -> String {
    let res = client().post(format!("{base}/dev/token")).form(form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn embedded_dev_issuer_and_every_route() {
    let app = start(&[]);
    let base = &app.base;
    assert_eq!(get_with(&format!("{base}/healthz"), &[]).await.status, StatusCode::OK);
    let reader = dev_token(base, &[("scope", "read:items"), ("sub", "ann")]).await;
    let admin = dev_token(base, &[("scope", "read:items write:items"), ("roles", "items.admin")]).await;

    let r = get_bearer(&format!("{base}/me"), &reader).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["sub"], "ann");
    assert_eq!(r.json()["scopes"], serde_json::json!(["read:items"]));
    assert_eq!(get_bearer(&format!("{base}/items"), &reader).await.status, StatusCode::OK);
    let r = client().post(format!("{base}/items")).bearer_auth(&reader).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains(r#"scope="write:items""#));
    let r = client().post(format!("{base}/items")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(get_bearer(&format!("{base}/admin"), &reader).await.status, StatusCode::FORBIDDEN);
    assert_eq!(get_bearer(&format!("{base}/admin"), &admin).await.status, StatusCode::OK);
    let r = get_with(&format!("{base}/items"), &[]).await;
    // DPoP is allowed by default: both schemes are offered (RFC 9449 §7.2).
    assert_eq!((r.status, r.challenge().to_owned()), (StatusCode::UNAUTHORIZED, example_offered(base)));

    let health = get_with(&format!("{base}/healthz"), &[]).await.json();
    assert_eq!(health["issuers"][0]["issuer"], format!("{base}/dev"));
    assert_eq!(health["issuers"][0]["keys"]["state"], "fresh");

    // Bad input to the dev token endpoint is a 400, not a 500.
    let r = client().post(format!("{base}/dev/token")).form(&[("expires_in", "soon")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let short = dev_token(base, &[("expires_in", "1")]).await;
    assert_eq!(get_bearer(&format!("{base}/me"), &short).await.status, StatusCode::OK);
}

#[tokio::test]
async fn several_external_issuers() {
    let a = TestIssuer::start().await;
    let b = TestIssuer::start().await;
    let issuers = format!("{} {}", a.issuer(), b.issuer());
    let app = start(&[("ISSUER", &issuers), ("AUDIENCE", &format!("other {TEST_AUDIENCE}")), ("ROLES_CLAIM", "roles")]);
    let base = app.base.clone();
    for idp in [&a, &b] {
        let t = idp.token().role("items.admin").sign();
        assert_eq!(get_bearer(&format!("{base}/admin"), &t).await.status, StatusCode::OK);
    }
    let health = get_with(&format!("{base}/healthz"), &[]).await.json();
    assert_eq!(health["issuers"].as_array().unwrap().len(), 2);
    assert_eq!(health["issuers"][1]["keys"]["key_count"], 1);
}

/// RFC 9728: `GET /.well-known/oauth-protected-resource` describes the example as it is
/// configured, its challenges name the document, and `GET /readyz` answers 503 while
/// no issuer has usable keys.
#[tokio::test]
async fn protected_resource_metadata_and_readiness() {
    let well_known = "/.well-known/oauth-protected-resource";
    let scopes = serde_json::json!(["read:items", "write:items"]);
    // Dev mode: the resource is http://ADDR, the authorization server the dev issuer.
    let app = start(&[]);
    let base = &app.base;
    let r = get_with(&format!("{base}{well_known}"), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/json");
    let doc = r.json();
    assert_eq!(doc["resource"], base.as_str());
    assert_eq!(doc["authorization_servers"], serde_json::json!([format!("{base}/dev")]));
    assert_eq!(doc["scopes_supported"], scopes);
    assert_eq!(doc["bearer_methods_supported"], serde_json::json!(["header"]));
    assert_eq!(doc["dpop_bound_access_tokens_required"], false);
    let r = get_with(&format!("{base}/me"), &[]).await;
    assert_eq!((r.status, r.challenge().to_owned()), (StatusCode::UNAUTHORIZED, example_offered(base)));
    let r = client().post(format!("{base}{well_known}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let r = get_with(&format!("{base}/readyz"), &[]).await;
    assert_eq!((r.status, &r.json()["status"]), (StatusCode::OK, &"ready".into()), "{}", r.body);

    // PUBLIC_URL with a path: the document also at the path-suffixed form (§3.1),
    // which the challenges name; DPOP=required says so in the document.
    let public = "https://api.example.com/api/v1";
    let app = start(&[("PUBLIC_URL", public), ("DPOP", "required")]);
    let base = &app.base;
    for path in [well_known.to_owned(), format!("{well_known}/api/v1")] {
        let doc = get_with(&format!("{base}{path}"), &[]).await.json();
        assert_eq!(doc["resource"], public, "{path}");
        assert_eq!(doc["dpop_bound_access_tokens_required"], true);
    }
    let r = get_with(&format!("{base}/me"), &[]).await;
    let suffixed = r#"resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/api/v1""#;
    assert!(r.challenge().ends_with(suffixed), "{}", r.challenge());

    // External issuers: both listed; /readyz follows their keys, /healthz stays 200.
    let (a, b) = (TestIssuer::start().await, TestIssuer::start().await);
    a.set_outage(tower_bearer::testing::Outage::Status(503));
    b.set_outage(tower_bearer::testing::Outage::Status(503));
    let app = start(&[("ISSUER", &format!("{} {}", a.issuer(), b.issuer())), ("AUDIENCE", TEST_AUDIENCE)]);
    let base = &app.base;
    let doc = get_with(&format!("{base}{well_known}"), &[]).await.json();
    assert_eq!(doc["authorization_servers"], serde_json::json!([a.issuer(), b.issuer()]));
    assert_eq!(doc["scopes_supported"], scopes);
    let r = get_with(&format!("{base}/readyz"), &[]).await;
    assert_eq!((r.status, &r.json()["status"]), (StatusCode::SERVICE_UNAVAILABLE, &"not_ready".into()), "{}", r.body);
    assert_eq!(r.json()["issuers"][1]["keys"]["state"], "never_loaded");
    assert_eq!(get_with(&format!("{base}/healthz"), &[]).await.status, StatusCode::OK);
    // BIND=0.0.0.0 over plain HTTP names no valid resource: the API runs without it.
    let env = [("ISSUER", a.issuer()), ("AUDIENCE", TEST_AUDIENCE), ("BIND", "0.0.0.0:0")];
    let anywhere = start(&env);
    let r = get_with(&format!("{}/me", anywhere.base.replace("0.0.0.0", "127.0.0.1")), &[]).await;
    assert_eq!(
        (r.status, r.challenge()),
        (
            StatusCode::UNAUTHORIZED,
            r#"Bearer realm="protected-api", DPoP realm="protected-api", algs="ES256 ES384 RS256 PS256 EdDSA""#
        )
    );

    b.set_outage(tower_bearer::testing::Outage::None);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = get_with(&format!("{base}/readyz"), &[]).await;
        if r.status == StatusCode::OK {
            assert_eq!(r.json()["issuers"][0]["usable"], false);
            assert_eq!(r.json()["issuers"][1]["usable"], true);
            break;
        }
        assert!(Instant::now() < deadline, "/readyz stayed {}: {}", r.status, r.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn missing_audience_is_a_startup_error() {
    let out = Command::new(example_binary())
        .env("BIND", "127.0.0.1:0")
        .env("ISSUER", "https://idp.example.com")
        .env_remove("AUDIENCE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("AUDIENCE is required"));
}

#[tokio::test]
async fn client_credentials_example_calls_the_dev_issuer() {
    let app = start(&[]);
    let run = |scope: &str| {
        Command::new(binary("client_credentials"))
            .env("TOKEN_URL", format!("{}/dev/token", app.base))
            .env("API_URL", format!("{}/items", app.base))
            .env("CLIENT_ID", "demo")
            .env("SCOPE", scope)
            .output()
            .unwrap()
    };
    let ok = run("read:items");
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success() && out.contains("200 OK") && out.contains("apple"), "{out}");
    let denied = run("other");
    assert!(String::from_utf8_lossy(&denied.stdout).contains("403 Forbidden"));
    // With no environment it runs against its own in-process API.
    let alone = Command::new(binary("client_credentials")).output().unwrap();
    assert!(String::from_utf8_lossy(&alone.stdout).contains("200 OK"));
}

/// A DPoP-bound token from the dev token endpoint (RFC 9449 §5), bound to `key`.
async fn dev_dpop_token(base: &str, key: &DpopKey, nonce: Option<&str>) -> Value {
    let mut proof = key.proof("POST", &format!("{base}/dev/token"));
    if let Some(n) = nonce {
        proof = proof.nonce(n);
    }
    let res = client()
        .post(format!("{base}/dev/token"))
        .header("dpop", proof.sign().unwrap())
        .form(&[("scope", "read:items")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn dpop_get(url: &str, token: &str, proof: &str) -> common::Reply {
    get_with(url, &[("authorization", &format!("DPoP {token}")), ("dpop", proof)]).await
}

#[tokio::test]
async fn dpop_with_the_dev_issuer() {
    let app = start(&[]);
    let base = &app.base;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let body = dev_dpop_token(base, &key, None).await;
    assert_eq!(body["token_type"], "DPoP");
    let token = body["access_token"].as_str().unwrap();
    let claims: Value = serde_json::from_slice(&common::b64::decode(token.split('.').nth(1).unwrap())).unwrap();
    assert_eq!(claims["cnf"]["jkt"], key.thumbprint());

    let me = format!("{base}/me");
    let proof = key.proof("GET", &me).access_token(token).sign().unwrap();
    let r = dpop_get(&me, token, &proof).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Replayed, downgraded to Bearer, or proved by another key: refused.
    assert!(dpop_get(&me, token, &proof).await.challenge().contains(r#"error="invalid_dpop_proof""#));
    assert_eq!(get_bearer(&me, token).await.status, StatusCode::UNAUTHORIZED);
    let other = DpopKey::generate(Algorithm::ES256).unwrap();
    let r = dpop_get(&me, token, &other.proof("GET", &me).access_token(token).sign().unwrap()).await;
    assert!(r.challenge().starts_with(r#"DPoP realm="protected-api", error="invalid_token""#), "{}", r.challenge());

    // A bad proof at the token endpoint is a 400 invalid_dpop_proof.
    let stale = key.proof("POST", &format!("{base}/dev/token")).issued_at(1).sign().unwrap();
    let res =
        client().post(format!("{base}/dev/token")).header("dpop", stale).form(&[("scope", "")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_dpop_proof");
}

#[tokio::test]
async fn dpop_modes_nonces_and_public_url() {
    let key = DpopKey::generate(Algorithm::ES256).unwrap();

    // required: Bearer tokens are refused on the DPoP challenge.
    let app = start(&[("DPOP", "required")]);
    let bearer = dev_token(&app.base, &[]).await;
    let r = get_bearer(&format!("{}/me", app.base), &bearer).await;
    assert!(r.challenge().starts_with(r#"DPoP realm="protected-api", error="invalid_token""#), "{}", r.challenge());
    let token = dev_dpop_token(&app.base, &key, None).await["access_token"].as_str().unwrap().to_owned();
    let me = format!("{}/me", app.base);
    let r = dpop_get(&me, &token, &key.proof("GET", &me).access_token(&token).sign().unwrap()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // off: the DPoP scheme is no credential; Bearer challenge only.
    let app = start(&[("DPOP", "off")]);
    let token = dev_dpop_token(&app.base, &key, None).await["access_token"].as_str().unwrap().to_owned();
    let me = format!("{}/me", app.base);
    let r = dpop_get(&me, &token, &key.proof("GET", &me).access_token(&token).sign().unwrap()).await;
    let bearer_only = format!(r#"Bearer realm="protected-api", {}"#, metadata_param(&app.base));
    assert_eq!((r.status, r.challenge().to_owned()), (StatusCode::UNAUTHORIZED, bearer_only));

    // DPOP_NONCE=1: the API asks for a nonce; the dev token endpoint does not.
    let app = start(&[("DPOP_NONCE", "1")]);
    let token = dev_dpop_token(&app.base, &key, None).await["access_token"].as_str().unwrap().to_owned();
    let me = format!("{}/me", app.base);
    let r = dpop_get(&me, &token, &key.proof("GET", &me).access_token(&token).sign().unwrap()).await;
    assert!(r.challenge().contains(r#"error="use_dpop_nonce""#), "{}", r.challenge());
    let nonce = r.headers["dpop-nonce"].to_str().unwrap().to_owned();
    let proof = key.proof("GET", &me).access_token(&token).nonce(&nonce).sign().unwrap();
    assert_eq!(dpop_get(&me, &token, &proof).await.status, StatusCode::OK);

    // PUBLIC_URL: proofs must name it, not the address the request reached.
    let port = common::oidc_provider::free_port();
    let public = format!("http://localhost:{port}");
    let app = start(&[("BIND", &format!("127.0.0.1:{port}")), ("PUBLIC_URL", &public)]);
    let token = dev_dpop_token_at(&app.base, &public, &key).await;
    let me = format!("{}/me", app.base);
    let r =
        dpop_get(&me, &token, &key.proof("GET", &format!("{public}/me")).access_token(&token).sign().unwrap()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = dpop_get(&me, &token, &key.proof("GET", &me).access_token(&token).sign().unwrap()).await;
    assert!(r.challenge().contains(r#"error="invalid_dpop_proof""#), "{}", r.challenge());
}

/// A DPoP token from the dev issuer at `base`, the proof naming `public`'s token URL.
async fn dev_dpop_token_at(base: &str, public: &str, key: &DpopKey) -> String {
    let proof = key.proof("POST", &format!("{public}/dev/token")).sign().unwrap();
    let res =
        client().post(format!("{base}/dev/token")).header("dpop", proof).form(&[("scope", "")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

/// `TLS_CERT`, `TLS_KEY`, `TLS_CLIENT_CA` with an external issuer: HTTPS, optional client
/// certificates from that CA, certificate-bound tokens checked against them (RFC 8705).
#[tokio::test]
async fn https_with_client_certificates_checks_certificate_bound_tokens() {
    let idp = TestIssuer::start().await;
    let ca = TestCa::new("example");
    let server = ca.server();
    let files = PemFiles::new();
    let app = start(&[
        ("ISSUER", idp.issuer()),
        ("AUDIENCE", TEST_AUDIENCE),
        ("TLS_CERT", &files.write("server.pem", &server.cert_pem)),
        ("TLS_KEY", &files.write("server.key", &server.key_pem)),
        ("TLS_CLIENT_CA", &files.write("ca.pem", &ca.pem())),
    ]);
    let me = format!("{}/me", app.base);
    assert!(me.starts_with("https://127.0.0.1:"), "{me}");
    let (alice, bob) = (ca.client("alice"), ca.client("bob"));
    let bound = idp.token().subject("alice").certificate_bound(&alice.certificate()).sign();

    let r = get_via(&https_client(&ca, Some(&alice)), &me, Some(&bound)).await;
    assert_eq!((r.status, r.json()["sub"].as_str()), (StatusCode::OK, Some("alice")), "{}", r.body);
    for client in [https_client(&ca, Some(&bob)), https_client(&ca, None)] {
        let r = get_via(&client, &me, Some(&bound)).await;
        assert_eq!(
            (r.status, r.challenge().to_owned()),
            (StatusCode::UNAUTHORIZED, example_invalid(&app.base)),
            "{}",
            r.body
        );
    }
    let r = get_via(&https_client(&ca, None), &me, None).await;
    assert_eq!((r.status, r.challenge().to_owned()), (StatusCode::UNAUTHORIZED, example_offered(&app.base)));
    // Unbound tokens still work, with or without a certificate.
    let unbound = idp.token().sign();
    assert_eq!(get_via(&https_client(&ca, None), &me, Some(&unbound)).await.status, StatusCode::OK);
    // A certificate from another CA fails the handshake: no answer at all.
    let mallory = TestCa::new("other").client("mallory");
    let err = https_client(&ca, Some(&mallory)).get(&me).bearer_auth(&bound).send().await.unwrap_err();
    assert!(err.status().is_none(), "{err:?}");
    // Plain HTTP is not served.
    assert!(
        client().get(me.replace("https://", "http://")).send().await.map(|r| r.status()).ok() != Some(StatusCode::OK)
    );
}

/// Over TLS the embedded dev issuer is `https://ADDR/dev`, and the example fetches its
/// keys from itself over HTTPS (trusting exactly its own certificate, without CA_FILE).
#[tokio::test]
async fn https_with_the_embedded_dev_issuer() {
    let ca = TestCa::new("example");
    let server = ca.server();
    let files = PemFiles::new();
    let app = start(&[
        ("TLS_CERT", &files.write("server.pem", &server.cert_pem)),
        ("TLS_KEY", &files.write("server.key", &server.key_pem)),
        ("TLS_CLIENT_CA", &files.write("ca.pem", &ca.pem())),
    ]);
    let base = &app.base;
    assert!(base.starts_with("https://"), "{base}");
    let https = https_client(&ca, None);
    let res = https.post(format!("{base}/dev/token")).form(&[("scope", "read:items")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let token = res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let r = get_via(&https, &format!("{base}/items"), Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let health = get_via(&https, &format!("{base}/healthz"), None).await.json();
    assert_eq!(health["issuers"][0]["issuer"], format!("{base}/dev"));
    assert_eq!(health["issuers"][0]["keys"]["state"], "fresh");
    // RFC 9728: the resource is the https:// address.
    let doc = get_via(&https, &format!("{base}/.well-known/oauth-protected-resource"), None).await.json();
    assert_eq!(
        (&doc["resource"], &doc["authorization_servers"]),
        (&base.as_str().into(), &serde_json::json!([format!("{base}/dev")]))
    );
    let login = https.post(format!("{base}/dev/login")).form(&[("login", "dev"), ("password", "dev")]).send().await;
    assert_eq!(login.unwrap().status(), StatusCode::OK);
}

/// `CA_FILE`: discovery and JWKS over HTTPS from an issuer whose certificate a private
/// CA issued. Without it the keys cannot be fetched: 503, fail closed.
#[tokio::test]
async fn ca_file_roots_for_discovery_and_jwks_over_https() {
    use axum::routing::get;
    let idp = TestIssuer::start().await;
    let ca = TestCa::new("issuer's private CA");
    let jwks = serde_json::json!({"keys": [idp.public_jwk(&idp.current_kid()).unwrap()]});
    let issuer = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let iss = issuer.clone();
    let discovery = move || {
        let iss = iss.get().unwrap().clone();
        std::future::ready(axum::Json(serde_json::json!({"issuer": iss, "jwks_uri": format!("{iss}/jwks")})))
    };
    let routes = axum::Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(move || std::future::ready(axum::Json(jwks.clone()))));
    let base = serve_https(routes, &ca.server(), None).await;
    issuer.set(base.clone()).unwrap();
    let token = idp.token().issuer(&base).sign();

    let files = PemFiles::new();
    let ca_file = files.write("ca.pem", &ca.pem());
    let trusting = start(&[("ISSUER", &base), ("AUDIENCE", TEST_AUDIENCE), ("CA_FILE", &ca_file)]);
    let r = get_bearer(&format!("{}/me", trusting.base), &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let untrusting = start(&[("ISSUER", &base), ("AUDIENCE", TEST_AUDIENCE)]);
    let r = get_bearer(&format!("{}/me", untrusting.base), &token).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(r.challenge(), "", "503 carries no challenge");
    assert!(r.headers.contains_key("retry-after"));
}

#[test]
fn incomplete_tls_configuration_is_a_startup_error() {
    let files = PemFiles::new();
    let ca = TestCa::new("example");
    let cert = files.write("server.pem", &ca.server().cert_pem);
    let ca_file = files.write("ca.pem", &ca.pem());
    let missing = files.dir.join("missing.pem").to_str().unwrap().to_owned();
    for (env, expected) in [
        (vec![("TLS_CERT", cert.as_str())], "TLS_CERT and TLS_KEY go together"),
        (vec![("TLS_CLIENT_CA", ca_file.as_str())], "TLS_CLIENT_CA needs TLS_CERT and TLS_KEY"),
        (vec![("TLS_CERT", cert.as_str()), ("TLS_KEY", missing.as_str())], "TLS_KEY"),
        (vec![("CA_FILE", missing.as_str())], "CA_FILE"),
    ] {
        let mut cmd = Command::new(example_binary());
        cmd.env("BIND", "127.0.0.1:0").stdout(Stdio::null()).stderr(Stdio::piped());
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        // An example that ignores the variables would serve forever: give it 20 s.
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                child.kill().unwrap();
                panic!("{env:?}: the example started instead of refusing the configuration");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(expected), "{env:?}: {stderr}");
    }
}

/// The line `series value` of a Prometheus text page, if any.
fn sample<'a>(page: &'a str, series: &str) -> Option<&'a str> {
    page.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
}

#[tokio::test]
async fn metrics_in_prometheus_format_with_metrics_1() {
    // Without METRICS, /metrics is a route like any unknown one (behind the layer: 401).
    let without = start(&[]);
    let unknown = get_with(&format!("{}/no-such-route", without.base), &[]).await.status;
    assert_eq!(get_with(&format!("{}/metrics", without.base), &[]).await.status, unknown);
    assert_ne!(unknown, StatusCode::OK);
    drop(without);

    let app = start(&[("METRICS", "1")]);
    let base = &app.base;
    let metrics = format!("{base}/metrics");
    let allowed = r#"tower_bearer_requests_total{outcome="allowed",reason="verified"}"#;
    let missing = r#"tower_bearer_requests_total{outcome="unauthorized",reason="missing_token"}"#;
    let forbidden = r#"tower_bearer_requests_total{outcome="forbidden",reason="insufficient_scope"}"#;
    let fetched = format!(r#"tower_bearer_jwks_fetches_total{{source="{base}/dev",result="ok"}}"#);
    let before = get_with(&metrics, &[]).await;
    assert_eq!(before.status, StatusCode::OK, "public: no token needed");
    assert_eq!(before.headers["content-type"], "text/plain; version=0.0.4");
    // Registered when the layer was built: present, at zero.
    assert_eq!(sample(&before.body, allowed), Some("0"), "{}", before.body);
    assert_eq!(sample(&before.body, &fetched), Some("0"), "{}", before.body);

    let reader = dev_token(base, &[("scope", "read:items")]).await;
    assert_eq!(get_bearer(&format!("{base}/me"), &reader).await.status, StatusCode::OK);
    assert_eq!(get_with(&format!("{base}/me"), &[]).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(get_bearer(&format!("{base}/admin"), &reader).await.status, StatusCode::FORBIDDEN);

    let page = get_with(&metrics, &[]).await.body;
    for (family, kind) in [
        ("tower_bearer_requests_total", "counter"),
        ("tower_bearer_verify_duration_seconds", "histogram"),
        ("tower_bearer_token_cache_hits_total", "counter"),
        ("tower_bearer_token_cache_misses_total", "counter"),
        ("tower_bearer_jwks_fetches_total", "counter"),
    ] {
        assert!(page.contains(&format!("# TYPE {family} {kind}\n")), "{family} {kind}: {page}");
    }
    // The 403 from the route's requirement is counted once, as forbidden.
    assert_eq!(sample(&page, allowed), Some("1"), "{page}");
    assert_eq!(sample(&page, missing), Some("1"), "{page}");
    assert_eq!(sample(&page, forbidden), Some("1"), "{page}");
    assert_eq!(sample(&page, "tower_bearer_token_cache_misses_total"), Some("1"), "{page}");
    assert_eq!(sample(&page, "tower_bearer_token_cache_hits_total"), Some("1"), "{page}");
    assert_eq!(sample(&page, "tower_bearer_verify_duration_seconds_count"), Some("1"), "{page}");
    assert_eq!(sample(&page, &fetched), Some("1"), "{page}");
}

// Issue 17 item 5: with JWKS_CACHE_FILE, the example restarted while its IdP is down
// still accepts tokens, from the key set persisted by the previous run.
#[tokio::test]
async fn a_restart_while_the_idp_is_down_serves_the_persisted_keys() {
    let idp = TestIssuer::start().await;
    let file = std::env::temp_dir().join(format!("tower-bearer-example-jwks-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let file_env = file.to_str().unwrap().to_owned();
    let env = [("ISSUER", idp.issuer()), ("AUDIENCE", TEST_AUDIENCE), ("JWKS_CACHE_FILE", file_env.as_str())];
    let app = start(&env);
    assert_eq!(get_bearer(&format!("{}/me", app.base), &idp.token().sign()).await.status, StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&file).is_ok_and(|r| r.contains(&idp.jwks_url())) {
        assert!(Instant::now() < deadline, "the example wrote no key set to JWKS_CACHE_FILE");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(app);

    // The IdP goes away entirely (its port closes); a token it issued before remains.
    let token = idp.token().subject("during-outage").sign();
    let issuer = idp.issuer().to_owned();
    drop(idp);
    let env = [("ISSUER", issuer.as_str()), ("AUDIENCE", TEST_AUDIENCE), ("JWKS_CACHE_FILE", file_env.as_str())];
    let app = start(&env);
    let reply = get_bearer(&format!("{}/me", app.base), &token).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["sub"], "during-outage");
    let health = get_with(&format!("{}/healthz", app.base), &[]).await.json();
    assert_eq!(health["issuers"][0]["keys"]["source"], "persisted");

    // The control: the same restart without the file cannot verify it.
    let app = start(&env[..2]);
    assert_eq!(get_bearer(&format!("{}/me", app.base), &token).await.status, StatusCode::SERVICE_UNAVAILABLE);
    let _ = std::fs::remove_file(&file);
}

/// Runs an example to its end (within 60 s): its exit status, stdout and stderr.
fn run_to_end(name: &str, env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(binary(name));
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("run the {name} example (built by cargo test): {e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the {name} example did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// Runs an example that must succeed; its standard output.
fn run_example(name: &str, env: &[(&str, &str)]) -> String {
    let (ok, stdout, stderr) = run_to_end(name, env);
    assert!(ok, "{name}: {stdout}\n{stderr}");
    stdout
}

// Issue 17 item 3: the gRPC example serves over TLS, with a generated certificate or
// the one given, and its client trusts it.
#[test]
fn grpc_items_serves_over_tls() {
    let expected = [
        "no token: Unauthenticated an access token is required",
        "reader lists: OK b\"items for reader\"",
        "reader purges: PermissionDenied missing role 'items.admin'",
        "admin purges: OK b\"purged\"",
    ];
    let generated = run_example("grpc_items", &[]);
    let lines: Vec<&str> = generated.lines().collect();
    assert!(lines[0].starts_with("listening on https://127.0.0.1:"), "{generated}");
    assert_eq!(lines[1..], expected, "{generated}");

    // A certificate from a CA of the operator's: TLS_CERT/TLS_KEY, the client trusts TLS_CA.
    let ca = TestCa::new("grpc-example");
    let server = ca.server();
    let files = PemFiles::new();
    let (cert, key, roots) = (
        files.write("cert.pem", &server.cert_pem),
        files.write("key.pem", &server.key_pem),
        files.write("ca.pem", &ca.pem()),
    );
    let given = run_example("grpc_items", &[("TLS_CERT", &cert), ("TLS_KEY", &key), ("TLS_CA", &roots)]);
    assert_eq!(given.lines().skip(1).collect::<Vec<_>>(), expected, "{given}");
    // The client checks the certificate: roots from another CA fail the calls.
    let other = files.write("other.pem", &TestCa::new("other").pem());
    let (ok, stdout, stderr) = run_to_end("grpc_items", &[("TLS_CERT", &cert), ("TLS_KEY", &key), ("TLS_CA", &other)]);
    assert!(!ok && !stdout.contains("OK"), "{stdout}");
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");
}

// Issue 17 item 3: the client example replaces the token on the live channel: the
// server sees the first token's subject, then the second's, over one connection.
#[test]
fn grpc_client_replaces_the_token_on_the_live_channel() {
    let out = run_example("grpc_client", &[]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("listening on https://127.0.0.1:"), "{out}");
    let seen = |prefix: &str| -> (String, String) {
        let line = lines.iter().find_map(|l| l.strip_prefix(prefix)).unwrap_or_else(|| panic!("no {prefix:?}: {out}"));
        let (subject, peer) = line.split_once(" over the connection from ").unwrap();
        (subject.to_owned(), peer.to_owned())
    };
    let (first, first_peer) = seen("first call: ");
    let (second, second_peer) = seen("second call: ");
    assert_eq!((first.as_str(), second.as_str()), ("first-token", "second-token"), "{out}");
    assert!(first_peer.starts_with("127.0.0.1:"), "{out}");
    assert_eq!(first_peer, second_peer, "one connection: {out}");
}
