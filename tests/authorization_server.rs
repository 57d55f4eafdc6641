//! The authorization server (`tower_bearer::issue::server`, issue 18) over real HTTP on
//! 127.0.0.1, driven by an independent OAuth client (the `oauth2` crate), reqwest, and
//! tower-bearer's own client, introspection and layer. One binary, one module per area
//! under tests/authorization_server/.

mod common;

#[path = "authorization_server/authorize.rs"]
mod authorize;
#[path = "authorization_server/example.rs"]
mod example;
#[path = "authorization_server/introspection.rs"]
mod introspection;
#[path = "authorization_server/keys.rs"]
mod keys;
#[path = "authorization_server/metadata.rs"]
mod metadata;
#[path = "authorization_server/revocation.rs"]
mod revocation;
#[path = "authorization_server/store.rs"]
mod store;
#[path = "authorization_server/token.rs"]
mod token;
