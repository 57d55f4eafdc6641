//! The tower layers: [`BearerLayer`] verifies tokens; [`RequireLayer`] checks a
//! per-route requirement against the token an outer [`BearerLayer`] verified.

mod future;
#[allow(clippy::module_inception)]
mod layer;
mod require;
mod service;
mod shared;
#[cfg(feature = "streams")]
#[cfg_attr(docsrs, doc(cfg(feature = "streams")))]
pub mod streams;

pub use future::ResponseFuture;
pub use layer::BearerLayer;
pub use require::{Require, RequireLayer};
pub use service::Bearer;
