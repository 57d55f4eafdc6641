//! What the server remembers between requests, behind [`GrantStore`]: authorization
//! codes, grants, refresh tokens and access tokens.
//!
//! Every record is *positive*: a token is valid while its record and its grant's
//! record exist. Revoking deletes; an evicted or expired record can only deny, never
//! admit. Secrets never reach a store: codes and tokens are looked up by
//! [`TokenKey`], a SHA-256 hash of the secret.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

/// Longest a store keeps any record. The contract lets a store drop a record early,
/// never keep it late, so a longer `ttl` is shortened (and no `Instant` or Redis
/// expiry overflows).
pub(super) const MAX_TTL: Duration = Duration::from_secs(400 * 24 * 3600);

/// How long [`GrantStore::revoke_grant`] remembers a revocation, so that a grant
/// stored late (its code taken before the revocation, stored after) stays revoked:
/// longer than any one token request takes.
pub const REVOCATION_MEMORY: Duration = Duration::from_secs(600);

/// What a [`GrantStore`] or [`ClientStore`](super::ClientStore) call returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A store could not answer (unreachable, full, corrupt record). Endpoints answer
/// `503 temporarily_unavailable` and log the source; nothing is issued.
#[derive(Debug)]
pub struct StoreError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// An error described by `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), source: None }
    }

    /// An error described by `message`, caused by `source`.
    pub fn with_source(message: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self { message: message.into(), source: Some(Box::new(source)) }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The key a code or token is stored under: base64url SHA-256 of the secret (43
/// characters). A store that leaks its keys leaks no usable token.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenKey(String);

impl TokenKey {
    /// The key of the secret `token`.
    pub fn of(token: &str) -> Self {
        Self(URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes())))
    }

    /// The key as text, to use as (part of) a storage key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash, not the secret: safe to show.
        write!(f, "TokenKey({})", self.0)
    }
}

/// One authorization a resource owner (or, for client credentials, the client itself)
/// gave one client: every refresh and access token issued from it belongs to it, and
/// revoking it ends them all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// Identifier: random for client credentials; for a code grant,
    /// [`Grant::id_for_code`], the hash of the secret its refresh tokens start with.
    pub id: String,
    /// The issuer of the server that made it: a server reads only its own grants, so
    /// servers sharing one store (one `MemoryStore`, one Redis prefix) stay apart.
    #[serde(default)]
    pub issuer: String,
    /// The client it was given to.
    pub client_id: String,
    /// `sub` of its tokens: the user's login, or the `client_id` for client credentials.
    pub subject: String,
    /// The scopes granted.
    pub scope: Vec<String>,
    /// When the user authenticated (seconds since the Unix epoch).
    pub auth_time: u64,
    /// When the grant was made.
    pub created_at: u64,
    /// No token of this grant outlives this time.
    pub expires_at: u64,
    /// Extra claims the application attached when the user consented.
    pub claims: Map<String, Value>,
}

impl Grant {
    /// The id of the grant the authorization code `code` turns into.
    ///
    /// Every refresh token of a code grant starts with a secret derived from its code
    /// (then a `.`), so a used token whose record is gone still names its grant, and
    /// its reuse revokes the grant however many rotations later (RFC 9700 §4.14.2).
    /// The grant's id is that secret's [`TokenKey`]: a reader of the store learns no
    /// handle on the grant. The server gives code grants this id and exchanges no
    /// code whose grant has another; a store or test seeding codes itself uses it.
    ///
    /// ```
    /// use tower_bearer::issue::server::Grant;
    ///
    /// let id = Grant::id_for_code("the-code");
    /// assert_eq!(id.len(), 43);
    /// assert_ne!(id, Grant::id_for_code("another-code"));
    /// ```
    pub fn id_for_code(code: &str) -> String {
        TokenKey::of(&refresh_family(code)).0
    }
}

/// The secret every refresh token of the grant of `code` starts with: 128 bits of a
/// hash of the code (domain-separated from [`TokenKey`]), base64url. Only who
/// exchanged the code, and holds the grant's refresh tokens since, knows it.
pub(super) fn refresh_family(code: &str) -> String {
    let digest = Sha256::digest(format!("tower-bearer refresh family\0{code}").as_bytes());
    URL_SAFE_NO_PAD.encode(digest.get(..16).unwrap_or_default())
}

/// An authorization code waiting to be exchanged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingCode {
    /// The grant the code turns into (stored with [`GrantStore::put_grant`] on
    /// exchange).
    pub grant: Grant,
    /// The `redirect_uri` of the authorization request, when it had one: the token
    /// request must repeat it exactly (RFC 6749 §4.1.3).
    pub redirect_uri: Option<String>,
    /// The PKCE `code_challenge` (S256).
    pub code_challenge: String,
    /// When the code stops being accepted.
    pub expires_at: u64,
}

/// A refresh token's record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefreshRecord {
    /// The grant it refreshes.
    pub grant_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// When it stops being accepted.
    pub expires_at: u64,
    /// The refresh token it replaced (rotation), if any: when this one is used in
    /// turn, that one's used marker is deleted, so a grant holds at most its live
    /// refresh token and one used marker. Absent in records of earlier versions.
    #[serde(default)]
    pub previous: Option<TokenKey>,
}

/// An access token's record: what introspection answers, and what revocation deletes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccessRecord {
    /// The grant it came from.
    pub grant_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// `sub`.
    pub subject: String,
    /// The scopes it carries.
    pub scope: Vec<String>,
    /// `aud`.
    pub audience: String,
    /// `iat`.
    pub issued_at: u64,
    /// `exp`.
    pub expires_at: u64,
    /// `jti` (JWT access tokens; a random identifier for opaque ones).
    pub jti: String,
}

/// The result of a single-use read ([`GrantStore::take_code`],
/// [`GrantStore::take_refresh_token`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Taken<T> {
    /// The first use: the record, now marked used.
    First(T),
    /// Used before: the grant it belongs to, which the caller revokes (RFC 6749
    /// §4.1.2, RFC 9700 §4.14; a refresh token only when the grant's own client
    /// presented it).
    Again {
        /// The grant to revoke.
        grant_id: String,
    },
    /// Unknown, expired or evicted.
    Missing,
}

/// Where an [`AuthorizationServer`](super::AuthorizationServer) keeps codes, grants
/// and tokens. [`MemoryStore`](super::MemoryStore) for one process;
/// [`RedisGrantStore`](super::RedisGrantStore) (feature `redis`) for several
/// instances sharing one state.
///
/// Storage per grant is bounded: a grant keeps the marker of the refresh token its
/// live one replaced, not of every token it ever had (one marker per rotation for the
/// refresh lifetime would let one busy grant fill any bounded store). Reuse detection
/// is not: every refresh token starts with a secret whose hash is its grant's id
/// ([`Grant::id_for_code`]), so a used token whose marker is gone still names its
/// grant, and its reuse revokes it (RFC 9700 §4.14.2), however many rotations later;
/// a reader of the store learns only the hash.
///
/// Contract for implementations:
/// - `ttl` is how long a record must stay readable; it may go earlier (eviction),
///   never later than its `expires_at`.
/// - `put_code`, `put_refresh_token` and `put_access_token` never overwrite: a key
///   that already holds a record (a used marker included) is a [`StoreError`], and
///   the record there is kept. A generator repeating a token must not hand one
///   client's record to another. `put_grant` stores nothing either when the id holds
///   a grant or a revocation, and answers `false`.
/// - `take_*` are atomic: of two concurrent calls for one key, exactly one sees
///   [`Taken::First`]. A used record is kept as a marker naming its grant until its
///   `ttl` ends or [`delete_refresh_token`](Self::delete_refresh_token) deletes it,
///   so a second use is [`Taken::Again`].
/// - `revoke_grant` deletes the grant and, in the same atomic step, leaves a marker
///   for [`REVOCATION_MEMORY`] that makes `put_grant` of that id answer `false`: a
///   code replay revoking a grant its first exchange has not stored yet still ends it.
/// - Deleting what does not exist is not an error.
/// - Every call is bounded in time by the implementation; the server adds no timeout
///   of its own.
pub trait GrantStore: Send + Sync + 'static {
    /// Stores a new code under `key` for `ttl`; an error if `key` holds one.
    fn put_code<'a>(&'a self, key: &'a TokenKey, code: PendingCode, ttl: Duration) -> StoreFuture<'a, ()>;
    /// Reads the code under `key` and marks it used (atomically).
    fn take_code<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Taken<PendingCode>>;
    /// Stores `grant` for `ttl`, unless its id already holds a grant or was revoked
    /// within [`REVOCATION_MEMORY`]: then nothing is stored and the answer is `false`.
    fn put_grant<'a>(&'a self, grant: Grant, ttl: Duration) -> StoreFuture<'a, bool>;
    /// The grant `id`, unless revoked or expired.
    fn grant<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Grant>>;
    /// Revokes the grant `id`: its refresh and access tokens stop being valid, and
    /// the id cannot be stored again for [`REVOCATION_MEMORY`] (whether or not it
    /// was stored yet).
    fn revoke_grant<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()>;
    /// Stores a new refresh token under `key` for `ttl`; an error if `key` holds one.
    fn put_refresh_token<'a>(&'a self, key: &'a TokenKey, record: RefreshRecord, ttl: Duration) -> StoreFuture<'a, ()>;
    /// Reads the refresh token under `key` and marks it used (atomically): rotation.
    fn take_refresh_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Taken<RefreshRecord>>;
    /// Deletes the refresh token or used marker under `key`: the marker of a token
    /// two rotations old, or a new token that is not to be answered.
    fn delete_refresh_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, ()>;
    /// Reads the refresh token under `key` without using it (introspection,
    /// revocation); `None` once used.
    fn refresh_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Option<RefreshRecord>>;
    /// Stores a new access token's record under `key` for `ttl`; an error if `key`
    /// holds one.
    fn put_access_token<'a>(&'a self, key: &'a TokenKey, record: AccessRecord, ttl: Duration) -> StoreFuture<'a, ()>;
    /// The access token's record under `key`, unless revoked or expired.
    fn access_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Option<AccessRecord>>;
    /// Revokes the access token under `key`.
    fn revoke_access_token<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, ()>;

    /// The store for the server named `issuer`, called once by
    /// [`AuthorizationServerBuilder::store`](super::AuthorizationServerBuilder::store):
    /// a store that several servers can share keeps each issuer's records apart here
    /// ([`RedisGrantStore`](super::RedisGrantStore) puts them under a prefix naming the
    /// issuer unless one was set). The default changes nothing.
    #[must_use]
    fn for_issuer(self, issuer: &str) -> Self
    where
        Self: Sized,
    {
        let _ = issuer;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::{RefreshRecord, TokenKey};

    #[test]
    fn refresh_records_of_the_previous_version_still_read() {
        let old = r#"{"grant_id":"g","client_id":"web","expires_at":5}"#;
        let record: RefreshRecord = serde_json::from_str(old).unwrap();
        assert_eq!(record.previous, None);
        let rotated = RefreshRecord { previous: Some(TokenKey::of("t")), ..record };
        let json = serde_json::to_string(&rotated).unwrap();
        assert!(json.contains(&format!(r#""previous":"{}""#, TokenKey::of("t").as_str())), "{json}");
        assert_eq!(serde_json::from_str::<RefreshRecord>(&json).unwrap(), rotated);
    }
}
