//! The embeddable authorization server (`issue::server`, issue 18) over real HTTP on
//! 127.0.0.1: one module per area, under `tests/authorization_server/` (`#[path]`:
//! a crate root's `mod x;` would find `tests/x.rs`, another test binary).

mod common;

#[path = "authorization_server/keys.rs"]
mod keys;
#[path = "authorization_server/metadata.rs"]
mod metadata;
