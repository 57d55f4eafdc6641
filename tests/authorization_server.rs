//! The authorization server (`tower_bearer::issue::server`) over real HTTP on
//! 127.0.0.1: one module per endpoint area, tokens from its own token endpoint.

mod common;

#[path = "authorization_server/introspection.rs"]
mod introspection;
#[path = "authorization_server/revocation.rs"]
mod revocation;
