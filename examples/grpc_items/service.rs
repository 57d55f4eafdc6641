//! A tiny gRPC service written without protoc: messages are raw UTF-8 bytes.
//! Shared by the `grpc_items` and `grpc_client` examples and `tests/grpc.rs`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::NamedService;
use tonic::{Request, Response, Status};
use tower_bearer::policy::role;

/// `demo.Items/List` needs any valid token; `demo.Items/Purge` needs role `items.admin`;
/// `demo.Items/Whoami` (any valid token) names the token's subject and the connection.
#[derive(Clone, Default)]
pub(crate) struct ItemsServer;

impl NamedService for ItemsServer {
    const NAME: &'static str = "demo.Items";
}

impl tower::Service<http::Request<tonic::body::Body>> for ItemsServer {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(RawCodec);
            let res = match req.uri().path() {
                "/demo.Items/List" => grpc.unary(tower::service_fn(list), req).await,
                "/demo.Items/Purge" => grpc.unary(tower::service_fn(purge), req).await,
                "/demo.Items/Whoami" => grpc.unary(tower::service_fn(whoami), req).await,
                _ => Status::unimplemented("no such method").into_http(),
            };
            Ok(res)
        })
    }
}

async fn list(request: Request<Bytes>) -> Result<Response<Bytes>, Status> {
    let token = tower_bearer::tonic::verified_token(&request)?;
    let who = token.subject().unwrap_or("?");
    Ok(Response::new(Bytes::from(format!("items for {who}"))))
}

async fn purge(request: Request<Bytes>) -> Result<Response<Bytes>, Status> {
    tower_bearer::tonic::authorize(&request, &role("items.admin"))?;
    Ok(Response::new(Bytes::from_static(b"purged")))
}

/// Which token (its subject) came over which connection (the client's address).
async fn whoami(request: Request<Bytes>) -> Result<Response<Bytes>, Status> {
    let who = tower_bearer::tonic::verified_token(&request)?.subject().unwrap_or("?").to_owned();
    let peer = request.remote_addr().map_or_else(|| "?".to_owned(), |addr| addr.to_string());
    Ok(Response::new(Bytes::from(format!("{who} over the connection from {peer}"))))
}

/// Messages as raw bytes, so no .proto file or protoc is needed.
#[derive(Clone, Copy, Default)]
pub(crate) struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
