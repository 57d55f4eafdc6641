//! Talking to an authorization server: the JWKS and discovery GETs, the token and
//! introspection POSTs. Every exchange follows the same rules: HTTPS except on
//! loopback, no redirects, a deadline, a capped body, and the client authenticated one
//! way.
//!
//! - `http_client.rs`: the one client factory (timeouts, no redirects);
//! - `url_check.rs`: HTTPS except loopback, and refusals that say how to opt out;
//! - `exchange.rs`: the no-redirect rule, the deadline and the capped body read;
//! - `get.rs`: bounded GETs with `ETag` and `max-age`;
//! - `post.rs`: bounded form POSTs;
//! - `client_auth.rs`: [`ClientAuth`], encoded once;
//! - `discovery.rs`: OpenID Connect / RFC 8414 discovery;
//! - `endpoint.rs`: a configured or discovered endpoint, looked up again after a failure;
//! - `error.rs`: what failed, with the underlying error as its source.

#[cfg(any(feature = "client", feature = "introspection"))]
mod client_auth;
mod discovery;
mod endpoint;
mod error;
mod exchange;
mod get;
mod http_client;
#[cfg(any(feature = "client", feature = "introspection"))]
mod post;
mod url_check;

#[cfg(any(feature = "client", feature = "introspection"))]
pub use client_auth::ClientAuth;
pub(crate) use discovery::Rules;
pub(crate) use endpoint::{Endpoint, EndpointConfig};
pub(crate) use error::OutboundError;
pub(crate) use get::{Fetched, get};
pub(crate) use http_client::{CONNECT_TIMEOUT, http_client};
#[cfg(any(feature = "client", feature = "introspection"))]
pub(crate) use post::{Posted, post_form};
#[cfg(any(feature = "issuer", feature = "redis"))]
pub(crate) use url_check::is_loopback;
pub(crate) use url_check::{UrlUse, check_url, shown};
