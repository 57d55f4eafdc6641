//! The replay store: each proof is accepted once (RFC 9449 §11.1).
//!
//! A proof is remembered by its [`ReplayKey`] until the end of the window in which it
//! would be accepted. A store that cannot record a proof says so
//! ([`Unavailable`]): the request is answered `503` with `Retry-After`, never let
//! through, since a proof that is not recorded could be replayed.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

use crate::BoxFuture;
use crate::reject::Unavailable;

/// Identifies one proof: SHA-256 over the proof key's thumbprint and its `jti`, so
/// one client cannot use up the `jti` of another.
///
/// ```
/// use tower_bearer::dpop::ReplayKey;
/// let jkt = [7u8; 32];
/// assert_eq!(ReplayKey::new(&jkt, "id-1"), ReplayKey::new(&jkt, "id-1"));
/// assert_ne!(ReplayKey::new(&jkt, "id-1"), ReplayKey::new(&[8u8; 32], "id-1"));
/// assert_eq!(format!("{:?}", ReplayKey::new(&jkt, "id-1")), "ReplayKey(..)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplayKey(pub(crate) [u8; 32]);

impl std::fmt::Debug for ReplayKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReplayKey(..)")
    }
}

impl ReplayKey {
    /// The key of the proof with `jti` made with the key of thumbprint `jkt` (the
    /// RFC 7638 SHA-256 thumbprint): SHA-256(`"tower-bearer dpop jti\0"` ‖ jkt ‖ jti).
    pub fn new(jkt: &[u8; 32], jti: &str) -> Self {
        let mut hash = Sha256::new();
        hash.update(b"tower-bearer dpop jti\0");
        hash.update(jkt);
        hash.update(jti.as_bytes());
        Self(hash.finalize().into())
    }

    /// The key's bytes, e.g. to name the record in a shared store.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The answer of a [`ReplayStore`]: `Ok(true)` when the key was recorded now, for the
/// first time; `Ok(false)` when it was already recorded (a replay); `Err` when the
/// store could not tell (the request is refused with `503`).
///
/// ```
/// use tower_bearer::dpop::ReplayCheck;
/// let check = ReplayCheck::Ready(Ok(true));
/// assert!(matches!(check, ReplayCheck::Ready(Ok(true))));
/// ```
pub enum ReplayCheck {
    /// Decided without I/O.
    Ready(Result<bool, Unavailable>),
    /// Waiting on a remote store.
    Pending(BoxFuture<Result<bool, Unavailable>>),
}

impl std::fmt::Debug for ReplayCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ready(answer) => f.debug_tuple("Ready").field(answer).finish(),
            Self::Pending(_) => f.write_str("Pending(..)"),
        }
    }
}

/// Remembers proofs until they expire, so a proof is accepted once.
///
/// [`first_use`](Self::first_use) must be atomic: of two calls with one key, at most
/// one answers `true`. A store that cannot record a key must answer `Err`, never
/// `true`. [`MemoryReplayStore`] (in-process) is the default; a fleet behind one load
/// balancer shares one store (`RedisReplayStore`, feature `redis`).
///
/// ```
/// use std::collections::HashSet;
/// use std::sync::Mutex;
/// use tower_bearer::dpop::{ReplayCheck, ReplayKey, ReplayStore};
///
/// /// Never forgets (a sketch: a real store drops keys after `expires_at`).
/// #[derive(Default)]
/// struct Forever(Mutex<HashSet<ReplayKey>>);
///
/// impl ReplayStore for Forever {
///     fn first_use(&self, key: ReplayKey, _expires_at: u64) -> ReplayCheck {
///         match self.0.lock() {
///             Ok(mut seen) => ReplayCheck::Ready(Ok(seen.insert(key))),
///             Err(_) => ReplayCheck::Ready(Err(tower_bearer::Unavailable::new(
///                 std::time::Duration::from_secs(1),
///                 "replay store lock poisoned",
///             ))),
///         }
///     }
/// }
///
/// let store = Forever::default();
/// let key = ReplayKey::new(&[1; 32], "jti-1");
/// assert!(matches!(store.first_use(key, 0), ReplayCheck::Ready(Ok(true))));
/// assert!(matches!(store.first_use(key, 0), ReplayCheck::Ready(Ok(false))));
/// ```
pub trait ReplayStore: Send + Sync + 'static {
    /// Records `key` until `expires_at` (Unix seconds); `true` if it was not recorded
    /// yet. A key whose `expires_at` is past need not be kept (the layer refuses such
    /// proofs before asking).
    fn first_use(&self, key: ReplayKey, expires_at: u64) -> ReplayCheck;
}

const SHARDS: usize = 16;

/// How soon a full store is worth asking again, at least and at most.
const RETRY_MIN: u64 = 1;
const RETRY_MAX: u64 = 60;

/// The in-process store: bounded, and it never forgets a live proof to make room.
///
/// Keys are spread over 16 shards by a hash seeded at random per store (nobody
/// outside can aim proofs at one shard), each holding a 16th of `max_entries`
/// (rounded up). A proof expires at its `expires_at` (Unix seconds, by the system
/// clock). When a shard is full, its expired entries are dropped, at most once a
/// second (so a flood cannot make every request scan the shard); if it is still full,
/// [`first_use`](ReplayStore::first_use) answers [`Unavailable`] (`503`, with
/// `Retry-After` until its first entry expires) rather than accept a proof it could
/// not record. Size it above the peak rate of proofs times the acceptance window
/// (`max_age` plus twice the `leeway`).
///
/// ```
/// use tower_bearer::dpop::{MemoryReplayStore, ReplayCheck, ReplayKey, ReplayStore};
/// let store = MemoryReplayStore::new(10_000);
/// let (key, expires_at) = (ReplayKey::new(&[1; 32], "jti-1"), u64::MAX);
/// assert!(matches!(store.first_use(key, expires_at), ReplayCheck::Ready(Ok(true))));
/// assert!(matches!(store.first_use(key, expires_at), ReplayCheck::Ready(Ok(false))), "a replay");
/// assert_eq!(store.len(), 1);
///
/// // A store of no capacity records nothing, so it accepts nothing.
/// let none = MemoryReplayStore::new(0);
/// assert!(matches!(none.first_use(key, expires_at), ReplayCheck::Ready(Err(_))));
/// ```
pub struct MemoryReplayStore {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    /// Seeded at random per store; the shards' maps hash with it too.
    hasher: Hasher,
}

type Hasher = foldhash::quality::FixedState;

struct Shard {
    /// Key → `expires_at`.
    entries: HashMap<[u8; 32], u64, Hasher>,
    /// When expired entries were last dropped (Unix seconds).
    last_purge: Option<u64>,
    /// The earliest `expires_at` left by that purge.
    earliest: u64,
}

impl std::fmt::Debug for MemoryReplayStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryReplayStore")
            .field("max_entries", &self.per_shard.saturating_mul(SHARDS))
            .field("len", &self.len())
            .finish()
    }
}

impl MemoryReplayStore {
    /// A store holding at most `max_entries` live proofs (rounded up to a multiple
    /// of 16). With `0`, every [`first_use`](ReplayStore::first_use) is refused.
    pub fn new(max_entries: usize) -> Self {
        let hasher = crate::random::os_seeded_hasher();
        let shard = || Shard { entries: HashMap::with_hasher(hasher.clone()), last_purge: None, earliest: 0 };
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(shard())).collect(),
            per_shard: max_entries.div_ceil(SHARDS),
            hasher,
        }
    }

    /// How many proofs the store holds now, expired ones not yet dropped included.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).entries.len()).sum()
    }

    /// Whether the store holds no proof.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard_of(&self, key: &ReplayKey) -> usize {
        // Bits the maps leave alone pick the shard: a map's buckets come from the low
        // bits of the same hash, its tags from the top seven.
        (self.hasher.hash_one(key.0) >> 32) as usize % SHARDS
    }

    /// [`ReplayStore::first_use`] at `now` (Unix seconds).
    fn first_use_at(&self, key: &ReplayKey, expires_at: u64, now: u64) -> Result<bool, Unavailable> {
        let shard = self.shards.get(self.shard_of(key)).ok_or_else(full_store)?;
        // Nothing in the critical section panics: a poisoned lock still holds a sound map.
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        match shard.entries.get(&key.0) {
            Some(&until) if until > now => return Ok(false),
            Some(_) => {}
            None if shard.entries.len() < self.per_shard => {}
            None => {
                if shard.last_purge != Some(now) {
                    shard.purge(now);
                }
                if shard.entries.len() >= self.per_shard {
                    let wait = shard.earliest.saturating_sub(now).clamp(RETRY_MIN, RETRY_MAX);
                    return Err(Unavailable::new(Duration::from_secs(wait), "the DPoP replay store is full"));
                }
            }
        }
        shard.entries.insert(key.0, expires_at);
        Ok(true)
    }
}

impl Shard {
    /// Drops the entries expired at `now`.
    fn purge(&mut self, now: u64) {
        let mut earliest = u64::MAX;
        self.entries.retain(|_, until| {
            let live = *until > now;
            if live {
                earliest = earliest.min(*until);
            }
            live
        });
        self.earliest = earliest;
        self.last_purge = Some(now);
    }
}

fn full_store() -> Unavailable {
    Unavailable::new(Duration::from_secs(RETRY_MIN), "the DPoP replay store is full")
}

impl ReplayStore for MemoryReplayStore {
    fn first_use(&self, key: ReplayKey, expires_at: u64) -> ReplayCheck {
        ReplayCheck::Ready(self.first_use_at(&key, expires_at, unix_now()))
    }
}

/// Unix seconds by the system clock (the one the layer uses for `iat`).
fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn key(i: u32) -> ReplayKey {
        ReplayKey::new(&[0x11; 32], &format!("jti-{i}"))
    }

    /// Keys that land in one shard of `store`, first of all `key(0)`'s.
    fn same_shard(store: &MemoryReplayStore, n: usize) -> Vec<ReplayKey> {
        let shard = store.shard_of(&key(0));
        (0..).map(key).filter(|k| store.shard_of(k) == shard).take(n).collect()
    }

    #[test]
    fn the_key_binds_thumbprint_and_jti() {
        let jkt = [1u8; 32];
        assert_eq!(ReplayKey::new(&jkt, "a"), ReplayKey::new(&jkt, "a"));
        assert_ne!(ReplayKey::new(&jkt, "a"), ReplayKey::new(&jkt, "b"));
        assert_ne!(ReplayKey::new(&jkt, "a"), ReplayKey::new(&[2; 32], "a"), "one client cannot burn another's jti");
        let expected: [u8; 32] = Sha256::digest([&b"tower-bearer dpop jti\0"[..], &jkt, b"a"].concat()).into();
        assert_eq!(ReplayKey::new(&jkt, "a").as_bytes(), &expected);
    }

    #[test]
    fn a_proof_is_accepted_once() {
        let store = MemoryReplayStore::new(1000);
        assert_eq!(store.first_use_at(&key(1), NOW + 30, NOW), Ok(true));
        assert_eq!(store.first_use_at(&key(1), NOW + 30, NOW), Ok(false));
        assert_eq!(store.first_use_at(&key(1), NOW + 30, NOW + 29), Ok(false), "until it expires");
        assert_eq!(store.first_use_at(&key(2), NOW + 30, NOW), Ok(true));
        assert_eq!(store.len(), 2);
        // Through the trait, with the system clock.
        assert!(matches!(store.first_use(key(3), u64::MAX), ReplayCheck::Ready(Ok(true))));
        assert!(matches!(store.first_use(key(3), u64::MAX), ReplayCheck::Ready(Ok(false))));
    }

    #[test]
    fn a_record_ends_at_its_expiry() {
        let store = MemoryReplayStore::new(1000);
        assert_eq!(store.first_use_at(&key(1), NOW + 30, NOW), Ok(true));
        assert_eq!(store.first_use_at(&key(1), NOW + 60, NOW + 30), Ok(true), "expired at NOW + 30");
        assert_eq!(store.first_use_at(&key(1), NOW + 60, NOW + 59), Ok(false), "recorded again, until NOW + 60");
        assert_eq!(store.len(), 1, "the expired entry was replaced, not added");
    }

    #[test]
    fn a_full_shard_refuses_rather_than_forgets() {
        // 16 entries: one per shard.
        let store = MemoryReplayStore::new(16);
        let keys = same_shard(&store, 2);
        assert_eq!(store.first_use_at(&keys[0], NOW + 30, NOW), Ok(true));
        let refused = store.first_use_at(&keys[1], NOW + 30, NOW).unwrap_err();
        assert_eq!(refused.reason(), "the DPoP replay store is full");
        assert_eq!(refused.retry_after(), Duration::from_secs(30), "until the first entry expires");
        // The live proof is still recorded, and the refused one was not.
        assert_eq!(store.first_use_at(&keys[0], NOW + 30, NOW + 1), Ok(false));
        assert!(store.first_use_at(&keys[1], NOW + 30, NOW + 1).is_err());
        assert_eq!(store.len(), 1);

        // Filling every shard: never more than 16 recorded, every Ok(true) stays recorded.
        let store = MemoryReplayStore::new(16);
        let accepted: Vec<_> = (0..200).map(key).filter(|k| store.first_use_at(k, NOW + 30, NOW) == Ok(true)).collect();
        assert_eq!(accepted.len(), 16, "one per shard");
        assert!(accepted.iter().all(|k| store.first_use_at(k, NOW + 30, NOW) == Ok(false)));
    }

    #[test]
    fn purging_expired_entries_frees_room_once_a_second() {
        let store = MemoryReplayStore::new(32);
        let keys = same_shard(&store, 4);
        assert_eq!(store.first_use_at(&keys[0], NOW + 5, NOW), Ok(true));
        assert_eq!(store.first_use_at(&keys[1], NOW + 9, NOW), Ok(true));
        assert!(store.first_use_at(&keys[2], NOW + 30, NOW + 4).is_err(), "nothing expired yet");
        let purged_at = |store: &MemoryReplayStore| store.shards[store.shard_of(&keys[0])].lock().unwrap().last_purge;
        assert_eq!(purged_at(&store), Some(NOW + 4));
        // Within the same second the shard is not scanned again.
        assert!(store.first_use_at(&keys[3], NOW + 30, NOW + 4).is_err());
        assert_eq!(purged_at(&store), Some(NOW + 4));
        // keys[0] expired at NOW + 5: its room goes to the next new proof.
        assert_eq!(store.first_use_at(&keys[2], NOW + 30, NOW + 5), Ok(true));
        assert_eq!(purged_at(&store), Some(NOW + 5));
        assert_eq!(store.first_use_at(&keys[1], NOW + 30, NOW + 5), Ok(false), "keys[1] lives until NOW + 9");
        let refused = store.first_use_at(&keys[3], NOW + 30, NOW + 6).unwrap_err();
        assert_eq!(refused.retry_after(), Duration::from_secs(3), "keys[1] expires at NOW + 9");
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn a_store_of_no_capacity_accepts_nothing() {
        let store = MemoryReplayStore::new(0);
        for i in 0..50 {
            assert!(store.first_use_at(&key(i), NOW + 30, NOW).is_err());
        }
        assert!(matches!(store.first_use(key(1), u64::MAX), ReplayCheck::Ready(Err(_))));
        assert!(store.is_empty());
    }

    #[test]
    fn of_eight_threads_presenting_one_proof_exactly_one_wins() {
        for round in 0..50 {
            let store = MemoryReplayStore::new(1000);
            let start = std::sync::Barrier::new(8);
            let wins = std::thread::scope(|s| {
                let tasks: Vec<_> = (0..8)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            store.first_use_at(&key(round), NOW + 30, NOW) == Ok(true)
                        })
                    })
                    .collect();
                tasks.into_iter().map(|t| t.join().unwrap()).filter(|won| *won).count()
            });
            assert_eq!(wins, 1, "round {round}");
        }
    }

    #[test]
    fn debug_shows_sizes_only() {
        let store = MemoryReplayStore::new(100);
        assert_eq!(store.first_use_at(&key(1), NOW + 30, NOW), Ok(true));
        assert_eq!(format!("{store:?}"), "MemoryReplayStore { max_entries: 112, len: 1 }");
        assert_eq!(format!("{:?}", key(1)), "ReplayKey(..)");
    }
}
