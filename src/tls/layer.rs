//! [`ClientCertificateLayer`]: a connection's client certificate in each of its requests.

use std::task::{Context, Poll};

use http::Request;
use tower_layer::Layer;
use tower_service::Service;

use super::{ClientCertificate, PeerCertificate};

/// Inserts one connection's [`PeerCertificate`] into every request, for the
/// [`BearerLayer`](crate::BearerLayer)'s certificate binding. Made per connection,
/// after the TLS handshake, around the application's service (see [the module
/// documentation](super) for a server loop).
///
/// ```
/// use tower::{Layer as _, ServiceExt as _};
/// use tower_bearer::tls::{ClientCertificate, ClientCertificateLayer, PeerCertificate};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let certificate = ClientCertificate::from_der(vec![0x30, 0x00]);
/// let service = ClientCertificateLayer::new(Some(certificate)).layer(tower::service_fn(
///     |req: http::Request<()>| async move {
///         let seen = req.extensions().get::<PeerCertificate>().and_then(|p| p.0.clone());
///         Ok::<_, std::convert::Infallible>(seen.map(|c| c.der().to_vec()))
///     },
/// ));
/// assert_eq!(service.oneshot(http::Request::new(())).await.unwrap(), Some(vec![0x30, 0x00]));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ClientCertificateLayer {
    certificate: PeerCertificate,
}

impl ClientCertificateLayer {
    /// For a connection whose client presented `certificate` (`None`: no certificate;
    /// its requests' certificate-bound tokens are refused).
    pub fn new(certificate: Option<ClientCertificate>) -> Self {
        Self { certificate: PeerCertificate(certificate) }
    }
}

impl<S> Layer<S> for ClientCertificateLayer {
    type Service = ClientCertificateService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientCertificateService { inner, certificate: self.certificate.clone() }
    }
}

/// The service made by [`ClientCertificateLayer`].
#[derive(Debug, Clone)]
pub struct ClientCertificateService<S> {
    inner: S,
    certificate: PeerCertificate,
}

impl<S, B> Service<Request<B>> for ClientCertificateService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // Replaces any value set before: only the connection knows its certificate.
        req.extensions_mut().insert(self.certificate.clone());
        self.inner.call(req)
    }
}
