//! RFC 9728 protected resource metadata: the document served over HTTP on 127.0.0.1
//! matches what the layer enforces, and the layer's challenges (HTTP and gRPC) name it.

use crate::common;
use crate::service;

use axum::Router;
use axum::routing::get;
use common::{REALM, client, get_bearer, get_with, serve};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tower_bearer::dpop::{Dpop, DpopMode};
use tower_bearer::keys::{StaticKeys, VerificationKey};
use tower_bearer::metadata::{ResourceMetadata, WELL_KNOWN_PATH};
use tower_bearer::policy::scope;
use tower_bearer::testing::{TEST_AUDIENCE, TestIssuer};
use tower_bearer::token::{FormBodyParameter, QueryParameter};
use tower_bearer::{BearerLayer, Challenge, Issuer, JsonResponder, JwtVerifier};

const RESOURCE: &str = "https://api.example.com";
const METADATA_URL: &str = "https://api.example.com/.well-known/oauth-protected-resource";
const DPOP_ALGS: [&str; 5] = ["ES256", "ES384", "RS256", "PS256", "EdDSA"];

fn metadata(resource: &str) -> ResourceMetadata {
    ResourceMetadata::builder(resource).scopes(["read:items", "write:items"]).build().unwrap()
}

fn dpop(mode: DpopMode) -> Dpop {
    Dpop::builder(mode).public_url(RESOURCE).build().unwrap()
}

/// `/items` (scope read:items) behind `auth`, the document outside it at its paths.
async fn serve_layer(auth: BearerLayer<JsonResponder>) -> String {
    let document = auth.metadata_service().unwrap();
    let mut app = Router::new()
        .route("/items", get(|| async { "items" }).route_layer(auth.requiring(scope("read:items"))))
        .layer(auth);
    for path in document.paths() {
        app = app.route_service(path, document.clone());
    }
    serve(app).await
}

async fn document(base: &str, path: &str) -> Value {
    let r = get_with(&format!("{base}{path}"), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    assert_eq!(r.headers["content-type"], "application/json");
    r.json()
}

#[tokio::test]
async fn plain_document_matches_the_configuration() {
    let idp = TestIssuer::start().await;
    let meta = ResourceMetadata::builder(RESOURCE)
        .scopes(["read:items", "write:items", "read:items"])
        .resource_name("Items API")
        .resource_documentation("https://docs.example.com/items")
        .build()
        .unwrap();
    let base = serve_layer(BearerLayer::new(idp.verifier()).realm(REALM).resource_metadata(meta)).await;
    assert_eq!(
        document(&base, WELL_KNOWN_PATH).await,
        json!({
            "resource": RESOURCE,
            "authorization_servers": [idp.issuer()],
            "scopes_supported": ["read:items", "write:items"],
            "bearer_methods_supported": ["header"],
            "resource_name": "Items API",
            "resource_documentation": "https://docs.example.com/items",
        })
    );
}

#[tokio::test]
async fn cacheable_get_and_head_only() {
    let idp = TestIssuer::start().await;
    let base = serve_layer(BearerLayer::new(idp.verifier()).resource_metadata(metadata(RESOURCE))).await;
    let url = format!("{base}{WELL_KNOWN_PATH}");
    let get = get_with(&url, &[]).await;
    assert_eq!(get.headers["cache-control"], "public, max-age=3600");
    let etag = get.headers["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");

    let head = client().head(&url).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"], get.body.len().to_string().as_str());
    assert_eq!(head.headers()["etag"], etag.as_str());
    assert!(head.text().await.unwrap().is_empty());

    let r = get_with(&url, &[("if-none-match", &format!("\"other\", W/{etag}"))]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.body.is_empty());
    assert_eq!(get_with(&url, &[("if-none-match", "\"other\"")]).await.status, StatusCode::OK);

    for method in [http::Method::POST, http::Method::PUT, http::Method::DELETE, http::Method::OPTIONS] {
        let r = client().request(method.clone(), &url).body("{}").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(r.headers()["allow"], "GET, HEAD");
    }
}

#[tokio::test]
async fn dpop_fields_follow_the_layer() {
    let idp = TestIssuer::start().await;
    // Required: only DPoP passes, so a query token (Bearer) is no way in.
    let required = BearerLayer::new(idp.verifier())
        .token_location(QueryParameter)
        .resource_metadata(metadata(RESOURCE))
        .dpop(dpop(DpopMode::Required));
    let doc = document(&serve_layer(required).await, WELL_KNOWN_PATH).await;
    assert_eq!(doc["dpop_signing_alg_values_supported"], json!(DPOP_ALGS));
    assert_eq!(doc["dpop_bound_access_tokens_required"], true);
    assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    assert!(doc.get("tls_client_certificate_bound_access_tokens").is_none());

    // Allowed, with every RFC 6750 method; the order of the settings does not matter.
    let allowed = BearerLayer::new(idp.verifier())
        .dpop(dpop(DpopMode::Allowed))
        .resource_metadata(metadata(RESOURCE))
        .token_location(QueryParameter)
        .token_location(FormBodyParameter); // what with_form_body() adds
    let document_service = allowed.metadata_service().unwrap();
    let doc: Value = serde_json::from_slice(document_service.document()).unwrap();
    assert_eq!(doc["dpop_signing_alg_values_supported"], json!(DPOP_ALGS));
    assert_eq!(doc["dpop_bound_access_tokens_required"], false);
    assert_eq!(doc["bearer_methods_supported"], json!(["header", "body", "query"]));

    // Off: no DPoP fields.
    let off = BearerLayer::new(idp.verifier()).dpop(dpop(DpopMode::Off)).resource_metadata(metadata(RESOURCE));
    let doc: Value = serde_json::from_slice(off.metadata_service().unwrap().document()).unwrap();
    assert!(doc.get("dpop_signing_alg_values_supported").is_none(), "{doc}");
    assert!(doc.get("dpop_bound_access_tokens_required").is_none(), "{doc}");
}

#[tokio::test]
async fn certificate_binding_field() {
    let idp = TestIssuer::start().await;
    let bound = BearerLayer::new(idp.verifier()).resource_metadata(metadata(RESOURCE)).certificate_binding(true);
    let doc = document(&serve_layer(bound).await, WELL_KNOWN_PATH).await;
    assert_eq!(doc["tls_client_certificate_bound_access_tokens"], true);
    let unbound = BearerLayer::new(idp.verifier()).resource_metadata(metadata(RESOURCE)).certificate_binding(false);
    let doc: Value = serde_json::from_slice(unbound.metadata_service().unwrap().document()).unwrap();
    assert!(doc.get("tls_client_certificate_bound_access_tokens").is_none(), "{doc}");
}

#[tokio::test]
async fn path_suffixed_resource() {
    let idp = TestIssuer::start().await;
    let resource = "https://api.example.com/api/v1";
    let auth = BearerLayer::new(idp.verifier()).realm(REALM).resource_metadata(metadata(resource));
    let paths: Vec<String> = auth.metadata_service().unwrap().paths().map(str::to_owned).collect();
    assert_eq!(paths, [WELL_KNOWN_PATH, "/.well-known/oauth-protected-resource/api/v1"]);
    let base = serve_layer(auth).await;
    for path in &paths {
        assert_eq!(document(&base, path).await["resource"], resource);
    }
    let r = get_with(&format!("{base}/items"), &[]).await;
    assert_eq!(
        r.challenge(),
        r#"Bearer realm="test", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/api/v1""#
    );
}

#[tokio::test]
async fn multiple_issuers_are_the_authorization_servers() {
    let (a, b) = (TestIssuer::start().await, TestIssuer::start().await);
    let secret = VerificationKey::hmac_secret(&[7; 32], None).unwrap();
    let verifier = JwtVerifier::builder()
        .issuer(Issuer::new(a.issuer()).keys(a.remote_jwks().build().unwrap()))
        .issuer(Issuer::new(b.issuer()).keys(b.remote_jwks().build().unwrap()))
        // A tenant template names no single server: not listed.
        .issuer(Issuer::new("https://login.example.com/{tenantid}/v2.0").keys(StaticKeys::from(secret)))
        .audience(TEST_AUDIENCE)
        .build()
        .unwrap();
    let meta = ResourceMetadata::builder(RESOURCE).authorization_server(b.issuer()).build().unwrap();
    let base = serve_layer(BearerLayer::new(verifier).resource_metadata(meta)).await;
    let doc = document(&base, WELL_KNOWN_PATH).await;
    assert_eq!(doc["authorization_servers"], json!([a.issuer(), b.issuer()]));
    assert!(doc.get("scopes_supported").is_none(), "{doc}");
    // Both issuers' tokens pass: the document names exactly who the layer trusts.
    for idp in [&a, &b] {
        let token = idp.token().scope("read:items").sign();
        assert_eq!(get_bearer(&format!("{base}/items"), &token).await.status, StatusCode::OK);
    }
}

#[test]
fn resource_validation_errors() {
    for (resource, says) in [
        ("http://api.example.com", "must use https://"),
        ("https://api.example.com/#frag", "must not have a fragment"),
        ("https://me:secret@api.example.com", "must not carry user info"),
        ("/relative", "not an absolute URL"),
        ("urn:example:api", "is not a URL"),
    ] {
        let err = ResourceMetadata::builder(resource).build().unwrap_err();
        assert!(err.to_string().contains(says), "{resource}: {err}");
    }
    assert!(ResourceMetadata::builder("http://127.0.0.1:3000").build().is_ok());
    let verifier = JwtVerifier::builder()
        .issuer(
            Issuer::new("https://a.example")
                .keys(StaticKeys::from(VerificationKey::hmac_secret(&[1; 32], None).unwrap())),
        )
        .audience("x")
        .build()
        .unwrap();
    let err = BearerLayer::new(verifier).metadata_service().unwrap_err();
    assert!(err.to_string().contains("no resource metadata"), "{err}");
}

#[tokio::test]
async fn challenges_reference_the_document() {
    let idp = TestIssuer::start().await;
    let reference = format!(r#"resource_metadata="{METADATA_URL}""#);
    // `challenge(..)` after the metadata keeps the reference.
    let auth = BearerLayer::new(idp.verifier())
        .resource_metadata(metadata(RESOURCE))
        .challenge(Challenge::new(REALM))
        .dpop(dpop(DpopMode::Allowed));
    let base = serve_layer(auth).await;
    let items = format!("{base}/items");

    // No token: both schemes offered, each naming the document.
    let r = get_with(&items, &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.challenge(),
        format!(
            r#"Bearer realm="test", {reference}, DPoP realm="test", algs="ES256 ES384 RS256 PS256 EdDSA", {reference}"#
        )
    );
    // A bad token (401) and a missing scope (403).
    let r = get_bearer(&items, "not.a.token").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.challenge().starts_with(r#"Bearer realm="test", error="invalid_token""#), "{}", r.challenge());
    assert_eq!(r.challenge().matches(&reference).count(), 2, "{}", r.challenge());
    let r = get_bearer(&items, &idp.token().scope("other").sign()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.challenge().contains(r#"scope="read:items""#), "{}", r.challenge());
    assert!(r.challenge().contains(&reference), "{}", r.challenge());
    // The document itself is public.
    assert_eq!(get_with(&format!("{base}{WELL_KNOWN_PATH}"), &[]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn grpc_challenges_reference_the_document() {
    use bytes::Bytes;
    use http::uri::PathAndQuery;
    use service::{ItemsServer, RawCodec};
    use tonic::Code;
    use tonic::transport::{Channel, Server};

    let idp = TestIssuer::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let layer = BearerLayer::new(idp.verifier()).realm("items").resource_metadata(metadata(RESOURCE)).grpc();
    let server = Server::builder()
        .layer(layer)
        .add_service(ItemsServer)
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
    tokio::spawn(server);
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    let call = |method: &'static str, token: Option<String>| {
        let channel = channel.clone();
        async move {
            let mut client = tonic::client::Grpc::new(channel);
            client.ready().await.unwrap();
            let mut request = tonic::Request::new(Bytes::new());
            if let Some(token) = token {
                request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
            }
            client.unary(request, PathAndQuery::from_static(method), RawCodec).await.unwrap_err()
        }
    };
    let status = call("/demo.Items/List", None).await;
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        status.metadata().get("www-authenticate").unwrap(),
        format!(r#"Bearer realm="items", resource_metadata="{METADATA_URL}""#).as_str()
    );
    // The per-method refusal (tower_bearer::tonic::authorize) uses the layer's challenge.
    let status = call("/demo.Items/Purge", Some(idp.token().sign())).await;
    assert_eq!(status.code(), Code::PermissionDenied);
    let challenge = status.metadata().get("www-authenticate").unwrap().to_str().unwrap();
    assert!(challenge.ends_with(&format!(r#"resource_metadata="{METADATA_URL}""#)), "{challenge}");
}
