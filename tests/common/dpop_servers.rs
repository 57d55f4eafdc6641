//! DPoP on both ends of a client's calls, on 127.0.0.1: a token endpoint that checks
//! each request's proof with the layer's own check (RFC 9449 §5) and binds the token it
//! mints to the proof key, and a protected API behind the layer with DPoP required.
//! Both record what they were sent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::StatusCode;
use serde_json::{Value, json};
use tower_bearer::BearerLayer;
use tower_bearer::dpop::{Dpop, DpopMode, NonceSecret};
use tower_bearer::testing::TestIssuer;
use tower_bearer::token::RequestHead;

use super::b64;

/// How the token endpoint behaves.
#[derive(Clone, Copy)]
pub struct AsMode {
    /// `token_type` of its answers; `Bearer` ignores the proof and binds nothing.
    pub token_type: &'static str,
    /// Its own nonces (RFC 9449 §8).
    pub nonces: AsNonces,
    /// Binds the first token it issues to another key.
    pub misbind_first: bool,
    /// Lifetime of its tokens, in seconds.
    pub expires_in: u64,
    /// Issues refresh tokens too.
    pub refresh_tokens: bool,
}

impl Default for AsMode {
    fn default() -> Self {
        Self { token_type: "DPoP", nonces: AsNonces::Off, misbind_first: false, expires_in: 300, refresh_tokens: false }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum AsNonces {
    Off,
    /// Required, and a new one sent with every token issued.
    Rotating,
    /// Every request is answered `use_dpop_nonce` with a new nonce.
    Stubborn,
}

/// One token request as the endpoint saw it.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub form: String,
    /// The proof's claims (`None`: no `DPoP` header).
    pub proof: Option<Value>,
    pub status: u16,
}

pub struct DpopAs {
    /// The token endpoint.
    pub url: String,
    state: Arc<AsState>,
}

struct AsState {
    idp: TestIssuer,
    dpop: Dpop,
    mode: AsMode,
    requests: Mutex<Vec<TokenRequest>>,
    issued: AtomicUsize,
    nonce: Mutex<String>,
}

impl DpopAs {
    pub async fn start(mode: AsMode) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(AsState {
            idp: TestIssuer::start().await,
            dpop: Dpop::builder(DpopMode::Required).public_url(&base).build().unwrap(),
            mode,
            requests: Mutex::default(),
            issued: AtomicUsize::new(0),
            nonce: Mutex::new("as-nonce-0".into()),
        });
        let app = Router::new().route("/token", post(token)).with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url: format!("{base}/token"), state }
    }

    /// The issuer of its tokens (what an API verifies them with).
    pub fn idp(&self) -> &TestIssuer {
        &self.state.idp
    }

    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn calls(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }
}

async fn token(State(s): State<Arc<AsState>>, req: Request) -> Response {
    let checked = match s.mode.token_type {
        "DPoP" => Some(s.dpop.check_token_request(&RequestHead::from_request(&req)).await),
        _ => None,
    };
    let proof = req.headers().get("dpop").map(|v| b64::json_part(v.to_str().unwrap(), 1));
    let form = String::from_utf8(axum::body::to_bytes(req.into_body(), 64 * 1024).await.unwrap().to_vec()).unwrap();
    let record = |status: StatusCode| {
        let request = TokenRequest { form: form.clone(), proof: proof.clone(), status: status.as_u16() };
        s.requests.lock().unwrap().push(request);
    };
    let jkt = match checked {
        None => None,
        Some(Ok(proof)) => Some(proof.thumbprint()),
        Some(Err(e)) => {
            record(StatusCode::BAD_REQUEST);
            let error = e.error_code().map_or("server_error", |c| c.as_str());
            return (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": error }))).into_response();
        }
    };
    let mut headers = http::HeaderMap::new();
    if s.mode.nonces != AsNonces::Off {
        let mut nonce = s.nonce.lock().unwrap();
        if s.mode.nonces == AsNonces::Stubborn {
            *nonce = format!("as-nonce-{}", s.requests.lock().unwrap().len());
        }
        if proof.as_ref().and_then(|p| p["nonce"].as_str()) != Some(nonce.as_str()) {
            record(StatusCode::BAD_REQUEST);
            let body = json!({"error": "use_dpop_nonce", "error_description": "use the nonce of DPoP-Nonce"});
            return (StatusCode::BAD_REQUEST, [("dpop-nonce", nonce.clone())], axum::Json(body)).into_response();
        }
        // A new nonce with every token: the client must use the latest.
        *nonce = format!("as-nonce-{}", s.issued.load(Ordering::SeqCst) + 1);
        headers.insert("dpop-nonce", nonce.parse().unwrap());
    }
    let n = s.issued.fetch_add(1, Ordering::SeqCst) + 1;
    let mut minted =
        s.idp.token().expires_in(Duration::from_secs(s.mode.expires_in)).claim("jti", json!(format!("t-{n}")));
    if let Some(jkt) = jkt {
        let jkt = if s.mode.misbind_first && n == 1 { "another-key".to_owned() } else { jkt };
        minted = minted.claim("cnf", json!({ "jkt": jkt }));
    }
    let mut answer =
        json!({"access_token": minted.sign(), "token_type": s.mode.token_type, "expires_in": s.mode.expires_in});
    if s.mode.refresh_tokens {
        answer["refresh_token"] = json!(format!("r-{n}"));
    }
    record(StatusCode::OK);
    (StatusCode::OK, headers, axum::Json(answer)).into_response()
}

/// Every request an API received: `METHOD path scheme nonce status`, the scheme of its
/// `Authorization` header, the `nonce` of its proof (`-` for none).
pub type Log = Arc<Mutex<Vec<String>>>;

/// A protected API (`/me` and the rest of [`super::app`]) trusting `idp`, DPoP in
/// `mode`, nonces required when `nonces`. Returns its base URL.
pub async fn dpop_api(idp: &TestIssuer, mode: DpopMode, nonces: bool) -> (String, Log) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut dpop = Dpop::builder(mode).public_url(&base);
    if nonces {
        dpop = dpop.require_nonces(NonceSecret::from_bytes(&[7; 32]).unwrap());
    }
    let auth = BearerLayer::new(idp.verifier()).realm(super::REALM).dpop(dpop.build().unwrap());
    let log = Log::default();
    let l = log.clone();
    let app = super::app(auth).layer(axum::middleware::from_fn(move |req: Request, next: Next| {
        let log = l.clone();
        async move {
            let line = describe(&req);
            let response = next.run(req).await;
            log.lock().unwrap().push(format!("{line} {}", response.status().as_u16()));
            response
        }
    }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, log)
}

fn describe(req: &Request) -> String {
    let header = |name: &str| req.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    let scheme = header("authorization").and_then(|a| a.split(' ').next().map(str::to_owned)).unwrap_or("-".into());
    let nonce =
        header("dpop").and_then(|p| b64::json_part(&p, 1)["nonce"].as_str().map(str::to_owned)).unwrap_or("-".into());
    format!("{} {} {scheme} {nonce}", req.method(), req.uri().path())
}
