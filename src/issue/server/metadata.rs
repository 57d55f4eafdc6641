//! RFC 8414 authorization server metadata: every endpoint and supported method, at
//! `/.well-known/oauth-authorization-server` (with the issuer's path after it, §3.1).
//! No OpenID Connect discovery document: this server issues no ID tokens.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::router::{INTROSPECTION_PATH, JWKS_PATH, REVOCATION_PATH, TOKEN_PATH};
use super::{AuthorizationServer, AuthorizationServerBuilder};
use crate::ConfigError;
use crate::metadata::{check_mountable, etag_of, is_scope_token, serve_document};

/// RFC 8414 §3: the well-known URI suffix.
pub(crate) const WELL_KNOWN_PATH: &str = "/.well-known/oauth-authorization-server";

/// The metadata does not change while the server runs; an hour of caching, and the
/// `ETag` makes revalidation cheap.
const CACHE: &str = "public, max-age=3600";

/// Default authorization endpoint, under the issuer.
const AUTHORIZE_PATH: &str = "/authorize";

/// The metadata settings of the builder.
#[derive(Default)]
pub(crate) struct MetadataSettings {
    authorization_endpoint: Option<String>,
    scopes: Vec<String>,
    service_documentation: Option<String>,
}

impl AuthorizationServerBuilder {
    /// Where the application serves the authorization endpoint (its own login and
    /// consent pages): an absolute URL, or a path on the issuer's origin such as
    /// `/login/oauth` (default: `{issuer}/authorize`). Listed in the metadata.
    pub fn authorization_endpoint(mut self, path_or_url: impl Into<String>) -> Self {
        self.metadata.authorization_endpoint = Some(path_or_url.into());
        self
    }

    /// Lists these scopes in the metadata's `scopes_supported` (RECOMMENDED by
    /// RFC 8414; not listed by default).
    pub fn scopes_supported<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.metadata.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// `service_documentation`: a page for developers using this server.
    pub fn service_documentation(mut self, url: impl Into<String>) -> Self {
        self.metadata.service_documentation = Some(url.into());
        self
    }
}

impl AuthorizationServer {
    /// The RFC 8414 metadata document.
    ///
    /// ```
    /// use tower_bearer::issue::{IssuerKey, KeyType};
    /// use tower_bearer::issue::server::AuthorizationServer;
    ///
    /// let key = IssuerKey::generate(KeyType::Ed25519, None).unwrap();
    /// let server = AuthorizationServer::builder("https://example.com/auth", &key.private_jwk().to_json())
    ///     .audience("https://api.example.com")
    ///     .build()
    ///     .unwrap();
    /// let doc = server.metadata();
    /// assert_eq!(doc["token_endpoint"], "https://example.com/auth/token");
    /// assert_eq!(doc["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    /// assert_eq!(server.metadata_path(), "/.well-known/oauth-authorization-server/auth");
    /// ```
    pub fn metadata(&self) -> Value {
        self.inner.metadata.document.clone()
    }

    /// Where the metadata is served on the issuer's origin (RFC 8414 §3.1): the
    /// well-known path, followed by the issuer's path if it has one, e.g.
    /// `/.well-known/oauth-authorization-server/tenant` for the issuer
    /// `https://example.com/tenant`. [`router`](Self::router) serves it there.
    pub fn metadata_path(&self) -> &str {
        &self.inner.metadata.path
    }

    /// The issuer's path (`""` when it has none): where [`router`](Self::router)
    /// serves the endpoints.
    pub(crate) fn issuer_path(&self) -> &str {
        &self.inner.metadata.issuer_path
    }
}

/// The document, rendered once.
pub(crate) struct Metadata {
    document: Value,
    body: Bytes,
    etag: HeaderValue,
    path: String,
    issuer_path: String,
}

impl Metadata {
    /// The document of `issuer` (already checked: https or loopback http, no query,
    /// no fragment, no trailing slash).
    pub(crate) fn new(issuer: &str, settings: MetadataSettings) -> Result<Self, ConfigError> {
        let base = url::Url::parse(issuer).map_err(|e| ConfigError::with_source(format!("issuer {issuer:?}"), e))?;
        let uri: http::Uri =
            issuer.parse().map_err(|e| ConfigError::with_source(format!("issuer {issuer:?} is not a URI"), e))?;
        check_mountable("issuer", issuer, &uri)?;
        let issuer_path = base.path().trim_end_matches('/').to_owned();
        let authorization_endpoint = match settings.authorization_endpoint {
            None => format!("{issuer}{AUTHORIZE_PATH}"),
            Some(given) => endpoint_url(&base, &given)?,
        };
        let mut doc = Map::new();
        doc.insert("issuer".into(), json!(issuer));
        doc.insert("authorization_endpoint".into(), json!(authorization_endpoint));
        doc.insert("token_endpoint".into(), json!(format!("{issuer}{TOKEN_PATH}")));
        doc.insert("revocation_endpoint".into(), json!(format!("{issuer}{REVOCATION_PATH}")));
        doc.insert("introspection_endpoint".into(), json!(format!("{issuer}{INTROSPECTION_PATH}")));
        doc.insert("jwks_uri".into(), json!(format!("{issuer}{JWKS_PATH}")));
        doc.insert("response_types_supported".into(), json!(["code"]));
        doc.insert(
            "grant_types_supported".into(),
            json!(["authorization_code", "client_credentials", "refresh_token"]),
        );
        doc.insert(
            "token_endpoint_auth_methods_supported".into(),
            json!(["client_secret_basic", "client_secret_post", "none"]),
        );
        // Public clients may revoke their own tokens (RFC 7009 §2.1); introspecting needs a
        // secret.
        doc.insert(
            "revocation_endpoint_auth_methods_supported".into(),
            json!(["client_secret_basic", "client_secret_post", "none"]),
        );
        doc.insert(
            "introspection_endpoint_auth_methods_supported".into(),
            json!(["client_secret_basic", "client_secret_post"]),
        );
        doc.insert("code_challenge_methods_supported".into(), json!(["S256"]));
        doc.insert("authorization_response_iss_parameter_supported".into(), json!(true));
        let mut scopes: Vec<String> = Vec::with_capacity(settings.scopes.len());
        for scope in settings.scopes {
            if !is_scope_token(&scope) {
                return Err(ConfigError::new(format!("scopes_supported: {scope:?} is not a scope (RFC 6749 §3.3)")));
            }
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if !scopes.is_empty() {
            doc.insert("scopes_supported".into(), json!(scopes));
        }
        if let Some(page) = settings.service_documentation {
            let parsed = url::Url::parse(&page)
                .map_err(|e| ConfigError::with_source(format!("service_documentation {page:?} is not a URL"), e))?;
            if !matches!(parsed.scheme(), "https" | "http") {
                return Err(ConfigError::new(format!("service_documentation {page:?} is not an http(s) URL")));
            }
            doc.insert("service_documentation".into(), json!(page));
        }
        let document = Value::Object(doc);
        // Serializing strings, arrays and booleans cannot fail.
        let body = Bytes::from(serde_json::to_vec(&document).unwrap_or_default());
        Ok(Self { etag: etag_of(&body), body, document, path: format!("{WELL_KNOWN_PATH}{issuer_path}"), issuer_path })
    }
}

/// The authorization endpoint: a path on the issuer's origin or an absolute URL,
/// `https` (`http` only on loopback) without fragment (RFC 6749 §3.1).
fn endpoint_url(issuer: &url::Url, given: &str) -> Result<String, ConfigError> {
    let bad = |why: &str| ConfigError::new(format!("authorization_endpoint {given:?} {why}"));
    let url = if given.starts_with('/') && !given.starts_with("//") {
        issuer.join(given).map_err(|_| bad("is not a path"))?
    } else {
        url::Url::parse(given).map_err(|_| bad("is neither an absolute URL nor a path starting with /"))?
    };
    match url.scheme() {
        "https" => {}
        "http" if crate::outbound::is_loopback(&url) => {}
        _ => return Err(bad("must be https (http only on loopback)")),
    }
    if url.fragment().is_some() || given.contains('#') {
        return Err(bad("has a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("has user info"));
    }
    Ok(url.into())
}

/// `GET`/`HEAD` of the metadata document.
pub(crate) async fn metadata_endpoint(
    State(server): State<AuthorizationServer>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let m = &server.inner.metadata;
    serve_document(&m.body, &m.etag, "application/json", HeaderValue::from_static(CACHE), &method, &headers)
        .into_response()
}
