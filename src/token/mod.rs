//! Finding the bearer token in a request (RFC 6750 §2).
//!
//! By default only the `Authorization: Bearer` header is read. The query string
//! ([`QueryParameter`], `?access_token=`) is opt-in because URLs end up in logs and
//! browser history (RFC 6750 §2.3, §5.3); so is the form body ([`FormBodyLayer`], RFC
//! 6750 §2.2), because reading a body is not something a header check should do
//! behind your back. A cookie or any other place can be plugged in by implementing
//! [`TokenLocation`].

mod form;
mod head;
mod location;
mod locations;
mod syntax;

pub use form::{DEFAULT_MAX_FORM_BODY, FormBody, FormBodyLayer, FormBodyParameter};
pub use head::RequestHead;
pub(crate) use location::authorization;
pub use location::{AuthorizationHeader, Cookie, QueryParameter, TokenLocation};
pub(crate) use locations::Locations;

use std::fmt;
use std::sync::Arc;

use http::HeaderValue;

/// The `DPoP` request header: the proof of possession (RFC 9449 §4.1).
pub const DPOP: http::HeaderName = http::HeaderName::from_static("dpop");

/// The `DPoP-Nonce` response header: the nonce the next proof must carry (RFC 9449 §8).
pub const DPOP_NONCE: http::HeaderName = http::HeaderName::from_static("dpop-nonce");

/// Default cap on a credential's length, checked before any parsing.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 16 * 1024;

/// A bearer credential as found in the request, not yet verified.
///
/// Its `Debug` output never shows the token.
#[derive(Clone)]
pub struct BearerToken {
    repr: Repr,
    scheme: Scheme,
}

/// The authentication scheme a token came with.
///
/// ```
/// use tower_bearer::token::{BearerToken, Scheme};
/// assert_eq!(BearerToken::new("abc").scheme(), Scheme::Bearer);
/// assert_eq!(Scheme::Dpop.name(), "DPoP");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Scheme {
    /// `Bearer` (RFC 6750), and every token location other than the
    /// `Authorization` header.
    #[default]
    Bearer,
    /// `DPoP` (RFC 9449 §7.1): the token comes with a proof of its key.
    Dpop,
}

impl Scheme {
    /// The scheme's name as challenges spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bearer => "Bearer",
            Self::Dpop => "DPoP",
        }
    }
}

#[derive(Clone)]
enum Repr {
    // Cloning a HeaderValue only bumps a reference count: no copy per request.
    Header { value: HeaderValue, start: usize },
    Owned(Arc<str>),
}

impl BearerToken {
    /// Wraps a token string (for custom sources and tests).
    pub fn new(token: impl Into<Arc<str>>) -> Self {
        Self { repr: Repr::Owned(token.into()), scheme: Scheme::Bearer }
    }

    /// The scheme it came with.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The token text.
    pub fn as_str(&self) -> &str {
        match &self.repr {
            // `start` was found on this very value and the bytes were checked to be
            // ASCII, so both the slice and the UTF-8 view always succeed.
            Repr::Header { value, start } => {
                std::str::from_utf8(value.as_bytes().get(*start..).unwrap_or_default()).unwrap_or_default()
            }
            Repr::Owned(s) => s,
        }
    }

    /// The token's bytes, without the UTF-8 check [`as_str`](Self::as_str) makes on a
    /// header value: what the cache hashes and compares on every request.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match &self.repr {
            Repr::Header { value, start } => value.as_bytes().get(*start..).unwrap_or_default(),
            Repr::Owned(s) => s.as_bytes(),
        }
    }

    /// A token that starts at byte `start` of an `Authorization` value checked to be
    /// ASCII.
    pub(crate) fn from_header(value: &HeaderValue, start: usize, scheme: Scheme) -> Self {
        Self { repr: Repr::Header { value: value.clone(), start }, scheme }
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BearerToken([redacted; {} bytes])", self.as_bytes().len())
    }
}
