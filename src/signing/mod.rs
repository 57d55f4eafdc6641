//! Private keys and JWS signing (feature `testing` or `issuer`): what
//! [`TestIssuer`](crate::testing) and [`LocalIssuer`](crate::issue) sign with, for
//! tests that craft their own tokens.
//!
//! | item | what |
//! |---|---|
//! | [`PrivateJwk`] | a private JWK; `Debug` redacts its secret members |
//! | [`PrivateJwk::generate`] | a fresh key for one JWS algorithm |
//! | [`PrivateJwk::sign`] | a signature over a JWS signing input |
//! | [`PrivateJwk::public`] | its public half, to publish |
//! | [`compact_jws`] | `header.payload.signature` from raw JSON text |
//! | [`SigningError`] | why a key could not be generated, read or used |
//!
//! Keys are generated and signatures made with the crate's own crypto backend
//! (aws-lc-rs, or the RustCrypto crates of `rust-crypto`): no second crypto stack, no
//! system library. Signatures go through jsonwebtoken's signer for the backend
//! verification uses; a JWK reaches it as the PKCS#1 / PKCS#8 DER both backends load
//! (`der`). Only key generation is per backend; random bytes come from `crate::random`.
//!
//! ```
//! use tower_bearer::Algorithm;
//! use tower_bearer::signing::{PrivateJwk, compact_jws};
//!
//! let key = PrivateJwk::generate(Algorithm::ES256, "k1").unwrap();
//! let token = compact_jws(r#"{"alg":"ES256","kid":"k1"}"#, r#"{"sub":"alice"}"#, |input| {
//!     key.sign(Algorithm::ES256, input).unwrap()
//! });
//! assert_eq!(token.split('.').count(), 3);
//! assert!(!format!("{key:?}").contains(key.str("d").unwrap()));
//! ```

#[cfg(any(feature = "testing", feature = "issuer"))]
pub(crate) mod access_token;
#[cfg(feature = "aws-lc-rs")]
#[path = "backend_aws_lc.rs"]
mod backend;
#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
#[path = "backend_rust_crypto.rs"]
mod backend;
mod der;
mod dpop;
mod error;
mod generate;
mod jwk;
mod jws;
mod sign;

pub use dpop::{DpopKey, DpopProofBuilder};
pub use error::SigningError;
pub use jwk::PrivateJwk;
pub use jws::compact_jws;
pub(crate) use jws::try_compact_jws;

/// `len` bytes from the secure random generator ([`crate::random`]).
pub(crate) fn random_bytes(len: usize) -> Result<Vec<u8>, SigningError> {
    crate::random::random_bytes(len).map_err(|e| SigningError::caused_by("no random bytes", e))
}
