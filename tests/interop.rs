//! Interop with a real, independent authorization server: panva's `oidc-provider`
//! (OpenID Certified), installed from npm by `.ci/run` (`npm ci --prefix tests/interop`)
//! and started on 127.0.0.1 by each test: JWT access tokens, the client-credentials
//! client, and introspection of opaque tokens. Without Node or the installed package
//! the tests are reported `ignored` with the reason; with `TOWER_BEARER_REQUIRE_INTEROP`
//! set (CI) they fail instead.

mod common;

use std::process::ExitCode;
use std::time::Duration;

use common::harness::Needs;
use common::oidc_provider::{Idp, free_port};
use common::{app, get_bearer, serve};
use reqwest::StatusCode;
use serde_json::json;
use tower_bearer::ClientAuth;
use tower_bearer::client::{AuthorizedClient, ClientCredentials, ClientError, TokenSource};
use tower_bearer::dpop::{Dpop, DpopMode};
use tower_bearer::introspect::{CombinedVerifier, IntrospectMode, IntrospectionVerifier};
use tower_bearer::keys::RemoteJwks;
use tower_bearer::policy::claim;
use tower_bearer::{BearerLayer, Issuer, JwtVerifier};

fn main() -> ExitCode {
    let needs = Needs::oidc_provider();
    common::harness::run(trials![needs;
        oidc_provider_end_to_end,
        client_credentials_against_oidc_provider,
        dpop_bound_tokens_from_oidc_provider,
        opaque_tokens_against_oidc_provider_with_revocation,
        mixed_mode_with_oidc_provider,
        introspection_from_the_environment,
    ])
}

const API: &str = "https://api.example.com";

async fn oidc_provider_end_to_end() {
    let port = free_port();
    let keys_file = std::env::temp_dir().join(format!("tower-bearer-interop-{port}.json"));
    let _ = std::fs::remove_file(&keys_file);
    let mut idp = Idp::start(port, &keys_file, false);

    let keys = RemoteJwks::builder().discovery(&idp.issuer()).cooldown(Duration::from_secs(1)).build().unwrap();
    let verifier = JwtVerifier::builder()
        .issuer(Issuer::new(idp.issuer()).keys(keys.clone()))
        .audience(API)
        .require_access_token_typ()
        .leeway(Duration::ZERO)
        .build()
        .unwrap();
    let auth = BearerLayer::new(verifier).realm("api").require(claim("name").and(claim("oid")));
    let base = serve(app(auth)).await;
    let (me, items, admin) = (format!("{base}/me"), format!("{base}/items"), format!("{base}/admin"));

    // Valid token with scopes, roles and extra claims.
    let admin_token = idp.token("admin-client", "read:items write:items", API).await;
    let r = get_bearer(&me, &admin_token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["sub"], "admin-client");
    assert_eq!(r.json()["roles"], serde_json::json!(["items.admin"]));
    assert_eq!(get_bearer(&items, &admin_token).await.status, StatusCode::OK);
    assert_eq!(get_bearer(&admin, &admin_token).await.status, StatusCode::OK);

    // Missing scope: 403 naming it.
    let no_read = idp.token("admin-client", "write:items", API).await;
    let r = get_bearer(&items, &no_read).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.challenge().contains(r#"scope="read:items""#), "{}", r.challenge());

    // Missing role: 403.
    let reader = idp.token("reader-client", "read:items", API).await;
    assert_eq!(get_bearer(&items, &reader).await.status, StatusCode::OK);
    let r = get_bearer(&admin, &reader).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.challenge().contains("missing role 'items.admin'"));

    // A token for another resource: wrong audience, 401.
    let other = idp.token("admin-client", "read:items", "https://other.example.com").await;
    let r = get_bearer(&me, &other).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.challenge().contains(r#"error="invalid_token""#));

    // Expired: a 2-second token, no leeway.
    let short = idp.token("admin-client", "read:items", "https://short.example.com").await;
    let short_verifier = JwtVerifier::builder()
        .issuer(Issuer::new(idp.issuer()).keys(keys.clone()))
        .audience("https://short.example.com")
        .leeway(Duration::ZERO)
        .build()
        .unwrap();
    let short_me = format!("{}/me", serve(app(BearerLayer::new(short_verifier))).await);
    assert_eq!(get_bearer(&short_me, &short).await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let r = get_bearer(&short_me, &short).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.challenge().contains("expired"));

    // Key rotation at the IdP: a new signing key is published and used; accepted
    // without restarting the service.
    let fetches_before = keys.health().fetches_ok;
    idp.stop();
    let mut idp = Idp::start(port, &keys_file, true);
    let rotated = idp.token("admin-client", "read:items", API).await;
    assert_ne!(kid(&rotated), kid(&admin_token), "the IdP signs with the new key");
    let r = get_bearer(&items, &rotated).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(keys.health().fetches_ok, fetches_before + 1, "one refetch for the new kid");
    assert_eq!(get_bearer(&items, &admin_token).await.status, StatusCode::OK, "old key still published");

    // The IdP goes away: cached keys keep serving.
    idp.stop();
    assert_eq!(get_bearer(&items, &rotated).await.status, StatusCode::OK);
    assert_eq!(get_bearer(&items, &admin_token).await.status, StatusCode::OK);
    let _ = std::fs::remove_file(&idp.keys_file);
}

fn kid(token: &str) -> String {
    common::b64::json_part(token, 0)["kid"].as_str().unwrap().to_owned()
}

// The client-credentials client against the real token endpoint.
async fn client_credentials_against_oidc_provider() {
    let idp = Idp::start_fresh();
    let verifier = JwtVerifier::builder()
        .issuer(Issuer::new(idp.issuer()).discover())
        .audience("https://api.example.com")
        .build()
        .unwrap();
    let api = serve(app(BearerLayer::new(verifier))).await;
    let source = ClientCredentials::builder()
        .discover(&idp.issuer())
        .client_auth(tower_bearer::ClientAuth::basic("admin-client", "admin-client-secret"))
        .scope("read:items")
        .resource("https://api.example.com")
        .build()
        .unwrap();
    let first = source.token().await.unwrap();
    assert_eq!(source.token().await.unwrap(), first, "cached until shortly before expiry");
    let client = AuthorizedClient::new(reqwest::Client::new(), source.clone());
    let res = client.send(client.get(format!("{api}/items"))).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = client.send(client.get(format!("{api}/admin"))).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the admin client has the role");
    // A wrong secret is a typed OAuth error, not retried.
    let bad = ClientCredentials::builder()
        .discover(&idp.issuer())
        .client_auth(tower_bearer::ClientAuth::basic("admin-client", "nope"))
        .build()
        .unwrap();
    match bad.token().await {
        Err(ClientError::OAuth { error, .. }) => assert_eq!(error, "invalid_client"),
        other => panic!("{other:?}"),
    }
    assert!(
        !format!("{source:?} {first:?}").contains("admin-client-secret")
            && !format!("{first:?}").contains(first.secret())
    );

    // Renewal after expiry with the real server: its 2-second tokens, no skew.
    let short = ClientCredentials::builder()
        .discover(&idp.issuer())
        .client_auth(tower_bearer::ClientAuth::basic("admin-client", "admin-client-secret"))
        .resource("https://short.example.com")
        .skew(Duration::ZERO)
        .build()
        .unwrap();
    let t1 = short.token().await.unwrap();
    assert_eq!(short.token().await.unwrap(), t1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_ne!(short.token().await.unwrap(), t1, "expired: a new token from the server");
}

// Issue 16, item 8: DPoP (RFC 9449) with oidc-provider's token endpoint, with and
// without its nonces, and an API behind the layer with DPoP required.
async fn dpop_bound_tokens_from_oidc_provider() {
    use tower_bearer::Algorithm;
    use tower_bearer::signing::DpopKey;
    for nonces in [false, true] {
        let idp = Idp::start_fresh_with(&[("DPOP_NONCE", if nonces { "1" } else { "0" })]);
        let discovery: serde_json::Value = common::client()
            .get(format!("{}/.well-known/openid-configuration", idp.issuer()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let algs = discovery["dpop_signing_alg_values_supported"].as_array().expect("DPoP is on");
        assert!(algs.contains(&json!("ES256")), "{algs:?}");
        let key = DpopKey::generate(Algorithm::ES256).unwrap();
        if nonces {
            // The nonce path is really taken: a proof without one is refused.
            let proof = key.proof("POST", &format!("{}/token", idp.issuer())).sign().unwrap();
            let res = common::client()
                .post(format!("{}/token", idp.issuer()))
                .basic_auth("admin-client", Some("admin-client-secret"))
                .header("dpop", proof)
                .form(&[("grant_type", "client_credentials"), ("resource", API)])
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST);
            assert!(res.headers().contains_key("dpop-nonce"));
            assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "use_dpop_nonce");
        }

        // The API: DPoP required, keys from oidc-provider's discovery.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let verifier =
            JwtVerifier::builder().issuer(Issuer::new(idp.issuer()).discover()).audience(API).build().unwrap();
        let dpop = Dpop::builder(DpopMode::Required).public_url(&base).build().unwrap();
        let router = app(BearerLayer::new(verifier).realm("api").dpop(dpop));
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

        let source = ClientCredentials::builder()
            .discover(&idp.issuer())
            .client_auth(ClientAuth::basic("admin-client", "admin-client-secret"))
            .scope("read:items")
            .resource(API)
            .dpop(key.clone())
            .build()
            .unwrap();
        let token = source.token().await.unwrap_or_else(|e| panic!("nonces {nonces}: {e}"));
        assert_eq!(token.token_type(), "DPoP");
        assert_eq!(common::b64::json_part(token.secret(), 1)["cnf"]["jkt"], key.thumbprint());
        let client = AuthorizedClient::new(reqwest::Client::new(), source.clone());
        for path in ["/items", "/me"] {
            let res = client.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "nonces {nonces}, {path}: {}", res.text().await.unwrap());
        }

        // By hand: a replayed proof, the token as Bearer, another key's valid proof.
        let me = format!("{base}/me");
        let dpop_auth = format!("DPoP {}", token.secret());
        let proof = key.proof("GET", &me).access_token(token.secret()).sign().unwrap();
        let call = |proof: String| {
            let (me, auth) = (me.clone(), dpop_auth.clone());
            async move { common::get_with(&me, &[("authorization", &auth), ("dpop", &proof)]).await }
        };
        assert_eq!(call(proof.clone()).await.status, StatusCode::OK);
        let r = call(proof).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(
            r.challenge().starts_with("DPoP ") && r.challenge().contains(r#"error="invalid_dpop_proof""#),
            "{}",
            r.challenge()
        );
        let r = get_bearer(&me, token.secret()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.challenge().contains(r#"error="invalid_token""#), "{}", r.challenge());
        let other = DpopKey::generate(Algorithm::ES256).unwrap();
        let r = call(other.proof("GET", &me).access_token(token.secret()).sign().unwrap()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(
            r.challenge().starts_with("DPoP ") && r.challenge().contains(r#"error="invalid_token""#),
            "{}",
            r.challenge()
        );
    }
}

const OPAQUE_API: &str = "https://opaque.example.com";

fn rs_auth() -> ClientAuth {
    ClientAuth::basic("resource-server", "resource-server-secret")
}

fn introspection(idp: &Idp) -> tower_bearer::introspect::IntrospectionVerifierBuilder {
    IntrospectionVerifier::builder().discover(&idp.issuer()).client_auth(rs_auth()).issuer(idp.issuer())
}

// Introspection (RFC 7662) against the real introspection endpoint.
async fn opaque_tokens_against_oidc_provider_with_revocation() {
    let idp = Idp::start_fresh();
    let cached = introspection(&idp).audience(OPAQUE_API).max_ttl(Duration::from_secs(1)).build().unwrap();
    let uncached = introspection(&idp).audience(OPAQUE_API).no_cache().build().unwrap();
    let cached_me = format!("{}/me", serve(app(BearerLayer::new(cached))).await);
    let uncached_me = format!("{}/me", serve(app(BearerLayer::new(uncached))).await);

    let token = idp.token("admin-client", "read:items", OPAQUE_API).await;
    assert!(!token.contains('.'), "an opaque token");
    let r = get_bearer(&cached_me, &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["roles"], json!(["items.admin"]));
    assert_eq!(get_bearer(&cached_me.replace("/me", "/items"), &token).await.status, StatusCode::OK);
    assert_eq!(get_bearer(&uncached_me, &token).await.status, StatusCode::OK);

    // Revoked at the authorization server (RFC 7009).
    idp.revoke("admin-client", &token).await;
    let r = get_bearer(&uncached_me, &token).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "seen at once without a cache");
    assert!(r.challenge().contains(r#"error="invalid_token""#));
    assert_eq!(get_bearer(&cached_me, &token).await.status, StatusCode::OK, "still cached");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get_bearer(&cached_me, &token).await.status, StatusCode::UNAUTHORIZED, "seen once the TTL passed");

    // A token for another resource: wrong audience.
    let other = idp.token("admin-client", "read:items", "https://other-opaque.example.com").await;
    assert_eq!(get_bearer(&uncached_me, &other).await.status, StatusCode::UNAUTHORIZED);
    // Garbage is inactive.
    assert_eq!(get_bearer(&uncached_me, "not-a-real-token").await.status, StatusCode::UNAUTHORIZED);
}

async fn mixed_mode_with_oidc_provider() {
    let idp = Idp::start_fresh();
    let jwt = || {
        JwtVerifier::builder()
            .issuer(Issuer::new(idp.issuer()).discover())
            .audience("https://api.example.com")
            .audience(OPAQUE_API)
            .build()
            .unwrap()
    };
    let remote = introspection(&idp).audience(OPAQUE_API).no_cache().build().unwrap();
    let me = format!(
        "{}/me",
        serve(app(BearerLayer::new(CombinedVerifier::new(jwt(), remote, IntrospectMode::OpaqueOnly)))).await
    );

    // JWTs are verified locally (oidc-provider refuses to introspect its JWT access
    // tokens: `unsupported_token_type`; the "always" mode is covered with a loopback
    // endpoint below); opaque tokens go to the introspection endpoint.
    let jwt_token = idp.token("admin-client", "read:items", "https://api.example.com").await;
    let opaque_token = idp.token("admin-client", "read:items", OPAQUE_API).await;
    assert_eq!(get_bearer(&me, &jwt_token).await.status, StatusCode::OK);
    assert_eq!(get_bearer(&me, &opaque_token).await.status, StatusCode::OK);
    idp.revoke("admin-client", &opaque_token).await;
    assert_eq!(get_bearer(&me, &opaque_token).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(get_bearer(&me, &jwt_token).await.status, StatusCode::OK);
}

// The protected_api example configured for introspection from its environment.
async fn introspection_from_the_environment() {
    let idp = Idp::start_fresh();
    let app = common::examples::start(&[
        ("ISSUER", &idp.issuer()),
        ("AUDIENCE", "https://api.example.com https://opaque.example.com"),
        ("INTROSPECT", "opaque"),
        ("INTROSPECTION_CLIENT_ID", "resource-server"),
        ("INTROSPECTION_CLIENT_SECRET", "resource-server-secret"),
    ]);
    let items = format!("{}/items", app.base);
    let opaque = idp.token("admin-client", "read:items", "https://opaque.example.com").await;
    let jwt = idp.token("admin-client", "read:items", "https://api.example.com").await;
    assert_eq!(get_bearer(&items, &opaque).await.status, StatusCode::OK);
    assert_eq!(get_bearer(&items, &jwt).await.status, StatusCode::OK);
    assert_eq!(get_bearer(&items, "made-up-opaque-token").await.status, StatusCode::UNAUTHORIZED);
}
