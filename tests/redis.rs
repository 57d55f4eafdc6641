//! Two client instances share one token through a real Redis server on 127.0.0.1
//! (Debian's redis-server, installed by `.ci/run`), started by each test. Without
//! `redis-server` the tests are reported `ignored` with the reason; with
//! `TOWER_BEARER_REQUIRE_REDIS` set (CI) they fail instead.

mod common;
#[path = "authorization_server/store_conformance.rs"]
mod grant_store_conformance;

use std::future::Future;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::api::recording_api;
use common::harness::Needs;
use common::oidc_provider::free_port;
use common::token_endpoint::TokenEndpoint;
use serde_json::json;
use tower_bearer::client::{AuthorizedClient, ClientCredentials, RedisStore, TokenSource};
use tower_bearer::dpop::{RedisReplayStore, ReplayCheck, ReplayKey, ReplayStore};
use tower_bearer::issue::server::{GrantStore, RedisGrantStore, Taken, TokenKey};
use tower_bearer::keys::{KeySetSource, RedisKeySetStore};
use tower_bearer::testing::{Outage, TestIssuer};

fn main() -> ExitCode {
    let needs = Needs::redis_server();
    common::harness::run(trials![needs;
        a_fleet_shares_one_token_through_redis,
        refused_token_is_replaced_in_the_shared_store,
        renewal_lock_is_owner_safe_and_covers_the_renewal,
        a_stored_token_with_a_huge_expiry_does_not_panic,
        redis_store_compare_and_delete_is_owner_safe,
        an_oversized_stored_token_is_not_read,
        plain_redis_to_a_remote_host_is_refused_before_connecting,
        a_proof_is_recorded_once_in_redis,
        a_fleet_shares_the_replay_record,
        a_replay_record_expires_at_its_exat,
        redis_down_refuses_proofs_within_the_bound,
        a_stalled_redis_refuses_proofs_within_the_bound,
        a_fleet_restarted_during_an_outage_serves_the_key_set_from_redis,
        a_stalled_redis_leaves_the_persisted_key_set_unused_within_the_bound,
        redis_grant_store_takes_a_code_once,
        redis_grant_store_concurrent_takes_have_exactly_one_first,
        redis_grant_store_rotates_a_refresh_token_once,
        redis_grant_store_revokes_a_grant,
        redis_grant_store_puts_never_overwrite,
        redis_grant_store_does_not_store_a_revoked_grant_again,
        redis_grant_store_deletes_a_refresh_token_or_its_marker,
        redis_grant_store_revokes_an_access_record,
        redis_grant_store_records_expire_at_their_ttl,
        redis_grant_store_shares_records_under_one_prefix_only,
        redis_grant_store_keeps_hashes_and_the_remaining_ttl,
        redis_grant_store_refuses_oversized_and_corrupt_records,
        a_stalled_redis_fails_grant_store_calls_within_the_bound,
        two_server_instances_share_codes_grants_and_revocations_through_redis,
        servers_of_different_issuers_sharing_redis_do_not_accept_each_others_records,
    ])
}

struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis(port: u16) -> Redis {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server");
    Redis(child)
}

/// What `connect` makes of the test server's URL, once redis-server accepts connections.
async fn when_up<T, E, F: Future<Output = Result<T, E>>>(port: u16, connect: impl Fn(String) -> F) -> T {
    for _ in 0..50 {
        if let Ok(connected) = connect(format!("redis://127.0.0.1:{port}")).await {
            return connected;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("redis-server does not accept connections on {port}");
}

/// A token store on the test server.
async fn connect(port: u16) -> RedisStore {
    when_up(port, |url| async move { RedisStore::connect(&url, "test:").await }).await
}

/// Runs `redis-cli` against the test server (what an operator would see).
fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli").args(["-p", &port.to_string()]).args(args).output().expect("redis-cli");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn a_fleet_shares_one_token_through_redis() {
    let port = free_port();
    let _redis = start_redis(port);
    let url = format!("redis://127.0.0.1:{port}");
    let store = connect(port).await;

    let endpoint = TokenEndpoint::start(300, Duration::from_millis(100)).await;
    let token_url = endpoint.url.clone();
    // Two instances of one service: separate in-memory caches, one Redis.
    let instance = |store: RedisStore| {
        ClientCredentials::builder()
            .token_url(&token_url)
            .client_auth(tower_bearer::ClientAuth::basic("svc", "s"))
            .scope("read")
            .store(store)
            .build()
            .unwrap()
    };
    let (a, b) = (instance(store.clone()), instance(RedisStore::connect(&url, "test:").await.unwrap()));
    let tasks: Vec<_> = (0..20).map(|i| tokio::spawn(if i % 2 == 0 { a.token() } else { b.token() })).collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().secret(), "token-1");
    }
    assert_eq!(endpoint.calls(), 1, "one token request for the whole fleet");
    // A third instance started later picks the stored token up.
    let c = instance(store);
    assert_eq!(c.token().await.unwrap().secret(), "token-1");
    assert_eq!(endpoint.calls(), 1);
}

fn instance(token_url: &str, store: RedisStore) -> ClientCredentials {
    ClientCredentials::builder()
        .token_url(token_url)
        .client_auth(tower_bearer::ClientAuth::basic("svc", "s"))
        .store(store)
        .build()
        .unwrap()
}

// Item 7: a refused token is removed from the store (only if it is still the stored
// one), and every instance moves to its replacement.
async fn refused_token_is_replaced_in_the_shared_store() {
    let port = free_port();
    let _redis = start_redis(port);
    let endpoint = TokenEndpoint::start(300, Duration::ZERO).await;
    let token_url = endpoint.url.clone();
    // The API has revoked token-1.
    let (api, seen) = recording_api().await;
    let (a, b) = (instance(&token_url, connect(port).await), instance(&token_url, connect(port).await));
    assert_eq!(a.token().await.unwrap().secret(), "token-1");
    assert_eq!(b.token().await.unwrap().secret(), "token-1", "from the store");

    let client_a = AuthorizedClient::new(reqwest::Client::new(), a.clone());
    let res = client_a.send(client_a.get(&api)).await.unwrap();
    assert_eq!(res.status(), http::StatusCode::OK);
    assert_eq!(
        seen.lock().unwrap().clone(),
        ["GET / Bearer token-1  ", "GET / Bearer token-2  "],
        "the retry carries token-2"
    );
    assert_eq!(endpoint.calls(), 2);

    // The other instance still holds token-1 in memory; refused, it takes token-2 from
    // the store and does not delete it (compare-and-delete), nor fetch a third.
    let client_b = AuthorizedClient::new(reqwest::Client::new(), b.clone());
    let res = client_b.send(client_b.get(&api)).await.unwrap();
    assert_eq!(res.status(), http::StatusCode::OK);
    assert_eq!(seen.lock().unwrap()[2..], ["GET / Bearer token-1  ", "GET / Bearer token-2  "]);
    assert_eq!(endpoint.calls(), 2, "token-2 stayed in the store");
    assert_eq!(instance(&token_url, connect(port).await).token().await.unwrap().secret(), "token-2");
    assert_eq!(endpoint.calls(), 2);
}

/// The renewal lock's key, once one exists.
async fn lock_key(port: u16) -> String {
    for _ in 0..100 {
        let key = cli(port, &["--scan", "--pattern", "test:*:lock"]);
        if !key.is_empty() {
            return key;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no renewal lock was taken");
}

// Item 8: the renewal lock has a per-renewal random value, lasts as long as a renewal
// may (the retry budget and a last attempt), and is released only by its owner.
async fn renewal_lock_is_owner_safe_and_covers_the_renewal() {
    let port = free_port();
    let _redis = start_redis(port);
    let token_url = TokenEndpoint::start(300, Duration::from_millis(400)).await.url;
    let renewal = tokio::spawn(instance(&token_url, connect(port).await).token());
    let key = lock_key(port).await;
    let first_owner = cli(port, &["GET", &key]);
    let ttl_ms: u64 = cli(port, &["PTTL", &key]).parse().unwrap();
    // Defaults: retries stop starting after 20 s; each attempt takes up to 10 s.
    assert!(ttl_ms > 30_000, "the lock outlives the retry budget and a last attempt: {ttl_ms} ms");
    // The lock expired meanwhile and another instance took it: ours must not free it.
    assert_eq!(cli(port, &["SET", &key, "someone-else", "PX", "60000"]), "OK");
    assert_eq!(renewal.await.unwrap().unwrap().secret(), "token-1");
    assert_eq!(cli(port, &["GET", &key]), "someone-else", "another owner's lock is left alone");

    // A second renewal's lock value differs (not a constant) and is released by its owner.
    assert_eq!(cli(port, &["DEL", &key]), "1");
    let other_url = TokenEndpoint::start(300, Duration::from_millis(400)).await.url;
    let renewal = tokio::spawn(instance(&other_url, connect(port).await).token());
    let second_key = lock_key(port).await;
    let second_owner = cli(port, &["GET", &second_key]);
    assert!(first_owner.len() >= 16 && second_owner.len() >= 16, "{first_owner:?} {second_owner:?}");
    assert_ne!(first_owner, second_owner);
    renewal.await.unwrap().unwrap();
    assert_eq!(cli(port, &["EXISTS", &second_key]), "0", "released by its owner");
}

/// A token endpoint, and the key under which a first instance stored its `token-1`.
async fn one_stored_token(port: u16) -> (TokenEndpoint, String) {
    let endpoint = TokenEndpoint::start(300, Duration::ZERO).await;
    let a = instance(&endpoint.url, connect(port).await);
    assert_eq!(a.token().await.unwrap().secret(), "token-1");
    let key = cli(port, &["--scan", "--pattern", "test:tower-bearer:token:*"]);
    (endpoint, key)
}

// Item 9: a stored `expires_at` far in the future does not panic (checked arithmetic).
async fn a_stored_token_with_a_huge_expiry_does_not_panic() {
    let port = free_port();
    let _redis = start_redis(port);
    let (endpoint, key) = one_stored_token(port).await;
    let huge = json!({"access_token": "stored-huge", "expires_at": u64::MAX}).to_string();
    assert_eq!(cli(port, &["SET", &key, &huge]), "OK");
    let b = instance(&endpoint.url, connect(port).await);
    let token = b.token().await.unwrap();
    assert_eq!(token.secret(), "stored-huge");
    let left = token.expires_at().unwrap().saturating_duration_since(std::time::Instant::now());
    assert!(left <= Duration::from_secs(24 * 3600), "{left:?}");
    assert_eq!(endpoint.calls(), 1);
}

// Issue 14 item 2: the stored token is read under the same cap as a token answer
// (64 KiB): a polluted entry is not loaded whole, nor sent to APIs.
async fn an_oversized_stored_token_is_not_read() {
    let port = free_port();
    let _redis = start_redis(port);
    let (endpoint, key) = one_stored_token(port).await;
    let oversized = json!({"access_token": "x".repeat(1024 * 1024), "expires_at": u64::MAX}).to_string();
    let mut set = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "-x", "SET", &key])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut set.stdin.take().unwrap(), oversized.as_bytes()).unwrap();
    assert!(set.wait().unwrap().success());
    assert_eq!(cli(port, &["STRLEN", &key]), oversized.len().to_string());
    let b = instance(&endpoint.url, connect(port).await);
    let token = b.token().await.unwrap();
    assert_eq!(token.secret().len(), "token-2".len(), "the oversized entry was used");
    assert_eq!(token.secret(), "token-2");
    assert_eq!(endpoint.calls(), 2);
}

// Items 7 and 8: the store's compare-and-delete primitives against redis-server.
async fn redis_store_compare_and_delete_is_owner_safe() {
    use tower_bearer::client::{StoredToken, TokenStore};
    let port = free_port();
    let _redis = start_redis(port);
    let store = connect(port).await;
    let token = |t: &str| StoredToken { access_token: t.into(), expires_at: u64::MAX, jkt: None };
    store.put("k", token("token-2"), Duration::from_secs(60)).await;
    store.remove_if("k", "token-1").await;
    assert_eq!(store.get("k").await, Some(token("token-2")), "a replacement is not deleted");
    store.remove_if("k", "token-2").await;
    assert_eq!(store.get("k").await, None, "the refused token is deleted");
    // A DPoP-bound token keeps the key it is bound to, and is removed all the same.
    let bound = StoredToken { jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into()), ..token("token-3") };
    store.put("k", bound.clone(), Duration::from_secs(60)).await;
    assert_eq!(store.get("k").await, Some(bound));
    store.remove_if("k", "token-3").await;
    assert_eq!(store.get("k").await, None, "a refused bound token is deleted");

    let ttl = Duration::from_secs(60);
    assert!(store.try_lock("k", "owner-a", ttl).await);
    assert!(!store.try_lock("k", "owner-b", ttl).await, "held");
    store.unlock("k", "owner-b").await;
    assert!(!store.try_lock("k", "owner-c", ttl).await, "not released by another owner");
    store.unlock("k", "owner-a").await;
    assert!(store.try_lock("k", "owner-b", ttl).await, "released by its owner");
}

// Plain `redis://` crosses the network unencrypted (tokens, grants, verification keys):
// like `http://`, it is refused except on loopback, before any connection is tried
// (10.255.255.1 does not answer: a connection attempt would take the whole timeout).
async fn plain_redis_to_a_remote_host_is_refused_before_connecting() {
    async fn refused<T, E: std::fmt::Display>(store: &str, url: &str, connect: impl Future<Output = Result<T, E>>) {
        let started = std::time::Instant::now();
        let answer = tokio::time::timeout(Duration::from_millis(300), connect).await;
        let Ok(Err(error)) = answer else {
            panic!("{store} {url}: not refused at once (after {:?})", started.elapsed());
        };
        let error = error.to_string();
        assert!(error.contains("rediss://") && error.contains("loopback"), "{store} {url}: {error}");
        assert!(!error.contains("hunter2"), "the password is not shown: {error}");
    }
    for url in [
        "redis://10.255.255.1:6379",
        "redis://:hunter2@10.255.255.1:6379/0",
        "redis://redis.internal:6379",
        "valkey://10.255.255.1",
        "rediss://10.255.255.1:6379#insecure",
    ] {
        refused("RedisStore", url, RedisStore::connect(url, "test:")).await;
        refused("RedisReplayStore", url, RedisReplayStore::connect(url, "test:dpop:")).await;
        refused("RedisKeySetStore", url, RedisKeySetStore::connect(url, "test:jwks")).await;
        refused("RedisGrantStore", url, RedisGrantStore::connect(url)).await;
    }
}

/// A replay store on the test server.
async fn replay_store(port: u16) -> RedisReplayStore {
    when_up(port, |url| async move { RedisReplayStore::connect(&url, "test:dpop:").await }).await
}

/// What the store answers, waiting for Redis.
async fn first_use(
    store: &RedisReplayStore,
    key: ReplayKey,
    expires_at: u64,
) -> Result<bool, tower_bearer::Unavailable> {
    match store.first_use(key, expires_at) {
        ReplayCheck::Ready(answer) => answer,
        ReplayCheck::Pending(answer) => answer.await,
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// Issue 16: a proof is accepted once; the record is `<prefix><hex key>` with an EXAT.
async fn a_proof_is_recorded_once_in_redis() {
    let port = free_port();
    let _redis = start_redis(port);
    let store = replay_store(port).await;
    let key = ReplayKey::new(&[1; 32], "jti-1");
    let expires_at = unix_now() + 60;
    assert_eq!(first_use(&store, key, expires_at).await, Ok(true));
    assert_eq!(first_use(&store, key, expires_at).await, Ok(false), "a replay");
    assert_eq!(first_use(&store, ReplayKey::new(&[2; 32], "jti-1"), expires_at).await, Ok(true), "another key's jti");

    let record = format!("test:dpop:{}", hex(key.as_bytes()));
    assert_eq!(cli(port, &["GET", &record]), "1");
    assert_eq!(cli(port, &["EXPIRETIME", &record]), expires_at.to_string());
    let debug = format!("{store:?}");
    assert!(debug.contains("test:dpop:") && !debug.contains("127.0.0.1"), "{debug}");
}

// Issue 16: two instances (a fleet) share one record: a proof used at one is refused
// at the other, also when both see it at once.
async fn a_fleet_shares_the_replay_record() {
    let port = free_port();
    let _redis = start_redis(port);
    let (a, b) = (replay_store(port).await, replay_store(port).await);
    let expires_at = unix_now() + 60;
    let key = ReplayKey::new(&[3; 32], "jti-fleet");
    assert_eq!(first_use(&a, key, expires_at).await, Ok(true));
    assert_eq!(first_use(&b, key, expires_at).await, Ok(false), "replayed at another instance");

    for i in 0..20 {
        let key = ReplayKey::new(&[3; 32], &format!("jti-race-{i}"));
        let (x, y) = tokio::join!(first_use(&a, key, expires_at), first_use(&b, key, expires_at));
        assert_eq!([x.clone(), y.clone()].iter().filter(|r| **r == Ok(true)).count(), 1, "{x:?} {y:?}");
    }
}

// Issue 16: the record lasts until `expires_at`, then the key is free again.
async fn a_replay_record_expires_at_its_exat() {
    let port = free_port();
    let _redis = start_redis(port);
    let store = replay_store(port).await;
    let key = ReplayKey::new(&[4; 32], "jti-expiring");
    let expires_at = unix_now() + 2;
    assert_eq!(first_use(&store, key, expires_at).await, Ok(true));
    assert_eq!(first_use(&store, key, expires_at).await, Ok(false));
    let record = format!("test:dpop:{}", hex(key.as_bytes()));
    while unix_now() < expires_at {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(cli(port, &["EXISTS", &record]), "0", "Redis dropped the record at EXAT");
    assert_eq!(first_use(&store, key, unix_now() + 60).await, Ok(true), "free again");
}

// Issue 16: with Redis gone, a proof is refused (503 with a short Retry-After), within
// the 2 s bound, and never accepted unrecorded.
async fn redis_down_refuses_proofs_within_the_bound() {
    let port = free_port();
    let mut redis = start_redis(port);
    let store = replay_store(port).await;
    let expires_at = unix_now() + 60;
    assert_eq!(first_use(&store, ReplayKey::new(&[5; 32], "before"), expires_at).await, Ok(true));
    redis.0.kill().unwrap();
    redis.0.wait().unwrap();

    for i in 0..3 {
        let started = std::time::Instant::now();
        let answer = first_use(&store, ReplayKey::new(&[5; 32], &format!("after-{i}")), expires_at).await;
        let took = started.elapsed();
        let refused = answer.expect_err("a proof the store could not record is refused");
        assert!(took < Duration::from_millis(2500), "answered in {took:?}");
        assert_eq!(refused.retry_after(), Duration::from_secs(1));
        assert!(refused.reason().contains("replay store (redis)"), "{}", refused.reason());
        assert!(!refused.reason().contains(&hex(ReplayKey::new(&[5; 32], "after-0").as_bytes())));
    }
}

// Issue 16: a Redis that accepts but does not answer (stopped) is a refusal too,
// within the bound, not a hung request.
async fn a_stalled_redis_refuses_proofs_within_the_bound() {
    let port = free_port();
    let redis = start_redis(port);
    let store = replay_store(port).await;
    let expires_at = unix_now() + 60;
    assert_eq!(first_use(&store, ReplayKey::new(&[6; 32], "before"), expires_at).await, Ok(true));
    let signal = |sig: &str| {
        let status = Command::new("kill").args([sig, &redis.0.id().to_string()]).status().unwrap();
        assert!(status.success());
    };
    signal("-STOP");
    let started = std::time::Instant::now();
    let answer = first_use(&store, ReplayKey::new(&[6; 32], "stalled"), expires_at).await;
    let took = started.elapsed();
    signal("-CONT");
    let refused = answer.expect_err("no answer is no record");
    assert!(took < Duration::from_millis(2500), "answered in {took:?}");
    assert_eq!(refused.retry_after(), Duration::from_secs(1));
}

/// A key set store on the test server, under `key`.
async fn key_set_store(port: u16, key: &'static str) -> RedisKeySetStore {
    when_up(port, |url| async move { RedisKeySetStore::connect(&url, key).await }).await
}

// Issue 17 item 5: one instance fetches and writes the set; another, started while the
// IdP is down, serves it from Redis.
async fn a_fleet_restarted_during_an_outage_serves_the_key_set_from_redis() {
    let port = free_port();
    let _redis = start_redis(port);
    let idp = TestIssuer::start().await;
    let first = idp.remote_jwks().persist(key_set_store(port, "test:jwks").await).build().unwrap();
    let me = common::serve_with_keys(&idp, first).await;
    assert_eq!(common::get_bearer(&me, &idp.token().sign()).await.status, http::StatusCode::OK);
    let mut stored = String::new();
    for _ in 0..100 {
        stored = cli(port, &["GET", "test:jwks"]);
        if !stored.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let record: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(record["jwks_url"], idp.jwks_url());
    // Kept no longer than it can serve: TTL (10 min) + max_stale (24 h).
    let pttl: u64 = cli(port, &["PTTL", "test:jwks"]).parse().unwrap();
    assert!(pttl > 24 * 3600 * 1000 && pttl <= (24 * 3600 + 600) * 1000, "{pttl}");

    idp.set_outage(Outage::Status(503));
    let second = idp.remote_jwks().persist(key_set_store(port, "test:jwks").await).build().unwrap();
    let me = common::serve_with_keys(&idp, second.clone()).await;
    assert_eq!(common::get_bearer(&me, &idp.token().sign()).await.status, http::StatusCode::OK);
    assert_eq!(second.health().source, Some(KeySetSource::Persisted));
    // Another key is another issuer's: nothing there.
    let other = idp.remote_jwks().persist(key_set_store(port, "test:jwks:other").await).build().unwrap();
    let me = common::serve_with_keys(&idp, other).await;
    assert_eq!(common::get_bearer(&me, &idp.token().sign()).await.status, http::StatusCode::SERVICE_UNAVAILABLE);
}

// A Redis that accepts but does not answer: with the IdP up, nothing waits for it; with
// the IdP down, the read is given up after 2 s and the answer is a 503, not a hang.
async fn a_stalled_redis_leaves_the_persisted_key_set_unused_within_the_bound() {
    let port = free_port();
    let redis = start_redis(port);
    let idp = TestIssuer::start().await;
    let store = key_set_store(port, "test:jwks").await;
    let signal = |sig: &str| {
        let status = Command::new("kill").args([sig, &redis.0.id().to_string()]).status().unwrap();
        assert!(status.success());
    };
    signal("-STOP");
    let up = idp.remote_jwks().persist(store.clone()).build().unwrap();
    let started = std::time::Instant::now();
    assert_eq!(up.prefetch().await.unwrap(), 1);
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());

    idp.set_outage(Outage::Status(503));
    let down = idp.remote_jwks().persist(store).build().unwrap();
    let me = common::serve_with_keys(&idp, down).await;
    let started = std::time::Instant::now();
    let status = common::get_bearer(&me, &idp.token().sign()).await.status;
    let took = started.elapsed();
    signal("-CONT");
    assert_eq!(status, http::StatusCode::SERVICE_UNAVAILABLE);
    assert!(took < Duration::from_millis(3500), "answered in {took:?}");
}

/// A grant store on the test server, under `prefix`.
async fn grant_store(port: u16, prefix: &'static str) -> RedisGrantStore {
    when_up(port, |url| async move { RedisGrantStore::connect(&url).await.map(|s| s.prefix(prefix)) }).await
}

/// Runs one `GrantStore` conformance case (the bodies `MemoryStore` passes too) on a
/// fresh redis-server.
async fn conforms<F: Future<Output = ()>>(case: impl FnOnce(Arc<dyn GrantStore>) -> F) {
    let port = free_port();
    let _redis = start_redis(port);
    case(Arc::new(grant_store(port, "test:as:").await)).await;
}

// Issue 18: the GrantStore contract, in Redis.
async fn redis_grant_store_takes_a_code_once() {
    conforms(grant_store_conformance::a_code_is_taken_once).await;
}

async fn redis_grant_store_concurrent_takes_have_exactly_one_first() {
    conforms(grant_store_conformance::concurrent_takes_have_exactly_one_first).await;
}

async fn redis_grant_store_rotates_a_refresh_token_once() {
    conforms(grant_store_conformance::a_refresh_token_rotates_once).await;
}

async fn redis_grant_store_revokes_a_grant() {
    conforms(grant_store_conformance::a_grant_is_revoked).await;
}

async fn redis_grant_store_puts_never_overwrite() {
    conforms(grant_store_conformance::puts_never_overwrite).await;
}

async fn redis_grant_store_does_not_store_a_revoked_grant_again() {
    conforms(grant_store_conformance::a_revoked_grant_is_not_stored_again).await;
}

async fn redis_grant_store_deletes_a_refresh_token_or_its_marker() {
    conforms(grant_store_conformance::a_refresh_token_or_its_marker_is_deleted).await;
}

async fn redis_grant_store_revokes_an_access_record() {
    conforms(grant_store_conformance::an_access_record_is_revoked).await;
}

async fn redis_grant_store_records_expire_at_their_ttl() {
    conforms(grant_store_conformance::records_expire_at_their_ttl).await;
}

// Issue 18: two instances with one prefix share codes (a code taken at one is a replay
// at the other); another prefix is another server.
async fn redis_grant_store_shares_records_under_one_prefix_only() {
    use grant_store_conformance::{code, grant};
    let port = free_port();
    let _redis = start_redis(port);
    let (a, b) = (grant_store(port, "test:as:").await, grant_store(port, "test:as:").await);
    let other = grant_store(port, "test:other:").await;
    let key = TokenKey::of("shared code");
    a.put_code(&key, code("g"), Duration::from_secs(60)).await.unwrap();
    assert_eq!(other.take_code(&key).await.unwrap(), Taken::Missing);
    assert_eq!(b.take_code(&key).await.unwrap(), Taken::First(code("g")));
    assert_eq!(a.take_code(&key).await.unwrap(), Taken::Again { grant_id: "g".into() });
    assert!(b.put_grant(grant("g"), Duration::from_secs(60)).await.unwrap());
    assert_eq!(a.grant("g").await.unwrap(), Some(grant("g")));
    a.revoke_grant("g").await.unwrap();
    assert_eq!(b.grant("g").await.unwrap(), None, "a revocation at one is seen at the other");
}

// Issue 18: what an operator sees in Redis: hashed keys under the prefix (no token),
// JSON records with their PX expiry, a used marker keeping the remaining TTL.
async fn redis_grant_store_keeps_hashes_and_the_remaining_ttl() {
    use grant_store_conformance::refresh;
    let port = free_port();
    let _redis = start_redis(port);
    let store = grant_store(port, "test:as:").await;
    let key = TokenKey::of("the refresh token secret");
    store.put_refresh_token(&key, refresh("g"), Duration::from_secs(60)).await.unwrap();
    let name = format!("test:as:refresh:{}", key.as_str());
    assert_eq!(cli(port, &["KEYS", "*"]), name);
    let record: serde_json::Value = serde_json::from_str(&cli(port, &["GET", &name])).unwrap();
    assert_eq!(record["grant_id"], "g");
    assert!(!cli(port, &["GET", &name]).contains("the refresh token secret"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(matches!(store.take_refresh_token(&key).await.unwrap(), Taken::First(_)));
    let marker = cli(port, &["GET", &name]);
    assert!(marker.starts_with("used:{"), "{marker}");
    let pttl: u64 = cli(port, &["PTTL", &name]).parse().unwrap();
    assert!(pttl > 50_000 && pttl <= 59_000, "the marker keeps the remaining TTL, not a fresh one: {pttl}");
    // A revoked grant is a marker kept for REVOCATION_MEMORY, not a grant.
    store.revoke_grant("g").await.unwrap();
    assert_eq!(cli(port, &["GET", "test:as:grant:g"]), "revoked");
    let pttl: u64 = cli(port, &["PTTL", "test:as:grant:g"]).parse().unwrap();
    assert!(pttl > 590_000 && pttl <= 600_000, "{pttl}");
    // A record of the previous version (no `previous`) still reads.
    let old = TokenKey::of("an old refresh token");
    let old_name = format!("test:as:refresh:{}", old.as_str());
    cli(port, &["SET", &old_name, r#"{"grant_id":"g","client_id":"web","expires_at":1701209601}"#]);
    let record = store.refresh_token(&old).await.unwrap().unwrap();
    assert_eq!((record.grant_id.as_str(), record.previous), ("g", None));
    // A ttl beyond what any store keeps is shortened (400 days), not refused.
    let key = TokenKey::of("another refresh token");
    let name = format!("test:as:refresh:{}", key.as_str());
    store.put_refresh_token(&key, refresh("g"), Duration::MAX).await.unwrap();
    let pttl: u64 = cli(port, &["PTTL", &name]).parse().unwrap();
    assert!(pttl > 399 * 24 * 3600 * 1000 && pttl <= 400 * 24 * 3600 * 1000, "{pttl}");
}

// Issue 18: a polluted key is never read whole, a corrupt one is an error, and a
// record too big to read back is not written.
async fn redis_grant_store_refuses_oversized_and_corrupt_records() {
    use grant_store_conformance::grant;
    let port = free_port();
    let _redis = start_redis(port);
    let store = grant_store(port, "test:as:").await;
    let big = format!("{{\"id\":\"{}\"}}", "x".repeat(70 * 1024));
    let code_key = TokenKey::of("big code");
    for name in ["test:as:grant:big".to_owned(), format!("test:as:code:{}", code_key.as_str())] {
        let out =
            Command::new("redis-cli").args(["-p", &port.to_string(), "-x", "SET", &name]).stdin(Stdio::piped()).spawn();
        let mut child = out.unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), big.as_bytes()).unwrap();
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success());
    }
    assert_eq!(store.grant("big").await.unwrap(), None, "oversized: not read");
    let refused = store.take_code(&code_key).await.unwrap_err();
    assert!(refused.to_string().contains("redis failed"), "{refused}");

    cli(port, &["SET", "test:as:grant:bad", "{not json"]);
    let corrupt = store.grant("bad").await.unwrap_err();
    assert!(corrupt.to_string().contains("corrupt"), "{corrupt}");

    let mut huge = grant("huge");
    huge.claims.insert("blob".into(), serde_json::json!("y".repeat(70 * 1024)));
    let too_big = store.put_grant(huge, Duration::from_secs(60)).await.unwrap_err();
    assert!(too_big.to_string().contains("limit"), "{too_big}");
    assert_eq!(cli(port, &["EXISTS", "test:as:grant:huge"]), "0");
}

// Issue 18: a Redis that accepts but does not answer fails each call within the bound
// (the endpoint answers 503), it does not hang the request.
async fn a_stalled_redis_fails_grant_store_calls_within_the_bound() {
    use grant_store_conformance::code;
    let port = free_port();
    let redis = start_redis(port);
    let store = grant_store(port, "test:as:").await;
    let key = TokenKey::of("code");
    store.put_code(&key, code("g"), Duration::from_secs(60)).await.unwrap();
    let signal = |sig: &str| {
        let status = Command::new("kill").args([sig, &redis.0.id().to_string()]).status().unwrap();
        assert!(status.success());
    };
    signal("-STOP");
    let started = std::time::Instant::now();
    let taken = store.take_code(&key).await;
    let took = started.elapsed();
    let quick = store.clone().timeout(Duration::from_millis(200));
    let started = std::time::Instant::now();
    let grant = quick.grant("g").await;
    let quick_took = started.elapsed();
    signal("-CONT");
    // redis's own response timeout (500 ms by default) or ours (2 s), whichever is first.
    assert!(taken.is_err());
    assert!(took < Duration::from_millis(2500), "answered in {took:?}");
    let err = grant.unwrap_err();
    assert!(err.to_string().contains("within 200ms"), "{err}");
    assert!(quick_took < Duration::from_millis(700), "the configured bound: {quick_took:?}");
}

/// One instance of an authorization server for the fleet `issuer`, on `listener`,
/// keeping its state in `store`; `GET /api/me` is behind its own verifier.
async fn server_instance(
    listener: tokio::net::TcpListener,
    issuer: &str,
    audience: &str,
    format: tower_bearer::issue::server::AccessTokenFormat,
    store: RedisGrantStore,
) -> (String, tower_bearer::issue::server::AuthorizationServer) {
    use tower_bearer::issue::server::{AuthorizationServer, Client, ClientRegistry, GrantType};
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let key = KEY.get_or_init(|| {
        tower_bearer::issue::IssuerKey::generate(tower_bearer::issue::KeyType::Rsa(2048), None)
            .unwrap()
            .private_jwk()
            .to_json()
    });
    let web = Client::confidential(FLEET_WEB.0, FLEET_WEB.1)
        .unwrap()
        .redirect_uri(FLEET_REDIRECT)
        .grant_type(GrantType::AuthorizationCode)
        .grant_type(GrantType::RefreshToken)
        .scope("read");
    let server = AuthorizationServer::builder(issuer, key)
        .audience(audience)
        .clients(ClientRegistry::new().with(web).unwrap())
        .access_token_format(format)
        .store(store)
        .build()
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let api = axum::Router::new()
        .route("/api/me", axum::routing::get(|| async { "me" }))
        .layer(tower_bearer::BearerLayer::new(server.verifier()));
    let app = server.router().merge(api);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, server)
}

const FLEET_AUDIENCE: &str = "https://api.example.com";
const FLEET_WEB: (&str, &str) = ("web", "web-secret-0123456789abcdef");
const FLEET_REDIRECT: &str = "http://127.0.0.1:9/callback";

/// A code for `alice` from `server`'s authorization endpoint, and its PKCE verifier.
async fn fleet_code(server: &tower_bearer::issue::server::AuthorizationServer) -> (String, String) {
    use base64::Engine as _;
    use sha2::Digest as _;
    use tower_bearer::issue::server::{Consent, Decision};
    let verifier = format!("verifier-{}", rand::random::<u128>()).repeat(2);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&verifier));
    let mut url = reqwest::Url::parse("http://x/").unwrap();
    url.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", FLEET_WEB.0),
        ("redirect_uri", FLEET_REDIRECT),
        ("scope", "read"),
        ("state", "s"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let request = server.validate_authorization_request(url.query().unwrap().as_bytes()).await.unwrap();
    let consent = Decision::Allow(Consent::new("alice").scopes(["read"]));
    let redirect = server.create_authorization_response(&request, consent).await.unwrap();
    let location = reqwest::Url::parse(redirect.location()).unwrap();
    let code = location.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    (code, verifier)
}

/// POSTs `form` to `base` + `path` as the fleet's web client: status and JSON body.
async fn fleet_post(base: &str, path: &str, form: &[(&str, &str)]) -> (http::StatusCode, serde_json::Value) {
    let res = common::client()
        .post(format!("{base}{path}"))
        .basic_auth(FLEET_WEB.0, Some(FLEET_WEB.1))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body = res.text().await.unwrap();
    (status, if body.is_empty() { serde_json::Value::Null } else { serde_json::from_str(&body).unwrap() })
}

async fn fleet_exchange(base: &str, code: &str, verifier: &str) -> (http::StatusCode, serde_json::Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", FLEET_REDIRECT),
        ("code_verifier", verifier),
    ];
    fleet_post(base, "/token", &form).await
}

async fn fleet_introspect(base: &str, token: &str) -> serde_json::Value {
    let (status, body) = fleet_post(base, "/introspect", &[("token", token)]).await;
    assert_eq!(status, http::StatusCode::OK, "{body}");
    body
}

// Issue 18: two instances of one authorization server (one issuer, one key, one Redis
// prefix) on different ports: a code issued at A is exchanged at B and its replay at A
// revokes the grant; a refresh token rotated at A and replayed at B ends the grant for
// A too; a revocation at A is seen at B.
async fn two_server_instances_share_codes_grants_and_revocations_through_redis() {
    use tower_bearer::issue::server::AccessTokenFormat;
    let port = free_port();
    let _redis = start_redis(port);
    for format in [AccessTokenFormat::Jwt, AccessTokenFormat::Opaque] {
        let prefix = if format == AccessTokenFormat::Jwt { "fleet:jwt:" } else { "fleet:opaque:" };
        let (listener_a, listener_b) = (
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        );
        let issuer = format!("http://{}", listener_a.local_addr().unwrap());
        let (a, server_a) =
            server_instance(listener_a, &issuer, FLEET_AUDIENCE, format, grant_store(port, prefix).await).await;
        let (b, server_b) =
            server_instance(listener_b, &issuer, FLEET_AUDIENCE, format, grant_store(port, prefix).await).await;
        assert_ne!(a, b);

        // A code issued at A, exchanged at B; replayed at A: refused, and its grant ends.
        let (code, verifier) = fleet_code(&server_a).await;
        let (status, first) = fleet_exchange(&b, &code, &verifier).await;
        assert_eq!(status, http::StatusCode::OK, "{format:?}: {first}");
        let access = first["access_token"].as_str().unwrap().to_owned();
        assert_eq!(fleet_introspect(&a, &access).await["active"], json!(true), "{format:?}: B's token, at A");
        let (status, replay) = fleet_exchange(&a, &code, &verifier).await;
        assert_eq!((status, &replay["error"]), (http::StatusCode::BAD_REQUEST, &json!("invalid_grant")));
        assert_eq!(fleet_introspect(&b, &access).await, json!({"active": false}), "{format:?}: code replay");

        // A refresh token rotated at A, the old one replayed at B: the grant ends, at A too.
        let (code, verifier) = fleet_code(&server_b).await;
        let (_, tokens) = fleet_exchange(&b, &code, &verifier).await;
        let old_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        let (status, rotated) =
            fleet_post(&a, "/token", &[("grant_type", "refresh_token"), ("refresh_token", &old_refresh)]).await;
        assert_eq!(status, http::StatusCode::OK, "{format:?}: {rotated}");
        let new_access = rotated["access_token"].as_str().unwrap().to_owned();
        let new_refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
        assert_eq!(fleet_introspect(&b, &new_access).await["active"], json!(true));
        let (status, reused) =
            fleet_post(&b, "/token", &[("grant_type", "refresh_token"), ("refresh_token", &old_refresh)]).await;
        assert_eq!((status, &reused["error"]), (http::StatusCode::BAD_REQUEST, &json!("invalid_grant")));
        assert_eq!(fleet_introspect(&a, &new_access).await, json!({"active": false}), "{format:?}: reuse");
        assert_eq!(fleet_introspect(&a, &new_refresh).await, json!({"active": false}));
        let (status, _) =
            fleet_post(&a, "/token", &[("grant_type", "refresh_token"), ("refresh_token", &new_refresh)]).await;
        assert_eq!(status, http::StatusCode::BAD_REQUEST, "the rotated refresh token died with its grant");

        // A revocation at A is seen at B.
        let (code, verifier) = fleet_code(&server_a).await;
        let (_, tokens) = fleet_exchange(&a, &code, &verifier).await;
        let (access, refresh) =
            (tokens["access_token"].as_str().unwrap().to_owned(), tokens["refresh_token"].as_str().unwrap().to_owned());
        assert_eq!(fleet_introspect(&b, &access).await["active"], json!(true));
        let (status, _) = fleet_post(&a, "/revoke", &[("token", &refresh)]).await;
        assert_eq!(status, http::StatusCode::OK);
        assert_eq!(fleet_introspect(&b, &access).await, json!({"active": false}), "{format:?}: revoked at A");
        assert_eq!(fleet_introspect(&b, &refresh).await, json!({"active": false}));
    }
}

/// `GET base/api/me` with `token`: the status `server.verifier()` gives.
async fn fleet_me(base: &str, token: &str) -> http::StatusCode {
    common::client().get(format!("{base}/api/me")).bearer_auth(token).send().await.unwrap().status()
}

// Review of issue 18: two servers of different issuers (staging and production, say)
// pointed at one Redis with the default prefix, with the same client registered at
// both: neither accepts the other's codes or opaque tokens. With a prefix set to the
// same value by mistake, an access token still names its audience: another server's is
// inactive.
async fn servers_of_different_issuers_sharing_redis_do_not_accept_each_others_records() {
    use tower_bearer::issue::server::AccessTokenFormat::Opaque;
    let port = free_port();
    let _redis = start_redis(port);
    let default_prefix = || when_up(port, |url| async move { RedisGrantStore::connect(&url).await });
    let bind = || async { tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap() };
    let (listener_a, listener_b) = (bind().await, bind().await);
    let (issuer_a, issuer_b) = (
        format!("http://{}", listener_a.local_addr().unwrap()),
        format!("http://{}", listener_b.local_addr().unwrap()),
    );
    let (a, server_a) = server_instance(listener_a, &issuer_a, FLEET_AUDIENCE, Opaque, default_prefix().await).await;
    let (b, _server_b) = server_instance(listener_b, &issuer_b, FLEET_AUDIENCE, Opaque, default_prefix().await).await;

    let (code, verifier) = fleet_code(&server_a).await;
    let (status, refused) = fleet_exchange(&b, &code, &verifier).await;
    assert_eq!((status, &refused["error"]), (http::StatusCode::BAD_REQUEST, &json!("invalid_grant")), "A's code at B");
    let (status, tokens) = fleet_exchange(&a, &code, &verifier).await;
    assert_eq!(status, http::StatusCode::OK, "the code is still A's to exchange: {tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(fleet_me(&a, access).await, http::StatusCode::OK);
    assert_eq!(fleet_introspect(&b, access).await, json!({"active": false}), "A's token at B's introspection");
    assert_eq!(fleet_me(&b, access).await, http::StatusCode::UNAUTHORIZED, "A's token at B's verifier");
    let keys = cli(port, &["KEYS", "*"]);
    assert!(!keys.contains("tower-bearer:as:access:"), "the default prefix names the issuer: {keys}");

    // One prefix set for both (a misconfiguration), different audiences.
    let shared = || grant_store(port, "shared:");
    let (listener_c, listener_d) = (bind().await, bind().await);
    let (issuer_c, issuer_d) = (
        format!("http://{}", listener_c.local_addr().unwrap()),
        format!("http://{}", listener_d.local_addr().unwrap()),
    );
    let (c, server_c) =
        server_instance(listener_c, &issuer_c, "https://staging.example.com", Opaque, shared().await).await;
    let (d, _server_d) = server_instance(listener_d, &issuer_d, FLEET_AUDIENCE, Opaque, shared().await).await;
    let (code, verifier) = fleet_code(&server_c).await;
    let (_, tokens) = fleet_exchange(&c, &code, &verifier).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(fleet_introspect(&c, access).await["active"], json!(true));
    assert_eq!(fleet_introspect(&d, access).await, json!({"active": false}), "another audience's token");
    assert_eq!(fleet_me(&d, access).await, http::StatusCode::UNAUTHORIZED);
}
