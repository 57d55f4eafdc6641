//! [`Outage`]: what the test issuer's JWKS endpoint does instead of answering.

/// What the JWKS endpoint does, to simulate an identity provider's bad days; see
/// [`TestIssuer::set_outage`](super::TestIssuer::set_outage).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outage {
    /// Serve the keys normally.
    None,
    /// Answer with this status and no keys.
    Status(u16),
    /// Accept the connection and never answer.
    Hang,
    /// Answer `200` with this body.
    Garbage(String),
    /// Answer `302` to this location.
    Redirect(String),
}
