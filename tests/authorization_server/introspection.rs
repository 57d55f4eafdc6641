//! Introspection (RFC 7662): what an active answer says, the one inactive answer, who
//! may ask; and how the endpoints and the server's verifier behave when the store
//! cannot answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tower_bearer::issue::server::{
    AccessRecord, AccessTokenFormat, Grant, GrantStore, MemoryStore, PendingCode, RefreshRecord, StoreError,
    StoreFuture, Taken, TokenKey,
};
use tower_bearer::issue::{IssuerKey, KeyType, LocalIssuer};
use tower_bearer::{Clock as _, ManualClock, SystemClock};

use crate::common::client;
use crate::revocation::{AUDIENCE, Harness, OTHER, WEB, WORKER};

const INACTIVE: &str = r#"{"active":false}"#;

fn assert_inactive(answer: &crate::revocation::Answer) {
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, INACTIVE, "exactly, byte for byte");
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.header("pragma"), Some("no-cache"));
}

#[tokio::test]
async fn an_active_access_token_is_described_with_its_claims() {
    for format in [AccessTokenFormat::Jwt, AccessTokenFormat::Opaque] {
        let h = Harness::start(format).await;
        let token = h.token(WORKER, "jobs read").await;
        let answer = h.introspect(WORKER, &token).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.header("cache-control"), Some("no-store"));
        let a = answer.json();
        let fields: Vec<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
        let mut sorted = fields.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, ["active", "aud", "client_id", "exp", "iat", "iss", "jti", "scope", "sub", "token_type"]);
        assert_eq!(a["active"], true);
        assert_eq!(a["token_type"], "Bearer");
        assert_eq!(a["client_id"], WORKER.0);
        assert_eq!(a["sub"], WORKER.0, "client credentials: sub is the client");
        assert_eq!(a["iss"], h.base.as_str());
        assert_eq!(a["aud"], AUDIENCE);
        let mut scopes: Vec<&str> = a["scope"].as_str().unwrap().split(' ').collect();
        scopes.sort_unstable();
        assert_eq!(scopes, ["jobs", "read"]);
        let now = SystemClock.now();
        let (iat, exp) = (a["iat"].as_u64().unwrap(), a["exp"].as_u64().unwrap());
        assert!(iat <= now + 1 && iat + 5 >= now, "iat {iat}, now {now}");
        assert!(exp > now && exp <= iat + 3600, "exp {exp}");
        if format == AccessTokenFormat::Jwt {
            // The answer agrees with the token itself.
            let claims = crate::common::b64::json_part(&token, 1);
            for claim in ["jti", "exp", "iat", "sub", "iss", "client_id"] {
                assert_eq!(a[claim], claims[claim], "{claim}");
            }
        }
        // Both verifiers accept it and see the same subject and scopes.
        let me: Value =
            client().get(format!("{}/api/me", h.base)).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert_eq!(me["sub"], WORKER.0);
        assert_eq!(h.call("/rs/worker/me", &token).await, StatusCode::OK);
    }
}

#[tokio::test]
async fn inactive_answers_are_exactly_active_false() {
    let h = Harness::start(AccessTokenFormat::Jwt).await;
    let token = h.token(WORKER, "jobs").await;
    assert_inactive(&h.introspect(WORKER, "never-issued").await);
    assert_inactive(&h.introspect(WORKER, &format!("{token}x")).await);
    // Another client's token, even a live one.
    assert_inactive(&h.introspect(OTHER, &token).await);
    // A wrong hint does not hide an active token.
    let hinted = h.post("/introspect", Some(WORKER), &[("token", &token), ("token_type_hint", "refresh_token")]).await;
    assert_eq!(hinted.json()["active"], true, "{}", hinted.body);
    assert_eq!(h.revoke(WORKER, &token, None).await.status, StatusCode::OK);
    assert_inactive(&h.introspect(WORKER, &token).await);
}

#[tokio::test]
async fn a_public_client_cannot_introspect_but_can_revoke() {
    let h = Harness::start(AccessTokenFormat::Jwt).await;
    let token = h.token(WORKER, "jobs").await;
    let introspect = h.post("/introspect", None, &[("token", &token), ("client_id", "cli")]).await;
    assert_eq!(introspect.status, StatusCode::UNAUTHORIZED, "{}", introspect.body);
    assert_eq!(introspect.json()["error"], "invalid_client");
    // RFC 7009 lets a public client revoke its own tokens; this one is not its own.
    let revoke = h.post("/revoke", None, &[("token", &token), ("client_id", "cli")]).await;
    assert_eq!((revoke.status, revoke.body.as_str()), (StatusCode::OK, ""));
    h.assert_usable(WORKER, &token).await;
}

#[tokio::test]
async fn an_expired_token_is_inactive_by_the_servers_clock_without_leeway() {
    let clock = ManualClock::at(SystemClock.now());
    let c = clock.clone();
    let h = Harness::start_with(AccessTokenFormat::Jwt, move |b| {
        b.store(MemoryStore::new())
            .clock(c)
            .client_credentials_lifetime(Duration::from_secs(120))
            .access_token_lifetime(Duration::from_secs(120))
    })
    .await;
    let token = h.token(WORKER, "jobs").await;
    // A code-flow token: its grant (30 days) outlives it, so only its own exp ends it.
    let (code_flow, refresh) = h.code_flow().await;
    for (owner, token) in [(WORKER, &token), (WEB, &code_flow)] {
        assert_eq!(h.introspect(owner, token).await.json()["active"], true);
        assert_eq!(h.call("/api/me", token).await, StatusCode::OK);
    }
    // Past exp, within the JWT verifier's 60 s leeway: the store's record decides.
    clock.advance(Duration::from_secs(121));
    for (owner, token) in [(WORKER, &token), (WEB, &code_flow)] {
        assert_inactive(&h.introspect(owner, token).await);
        assert_eq!(h.call("/api/me", token).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(h.introspect(WEB, &refresh).await.json()["active"], true, "the grant lives on");
}

/// A [`MemoryStore`] that can be made to fail every call, as an unreachable store does.
#[derive(Clone)]
struct Outage {
    store: Arc<MemoryStore>,
    down: Arc<AtomicBool>,
}

impl Outage {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) { Err(StoreError::new("store down (test outage)")) } else { Ok(()) }
    }
}

macro_rules! forward {
    ($self:ident, $call:expr) => {{
        let check = $self.check();
        Box::pin(async move {
            check?;
            $call.await
        })
    }};
}

impl GrantStore for Outage {
    fn put_code<'a>(&'a self, key: &'a TokenKey, code: PendingCode, ttl: Duration) -> StoreFuture<'a, ()> {
        forward!(self, self.store.put_code(key, code, ttl))
    }
    fn take_code<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Taken<PendingCode>> {
        forward!(self, self.store.take_code(key))
    }
    fn put_grant<'a>(&'a self, grant: Grant, ttl: Duration) -> StoreFuture<'a, bool> {
        forward!(self, self.store.put_grant(grant, ttl))
    }
    fn grant<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Grant>> {
        forward!(self, self.store.grant(id))
    }
    fn revoke_grant<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        forward!(self, self.store.revoke_grant(id))
    }
    fn put_refresh_token<'a>(&'a self, key: &'a TokenKey, record: RefreshRecord, ttl: Duration) -> StoreFuture<'a, ()> {
        forward!(self, self.store.put_refresh_token(key, record, ttl))
    }
    fn take_refresh_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Taken<RefreshRecord>> {
        forward!(self, self.store.take_refresh_token(key))
    }
    fn delete_refresh_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, ()> {
        forward!(self, self.store.delete_refresh_token(key))
    }
    fn refresh_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Option<RefreshRecord>> {
        forward!(self, self.store.refresh_token(key))
    }
    fn put_access_token<'a>(&'a self, key: &'a TokenKey, record: AccessRecord, ttl: Duration) -> StoreFuture<'a, ()> {
        forward!(self, self.store.put_access_token(key, record, ttl))
    }
    fn access_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Option<AccessRecord>> {
        forward!(self, self.store.access_token(key))
    }
    fn revoke_access_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, ()> {
        forward!(self, self.store.revoke_access_token(key))
    }
}

#[tokio::test]
async fn a_store_outage_is_503_everywhere_and_never_admits() {
    for format in [AccessTokenFormat::Jwt, AccessTokenFormat::Opaque] {
        let outage = Outage { store: Arc::new(MemoryStore::new()), down: Arc::default() };
        let o = outage.clone();
        let h = Harness::start_with(format, move |b| b.store(o)).await;
        let token = h.token(WORKER, "jobs").await;
        outage.down.store(true, Ordering::SeqCst);
        for path in ["/revoke", "/introspect"] {
            let answer = h.post(path, Some(WORKER), &[("token", &token)]).await;
            assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {}", answer.body);
            assert_eq!(answer.json()["error"], "temporarily_unavailable");
            assert!(!answer.body.contains(&token), "{path}");
        }
        let res = client().get(format!("{}/api/me", h.base)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(res.headers().contains_key("retry-after"));
        // Back up: nothing was revoked while it was down.
        outage.down.store(false, Ordering::SeqCst);
        h.assert_usable(WORKER, &token).await;
    }
}

#[tokio::test]
async fn a_refresh_token_is_described_as_one_and_never_taken_for_an_access_token() {
    let h = Harness::start(AccessTokenFormat::Jwt).await;
    let (_, refresh) = h.code_flow().await;
    let answer = h.post("/introspect", Some(WEB), &[("token", &refresh), ("token_type_hint", "refresh_token")]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let a = answer.json();
    let mut fields: Vec<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["active", "client_id", "exp", "scope", "sub", "token_type"]);
    assert_eq!((&a["active"], &a["token_type"]), (&Value::Bool(true), &Value::from("refresh_token")));
    assert_eq!(
        (&a["client_id"], &a["sub"], &a["scope"]),
        (&Value::from(WEB.0), &Value::from("alice"), &Value::from("read"))
    );
    assert!(a["exp"].as_u64().unwrap() > SystemClock.now());
    // Without the hint it is found as well.
    assert_eq!(h.introspect(WEB, &refresh).await.json()["token_type"], "refresh_token");
    // Presented as a bearer token, neither verifier accepts it.
    assert_eq!(h.call("/api/me", &refresh).await, StatusCode::UNAUTHORIZED);
    assert_eq!(h.call("/rs/web/me", &refresh).await, StatusCode::UNAUTHORIZED);
    // Once rotated, the old one is inactive.
    assert_eq!(h.refresh(&refresh).await.status, StatusCode::OK);
    assert_inactive(&h.introspect(WEB, &refresh).await);
}

#[tokio::test]
async fn a_stored_record_does_not_make_a_jwt_the_server_did_not_sign_acceptable() {
    let shared = Outage { store: Arc::new(MemoryStore::new()), down: Arc::default() };
    let store = shared.clone();
    let h = Harness::start_with(AccessTokenFormat::Jwt, move |b| b.store(store)).await;
    let genuine = h.token(WORKER, "jobs").await;
    let record = shared.store.access_token(&TokenKey::of(&genuine)).await.unwrap().unwrap();
    // Same issuer, audience, subject and typ; another key.
    let other_key = IssuerKey::generate(KeyType::P256, None).unwrap().private_jwk().to_json();
    let forger = LocalIssuer::new(h.base.clone(), &other_key, AUDIENCE).unwrap();
    let forged = forger.token().subject(WORKER.0).scope("jobs").sign().unwrap().access_token().to_owned();
    shared.store.put_access_token(&TokenKey::of(&forged), record, Duration::from_secs(600)).await.unwrap();
    assert_eq!(h.call("/api/me", &genuine).await, StatusCode::OK);
    assert_eq!(h.call("/api/me", &forged).await, StatusCode::UNAUTHORIZED, "the signature is checked first");
}
