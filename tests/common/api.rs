//! Loopback servers standing in for the API a client calls, or for where a redirect points.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::post;
use http::StatusCode;
use serde_json::json;

/// Everything a server received, one line per request.
pub type Seen = Arc<Mutex<Vec<String>>>;

/// An API answering any method on any path: records `METHOD path auth content-type body`
/// and refuses `token-1` with `401 invalid_token`; answers `METHOD done` otherwise.
pub async fn recording_api() -> (String, Seen) {
    let seen = Seen::default();
    let s = seen.clone();
    let app =
        Router::new().fallback(move |method: http::Method, uri: http::Uri, headers: http::HeaderMap, body: String| {
            let s = s.clone();
            async move {
                let auth = headers.get("authorization").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
                let kind = headers.get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
                s.lock().unwrap().push(format!("{method} {} {auth} {kind} {body}", uri.path()));
                if auth == "Bearer token-1" {
                    let challenge = r#"Bearer error="invalid_token", error_description="revoked""#;
                    return (StatusCode::UNAUTHORIZED, [("www-authenticate", challenge)], String::new());
                }
                (StatusCode::OK, [("www-authenticate", "")], format!("{method} done"))
            }
        });
    (super::serve(app).await, seen)
}

/// An endpoint at `path` that redirects with `status` to a second loopback server,
/// which records `auth body` of what reaches it and answers as a token endpoint and an
/// introspection endpoint would.
pub async fn redirecting(status: u16, path: &str) -> (String, Seen) {
    let seen = Seen::default();
    let s = seen.clone();
    let target = Router::new().fallback(move |headers: http::HeaderMap, body: String| {
        let s = s.clone();
        async move {
            let auth = headers.get("authorization").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
            s.lock().unwrap().push(format!("{auth} {body}"));
            let exp = tower_bearer::Clock::now(&tower_bearer::SystemClock) + 60;
            let answer = json!({"access_token": "stolen", "token_type": "Bearer", "expires_in": 60, "active": true, "aud": "api", "exp": exp});
            answer.to_string()
        }
    });
    let elsewhere = format!("{}/elsewhere", super::serve(target).await);
    let app = Router::new().route(
        path,
        post(move || {
            let to = elsewhere.clone();
            std::future::ready((StatusCode::from_u16(status).unwrap(), [("location", to)], ""))
        }),
    );
    (format!("{}{path}", super::serve(app).await), seen)
}
