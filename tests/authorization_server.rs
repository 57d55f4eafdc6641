//! The authorization server (issue 18) over real HTTP on 127.0.0.1: one binary, one
//! module per endpoint under tests/authorization_server/.

mod common;

#[path = "authorization_server/authorize.rs"]
mod authorize;
#[path = "authorization_server/introspection.rs"]
mod introspection;
#[path = "authorization_server/revocation.rs"]
mod revocation;
#[path = "authorization_server/store.rs"]
mod store;
#[path = "authorization_server/example.rs"]
mod example;
