//! The test issuer's HTTP endpoints: the JWKS (with `ETag`, `Cache-Control` and
//! outages) and the two discovery documents.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::idp::Inner;
use super::{Outage, lock};

/// The routes, serving `inner`'s keys and counting its fetches.
pub(super) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/jwks", get(jwks))
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/oauth-authorization-server", get(discovery))
        .with_state(inner)
}

async fn discovery(State(inner): State<Arc<Inner>>, uri: Uri) -> Response {
    inner.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    if uri.path().ends_with("/openid-configuration") && !inner.oidc_discovery.load(Ordering::SeqCst) {
        return StatusCode::NOT_FOUND.into_response();
    }
    axum::Json(json!({
        "issuer": inner.issuer,
        "jwks_uri": format!("{}/jwks", inner.issuer),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
    .into_response()
}

async fn jwks(State(inner): State<Arc<Inner>>, request_headers: HeaderMap) -> Response {
    inner.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let outage = lock(&inner.outage).clone();
    match outage {
        Outage::None => {}
        Outage::Status(code) => {
            return StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR).into_response();
        }
        Outage::Hang => {
            std::future::pending::<()>().await;
        }
        Outage::Garbage(body) => return (StatusCode::OK, body).into_response(),
        Outage::Redirect(to) => return (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
    }
    // An HMAC secret has no public half: `null`, which verifiers skip.
    let mut keys: Vec<Value> = lock(&inner.keys)
        .iter()
        .filter(|k| k.published)
        .map(|k| k.private.public().map_or(Value::Null, Value::Object))
        .collect();
    keys.extend(lock(&inner.extra_keys).iter().cloned());
    let body = json!({ "keys": keys }).to_string();
    let etag = format!("\"{:016x}\"", {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        body.hash(&mut h);
        h.finish()
    });
    let mut headers = HeaderMap::new();
    if let Ok(v) = header::HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    if request_headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        inner.jwks_not_modified.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/jwk-set+json"));
    if let Some(cc) = lock(&inner.cache_control).as_deref()
        && let Ok(v) = header::HeaderValue::from_str(cc)
    {
        headers.insert(header::CACHE_CONTROL, v);
    }
    (headers, body).into_response()
}
