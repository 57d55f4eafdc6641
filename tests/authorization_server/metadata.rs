//! RFC 8414 metadata: every field exact, served at the §3.1 location only, cacheable,
//! read-only; the resource side finds the keys through it; the issuer rules.

use std::net::SocketAddr;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tower_bearer::issue::server::{AuthorizationServer, AuthorizationServerBuilder, Client, ClientRegistry, GrantType};
use tower_bearer::issue::{IssuerKey, KeyType};
use tower_bearer::token::BearerToken;
use tower_bearer::{Issuer, JwtVerifier, Verifier as _};

use crate::common::{b64, client};

pub(crate) const AUDIENCE: &str = "https://api.example.com";
pub(crate) const CLIENT_ID: &str = "worker";
pub(crate) const CLIENT_SECRET: &str = "a long random worker secret";

pub(crate) fn key(kty: KeyType, kid: &str) -> String {
    IssuerKey::generate(kty, Some(kid)).unwrap().private_jwk().to_json()
}

/// A confidential client-credentials client, `worker`, scope `jobs`.
pub(crate) fn clients() -> ClientRegistry {
    let worker = Client::confidential(CLIENT_ID, CLIENT_SECRET).unwrap().grant_type(GrantType::ClientCredentials);
    ClientRegistry::new().with(worker.scope("jobs")).unwrap()
}

/// A server named `http://127.0.0.1:PORT{path}`, configured by `configure`, its
/// router merged at the root of a real HTTP server. Returns the server and the origin.
pub(crate) async fn start(
    path: &str,
    signing_key: &str,
    configure: impl FnOnce(AuthorizationServerBuilder) -> AuthorizationServerBuilder,
) -> (AuthorizationServer, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let builder =
        AuthorizationServer::builder(format!("{origin}{path}"), signing_key).audience(AUDIENCE).clients(clients());
    let server = configure(builder).build().unwrap();
    let app = server.router().into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (server, origin)
}

/// A client-credentials token from the server's token endpoint.
pub(crate) async fn token(server: &AuthorizationServer) -> String {
    let res = client()
        .post(format!("{}/token", server.issuer()))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials"), ("scope", "jobs")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

/// The `kid` in a token's header.
pub(crate) fn kid(token: &str) -> String {
    b64::json_part(token, 0)["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_metadata_names_every_endpoint_and_method_exactly() {
    let (server, origin) = start("", &key(KeyType::Ed25519, "k"), |b| {
        b.authorization_endpoint("/login/oauth")
            .scopes_supported(["jobs", "read", "jobs"])
            .service_documentation("https://docs.example.com/auth")
    })
    .await;
    let expected = json!({
        "issuer": origin,
        "authorization_endpoint": format!("{origin}/login/oauth"),
        "token_endpoint": format!("{origin}/token"),
        "revocation_endpoint": format!("{origin}/revoke"),
        "introspection_endpoint": format!("{origin}/introspect"),
        "jwks_uri": format!("{origin}/jwks"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "scopes_supported": ["jobs", "read"],
        "service_documentation": "https://docs.example.com/auth",
    });
    assert_eq!(server.metadata_path(), "/.well-known/oauth-authorization-server");
    let url = format!("{origin}/.well-known/oauth-authorization-server");
    let res = client().get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers().clone();
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["cache-control"], "public, max-age=3600");
    let etag = h["etag"].to_str().unwrap().to_owned();
    assert_eq!(res.json::<Value>().await.unwrap(), expected);
    assert_eq!(server.metadata(), expected);

    let res = client().get(&url).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(res.text().await.unwrap(), "");
    let res = client().head(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(res.text().await.unwrap(), "");
    for method in [reqwest::Method::POST, reqwest::Method::PUT, reqwest::Method::DELETE] {
        let res = client().request(method.clone(), &url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(res.headers()["allow"], "GET, HEAD");
    }
    // No OpenID Connect discovery: this server issues no ID tokens.
    let res = client().get(format!("{origin}/.well-known/openid-configuration")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn defaults_list_the_authorize_endpoint_under_the_issuer_and_no_optional_fields() {
    let (server, origin) = start("", &key(KeyType::P256, "k"), |b| b).await;
    let doc = server.metadata();
    assert_eq!(doc["authorization_endpoint"], format!("{origin}/authorize"));
    for absent in
        ["scopes_supported", "service_documentation", "userinfo_endpoint", "id_token_signing_alg_values_supported"]
    {
        assert!(doc.get(absent).is_none(), "{absent}: {doc}");
    }
}

#[tokio::test]
async fn an_issuer_with_a_path_has_its_metadata_at_the_section_3_1_location_and_its_endpoints_under_the_path() {
    let (server, origin) = start("/tenant", &key(KeyType::P256, "k"), |b| b).await;
    assert_eq!(server.metadata_path(), "/.well-known/oauth-authorization-server/tenant");
    let res = client().get(format!("{origin}/.well-known/oauth-authorization-server/tenant")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["issuer"], format!("{origin}/tenant"));
    assert_eq!(doc["token_endpoint"], format!("{origin}/tenant/token"));
    assert_eq!(doc["jwks_uri"], format!("{origin}/tenant/jwks"));
    assert_eq!(doc["authorization_endpoint"], format!("{origin}/tenant/authorize"));
    for elsewhere in
        ["/.well-known/oauth-authorization-server", "/tenant/.well-known/oauth-authorization-server", "/jwks"]
    {
        let res = client().get(format!("{origin}{elsewhere}")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{elsewhere}");
    }
    let res = client().get(format!("{origin}/tenant/jwks")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(kid(&token(&server).await), "k", "the token endpoint answers under the path");
}

#[tokio::test]
async fn the_resource_side_discovers_the_keys_over_rfc_8414() {
    for path in ["", "/tenant"] {
        let (server, _) = start(path, &key(KeyType::Rsa(2048), "rsa"), |b| b).await;
        // Discovery asks for openid-configuration first (404 here), then RFC 8414.
        let verifier =
            JwtVerifier::builder().issuer(Issuer::new(server.issuer()).discover()).audience(AUDIENCE).build().unwrap();
        let token = token(&server).await;
        assert_eq!(b64::json_part(&token, 0)["alg"], "RS256", "RS256 by default");
        let verified = verifier.verify(&BearerToken::new(token.as_str())).resolve().await;
        let verified = verified.unwrap_or_else(|e| panic!("{path:?}: {e}"));
        assert_eq!(verified.subject(), Some(CLIENT_ID));
    }
}

#[test]
fn settings_the_metadata_could_not_state_truthfully_are_refused_at_build() {
    type Configure = fn(AuthorizationServerBuilder) -> AuthorizationServerBuilder;
    let jwk = key(KeyType::P256, "k");
    let build = |issuer: &str, configure: Configure| {
        configure(AuthorizationServer::builder(issuer, &jwk).audience(AUDIENCE)).build().map(|s| s.metadata())
    };
    for (issuer, says) in [
        ("http://auth.example.com", "must be https"),
        ("http://10.0.0.1:4000", "must be https"),
        ("https://auth.example.com/?tenant=a", "query"),
        ("https://auth.example.com/#x", "fragment"),
        ("https://auth.example.com/{tenant}", "percent-encode"),
        ("https://auth.example.com/t/:id", "percent-encode"),
    ] {
        let e = build(issuer, |b| b).unwrap_err().to_string();
        assert!(e.contains(says), "{issuer}: {e}");
    }
    for loopback in
        ["http://127.0.0.1:4000", "http://localhost:4000/t", "http://[::1]:4000", "https://auth.example.com/"]
    {
        assert!(build(loopback, |b| b).is_ok(), "{loopback}");
    }
    let doc = build("https://auth.example.com/t", |b| b.authorization_endpoint("/login")).unwrap();
    assert_eq!(doc["authorization_endpoint"], "https://auth.example.com/login", "a path on the issuer's origin");
    let doc =
        build("https://auth.example.com", |b| b.authorization_endpoint("https://app.example.com/oauth?x=1")).unwrap();
    assert_eq!(doc["authorization_endpoint"], "https://app.example.com/oauth?x=1");
    let refused: [(Configure, &str); 6] = [
        (|b| b.authorization_endpoint("http://app.example.com/authorize"), "must be https"),
        (|b| b.authorization_endpoint("https://app.example.com/authorize#f"), "fragment"),
        (|b| b.authorization_endpoint("authorize"), "neither an absolute URL nor a path"),
        (|b| b.authorization_endpoint("//evil.example/authorize"), "neither an absolute URL nor a path"),
        (|b| b.scopes_supported(["read items"]), "is not a scope"),
        (|b| b.service_documentation("docs"), "is not a URL"),
    ];
    for (configure, says) in refused {
        let e = build("https://auth.example.com", configure).unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
    }
}
