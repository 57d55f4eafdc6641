//! [`ServerVerifier`]: the server's own access tokens checked where it runs, with
//! revocation seen at once.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::AuthorizationServer;
use super::store::{AccessRecord, TokenKey};
use crate::claims::{RoleSources, VerifiedToken};
use crate::reject::{AuthError, InvalidToken, Unavailable};
use crate::token::BearerToken;
use crate::verify::{JwtVerifier, Verification, Verifier, looks_like_jwt, refuse_bound};

/// How long a resource answered `503` waits before retrying when the store is down.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Verifies the access tokens of one [`AuthorizationServer`] in the process that runs
/// it, for [`BearerLayer`](crate::BearerLayer) on the application's own routes. Cheap
/// to clone.
///
/// A token is accepted only while its record and its grant are in the server's
/// store: revoking it, revoking its refresh token or reusing a refresh token stops it
/// on the next request. JWT access tokens are checked with the server's key first
/// (signature, `typ: at+jwt`, `iss`, `aud`, `exp`), then against the store; opaque
/// ones by the store alone. A store that cannot answer fails closed: `503` with
/// `Retry-After`. Each request costs one or two store reads.
///
/// Resource servers elsewhere that verify the JWTs offline with the published JWKS
/// ([`JwtVerifier`]) do not see revocation: a revoked JWT works there until its `exp`.
/// Where that matters, have them introspect
/// ([`IntrospectionVerifier`](crate::introspect::IntrospectionVerifier), or
/// [`CombinedVerifier`](crate::introspect::CombinedVerifier) with
/// `IntrospectMode::EveryToken`), issue opaque tokens, or keep access tokens short.
///
/// Tokens bound to a key (`cnf`) are refused: this server issues none, and nothing
/// here checks a binding.
///
/// ```
/// use axum::{Router, routing::get};
/// use tower_bearer::BearerLayer;
/// use tower_bearer::issue::server::AuthorizationServer;
///
/// fn app(server: &AuthorizationServer) -> Router {
///     Router::new()
///         .route("/api/me", get(|| async { "me" }))
///         .layer(BearerLayer::new(server.verifier()))
///         .merge(server.router())
/// }
/// ```
#[derive(Clone)]
pub struct ServerVerifier {
    server: AuthorizationServer,
    /// `None` only if the server's own key could not make a verifier: every JWT is
    /// then refused.
    jwt: Option<JwtVerifier>,
}

impl std::fmt::Debug for ServerVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerVerifier").field("issuer", &self.server.issuer()).finish_non_exhaustive()
    }
}

impl AuthorizationServer {
    /// A [`Verifier`] of this server's access tokens that sees revocation at once; see
    /// [`ServerVerifier`].
    pub fn verifier(&self) -> ServerVerifier {
        let jwt = self.verifier_builder().require_access_token_typ().build();
        if let Err(e) = &jwt {
            tracing::error!(error = %e, "no verifier for the server's own key: its JWT access tokens are refused");
        }
        ServerVerifier { server: self.clone(), jwt: jwt.ok() }
    }
}

impl Verifier for ServerVerifier {
    fn verify(&self, token: &BearerToken) -> Verification {
        let signed = looks_like_jwt(token.as_str()).then(|| match &self.jwt {
            Some(jwt) => jwt.verify(token),
            None => Verification::Ready(Err(InvalidToken::UnknownKey.into())),
        });
        let server = self.server.clone();
        let token = token.clone();
        refuse_bound(Verification::Pending(Box::pin(async move {
            // The signature first: a forged token never costs a store read.
            let verified = match signed {
                Some(verification) => Some(verification.resolve().await?),
                None => None,
            };
            let key = TokenKey::of(token.as_str());
            let active = server
                .active_access_token(&key)
                .await
                .map_err(|e| AuthError::Unavailable(Unavailable::caused_by(RETRY_AFTER, Arc::new(e))))?;
            let Some((record, _grant)) = active else {
                return Err(InvalidToken::Inactive.into());
            };
            match verified {
                Some(verified) => Ok(verified),
                None => opaque(server.issuer(), &record, token.as_str().len()),
            }
        })))
    }

    fn authorization_servers(&self) -> Vec<String> {
        vec![self.server.issuer().to_owned()]
    }
}

/// The claims of an opaque token, as its record has them (the same a JWT carries).
fn opaque(issuer: &str, record: &AccessRecord, encoded_len: usize) -> Result<VerifiedToken, AuthError> {
    let claims = json!({
        "iss": issuer,
        "sub": record.subject,
        "aud": record.audience,
        "exp": record.expires_at,
        "iat": record.issued_at,
        "jti": record.jti,
        "client_id": record.client_id,
        "scope": record.scope.join(" "),
    });
    let header = Value::Object(Map::new());
    Ok(VerifiedToken::new(header, claims, record.expires_at, &RoleSources::default(), encoded_len)?)
}
