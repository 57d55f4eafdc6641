//! [`RedisGrantStore`]: codes, grants and tokens shared by every instance of the
//! server, in Redis (features `issuer` and `redis`).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::store::{
    AccessRecord, Grant, GrantStore, MAX_TTL, PendingCode, REVOCATION_MEMORY, RefreshRecord, StoreError, StoreFuture,
    Taken, TokenKey,
};
use crate::client::{GET_IF_SMALL, connect_within};

/// Keys start with this, then a short hash of the server's issuer, unless
/// [`RedisGrantStore::prefix`] says otherwise.
const DEFAULT_PREFIX: &str = "tower-bearer:as:";

/// Bytes of the issuer's SHA-256 in the default prefix (16 hex digits): enough that
/// two issuers sharing one Redis never meet by chance.
const ISSUER_HASH_BYTES: usize = 8;

/// The longest one call may wait for Redis by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Largest record written or read (a grant with the application's claims included):
/// a polluted key is never read whole, and nothing is written that could not be read.
const MAX_RECORD: usize = 64 * 1024;

/// What a used code or refresh token's value starts with; the record follows, so the
/// marker still names its grant.
const USED: &str = "used:";

/// A revoked grant's value for [`REVOCATION_MEMORY`]: no grant (it is not JSON), and
/// a key `SET … NX` will not store a grant under.
const REVOKED: &str = "revoked";

/// `KEYS[1]`'s value, replaced (when not already used) by `used:` and itself, with
/// the same remaining expiry (`KEEPTTL`): one script, so of concurrent takes exactly
/// one sees the fresh value. Oversized values are refused, not sent.
const TAKE: &str = "local v = redis.call('GET', KEYS[1]) \
    if not v then return false end \
    if string.len(v) > tonumber(ARGV[1]) then return redis.error_reply('record too large') end \
    if string.sub(v, 1, 5) ~= 'used:' then redis.call('SET', KEYS[1], 'used:' .. v, 'KEEPTTL') end \
    return v";

/// A [`GrantStore`] in Redis, shared by every instance of an
/// [`AuthorizationServer`](super::AuthorizationServer) that connects to it: a code
/// issued by one instance is exchanged at another, a refresh token rotated by one and
/// replayed at another revokes its grant, a revocation is seen by all.
///
/// Records are JSON under `<prefix>code:`, `grant:`, `refresh:` and `access:`
/// (the default prefix is `tower-bearer:as:` and 16 hex digits of the SHA-256 of the
/// server's issuer, then `:`: every instance of one server shares it, a server of
/// another issuer has its own) followed by the [`TokenKey`] (a hash: no usable token
/// is in Redis) or the grant id, written with `SET … PX ttl NX` (never over an
/// existing record). Revoking a grant replaces it, in one `SET`, with a `revoked`
/// marker kept for [`REVOCATION_MEMORY`]. Single-use takes run as one Lua script that marks
/// the record used and keeps its remaining expiry (Redis 6.0 or later, for
/// `KEEPTTL`). Records are at most 64 KiB, read only after a `STRLEN` check. Every
/// call is bounded: by at most 2 s ([`timeout`](Self::timeout)), and sooner by the
/// connection's own response timeout (redis's default: 500 ms). A slow or unreachable
/// Redis is a [`StoreError`] (the endpoint answers `503`), never a hang, and never a
/// token issued unrecorded.
///
/// A refresh whose take of the old token times out fails closed: nothing is
/// answered, and the new tokens already stored are deleted. If Redis had in fact
/// marked the old token used before the reply was lost, the client's retry looks like
/// a reuse and revokes the grant; the user signs in again. That cannot be told apart
/// from a replay safely, so it is not tried.
///
/// Every key has an expiry, so a Redis that evicts (`volatile-*` or `allkeys-*`
/// `maxmemory-policy`) could drop a used marker or a revocation and turn a replay into
/// a miss: run it with `maxmemory-policy noeviction`, where a full Redis refuses writes
/// (the endpoints answer `503`) and forgets nothing.
///
/// Whoever can write these keys can create grants: protect them (ACLs, a dedicated
/// database) like the signing key.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_bearer::issue::server::RedisGrantStore;
///
/// let store = RedisGrantStore::connect("redis://127.0.0.1:6379").await?.prefix("auth:prod:");
/// # let _ = store; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisGrantStore {
    connection: redis::aio::ConnectionManager,
    prefix: Arc<str>,
    /// Whether [`prefix`](Self::prefix) set it: then the issuer does not change it.
    prefix_set: bool,
    timeout: Duration,
}

impl fmt::Debug for RedisGrantStore {
    // No URL: it may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisGrantStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisGrantStore {
    /// Connects to `url` (e.g. `redis://127.0.0.1:6379`), within 2 s. Plain `redis://`
    /// is refused unless the host is loopback: use `rediss://` (the redis crate's TLS
    /// feature) or a unix socket, or [`from_connection`](Self::from_connection).
    pub async fn connect(url: &str) -> Result<Self, redis::RedisError> {
        Ok(Self::from_connection(connect_within(url, DEFAULT_TIMEOUT).await?))
    }

    /// Uses an existing connection, made by the application (without
    /// [`connect`](Self::connect)'s URL check: for plain `redis://` on a closed network).
    pub fn from_connection(connection: redis::aio::ConnectionManager) -> Self {
        Self { connection, prefix: DEFAULT_PREFIX.into(), prefix_set: false, timeout: DEFAULT_TIMEOUT }
    }

    /// What every key starts with, instead of the default (`tower-bearer:as:` and a
    /// hash of the issuer): instances sharing one state use the same prefix, separate
    /// servers different ones.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into().into();
        self.prefix_set = true;
        self
    }

    /// The longest one call may wait for Redis (2 s); then it fails with a
    /// [`StoreError`]. The connection's own response timeout may end it sooner.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    /// Runs `call` within the timeout.
    async fn bounded<T>(&self, what: &str, call: impl Future<Output = redis::RedisResult<T>>) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(StoreError::with_source(format!("redis failed to {what}"), e)),
            Err(_) => Err(StoreError::new(format!("redis did not {what} within {:?}", self.timeout))),
        }
    }

    /// Stores `record` under `key` unless `key` exists: `false` then.
    async fn put_new<T: Serialize>(&self, key: String, record: &T, ttl: Duration) -> Result<bool, StoreError> {
        let json = serde_json::to_string(record).map_err(|e| StoreError::with_source("cannot encode the record", e))?;
        if json.len() > MAX_RECORD {
            return Err(StoreError::new(format!("record of {} bytes is over the {MAX_RECORD}-byte limit", json.len())));
        }
        let ms = u64::try_from(ttl.min(MAX_TTL).as_millis()).unwrap_or(u64::MAX).max(1);
        let mut c = self.connection.clone();
        let mut set = redis::cmd("SET");
        set.arg(&key).arg(json).arg("PX").arg(ms).arg("NX");
        let stored: Option<String> = self.bounded("store a record", set.query_async(&mut c)).await?;
        Ok(stored.is_some())
    }

    /// `put_new` of a code or token record: a key already used is an error.
    async fn put_token<T: Serialize>(&self, key: String, record: &T, ttl: Duration) -> Result<(), StoreError> {
        match self.put_new(key, record, ttl).await? {
            true => Ok(()),
            false => Err(StoreError::new("a record is already stored under this key (a repeated token)")),
        }
    }

    async fn get<T: DeserializeOwned>(&self, key: String) -> Result<Option<T>, StoreError> {
        let mut c = self.connection.clone();
        let mut eval = redis::cmd("EVAL");
        eval.arg(GET_IF_SMALL).arg(1).arg(&key).arg(MAX_RECORD);
        let raw: Option<String> = self.bounded("read a record", eval.query_async(&mut c)).await?;
        match raw {
            // A used code or refresh token, or a revoked grant, is no record to read.
            Some(raw) if raw.starts_with(USED) || raw == REVOKED => Ok(None),
            Some(raw) => decode(&raw).map(Some),
            None => Ok(None),
        }
    }

    async fn take<T: DeserializeOwned>(&self, key: String, grant_of: fn(T) -> String) -> Result<Taken<T>, StoreError> {
        let mut c = self.connection.clone();
        let mut eval = redis::cmd("EVAL");
        eval.arg(TAKE).arg(1).arg(&key).arg(MAX_RECORD + USED.len());
        let raw: Option<String> = self.bounded("take a record", eval.query_async(&mut c)).await?;
        Ok(match raw {
            None => Taken::Missing,
            Some(raw) => match raw.strip_prefix(USED) {
                Some(record) => Taken::Again { grant_id: grant_of(decode(record)?) },
                None => Taken::First(decode(&raw)?),
            },
        })
    }

    async fn delete(&self, key: String) -> Result<(), StoreError> {
        let mut c = self.connection.clone();
        let mut del = redis::cmd("DEL");
        del.arg(&key);
        self.bounded("delete a record", del.query_async::<i64>(&mut c)).await.map(|_| ())
    }
}

/// A record read back; a corrupt one is an error (nothing is issued from it).
fn decode<T: DeserializeOwned>(raw: &str) -> Result<T, StoreError> {
    serde_json::from_str(raw).map_err(|e| StoreError::with_source("a record in redis is corrupt", e))
}

impl GrantStore for RedisGrantStore {
    fn for_issuer(mut self, issuer: &str) -> Self {
        if !self.prefix_set {
            use sha2::Digest as _;
            let hash = sha2::Sha256::digest(issuer.as_bytes());
            let short: String = hash.iter().take(ISSUER_HASH_BYTES).map(|b| format!("{b:02x}")).collect();
            self.prefix = format!("{DEFAULT_PREFIX}{short}:").into();
        }
        self
    }

    fn put_code<'a>(&'a self, key: &'a TokenKey, code: PendingCode, ttl: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.put_token(self.key("code", key.as_str()), &code, ttl).await })
    }

    fn take_code<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Taken<PendingCode>> {
        Box::pin(async move { self.take(self.key("code", key.as_str()), |code: PendingCode| code.grant.id).await })
    }

    fn put_grant<'a>(&'a self, grant: Grant, ttl: Duration) -> StoreFuture<'a, bool> {
        Box::pin(async move { self.put_new(self.key("grant", &grant.id), &grant, ttl).await })
    }

    fn grant<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Grant>> {
        Box::pin(async move { self.get(self.key("grant", id)).await })
    }

    fn revoke_grant<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            // One SET: the grant is gone and its revocation remembered, atomically.
            let ms = u64::try_from(REVOCATION_MEMORY.as_millis()).unwrap_or(u64::MAX);
            let mut c = self.connection.clone();
            let mut set = redis::cmd("SET");
            set.arg(self.key("grant", id)).arg(REVOKED).arg("PX").arg(ms);
            self.bounded("revoke a grant", set.query_async::<()>(&mut c)).await
        })
    }

    fn put_refresh_token<'a>(&'a self, key: &'a TokenKey, record: RefreshRecord, ttl: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.put_token(self.key("refresh", key.as_str()), &record, ttl).await })
    }

    fn delete_refresh_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.delete(self.key("refresh", key.as_str())).await })
    }

    fn take_refresh_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Taken<RefreshRecord>> {
        Box::pin(
            async move { self.take(self.key("refresh", key.as_str()), |record: RefreshRecord| record.grant_id).await },
        )
    }

    fn refresh_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Option<RefreshRecord>> {
        Box::pin(async move { self.get(self.key("refresh", key.as_str())).await })
    }

    fn put_access_token<'a>(&'a self, key: &'a TokenKey, record: AccessRecord, ttl: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.put_token(self.key("access", key.as_str()), &record, ttl).await })
    }

    fn access_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Option<AccessRecord>> {
        Box::pin(async move { self.get(self.key("access", key.as_str())).await })
    }

    fn revoke_access_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.delete(self.key("access", key.as_str())).await })
    }
}
