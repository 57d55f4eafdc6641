//! The boxed future that key stores, token sources and verifiers hand back.

use std::future::Future;
use std::pin::Pin;

/// A boxed, `Send` future: what [`KeyStore::refresh`](crate::keys::KeyStore::refresh),
/// a pending [`Verification`](crate::Verification) and the client's token sources return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
