//! The RFC 9728 §2 document: the application's [`ResourceMetadata`] plus what the
//! layer enforces.

use bytes::Bytes;
use serde_json::{Map, Value};

use super::ResourceMetadata;

/// What a layer enforces, as the document states it.
pub(crate) struct LayerFacts<'a> {
    /// The issuers its verifier trusts.
    pub(crate) authorization_servers: Vec<String>,
    /// RFC 6750 methods its token locations read.
    pub(crate) bearer_methods: Vec<&'static str>,
    /// Certificate-bound tokens (RFC 8705) are checked.
    pub(crate) certificate_binding: bool,
    /// DPoP on: the proof algorithms (space-separated), and whether it is required.
    pub(crate) dpop: Option<(&'a str, bool)>,
}

/// The document's JSON bytes.
pub(crate) fn render(meta: &ResourceMetadata, facts: LayerFacts<'_>) -> Bytes {
    let mut doc = Map::new();
    doc.insert("resource".into(), meta.resource.clone().into());
    let mut servers = facts.authorization_servers;
    for extra in &meta.authorization_servers {
        if !servers.contains(extra) {
            servers.push(extra.clone());
        }
    }
    if !servers.is_empty() {
        doc.insert("authorization_servers".into(), servers.into());
    }
    if !meta.scopes.is_empty() {
        doc.insert("scopes_supported".into(), meta.scopes.clone().into());
    }
    // DPoP required: a token in the query or a form body (always the Bearer scheme)
    // is refused, so only the header is a way in.
    let methods = match facts.dpop {
        Some((_, true)) => vec!["header"],
        _ => facts.bearer_methods,
    };
    doc.insert("bearer_methods_supported".into(), methods.into());
    if let Some(name) = &meta.resource_name {
        doc.insert("resource_name".into(), name.clone().into());
    }
    for (name, url) in &meta.links {
        doc.insert((*name).into(), url.clone().into());
    }
    if facts.certificate_binding {
        doc.insert("tls_client_certificate_bound_access_tokens".into(), true.into());
    }
    if let Some((algs, required)) = facts.dpop {
        doc.insert("dpop_signing_alg_values_supported".into(), algs.split_whitespace().collect::<Vec<_>>().into());
        doc.insert("dpop_bound_access_tokens_required".into(), required.into());
    }
    // Serializing a map of strings, arrays and booleans cannot fail.
    Bytes::from(serde_json::to_vec(&Value::Object(doc)).unwrap_or_default())
}
