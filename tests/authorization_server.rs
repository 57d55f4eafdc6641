//! The authorization server (`tower_bearer::issue::server`) over real HTTP on
//! 127.0.0.1, driven by an independent OAuth client (the `oauth2` crate) and by
//! tower-bearer's own clients. One binary, one module per area.

mod common;
#[path = "authorization_server/token.rs"]
mod token;
