//! A tonic server protected by the same layer, over TLS, and a client calling it:
//! `cargo run --example grpc_items`. Needs no protoc.
//!
//! TLS is tonic's own (rustls). Environment, all optional:
//! - `TLS_CERT` + `TLS_KEY`: PEM certificate chain and private key; without them a
//!   self-signed certificate for `localhost` and `127.0.0.1` is generated at start;
//! - `TLS_CA`: PEM roots the demo client trusts (default: `TLS_CERT`, or the generated
//!   certificate); `TLS_DOMAIN`: the name to check in the server's certificate when it
//!   does not cover `127.0.0.1`.
//!
//! It prints `listening on https://ADDR`, then one line per demo call.

mod service;
mod tls;

use bytes::Bytes;
use http::uri::PathAndQuery;
use tonic::transport::Channel;
use tower_bearer::testing::TestIssuer;

use service::RawCodec;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A local identity provider stands in for Keycloak, Entra ID, Auth0...
    let idp = TestIssuer::start().await;
    let tls = tls::from_env_or_generated()?;
    let addr = tls::serve(&idp, &tls).await?;
    println!("listening on https://{addr}");

    let channel = tls::channel(addr, &tls.client_roots).await?;
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
