//! [`ResourceMetadata`]: what only the application knows about its resource, checked
//! once, and the URLs derived from the resource identifier (RFC 9728 §3.1).

use std::net::IpAddr;

use http::Uri;

use super::WELL_KNOWN_PATH;
use crate::error::ConfigError;

/// The application's part of the RFC 9728 document: the resource identifier, scopes,
/// and optional names and links. Built with [`ResourceMetadata::builder`]; put on a
/// layer with [`BearerLayer::resource_metadata`](crate::BearerLayer::resource_metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceMetadata {
    pub(super) resource: String,
    /// Where the document is served, as challenges name it.
    pub(super) url: String,
    /// The paths it is served at: the well-known path, then the §3.1 path-suffixed one.
    pub(super) paths: Vec<String>,
    pub(super) scopes: Vec<String>,
    pub(super) authorization_servers: Vec<String>,
    pub(super) links: Vec<(&'static str, String)>,
    pub(super) resource_name: Option<String>,
}

/// Configures a [`ResourceMetadata`]; every rule is checked in [`build`](Self::build).
#[derive(Debug, Clone)]
#[must_use]
pub struct ResourceMetadataBuilder {
    resource: String,
    scopes: Vec<String>,
    authorization_servers: Vec<String>,
    links: Vec<(&'static str, String)>,
    resource_name: Option<String>,
}

impl ResourceMetadata {
    /// Starts the metadata of `resource`: the API's identifier, the URL clients call
    /// (e.g. `https://api.example.com` or `https://example.com/api/v1`). It must be
    /// `https` (`http` only on loopback, for development) with no fragment and no
    /// user info. It is often also the tokens' audience (RFC 8707), but the layer
    /// checks audiences as its verifier says.
    pub fn builder(resource: impl Into<String>) -> ResourceMetadataBuilder {
        ResourceMetadataBuilder {
            resource: resource.into(),
            scopes: Vec::new(),
            authorization_servers: Vec::new(),
            links: Vec::new(),
            resource_name: None,
        }
    }

    /// The resource identifier.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The document's URL (RFC 9728 §3.1), as challenges carry it: e.g.
    /// `https://example.com/.well-known/oauth-protected-resource/api/v1` for the
    /// resource `https://example.com/api/v1`.
    ///
    /// ```
    /// use tower_bearer::metadata::ResourceMetadata;
    /// let m = ResourceMetadata::builder("https://example.com/api/v1").build().unwrap();
    /// assert_eq!(m.url(), "https://example.com/.well-known/oauth-protected-resource/api/v1");
    /// assert_eq!(m.paths(), ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/api/v1"]);
    /// ```
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The paths to serve the document at: [`WELL_KNOWN_PATH`], and for a resource
    /// with a path the §3.1 form (the well-known path followed by the resource's path).
    pub fn paths(&self) -> &[String] {
        &self.paths
    }
}

impl ResourceMetadataBuilder {
    /// Lists these scopes in `scopes_supported` (added to any listed before). Give
    /// the scopes the routes' requirements check: the layer does not gather them,
    /// since route layers are made after it.
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Also lists `issuer` in `authorization_servers`, after the issuers the layer's
    /// verifier trusts. Only for a verifier that cannot list its own (a custom
    /// [`Verifier`](crate::Verifier)): naming a server whose tokens the layer refuses
    /// sends clients to the wrong place.
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// `resource_name`: a human-readable name for the resource.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// `resource_documentation`: a page for developers using the resource.
    pub fn resource_documentation(self, url: impl Into<String>) -> Self {
        self.link("resource_documentation", url.into())
    }

    /// `resource_policy_uri`: how clients may use the data the resource provides.
    pub fn resource_policy_uri(self, url: impl Into<String>) -> Self {
        self.link("resource_policy_uri", url.into())
    }

    /// `resource_tos_uri`: the resource's terms of service.
    pub fn resource_tos_uri(self, url: impl Into<String>) -> Self {
        self.link("resource_tos_uri", url.into())
    }

    fn link(mut self, name: &'static str, url: String) -> Self {
        self.links.retain(|(n, _)| *n != name);
        self.links.push((name, url));
        self
    }

    /// Checks everything: the resource identifier (https, or http on loopback; no
    /// fragment, no user info), each authorization server (the same, and no query),
    /// the links (absolute `http(s)` URLs), and the scopes (RFC 6749 §3.3 tokens).
    pub fn build(self) -> Result<ResourceMetadata, ConfigError> {
        let uri = check_https_url("resource", &self.resource)?;
        check_mountable("resource", &self.resource, &uri)?;
        for issuer in &self.authorization_servers {
            if check_https_url("authorization server", issuer)?.query().is_some() {
                return Err(ConfigError::new(format!("authorization server {issuer:?} must not have a query")));
            }
        }
        for (name, url) in &self.links {
            check_link(name, url)?;
        }
        let mut scopes: Vec<String> = Vec::with_capacity(self.scopes.len());
        for scope in self.scopes {
            if !is_scope_token(&scope) {
                return Err(ConfigError::new(format!(
                    "scope {scope:?} is not a scope token (RFC 6749 §3.3: visible ASCII, no space, `\"` or `\\`)"
                )));
            }
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        let (url, paths) = locations(&uri);
        Ok(ResourceMetadata {
            resource: self.resource,
            url,
            paths,
            scopes,
            authorization_servers: self.authorization_servers,
            links: self.links,
            resource_name: self.resource_name,
        })
    }
}

/// The document's URL and the paths it is served at (RFC 9728 §3.1): the well-known
/// path goes between the host and the resource's path, a lone `/` path dropped.
fn locations(uri: &Uri) -> (String, Vec<String>) {
    let path = match uri.path() {
        "/" => "",
        path => path,
    };
    let mut url = format!(
        "{}://{}{WELL_KNOWN_PATH}{path}",
        uri.scheme_str().unwrap_or("https"),
        uri.authority().map_or("", |a| a.as_str())
    );
    if let Some(query) = uri.query() {
        url.push('?');
        url.push_str(query);
    }
    let mut paths = vec![WELL_KNOWN_PATH.to_owned()];
    if !path.is_empty() {
        paths.push(format!("{WELL_KNOWN_PATH}{path}"));
    }
    (url, paths)
}

/// An absolute `https` URL (`http` on loopback) with a host, no fragment, no user info.
fn check_https_url(what: &str, url: &str) -> Result<Uri, ConfigError> {
    let uri = parse_absolute(what, url)?;
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if is_loopback(uri.host().unwrap_or_default()) => Ok(uri),
        Some("http") => Err(ConfigError::new(format!(
            "{what} {url:?} must use https:// (http:// only on loopback: localhost, 127.0.0.1, ::1)"
        ))),
        _ => Err(ConfigError::new(format!("{what} {url:?} must be an https:// URL"))),
    }
}

/// RFC 6749 §3.3: a scope token is visible ASCII without space, `"` or `\`.
pub(crate) fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty() && scope.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// A URL (`what`: "resource", "issuer") whose path can be mounted on a router as
/// written and named in a header byte for byte: printable ASCII (percent-encode the
/// rest), no `"`, and no `{`, `}` or segment starting with `:` or `*` (routers read
/// those as captures).
pub(crate) fn check_mountable(what: &str, url: &str, uri: &Uri) -> Result<(), ConfigError> {
    let pq = uri.path_and_query().map_or("", |pq| pq.as_str());
    let plain = pq.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'{' | b'}' | b'\\'));
    let capture = uri.path().split('/').any(|segment| segment.starts_with(':') || segment.starts_with('*'));
    if !plain || capture {
        return Err(ConfigError::new(format!(
            "{what} {url:?}: its path and query must be printable ASCII without `\"`, `{{`, `}}` or segments \
             starting with `:` or `*` (percent-encode them)"
        )));
    }
    Ok(())
}

/// A link: an absolute `http(s)` URL, no fragment rules beyond parsing.
fn check_link(what: &str, url: &str) -> Result<(), ConfigError> {
    let uri = parse_absolute(what, url)?;
    match uri.scheme_str() {
        Some("https" | "http") => Ok(()),
        _ => Err(ConfigError::new(format!("{what} {url:?} must be an http(s):// URL"))),
    }
}

fn parse_absolute(what: &str, url: &str) -> Result<Uri, ConfigError> {
    let uri: Uri = url.parse().map_err(|e| ConfigError::with_source(format!("{what} {url:?} is not a URL"), e))?;
    let (Some(_), Some(authority)) = (uri.scheme(), uri.authority()) else {
        return Err(ConfigError::new(format!("{what} {url:?} is not an absolute URL (scheme://host/...)")));
    };
    // `http::Uri` drops a fragment silently; RFC 9728 §1.2 forbids one.
    if url.contains('#') {
        return Err(ConfigError::new(format!("{what} {url:?} must not have a fragment (#...)")));
    }
    if authority.as_str().contains('@') {
        return Err(ConfigError::new(format!("{what} {url:?} must not carry user info (user@host)")));
    }
    if authority.host().is_empty() {
        return Err(ConfigError::new(format!("{what} {url:?} has no host")));
    }
    Ok(uri)
}

fn is_loopback(host: &str) -> bool {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    host.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(resource: &str) -> Result<ResourceMetadata, ConfigError> {
        ResourceMetadata::builder(resource).build()
    }

    #[test]
    fn urls_of_section_3_1() {
        let m = build("https://api.example.com").unwrap();
        assert_eq!(m.url(), "https://api.example.com/.well-known/oauth-protected-resource");
        assert_eq!(m.paths(), [WELL_KNOWN_PATH]);
        let m = build("https://api.example.com/").unwrap();
        assert_eq!(m.url(), "https://api.example.com/.well-known/oauth-protected-resource");
        assert_eq!(m.resource(), "https://api.example.com/");
        let m = build("https://example.com:8443/api/v1?tenant=a").unwrap();
        assert_eq!(m.url(), "https://example.com:8443/.well-known/oauth-protected-resource/api/v1?tenant=a");
        assert_eq!(m.paths(), [WELL_KNOWN_PATH, "/.well-known/oauth-protected-resource/api/v1"]);
        for ok in ["http://127.0.0.1:3000", "http://localhost:8080/x", "http://[::1]:80"] {
            assert!(build(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refused_resources() {
        for (bad, says) in [
            ("http://api.example.com", "must use https"),
            ("ftp://api.example.com", "must be an https"),
            ("https://api.example.com/#top", "fragment"),
            ("https://user:pw@api.example.com", "user info"),
            ("/api/v1", "absolute"),
            ("api.example.com", "absolute"),
            ("https://exa mple.com", "not a URL"),
            ("https://api.example.com/{tenant}", "percent-encode"),
            ("https://api.example.com/api/:id", "percent-encode"),
            ("https://api.example.com/*rest", "percent-encode"),
            ("https://api.example.com/a\"b", "percent-encode"),
        ] {
            let e = build(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let e = ResourceMetadata::builder("https://a.example").scopes(["read items"]).build().unwrap_err();
        assert!(e.to_string().contains("scope token"), "{e}");
        let e = ResourceMetadata::builder("https://a.example").authorization_server("http://as.example").build();
        assert!(e.unwrap_err().to_string().contains("must use https"));
        let e = ResourceMetadata::builder("https://a.example").resource_documentation("docs").build();
        assert!(e.unwrap_err().to_string().contains("absolute"));
    }
}
