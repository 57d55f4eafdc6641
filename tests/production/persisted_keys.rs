//! A persisted key set (issue 17 item 5): a service restarted while its identity
//! provider is down still verifies tokens from the set written before, under the same
//! `max_stale` rule, and only for the source it was fetched from. Real HTTP, a real
//! TestIssuer, real files.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{get_bearer, serve_with_keys};
use reqwest::StatusCode;
use serde_json::Value;
use tower_bearer::BoxFuture;
use tower_bearer::keys::{KeySetSource, KeySetStore, KeySetStoreError, KeyState, RemoteJwks};
use tower_bearer::testing::{Outage, TestIssuer};

/// A fresh path in the temp directory for `test` (removed first).
fn record_path(test: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("tower-bearer-persist-{test}-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// Waits until the record at `path` exists and satisfies `ok` (writes run in the background).
async fn wait_for_record(path: &Path, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(bytes) = std::fs::read(path)
            && let Ok(record) = serde_json::from_slice::<Value>(&bytes)
            && ok(&record)
        {
            return record;
        }
        assert!(Instant::now() < deadline, "no record written at {}", path.display());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs a store once against the live issuer so it writes its record, and returns it.
async fn write_record(idp: &TestIssuer, store: RemoteJwks, path: &Path) -> Value {
    let me = serve_with_keys(idp, store).await;
    assert_eq!(get_bearer(&me, &idp.token().sign()).await.status, StatusCode::OK);
    wait_for_record(path, |_| true).await
}

#[tokio::test]
async fn a_restart_during_an_outage_serves_the_persisted_set() {
    let idp = TestIssuer::start().await;
    let path = record_path("restart");
    let record = write_record(&idp, idp.remote_jwks().persist_to_file(&path).build().unwrap(), &path).await;
    assert_eq!(record["jwks_url"], idp.jwks_url());
    assert_eq!(record["jwks"]["keys"][0]["kid"], idp.current_kid().as_str());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    // "Restart" while the IdP is down: a new store, reading the record.
    idp.set_outage(Outage::Status(503));
    let restarted = idp.remote_jwks().persist_to_file(&path).build().unwrap();
    let me = serve_with_keys(&idp, restarted.clone()).await;
    let reply = get_bearer(&me, &idp.token().subject("after-restart").sign()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["sub"], "after-restart");
    let health = restarted.health();
    assert_eq!(health.source, Some(KeySetSource::Persisted));
    assert_eq!(health.state, KeyState::Fresh);
    assert_eq!(health.key_count, 1);

    // Without the record, the same outage is a 503.
    let without = serve_with_keys(&idp, idp.remote_jwks().build().unwrap()).await;
    assert_eq!(get_bearer(&without, &idp.token().sign()).await.status, StatusCode::SERVICE_UNAVAILABLE);

    // Once the IdP is back, a fetch replaces the persisted set.
    idp.set_outage(Outage::None);
    let deadline = Instant::now() + Duration::from_secs(10);
    while restarted.health().source != Some(KeySetSource::Fetched) {
        assert!(Instant::now() < deadline, "the fetched set never replaced the persisted one");
        let _ = get_bearer(&me, &idp.token().sign()).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_stale_window_counts_from_the_original_fetch() {
    let idp = TestIssuer::start().await;
    let path = record_path("stale-window");
    let build = |max_stale: Duration| {
        idp.remote_jwks().ttl(Duration::from_millis(200)).max_stale(max_stale).persist_to_file(&path).build().unwrap()
    };
    write_record(&idp, build(Duration::from_millis(300)), &path).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    idp.set_outage(Outage::Status(503));

    // 800 ms after the fetch, past TTL (200 ms) + max_stale (300 ms): refused.
    let late = build(Duration::from_millis(300));
    let me = serve_with_keys(&idp, late.clone()).await;
    let reply = get_bearer(&me, &idp.token().sign()).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.headers.contains_key("retry-after"));
    assert_eq!(late.health().state, KeyState::NeverLoaded);

    // The same record with a wider window: served, stale, and its age is the fetch's.
    let wide = build(Duration::from_secs(3600));
    let me = serve_with_keys(&idp, wide.clone()).await;
    assert_eq!(get_bearer(&me, &idp.token().sign()).await.status, StatusCode::OK);
    let health = wide.health();
    assert_eq!((health.state, health.source), (KeyState::Stale, Some(KeySetSource::Persisted)));
    assert!(health.failing_for_secs.is_some());
}

#[tokio::test]
async fn a_corrupt_or_oversized_record_is_ignored() {
    let idp = TestIssuer::start().await;
    let path = record_path("corrupt");
    let record = write_record(&idp, idp.remote_jwks().persist_to_file(&path).build().unwrap(), &path).await;
    let valid = serde_json::to_vec(&record).unwrap();
    idp.set_outage(Outage::Status(503));

    let status_with = |bytes: Vec<u8>| {
        let (idp, path) = (&idp, &path);
        async move {
            std::fs::write(path, bytes).unwrap();
            let me = serve_with_keys(idp, idp.remote_jwks().persist_to_file(path).build().unwrap()).await;
            get_bearer(&me, &idp.token().sign()).await.status
        }
    };
    assert_eq!(status_with(b"{\"format\": \"tower-bearer/jwks-rec".to_vec()).await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(status_with(vec![0xff; 64]).await, StatusCode::SERVICE_UNAVAILABLE);
    let mut no_keys = record.clone();
    no_keys["jwks"] = serde_json::json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]});
    assert_eq!(status_with(serde_json::to_vec(&no_keys).unwrap()).await, StatusCode::SERVICE_UNAVAILABLE);
    // A valid record padded past the bound (1 MiB + 16 KiB) is not read.
    let mut padded = valid.clone();
    padded.extend(std::iter::repeat_n(b' ', 1024 * 1024 + 16 * 1024));
    assert_eq!(status_with(padded).await, StatusCode::SERVICE_UNAVAILABLE);
    // The control: the same record unpadded is used.
    assert_eq!(status_with(valid).await, StatusCode::OK);

    // With the IdP back, a corrupt record is simply replaced.
    idp.set_outage(Outage::None);
    std::fs::write(&path, b"garbage").unwrap();
    let me = serve_with_keys(&idp, idp.remote_jwks().persist_to_file(&path).build().unwrap()).await;
    assert_eq!(get_bearer(&me, &idp.token().sign()).await.status, StatusCode::OK);
    wait_for_record(&path, |r| r["jwks_url"] == idp.jwks_url()).await;
}

#[tokio::test]
async fn a_record_for_another_source_is_ignored() {
    let a = TestIssuer::start().await;
    let b = TestIssuer::start().await;
    let path = record_path("other-source");
    write_record(&a, a.remote_jwks().persist_to_file(&path).build().unwrap(), &path).await;
    a.set_outage(Outage::Status(503));
    b.set_outage(Outage::Status(503));
    // B's store reads A's record: another JWKS URL, ignored (even were A's keys B's).
    let me = serve_with_keys(&b, b.remote_jwks().persist_to_file(&path).build().unwrap()).await;
    assert_eq!(get_bearer(&me, &b.token().sign()).await.status, StatusCode::SERVICE_UNAVAILABLE);
    // A discovery store for issuer A: bound to the issuer, and the record names none.
    let by_discovery = RemoteJwks::builder().discovery(a.issuer()).persist_to_file(&path).build().unwrap();
    let me = serve_with_keys(&a, by_discovery).await;
    assert_eq!(get_bearer(&me, &a.token().sign()).await.status, StatusCode::SERVICE_UNAVAILABLE);
    // The control: A's own configuration uses it.
    let me = serve_with_keys(&a, a.remote_jwks().persist_to_file(&path).build().unwrap()).await;
    assert_eq!(get_bearer(&me, &a.token().sign()).await.status, StatusCode::OK);

    // Discovery records carry the issuer; another issuer's discovery store ignores them.
    let discovered = record_path("other-issuer");
    a.set_outage(Outage::None);
    let record = write_record(
        &a,
        RemoteJwks::builder().discovery(a.issuer()).persist_to_file(&discovered).build().unwrap(),
        &discovered,
    )
    .await;
    assert_eq!(record["issuer"], a.issuer());
    a.set_outage(Outage::Status(503));
    let me =
        serve_with_keys(&b, RemoteJwks::builder().discovery(b.issuer()).persist_to_file(&discovered).build().unwrap())
            .await;
    assert_eq!(get_bearer(&me, &b.token().sign()).await.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_record_dated_in_the_future_or_writable_by_others_is_refused() {
    let idp = TestIssuer::start().await;
    let path = record_path("future");
    let record = write_record(&idp, idp.remote_jwks().persist_to_file(&path).build().unwrap(), &path).await;
    idp.set_outage(Outage::Status(503));
    let status_with = |record: &Value| {
        let (idp, path) = (&idp, &path);
        let bytes = serde_json::to_vec(record).unwrap();
        async move {
            std::fs::write(path, bytes).unwrap();
            let me = serve_with_keys(idp, idp.remote_jwks().persist_to_file(path).build().unwrap()).await;
            get_bearer(&me, &idp.token().sign()).await.status
        }
    };
    let shifted = |by_ms: i64| {
        let mut r = record.clone();
        r["fetched_at_ms"] = (r["fetched_at_ms"].as_i64().unwrap() + by_ms).into();
        r
    };
    // An hour ahead: a wrong clock must not stretch the window.
    assert_eq!(status_with(&shifted(3_600_000)).await, StatusCode::SERVICE_UNAVAILABLE);
    // Ten seconds ahead (fleet clocks differ): just fetched.
    assert_eq!(status_with(&shifted(10_000)).await, StatusCode::OK);
    // A day and a half old: past TTL (10 min) + max_stale (24 h).
    assert_eq!(status_with(&shifted(-36 * 3_600_000)).await, StatusCode::SERVICE_UNAVAILABLE);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(status_with(&record).await, StatusCode::OK);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let me = serve_with_keys(&idp, idp.remote_jwks().persist_to_file(&path).build().unwrap()).await;
        assert_eq!(get_bearer(&me, &idp.token().sign()).await.status, StatusCode::SERVICE_UNAVAILABLE);
    }
}

// From the review: a link to a file, a pipe (whose open would block a thread for
// good), or another user's file at the record's path is refused at once.
#[cfg(unix)]
#[tokio::test]
async fn a_link_a_pipe_or_another_users_file_is_refused() {
    use std::os::unix::fs::MetadataExt as _;
    let idp = TestIssuer::start().await;
    let path = record_path("not-a-file");
    write_record(&idp, idp.remote_jwks().persist_to_file(&path).build().unwrap(), &path).await;
    idp.set_outage(Outage::Status(503));
    let status_at = |at: std::path::PathBuf| {
        let idp = &idp;
        async move {
            let me = serve_with_keys(idp, idp.remote_jwks().persist_to_file(&at).build().unwrap()).await;
            let started = std::time::Instant::now();
            let status = get_bearer(&me, &idp.token().sign()).await.status;
            (status, started.elapsed())
        }
    };
    assert_eq!(status_at(path.clone()).await.0, StatusCode::OK, "the record itself is served");

    let link = record_path("link");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&path, &link).unwrap();
    assert_eq!(status_at(link.clone()).await.0, StatusCode::SERVICE_UNAVAILABLE, "a symlink is not trusted");
    let _ = std::fs::remove_file(&link);

    let fifo = record_path("fifo");
    let _ = std::fs::remove_file(&fifo);
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let (status, took) = status_at(fifo.clone()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(took < Duration::from_millis(1500), "refused at once, not after the store's 2 s bound: {took:?}");
    let _ = std::fs::remove_file(&fifo);

    // Another user's file: only root can make one here.
    if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
        std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
        assert_eq!(status_at(path.clone()).await.0, StatusCode::SERVICE_UNAVAILABLE, "another user's file");
    }
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_fresh_fetch_wins_over_the_record() {
    let idp = TestIssuer::start().await;
    let path = record_path("fresh-wins");
    write_record(&idp, idp.remote_jwks().persist_to_file(&path).build().unwrap(), &path).await;
    let old = idp.current_kid();
    let old_token = idp.token().sign();
    idp.rotate();
    idp.unpublish(&old);
    let store = idp.remote_jwks().persist_to_file(&path).build().unwrap();
    let me = serve_with_keys(&idp, store.clone()).await;
    assert_eq!(get_bearer(&me, &idp.token().sign()).await.status, StatusCode::OK);
    assert_eq!(get_bearer(&me, &old_token).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(store.health().source, Some(KeySetSource::Fetched));
    let record = wait_for_record(&path, |r| r["jwks"]["keys"][0]["kid"] != old.as_str()).await;
    assert_eq!(record["jwks"]["keys"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_304_refreshes_the_record_so_its_age_stays_right() {
    let idp = TestIssuer::start().await;
    let path = record_path("not-modified");
    let store = idp.remote_jwks().ttl(Duration::from_millis(200)).persist_to_file(&path).build().unwrap();
    let first = write_record(&idp, store.clone(), &path).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    store.prefetch().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while idp.jwks_not_modified() == 0 {
        assert!(Instant::now() < deadline, "no conditional refetch");
        let _ = tower_bearer::keys::KeyStore::current(&store);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fetched_at = |r: &Value| r["fetched_at_ms"].as_u64().unwrap();
    let later = wait_for_record(&path, |r| fetched_at(r) > fetched_at(&first)).await;
    assert_eq!(later["jwks"], first["jwks"]);
}

/// A store that never answers (a stalled disk or Redis), counting its calls.
#[derive(Clone, Default)]
struct Stalled(Arc<AtomicUsize>);

impl KeySetStore for Stalled {
    fn load(&self, _max_len: usize) -> BoxFuture<Result<Option<Vec<u8>>, KeySetStoreError>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(std::future::pending())
    }
    fn save(&self, _record: Vec<u8>, _useful_for: Duration) -> BoxFuture<Result<(), KeySetStoreError>> {
        Box::pin(std::future::pending())
    }
}

#[tokio::test]
async fn a_stalled_store_neither_delays_readiness_nor_hangs_an_outage() {
    let idp = TestIssuer::start().await;
    let stalled = Stalled::default();
    // The IdP is reachable: the store is not even read.
    let store = idp.remote_jwks().persist(stalled.clone()).build().unwrap();
    let started = Instant::now();
    assert_eq!(store.prefetch().await.unwrap(), 1);
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(stalled.0.load(Ordering::SeqCst), 0);

    // The IdP is down: the read is given up after 2 s, and the answer is a 503.
    idp.set_outage(Outage::Status(503));
    let store = idp.remote_jwks().persist(stalled.clone()).build().unwrap();
    let me = serve_with_keys(&idp, store).await;
    let started = Instant::now();
    assert_eq!(get_bearer(&me, &idp.token().sign()).await.status, StatusCode::SERVICE_UNAVAILABLE);
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(4), "{took:?}");
    assert_eq!(stalled.0.load(Ordering::SeqCst), 1);
}
