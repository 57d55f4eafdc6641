//! The authorization server (`tower_bearer::issue::server`, issue 18) over real HTTP:
//! one module per area.

mod common;

#[path = "authorization_server/store.rs"]
mod store;
