//! Refusing a request, in one place: why ([`AuthError`] and its reasons), the RFC 6750
//! `WWW-Authenticate` [`Challenge`], the [`Responder`] that builds the answer (JSON
//! for HTTP, [`GrpcResponder`] for gRPC, or your own), and the log line every refusal
//! writes.
//!
//! A layer's challenge and responder form one value, shared by the
//! [`BearerLayer`](crate::BearerLayer), the [`RequireLayer`](crate::RequireLayer)s it
//! makes and the [`Rejector`] it leaves in each request it lets through, so the axum
//! extractors, the tonic helpers and your own code refuse exactly as the layer does.

mod challenge;
mod error;
mod log;
mod rejector;
mod responder;

pub use challenge::Challenge;
pub use error::{AuthError, ErrorCode, Insufficient, InvalidProof, InvalidRequest, InvalidToken, Unavailable};
#[cfg(feature = "tonic")]
pub(crate) use log::log_rejection;
pub(crate) use rejector::RejectConfig;
pub use rejector::Rejector;
pub use responder::{GrpcResponder, JsonResponder, Responder};
