//! Whom the `protected_api` example trusts when it fetches discovery documents, keys
//! and introspection answers over HTTPS (not an example itself): `CA_FILE`'s roots
//! beside the system's, and for the embedded dev issuer served over TLS, exactly the
//! server's own certificate.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// The crate's own client refuses redirects and connects within 2 s; a client given to
/// it keeps those rules (the crate still bounds each call and the body).
fn outbound(builder: reqwest::ClientBuilder) -> reqwest::Result<reqwest::Client> {
    builder.redirect(reqwest::redirect::Policy::none()).connect_timeout(Duration::from_secs(2)).build()
}

/// A client trusting `CA_FILE`'s roots (PEM) beside the system's; `None` without
/// `CA_FILE` (the crate's own client then).
pub(crate) fn ca_file_client() -> Result<Option<reqwest::Client>, Box<dyn Error>> {
    let Some(path) = std::env::var("CA_FILE").ok().filter(|s| !s.is_empty()) else { return Ok(None) };
    let pem = std::fs::read(&path).map_err(|e| format!("CA_FILE {path}: {e}"))?;
    let roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| format!("CA_FILE {path}: {e}"))?;
    if roots.is_empty() {
        return Err(format!("CA_FILE {path}: no certificate").into());
    }
    Ok(Some(outbound(reqwest::Client::builder().tls_certs_merge(roots))?))
}

/// A client for the embedded dev issuer, which this very server serves over TLS: it
/// accepts exactly the server's own leaf certificate, whichever CA issued it and
/// whichever names it carries (the dev issuer's URL is the bound address). The
/// handshake still proves the peer holds that certificate's key.
pub(crate) fn own_certificate_client(chain: &[CertificateDer<'static>]) -> Result<reqwest::Client, Box<dyn Error>> {
    let leaf = chain.first().ok_or("TLS_CERT holds no certificate")?.clone();
    let provider = super::tls::provider();
    let verifier = OwnCertificate { leaf, provider: provider.clone() };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(outbound(reqwest::Client::builder().tls_backend_preconfigured(config))?)
}

/// Trusts one certificate, byte for byte.
#[derive(Debug)]
struct OwnCertificate {
    leaf: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for OwnCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match end_entity.as_ref() == self.leaf.as_ref() {
            true => Ok(ServerCertVerified::assertion()),
            false => Err(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
