//! A tonic server behind the layer, called by a tonic client over 127.0.0.1.

#[path = "../examples/grpc_items/service.rs"]
mod service;

use bytes::Bytes;
use http::uri::PathAndQuery;
use service::{ItemsServer, RawCodec};
use tonic::Code;
use tonic::transport::{Channel, Server};
use tower_bearer::BearerLayer;
use tower_bearer::testing::{Outage, TestIssuer};

async fn start(idp: &TestIssuer) -> Channel {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder()
        .layer(BearerLayer::new(idp.verifier()).realm("items").grpc())
        .add_service(ItemsServer)
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
    tokio::spawn(server);
    Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap()
}

async fn call(channel: &Channel, method: &'static str, token: Option<&str>) -> Result<Bytes, tonic::Status> {
    let mut client = tonic::client::Grpc::new(channel.clone());
    client.ready().await.unwrap();
    let mut request = tonic::Request::new(Bytes::new());
    if let Some(token) = token {
        request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    client.unary(request, PathAndQuery::from_static(method), RawCodec).await.map(|r| r.into_inner())
}

#[tokio::test]
async fn grpc_statuses() {
    let idp = TestIssuer::start().await;
    let channel = start(&idp).await;

    let status = call(&channel, "/demo.Items/List", None).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.metadata().get("www-authenticate").unwrap(), r#"Bearer realm="items""#);

    let status = call(&channel, "/demo.Items/List", Some("garbage.token.here")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.metadata().get("www-authenticate").unwrap().to_str().unwrap().contains("invalid_token"));

    let reader = idp.token().subject("reader").sign();
    assert_eq!(call(&channel, "/demo.Items/List", Some(&reader)).await.unwrap(), "items for reader");

    // Per-method requirement: Purge needs a role the token lacks. The answer carries the
    // layer's challenge, realm included (issue 12 item 15).
    let status = call(&channel, "/demo.Items/Purge", Some(&reader)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(status.message(), "missing role 'items.admin'");
    let challenge = status.metadata().get("www-authenticate").unwrap().to_str().unwrap();
    assert!(challenge.starts_with(r#"Bearer realm="items", error="insufficient_scope""#), "{challenge}");

    let admin = idp.token().role("items.admin").sign();
    assert_eq!(call(&channel, "/demo.Items/Purge", Some(&admin)).await.unwrap(), "purged");
}

#[tokio::test]
async fn grpc_unavailable_when_no_keys() {
    let idp = TestIssuer::start().await;
    idp.set_outage(Outage::Status(503));
    let channel = start(&idp).await;
    let status = call(&channel, "/demo.Items/List", Some(&idp.token().sign())).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
}

#[tokio::test]
async fn grpc_client_channel_gets_tokens_from_the_layer() {
    use tower_bearer::client::{AccessToken, AddTokenLayer, StaticToken};
    let idp = TestIssuer::start().await;
    let channel = start(&idp).await;
    let token = StaticToken::new(AccessToken::new(idp.token().subject("svc").sign(), None));
    let authorized = tower::ServiceBuilder::new().layer(AddTokenLayer::new(token)).service(channel);
    let mut client = tonic::client::Grpc::new(authorized);
    client.ready().await.unwrap();
    let reply = client
        .unary(tonic::Request::new(Bytes::new()), PathAndQuery::from_static("/demo.Items/List"), RawCodec)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply, "items for svc", "the call carried `authorization` metadata");
}

/// Issue 12 item 19: a malformed request is `INVALID_ARGUMENT`, not `UNAUTHENTICATED`.
#[tokio::test]
async fn grpc_invalid_request_is_invalid_argument() {
    let idp = TestIssuer::start().await;
    let channel = start(&idp).await;
    let status = call(&channel, "/demo.Items/List", Some("two words")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let challenge = status.metadata().get("www-authenticate").unwrap().to_str().unwrap();
    assert!(challenge.contains(r#"error="invalid_request""#), "{challenge}");
}

#[tokio::test]
async fn grpc_with_dpop() {
    // The same checks and challenges over gRPC: a proof names POST and the method's URL;
    // refusals are UNAUTHENTICATED / PERMISSION_DENIED with the DPoP challenge as metadata.
    use tower_bearer::Algorithm;
    use tower_bearer::dpop::{Dpop, DpopMode, NonceSecret};
    use tower_bearer::signing::DpopKey;

    let idp = TestIssuer::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let dpop = Dpop::builder(DpopMode::Required)
        .public_url(&base)
        .require_nonces(NonceSecret::from_bytes(&[9; 32]).unwrap())
        .build()
        .unwrap();
    let server = Server::builder()
        .layer(BearerLayer::new(idp.verifier()).realm("items").dpop(dpop).grpc())
        .add_service(ItemsServer)
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
    tokio::spawn(server);
    let channel = Channel::from_shared(base.clone()).unwrap().connect().await.unwrap();
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let call = |method: &'static str, token: String, proof: String| {
        let channel = channel.clone();
        async move {
            let mut client = tonic::client::Grpc::new(channel);
            client.ready().await.unwrap();
            let mut request = tonic::Request::new(Bytes::new());
            request.metadata_mut().insert("authorization", format!("DPoP {token}").parse().unwrap());
            request.metadata_mut().insert("dpop", proof.parse().unwrap());
            client.unary(request, PathAndQuery::from_static(method), RawCodec).await.map(|r| r.into_inner())
        }
    };
    let token = idp.token().subject("reader").dpop_bound(&key).sign();
    let list = format!("{base}/demo.Items/List");

    // First call: the server asks for its nonce.
    let status = call("/demo.Items/List", token.clone(), key.proof("POST", &list).access_token(&token).sign().unwrap())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let challenge = status.metadata().get("www-authenticate").unwrap().to_str().unwrap();
    assert!(challenge.starts_with(r#"DPoP realm="items", error="use_dpop_nonce""#), "{challenge}");
    let nonce = status.metadata().get("dpop-nonce").expect("a nonce").to_str().unwrap().to_owned();

    let proof = |url: &str| key.proof("POST", url).access_token(&token).nonce(&nonce).sign().unwrap();
    assert_eq!(call("/demo.Items/List", token.clone(), proof(&list)).await.unwrap(), "items for reader");
    // Another method's URL in the proof.
    let status = call("/demo.Items/List", token.clone(), proof(&format!("{base}/demo.Items/Purge"))).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let challenge = status.metadata().get("www-authenticate").unwrap().to_str().unwrap();
    assert!(challenge.contains(r#"error="invalid_dpop_proof""#) && challenge.contains("algs="), "{challenge}");
    // A per-method requirement refuses on the DPoP challenge.
    let purge = format!("{base}/demo.Items/Purge");
    let status = call("/demo.Items/Purge", token.clone(), proof(&purge)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let challenge = status.metadata().get("www-authenticate").unwrap().to_str().unwrap();
    assert!(challenge.starts_with(r#"DPoP realm="items", error="insufficient_scope""#), "{challenge}");
}
