//! Issuing tokens (feature `issuer`): key generation, a local issuer that signs
//! RFC 9068 access tokens, and the `/login` + `/renew` endpoints for applications that
//! hand out their own bearer tokens.
//!
//! The same process can protect its routes with [`LocalIssuer::verifier`]: its own key,
//! no network fetch.

mod attempts;
mod keygen;
mod limits;
mod local;
mod login;
mod renew;
mod router;

pub use crate::signing::{PrivateJwk, compact_jws, generate_jwk, public_jwk, sign_with_jwk, unix_now};
pub use keygen::{GeneratedKey, KeyType, generate_key, thumbprint};
pub use limits::LoginLimits;
pub use local::{IssuedToken, LocalIssuer, LocalTokenBuilder};
pub use login::{Credentials, Identity};
