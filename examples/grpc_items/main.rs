//! A tonic server protected by the same layer, and a client calling it:
//! `cargo run --example grpc_items`. Needs no protoc.

mod service;

use bytes::Bytes;
use http::uri::PathAndQuery;
use tonic::transport::{Channel, Server};
use tower_bearer::BearerLayer;
use tower_bearer::testing::TestIssuer;

use service::{ItemsServer, RawCodec};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A local identity provider stands in for Keycloak, Entra ID, Auth0...
    let idp = TestIssuer::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = Server::builder()
        .layer(BearerLayer::new(idp.verifier()).grpc())
        .add_service(ItemsServer)
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
    tokio::spawn(server);
    println!("listening on http://{addr}");

    let channel = Channel::from_shared(format!("http://{addr}"))?.connect().await?;
    let reader = idp.token().subject("reader").sign();
    let admin = idp.token().subject("root").role("items.admin").sign();
    for (label, token, method) in [
        ("no token", None, "/demo.Items/List"),
        ("reader lists", Some(&reader), "/demo.Items/List"),
        ("reader purges", Some(&reader), "/demo.Items/Purge"),
        ("admin purges", Some(&admin), "/demo.Items/Purge"),
    ] {
        let result = call(channel.clone(), method, token.map(String::as_str)).await;
        match result {
            Ok(body) => println!("{label}: OK {body:?}"),
            Err(status) => println!("{label}: {:?} {}", status.code(), status.message()),
        }
    }
    Ok(())
}

async fn call(channel: Channel, method: &'static str, token: Option<&str>) -> Result<Bytes, tonic::Status> {
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let mut request = tonic::Request::new(Bytes::new());
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().map_err(|_| tonic::Status::internal("bad token"))?;
        request.metadata_mut().insert("authorization", value);
    }
    client.unary(request, PathAndQuery::from_static(method), RawCodec).await.map(|r| r.into_inner())
}
