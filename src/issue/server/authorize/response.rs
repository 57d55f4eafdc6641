//! [`AuthorizationServer::create_authorization_response`]: the user's [`Decision`]
//! into the redirect (RFC 6749 §4.1.2): a fresh single-use code bound to the grant,
//! the redirection URI and the PKCE challenge, or `access_denied`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::error::AuthorizationError;
use super::redirect::AuthorizationRedirect;
use super::request::AuthorizationRequest;
use crate::issue::server::AuthorizationServer;
use crate::issue::server::error::{ErrorCode, OAuthError};
use crate::issue::server::store::{Grant, PendingCode, TokenKey};

/// Random bits in an authorization code (RFC 6749 §10.10: guessing must be
/// infeasible).
const CODE_BYTES: usize = 32;

/// What the user decided on the consent page.
#[derive(Clone, Debug)]
pub enum Decision {
    /// The user authenticated and allowed the request.
    Allow(Consent),
    /// The user (or the application) refused: `access_denied`.
    Deny,
}

/// Who consented, and to what.
///
/// ```
/// use tower_bearer::issue::server::{Consent, Decision};
///
/// let decision = Decision::Allow(Consent::new("alice").scopes(["read"]));
/// # let _ = decision;
/// ```
#[derive(Clone, Debug)]
pub struct Consent {
    subject: String,
    scopes: Option<Vec<String>>,
    auth_time: Option<u64>,
    claims: Map<String, Value>,
}

impl Consent {
    /// `subject` (the `sub` of the tokens: the user's login) consented to every scope
    /// requested.
    pub fn new(subject: impl Into<String>) -> Self {
        Self { subject: subject.into(), scopes: None, auth_time: None, claims: Map::new() }
    }

    /// Grants only `scopes`, each among those requested (the user unticked some).
    #[must_use]
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// When the user authenticated (seconds since the Unix epoch; default now).
    #[must_use]
    pub fn auth_time(mut self, auth_time: u64) -> Self {
        self.auth_time = Some(auth_time);
        self
    }

    /// Extra claims to keep with the grant.
    #[must_use]
    pub fn claims(mut self, claims: Map<String, Value>) -> Self {
        self.claims = claims;
        self
    }
}

impl AuthorizationServer {
    /// Answers `request` (from
    /// [`validate_authorization_request`](Self::validate_authorization_request) on the
    /// consent `POST`) with the user's `decision`.
    ///
    /// [`Decision::Allow`] stores a new grant inside a single-use code (living the
    /// code lifetime; bound to the client, the `redirect_uri` if the request named
    /// it, and the PKCE challenge) and redirects with `code`, `state` and `iss`.
    /// [`Decision::Deny`] redirects with `access_denied`, `state` and `iss`. A store
    /// failure redirects with `temporarily_unavailable`. Either way the redirect is
    /// `303 See Other`, not cacheable.
    ///
    /// Call it only for a decision the user made on your page in this request: if the
    /// consent `POST` relies on a session cookie instead of the password, check a CSRF
    /// token (or use `SameSite=Strict` cookies) first, or another site can post
    /// `Allow` for the user. Failed logins before it are the application's to
    /// throttle ([`LoginThrottle`](crate::issue::LoginThrottle)); see
    /// [`AuthorizationServer`]'s "The login page is the application's".
    pub async fn create_authorization_response(
        &self,
        request: &AuthorizationRequest,
        decision: Decision,
    ) -> Result<AuthorizationRedirect, AuthorizationError> {
        let to = request.reply_to();
        let refuse = |error: OAuthError| self.error_redirect(&to, &error);
        let consent = match decision {
            Decision::Allow(consent) => consent,
            Decision::Deny => {
                return Err(refuse(OAuthError::new(ErrorCode::AccessDenied, "the user denied the request")));
            }
        };
        if consent.subject.is_empty() {
            tracing::error!("create_authorization_response: the consent names no subject");
            return Err(refuse(OAuthError::new(ErrorCode::ServerError, "the authorization could not be completed")));
        }
        let scope = match consent.scopes {
            None => request.scopes().to_vec(),
            Some(granted) if granted.iter().all(|s| request.scopes().contains(s)) => granted,
            Some(_) => return Err(refuse(OAuthError::invalid_scope("the granted scope is wider than requested"))),
        };
        let Some(code) = random_token(CODE_BYTES) else {
            tracing::error!("create_authorization_response: the secure random generator failed");
            return Err(refuse(OAuthError::new(ErrorCode::ServerError, "the authorization could not be completed")));
        };

        let now = self.now();
        let lifetimes = &self.inner.lifetimes;
        let grant = Grant {
            id: Grant::id_for_code(&code),
            issuer: self.inner.issuer.clone(),
            client_id: request.client_id().to_owned(),
            subject: consent.subject,
            scope,
            auth_time: consent.auth_time.unwrap_or(now),
            created_at: now,
            expires_at: now.saturating_add(lifetimes.grant.as_secs()),
            claims: consent.claims,
        };
        let pending = PendingCode {
            grant,
            redirect_uri: request.redirect_uri_given().then(|| request.redirect_uri().to_owned()),
            code_challenge: request.code_challenge().to_owned(),
            expires_at: now.saturating_add(lifetimes.code.as_secs()),
        };
        if let Err(e) = self.inner.store.put_code(&TokenKey::of(&code), pending, lifetimes.code).await {
            tracing::error!(error = %crate::error_chain::error_chain(&e), "grant store unavailable: no code issued");
            return Err(refuse(OAuthError::unavailable("cannot issue a code right now; retry later")));
        }
        self.redirect(&to, &[("code", &code)], None)
    }
}

/// `bytes` random bytes, base64url.
fn random_token(bytes: usize) -> Option<String> {
    crate::random::random_bytes(bytes).ok().map(|b| URL_SAFE_NO_PAD.encode(b))
}
