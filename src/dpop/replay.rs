//! STUB (helper replaces): the replay store for proof `jti`s.

use crate::BoxFuture;
use crate::reject::Unavailable;

/// Identifies one proof: SHA-256 over the proof key's thumbprint and its `jti`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplayKey(pub(crate) [u8; 32]);

impl std::fmt::Debug for ReplayKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReplayKey(..)")
    }
}

impl ReplayKey {
    /// The key of the proof with `jti` made with the key whose thumbprint is `jkt`:
    /// SHA-256 over both, so one client cannot burn another's `jti`.
    pub fn new(jkt: &[u8; 32], jti: &str) -> Self {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(b"tower-bearer dpop jti\0");
        h.update(jkt);
        h.update(jti.as_bytes());
        Self(h.finalize().into())
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The answer of a [`ReplayStore`]: `true` when the key was seen for the first time.
pub enum ReplayCheck {
    /// Decided without I/O.
    Ready(Result<bool, Unavailable>),
    /// Waiting on a remote store.
    Pending(BoxFuture<Result<bool, Unavailable>>),
}

/// Remembers proofs until they expire, so a proof is accepted once.
pub trait ReplayStore: Send + Sync + 'static {
    /// Records `key` until `expires_at` (Unix seconds); `true` if it was not recorded yet.
    fn first_use(&self, key: ReplayKey, expires_at: u64) -> ReplayCheck;
}

/// The in-process store.
#[derive(Debug)]
pub struct MemoryReplayStore {
    max_entries: usize,
}

impl MemoryReplayStore {
    /// A store holding at most `max_entries` live proofs.
    pub fn new(max_entries: usize) -> Self {
        Self { max_entries }
    }
}

impl ReplayStore for MemoryReplayStore {
    fn first_use(&self, key: ReplayKey, expires_at: u64) -> ReplayCheck {
        let _ = (key, expires_at, self.max_entries);
        ReplayCheck::Ready(Ok(true))
    }
}
