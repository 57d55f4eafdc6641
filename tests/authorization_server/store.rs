//! `MemoryStore` against the `GrantStore` contract (the same bodies run against
//! `RedisGrantStore` in tests/redis.rs), and as the server's default store.

#[path = "store_conformance.rs"]
mod conformance;

use std::sync::Arc;

use tower_bearer::issue::server::{AuthorizationServer, GrantStore, MemoryStore};
use tower_bearer::issue::{IssuerKey, KeyType};

fn memory() -> Arc<dyn GrantStore> {
    Arc::new(MemoryStore::new())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_takes_a_code_once() {
    conformance::a_code_is_taken_once(memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_concurrent_takes_have_exactly_one_first() {
    conformance::concurrent_takes_have_exactly_one_first(memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_rotates_a_refresh_token_once() {
    conformance::a_refresh_token_rotates_once(memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_puts_never_overwrite() {
    conformance::puts_never_overwrite(memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_does_not_store_a_revoked_grant_again() {
    conformance::a_revoked_grant_is_not_stored_again(memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_deletes_a_refresh_token_or_its_marker() {
    conformance::a_refresh_token_or_its_marker_is_deleted(memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_revokes_a_grant() {
    conformance::a_grant_is_revoked(memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_revokes_an_access_record() {
    conformance::an_access_record_is_revoked(memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_records_expire_at_their_ttl() {
    conformance::records_expire_at_their_ttl(memory()).await;
}

/// Without `.store(…)` the server keeps its state in a `MemoryStore` (before, `build`
/// refused to start without one).
#[test]
fn the_server_builds_with_its_default_memory_store() {
    let key = IssuerKey::generate(KeyType::P256, None).unwrap();
    let server = AuthorizationServer::builder("http://127.0.0.1:4000", &key.private_jwk().to_json())
        .audience("http://127.0.0.1:4000/api")
        .build();
    assert!(server.is_ok(), "{:?}", server.err());
}
