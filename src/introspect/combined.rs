//! One layer for both kinds of tokens: JWTs verified locally, opaque tokens (and,
//! if asked, JWTs too) introspected.

use crate::claims::VerifiedToken;
use crate::token::BearerToken;
use crate::verify::{JwtVerifier, Verification, Verifier};

use super::IntrospectionVerifier;

/// Which tokens a [`CombinedVerifier`] introspects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntrospectMode {
    /// Only opaque tokens are introspected; JWTs are verified locally.
    OpaqueOnly,
    /// Every token is introspected: JWTs after they pass the local checks (a
    /// revocation check, cached), opaque tokens directly.
    EveryToken,
}

/// A [`JwtVerifier`] and an [`IntrospectionVerifier`] behind one layer: JWTs are
/// verified locally, opaque tokens introspected, and with
/// [`IntrospectMode::EveryToken`] JWTs are introspected too.
///
/// ```no_run
/// # fn f(jwt: tower_bearer::JwtVerifier, introspection: tower_bearer::introspect::IntrospectionVerifier) {
/// use tower_bearer::introspect::{CombinedVerifier, IntrospectMode};
/// let verifier = CombinedVerifier::new(jwt, introspection, IntrospectMode::OpaqueOnly);
/// let layer = tower_bearer::BearerLayer::new(verifier);
/// # let _ = layer; }
/// ```
#[derive(Clone)]
pub struct CombinedVerifier {
    jwt: JwtVerifier,
    introspection: IntrospectionVerifier,
    mode: IntrospectMode,
}

impl CombinedVerifier {
    /// Combines the two verifiers.
    pub fn new(jwt: JwtVerifier, introspection: IntrospectionVerifier, mode: IntrospectMode) -> Self {
        Self { jwt, introspection, mode }
    }
}

/// A compact JWS: three parts whose first decodes to a JSON object with `alg`.
/// Anything else is treated as opaque and goes to the authorization server.
fn looks_like_jwt(token: &str) -> bool {
    use base64::Engine as _;
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
        .is_some_and(|h| h.get("alg").is_some())
}

impl Verifier for CombinedVerifier {
    fn verify(&self, token: &BearerToken) -> Verification {
        crate::verify::refuse_bound(self.verify_for_binding(token))
    }

    fn authorization_servers(&self) -> Vec<String> {
        let mut servers = self.jwt.authorization_servers();
        for issuer in self.introspection.authorization_servers() {
            if !servers.contains(&issuer) {
                servers.push(issuer);
            }
        }
        servers
    }

    fn verify_for_binding(&self, token: &BearerToken) -> Verification {
        if !looks_like_jwt(token.as_str()) {
            return self.introspection.verify_for_binding(token);
        }
        match self.mode {
            IntrospectMode::OpaqueOnly => self.jwt.verify_for_binding(token),
            IntrospectMode::EveryToken => {
                let local = self.jwt.verify_for_binding(token);
                let remote = self.introspection.clone();
                let token = token.clone();
                Verification::Pending(Box::pin(async move {
                    // The signature and claims are checked first: a forged token never
                    // reaches the authorization server.
                    let verified: VerifiedToken = local.resolve().await?;
                    let answer = remote.verify_for_binding(&token).resolve().await?;
                    // The server's word on the binding must be the token's own.
                    if answer.confirmation() != verified.confirmation() {
                        return Err(crate::InvalidToken::Binding.into());
                    }
                    Ok(verified)
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::looks_like_jwt;

    #[test]
    fn shapes() {
        assert!(looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"));
        assert!(!looks_like_jwt("2YotnFZFEjr1zCsicMWpAA"));
        assert!(!looks_like_jwt("a.b.c"));
        assert!(!looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.e30.c2ln.x.y"));
    }
}
