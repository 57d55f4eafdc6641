//! Certificate-bound tokens (RFC 8705 §3): the TLS client certificate of the
//! connection, handed to the layer as a request extension.

use bytes::Bytes;
use sha2::{Digest, Sha256};

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
#[derive(Debug, Clone)]
pub struct PeerCertificate(pub Option<ClientCertificate>);
