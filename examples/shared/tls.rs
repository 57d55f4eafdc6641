//! HTTPS for the `protected_api` example (not an example itself): `TLS_CERT` and
//! `TLS_KEY`, optional client certificates from `TLS_CLIENT_CA`, and each
//! connection's client certificate handed to the layer (RFC 8705 §3).

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rustls::RootCertStore;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::Layer as _;
use tower_bearer::tls::{ClientCertificate, ClientCertificateLayer};

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server's TLS settings.
pub(crate) struct Tls {
    pub(crate) config: Arc<ServerConfig>,
    /// The server's certificate chain, leaf first.
    pub(crate) chain: Vec<CertificateDer<'static>>,
    /// `TLS_CLIENT_CA` is set: client certificates are asked for and bound tokens checked.
    pub(crate) client_certificates: bool,
}

/// aws-lc-rs, named rather than installed as the process default: nothing here
/// depends on which providers the build happens to enable.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// `TLS_CERT` + `TLS_KEY` (PEM), with `TLS_CLIENT_CA` (PEM) if set; `None` without TLS.
pub(crate) fn from_env() -> Result<Option<Tls>, Box<dyn Error>> {
    let var = |name: &str| std::env::var(name).ok().filter(|s| !s.is_empty());
    let (cert, key) = match (var("TLS_CERT"), var("TLS_KEY"), var("TLS_CLIENT_CA")) {
        (Some(cert), Some(key), _) => (cert, key),
        (None, None, None) => return Ok(None),
        (None, None, Some(_)) => return Err("TLS_CLIENT_CA needs TLS_CERT and TLS_KEY".into()),
        _ => return Err("TLS_CERT and TLS_KEY go together".into()),
    };
    let chain = read_certificates("TLS_CERT", &cert)?;
    let key = PrivateKeyDer::from_pem_file(&key).map_err(|e| format!("TLS_KEY {key}: {e}"))?;
    let client_ca = var("TLS_CLIENT_CA").map(|path| read_certificates("TLS_CLIENT_CA", &path)).transpose()?;
    let client_certificates = client_ca.is_some();
    let config = server_config(chain.clone(), key, client_ca)?;
    Ok(Some(Tls { config, chain, client_certificates }))
}

/// Every certificate of the PEM file `path` (named by the variable `var` in errors).
pub(crate) fn read_certificates(var: &str, path: &str) -> Result<Vec<CertificateDer<'static>>, Box<dyn Error>> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| format!("{var} {path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{var} {path}: no certificate").into());
    }
    Ok(certs)
}

/// TLS 1.2 and 1.3 with `chain` and `key`; with `client_ca`, client certificates are
/// asked for and verified against it. They stay optional: a client without one
/// connects (its certificate-bound tokens are refused), one whose certificate another
/// CA issued fails the handshake.
pub(crate) fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: Option<Vec<CertificateDer<'static>>>,
) -> Result<Arc<ServerConfig>, Box<dyn Error>> {
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(certs) => {
            let mut roots = RootCertStore::empty();
            for cert in certs {
                roots.add(cert)?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `app` over TLS. Each connection's requests carry its client certificate
/// (for the layer) and its address (`ConnectInfo`, for the dev issuer's login limits,
/// as `into_make_service_with_connect_info` gives without TLS).
pub(crate) async fn serve(listener: TcpListener, config: Arc<ServerConfig>, app: Router) {
    let acceptor = TlsAcceptor::from(config);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait, as axum::serve does.
                tracing::warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => return tracing::info!(%peer, "TLS handshake failed: {e}"),
                Err(_) => return tracing::info!(%peer, "TLS handshake timed out"),
            };
            // The leaf comes first in the peer's chain.
            let certificate = tls.get_ref().1.peer_certificates().and_then(ClientCertificate::from_chain);
            let app = axum::Extension(ConnectInfo(peer)).layer(app);
            let service = TowerToHyperService::new(ClientCertificateLayer::new(certificate).layer(app));
            let http = Builder::new(TokioExecutor::new());
            if let Err(e) = http.serve_connection_with_upgrades(TokioIo::new(tls), service).await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
}
