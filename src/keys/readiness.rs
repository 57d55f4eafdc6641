//! [`Readiness`]: whether a service can verify tokens now, for readiness probes (an
//! HTTP answer, `200`/`503`) and the gRPC health service (feature `tonic-health`).

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;

use super::health::KeyHealth;
use super::{KeyStore, Refresh};
use crate::BoxFuture;
use crate::verify::JwtVerifier;

/// How long [`Readiness::check`] waits, by default, for keys that are missing.
const DEFAULT_LOAD_WAIT: Duration = Duration::from_millis(500);

/// Whether a verifier's issuers have usable keys.
///
/// Ready while **at least one** issuer has usable keys (fresh, or stale inside
/// `max_stale`; fixed keys always are): taking every replica out of rotation because
/// one of several identity providers is down would refuse the others' tokens too. The
/// report lists each issuer, so the one that is down still shows.
///
/// Built from the verifier itself, so no issuer can be forgotten. As a tower service
/// (axum: `route_service("/readyz", readiness)`) it answers `GET`/`HEAD` with `200` or
/// `503` and a [`ReadinessReport`] as JSON (key health, no secrets).
///
/// ```
/// # fn f(verifier: &tower_bearer::JwtVerifier) {
/// use tower_bearer::keys::Readiness;
/// let app: axum::Router = axum::Router::new().route_service("/readyz", Readiness::new(verifier));
/// # }
/// ```
#[derive(Clone)]
pub struct Readiness {
    issuers: Arc<[(String, Arc<dyn KeyStore>)]>,
    load_wait: Duration,
}

/// What [`Readiness`] found.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ReadinessReport {
    /// `"ready"` or `"not_ready"`.
    pub status: &'static str,
    /// Each issuer, in configuration order.
    pub issuers: Vec<IssuerReadiness>,
}

/// One issuer in a [`ReadinessReport`].
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct IssuerReadiness {
    /// The issuer (empty for the keys of `dangerous_accept_any_issuer`).
    pub issuer: String,
    /// Whether its keys can verify tokens now.
    pub usable: bool,
    /// Its key cache's health (`None` for fixed keys).
    pub keys: Option<KeyHealth>,
}

impl ReadinessReport {
    /// Whether the service is ready: some issuer has usable keys.
    pub fn is_ready(&self) -> bool {
        self.issuers.iter().any(|i| i.usable)
    }
}

impl Readiness {
    /// Readiness of every issuer `verifier` trusts (and of its
    /// `dangerous_accept_any_issuer` keys).
    pub fn new(verifier: &JwtVerifier) -> Self {
        Self { issuers: verifier.key_stores().collect(), load_wait: DEFAULT_LOAD_WAIT }
    }

    /// How long [`check`](Self::check) waits for an issuer's missing keys to load
    /// (default 500 ms; keep it under the probe's timeout).
    pub fn load_wait(mut self, wait: Duration) -> Self {
        self.load_wait = wait;
        self
    }

    /// The state now, without I/O.
    pub fn report(&self) -> ReadinessReport {
        let issuers: Vec<IssuerReadiness> = self
            .issuers
            .iter()
            .map(|(issuer, store)| {
                let keys = store.health();
                let usable = keys.as_ref().is_none_or(|h| h.state.is_usable());
                IssuerReadiness { issuer: issuer.clone(), usable, keys }
            })
            .collect();
        let ready = issuers.iter().any(|i| i.usable);
        ReadinessReport { status: if ready { "ready" } else { "not_ready" }, issuers }
    }

    /// Starts loading the keys of issuers that have none usable (sharing any fetch in
    /// flight, respecting the store's backoff), waits up to
    /// [`load_wait`](Self::load_wait), then reports. A service nobody sends tokens to
    /// yet (it is not ready) would otherwise never load its keys.
    pub async fn check(&self) -> ReadinessReport {
        let loads = self.issuers.iter().filter(|(_, s)| s.health().is_some_and(|h| !h.state.is_usable())).map(
            |(_, store)| async move {
                let _ = tokio::time::timeout(self.load_wait, store.refresh(Refresh::NoKeys)).await;
            },
        );
        futures_util::future::join_all(loads).await;
        self.report()
    }
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("issuers", &self.issuers.iter().map(|(i, _)| i).collect::<Vec<_>>())
            .field("load_wait", &self.load_wait)
            .finish()
    }
}

impl<B> tower_service::Service<Request<B>> for Readiness {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let head = req.method() == Method::HEAD;
        if !head && req.method() != Method::GET {
            return Box::pin(std::future::ready(Ok(crate::metadata::method_not_allowed())));
        }
        let this = self.clone();
        Box::pin(async move {
            let report = this.check().await;
            let status = if report.is_ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            let body = if head { Bytes::new() } else { Bytes::from(serde_json::to_vec(&report).unwrap_or_default()) };
            let mut res = Response::new(Full::new(body));
            *res.status_mut() = status;
            res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            res.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(res)
        })
    }
}

#[cfg(feature = "tonic-health")]
mod grpc {
    use std::time::Duration;

    use tonic_health::ServingStatus;
    use tonic_health::server::HealthReporter;

    use super::Readiness;
    use crate::ConfigError;

    /// The task started by [`Readiness::report_to`]; dropping it stops the task.
    #[derive(Debug)]
    #[must_use = "the health task stops when this handle is dropped"]
    pub struct HealthTask {
        handle: tokio::task::JoinHandle<()>,
    }

    impl HealthTask {
        /// Stops the task (same as dropping the handle).
        pub fn stop(self) {}
    }

    impl Drop for HealthTask {
        fn drop(&mut self) {
            self.handle.abort();
        }
    }

    impl Readiness {
        /// Keeps `service` (`""`: the whole server) of the gRPC health service
        /// `SERVING` while [ready](Readiness), `NOT_SERVING` otherwise: the status is
        /// set before this returns, then checked (with [`check`](Readiness::check):
        /// missing keys are loaded) every `interval` (at least 100 ms) by a task that
        /// stops when the returned handle is dropped. Fails without a tokio runtime.
        ///
        /// ```no_run
        /// # async fn f(verifier: &tower_bearer::JwtVerifier) {
        /// use std::time::Duration;
        /// let (reporter, health_service) = tonic_health::server::health_reporter();
        /// let readiness = tower_bearer::keys::Readiness::new(verifier);
        /// let _task = readiness.report_to(reporter, "", Duration::from_secs(5)).await.unwrap();
        /// // tonic::transport::Server::builder().add_service(health_service)...
        /// # let _ = health_service; }
        /// ```
        #[cfg_attr(docsrs, doc(cfg(feature = "tonic-health")))]
        pub async fn report_to(
            &self,
            reporter: HealthReporter,
            service: &str,
            interval: Duration,
        ) -> Result<HealthTask, ConfigError> {
            let runtime = tokio::runtime::Handle::try_current()
                .map_err(|_| ConfigError::new("Readiness::report_to needs a tokio runtime"))?;
            let interval = interval.max(Duration::from_millis(100));
            let (this, service) = (self.clone(), service.to_owned());
            let mut last = status(this.report().is_ready());
            reporter.set_service_status(&service, last).await;
            let handle = runtime.spawn(async move {
                loop {
                    let now = status(this.check().await.is_ready());
                    if now != last {
                        tracing::info!(service, ready = now == ServingStatus::Serving, "gRPC health status changed");
                        reporter.set_service_status(&service, now).await;
                        last = now;
                    }
                    tokio::time::sleep(interval).await;
                }
            });
            Ok(HealthTask { handle })
        }
    }

    fn status(ready: bool) -> ServingStatus {
        if ready { ServingStatus::Serving } else { ServingStatus::NotServing }
    }
}

#[cfg(feature = "tonic-health")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic-health")))]
pub use grpc::HealthTask;
