//! The persisted record: one JSON document holding the JWK set as fetched, where it
//! came from (JWKS URL, discovery issuer) and when (wall clock, TTL), so a process
//! started later serves it only for the same source and only inside the same stale
//! window the fetching process had.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

use super::unix_ms;
use crate::keys::health::KeySetSource;
use crate::keys::jwk::{Origin, parse_set};
use crate::keys::remote::state::{Inner, Snapshot};

/// The format's name and version; a record of another format is ignored.
const FORMAT: &str = "tower-bearer/jwks-record/1";

/// How far in the future a record's fetch time may lie (clocks of a fleet differ a
/// little); it then counts as just fetched. Further out, the record is ignored.
const CLOCK_SKEW: Duration = Duration::from_secs(60);

#[derive(Serialize, Deserialize)]
struct Record {
    format: String,
    /// The JWKS URL the set was fetched from (as logs show it: no password).
    jwks_url: String,
    /// The issuer whose discovery document named `jwks_url`, when discovered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issuer: Option<String>,
    /// When the fetch that produced the set happened (ms since the Unix epoch).
    fetched_at_ms: u64,
    /// The TTL the fetch gave the set.
    ttl_ms: u64,
    /// The JWK set as the server published it.
    jwks: Value,
}

/// What a record is written from.
pub(super) struct Fields<'a> {
    pub(super) jwks_url: &'a str,
    pub(super) issuer: Option<&'a str>,
    pub(super) fetched_at_ms: u64,
    pub(super) ttl: Duration,
    pub(super) document: &'a [u8],
}

pub(super) fn encode(fields: &Fields<'_>) -> Result<Vec<u8>, serde_json::Error> {
    let record = Record {
        format: FORMAT.to_owned(),
        jwks_url: fields.jwks_url.to_owned(),
        issuer: fields.issuer.map(str::to_owned),
        fetched_at_ms: fields.fetched_at_ms,
        ttl_ms: u64::try_from(fields.ttl.as_millis()).unwrap_or(u64::MAX),
        jwks: serde_json::from_slice(fields.document)?,
    };
    serde_json::to_vec(&record)
}

/// The record as a snapshot for `inner`, or why it cannot be used (no secret in it).
pub(super) fn decode(bytes: &[u8], inner: &Inner) -> Result<Snapshot, String> {
    let record: Record = serde_json::from_slice(bytes).map_err(|e| format!("not a key set record: {e}"))?;
    if record.format != FORMAT {
        return Err(format!("unknown record format {:?}", truncated(&record.format)));
    }
    check_source(&record, inner)?;
    let age = age(record.fetched_at_ms, unix_ms())?;
    let o = &inner.opts;
    // A record written under longer settings gets no more than this process's own.
    let ttl = Duration::from_millis(record.ttl_ms).min(o.ttl.max(o.max_ttl));
    let window = ttl.saturating_add(o.max_stale);
    let Some(left) = window.checked_sub(age).filter(|left| !left.is_zero()) else {
        return Err(format!("fetched {}s ago, past its TTL and max_stale", age.as_secs()));
    };
    let document = serde_json::to_vec(&record.jwks).map_err(|e| format!("the JWK set: {e}"))?;
    let keys = parse_set(&document, Origin::Remote, o.max_keys).map_err(|e| format!("the JWK set: {e}"))?;
    if keys.is_empty() {
        return Err("the JWK set holds no usable key".to_owned());
    }
    let now = Instant::now();
    // Both durations come from the record: checked, though clamped above.
    let at = |d: Duration| now.checked_add(d).ok_or_else(|| "times out of range".to_owned());
    Ok(Snapshot {
        keys: std::sync::Arc::new(keys),
        loaded_at: now,
        loaded_before: age,
        // Due at once: the next fetch the backoff allows replaces it.
        refresh_at: now,
        expires_at: at(ttl.saturating_sub(age))?,
        stale_until: at(left)?,
        etag: None,
        source: KeySetSource::Persisted,
        fetched_at_ms: record.fetched_at_ms,
        document: Some(document.into()),
    })
}

/// A record is used only for the source it was fetched from: the same configured JWKS
/// URL, or the same discovery issuer (and the same JWKS URL once discovery found one).
fn check_source(record: &Record, inner: &Inner) -> Result<(), String> {
    let issuer = inner.endpoint.discovered_from();
    if record.issuer.as_deref() != issuer {
        return Err(format!("written for issuer {:?}, not this one", record.issuer.as_deref().map(truncated)));
    }
    match inner.endpoint.current() {
        Some(url) if url.as_str() != record.jwks_url => {
            Err(format!("written for JWKS URL {:?}, not {url}", truncated(&record.jwks_url)))
        }
        _ => Ok(()),
    }
}

/// The record's age; a fetch time more than [`CLOCK_SKEW`] ahead of the clock is refused
/// (a wrong clock must not stretch the stale window).
fn age(fetched_at_ms: u64, now_ms: u64) -> Result<Duration, String> {
    if fetched_at_ms > now_ms.saturating_add(u64::try_from(CLOCK_SKEW.as_millis()).unwrap_or(u64::MAX)) {
        return Err(format!("fetched {} s in the future (clock skew?)", (fetched_at_ms - now_ms) / 1000));
    }
    Ok(Duration::from_millis(now_ms.saturating_sub(fetched_at_ms)))
}

/// Text from the record in a log line: at most 200 characters.
fn truncated(text: &str) -> &str {
    text.char_indices().nth(200).map_or(text, |(i, _)| &text[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_counts_from_the_fetch_and_refuses_the_future() {
        assert_eq!(age(1_000, 61_000), Ok(Duration::from_secs(60)));
        // Within the skew: just fetched.
        assert_eq!(age(70_000, 61_000), Ok(Duration::ZERO));
        assert!(age(61_000 + 61_000, 61_000).is_err());
        assert!(age(u64::MAX, 0).is_err());
    }
}
