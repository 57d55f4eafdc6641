//! Telling an operator why a token's `iss` matched no configured issuer.
//!
//! A trailing slash or a case difference (`https://idp/realms/x/` vs
//! `https://idp/realms/x`) is the commonest configuration slip, and it fails every
//! token with a generic 401. The received `iss` is logged at debug level next to the
//! configured ones; a near miss is also warned about, once per distinct value.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Distinct near misses warned about in the last hour; bounded, since `iss` is
/// attacker-chosen (and unverified here), and expiring, so unsigned junk cannot use up
/// the warnings for good.
#[derive(Default)]
pub(crate) struct NearMisses {
    warned: Mutex<Vec<(String, Instant)>>,
}

const MAX_WARNED: usize = 32;
const WARN_AGAIN_AFTER: Duration = Duration::from_secs(3600);
const MAX_LOGGED_CHARS: usize = 128;

impl NearMisses {
    /// Logs a token whose `iss` matched none of `configured`.
    pub(crate) fn report<'a>(&self, received: &str, configured: impl Iterator<Item = &'a str> + Clone) {
        let shown = truncated(received);
        tracing::debug!(iss = ?shown, configured = ?configured.clone().collect::<Vec<_>>(), "token issuer is not configured");
        let Some(near) = configured.into_iter().find(|c| normalized(c) == normalized(received)) else { return };
        let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        warned.retain(|(_, at)| now.saturating_duration_since(*at) < WARN_AGAIN_AFTER);
        if warned.len() >= MAX_WARNED || warned.iter().any(|(w, _)| w == shown) {
            return;
        }
        warned.push((shown.to_owned(), now));
        tracing::warn!(
            iss = ?shown,
            configured = near,
            "an (unverified) token's issuer differs from a configured issuer only by case or a \
             trailing slash; issuers are compared exactly: check which spelling your IdP puts in `iss`"
        );
    }
}

fn normalized(iss: &str) -> String {
    iss.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// At most 128 characters of an attacker-chosen string (logged with `?`, so escaped).
fn truncated(s: &str) -> &str {
    s.char_indices().nth(MAX_LOGGED_CHARS).map_or(s, |(i, _)| s.get(..i).unwrap_or(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_are_slash_and_case() {
        assert_eq!(normalized("https://IdP.example.com/realms/x/"), normalized("https://idp.example.com/realms/x"));
        assert_ne!(normalized("https://idp.example.com/realms/y"), normalized("https://idp.example.com/realms/x"));
        assert_eq!(truncated(&"é".repeat(300)).chars().count(), 128);
    }
}
