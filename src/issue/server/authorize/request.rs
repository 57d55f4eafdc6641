//! [`AuthorizationServer::validate_authorization_request`]: the checks of RFC 6749
//! §4.1.1 and §4.1.2.1 in their order, into an [`AuthorizationRequest`].

use std::fmt;
use std::sync::Arc;

use super::error::AuthorizationError;
use super::redirect::ReplyTo;
use crate::issue::server::client::{Client, GrantType};
use crate::issue::server::error::{ErrorCode, OAuthError};
use crate::issue::server::params::{Params, repeated_error};
use crate::issue::server::{AuthorizationServer, pkce};

/// Longest request accepted: the query of `GET /authorize` or the consent form.
const MAX_REQUEST_LEN: usize = 16 * 1024;

/// Longest `state` echoed back.
const MAX_STATE_LEN: usize = 1024;

/// Longest `client_id` looked up (as [`Client::validate`] allows).
const MAX_CLIENT_ID_LEN: usize = 256;

/// A checked authorization request: the client, where the answer goes, what is
/// asked. Show it to the user; carry it to the consent `POST` with
/// [`hidden_fields`](Self::hidden_fields), where it is validated again. `Debug` does
/// not show `state`.
#[derive(Clone)]
pub struct AuthorizationRequest {
    client: Arc<Client>,
    redirect_uri: String,
    redirect_uri_given: bool,
    scopes: Vec<String>,
    state: Option<String>,
    code_challenge: String,
}

impl fmt::Debug for AuthorizationRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationRequest")
            .field("client_id", &self.client.id())
            .field("redirect_uri", &self.redirect_uri)
            .field("redirect_uri_given", &self.redirect_uri_given)
            .field("scopes", &self.scopes)
            // The client's CSRF token for this user's browser.
            .field("state_len", &self.state.as_ref().map(String::len))
            .field("code_challenge", &self.code_challenge)
            .finish()
    }
}

impl AuthorizationRequest {
    /// The client asking.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Its `client_id`.
    pub fn client_id(&self) -> &str {
        self.client.id()
    }

    /// Where the answer goes: the `redirect_uri` given, or the client's only
    /// registered one.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Whether the request named its `redirect_uri` (then the token request must
    /// repeat it, RFC 6749 §4.1.3).
    pub fn redirect_uri_given(&self) -> bool {
        self.redirect_uri_given
    }

    /// The scopes asked for (all registered for the client); the client's registered
    /// scopes when the request named none.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The client's `state`, echoed in the redirect.
    pub fn state(&self) -> Option<&str> {
        self.state.as_deref()
    }

    /// The PKCE `code_challenge` (S256).
    pub fn code_challenge(&self) -> &str {
        &self.code_challenge
    }

    /// The `(name, value)` pairs that make this request again: put them in the
    /// consent form (as [`hidden_inputs_html`](Self::hidden_inputs_html) does) and
    /// pass the posted form to
    /// [`validate_authorization_request`](AuthorizationServer::validate_authorization_request).
    pub fn hidden_fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![("response_type", "code".to_owned()), ("client_id", self.client.id().to_owned())];
        if self.redirect_uri_given {
            fields.push(("redirect_uri", self.redirect_uri.clone()));
        }
        if !self.scopes.is_empty() {
            fields.push(("scope", self.scopes.join(" ")));
        }
        if let Some(state) = &self.state {
            fields.push(("state", state.clone()));
        }
        fields.push(("code_challenge", self.code_challenge.clone()));
        fields.push(("code_challenge_method", "S256".to_owned()));
        fields
    }

    pub(super) fn reply_to(&self) -> ReplyTo<'_> {
        ReplyTo { redirect_uri: &self.redirect_uri, state: self.state.as_deref() }
    }
}

impl AuthorizationServer {
    /// Checks an authorization request (RFC 6749 §4.1.1): `params` is the query
    /// string of `GET /authorize`, or the body of the consent `POST` (whose hidden
    /// fields come from the client and are checked again; other fields, such as
    /// the login, are ignored).
    ///
    /// In this order: a registered `client_id`; a `redirect_uri` equal, as a string,
    /// to a registered one (or none, if exactly one is registered); a `state` of at
    /// most 1 KiB. Failing these, or with one of them repeated, the answer is an
    /// error page ([`AuthorizationError::Page`]), never a redirect. Then, answered
    /// with an error redirect: no repeated parameter, `response_type=code`, a client
    /// allowed the `authorization_code` grant (`unauthorized_client`), scopes all
    /// registered for the client (`invalid_scope`), a PKCE `S256` challenge
    /// (`invalid_request`: missing, without method, or `plain`).
    pub async fn validate_authorization_request(
        &self,
        params: &[u8],
    ) -> Result<AuthorizationRequest, AuthorizationError> {
        if params.len() > MAX_REQUEST_LEN {
            return Err(page("the authorization request is too large"));
        }
        let (params, repeated) = Params::parse_keeping_repeats(params).map_err(AuthorizationError::page)?;
        let is_repeated = |name: &str| repeated.iter().any(|r| r == name);

        // §4.1.2.1: while the client and its redirection URI are unproven, the user
        // is told, and nothing is sent to the URI.
        if is_repeated("client_id") {
            return Err(AuthorizationError::page(repeated_error("client_id")));
        }
        let client = self.registered_client(params.get("client_id")).await?;
        if is_repeated("redirect_uri") {
            return Err(AuthorizationError::page(repeated_error("redirect_uri")));
        }
        let (redirect_uri, redirect_uri_given) = registered_redirect_uri(&client, params.get("redirect_uri"))?;
        // A repeated or oversized state cannot be echoed, and a redirect without it
        // is one the client cannot tie to its user.
        if is_repeated("state") {
            return Err(AuthorizationError::page(repeated_error("state")));
        }
        let state = params.get("state");
        if state.is_some_and(|s| s.len() > MAX_STATE_LEN) {
            return Err(page("state is longer than 1 KiB"));
        }
        let to = ReplyTo { redirect_uri: &redirect_uri, state };
        let refuse = |error: OAuthError| self.error_redirect(&to, &error);

        if let Some(name) = repeated.first() {
            return Err(refuse(repeated_error(name)));
        }
        match params.get("response_type") {
            None => return Err(refuse(OAuthError::invalid_request("missing parameter response_type"))),
            Some("code") => {}
            Some(_) => {
                return Err(refuse(OAuthError::new(
                    ErrorCode::UnsupportedResponseType,
                    "only response_type=code is supported",
                )));
            }
        }
        if !client.allows(GrantType::AuthorizationCode) {
            return Err(refuse(OAuthError::unauthorized_client(
                "this client may not use the authorization_code grant",
            )));
        }
        let scopes = requested_scopes(&client, params.get("scope")).map_err(refuse)?;
        let code_challenge = pkce::check_challenge(params.get("code_challenge"), params.get("code_challenge_method"))
            .map_err(|why| refuse(OAuthError::invalid_request(why)))?;

        Ok(AuthorizationRequest {
            redirect_uri,
            redirect_uri_given,
            scopes,
            state: state.map(str::to_owned),
            code_challenge,
            client,
        })
    }

    async fn registered_client(&self, client_id: Option<&str>) -> Result<Arc<Client>, AuthorizationError> {
        let id = client_id.ok_or_else(|| page("missing parameter client_id"))?;
        if id.len() > MAX_CLIENT_ID_LEN {
            return Err(page("unknown client"));
        }
        match self.inner.clients.client(id).await {
            Ok(Some(client)) => Ok(client),
            Ok(None) => Err(page("unknown client")),
            Err(e) => {
                tracing::error!(error = %crate::error_chain::error_chain(&e), "client store unavailable");
                Err(AuthorizationError::page(OAuthError::unavailable("cannot look clients up right now; retry later")))
            }
        }
    }
}

/// `invalid_request` as an error page.
fn page(description: &str) -> AuthorizationError {
    AuthorizationError::page(OAuthError::invalid_request(description))
}

/// The redirection URI: the one given, if registered (exact string match, RFC 9700
/// §4.1.3: no normalization, no prefix, no case folding), or the only one registered.
fn registered_redirect_uri(client: &Client, given: Option<&str>) -> Result<(String, bool), AuthorizationError> {
    match given {
        Some(uri) => match client.redirect_uris().iter().find(|r| r.as_str() == uri) {
            Some(registered) => Ok((registered.clone(), true)),
            None => Err(page("redirect_uri is not registered for this client")),
        },
        None => match client.redirect_uris() {
            [only] => Ok((only.clone(), false)),
            [] => Err(page("this client has no registered redirect_uri")),
            _ => Err(page("redirect_uri is required: this client registered several")),
        },
    }
}

/// The scopes asked for, each registered for the client, without repeats; the
/// registered ones when none is named (RFC 6749 §3.3).
fn requested_scopes(client: &Client, scope: Option<&str>) -> Result<Vec<String>, OAuthError> {
    let mut scopes: Vec<String> = Vec::new();
    for token in scope.unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
        if !client.scopes().iter().any(|s| s == token) {
            return Err(OAuthError::invalid_scope("a requested scope is not registered for this client"));
        }
        if !scopes.iter().any(|s| s == token) {
            scopes.push(token.to_owned());
        }
    }
    if scopes.is_empty() {
        scopes = client.scopes().to_vec();
    }
    Ok(scopes)
}
