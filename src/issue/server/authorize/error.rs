//! [`AuthorizationError`]: how the authorization endpoint says no, to the user (an
//! error page) or to the client (an error redirect).

use std::fmt;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::page::{ERROR_PAGE_POLICY, escape_html, page_with_policy};
use super::redirect::AuthorizationRedirect;
use crate::issue::server::error::{ErrorCode, OAuthError};

/// Why an authorization request was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum AuthorizationError {
    /// The client or its redirection URI cannot be trusted (unknown client, missing,
    /// unregistered or repeated `redirect_uri`, …): shown to the user as an HTML page
    /// and never redirected (RFC 6749 §4.1.2.1, RFC 9700 §4.1).
    Page {
        /// `400`, or `503` when the client store is unavailable.
        status: StatusCode,
        /// The error code.
        error: ErrorCode,
        /// What went wrong, for the user (never a secret; escaped when rendered).
        description: String,
    },
    /// Any other error, sent back to the client's redirection URI with `error`,
    /// `error_description`, `state` and `iss`.
    Redirect(AuthorizationRedirect),
}

impl AuthorizationError {
    /// The error page for `error` (`400`, or `503` when temporarily unavailable).
    pub(super) fn page(error: OAuthError) -> Self {
        let status = match error.code() {
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::Page { status, error: error.code(), description: error.description().to_owned() }
    }

    /// The error code.
    pub fn error(&self) -> Option<ErrorCode> {
        match self {
            Self::Page { error, .. } => Some(*error),
            Self::Redirect(redirect) => redirect.error(),
        }
    }
}

impl fmt::Display for AuthorizationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Page { error, description, .. } => write!(f, "{error}: {description} (error page)"),
            Self::Redirect(redirect) => match redirect.error() {
                Some(error) => write!(f, "{error} (redirected to the client)"),
                None => f.write_str("redirected to the client"),
            },
        }
    }
}

impl std::error::Error for AuthorizationError {}

impl IntoResponse for AuthorizationError {
    /// The error page (HTML, escaped, not cacheable, not frameable), or the `303`
    /// error redirect.
    fn into_response(self) -> Response {
        match self {
            Self::Page { status, error, description } => {
                let html = format!(
                    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Authorization error</title></head>\n\
                     <body><h1>Authorization error</h1>\n<p><code>{}</code></p>\n<p>{}</p></body></html>\n",
                    escape_html(error.as_str()),
                    escape_html(&description),
                );
                let mut response = page_with_policy(html, ERROR_PAGE_POLICY);
                *response.status_mut() = status;
                response
            }
            Self::Redirect(redirect) => redirect.into_response(),
        }
    }
}
