//! [`FileKeySetStore`]: the record in a local file, written atomically.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{KeySetStore, KeySetStoreError};
use crate::BoxFuture;

/// A [`KeySetStore`] in a file, e.g. on a volume that survives restarts.
///
/// Writes go to a temporary file in the same directory, flushed to disk, then renamed
/// over the record, so a reader (or a crash) never sees half a record; on Unix the
/// file is created with mode `0600`. A record larger than the limit is not read, and on
/// Unix a file that group or others may write is refused (anyone who can write it can
/// add keys). A missing file is simply no record.
///
/// ```no_run
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_bearer::keys::RemoteJwks;
/// let keys = RemoteJwks::builder()
///     .discovery("https://login.example.com/realms/main")
///     .persist_to_file("/var/lib/my-api/jwks.json")
///     .build()?;
/// # let _ = keys; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FileKeySetStore {
    path: Arc<Path>,
}

impl FileKeySetStore {
    /// The record lives at `path` (its directory must exist and be writable).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into().into() }
    }

    /// The record's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl KeySetStore for FileKeySetStore {
    fn load(&self, max_len: usize) -> BoxFuture<Result<Option<Vec<u8>>, KeySetStoreError>> {
        let path = self.path.clone();
        Box::pin(async move { blocking(move || read_bounded(&path, max_len)).await })
    }

    fn save(&self, record: Vec<u8>, _useful_for: Duration) -> BoxFuture<Result<(), KeySetStoreError>> {
        let path = self.path.clone();
        Box::pin(async move { blocking(move || write_atomically(&path, &record)).await })
    }
}

/// File I/O off the async threads (a slow disk then costs the caller's timeout only).
async fn blocking<T: Send + 'static>(
    io: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, KeySetStoreError> {
    match tokio::task::spawn_blocking(io).await {
        Ok(result) => result.map_err(Into::into),
        Err(e) => Err(format!("file task: {e}").into()),
    }
}

fn read_bounded(path: &Path, max_len: usize) -> std::io::Result<Option<Vec<u8>>> {
    // Looked at before opening, without following links: a symlink (to a file someone
    // else controls) or a FIFO (whose open would block this thread for good) is refused.
    let seen = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !seen.file_type().is_file() {
        return Err(other(format!("{} is not a regular file (a link, a pipe…): not trusted", path.display())));
    }
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        // The file opened is the one looked at, not one swapped in between.
        if (meta.dev(), meta.ino()) != (seen.dev(), seen.ino()) {
            return Err(other(format!("{} changed while it was opened: not trusted", path.display())));
        }
        if meta.permissions().mode() & 0o022 != 0 {
            return Err(other(format!("{} is writable by group or others: not trusted", path.display())));
        }
        // Someone else's file in a shared directory (`/tmp`) could hold their keys;
        // root's files are trusted (root can write ours anyway).
        if let Some(uid) = process_uid()
            && meta.uid() != uid
            && meta.uid() != 0
        {
            return Err(other(format!("{} belongs to another user: not trusted", path.display())));
        }
    }
    if !meta.is_file() {
        return Err(other(format!("{} is not a regular file", path.display())));
    }
    let mut bytes = Vec::new();
    let limit = u64::try_from(max_len).unwrap_or(u64::MAX).saturating_add(1);
    file.take(limit).read_to_end(&mut bytes)?;
    if bytes.len() > max_len {
        return Err(other(format!("{} is larger than {max_len} bytes", path.display())));
    }
    Ok(Some(bytes))
}

/// This process's effective user, as Linux shows it (`/proc/self` belongs to it);
/// `None` elsewhere, where only the mode is checked.
#[cfg(unix)]
fn process_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt as _;
    if cfg!(target_os = "linux") { std::fs::metadata("/proc/self").ok().map(|m| m.uid()) } else { None }
}

fn write_atomically(path: &Path, record: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().ok_or_else(|| other(format!("{} names no file", path.display())))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!(".{}.{}.{unique}.tmp", name.to_string_lossy(), std::process::id()));
    let written = write_new(&temp, record).and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written?;
    // The rename itself reaches the disk with the directory (best effort).
    #[cfg(unix)]
    let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    Ok(())
}

/// Creates `path` (it must not exist), owner-only on Unix, and writes `bytes` durably.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn other(message: String) -> std::io::Error {
    std::io::Error::other(message)
}
