//! TLS for the gRPC examples, with tonic's own TLS (rustls): `TLS_CERT` + `TLS_KEY`
//! (PEM) when given, else a self-signed certificate for `localhost` and `127.0.0.1`
//! generated at start (rcgen). Shared by `grpc_items` and `grpc_client`.

use std::error::Error;
use std::net::SocketAddr;

use tonic::transport::server::{ServerTlsConfig, TcpIncoming};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity, Server};
use tower_bearer::BearerLayer;
use tower_bearer::testing::TestIssuer;

use super::service::ItemsServer;

/// The server's identity, and what a client of it trusts.
pub(crate) struct ServerTls {
    identity: Identity,
    /// PEM roots for the demo clients: `TLS_CA`, else `TLS_CERT` itself, else the
    /// generated certificate.
    pub(crate) client_roots: String,
}

/// `TLS_CERT` + `TLS_KEY` (and `TLS_CA` for the demo client) if set, else a fresh
/// self-signed certificate.
pub(crate) fn from_env_or_generated() -> Result<ServerTls, Box<dyn Error>> {
    let var = |name: &str| std::env::var(name).ok().filter(|s| !s.is_empty());
    let read = |name: &str, path: &str| std::fs::read_to_string(path).map_err(|e| format!("{name} {path}: {e}"));
    let (cert, key) = match (var("TLS_CERT"), var("TLS_KEY")) {
        (Some(cert), Some(key)) => (read("TLS_CERT", &cert)?, read("TLS_KEY", &key)?),
        (None, None) => {
            let generated = rcgen::generate_simple_self_signed(["localhost".to_owned(), "127.0.0.1".to_owned()])?;
            (generated.cert.pem(), generated.signing_key.serialize_pem())
        }
        _ => return Err("TLS_CERT and TLS_KEY go together".into()),
    };
    let client_roots = match var("TLS_CA") {
        Some(path) => read("TLS_CA", &path)?,
        None => cert.clone(),
    };
    Ok(ServerTls { identity: Identity::from_pem(cert, key), client_roots })
}

/// Serves the items service over TLS on 127.0.0.1 (an ephemeral port), behind the
/// layer trusting `idp`; returns the address.
pub(crate) async fn serve(idp: &TestIssuer, tls: &ServerTls) -> Result<SocketAddr, Box<dyn Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = Server::builder()
        .tls_config(ServerTlsConfig::new().identity(tls.identity.clone()))?
        .layer(BearerLayer::new(idp.verifier()).grpc())
        .add_service(ItemsServer)
        .serve_with_incoming(TcpIncoming::from(listener));
    tokio::spawn(server);
    Ok(addr)
}

/// One TLS channel (one HTTP/2 connection, reconnected only if it drops) to `addr`,
/// trusting `roots` (PEM); `TLS_DOMAIN` names the certificate's host if it is not
/// `127.0.0.1`.
pub(crate) async fn channel(addr: SocketAddr, roots: &str) -> Result<Channel, Box<dyn Error>> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(roots));
    if let Some(domain) = std::env::var("TLS_DOMAIN").ok().filter(|s| !s.is_empty()) {
        tls = tls.domain_name(domain);
    }
    Ok(Channel::from_shared(format!("https://{addr}"))?.tls_config(tls)?.connect().await?)
}
