//! A gRPC client calling a TLS server with a token, then replacing the token on the
//! live channel: `cargo run --example grpc_client`. Needs no setup and no protoc.
//!
//! It starts its own identity provider and the `grpc_items` service over TLS (same
//! environment: `TLS_CERT`, `TLS_KEY`, `TLS_CA`, `TLS_DOMAIN`; a certificate is generated
//! when none is given), opens one TLS channel, and calls it through
//! [`AddTokenLayer`] holding a [`StaticToken`]. When the application gets a new token
//! (from its own login flow, a sidecar, a token file...), `StaticToken::replace` swaps
//! it: the next call on the same channel, over the same connection, carries the new
//! one; nothing reconnects or rebuilds the client.
//!
//! It prints `listening on https://ADDR`, then what the server saw for each call:
//! the token's subject and the client address of the connection.

#[path = "grpc_items/service.rs"]
mod service;
#[path = "grpc_items/tls.rs"]
mod tls;

use bytes::Bytes;
use http::uri::PathAndQuery;
use tower_bearer::client::{AccessToken, AddTokenLayer, StaticToken};
use tower_bearer::testing::TestIssuer;

use service::RawCodec;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let idp = TestIssuer::start().await;
    let tls = tls::from_env_or_generated()?;
    let addr = tls::serve(&idp, &tls).await?;
    println!("listening on https://{addr}");

    let channel = tls::channel(addr, &tls.client_roots).await?;
    let token = StaticToken::new(AccessToken::new(idp.token().subject("first-token").sign(), None));
    let authorized = tower::ServiceBuilder::new().layer(AddTokenLayer::new(token.clone())).service(channel);
    let mut client = tonic::client::Grpc::new(authorized);

    println!("first call: {}", whoami(&mut client).await?);
    // A new token for the same channel, as from a refresh elsewhere in the application.
    token.replace(AccessToken::new(idp.token().subject("second-token").sign(), None));
    println!("token replaced on the live channel");
    println!("second call: {}", whoami(&mut client).await?);
    Ok(())
}

/// Calls `demo.Items/Whoami`: the server answers with the token's subject and the
/// connection's client address.
async fn whoami<T>(client: &mut tonic::client::Grpc<T>) -> Result<String, tonic::Status>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::ResponseBody: http_body::Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    T::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    client.ready().await.map_err(|e| tonic::Status::unavailable(e.into().to_string()))?;
    let answer = client
        .unary(tonic::Request::new(Bytes::new()), PathAndQuery::from_static("/demo.Items/Whoami"), RawCodec)
        .await?;
    Ok(String::from_utf8_lossy(&answer.into_inner()).into_owned())
}
