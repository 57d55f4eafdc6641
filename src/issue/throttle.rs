//! [`LoginThrottle`]: the failed-login budgets of `/login`, for an application's own
//! login page.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use axum::http::HeaderMap;

use super::attempts::{Attempts, Reservation};
use super::limits::{ClientAddress, LoginLimits};

/// Failed-login limits for a login form the application serves itself (the login
/// page in front of an
/// [`AuthorizationServer`](super::server::AuthorizationServer)'s authorization
/// endpoint, say): the counters [`LocalIssuer::router`](super::LocalIssuer::router)'s
/// `/login` keeps, set by the same [`LoginLimits`] (per login name, per client address,
/// in total).
///
/// Call [`attempt`](Self::attempt) *before* checking the password: a refusal means
/// "do not check it, answer `429` with `Retry-After`". Call
/// [`LoginAttempt::succeeded`] when the password was right; drop the attempt when it
/// was wrong (the failure stays counted).
///
/// ```
/// use std::net::SocketAddr;
/// use axum::http::HeaderMap;
/// use tower_bearer::issue::{LoginLimits, LoginThrottle};
///
/// fn check(throttle: &LoginThrottle, headers: &HeaderMap, peer: SocketAddr, login: &str, password: &str) -> Result<bool, u64> {
///     let attempt = throttle.attempt(login, headers, Some(peer)).map_err(|wait| wait.as_secs().max(1))?;
///     let right = login == "alice" && password == "correct horse"; // your user store's check
///     if right {
///         attempt.succeeded();
///     }
///     Ok(right)
/// }
/// let throttle = LoginThrottle::new(LoginLimits::default().max_failures(3));
/// let peer: SocketAddr = "192.0.2.7:5000".parse().unwrap();
/// for _ in 0..3 {
///     assert_eq!(check(&throttle, &HeaderMap::new(), peer, "alice", "guess"), Ok(false));
/// }
/// assert!(check(&throttle, &HeaderMap::new(), peer, "alice", "correct horse").is_err(), "spent: not checked");
/// ```
pub struct LoginThrottle {
    limits: LoginLimits,
    attempts: Attempts,
    client: ClientAddress,
}

/// One login attempt counted against the budgets: hand it back with
/// [`succeeded`](Self::succeeded) when the password was right.
#[must_use = "drop it after a wrong password, call `succeeded` after a right one"]
pub struct LoginAttempt {
    reservation: Reservation,
}

impl LoginThrottle {
    /// Budgets set by `limits` (its [`max_login_len`](LoginLimits::max_login_len) is
    /// `/login`'s own check, not applied here: names are only kept hashed).
    pub fn new(limits: LoginLimits) -> Self {
        let client = ClientAddress::new(
            limits.client_key.clone(),
            "login attempts cannot tell clients apart (no ConnectInfo<SocketAddr>, or LoginLimits::client_key \
             gave none): the per-client failure limit is not applied",
        );
        Self { attempts: Attempts::new(&limits), limits, client }
    }

    /// Counts one attempt for `login` ([normalised](LoginLimits::normalize)) from the
    /// client the headers and peer address name
    /// ([`client_key`](LoginLimits::client_key)), or how long until the spent budget's
    /// window ends (at least a second). A refusal counts nothing.
    pub fn attempt(
        &self,
        login: &str,
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
    ) -> Result<LoginAttempt, Duration> {
        let client = self.client.of(headers, peer);
        let login = (self.limits.normalize)(login);
        match self.attempts.reserve(Some(&login), client.as_deref()) {
            Ok(reservation) => Ok(LoginAttempt { reservation }),
            Err(wait) => {
                // A keyed hash only: the name may hold a newline or a password typed in the wrong field.
                tracing::debug!(login = %self.attempts.tag(&login), "login refused: too many failures");
                Err(wait)
            }
        }
    }

    /// The limits in force.
    pub(super) fn limits(&self) -> &LoginLimits {
        &self.limits
    }

    /// A short keyed hash of `login` for logs ([normalised](LoginLimits::normalize)).
    pub(super) fn tag(&self, login: &str) -> String {
        self.attempts.tag(&(self.limits.normalize)(login))
    }
}

impl LoginAttempt {
    /// The password was right: this attempt is given back (earlier failures stay
    /// counted, so guesses between the owner's logins gain nothing).
    pub fn succeeded(self) {
        self.reservation.succeeded();
    }
}

impl fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginThrottle").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl fmt::Debug for LoginAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginAttempt").finish_non_exhaustive()
    }
}
