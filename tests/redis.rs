//! Two client instances share one token through a real Redis server on 127.0.0.1
//! (Debian's redis-server, installed by `.ci/run`). Skipped with a message when
//! `redis-server` is missing, unless CI requires it.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use common::oidc_provider::free_port;
use common::serve;
use serde_json::json;
use tower_bearer::client::{ClientCredentials, RedisStore, TokenSource};

struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis(port: u16) -> Option<Redis> {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match child {
        Ok(c) => Some(Redis(c)),
        Err(e) => {
            assert!(std::env::var_os("TOWER_BEARER_REQUIRE_REDIS").is_none(), "redis-server required: {e}");
            eprintln!("SKIPPED: redis-server is not installed ({e}); `apt-get install redis-server`");
            None
        }
    }
}

#[tokio::test]
async fn a_fleet_shares_one_token_through_redis() {
    let port = free_port();
    let Some(_redis) = start_redis(port) else { return };
    let url = format!("redis://127.0.0.1:{port}");
    let mut connected = None;
    for _ in 0..50 {
        if let Ok(store) = RedisStore::connect(&url, "test:").await {
            connected = Some(store);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let store = connected.expect("redis-server accepts connections");

    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let app = Router::new().route(
        "/token",
        post(move || {
            let c = c.clone();
            async move {
                let n = c.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                json!({"access_token": format!("shared-{n}"), "token_type": "Bearer", "expires_in": 300}).to_string()
            }
        }),
    );
    let token_url = format!("{}/token", serve(app).await);
    // Two instances of one service: separate in-memory caches, one Redis.
    let instance = |store: RedisStore| {
        ClientCredentials::builder()
            .token_url(&token_url)
            .client_id("svc")
            .client_secret("s")
            .scope("read")
            .store(store)
            .build()
            .unwrap()
    };
    let (a, b) = (instance(store.clone()), instance(RedisStore::connect(&url, "test:").await.unwrap()));
    let tasks: Vec<_> = (0..20).map(|i| tokio::spawn(if i % 2 == 0 { a.token() } else { b.token() })).collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().secret(), "shared-1");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one token request for the whole fleet");
    // A third instance started later picks the stored token up.
    let c = instance(store);
    assert_eq!(c.token().await.unwrap().secret(), "shared-1");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
