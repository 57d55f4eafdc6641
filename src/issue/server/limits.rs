//! Abuse limits of the client-authenticated endpoints: [`ServerLimits`] and the
//! counters behind it.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;

use crate::issue::attempts::{Attempts, Reservation};
use crate::issue::budget::{Budget, KeyedHash};
use crate::issue::limits::{ClientAddress, ClientKey};

use super::client_auth::Authenticated;
use super::error::OAuthError;

/// Abuse limits of the token endpoint (and of the other endpoints where clients
/// authenticate), set with
/// [`AuthorizationServerBuilder::limits`](super::AuthorizationServerBuilder::limits).
///
/// | limit | default | answer |
/// |---|---|---|
/// | [`max_body`](Self::max_body) | 16 KiB | `413` (`invalid_request`) |
/// | [`requests_per_client`](Self::requests_per_client) | 600 per minute, per endpoint | `429` with `Retry-After` |
/// | [`failures_per_client`](Self::failures_per_client) | 10 | `429` with `Retry-After` |
/// | [`failures_per_address`](Self::failures_per_address) | 100 | `429` with `Retry-After` |
/// | [`failures_total`](Self::failures_total) | 1000 | `429` with `Retry-After` |
///
/// Failed client authentications are counted per `client_id`, per client
/// address and in total, over the [`failure_window`](Self::failure_window) (15
/// minutes), *before* the secret is checked, so parallel guesses cannot outrun a limit.
/// A right secret gives back its own attempt only: the failures before it stay
/// counted, so guesses made between the client's successes still run out. Past the
/// total ceiling, an address with no failures of its own is still let through to its
/// own budgets; when no address is known, a registered `client_id` with no failures of
/// its own is (an unknown one is refused: fresh ids would each add a counter). Only the
/// `client_id` exactly as the [`ClientStore`](super::ClientStore) registered it names a
/// client: a store matching loosely (case-insensitively, trimming) answering another
/// spelling is treated as knowing no client, so no spelling gets a budget of its own.
/// Anyone who knows a confidential `client_id` can spend its failure budget: the client
/// then waits out the window, a denial of service traded against unlimited guessing. A
/// public client sent with a secret is refused (`invalid_client`) and counted against
/// the address and the total only: that request guessed nothing. A public client naming
/// itself (no secret) cannot fail authentication and is counted against no failure
/// budget (only against its request budget).
///
/// Requests of an authenticated client are counted per client, each endpoint (token,
/// revocation, introspection) on its own budget, in the window given to
/// [`requests_per_client`](Self::requests_per_client), the failed ones (a wrong code,
/// a reused refresh token) too. A public client proves nothing, so anyone could spend
/// its budget: its requests are counted per client *and* address. Introspection has its
/// own budget with the same default (600 per minute): a resource server introspecting
/// many distinct tokens (one call per token it has not cached) needs more, so raise
/// [`requests_per_client`](Self::requests_per_client) for such a deployment (the value
/// applies to every endpoint).
///
/// Without a client address (no peer address passed to the endpoint and no
/// [`address_key`](Self::address_key) of a proxy's header), there is no per-address
/// budget and a public client has one request budget for everyone: a warning is logged
/// once.
///
/// Every counter is kept under a keyed hash in a cache bounded in entries: memory does
/// not grow with what clients send.
///
/// ```
/// use std::time::Duration;
/// use tower_bearer::issue::server::ServerLimits;
///
/// let limits = ServerLimits::default()
///     .requests_per_client(100, Duration::from_secs(60))
///     .failures_per_client(5)
///     // Behind a reverse proxy that sets X-Real-IP (and strips it from clients).
///     .address_key(|headers, _peer| headers.get("x-real-ip")?.to_str().ok().map(str::to_owned));
/// # let _ = limits;
/// ```
#[derive(Clone)]
pub struct ServerLimits {
    pub(crate) max_body: usize,
    requests_per_client: u32,
    request_window: Duration,
    failures_per_client: u32,
    failures_per_address: u32,
    failures_total: u32,
    failure_window: Duration,
    address_key: ClientKey,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_body: 16 * 1024,
            requests_per_client: 600,
            request_window: Duration::from_secs(60),
            failures_per_client: 10,
            failures_per_address: 100,
            failures_total: 1000,
            failure_window: Duration::from_secs(15 * 60),
            address_key: Arc::new(|_, peer| peer.map(|p| crate::issue::limits::address_key(p.ip()))),
        }
    }
}

impl fmt::Debug for ServerLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerLimits")
            .field("max_body", &self.max_body)
            .field("requests_per_client", &self.requests_per_client)
            .field("request_window", &self.request_window)
            .field("failures_per_client", &self.failures_per_client)
            .field("failures_per_address", &self.failures_per_address)
            .field("failures_total", &self.failures_total)
            .field("failure_window", &self.failure_window)
            .finish_non_exhaustive()
    }
}

/// Shortest and longest windows: zero would switch a limit off; beyond a day the
/// caches' TTL gains nothing.
fn clamp_window(window: Duration) -> Duration {
    window.clamp(Duration::from_secs(1), Duration::from_secs(24 * 3600))
}

impl ServerLimits {
    /// Largest request body accepted, in bytes (16 KiB: a token request is a few
    /// hundred bytes). Larger bodies are answered `413` before being read whole.
    #[must_use]
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Requests one authenticated client may make per `window` to each of the token,
    /// revocation and introspection endpoints (600 per minute); a public client's are
    /// counted per [client address](Self::address_key) too. `u32::MAX` turns this limit
    /// off.
    #[must_use]
    pub fn requests_per_client(mut self, max: u32, window: Duration) -> Self {
        self.requests_per_client = max;
        self.request_window = clamp_window(window);
        self
    }

    /// Failed authentications per `client_id` within the failure window (10).
    #[must_use]
    pub fn failures_per_client(mut self, max: u32) -> Self {
        self.failures_per_client = max;
        self
    }

    /// Failed authentications per [client address](Self::address_key) within the
    /// failure window (100).
    #[must_use]
    pub fn failures_per_address(mut self, max: u32) -> Self {
        self.failures_per_address = max;
        self
    }

    /// Failed authentications in all within the failure window (1000).
    #[must_use]
    pub fn failures_total(mut self, max: u32) -> Self {
        self.failures_total = max;
        self
    }

    /// How long failures are remembered, from a budget's first failure (15 min).
    #[must_use]
    pub fn failure_window(mut self, window: Duration) -> Self {
        self.failure_window = clamp_window(window);
        self
    }

    /// Finds the client address failures are counted under, from the request headers
    /// and the peer address (the default: the peer's IP, IPv6 by /64). With no address,
    /// there is no per-address budget, a public client's request budget is shared by
    /// everyone, and a warning is logged once. Behind a reverse proxy every peer is the
    /// proxy: read the header it sets instead (one it overwrites, never a
    /// client-supplied `X-Forwarded-For` as is).
    #[must_use]
    pub fn address_key(
        mut self,
        f: impl Fn(&HeaderMap, Option<SocketAddr>) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.address_key = Arc::new(f);
        self
    }
}

/// What a failed client authentication is counted under, besides the client address
/// and the total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FailureBudget<'a> {
    /// Nothing at all: a registered public client naming itself cannot fail.
    None,
    /// No `client_id`: a public client sent with a secret. Anyone can name it, and
    /// the request guessed nothing; counting it against the client would let anyone
    /// lock it out.
    AddressOnly,
    /// A `client_id` no client is registered under: it never passes the total
    /// ceiling on its own.
    Unknown(&'a str),
    /// A registered confidential client's `client_id`.
    Registered(&'a str),
}

/// The counters of one server.
pub(crate) struct Limiter {
    pub(crate) limits: ServerLimits,
    failures: Attempts,
    requests: Budget,
    keys: KeyedHash,
    address: ClientAddress,
}

/// Most clients whose request counts are kept at once; beyond, the least recently
/// seen are forgotten.
const MAX_RATE_ENTRIES: u64 = 100_000;

impl Limiter {
    pub(crate) fn new(limits: ServerLimits) -> Self {
        let l = &limits;
        Self {
            failures: Attempts::for_clients(
                l.failures_per_client,
                l.failures_per_address,
                l.failures_total,
                l.failure_window,
            ),
            requests: Budget::new(l.requests_per_client, l.request_window, MAX_RATE_ENTRIES),
            keys: KeyedHash::new(),
            address: ClientAddress::new(
                l.address_key.clone(),
                "the authorization server has no client address (no peer address passed to it, or \
                 ServerLimits::address_key gave none): failed client authentications are not limited per \
                 address, and each public client has one request budget for everyone",
            ),
            limits,
        }
    }

    /// The client address of a request, as [`ServerLimits::address_key`] finds it;
    /// the first request without one is warned about.
    pub(super) fn address(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<String> {
        self.address.of(headers, peer)
    }

    /// Counts one authentication attempt against `budget` and `address`'s before the
    /// secret is checked: `succeeded` on the reservation gives it back. Nothing is
    /// reserved for a request that cannot fail ([`FailureBudget::None`]).
    pub(super) fn reserve_attempt(
        &self,
        budget: FailureBudget<'_>,
        address: Option<&str>,
    ) -> Result<Option<Reservation>, OAuthError> {
        let (reserved, client_id) = match budget {
            FailureBudget::None => return Ok(None),
            FailureBudget::AddressOnly => (self.failures.reserve(None, address), None),
            FailureBudget::Unknown(id) => (self.failures.reserve(Some(id), address), Some(id)),
            FailureBudget::Registered(id) => (self.failures.reserve_registered(id, address), Some(id)),
        };
        reserved.map(Some).map_err(|wait| {
            let client = client_id.map(|id| self.failures.tag(id));
            tracing::debug!(
                client = client.as_deref().unwrap_or("-"),
                "client authentication refused: too many failures"
            );
            OAuthError::rate_limited(seconds(wait))
        })
    }

    /// Counts one request of the authenticated client at `endpoint` (its path: each
    /// endpoint has its own budget); a public client's per `address` too, since anyone
    /// can send its `client_id`.
    pub(super) fn admit_request(
        &self,
        endpoint: &str,
        authenticated: &Authenticated,
        address: Option<&str>,
    ) -> Result<(), OAuthError> {
        if self.limits.requests_per_client == u32::MAX {
            return Ok(());
        }
        let client_id = authenticated.client.id();
        // The id's length keeps the parts apart, whatever a client store's ids hold.
        let mut counted = format!("{endpoint} {}:{client_id}", client_id.len());
        if let (false, Some(address)) = (authenticated.client.is_confidential(), address) {
            counted.push_str(address);
        }
        self.requests.reserve(self.keys.hash(b'r', &counted)).map(drop).map_err(|wait| {
            tracing::debug!(client_id, endpoint, "request refused: rate limit");
            OAuthError::rate_limited(seconds(wait))
        })
    }
}

/// Whole seconds, rounded up.
fn seconds(wait: Duration) -> u64 {
    wait.as_secs().saturating_add(u64::from(wait.subsec_nanos() > 0))
}
