//! The authorization endpoint (RFC 6749 §4.1.1–4.1.2), split the way oauthlib splits
//! it so the application owns its login and consent pages:
//!
//! 1. [`AuthorizationServer::validate_authorization_request`] checks the request
//!    (on `GET /authorize`, and again on the consent `POST`: its hidden fields are
//!    the client's to forge) into an [`AuthorizationRequest`] to show the user;
//! 2. [`AuthorizationServer::create_authorization_response`] turns the user's
//!    [`Decision`] into the redirect back to the client.
//!
//! Errors that make the redirection URI untrustworthy are shown to the user, never
//! redirected ([`AuthorizationError::Page`]); every redirect carries `state` and
//! `iss` (RFC 9207). [`secure_page`] sends the application's page so that no other
//! site can frame it.
//!
//! Nothing here limits failed logins or checks a CSRF token: the login page is the
//! application's, and so are its limits ([`LoginThrottle`], counted before the
//! password check; slow password hashes, the same cost for an unknown login) and, for
//! a consent `POST` that relies on a session cookie rather than the password, a CSRF
//! token or `SameSite=Strict` cookies. The public docs say so on
//! [`AuthorizationServer`] ("The login page is the application's"); the
//! `authorization_server` example does all of it.
//!
//! [`LoginThrottle`]: crate::issue::LoginThrottle
//! [`AuthorizationServer`]: super::AuthorizationServer
//! [`AuthorizationServer::validate_authorization_request`]: super::AuthorizationServer::validate_authorization_request
//! [`AuthorizationServer::create_authorization_response`]: super::AuthorizationServer::create_authorization_response

mod error;
mod page;
mod redirect;
mod request;
mod response;

pub use error::AuthorizationError;
pub use page::{escape_html, form_value, page_headers, secure_page};
pub use redirect::AuthorizationRedirect;
pub use request::AuthorizationRequest;
pub use response::{Consent, Decision};
