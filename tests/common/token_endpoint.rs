//! A client-credentials token endpoint on 127.0.0.1 that counts the requests it answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use http::StatusCode;
use serde_json::json;

/// Issues `token-N` (N counting from 1) valid for `expires_in` seconds, each answer
/// after a delay; the first requests can be made to fail.
#[derive(Clone)]
pub struct TokenEndpoint {
    pub url: String,
    calls: Arc<AtomicUsize>,
    failures: Arc<AtomicUsize>,
    failure_status: Arc<AtomicU16>,
}

impl TokenEndpoint {
    pub async fn start(expires_in: u64, delay: Duration) -> Self {
        let endpoint = Self {
            url: String::new(),
            calls: Arc::default(),
            failures: Arc::default(),
            failure_status: Arc::new(AtomicU16::new(500)),
        };
        let state = endpoint.clone();
        let app = Router::new().route(
            "/token",
            post(move |body: String| {
                let state = state.clone();
                async move {
                    let n = state.calls.fetch_add(1, Ordering::SeqCst) + 1;
                    assert!(body.contains("grant_type=client_credentials"));
                    tokio::time::sleep(delay).await;
                    if state.failures.load(Ordering::SeqCst) >= n {
                        let status = StatusCode::from_u16(state.failure_status.load(Ordering::SeqCst)).unwrap();
                        let body = json!({"error": "invalid_client", "error_description": "unknown client", "error_uri": "https://as.example.com/e"});
                        return (status, [("retry-after", "0")], body.to_string());
                    }
                    let body = json!({"access_token": format!("token-{n}"), "token_type": "bearer", "expires_in": expires_in});
                    (StatusCode::OK, [("retry-after", "0")], body.to_string())
                }
            }),
        );
        Self { url: format!("{}/token", super::serve(app).await), ..endpoint }
    }

    /// Answers the first `n` requests (counted from the start) with `status`.
    pub fn fail_first(&self, n: usize, status: u16) {
        self.failure_status.store(status, Ordering::SeqCst);
        self.failures.store(n, Ordering::SeqCst);
    }

    /// How many token requests it has answered (or is answering).
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}
