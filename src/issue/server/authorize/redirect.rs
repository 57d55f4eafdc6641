//! The redirect back to the client (RFC 6749 §4.1.2, §4.1.2.1): parameters appended
//! to the registered redirection URI's query, `state` echoed, `iss` added (RFC 9207),
//! answered `303 See Other` so the browser does not re-post the consent form.

use std::fmt;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::AuthorizationError;
use crate::issue::server::AuthorizationServer;
use crate::issue::server::error::{ErrorCode, OAuthError};

/// A redirect to the client's redirection URI: with `code` (success) or `error`.
/// `Debug` shows neither the code nor `state`.
#[derive(Clone)]
pub struct AuthorizationRedirect {
    location: url::Url,
    error: Option<ErrorCode>,
}

impl AuthorizationRedirect {
    /// The `Location`: the redirection URI with `code` or `error`, `state` and `iss`.
    pub fn location(&self) -> &str {
        self.location.as_str()
    }

    /// The `error` it carries; `None` for a success (with `code`).
    pub fn error(&self) -> Option<ErrorCode> {
        self.error
    }
}

impl fmt::Debug for AuthorizationRedirect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The query holds the code (a secret) and the client's state.
        let mut to = self.location.clone();
        to.set_query(None);
        f.debug_struct("AuthorizationRedirect").field("to", &to.as_str()).field("error", &self.error).finish()
    }
}

impl IntoResponse for AuthorizationRedirect {
    /// `303 See Other` with `Location`, `Cache-Control: no-store` and
    /// `Referrer-Policy: no-referrer` (the page's URL holds the request).
    fn into_response(self) -> Response {
        match HeaderValue::from_str(self.location.as_str()) {
            Ok(location) => (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, location),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                    (header::PRAGMA, HeaderValue::from_static("no-cache")),
                    (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
                ],
            )
                .into_response(),
            // A serialized URL is always a valid header value; if not, say so, without redirecting.
            Err(_) => AuthorizationError::page(OAuthError::invalid_request("the redirection URI cannot be sent"))
                .into_response(),
        }
    }
}

/// Where one validated request's answers go.
#[derive(Clone, Debug)]
pub(super) struct ReplyTo<'a> {
    pub(super) redirect_uri: &'a str,
    pub(super) state: Option<&'a str>,
}

impl AuthorizationServer {
    /// A redirect to `to` with `params`, then `state` and `iss`.
    pub(super) fn redirect(
        &self,
        to: &ReplyTo<'_>,
        params: &[(&str, &str)],
        error: Option<ErrorCode>,
    ) -> Result<AuthorizationRedirect, AuthorizationError> {
        // Registered URIs are absolute (Client::validate); one from a store of the
        // application's that is not cannot be redirected to.
        let mut location = url::Url::parse(to.redirect_uri).map_err(|_| {
            AuthorizationError::page(OAuthError::invalid_request("the registered redirection URI is not a URI"))
        })?;
        location.set_fragment(None);
        {
            // Appended to the registered URI's own query (§3.1.2: "MUST be retained").
            let mut query = location.query_pairs_mut();
            for (name, value) in params {
                query.append_pair(name, value);
            }
            if let Some(state) = to.state {
                query.append_pair("state", state);
            }
            query.append_pair("iss", self.issuer());
        }
        Ok(AuthorizationRedirect { location, error })
    }

    /// The error redirect for `error` (§4.1.2.1): `error`, `error_description`, the
    /// registered `error_uri`, `state`, `iss`.
    pub(super) fn error_redirect(&self, to: &ReplyTo<'_>, error: &OAuthError) -> AuthorizationError {
        let mut params = vec![("error", error.code().as_str())];
        if !error.description().is_empty() {
            params.push(("error_description", error.description()));
        }
        if let Some(uri) = self.inner.error_uris.get(error.code()) {
            params.push(("error_uri", uri));
        }
        match self.redirect(to, &params, Some(error.code())) {
            Ok(redirect) => AuthorizationError::Redirect(redirect),
            Err(page) => page,
        }
    }
}
