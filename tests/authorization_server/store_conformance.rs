//! The `GrantStore` contract, as test bodies run against every implementation:
//! `MemoryStore` (tests/authorization_server/store.rs) and `RedisGrantStore` on a real
//! redis-server (tests/redis.rs). Each takes a fresh, empty store.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, json};
use tower_bearer::issue::server::{AccessRecord, Grant, GrantStore, PendingCode, RefreshRecord, Taken, TokenKey};

const MINUTE: Duration = Duration::from_secs(60);

pub(crate) fn grant(id: &str) -> Grant {
    let mut claims = Map::new();
    claims.insert("tenant".into(), json!("acme"));
    Grant {
        id: id.into(),
        issuer: "https://as.example.com".into(),
        client_id: "web".into(),
        subject: "alice".into(),
        scope: vec!["read".into(), "write".into()],
        auth_time: 1_700_000_000,
        created_at: 1_700_000_001,
        expires_at: 1_702_592_001,
        claims,
    }
}

pub(crate) fn code(grant_id: &str) -> PendingCode {
    PendingCode {
        grant: grant(grant_id),
        redirect_uri: Some("https://app.example.com/cb".into()),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        expires_at: 1_700_000_061,
    }
}

pub(crate) fn refresh(grant_id: &str) -> RefreshRecord {
    RefreshRecord {
        grant_id: grant_id.into(),
        client_id: "web".into(),
        expires_at: 1_701_209_601,
        previous: Some(TokenKey::of("the token it replaced")),
    }
}

pub(crate) fn access(grant_id: &str) -> AccessRecord {
    AccessRecord {
        grant_id: grant_id.into(),
        client_id: "web".into(),
        subject: "alice".into(),
        scope: vec!["read".into()],
        audience: "https://api.example.com".into(),
        issued_at: 1_700_000_001,
        expires_at: 1_700_003_601,
        jti: "jti-1".into(),
    }
}

/// A code is read once; a second use names its grant (to revoke); an unknown code is
/// missing.
pub(crate) async fn a_code_is_taken_once(store: Arc<dyn GrantStore>) {
    let key = TokenKey::of("code-secret");
    store.put_code(&key, code("g1"), MINUTE).await.unwrap();
    assert_eq!(store.take_code(&key).await.unwrap(), Taken::First(code("g1")));
    assert_eq!(store.take_code(&key).await.unwrap(), Taken::Again { grant_id: "g1".into() });
    assert_eq!(store.take_code(&key).await.unwrap(), Taken::Again { grant_id: "g1".into() }, "still a marker");
    assert_eq!(store.take_code(&TokenKey::of("never issued")).await.unwrap(), Taken::Missing);
}

/// Of many concurrent takes of one code (and of one refresh token), exactly one is
/// the first; every other one names the grant.
pub(crate) async fn concurrent_takes_have_exactly_one_first(store: Arc<dyn GrantStore>) {
    for round in 0..10 {
        let code_key = TokenKey::of(&format!("code-{round}"));
        let refresh_key = TokenKey::of(&format!("refresh-{round}"));
        store.put_code(&code_key, code("g"), MINUTE).await.unwrap();
        store.put_refresh_token(&refresh_key, refresh("g"), MINUTE).await.unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let (store, code_key, refresh_key) = (store.clone(), code_key.clone(), refresh_key.clone());
                tokio::spawn(async move {
                    if i % 2 == 0 {
                        store.take_code(&code_key).await.unwrap().map_first()
                    } else {
                        store.take_refresh_token(&refresh_key).await.unwrap().map_first()
                    }
                })
            })
            .collect();
        let mut firsts = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Taken::First(kind) => firsts.push(kind),
                Taken::Again { grant_id } => assert_eq!(grant_id, "g"),
                Taken::Missing => panic!("a take saw nothing"),
            }
        }
        firsts.sort_unstable();
        assert_eq!(firsts, ["code", "refresh"], "round {round}: one first take of each");
    }
}

/// Which record a take returned, for counting.
trait MapFirst {
    fn map_first(self) -> Taken<&'static str>;
}

impl MapFirst for Taken<PendingCode> {
    fn map_first(self) -> Taken<&'static str> {
        match self {
            Taken::First(_) => Taken::First("code"),
            Taken::Again { grant_id } => Taken::Again { grant_id },
            Taken::Missing => Taken::Missing,
        }
    }
}

impl MapFirst for Taken<RefreshRecord> {
    fn map_first(self) -> Taken<&'static str> {
        match self {
            Taken::First(_) => Taken::First("refresh"),
            Taken::Again { grant_id } => Taken::Again { grant_id },
            Taken::Missing => Taken::Missing,
        }
    }
}

/// A refresh token is readable until used (rotation), then a marker: a replay names
/// its grant.
pub(crate) async fn a_refresh_token_rotates_once(store: Arc<dyn GrantStore>) {
    let key = TokenKey::of("refresh-secret");
    assert_eq!(store.refresh_token(&key).await.unwrap(), None);
    store.put_refresh_token(&key, refresh("g2"), MINUTE).await.unwrap();
    assert_eq!(store.refresh_token(&key).await.unwrap(), Some(refresh("g2")));
    assert_eq!(store.take_refresh_token(&key).await.unwrap(), Taken::First(refresh("g2")));
    assert_eq!(store.refresh_token(&key).await.unwrap(), None, "a used refresh token is not readable");
    assert_eq!(store.take_refresh_token(&key).await.unwrap(), Taken::Again { grant_id: "g2".into() });
    assert_eq!(store.take_refresh_token(&TokenKey::of("never issued")).await.unwrap(), Taken::Missing);
}

/// No put overwrites: a repeated key (a generator repeating a token) is an error and
/// the record there stays, used markers included; a grant id already stored is not
/// stored again.
pub(crate) async fn puts_never_overwrite(store: Arc<dyn GrantStore>) {
    let key = TokenKey::of("repeated");
    store.put_code(&key, code("first"), MINUTE).await.unwrap();
    assert!(store.put_code(&key, code("second"), MINUTE).await.is_err());
    assert_eq!(store.take_code(&key).await.unwrap(), Taken::First(code("first")));
    assert!(store.put_code(&key, code("second"), MINUTE).await.is_err(), "a used marker is kept too");
    assert_eq!(store.take_code(&key).await.unwrap(), Taken::Again { grant_id: "first".into() });

    store.put_refresh_token(&key, refresh("first"), MINUTE).await.unwrap();
    assert!(store.put_refresh_token(&key, refresh("second"), MINUTE).await.is_err());
    assert_eq!(store.refresh_token(&key).await.unwrap(), Some(refresh("first")));
    assert!(matches!(store.take_refresh_token(&key).await.unwrap(), Taken::First(_)));
    assert!(store.put_refresh_token(&key, refresh("second"), MINUTE).await.is_err(), "a used marker is kept too");
    assert_eq!(store.take_refresh_token(&key).await.unwrap(), Taken::Again { grant_id: "first".into() });

    store.put_access_token(&key, access("first"), MINUTE).await.unwrap();
    assert!(store.put_access_token(&key, access("second"), MINUTE).await.is_err());
    assert_eq!(store.access_token(&key).await.unwrap(), Some(access("first")));

    assert!(store.put_grant(grant("once"), MINUTE).await.unwrap());
    let mut changed = grant("once");
    changed.subject = "mallory".into();
    assert!(!store.put_grant(changed, MINUTE).await.unwrap(), "an id already stored");
    assert_eq!(store.grant("once").await.unwrap(), Some(grant("once")));
}

/// A revocation is remembered: a grant revoked before it was stored (a code replay
/// racing the exchange) is never stored; revoking a stored one keeps it out too.
pub(crate) async fn a_revoked_grant_is_not_stored_again(store: Arc<dyn GrantStore>) {
    store.revoke_grant("not-yet").await.unwrap();
    assert!(!store.put_grant(grant("not-yet"), MINUTE).await.unwrap(), "revoked before it was stored");
    assert_eq!(store.grant("not-yet").await.unwrap(), None);
    assert!(store.put_grant(grant("stored"), MINUTE).await.unwrap());
    store.revoke_grant("stored").await.unwrap();
    assert!(!store.put_grant(grant("stored"), MINUTE).await.unwrap());
    assert_eq!(store.grant("stored").await.unwrap(), None);
    store.revoke_grant("stored").await.unwrap();
    assert!(store.put_grant(grant("unrelated"), MINUTE).await.unwrap(), "only the revoked ids");
}

/// A refresh token, live or used, is gone once deleted (what bounds a grant's
/// markers); deleting what does not exist is no error.
pub(crate) async fn a_refresh_token_or_its_marker_is_deleted(store: Arc<dyn GrantStore>) {
    let (live, used) = (TokenKey::of("live"), TokenKey::of("used"));
    store.put_refresh_token(&live, refresh("g"), MINUTE).await.unwrap();
    store.put_refresh_token(&used, refresh("g"), MINUTE).await.unwrap();
    assert!(matches!(store.take_refresh_token(&used).await.unwrap(), Taken::First(_)));
    store.delete_refresh_token(&live).await.unwrap();
    store.delete_refresh_token(&used).await.unwrap();
    assert_eq!(store.refresh_token(&live).await.unwrap(), None);
    assert_eq!(store.take_refresh_token(&live).await.unwrap(), Taken::Missing);
    assert_eq!(store.take_refresh_token(&used).await.unwrap(), Taken::Missing, "the marker is gone");
    store.delete_refresh_token(&used).await.unwrap();
}

/// A grant reads back whole until revoked; revoking twice, or what never existed, is
/// no error.
pub(crate) async fn a_grant_is_revoked(store: Arc<dyn GrantStore>) {
    assert!(store.put_grant(grant("g3"), MINUTE).await.unwrap());
    assert!(store.put_grant(grant("other"), MINUTE).await.unwrap());
    assert_eq!(store.grant("g3").await.unwrap(), Some(grant("g3")));
    store.revoke_grant("g3").await.unwrap();
    assert_eq!(store.grant("g3").await.unwrap(), None);
    store.revoke_grant("g3").await.unwrap();
    store.revoke_grant("never-made").await.unwrap();
    assert_eq!(store.grant("other").await.unwrap(), Some(grant("other")), "only that grant");
}

/// An access token's record reads back until revoked.
pub(crate) async fn an_access_record_is_revoked(store: Arc<dyn GrantStore>) {
    let (key, other) = (TokenKey::of("access-secret"), TokenKey::of("other"));
    assert_eq!(store.access_token(&key).await.unwrap(), None);
    store.put_access_token(&key, access("g4"), MINUTE).await.unwrap();
    store.put_access_token(&other, access("g4"), MINUTE).await.unwrap();
    assert_eq!(store.access_token(&key).await.unwrap(), Some(access("g4")));
    store.revoke_access_token(&key).await.unwrap();
    assert_eq!(store.access_token(&key).await.unwrap(), None);
    store.revoke_access_token(&key).await.unwrap();
    assert_eq!(store.access_token(&other).await.unwrap(), Some(access("g4")), "only that token");
}

/// Every record, used markers included, is gone at the end of its ttl (a used marker
/// keeps the record's expiry, it does not restart it).
pub(crate) async fn records_expire_at_their_ttl(store: Arc<dyn GrantStore>) {
    let ttl = Duration::from_millis(400);
    let (code_key, used_code, refresh_key, used_refresh, access_key) =
        (TokenKey::of("c"), TokenKey::of("used c"), TokenKey::of("r"), TokenKey::of("used r"), TokenKey::of("a"));
    store.put_code(&code_key, code("g5"), ttl).await.unwrap();
    store.put_code(&used_code, code("g5"), ttl).await.unwrap();
    store.put_refresh_token(&refresh_key, refresh("g5"), ttl).await.unwrap();
    store.put_refresh_token(&used_refresh, refresh("g5"), ttl).await.unwrap();
    store.put_access_token(&access_key, access("g5"), ttl).await.unwrap();
    store.put_grant(grant("g5"), ttl).await.unwrap();
    store.put_grant(grant("lasting"), MINUTE).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(matches!(store.take_code(&used_code).await.unwrap(), Taken::First(_)));
    assert!(matches!(store.take_refresh_token(&used_refresh).await.unwrap(), Taken::First(_)));
    assert!(store.grant("g5").await.unwrap().is_some());
    assert!(store.access_token(&access_key).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.take_code(&code_key).await.unwrap(), Taken::Missing);
    assert_eq!(store.take_code(&used_code).await.unwrap(), Taken::Missing, "the marker expired with the code");
    assert_eq!(store.take_refresh_token(&refresh_key).await.unwrap(), Taken::Missing);
    assert_eq!(store.take_refresh_token(&used_refresh).await.unwrap(), Taken::Missing);
    assert_eq!(store.refresh_token(&refresh_key).await.unwrap(), None);
    assert_eq!(store.access_token(&access_key).await.unwrap(), None);
    assert_eq!(store.grant("g5").await.unwrap(), None);
    assert_eq!(store.grant("lasting").await.unwrap(), Some(grant("lasting")));
    // A ttl longer than any store keeps a record is shortened, not an error or a panic.
    store.put_grant(grant("forever"), Duration::MAX).await.unwrap();
    assert_eq!(store.grant("forever").await.unwrap(), Some(grant("forever")));
}
