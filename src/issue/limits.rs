//! How many failed logins `/login` accepts, counted per what.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::HeaderMap;

type Normalize = Arc<dyn Fn(&str) -> String + Send + Sync>;
/// Finds the client address a request's failures are counted under, from its headers
/// and peer address (`/login`'s [`LoginLimits::client_key`], the authorization
/// server's `ServerLimits::address_key`).
pub(crate) type ClientKey = Arc<dyn Fn(&HeaderMap, Option<SocketAddr>) -> Option<String> + Send + Sync>;

/// Failed-login limits for [`LocalIssuer::router`](super::LocalIssuer::router).
///
/// Each failure counts against three budgets at once; when any is spent, `/login`
/// answers `429` with `Retry-After` (without running the password check) until the
/// window that budget started with its first failure has passed:
///
/// | budget | key | default |
/// |---|---|---|
/// | [`max_failures`](Self::max_failures) | the login name, [normalised](Self::normalize) | 5 |
/// | [`max_failures_per_client`](Self::max_failures_per_client) | the [client address](Self::client_key) | 20 |
/// | [`max_failures_total`](Self::max_failures_total) | everything | 1000 |
///
/// The [`window`](Self::window) is 15 minutes. An attempt is counted *before* the
/// password check runs (and given back if the password is right; the failures before it
/// stay counted, so guesses between a user's logins still run out), so parallel guesses
/// cannot outrun a limit. Login names
/// longer than [`max_login_len`](Self::max_login_len) (256 bytes) are refused with
/// `400`. Names are kept only as keyed hashes, in a cache bounded in bytes.
///
/// The global ceiling is a lever against spraying many names from many addresses; when
/// it is reached, every login waits, the legitimate ones too. Raise it for large user
/// bases.
///
/// ```
/// use std::time::Duration;
/// use tower_bearer::issue::LoginLimits;
///
/// let limits = LoginLimits::default()
///     .max_failures(3)
///     .window(Duration::from_secs(600))
///     // Behind a reverse proxy that sets X-Real-IP (and strips it from clients).
///     .client_key(|headers, _peer| headers.get("x-real-ip")?.to_str().ok().map(str::to_owned));
/// # let _ = limits;
/// ```
#[derive(Clone)]
pub struct LoginLimits {
    pub(super) per_login: u32,
    pub(super) per_client: u32,
    pub(super) total: u32,
    pub(super) window: Duration,
    pub(super) max_login_len: usize,
    pub(super) normalize: Normalize,
    pub(super) client_key: ClientKey,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            per_login: 5,
            per_client: 20,
            total: 1000,
            window: Duration::from_secs(15 * 60),
            max_login_len: 256,
            normalize: Arc::new(|login| login.trim().to_lowercase()),
            client_key: Arc::new(|_, peer| peer.map(|p| address_key(p.ip()))),
        }
    }
}

impl LoginLimits {
    /// Failures allowed per login name within the window (5; 0 refuses every login).
    #[must_use]
    pub fn max_failures(mut self, n: u32) -> Self {
        self.per_login = n;
        self
    }

    /// Failures allowed per client address within the window, whatever names they
    /// try (20). `u32::MAX` turns this budget off.
    #[must_use]
    pub fn max_failures_per_client(mut self, n: u32) -> Self {
        self.per_client = n;
        self
    }

    /// Failures allowed in all within the window (1000). `u32::MAX` turns this budget
    /// off (the failure cache then holds at most about a million entries).
    #[must_use]
    pub fn max_failures_total(mut self, n: u32) -> Self {
        self.total = n;
        self
    }

    /// How long a budget's failures are remembered, from its first failure (15 min).
    #[must_use]
    pub fn window(mut self, window: Duration) -> Self {
        // Zero would switch every limit off; beyond a day the caches' TTL gains nothing.
        self.window = window.clamp(Duration::from_secs(1), Duration::from_secs(24 * 3600));
        self
    }

    /// Longest login name accepted, in bytes (256); longer ones get `400 invalid_request`.
    #[must_use]
    pub fn max_login_len(mut self, bytes: usize) -> Self {
        self.max_login_len = bytes;
        self
    }

    /// Maps a login name to the key its failures are counted under (default: trimmed
    /// and lowercased, so `Alice`, `ALICE` and ` alice` share one budget). Use the same
    /// rule your password check uses to find the account. The check itself still gets
    /// the name as sent.
    #[must_use]
    pub fn normalize(mut self, f: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        self.normalize = Arc::new(f);
        self
    }

    /// Finds the client address failures are counted under, from the request headers
    /// and the peer address (`None` unless the server was started with
    /// [`into_make_service_with_connect_info::<SocketAddr>`](axum::Router::into_make_service_with_connect_info)).
    ///
    /// The default uses the peer's IP address (IPv6 grouped by /64, what one host
    /// usually holds). With no address — no `ConnectInfo`, or this function answering
    /// `None` — the per-client budget is not applied (the per-login and global ones
    /// still are), and a warning is logged once. Behind a reverse proxy, every peer is
    /// the proxy: read the header it sets instead (only one it overwrites, never a
    /// client-supplied `X-Forwarded-For` as is).
    #[must_use]
    pub fn client_key(
        mut self,
        f: impl Fn(&HeaderMap, Option<SocketAddr>) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.client_key = Arc::new(f);
        self
    }
}

impl fmt::Debug for LoginLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginLimits")
            .field("max_failures", &self.per_login)
            .field("max_failures_per_client", &self.per_client)
            .field("max_failures_total", &self.total)
            .field("window", &self.window)
            .field("max_login_len", &self.max_login_len)
            .finish_non_exhaustive()
    }
}

/// A [`ClientKey`] that says once, at the first request it finds no address for, what
/// that costs: a deployment serving without `ConnectInfo` (or behind a proxy it was not
/// told about) notices.
pub(crate) struct ClientAddress {
    key: ClientKey,
    /// What goes unlimited without an address, logged once.
    unlimited: &'static str,
    warned: AtomicBool,
}

impl ClientAddress {
    pub(crate) fn new(key: ClientKey, unlimited: &'static str) -> Self {
        Self { key, unlimited, warned: AtomicBool::new(false) }
    }

    /// The client address of a request, if the key finds one.
    pub(crate) fn of(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<String> {
        let address = (self.key)(headers, peer);
        if address.is_none() && !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!("{}", self.unlimited);
        }
        address
    }
}

/// An IP address as a budget key; IPv6 by its /64 prefix.
pub(super) fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_group_ipv6_by_prefix() {
        let key = |s: &str| address_key(s.parse().unwrap());
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::2"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    }
}
