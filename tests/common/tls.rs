#![allow(dead_code, unreachable_pub)]
//! TLS for tests: a CA, server and client certificates minted at run time (rcgen, on
//! aws-lc-rs), HTTPS servers (the example's own serving code, so the tests cover it),
//! PEM files for the example process, and reqwest clients with or without a client
//! certificate.

use std::path::PathBuf;

use axum::Router;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tower_bearer::tls::ClientCertificate;

#[path = "../../examples/shared/tls.rs"]
mod serving;

/// A certificate authority of its own.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate issued by a [`TestCa`], with its key.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Self { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A server certificate for 127.0.0.1 and localhost.
    pub fn server(&self) -> Issued {
        self.issue(&["127.0.0.1", "localhost"], "server", ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate for `name`.
    pub fn client(&self, name: &str) -> Issued {
        self.issue(&[], name, ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn issue(&self, names: &[&str], cn: &str, usage: ExtendedKeyUsagePurpose) -> Issued {
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }
}

impl Issued {
    /// What the layer sees of this certificate.
    pub fn certificate(&self) -> ClientCertificate {
        ClientCertificate::from_der(self.der.to_vec())
    }

    /// For reqwest: the certificate and its key.
    pub fn identity(&self) -> reqwest::Identity {
        reqwest::Identity::from_pem(format!("{}{}", self.cert_pem, self.key_pem).as_bytes()).unwrap()
    }

    fn key(&self) -> PrivateKeyDer<'static> {
        PrivatePkcs8KeyDer::from(self.key_der.clone()).into()
    }
}

/// A client trusting only `ca`, presenting `identity` if given.
pub fn https_client(ca: &TestCa, identity: Option<&Issued>) -> reqwest::Client {
    let root = reqwest::Certificate::from_der(&ca.der()).unwrap();
    let mut builder = reqwest::Client::builder().tls_certs_only([root]);
    if let Some(issued) = identity {
        builder = builder.identity(issued.identity());
    }
    builder.build().unwrap()
}

/// GETs `url` through `client` with `token` as a Bearer token, if any.
pub async fn get_via(client: &reqwest::Client, url: &str, token: Option<&str>) -> crate::common::Reply {
    let mut req = client.get(url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    crate::common::Reply { status, headers, body: res.text().await.unwrap() }
}

/// Serves `app` over TLS on 127.0.0.1 with `server`'s certificate, asking for optional
/// client certificates from `client_ca` if given, each connection's certificate in
/// its requests (as the `protected_api` example does). Returns the base URL.
pub async fn serve_https(app: Router, server: &Issued, client_ca: Option<&TestCa>) -> String {
    let config =
        serving::server_config(vec![server.der.clone()], server.key(), client_ca.map(|ca| vec![ca.der()])).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serving::serve(listener, config, app));
    format!("https://{addr}")
}

/// PEM files in a directory of their own, removed on drop.
pub struct PemFiles {
    pub dir: PathBuf,
}

impl PemFiles {
    pub fn new() -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tower-bearer-tls-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    /// Writes `pem` as `name`; returns its path.
    pub fn write(&self, name: &str, pem: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

impl Drop for PemFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
