//! Certificate-bound tokens (RFC 8705 §3) over real TLS with client certificates: an
//! axum router behind the layer, served by tokio-rustls with optional client
//! certificates from a test CA (the example's serving code and
//! `tls::ClientCertificateLayer`); reqwest clients with and without certificates. And
//! tonic's TLS server, with the recipe of the `tls` module's documentation.

mod common;
#[path = "../examples/grpc_items/service.rs"]
mod service;
#[path = "common/tls.rs"]
mod tls;

use common::{INVALID, REALM, Reply, app};
use reqwest::StatusCode;
use tls::{Issued, TestCa, https_client, serve_https};
use tower_bearer::BearerLayer;
use tower_bearer::testing::TestIssuer;

/// A server with its CA, an issuer, and two clients of that CA.
struct Setup {
    idp: TestIssuer,
    ca: TestCa,
    alice: Issued,
    bob: Issued,
    base: String,
}

/// `/me`, `/items` (scope `read:items`) over TLS; client certificates from the setup's
/// CA; the layer checks certificate binding if `binding`.
async fn setup(binding: bool) -> Setup {
    let idp = TestIssuer::start().await;
    let ca = TestCa::new("clients and server");
    let layer = BearerLayer::new(idp.verifier()).realm(REALM).certificate_binding(binding);
    let base = serve_https(app(layer), &ca.server(), Some(&ca)).await;
    let (alice, bob) = (ca.client("alice"), ca.client("bob"));
    Setup { idp, ca, alice, bob, base }
}

impl Setup {
    fn client(&self, identity: Option<&Issued>) -> reqwest::Client {
        https_client(&self.ca, identity)
    }

    fn bound_to(&self, who: &Issued) -> String {
        self.idp.token().subject("alice").certificate_bound(&who.certificate()).sign()
    }
}

async fn get(client: &reqwest::Client, url: &str, token: &str) -> Reply {
    tls::get_via(client, url, Some(token)).await
}

#[track_caller]
fn assert_invalid_token(r: &Reply) {
    // RFC 8705 §3: a certificate-bound token uses the Bearer scheme, and a binding
    // that does not hold is invalid_token.
    assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, INVALID), "{}", r.body);
}

#[tokio::test]
async fn bound_token_with_its_certificate_passes() {
    let s = setup(true).await;
    let (token, alice) = (s.bound_to(&s.alice), s.client(Some(&s.alice)));
    let r = get(&alice, &format!("{}/me", s.base), &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["sub"], "alice");
    // Cached now: the binding is still checked on every hit.
    assert_invalid_token(&get(&s.client(Some(&s.bob)), &format!("{}/me", s.base), &token).await);
    assert_eq!(get(&alice, &format!("{}/me", s.base), &token).await.status, StatusCode::OK);
    // A requirement the bound token does not meet: 403 on the Bearer scheme.
    let r = get(&alice, &format!("{}/items", s.base), &token).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.challenge().starts_with(r#"Bearer realm="test", error="insufficient_scope""#), "{}", r.challenge());
    let reader = s.idp.token().scope("read:items").certificate_bound(&s.alice.certificate()).sign();
    assert_eq!(get(&alice, &format!("{}/items", s.base), &reader).await.status, StatusCode::OK);
}

#[tokio::test]
async fn another_certificate_from_the_same_ca_is_invalid_token() {
    let s = setup(true).await;
    let r = get(&s.client(Some(&s.bob)), &format!("{}/me", s.base), &s.bound_to(&s.alice)).await;
    assert_invalid_token(&r);
}

#[tokio::test]
async fn bound_token_without_a_certificate_is_invalid_token() {
    let s = setup(true).await;
    let r = get(&s.client(None), &format!("{}/me", s.base), &s.bound_to(&s.alice)).await;
    assert_invalid_token(&r);
}

#[tokio::test]
async fn unbound_token_passes_with_or_without_a_certificate() {
    let s = setup(true).await;
    let token = s.idp.token().sign();
    for identity in [None, Some(&s.alice)] {
        let r = get(&s.client(identity), &format!("{}/me", s.base), &token).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
}

#[tokio::test]
async fn certificate_from_an_unknown_ca_fails_the_handshake() {
    let s = setup(true).await;
    let mallory = TestCa::new("someone else").client("mallory");
    let token = s.idp.token().certificate_bound(&mallory.certificate()).sign();
    let err = s.client(Some(&mallory)).get(format!("{}/me", s.base)).bearer_auth(&token).send().await.unwrap_err();
    assert!(err.status().is_none(), "no HTTP answer at all: {err:?}");
    assert!(err.is_connect() || err.is_request(), "{err:?}");
    // The server is still there for the others.
    let r = get(&s.client(Some(&s.alice)), &format!("{}/me", s.base), &s.bound_to(&s.alice)).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn without_certificate_binding_bound_tokens_are_refused() {
    let s = setup(false).await;
    let alice = s.client(Some(&s.alice));
    assert_invalid_token(&get(&alice, &format!("{}/me", s.base), &s.bound_to(&s.alice)).await);
    assert_eq!(get(&alice, &format!("{}/me", s.base), &s.idp.token().sign()).await.status, StatusCode::OK);
}

/// A server that never inserts the certificate (here: plain HTTP) refuses every
/// certificate-bound token: the layer fails closed.
#[tokio::test]
async fn without_the_peer_certificate_extension_bound_tokens_are_refused() {
    let idp = TestIssuer::start().await;
    let base = common::serve(app(BearerLayer::new(idp.verifier()).realm(REALM).certificate_binding(true))).await;
    let cert = TestCa::new("ca").client("alice").certificate();
    common::assert_invalid(&format!("{base}/me"), &idp.token().certificate_bound(&cert).sign()).await;
    assert_eq!(common::get_bearer(&format!("{base}/me"), &idp.token().sign()).await.status, StatusCode::OK);
}

#[test]
fn certificate_bound_sets_the_thumbprint_beside_other_cnf_members() {
    use base64::Engine as _;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let idp = rt.block_on(TestIssuer::start());
    let cert = TestCa::new("ca").client("alice");
    let token = idp.token().claim("cnf", serde_json::json!({"jkt": "x"})).certificate_bound(&cert.certificate()).sign();
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    use sha2::Digest as _;
    let x5t = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&cert.der));
    assert_eq!(claims["cnf"], serde_json::json!({"jkt": "x", "x5t#S256": x5t}));
}

mod grpc {
    use bytes::Bytes;
    use http::uri::PathAndQuery;
    use tonic::Code;
    use tonic::transport::server::{ServerTlsConfig, TcpConnectInfo, TcpIncoming, TlsConnectInfo};
    use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity, Server};
    use tower_bearer::BearerLayer;
    use tower_bearer::testing::TestIssuer;
    use tower_bearer::tls::{ClientCertificate, PeerCertificate};

    use super::service::{ItemsServer, RawCodec};
    use super::tls::{Issued, TestCa};

    /// tonic's TLS server with optional client certificates from `ca`, the layer
    /// placed as the `tls` module's documentation says.
    async fn start(idp: &TestIssuer, ca: &TestCa) -> String {
        let server = ca.server();
        let peer_certificate = tower::util::MapRequestLayer::new(|mut req: http::Request<tonic::body::Body>| {
            let chain = req.extensions().get::<TlsConnectInfo<TcpConnectInfo>>().and_then(|info| info.peer_certs());
            let certificate = chain.as_deref().and_then(ClientCertificate::from_chain);
            req.extensions_mut().insert(PeerCertificate(certificate));
            req
        });
        let tls = ServerTlsConfig::new()
            .identity(Identity::from_pem(&server.cert_pem, &server.key_pem))
            .client_ca_root(Certificate::from_pem(ca.pem()))
            .client_auth_optional(true);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serving = Server::builder()
            .tls_config(tls)
            .unwrap()
            .layer(peer_certificate)
            .layer(BearerLayer::new(idp.verifier()).realm("items").certificate_binding(true).grpc())
            .add_service(ItemsServer)
            .serve_with_incoming(TcpIncoming::from(listener));
        tokio::spawn(serving);
        format!("https://{addr}")
    }

    async fn call(url: &str, ca: &TestCa, identity: Option<&Issued>, token: &str) -> Result<Bytes, tonic::Status> {
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca.pem())).domain_name("localhost");
        if let Some(issued) = identity {
            tls = tls.identity(Identity::from_pem(&issued.cert_pem, &issued.key_pem));
        }
        let channel = Channel::from_shared(url.to_owned()).unwrap().tls_config(tls).unwrap().connect().await.unwrap();
        let mut client = tonic::client::Grpc::new(channel);
        client.ready().await.unwrap();
        let mut request = tonic::Request::new(Bytes::new());
        request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        client.unary(request, PathAndQuery::from_static("/demo.Items/List"), RawCodec).await.map(|r| r.into_inner())
    }

    #[tokio::test]
    async fn tonic_tls_server_checks_certificate_bound_tokens() {
        let idp = TestIssuer::start().await;
        let ca = TestCa::new("grpc");
        let url = start(&idp, &ca).await;
        let (alice, bob) = (ca.client("alice"), ca.client("bob"));
        let token = idp.token().subject("alice").certificate_bound(&alice.certificate()).sign();

        assert_eq!(call(&url, &ca, Some(&alice), &token).await.unwrap(), "items for alice");
        for identity in [Some(&bob), None] {
            let status = call(&url, &ca, identity, &token).await.unwrap_err();
            assert_eq!(status.code(), Code::Unauthenticated);
            let challenge = status.metadata().get("www-authenticate").unwrap().to_str().unwrap();
            assert!(challenge.starts_with(r#"Bearer realm="items", error="invalid_token""#), "{challenge}");
        }
        let unbound = idp.token().subject("carol").sign();
        assert_eq!(call(&url, &ca, None, &unbound).await.unwrap(), "items for carol");
    }
}
