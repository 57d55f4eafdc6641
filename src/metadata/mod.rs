//! RFC 9728 protected resource metadata: the document that tells a client which
//! authorization servers issue tokens for this API, which scopes it knows and how to
//! present tokens, served at `/.well-known/oauth-protected-resource`.
//!
//! Configure the parts only the application knows ([`ResourceMetadata`]: the resource
//! identifier, scopes, names and links) on the [`BearerLayer`](crate::BearerLayer) with
//! [`resource_metadata`](crate::BearerLayer::resource_metadata); the rest comes from
//! what the layer enforces: `authorization_servers` from the verifier's issuers,
//! `bearer_methods_supported` from its token locations, the DPoP and
//! certificate-binding fields from its sender-constraint settings. From then on every
//! challenge carries `resource_metadata="…"` (RFC 9728 §5.1), and
//! [`metadata_service`](crate::BearerLayer::metadata_service) gives the
//! [`MetadataService`] to mount at each of its [`paths`](MetadataService::paths).
//!
//! ```
//! use axum::{Router, routing::get};
//! use tower_bearer::metadata::ResourceMetadata;
//! use tower_bearer::{BearerLayer, JwtVerifier};
//!
//! # fn app(verifier: JwtVerifier) -> Result<Router, tower_bearer::ConfigError> {
//! let metadata = ResourceMetadata::builder("https://api.example.com")
//!     .scopes(["read:items", "write:items"])
//!     .resource_name("Items API")
//!     .build()?;
//! let auth = BearerLayer::new(verifier).resource_metadata(metadata);
//! // Take the service from the very layer the routes use: both describe one configuration.
//! let document = auth.metadata_service()?;
//! let mut app = Router::new().route("/items", get(|| async { "items" })).layer(auth);
//! for path in document.paths() {
//!     app = app.route_service(path, document.clone()); // public: outside the layer
//! }
//! # Ok(app) }
//! ```
//!
//! - `resource.rs`: [`ResourceMetadata`], its builder and the URL rules;
//! - `document.rs`: the JSON document, from the metadata and the layer's settings;
//! - `service.rs`: [`MetadataService`], the tower service answering `GET`/`HEAD`.

mod document;
mod resource;
mod service;

pub(crate) use document::{LayerFacts, render};
pub use resource::{ResourceMetadata, ResourceMetadataBuilder};
#[cfg(feature = "issuer")]
pub(crate) use resource::{check_mountable, is_scope_token};
pub use service::MetadataService;
#[cfg(feature = "remote")]
pub(crate) use service::method_not_allowed;
#[cfg(feature = "issuer")]
pub(crate) use service::{etag_of, serve_document};

/// The well-known path of RFC 9728 §3: `/.well-known/oauth-protected-resource`.
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";
