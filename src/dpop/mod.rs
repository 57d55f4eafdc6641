//! DPoP (RFC 9449): access tokens bound to a key the client proves it holds.
//!
//! A DPoP client signs a fresh, short-lived JWT (the *proof*) for every request,
//! naming the method and URL, and sends it in a `DPoP` header beside
//! `Authorization: DPoP <token>`. The token's `cnf.jkt` names the proof key, so a
//! stolen token is useless without the key.
//!
//! - [`Dpop`] / [`DpopBuilder`] (this file): the mode and its settings, given to
//!   [`BearerLayer::dpop`](crate::BearerLayer::dpop);
//! - `proof.rs`: parsing and checking one proof (RFC 9449 §4.3), cheapest checks first,
//!   the signature last (after the token and its binding), and the cache of proof keys;
//! - `htu.rs`: the URL a proof must name, RFC 3986 normalised, and the public origins;
//! - `replay.rs`: [`ReplayStore`], which accepts each proof once, and the in-process
//!   [`MemoryReplayStore`]; `replay_redis.rs`: `RedisReplayStore` (feature `redis`);
//! - `nonce.rs`: stateless server nonces (§8, §9).
//!
//! Making proofs (a client, or a test) is [`signing::DpopKey`](crate::signing::DpopKey)'s.
//!
//! ```
//! use tower_bearer::dpop::{Dpop, DpopMode};
//! let dpop = Dpop::builder(DpopMode::Allowed).public_url("https://api.example.com").build()?;
//! assert_eq!(dpop.mode(), DpopMode::Allowed);
//! # Ok::<(), tower_bearer::ConfigError>(())
//! ```

mod htu;
mod nonce;
mod proof;
mod replay;
#[cfg(feature = "redis")]
mod replay_redis;

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;

pub use nonce::NonceSecret;
pub(crate) use nonce::{NonceCheck, Nonces};
pub use proof::DpopProof;
pub(crate) use proof::{UnsignedProof, check_proof};
pub use replay::{MemoryReplayStore, ReplayCheck, ReplayKey, ReplayStore};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use replay_redis::RedisReplayStore;

pub use crate::token::{DPOP, DPOP_NONCE};

use crate::ConfigError;
use crate::keys::AlgorithmSet;
use crate::token::RequestHead;

/// How a layer treats DPoP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DpopMode {
    /// The library default: the `DPoP` scheme is not a credential here, and
    /// DPoP-bound tokens are refused.
    #[default]
    Off,
    /// Unbound tokens pass as `Bearer`; DPoP-bound tokens only with the `DPoP` scheme
    /// and a valid proof.
    Allowed,
    /// Every token must be DPoP-bound and come with the `DPoP` scheme and a proof.
    Required,
}

/// Default acceptance window for a proof's `iat` (RFC 9449 §11.1: "a few seconds");
/// peers use 60 (Spring) to 300 (oidc-provider, Auth0) seconds.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(30);

/// Default clock skew allowed on a proof's `iat`, both ways.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(5);

/// Default cap on the `DPoP` header (an RSA-4096 proof is about 1.5 KiB).
pub const DEFAULT_MAX_PROOF_LEN: usize = 8 * 1024;

/// Default number of live proofs the in-process replay store holds.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// How long a server nonce is current (the previous one is still accepted).
pub const NONCE_STEP: Duration = Duration::from_secs(60);

/// Seconds since the Unix epoch (the clock proofs' `iat` and nonces are judged by).
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// DPoP settings for a layer. Cheap to clone.
#[derive(Clone)]
pub struct Dpop {
    pub(crate) config: Arc<Config>,
}

pub(crate) struct Config {
    pub(crate) mode: DpopMode,
    pub(crate) origins: htu::Origins,
    pub(crate) algorithms: AlgorithmSet,
    /// `algs="…"` of every DPoP challenge.
    pub(crate) algs: String,
    pub(crate) max_age: u64,
    pub(crate) leeway: u64,
    pub(crate) max_proof_len: usize,
    pub(crate) replay: Arc<dyn ReplayStore>,
    pub(crate) nonces: Option<Nonces>,
    /// Parsed proof keys, by header.
    pub(crate) keys: proof::KeyCache,
    /// `tower_bearer_dpop_replays_total`.
    pub(crate) replays: crate::metrics::Counter,
}

impl std::fmt::Debug for Dpop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.config;
        f.debug_struct("Dpop")
            .field("mode", &c.mode)
            .field("origins", &c.origins)
            .field("algorithms", &c.algorithms)
            .field("max_age", &c.max_age)
            .field("leeway", &c.leeway)
            .field("nonces", &c.nonces.is_some())
            .finish_non_exhaustive()
    }
}

impl Dpop {
    /// Settings for `mode`; [`Allowed`](DpopMode::Allowed) and
    /// [`Required`](DpopMode::Required) need a [`public_url`](DpopBuilder::public_url).
    pub fn builder(mode: DpopMode) -> DpopBuilder {
        DpopBuilder {
            mode,
            public_urls: Vec::new(),
            from_request: None,
            algorithms: default_algorithms(),
            max_age: DEFAULT_MAX_AGE,
            leeway: DEFAULT_LEEWAY,
            max_proof_len: DEFAULT_MAX_PROOF_LEN,
            replay: None,
            nonces: None,
        }
    }

    /// DPoP off: the default of every layer.
    pub fn off() -> Self {
        // Off needs no origin, so building cannot fail.
        Self {
            config: Arc::new(Config {
                mode: DpopMode::Off,
                origins: htu::Origins::Configured(Vec::new()),
                algorithms: default_algorithms(),
                algs: algs_param(default_algorithms()),
                max_age: DEFAULT_MAX_AGE.as_secs(),
                leeway: DEFAULT_LEEWAY.as_secs(),
                max_proof_len: DEFAULT_MAX_PROOF_LEN,
                replay: Arc::new(MemoryReplayStore::new(0)),
                nonces: None,
                keys: proof::KeyCache::new(),
                replays: crate::metrics::dpop_replays(),
            }),
        }
    }

    /// The mode.
    pub fn mode(&self) -> DpopMode {
        self.config.mode
    }

    /// The proof algorithms accepted, as the `algs` challenge parameter lists them.
    pub fn algs(&self) -> &str {
        &self.config.algs
    }

    /// Checks the proof of a token request (RFC 9449 §5) made to `req`, an
    /// authorization server's token endpoint under one of the public URLs, and
    /// records it as used: the same checks as on a resource request, without `ath`
    /// (there is no access token yet). The proof's
    /// [`thumbprint`](DpopProof::thumbprint) is the `cnf.jkt` to bind the issued token
    /// to. An error is answered `400` with its [`error_code`](crate::AuthError::error_code)
    /// (`invalid_dpop_proof`, `use_dpop_nonce`), or `503` for a replay store outage.
    ///
    /// ```
    /// # async fn f(dpop: tower_bearer::dpop::Dpop, req: http::Request<()>) {
    /// use tower_bearer::token::RequestHead;
    /// match dpop.check_token_request(&RequestHead::from_request(&req)).await {
    ///     Ok(proof) => println!("bind the token to {}", proof.thumbprint()),
    ///     Err(e) => println!("400 {:?}", e.error_code()),
    /// }
    /// # }
    /// ```
    pub async fn check_token_request(&self, req: &RequestHead<'_>) -> Result<DpopProof, crate::AuthError> {
        if self.config.mode == DpopMode::Off {
            // Off refuses every proof; say so rather than "htu does not match".
            tracing::warn!("check_token_request on DPoP settings that are off: every proof is refused");
        }
        let (proof, unsigned) = check_proof(&self.config, req, None, now())?;
        unsigned.verify(&self.config)?;
        let seen = match self.config.record(proof.replay_record())? {
            ReplayCheck::Ready(seen) => seen,
            ReplayCheck::Pending(seen) => seen.await,
        };
        self.config.first_use(seen).map(|()| proof)
    }

    /// The current server nonce, for a `DPoP-Nonce` header (e.g. an authorization
    /// server answering `use_dpop_nonce` from [`check_token_request`](Self::check_token_request));
    /// `None` without [`require_nonces`](DpopBuilder::require_nonces).
    pub fn current_nonce(&self) -> Option<http::HeaderValue> {
        self.config.nonces.as_ref().map(|n| n.issue(now()))
    }
}

impl Config {
    /// Records a checked proof as used. A proof whose window closed meanwhile (a
    /// pending verification can take seconds) is refused, or a copy sent at the very
    /// end of the window would find its record already expired; and the record outlives
    /// the window by the leeway (at least 5 s), so a store whose clock runs ahead
    /// cannot forget it early.
    pub(crate) fn record(&self, (key, usable_until): (ReplayKey, u64)) -> Result<ReplayCheck, crate::AuthError> {
        if now() >= usable_until {
            return Err(crate::InvalidProof::IssuedAt.into());
        }
        Ok(self.replay.first_use(key, usable_until.saturating_add(self.leeway.max(5))))
    }

    /// A replay store's answer as a verdict: seen before is a replayed proof (counted),
    /// an outage is a `503` (never an accepted proof that could not be recorded).
    pub(crate) fn first_use(&self, seen: Result<bool, crate::Unavailable>) -> Result<(), crate::AuthError> {
        match seen {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.replays.increment();
                Err(crate::InvalidProof::Replayed.into())
            }
            Err(outage) => Err(crate::AuthError::Unavailable(outage)),
        }
    }
}

/// Builds [`Dpop`] settings.
#[must_use]
pub struct DpopBuilder {
    mode: DpopMode,
    public_urls: Vec<String>,
    from_request: Option<http::uri::Scheme>,
    algorithms: AlgorithmSet,
    max_age: Duration,
    leeway: Duration,
    max_proof_len: usize,
    replay: Option<Arc<dyn ReplayStore>>,
    nonces: Option<NonceSecret>,
}

impl std::fmt::Debug for DpopBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the URLs themselves: one with a password in it is refused by `build`, but
        // should not reach a log on the way.
        f.debug_struct("DpopBuilder")
            .field("mode", &self.mode)
            .field("public_urls", &self.public_urls.len())
            .finish_non_exhaustive()
    }
}

impl DpopBuilder {
    /// A public URL of this service, `scheme://host[:port][/base]`, as clients call
    /// it: a proof's `htu` must name it plus the request path. Repeatable. Behind a
    /// proxy that strips a prefix, include the prefix as `/base`.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_urls.push(url.into());
        self
    }

    /// Takes the origin a proof must name from the request itself (`scheme` plus the
    /// `Host` header or HTTP/2 authority). **For development only**: the `Host` is
    /// chosen by the client, so behind a proxy a proof made for another service would
    /// be accepted here. Used only when no [`public_url`](Self::public_url) is set.
    pub fn dangerously_take_origin_from_request(mut self, scheme: http::uri::Scheme) -> Self {
        self.from_request = Some(scheme);
        self
    }

    /// The proof algorithms accepted (default ES256, ES384, RS256, PS256, EdDSA).
    /// Symmetric algorithms are never accepted.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = AlgorithmSet::of(&algorithms.into_iter().collect::<Vec<_>>());
        self
    }

    /// How old a proof's `iat` may be (default [`DEFAULT_MAX_AGE`]), in whole seconds
    /// (a fraction is dropped: `iat` has no finer unit).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Clock skew allowed on `iat`, both ways (default [`DEFAULT_LEEWAY`]), in whole
    /// seconds.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Longest accepted `DPoP` header (default [`DEFAULT_MAX_PROOF_LEN`]).
    pub fn max_proof_len(mut self, bytes: usize) -> Self {
        self.max_proof_len = bytes;
        self
    }

    /// Where used proofs are remembered (default: a [`MemoryReplayStore`] of
    /// [`DEFAULT_REPLAY_CAPACITY`] entries). Share one store across a fleet, e.g.
    /// `RedisReplayStore` (feature `redis`), or each instance accepts a proof once.
    pub fn replay_store(mut self, store: impl ReplayStore) -> Self {
        self.replay = Some(Arc::new(store));
        self
    }

    /// Requires server nonces (RFC 9449 §9): a proof must carry a nonce derived from
    /// `secret`; without one the answer is `401 use_dpop_nonce` with a `DPoP-Nonce`
    /// header. Share the secret across a fleet.
    pub fn require_nonces(mut self, secret: NonceSecret) -> Self {
        self.nonces = Some(secret);
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<Dpop, ConfigError> {
        let algorithms = self.algorithms.intersect(default_algorithms());
        if algorithms.is_empty() {
            return Err(ConfigError::new(
                "DPoP needs at least one asymmetric proof algorithm (ES256, ES384, RS256, PS256, EdDSA)",
            ));
        }
        let origins = if !self.public_urls.is_empty() {
            let urls = self.public_urls.iter().map(|u| htu::Origins::parse_public_url(u)).collect::<Result<_, _>>()?;
            htu::Origins::Configured(urls)
        } else if let Some(scheme) = self.from_request {
            tracing::warn!(
                "DPoP takes the origin proofs must name from each request's Host header: for development \
                 only (set a public URL in production)"
            );
            htu::Origins::FromRequest(scheme)
        } else if self.mode == DpopMode::Off {
            htu::Origins::Configured(Vec::new())
        } else {
            return Err(ConfigError::new(
                "DPoP needs the public URL clients call (DpopBuilder::public_url): behind a proxy the Host \
                 header is chosen by the client",
            ));
        };
        let replay = match self.replay {
            Some(store) => store,
            None => Arc::new(MemoryReplayStore::new(DEFAULT_REPLAY_CAPACITY)),
        };
        Ok(Dpop {
            config: Arc::new(Config {
                mode: self.mode,
                origins,
                algorithms,
                algs: algs_param(algorithms),
                max_age: self.max_age.as_secs(),
                leeway: self.leeway.as_secs(),
                max_proof_len: self.max_proof_len,
                replay,
                nonces: self.nonces.map(|s| Nonces::new(s, NONCE_STEP)),
                keys: proof::KeyCache::new(),
                replays: crate::metrics::dpop_replays(),
            }),
        })
    }
}

/// The algorithms a proof may use: asymmetric, and supported here.
fn default_algorithms() -> AlgorithmSet {
    use Algorithm::*;
    AlgorithmSet::of(&[ES256, ES384, RS256, PS256, EdDSA])
}

fn algs_param(algorithms: AlgorithmSet) -> String {
    algorithms.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(" ")
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use http::{HeaderMap, Method, Uri};

    use super::*;
    use crate::Algorithm;
    use crate::signing::DpopKey;

    #[test]
    fn a_proof_whose_window_closed_during_verification_is_not_recorded() {
        // A copy sent at the end of the window, whose token took long to verify, would
        // otherwise find the first use's record already expired.
        let dpop = Dpop::builder(DpopMode::Allowed).public_url("https://api.example.com").build().unwrap();
        let key = DpopKey::generate(Algorithm::ES256).unwrap();
        let issued = now() - 100;
        let proof = key.proof("GET", "https://api.example.com/x").issued_at(issued).access_token("t").sign().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(DPOP, proof.parse().unwrap());
        let (method, uri) = (Method::GET, Uri::from_static("/x"));
        let head = RequestHead::new(&method, &uri, &headers);
        // Checked when the request arrived, inside its window...
        let (proof, unsigned) = check_proof(&dpop.config, &head, Some(b"t"), issued + 1).unwrap();
        unsigned.verify(&dpop.config).unwrap();
        // ...recorded once it closed: refused, not recorded.
        assert_eq!(dpop.config.record(proof.replay_record()).err(), Some(crate::InvalidProof::IssuedAt.into()));
        assert!(matches!(dpop.config.replay.first_use(proof.replay_key(), now() + 60), ReplayCheck::Ready(Ok(true))));
    }
}
