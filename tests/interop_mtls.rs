//! Certificate-bound tokens from a real authorization server: panva's oidc-provider
//! over HTTPS with `features.mTLS.certificateBoundAccessTokens` binds a
//! client-credentials token to the client certificate of the token request (`cnf`
//! `x5t#S256`, RFC 8705 §3); the layer, over TLS with client certificates, accepts it
//! from that certificate only. Without Node or the installed package the test is
//! reported `ignored` with the reason (failed with `TOWER_BEARER_REQUIRE_INTEROP`).

mod common;
#[path = "common/tls.rs"]
mod tls;

use std::process::ExitCode;

use base64::Engine as _;
use common::harness::Needs;
use common::oidc_provider::{Idp, free_port};
use common::{REALM, app};
use reqwest::StatusCode;
use serde_json::Value;
use tls::{PemFiles, TestCa, get_via, https_client, serve_https};
use tower_bearer::keys::RemoteJwks;
use tower_bearer::{BearerLayer, Issuer, JwtVerifier};

fn main() -> ExitCode {
    let needs = Needs::oidc_provider();
    common::harness::run(trials![needs; certificate_bound_tokens_from_oidc_provider])
}

const API: &str = "https://api.example.com";

async fn certificate_bound_tokens_from_oidc_provider() {
    // One CA for the authorization server's, the API's and the clients' certificates.
    let ca = TestCa::new("interop");
    let idp_cert = ca.server();
    let files = PemFiles::new();
    let port = free_port();
    let keys_file = files.dir.join("keys.json");
    let idp = Idp::start_with(
        port,
        &keys_file,
        false,
        &[
            ("TLS_CERT", &files.write("idp.pem", &idp_cert.cert_pem)),
            ("TLS_KEY", &files.write("idp.key", &idp_cert.key_pem)),
        ],
    );
    assert!(idp.issuer().starts_with("https://"));

    let (alice, bob) = (ca.client("alice"), ca.client("bob"));
    let http = https_client(&ca, Some(&alice));
    let res = http
        .post(format!("{}/token", idp.issuer()))
        .basic_auth("mtls-client", Some("mtls-client-secret"))
        .form(&[("grant_type", "client_credentials"), ("scope", "read:items"), ("resource", API)])
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let x5t = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(alice.certificate().thumbprint());
    assert_eq!(claims["cnf"], serde_json::json!({ "x5t#S256": x5t }), "oidc-provider bound the token: {claims}");

    // The API: keys found over HTTPS (the test CA trusted), client certificates asked for.
    let keys = RemoteJwks::builder().discovery(&idp.issuer()).http_client(https_client(&ca, None)).build().unwrap();
    let verifier = JwtVerifier::builder()
        .issuer(Issuer::new(idp.issuer()).keys(keys))
        .audience(API)
        .require_access_token_typ()
        .build()
        .unwrap();
    let layer = BearerLayer::new(verifier).realm(REALM).certificate_binding(true);
    let me = format!("{}/me", serve_https(app(layer), &ca.server(), Some(&ca)).await);

    let r = get_via(&http, &me, Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["sub"], "mtls-client");
    for client in [https_client(&ca, Some(&bob)), https_client(&ca, None)] {
        let r = get_via(&client, &me, Some(&token)).await;
        assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, common::INVALID), "{}", r.body);
    }
    // Without certificate binding the same token is refused even with its certificate.
    let keys = RemoteJwks::builder().discovery(&idp.issuer()).http_client(https_client(&ca, None)).build().unwrap();
    let verifier = JwtVerifier::builder().issuer(Issuer::new(idp.issuer()).keys(keys)).audience(API).build().unwrap();
    let unchecked =
        format!("{}/me", serve_https(app(BearerLayer::new(verifier).realm(REALM)), &ca.server(), Some(&ca)).await);
    let r = get_via(&http, &unchecked, Some(&token)).await;
    assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, common::INVALID), "{}", r.body);
}
