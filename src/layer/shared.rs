//! What every clone of a [`BearerLayer`](super::BearerLayer) and its services share,
//! and the steps that let a verified request in.

use std::sync::Arc;

use http::{Request, Response};

use crate::claims::VerifiedToken;
use crate::metadata::{LayerFacts, MetadataService, ResourceMetadata};
use crate::metrics::RequestMetrics;
use crate::policy::Requirement;
use crate::reject::{AuthError, InvalidToken, RejectConfig, Responder};
use crate::tls::PeerCertificate;
use crate::token::{BearerToken, Locations, Scheme};
use crate::verify::{BindingPolicy, Presented, Verification, Verifier, check_binding};

/// Configuration shared by every clone of the layer and its services.
#[derive(Clone)]
pub(crate) struct Shared<R> {
    pub(crate) verifier: Arc<dyn Verifier>,
    pub(crate) locations: Locations,
    pub(crate) requirement: Option<Requirement>,
    pub(crate) optional: bool,
    pub(crate) binding: Binding,
    /// Also held by the route layers made with `requiring` and by each request's
    /// `Rejector`: for requests that used the Bearer scheme (or none).
    pub(crate) reject: Arc<RejectConfig<R>>,
    /// The same for requests that used the DPoP scheme: errors go on its challenge.
    pub(crate) reject_dpop: Arc<RejectConfig<R>>,
    /// When streams end (`end_streams_at_expiry`); `None`: never cut.
    #[cfg(feature = "streams")]
    pub(crate) streams: Option<super::streams::StreamExpiry>,
    /// `tower_bearer_requests_total`, also held by the route layers made with `requiring`.
    pub(crate) metrics: Arc<RequestMetrics>,
    /// RFC 9728: the resource's metadata, whose URL every challenge names.
    pub(crate) metadata: Option<Arc<ResourceMetadata>>,
}

/// The sender constraints a layer checks, and DPoP's settings.
#[derive(Clone, Default)]
pub(crate) struct Binding {
    pub(crate) policy: BindingPolicy,
    #[cfg(feature = "dpop")]
    pub(crate) dpop: Option<crate::dpop::Dpop>,
}

/// What a request proves beside its token, gathered before verification so that a
/// pending verification owns it.
#[derive(Default)]
pub(crate) struct Evidence {
    pub(crate) scheme: Scheme,
    /// The thumbprint of the connection's client certificate (read only when
    /// certificate binding is on).
    pub(crate) certificate: Option<[u8; 32]>,
    /// The thumbprint of a checked DPoP proof's key.
    pub(crate) proof_key: Option<[u8; 32]>,
    /// The proof's signature still to check, and its replay record (key, usable until).
    #[cfg(feature = "dpop")]
    pub(crate) proof: Option<((crate::dpop::ReplayKey, u64), crate::dpop::UnsignedProof)>,
}

impl<R> std::fmt::Debug for Shared<R> {
    // The verifier and the responder are user types without a `Debug` bound; what the
    // layer decides on is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerLayer")
            .field("requirement", &self.requirement)
            .field("optional", &self.optional)
            .field("binding", &self.binding.policy)
            .field("challenge", &self.reject.challenge)
            .finish_non_exhaustive()
    }
}

impl<R: Clone> Shared<R> {
    /// Brings the challenges and token locations in line with the binding settings;
    /// run after every change, so that `challenge(..)` after `dpop(..)` keeps DPoP.
    pub(crate) fn sync(&mut self) {
        #[cfg(feature = "dpop")]
        let dpop = self.binding.dpop.as_ref().filter(|d| d.mode() != crate::dpop::DpopMode::Off);
        #[cfg(not(feature = "dpop"))]
        let dpop: Option<&()> = None;
        self.locations.accept_dpop(dpop.is_some());
        if let Some(metadata) = &self.metadata {
            let reject = Arc::make_mut(&mut self.reject);
            reject.challenge = std::mem::take(&mut reject.challenge).resource_metadata(metadata.url());
        }
        #[cfg(feature = "dpop")]
        {
            let reject = Arc::make_mut(&mut self.reject);
            let offer = dpop.map(|d| (d.algs().to_owned(), d.mode() == crate::dpop::DpopMode::Required));
            reject.challenge = std::mem::take(&mut reject.challenge).with_dpop(offer);
            reject.nonces = dpop.and_then(|d| d.config.nonces.clone());
        }
        let mut on_dpop = (*self.reject).clone();
        on_dpop.challenge = on_dpop.challenge.presented(Scheme::Dpop);
        self.reject_dpop = Arc::new(on_dpop);
    }
}

impl<R> Shared<R> {
    /// The RFC 9728 document of this configuration, if metadata is set.
    pub(crate) fn metadata_service(&self) -> Option<MetadataService> {
        let metadata = self.metadata.as_ref()?;
        #[cfg(feature = "dpop")]
        let dpop = self
            .binding
            .dpop
            .as_ref()
            .filter(|d| d.mode() != crate::dpop::DpopMode::Off)
            .map(|d| (d.algs(), d.mode() == crate::dpop::DpopMode::Required));
        #[cfg(not(feature = "dpop"))]
        let dpop = None;
        let facts = LayerFacts {
            authorization_servers: self.verifier.authorization_servers(),
            bearer_methods: self.locations.bearer_methods(),
            certificate_binding: self.binding.policy.certificates,
            dpop,
        };
        Some(MetadataService::new(crate::metadata::render(metadata, facts), metadata.paths()))
    }

    /// The `DPoP-Nonce` an accepted request's answer carries: the current nonce when
    /// its proof used the previous one (RFC 9449 §8.2).
    pub(crate) fn fresh_nonce(&self, proof: Option<&<Proof as IntoIterator>::Item>) -> Option<http::HeaderValue> {
        #[cfg(feature = "dpop")]
        if let (Some(proof), Some(dpop)) = (proof, &self.binding.dpop)
            && proof.stale_nonce
        {
            return dpop.config.nonces.as_ref().map(|n| n.issue(crate::dpop::now()));
        }
        let _ = proof;
        None
    }

    /// How to refuse a request that used `scheme`.
    pub(crate) fn reject_for(&self, scheme: Scheme) -> &Arc<RejectConfig<R>> {
        match scheme {
            Scheme::Bearer => &self.reject,
            Scheme::Dpop => &self.reject_dpop,
        }
    }

    /// Refuses a request that used `scheme` with `error`, counted.
    pub(crate) fn refuse<ResBody>(&self, scheme: Scheme, error: &AuthError) -> Response<ResBody>
    where
        R: Responder<ResBody>,
    {
        self.metrics.refused(error);
        let mut response = self.reject_for(scheme).reject(error);
        crate::metrics::mark_counted(&mut response);
        response
    }

    /// Checks the requirement and hands the token, and how to refuse, to the request.
    pub(crate) fn admit<B, ResBody>(
        &self,
        token: VerifiedToken,
        scheme: Scheme,
        req: &mut Request<B>,
    ) -> Result<(), AuthError>
    where
        R: Responder<ResBody>,
        ResBody: 'static,
    {
        #[cfg(feature = "streams")]
        if let Some(streams) = &self.streams {
            stream_expiry(streams, &token, req)?;
        }
        check(self.requirement.as_ref(), &token)?;
        tracing::debug!(sub = token.subject(), scheme = scheme.name(), "access token accepted");
        req.extensions_mut().insert(token);
        req.extensions_mut().insert(self.reject_for(scheme).rejector::<ResBody>());
        Ok(())
    }

    /// Leaves this layer's way of refusing in the request, for extractors downstream.
    pub(crate) fn hand_rejector<B, ResBody>(&self, req: &mut Request<B>)
    where
        R: Responder<ResBody>,
        ResBody: 'static,
    {
        req.extensions_mut().insert(self.reject.rejector::<ResBody>());
    }
}

impl Binding {
    /// What `req` proves beside `token`. A DPoP proof is checked here, all but its
    /// signature (checked after the token, in [`confirm`](Self::confirm)); the proof
    /// comes back for the request's extensions too.
    pub(crate) fn evidence<B>(&self, req: &Request<B>, token: &BearerToken) -> Result<(Evidence, Proof), AuthError> {
        let scheme = token.scheme();
        if self.policy.dpop_required && scheme != Scheme::Dpop {
            return Err(InvalidToken::DpopRequired.into());
        }
        let mut evidence = Evidence { scheme, ..Evidence::default() };
        if self.policy.certificates {
            evidence.certificate = certificate_thumbprint(req);
        }
        #[cfg(feature = "dpop")]
        if let (Scheme::Dpop, Some(dpop)) = (scheme, &self.dpop) {
            let head = crate::token::RequestHead::from_request(req);
            let (proof, unsigned) =
                crate::dpop::check_proof(&dpop.config, &head, Some(token.as_bytes()), crate::dpop::now())?;
            evidence.proof_key = Some(proof.jkt);
            evidence.proof = Some((proof.replay_record(), unsigned));
            return Ok((evidence, Some(proof)));
        }
        Ok((evidence, None))
    }

    /// The token's binding checked against the evidence, then the proof's signature,
    /// then the proof recorded as used (last, so nobody can burn another client's
    /// proof).
    pub(crate) fn confirm(&self, token: VerifiedToken, evidence: Evidence) -> Verification {
        let presented = Presented {
            scheme: evidence.scheme,
            proof_key: evidence.proof_key.as_ref(),
            certificate: evidence.certificate.as_ref(),
        };
        if let Err(e) = check_binding(token.confirmation(), presented, self.policy) {
            return Verification::Ready(Err(e.into()));
        }
        #[cfg(feature = "dpop")]
        if let (Some((record, unsigned)), Some(dpop)) = (evidence.proof, &self.dpop) {
            use crate::dpop::ReplayCheck;
            let recorded =
                unsigned.verify(&dpop.config).map_err(AuthError::from).and_then(|()| dpop.config.record(record));
            return match recorded {
                Err(e) => Verification::Ready(Err(e)),
                Ok(ReplayCheck::Ready(seen)) => Verification::Ready(dpop.config.first_use(seen).map(|()| token)),
                Ok(ReplayCheck::Pending(seen)) => {
                    let config = dpop.config.clone();
                    Verification::Pending(Box::pin(async move { config.first_use(seen.await).map(|()| token) }))
                }
            };
        }
        Verification::Ready(Ok(token))
    }
}

/// A checked DPoP proof, for the request's extensions.
#[cfg(feature = "dpop")]
pub(crate) type Proof = Option<crate::dpop::DpopProof>;
#[cfg(not(feature = "dpop"))]
pub(crate) type Proof = Option<std::convert::Infallible>;

/// The thumbprint of the client certificate the server put into `req`.
fn certificate_thumbprint<B>(req: &Request<B>) -> Option<[u8; 32]> {
    match req.extensions().get::<PeerCertificate>() {
        Some(PeerCertificate(cert)) => cert.as_ref().map(|c| *c.thumbprint()),
        None => {
            warn_once_no_peer_certificate();
            None
        }
    }
}

fn warn_once_no_peer_certificate() {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            "certificate binding is on but a request carries no PeerCertificate extension: insert it \
             from the TLS connection (tower_bearer::tls::ClientCertificateLayer); certificate-bound \
             tokens are refused until then"
        );
    }
}

/// Leaves the request's [`TokenExpiry`](super::streams::TokenExpiry) for handlers and
/// for the [`EndStreams`](super::streams::EndStreams) around the layer.
#[cfg(feature = "streams")]
fn stream_expiry<B>(
    streams: &super::streams::StreamExpiry,
    token: &VerifiedToken,
    req: &mut Request<B>,
) -> Result<(), AuthError> {
    if let Some(expiry) = streams.of(token)? {
        if let Some(slot) = req.extensions().get::<super::streams::ExpirySlot>() {
            slot.fill(expiry);
        }
        req.extensions_mut().insert(expiry);
    }
    Ok(())
}

/// `requirement`, if any, checked against `token` (unmet is `403`).
pub(crate) fn check(requirement: Option<&Requirement>, token: &VerifiedToken) -> Result<(), AuthError> {
    match requirement {
        Some(requirement) => requirement.check(token).map_err(AuthError::Forbidden),
        None => Ok(()),
    }
}
