//! A protected API, ready to run: `cargo run --example protected_api`.
//!
//! Configuration (environment):
//! - `BIND`: listen address (default `127.0.0.1:3000`).
//! - `ISSUER`: one or more issuer URLs, space-separated; keys found through discovery.
//!   Without it, an embedded dev issuer runs at `http://BIND/dev`.
//! - `JWKS_URL`: the JWKS URL (skips discovery; only with a single issuer).
//! - `AUDIENCE`: accepted audiences, space-separated (required with `ISSUER`).
//! - `ROLES_CLAIM`: claim path holding roles (default `roles`).
//! - `INTROSPECT`: `opaque` (introspect only non-JWT tokens) or `always` (JWTs too, as a
//!   revocation check); with `INTROSPECTION_URL` (optional when `ISSUER` is set: discovery
//!   supplies it), `INTROSPECTION_CLIENT_ID` and `INTROSPECTION_CLIENT_SECRET`.
//! - `TLS_CERT` + `TLS_KEY`: PEM certificate chain and private key: serve HTTPS
//!   (`listening on https://ADDR`; the dev issuer is then `https://ADDR/dev`).
//! - `TLS_CLIENT_CA`: PEM roots (needs `TLS_CERT`): client certificates issued by them are
//!   asked for, optionally (a client without one connects; one from another CA fails the
//!   handshake), and certificate-bound tokens (`cnf["x5t#S256"]`, RFC 8705) are checked
//!   against the connection's. Without it, certificate-bound tokens are refused.
//! - `CA_FILE`: PEM roots trusted, beside the system's, for discovery, JWKS and
//!   introspection over HTTPS.
//! - `JWKS_CACHE_FILE`: a path where each issuer's last good key set is persisted, so a
//!   restart while the IdP is down still accepts tokens (inside `max_stale`, 24 h). With
//!   one issuer the file is the path itself; with several, `PATH.<16 hex digits of
//!   SHA-256(issuer)>`, one file per issuer whatever their order. Whoever can write
//!   these files can add keys: keep them owner-only (they are written `0600`).
//!
//! - `DPOP`: `allowed` (default: DPoP-bound tokens with the `DPoP` scheme and a proof,
//!   unbound ones as `Bearer`), `required` (DPoP only) or `off` (RFC 9449).
//! - `DPOP_NONCE=1`: proofs must carry a server nonce (`401 use_dpop_nonce` with a
//!   `DPoP-Nonce` header tells the client which).
//! - `PUBLIC_URL`: `scheme://host:port` clients call, the origin proofs' `htu` must
//!   name; without it, the request's own scheme and `Host` (development only). It is
//!   also the RFC 9728 `resource` (default `http://ADDR`, `https://ADDR` under TLS);
//!   a plain `http://` resource that is not loopback is refused with a warning, and
//!   the API then runs without the metadata document.
//!
//! - `METRICS=1`: `GET /metrics` (public) answers the layer's metrics in Prometheus text
//!   format (feature `metrics`, exported with `metrics-exporter-prometheus`).
//!
//! Routes: `GET /healthz` (public, key health as JSON), `GET /readyz` (public, `200`
//! while some issuer has usable keys, `503` otherwise: before they first load and
//! past `max_stale` in an outage; the probe loads missing keys itself),
//! `GET /metrics` (public, with `METRICS=1`),
//! `GET /.well-known/oauth-protected-resource` (public, RFC 9728 metadata: `resource`,
//! the issuers as `authorization_servers`, `scopes_supported` `read:items` and
//! `write:items`, and the DPoP and certificate-binding settings; for a `PUBLIC_URL`
//! with a path also at the §3.1 path-suffixed form), `GET /me` (any valid token),
//! `GET /items` (scope `read:items`), `POST /items` (scope `write:items`),
//! `GET /admin` (role `items.admin`). Every `401`/`403` challenge names the metadata
//! document (`resource_metadata="…/.well-known/oauth-protected-resource"`).

use std::error::Error;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::{Value, json};
use tower_bearer::ClientAuth;
use tower_bearer::dpop::{Dpop, DpopMode, NonceSecret};
use tower_bearer::introspect::{CombinedVerifier, IntrospectMode, IntrospectionVerifier};
use tower_bearer::keys::{KeyHealth, Readiness, RemoteJwks};
use tower_bearer::metadata::ResourceMetadata;
use tower_bearer::policy::{role, scope};
use tower_bearer::{BearerLayer, Issuer, JwtVerifier, VerifiedToken};

#[path = "shared/dev_issuer.rs"]
mod dev_issuer;
#[path = "shared/tls.rs"]
mod tls;
#[path = "shared/trust.rs"]
mod trust;

use dev_issuer::{DEV_AUDIENCE, dev_issuer_routes};

#[derive(Clone)]
struct AppState {
    key_stores: Arc<Vec<(String, RemoteJwks)>>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt().with_max_level(tracing::Level::INFO).with_writer(std::io::stderr).init();
    // First: the key sets, verifiers and layer take their metric handles when built.
    let metrics = prometheus_recorder()?;

    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    let addr = listener.local_addr()?;
    let env_list = |name: &str| -> Vec<String> {
        std::env::var(name).unwrap_or_default().split_whitespace().map(str::to_owned).collect()
    };

    let mut issuers = env_list("ISSUER");
    let mut audiences = env_list("AUDIENCE");
    let jwks_url = std::env::var("JWKS_URL").ok().filter(|s| !s.is_empty());
    let roles_claim = std::env::var("ROLES_CLAIM").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "roles".into());
    // TLS_CERT, TLS_KEY, TLS_CLIENT_CA: HTTPS and client certificates; CA_FILE: outbound roots.
    let tls = tls::from_env()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let outbound = trust::ca_file_client()?;

    let dpop = dpop_settings(false)?;
    let mut app = Router::new();
    let dev = issuers.is_empty();
    if dev {
        let dev_issuer = format!("{scheme}://{addr}/dev");
        // The dev token endpoint binds tokens to any proof it is given, whatever `DPOP`
        // says for the API, and never asks for nonces.
        app = app.nest("/dev", dev_issuer_routes(dev_issuer.clone(), dpop_settings(true)?)?);
        issuers.push(dev_issuer);
        audiences = vec![DEV_AUDIENCE.to_owned()];
    }
    if audiences.is_empty() {
        return Err("AUDIENCE is required when ISSUER is set".into());
    }
    if jwks_url.is_some() && issuers.len() > 1 {
        return Err("JWKS_URL can only be used with a single ISSUER".into());
    }

    let mut builder = JwtVerifier::builder().roles_claim(roles_claim.as_str());
    for aud in &audiences {
        builder = builder.audience(aud);
    }
    // Over TLS the dev issuer's keys come from this very server.
    let keys_client = match (&tls, dev) {
        (Some(tls), true) => Some(trust::own_certificate_client(&tls.chain)?),
        _ => outbound.clone(),
    };
    let mut key_stores = Vec::new();
    for iss in &issuers {
        let source = match &jwks_url {
            Some(url) => RemoteJwks::builder().jwks_url(url),
            None => RemoteJwks::builder().discovery(iss),
        };
        let source = match keys_client.clone() {
            Some(client) => source.http_client(client),
            None => source,
        };
        let store = match jwks_cache_file(iss, issuers.len()) {
            Some(path) => source.persist_to_file(path),
            None => source,
        }
        .build()?;
        key_stores.push((iss.clone(), store.clone()));
        builder = builder.issuer(Issuer::new(iss).keys(store));
    }
    let jwt = builder.build()?;
    // Readiness from the verifier itself: every issuer's keys, none forgotten.
    let readiness = Readiness::new(&jwt);
    // RFC 9728: the resource is the URL clients call.
    let resource = std::env::var("PUBLIC_URL").ok().filter(|s| !s.is_empty());
    let resource = resource.unwrap_or_else(|| format!("{scheme}://{addr}"));
    // A plain-http address that is not loopback (BIND=0.0.0.0:3000) names no valid
    // resource: the API still runs, without the document.
    let metadata = ResourceMetadata::builder(resource)
        .scopes(["read:items", "write:items"])
        .build()
        .inspect_err(|e| tracing::warn!("no RFC 9728 metadata: {e}; set PUBLIC_URL to the https:// URL clients call"))
        .ok();
    let auth = match introspection(&issuers, &audiences, dev, outbound.as_ref())? {
        Some((remote, mode)) => BearerLayer::new(CombinedVerifier::new(jwt, remote, mode)),
        None => BearerLayer::new(jwt),
    }
    .realm("protected-api")
    .dpop(dpop)
    .certificate_binding(tls.as_ref().is_some_and(|tls| tls.client_certificates));
    let auth = match metadata {
        Some(metadata) => auth.resource_metadata(metadata),
        None => auth,
    };
    // Taken from the finished layer: the document states what this layer enforces.
    let metadata_service = auth.metadata_service().ok();

    let protected = Router::new()
        .route("/me", get(me))
        .route(
            "/items",
            get(list_items)
                .route_layer(auth.requiring(scope("read:items")))
                .merge(post(create_item).route_layer(auth.requiring(scope("write:items")))),
        )
        .route("/admin", get(admin).route_layer(auth.requiring(role("items.admin"))))
        .layer(auth);
    let mut app = app.route("/healthz", get(healthz)).route_service("/readyz", readiness);
    if let Some(service) = metadata_service {
        for path in service.paths() {
            app = app.route_service(path, service.clone());
        }
    }
    let app = app.merge(protected).with_state(AppState { key_stores: Arc::new(key_stores) });
    let app = match metrics {
        Some(prometheus) => app.route("/metrics", get(move || std::future::ready(render(&prometheus)))),
        None => app,
    };

    println!("listening on {scheme}://{addr}");
    if dev {
        println!("embedded dev issuer: {scheme}://{addr}/dev (audience {DEV_AUDIENCE})");
        println!("try:");
        if tls.is_some() {
            println!(
                "  (HTTPS: add --cacert with TLS_CERT's CA to each curl, and --cert/--key for a client certificate)"
            );
        }
        println!(
            "  TOKEN=$(curl -s -d 'scope=read:items write:items' -d 'roles=items.admin' {scheme}://{addr}/dev/token | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')"
        );
        println!("  curl -i {scheme}://{addr}/me -H \"Authorization: Bearer $TOKEN\"");
        println!("  curl -i {scheme}://{addr}/items -H \"Authorization: Bearer $TOKEN\"");
        println!("  curl -i {scheme}://{addr}/admin -H \"Authorization: Bearer $TOKEN\"");
        println!("  curl -i {scheme}://{addr}/items");
        println!(
            "  curl -s -d login=dev -d password=dev {scheme}://{addr}/dev/login   # login, then POST /dev/renew with the token"
        );
    }
    // With the peer address, the dev issuer's /login also limits failures per client.
    match tls {
        Some(tls) => tls::serve(listener, tls.config, app).await,
        None => axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await?,
    }
    Ok(())
}

/// With `METRICS=1`, a Prometheus recorder installed for the whole process, the
/// verification histogram with buckets (rendered as a histogram, not a summary), and
/// its upkeep every few seconds.
fn prometheus_recorder() -> Result<Option<PrometheusHandle>, Box<dyn Error>> {
    if std::env::var("METRICS").as_deref() != Ok("1") {
        return Ok(None);
    }
    let seconds = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full("tower_bearer_verify_duration_seconds".into()), &seconds)?
        .install_recorder()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    Ok(Some(handle))
}

/// `GET /metrics`: the Prometheus text exposition format.
fn render(prometheus: &PrometheusHandle) -> ([(http::HeaderName, &'static str); 1], String) {
    ([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], prometheus.render())
}

/// Where `JWKS_CACHE_FILE` persists `issuer`'s keys: the path itself for a single
/// issuer, else the path suffixed by a hash of the issuer.
fn jwks_cache_file(issuer: &str, issuers: usize) -> Option<String> {
    use sha2::Digest as _;
    let path = std::env::var("JWKS_CACHE_FILE").ok().filter(|s| !s.is_empty())?;
    if issuers <= 1 {
        return Some(path);
    }
    let digest = sha2::Sha256::digest(issuer.as_bytes());
    let suffix: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Some(format!("{path}.{suffix}"))
}

/// The DPoP settings `DPOP`, `DPOP_NONCE` and `PUBLIC_URL` ask for; for the dev token
/// endpoint (`token_endpoint`), DPoP allowed and no nonces.
fn dpop_settings(token_endpoint: bool) -> Result<Dpop, Box<dyn Error>> {
    let var = |name: &str| std::env::var(name).ok().filter(|s| !s.is_empty());
    let mode = match var("DPOP").as_deref() {
        _ if token_endpoint => DpopMode::Allowed,
        None | Some("allowed") => DpopMode::Allowed,
        Some("required") => DpopMode::Required,
        Some("off") => DpopMode::Off,
        Some(other) => return Err(format!("DPOP must be `allowed`, `required` or `off`, not {other:?}").into()),
    };
    let mut b = Dpop::builder(mode);
    b = match var("PUBLIC_URL") {
        Some(url) => b.public_url(url),
        None if var("TLS_CERT").is_some() => b.dangerously_take_origin_from_request(http::uri::Scheme::HTTPS),
        None => b.dangerously_take_origin_from_request(http::uri::Scheme::HTTP),
    };
    if !token_endpoint && var("DPOP_NONCE").as_deref() == Some("1") {
        b = b.require_nonces(NonceSecret::random()?);
    }
    Ok(b.build()?)
}

/// The introspection verifier `INTROSPECT` asks for, if any.
fn introspection(
    issuers: &[String],
    audiences: &[String],
    dev: bool,
    outbound: Option<&reqwest::Client>,
) -> Result<Option<(IntrospectionVerifier, IntrospectMode)>, Box<dyn Error>> {
    let var = |name: &str| std::env::var(name).ok().filter(|s| !s.is_empty());
    let mode = match var("INTROSPECT").as_deref() {
        None => return Ok(None),
        Some("opaque") => IntrospectMode::OpaqueOnly,
        Some("always") => IntrospectMode::EveryToken,
        Some(other) => return Err(format!("INTROSPECT must be `opaque` or `always`, not {other:?}").into()),
    };
    let mut b = IntrospectionVerifier::builder();
    b = match (var("INTROSPECTION_URL"), issuers.first()) {
        (Some(url), _) => b.endpoint(&url),
        (None, Some(issuer)) if !dev => b.discover(issuer),
        _ => return Err("INTROSPECT needs INTROSPECTION_URL (or ISSUER for discovery)".into()),
    };
    if let Some(client_id) = var("INTROSPECTION_CLIENT_ID") {
        let client_secret = var("INTROSPECTION_CLIENT_SECRET").unwrap_or_default();
        b = b.client_auth(ClientAuth::basic(client_id, client_secret));
    }
    if let Some(client) = outbound {
        b = b.http_client(client.clone());
    }
    for aud in audiences {
        b = b.audience(aud);
    }
    Ok(Some((b.build()?, mode)))
}

async fn healthz(State(state): State<AppState>) -> Json<Value> {
    let issuers: Vec<Value> = state
        .key_stores
        .iter()
        .map(|(iss, store)| {
            let health: KeyHealth = store.health();
            json!({ "issuer": iss, "keys": health })
        })
        .collect();
    Json(json!({ "status": "ok", "issuers": issuers }))
}

async fn me(token: VerifiedToken) -> Json<Value> {
    Json(json!({
        "sub": token.subject(),
        "scopes": token.scopes(),
        "roles": token.roles(),
    }))
}

async fn list_items() -> Json<Value> {
    Json(json!({ "items": ["apple", "pear"] }))
}

async fn create_item(token: VerifiedToken) -> (StatusCode, Json<Value>) {
    (StatusCode::CREATED, Json(json!({ "created_by": token.subject() })))
}

async fn admin(token: VerifiedToken) -> Json<Value> {
    Json(json!({ "admin": token.subject() }))
}
