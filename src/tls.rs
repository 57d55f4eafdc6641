//! Certificate-bound tokens (RFC 8705 §3): the TLS client certificate of the
//! connection, handed to the layer as a request extension.
//!
//! A token whose `cnf["x5t#S256"]` names a certificate passes only over a connection
//! whose client certificate has that SHA-256 thumbprint, and only with
//! [`BearerLayer::certificate_binding(true)`](crate::BearerLayer::certificate_binding).
//! It still uses the `Bearer` scheme; a mismatch is `401 invalid_token`. The layer
//! sees HTTP requests, not connections: the server puts each connection's certificate
//! into its requests as a [`PeerCertificate`]. Without that extension every
//! certificate-bound token is refused (and a warning logged once): it fails closed.
//!
//! The TLS server verifies the certificate chain: ask for client certificates issued
//! by the CAs you accept (rustls: `WebPkiClientVerifier::builder(roots)`, with
//! `.allow_unauthenticated()` when some clients come without one, whose bound tokens
//! are then refused). A certificate from another CA fails the handshake.
//!
//! # axum with tokio-rustls
//!
//! An accept loop: the TLS handshake, then the leaf certificate of the peer's chain
//! (first in `peer_certificates()`) into a [`ClientCertificateLayer`] around the
//! router, one per connection, served by hyper-util. (`axum::serve` makes its
//! services before it knows anything of the TLS session, so it cannot do this.)
//!
//! ```no_run
//! # async fn run(config: std::sync::Arc<rustls::ServerConfig>, verifier: tower_bearer::JwtVerifier) -> std::io::Result<()> {
//! use std::time::Duration;
//!
//! use axum::Router;
//! use axum::routing::get;
//! use hyper_util::rt::{TokioExecutor, TokioIo};
//! use hyper_util::server::conn::auto::Builder;
//! use hyper_util::service::TowerToHyperService;
//! use tower::Layer as _;
//! use tower_bearer::BearerLayer;
//! use tower_bearer::tls::{ClientCertificate, ClientCertificateLayer};
//!
//! // `config`: rustls with a client certificate verifier (see above).
//! let acceptor = tokio_rustls::TlsAcceptor::from(config);
//! let app = Router::new()
//!     .route("/me", get(|| async { "hello" }))
//!     .layer(BearerLayer::new(verifier).certificate_binding(true));
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:443").await?;
//! loop {
//!     let (tcp, _peer) = listener.accept().await?;
//!     let (acceptor, app) = (acceptor.clone(), app.clone());
//!     tokio::spawn(async move {
//!         // A failed handshake (e.g. a certificate from an unknown CA) ends here.
//!         let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await else {
//!             return;
//!         };
//!         let certificate = tls.get_ref().1.peer_certificates().and_then(ClientCertificate::from_chain);
//!         let service = ClientCertificateLayer::new(certificate).layer(app);
//!         let _ = Builder::new(TokioExecutor::new())
//!             .serve_connection_with_upgrades(TokioIo::new(tls), TowerToHyperService::new(service))
//!             .await;
//!     });
//! }
//! # }
//! ```
//!
//! # tonic
//!
//! tonic's TLS server (its `tls-aws-lc` or `tls-ring` feature) puts the connection's
//! chain into every request's extensions (`TlsConnectInfo<TcpConnectInfo>`, read by
//! `Request::peer_certs()` in handlers), outside the layers of `Server::builder()`: a
//! layer placed before the [`BearerLayer`](crate::BearerLayer) turns it into a
//! [`PeerCertificate`]. (`peer_certs()` inside a handler comes too late: the token has
//! been checked by then.)
//!
//! ```no_run
//! # async fn run(identity: tonic::transport::Identity, client_ca: tonic::transport::Certificate, verifier: tower_bearer::JwtVerifier) -> Result<(), Box<dyn std::error::Error>> {
//! use tonic::service::Routes;
//! use tonic::transport::Server;
//! use tonic::transport::server::{ServerTlsConfig, TcpConnectInfo, TlsConnectInfo};
//! use tower_bearer::BearerLayer;
//! use tower_bearer::tls::{ClientCertificate, PeerCertificate};
//!
//! let peer_certificate = tower::util::MapRequestLayer::new(|mut req: http::Request<tonic::body::Body>| {
//!     let chain = req.extensions().get::<TlsConnectInfo<TcpConnectInfo>>().and_then(|info| info.peer_certs());
//!     let certificate = chain.as_deref().and_then(ClientCertificate::from_chain);
//!     req.extensions_mut().insert(PeerCertificate(certificate));
//!     req
//! });
//! let tls = ServerTlsConfig::new().identity(identity).client_ca_root(client_ca).client_auth_optional(true);
//! Server::builder()
//!     .tls_config(tls)?
//!     .layer(peer_certificate)
//!     .layer(BearerLayer::new(verifier).certificate_binding(true).grpc())
//!     .add_routes(Routes::default()) // your services
//!     .serve("0.0.0.0:443".parse()?)
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Behind a TLS-terminating proxy the certificate reaches the server in a header of
//! the proxy's own: trust it only from the proxy (a client must not be able to set it),
//! parse it, and insert the [`PeerCertificate`] the same way.

use bytes::Bytes;
use sha2::{Digest, Sha256};

mod layer;

pub use layer::{ClientCertificateLayer, ClientCertificateService};

/// A TLS client certificate (DER), with its SHA-256 thumbprint computed once.
///
/// ```
/// use tower_bearer::tls::ClientCertificate;
/// let cert = ClientCertificate::from_der(vec![0x30, 0x00]);
/// assert_eq!(cert.der(), [0x30, 0x00]);
/// assert_eq!(cert.thumbprint().len(), 32);
/// ```
#[derive(Clone)]
pub struct ClientCertificate {
    der: Bytes,
    thumbprint: [u8; 32],
}

impl ClientCertificate {
    /// The certificate from its DER encoding (the leaf of the peer's chain).
    pub fn from_der(der: impl Into<Bytes>) -> Self {
        let der = der.into();
        let thumbprint = Sha256::digest(&der).into();
        Self { der, thumbprint }
    }

    /// The leaf of a peer's chain as TLS libraries hand it over, leaf first (rustls'
    /// `peer_certificates()`, tonic's `peer_certs()`); `None` for an empty chain.
    ///
    /// ```
    /// use tower_bearer::tls::ClientCertificate;
    /// let chain = [vec![0x30, 0x01], vec![0x30, 0x02]];
    /// assert_eq!(ClientCertificate::from_chain(&chain).unwrap().der(), [0x30, 0x01]);
    /// assert!(ClientCertificate::from_chain(Vec::<Vec<u8>>::new()).is_none());
    /// ```
    pub fn from_chain<C: AsRef<[u8]>>(chain: impl IntoIterator<Item = C>) -> Option<Self> {
        let leaf = chain.into_iter().next()?;
        Some(Self::from_der(Bytes::copy_from_slice(leaf.as_ref())))
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// SHA-256 of the DER encoding: what a token's `cnf["x5t#S256"]` names.
    pub fn thumbprint(&self) -> &[u8; 32] {
        &self.thumbprint
    }
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use base64::Engine as _;
        let x5t = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.thumbprint);
        f.debug_struct("ClientCertificate").field("x5t#S256", &x5t).finish_non_exhaustive()
    }
}

/// The request extension the layer reads: the connection's client certificate, or
/// `None` when the client presented none. Its absence means no code put it there:
/// a certificate-bound token is then refused, and a warning logged once.
/// [`ClientCertificateLayer`] inserts it.
#[derive(Debug, Clone)]
pub struct PeerCertificate(pub Option<ClientCertificate>);
