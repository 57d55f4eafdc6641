//! `POST /renew`: a valid token in, a fresh one out, within the session's maximum age.

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::login::Identity;
use super::router::{Shared, carried_claims, error, mint};
use crate::reject::AuthError;
use crate::token::RequestHead;
use crate::verify::Verifier;
use crate::{Challenge, JsonResponder, Responder};

pub(super) async fn renew<F>(axum::extract::State(s): Shared<F>, headers: HeaderMap) -> Response {
    let uri = Uri::from_static("/renew");
    let head = RequestHead::new(&Method::POST, &uri, &headers);
    // The layer's own extraction (locations and length cap), and its answers.
    let refused = |e: AuthError| -> Response {
        let res: http::Response<axum::body::Body> = JsonResponder.respond(&e, &Challenge::default());
        res.into_response()
    };
    let token = match s.locations.extract(&head) {
        Ok(Some(t)) => t,
        Ok(None) => return refused(AuthError::MissingToken),
        Err(e) => return refused(AuthError::InvalidRequest(e)),
    };
    let verified = match s.verifier.verify(&token).resolve().await {
        Ok(v) => v,
        Err(e) => return refused(e),
    };
    let claims = verified.claims();
    let session_start = claims.get("auth_time").and_then(Value::as_u64).unwrap_or(0);
    if s.issuer.now() >= session_start.saturating_add(s.issuer.session_age_limit().as_secs()) {
        return error(StatusCode::UNAUTHORIZED, "invalid_token", "the session is too old; log in again");
    }
    let identity = Identity {
        subject: verified.subject().unwrap_or_default().to_owned(),
        scopes: verified.scopes().iter().map(str::to_owned).collect(),
        roles: verified.roles().iter().map(str::to_owned).collect(),
        claims: carried_claims(claims),
    };
    mint(&s.issuer, identity, session_start)
}
