//! Issuing tokens (feature `issuer`): key generation, a local issuer that signs
//! RFC 9068 access tokens, and the `/login` + `/renew` endpoints for applications that
//! hand out their own bearer tokens. Keys and signatures are
//! [`signing`](crate::signing)'s.
//!
//! The same process can protect its routes with [`LocalIssuer::verifier`]: its own key,
//! no network fetch.

mod attempts;
mod budget;
mod keygen;
mod limits;
mod local;
mod login;
mod renew;
mod router;
pub mod server;
mod throttle;
mod token;

pub use keygen::{IssuerKey, KeyType};
pub use limits::LoginLimits;
pub use local::LocalIssuer;
pub use login::{Credentials, Identity};
pub use throttle::{LoginAttempt, LoginThrottle};
pub use token::{IssuedToken, LocalTokenBuilder};
