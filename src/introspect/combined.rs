//! One layer for both kinds of tokens: JWTs verified locally, opaque tokens (and,
//! if asked, JWTs too) introspected.

use crate::claims::VerifiedToken;
use crate::token::BearerToken;
use crate::verify::{JwtVerifier, Verification, Verifier, looks_like_jwt};

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
