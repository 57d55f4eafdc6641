use std::sync::Arc;

use tower_layer::Layer;

use super::require::RequireLayer;
use super::service::Bearer;
use super::shared::Shared;
use crate::error::ConfigError;
use crate::metadata::{MetadataService, ResourceMetadata};
use crate::metrics::RequestMetrics;
use crate::policy::Requirement;
use crate::reject::{Challenge, GrpcResponder, JsonResponder, RejectConfig};
use crate::token::TokenLocation;
use crate::verify::Verifier;

/// Protects a service with bearer tokens.
///
/// Requests without a valid token never reach the inner service: they get `400`,
/// `401`, `403` or `503` with an RFC 6750 challenge. Accepted requests carry the
/// [`VerifiedToken`](crate::VerifiedToken) in their extensions.
///
/// ```
/// use axum::{Router, routing::get};
/// use tower_bearer::{BearerLayer, Issuer, JwtVerifier, policy::scope};
/// use tower_bearer::keys::{StaticKeys, VerificationKey};
///
/// # fn app() -> Result<Router, tower_bearer::ConfigError> {
/// let key = VerificationKey::hmac_secret(&[42; 32], None)?;
/// let verifier = JwtVerifier::builder()
///     .issuer(Issuer::new("https://auth.example.com").keys(StaticKeys::from(key)))
///     .audience("my-api")
///     .build()?;
/// let auth = BearerLayer::new(verifier).realm("my-api");
/// Ok(Router::new()
///     .route("/items", get(|| async { "items" }).route_layer(auth.requiring(scope("read:items"))))
///     .route("/me", get(|| async { "me" }))
///     .layer(auth))
/// # }
/// ```
#[derive(Clone)]
#[must_use]
pub struct BearerLayer<R = JsonResponder> {
    shared: Arc<Shared<R>>,
}

impl BearerLayer<JsonResponder> {
    /// A layer checking tokens with `verifier`, reading `Authorization: Bearer`.
    pub fn new(verifier: impl Verifier) -> Self {
        let reject = Arc::new(RejectConfig::default());
        Self {
            shared: Arc::new(Shared {
                verifier: Arc::new(verifier),
                locations: Default::default(),
                requirement: None,
                optional: false,
                binding: Default::default(),
                reject: reject.clone(),
                reject_dpop: reject,
                #[cfg(feature = "streams")]
                streams: None,
                metrics: Arc::new(RequestMetrics::register()),
                metadata: None,
            }),
        }
        .edit(|_| {})
    }
}

impl<R: Clone> BearerLayer<R> {
    fn edit(mut self, f: impl FnOnce(&mut Shared<R>)) -> Self {
        let shared = Arc::make_mut(&mut self.shared);
        f(shared);
        shared.sync();
        self
    }

    fn edit_challenge(self, f: impl FnOnce(Challenge) -> Challenge) -> Self {
        self.edit(|s| {
            let reject = Arc::make_mut(&mut s.reject);
            reject.challenge = f(std::mem::take(&mut reject.challenge));
        })
    }

    /// Sets `realm="…"` in challenges.
    pub fn realm(self, realm: impl Into<String>) -> Self {
        let realm = realm.into();
        self.edit_challenge(|c| c.realm(Some(realm)))
    }

    /// Replaces the challenge settings (`error_uri`, `resource_metadata`, details).
    pub fn challenge(self, challenge: Challenge) -> Self {
        self.edit_challenge(|_| challenge)
    }

    /// Sends the precise reason for `401`s as `error_description` (off by default:
    /// a generic description tells an attacker nothing about which check failed).
    pub fn detailed_errors(self, on: bool) -> Self {
        self.edit_challenge(|c| c.detailed(on))
    }

    /// Requires this of every token (answered with `403` when unmet).
    pub fn require(self, requirement: Requirement) -> Self {
        self.edit(|s| {
            s.requirement = Some(match s.requirement.take() {
                Some(prev) => prev.and(requirement),
                None => requirement,
            })
        })
    }

    /// Lets requests without any token through (handlers see no
    /// [`VerifiedToken`](crate::VerifiedToken)); a present but bad token is still
    /// refused. A [`require`](Self::require)d layer still refuses anonymous requests.
    pub fn optional(self) -> Self {
        self.edit(|s| s.optional = true)
    }

    /// Also reads tokens from `location` (e.g. [`QueryParameter`](crate::token::QueryParameter),
    /// [`Cookie`](crate::token::Cookie)). Two credentials in one request are a `400`.
    pub fn token_location(self, location: impl TokenLocation) -> Self {
        self.edit(|s| s.locations.add(location))
    }

    /// Also accepts the token as an `access_token` field of a form-encoded body
    /// (RFC 6750 §2.2): returns this layer stacked under a
    /// [`FormBodyLayer`](crate::token::FormBodyLayer) that buffers such bodies (64 KiB cap).
    pub fn with_form_body(self) -> tower_layer::Stack<Self, crate::token::FormBodyLayer> {
        tower_layer::Stack::new(
            self.token_location(crate::token::FormBodyParameter),
            crate::token::FormBodyLayer::default(),
        )
    }

    /// Accepts DPoP (RFC 9449) as [`Dpop`](crate::dpop::Dpop) says: with
    /// [`DpopMode::Allowed`](crate::dpop::DpopMode::Allowed) DPoP-bound tokens pass with
    /// the `DPoP` scheme and a valid proof, unbound ones as `Bearer`; with
    /// [`Required`](crate::dpop::DpopMode::Required) only DPoP passes. Without this
    /// (DPoP off) a DPoP-bound token is refused.
    ///
    /// ```
    /// use tower_bearer::dpop::{Dpop, DpopMode};
    /// # fn f(verifier: tower_bearer::JwtVerifier) -> Result<(), tower_bearer::ConfigError> {
    /// let dpop = Dpop::builder(DpopMode::Allowed).public_url("https://api.example.com").build()?;
    /// let auth = tower_bearer::BearerLayer::new(verifier).dpop(dpop);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "dpop")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dpop")))]
    pub fn dpop(self, dpop: crate::dpop::Dpop) -> Self {
        self.edit(|s| {
            s.binding.policy.dpop = dpop.mode() != crate::dpop::DpopMode::Off;
            s.binding.policy.dpop_required = dpop.mode() == crate::dpop::DpopMode::Required;
            s.binding.dpop = Some(dpop);
        })
    }

    /// Checks certificate-bound tokens (RFC 8705 §3): a token whose
    /// `cnf["x5t#S256"]` names a certificate passes only over a connection whose TLS
    /// client certificate has that SHA-256 thumbprint. The server must put the
    /// certificate into each request as a [`PeerCertificate`](crate::tls::PeerCertificate)
    /// (see [`tls`](crate::tls)). Off by default: such tokens are then refused.
    pub fn certificate_binding(self, on: bool) -> Self {
        self.edit(|s| s.binding.policy.certificates = on)
    }

    /// Describes the protected resource (RFC 9728): every `401`/`403` challenge, on
    /// both schemes and in gRPC answers, then carries
    /// `resource_metadata="<`[`url`](ResourceMetadata::url)`>"` (replacing one set with
    /// [`challenge`](Self::challenge)), and [`metadata_service`](Self::metadata_service)
    /// serves the document. See [`metadata`](crate::metadata).
    pub fn resource_metadata(self, metadata: ResourceMetadata) -> Self {
        self.edit(|s| s.metadata = Some(Arc::new(metadata)))
    }

    /// The RFC 9728 document of this layer, to mount at each of its
    /// [`paths`](MetadataService::paths): the [`resource_metadata`](Self::resource_metadata)
    /// given, with `authorization_servers` from the verifier's issuers,
    /// `bearer_methods_supported` from the token locations, and the DPoP and
    /// certificate-binding fields from the settings this layer enforces. Take it from
    /// the layer the routes use, after its last setting: a layer changed later (a
    /// new value) is described by its own service.
    ///
    /// Fails when no metadata was configured.
    pub fn metadata_service(&self) -> Result<MetadataService, ConfigError> {
        self.shared
            .metadata_service()
            .ok_or_else(|| ConfigError::new("no resource metadata on this layer: call .resource_metadata(..) first"))
    }

    /// Longest accepted token, checked before parsing (default 16 KiB).
    pub fn max_token_len(self, bytes: usize) -> Self {
        self.edit(|s| s.locations.set_max_len(bytes))
    }

    /// Uses `responder` to build rejections.
    pub fn responder<R2: Clone>(self, responder: R2) -> BearerLayer<R2> {
        let s = &*self.shared;
        let reject = Arc::new(RejectConfig::new(s.reject.challenge.clone(), responder));
        BearerLayer {
            shared: Arc::new(Shared {
                verifier: s.verifier.clone(),
                locations: s.locations.clone(),
                requirement: s.requirement.clone(),
                optional: s.optional,
                binding: s.binding.clone(),
                reject: reject.clone(),
                reject_dpop: reject,
                #[cfg(feature = "streams")]
                streams: s.streams.clone(),
                metrics: s.metrics.clone(),
                metadata: s.metadata.clone(),
            }),
        }
        .edit(|_| {})
    }

    /// Answers with gRPC statuses (for tonic servers).
    pub fn grpc(self) -> BearerLayer<GrpcResponder> {
        self.responder(GrpcResponder)
    }

    /// Ends streaming response bodies (SSE, gRPC server streams, downloads) when the
    /// token that opened them expires, as [`streams`](crate::streams) describes: gRPC
    /// streams with `UNAUTHENTICATED` trailers, other bodies with an abort; each request
    /// carries a [`TokenExpiry`](crate::streams::TokenExpiry) for WebSocket handlers.
    /// Off by default.
    ///
    /// Returns this layer under an [`EndStreamsLayer`](crate::streams::EndStreamsLayer),
    /// so it comes last in the chain (after `.grpc()`, `.realm(..)`…); take
    /// [`requiring`](Self::requiring) layers from the `BearerLayer` before.
    ///
    /// ```
    /// use tower_bearer::streams::StreamExpiry;
    /// # fn f(verifier: tower_bearer::JwtVerifier) {
    /// let layer = tower_bearer::BearerLayer::new(verifier).grpc().end_streams_at_expiry(StreamExpiry::new());
    /// // tonic::transport::Server::builder().layer(layer).add_service(…)
    /// # let _ = layer; }
    /// ```
    #[cfg(feature = "streams")]
    #[cfg_attr(docsrs, doc(cfg(feature = "streams")))]
    pub fn end_streams_at_expiry(
        self,
        when: crate::streams::StreamExpiry,
    ) -> tower_layer::Stack<Self, crate::streams::EndStreamsLayer> {
        tower_layer::Stack::new(self.edit(|s| s.streams = Some(when)), crate::streams::EndStreamsLayer::new())
    }

    /// A [`RequireLayer`] with this layer's challenge and responder, for
    /// `.route_layer(..)` on routes that need more than the whole router.
    pub fn requiring(&self, requirement: Requirement) -> RequireLayer<R> {
        self.shared.metrics.route_layer_made();
        RequireLayer::with_reject(requirement, self.shared.reject.clone(), self.shared.metrics.clone())
    }
}

impl<R> std::fmt::Debug for BearerLayer<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.shared.fmt(f)
    }
}

impl<S, R> Layer<S> for BearerLayer<R> {
    type Service = Bearer<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Bearer::new(inner, self.shared.clone())
    }
}
