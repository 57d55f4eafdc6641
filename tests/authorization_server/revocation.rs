//! Revocation (RFC 7009): what a client may end, what it may not, and what it is told;
//! each revocation checked by introspection and by a protected call through both of
//! tower-bearer's verifiers. Also the harness `introspection.rs` shares.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tower_bearer::introspect::IntrospectionVerifier;
use tower_bearer::issue::server::{
    AccessTokenFormat, AuthorizationServer, AuthorizationServerBuilder, Client, ClientRegistry, Consent, Decision,
    GrantType, MemoryStore, ServerLimits,
};
use tower_bearer::issue::{IssuerKey, KeyType};
use tower_bearer::{BearerLayer, ClientAuth, VerifiedToken};

use crate::common::client;

pub(crate) const WORKER: (&str, &str) = ("worker", "worker-secret-0123456789abcdef");
pub(crate) const OTHER: (&str, &str) = ("other", "other-secret-0123456789abcdef");
pub(crate) const WEB: (&str, &str) = ("web", "web-secret-0123456789abcdef");
pub(crate) const WEB_REDIRECT: &str = "http://127.0.0.1:9/callback";
pub(crate) const AUDIENCE: &str = "https://api.example.com";

/// A running server: its base URL (the issuer), the server, and two protected
/// kinds of protected routes on the same listener: `/api/me` behind
/// `server.verifier()`, and `/rs/<client>/me` behind an `IntrospectionVerifier`
/// authenticated as that client.
pub(crate) struct Harness {
    pub(crate) base: String,
    pub(crate) server: AuthorizationServer,
}

/// What a token endpoint or the revocation/introspection endpoints answered.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

impl Harness {
    pub(crate) async fn start(format: AccessTokenFormat) -> Self {
        Self::start_with(format, |b| b.store(MemoryStore::new())).await
    }

    /// A server whose builder `settings` finish (they must set the store).
    pub(crate) async fn start_with(
        format: AccessTokenFormat,
        settings: impl FnOnce(AuthorizationServerBuilder) -> AuthorizationServerBuilder,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let clients = ClientRegistry::new()
            .with(
                Client::confidential(WORKER.0, WORKER.1)
                    .unwrap()
                    .grant_type(GrantType::ClientCredentials)
                    .scope("jobs")
                    .scope("read"),
            )
            .unwrap()
            .with(
                Client::confidential(OTHER.0, OTHER.1).unwrap().grant_type(GrantType::ClientCredentials).scope("jobs"),
            )
            .unwrap()
            .with(
                Client::confidential(WEB.0, WEB.1)
                    .unwrap()
                    .redirect_uri(WEB_REDIRECT)
                    .grant_type(GrantType::AuthorizationCode)
                    .grant_type(GrantType::RefreshToken)
                    .scope("read"),
            )
            .unwrap()
            .with(Client::public("cli").redirect_uri("http://127.0.0.1:9/cb").grant_type(GrantType::AuthorizationCode))
            .unwrap();
        let builder = AuthorizationServer::builder(&base, signing_key())
            .audience(AUDIENCE)
            .clients(clients)
            .access_token_format(format);
        let server = settings(builder).build().unwrap();
        let mut app = Router::new().route("/api/me", get(me).layer(BearerLayer::new(server.verifier())));
        // A resource server introspecting as each confidential client: a client sees
        // only its own tokens.
        for (id, secret) in [WORKER, OTHER, WEB] {
            let introspection = IntrospectionVerifier::builder()
                .endpoint(&format!("{base}/introspect"))
                .client_auth(ClientAuth::basic(id, secret))
                .issuer(&base)
                .audience(AUDIENCE)
                .no_cache()
                .build()
                .unwrap();
            app = app.route(&format!("/rs/{id}/me"), get(me).layer(BearerLayer::new(introspection)));
        }
        let app = app.merge(server.router());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, server }
    }

    /// POSTs `form` to `path` with `client` in a Basic header (or none).
    pub(crate) async fn post(&self, path: &str, client_auth: Option<(&str, &str)>, form: &[(&str, &str)]) -> Answer {
        let mut request = client().post(format!("{}{path}", self.base)).form(form);
        if let Some((id, secret)) = client_auth {
            request = request.basic_auth(id, Some(secret));
        }
        let res = request.send().await.unwrap();
        Answer { status: res.status(), headers: res.headers().clone(), body: res.text().await.unwrap() }
    }

    /// A client-credentials access token from the token endpoint.
    pub(crate) async fn token(&self, (id, secret): (&str, &str), scope: &str) -> String {
        let answer =
            self.post("/token", Some((id, secret)), &[("grant_type", "client_credentials"), ("scope", scope)]).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.json()["access_token"].as_str().unwrap().to_owned()
    }

    /// An access and a refresh token of [`WEB`] for `alice`: the authorization request
    /// validated and allowed as the application's consent page does, the code
    /// exchanged at the token endpoint with its PKCE verifier.
    pub(crate) async fn code_flow(&self) -> (String, String) {
        use base64::Engine as _;
        use sha2::Digest as _;
        let verifier = format!("verifier-{}", rand::random::<u128>()).repeat(2);
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&verifier));
        let query = serde_urlencoded_form(&[
            ("response_type", "code"),
            ("client_id", WEB.0),
            ("redirect_uri", WEB_REDIRECT),
            ("scope", "read"),
            ("state", "s1"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        let request = self.server.validate_authorization_request(query.as_bytes()).await.unwrap();
        let consent = Decision::Allow(Consent::new("alice").scopes(["read"]));
        let redirect = self.server.create_authorization_response(&request, consent).await.unwrap();
        let location = reqwest::Url::parse(redirect.location()).unwrap();
        let code = location.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
        let answer = self
            .post(
                "/token",
                Some(WEB),
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", WEB_REDIRECT),
                    ("code_verifier", &verifier),
                ],
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let a = answer.json();
        (a["access_token"].as_str().unwrap().to_owned(), a["refresh_token"].as_str().unwrap().to_owned())
    }

    /// The refresh grant: a new access token and the rotated refresh token.
    pub(crate) async fn refresh(&self, refresh_token: &str) -> Answer {
        self.post("/token", Some(WEB), &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
    }

    pub(crate) async fn revoke(&self, by: (&str, &str), token: &str, hint: Option<&str>) -> Answer {
        let mut form = vec![("token", token)];
        form.extend(hint.map(|h| ("token_type_hint", h)));
        self.post("/revoke", Some(by), &form).await
    }

    pub(crate) async fn introspect(&self, by: (&str, &str), token: &str) -> Answer {
        self.post("/introspect", Some(by), &[("token", token)]).await
    }

    /// Status of `GET path` with `token`.
    pub(crate) async fn call(&self, path: &str, token: &str) -> StatusCode {
        client().get(format!("{}{path}", self.base)).bearer_auth(token).send().await.unwrap().status()
    }

    /// The token is usable: active to its owner, accepted by both verifiers.
    pub(crate) async fn assert_usable(&self, owner: (&str, &str), token: &str) {
        let answer = self.introspect(owner, token).await;
        assert_eq!(answer.json()["active"], json!(true), "{}", answer.body);
        assert_eq!(self.call("/api/me", token).await, StatusCode::OK, "server.verifier()");
        let rs = format!("/rs/{}/me", owner.0);
        assert_eq!(self.call(&rs, token).await, StatusCode::OK, "IntrospectionVerifier as {}", owner.0);
    }

    /// The token is dead: inactive to its owner, refused by both verifiers.
    pub(crate) async fn assert_dead(&self, owner: (&str, &str), token: &str) {
        let answer = self.introspect(owner, token).await;
        assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, r#"{"active":false}"#));
        assert_eq!(self.call("/api/me", token).await, StatusCode::UNAUTHORIZED, "server.verifier()");
        let rs = format!("/rs/{}/me", owner.0);
        assert_eq!(self.call(&rs, token).await, StatusCode::UNAUTHORIZED, "IntrospectionVerifier as {}", owner.0);
    }
}

/// One RSA key for the whole binary (RS256, the default; generating one is slow).
fn signing_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| IssuerKey::generate(KeyType::Rsa(2048), None).unwrap().private_jwk().to_json())
}

/// `pairs` as a query string.
fn serde_urlencoded_form(pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://x/").unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap().to_owned()
}

async fn me(token: VerifiedToken) -> axum::Json<Value> {
    axum::Json(json!({"sub": token.subject(), "scope": token.scopes()}))
}

/// The revocation answer once the client is authenticated: `200`, empty, not cached.
fn assert_revoked_answer(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body, "");
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.header("pragma"), Some("no-cache"));
}

#[tokio::test]
async fn revoking_an_access_token_ends_it_for_introspection_and_both_verifiers() {
    for format in [AccessTokenFormat::Jwt, AccessTokenFormat::Opaque] {
        let h = Harness::start(format).await;
        let token = h.token(WORKER, "jobs").await;
        let kept = h.token(WORKER, "jobs").await;
        h.assert_usable(WORKER, &token).await;
        assert_revoked_answer(&h.revoke(WORKER, &token, Some("access_token")).await);
        h.assert_dead(WORKER, &token).await;
        // Only that token: another of the same client and grant type still works.
        h.assert_usable(WORKER, &kept).await;
        // Revoking again, or a token never issued: still 200.
        assert_revoked_answer(&h.revoke(WORKER, &token, None).await);
        assert_revoked_answer(&h.revoke(WORKER, "never-issued", None).await);
    }
}

#[tokio::test]
async fn a_wrong_or_unknown_hint_still_revokes() {
    let h = Harness::start(AccessTokenFormat::Jwt).await;
    for hint in ["refresh_token", "id_token", "no-such-type"] {
        let token = h.token(WORKER, "jobs").await;
        assert_revoked_answer(&h.revoke(WORKER, &token, Some(hint)).await);
        h.assert_dead(WORKER, &token).await;
    }
}

#[tokio::test]
async fn another_clients_token_is_not_revoked_and_not_introspectable() {
    let h = Harness::start(AccessTokenFormat::Jwt).await;
    let token = h.token(WORKER, "jobs").await;
    assert_revoked_answer(&h.revoke(OTHER, &token, None).await);
    h.assert_usable(WORKER, &token).await;
    let answer = h.introspect(OTHER, &token).await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, r#"{"active":false}"#));
}

#[tokio::test]
async fn without_or_with_wrong_client_authentication_both_endpoints_answer_401() {
    let h = Harness::start(AccessTokenFormat::Jwt).await;
    let token = h.token(WORKER, "jobs").await;
    for path in ["/revoke", "/introspect"] {
        let none = h.post(path, None, &[("token", &token)]).await;
        assert_eq!(none.status, StatusCode::UNAUTHORIZED, "{path}: {}", none.body);
        assert_eq!(none.json()["error"], "invalid_client");
        let wrong = h.post(path, Some((WORKER.0, "not-the-secret")), &[("token", &token)]).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{path}: {}", wrong.body);
        assert_eq!(wrong.json()["error"], "invalid_client");
        assert!(wrong.header("www-authenticate").is_some_and(|c| c.starts_with("Basic")), "{path}");
        let unknown = h.post(path, Some(("nobody", "x")), &[("token", &token)]).await;
        assert_eq!(unknown.status, StatusCode::UNAUTHORIZED, "{path}");
        // client_secret_post with a wrong secret: 401, with a challenge all the same
        // (RFC 7235 §3.1).
        let post = h.post(path, None, &[("token", &token), ("client_id", WORKER.0), ("client_secret", "nope")]).await;
        assert_eq!(post.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(post.header("www-authenticate"), Some(r#"Basic realm="token""#), "{path}");
        assert_eq!(none.header("www-authenticate"), Some(r#"Basic realm="token""#), "{path}");
    }
    // None of that revoked anything.
    h.assert_usable(WORKER, &token).await;
    // client_secret_post with the right secret revokes.
    let post =
        h.post("/revoke", None, &[("token", &token), ("client_id", WORKER.0), ("client_secret", WORKER.1)]).await;
    assert_revoked_answer(&post);
    h.assert_dead(WORKER, &token).await;
}

#[tokio::test]
async fn revocation_and_introspection_are_rate_limited_per_client() {
    let limits = ServerLimits::default().requests_per_client(2, Duration::from_secs(60));
    let h = Harness::start_with(AccessTokenFormat::Opaque, |b| b.store(MemoryStore::new()).limits(limits)).await;
    let token = h.token(WORKER, "jobs").await;
    // Each endpoint has its own budget: revoking does not starve introspection.
    for path in ["/introspect", "/revoke"] {
        for _ in 0..2 {
            let answer = h.post(path, Some(WORKER), &[("token", "never-issued")]).await;
            assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
        }
        let limited = h.post(path, Some(WORKER), &[("token", &token)]).await;
        assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{path}: {}", limited.body);
        assert_eq!(limited.json()["error"], "temporarily_unavailable", "{path}");
        let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{path}: {retry}");
    }
    // Another client has its own budgets.
    assert_revoked_answer(&h.revoke(OTHER, "never-issued", None).await);
    // The refused revocation revoked nothing.
    assert_eq!(h.call("/api/me", &token).await, StatusCode::OK);
}

#[tokio::test]
async fn bad_requests_are_400_and_revoke_nothing() {
    let h = Harness::start(AccessTokenFormat::Opaque).await;
    let token = h.token(WORKER, "jobs").await;
    for path in ["/revoke", "/introspect"] {
        let repeated = h.post(path, Some(WORKER), &[("token", &token), ("token", &token)]).await;
        assert_eq!(repeated.status, StatusCode::BAD_REQUEST, "{path}: {}", repeated.body);
        assert_eq!(repeated.json()["error"], "invalid_request");
        let hint_twice = h
            .post(
                path,
                Some(WORKER),
                &[("token", &token), ("token_type_hint", "access_token"), ("token_type_hint", "x")],
            )
            .await;
        assert_eq!(hint_twice.status, StatusCode::BAD_REQUEST, "{path}");
        let missing = h.post(path, Some(WORKER), &[("token_type_hint", "access_token")]).await;
        assert_eq!(missing.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(missing.json()["error"], "invalid_request");
        assert_eq!(missing.header("cache-control"), Some("no-store"));
        let huge = "a".repeat(64 * 1024);
        let too_large = h.post(path, Some(WORKER), &[("token", &huge)]).await;
        assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        assert_eq!(too_large.json()["error"], "invalid_request");
    }
    h.assert_usable(WORKER, &token).await;
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_grant_and_every_access_token_of_it() {
    for hint in [Some("refresh_token"), None, Some("access_token")] {
        let h = Harness::start(AccessTokenFormat::Jwt).await;
        let (first_access, refresh) = h.code_flow().await;
        let rotated = h.refresh(&refresh).await;
        assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
        let second_access = rotated.json()["access_token"].as_str().unwrap().to_owned();
        let refresh = rotated.json()["refresh_token"].as_str().unwrap().to_owned();
        // Another grant of the same client and user is not touched.
        let (other_grant, _) = h.code_flow().await;
        h.assert_usable(WEB, &first_access).await;
        h.assert_usable(WEB, &second_access).await;

        assert_revoked_answer(&h.revoke(WEB, &refresh, hint).await);
        h.assert_dead(WEB, &first_access).await;
        h.assert_dead(WEB, &second_access).await;
        let inactive = h.introspect(WEB, &refresh).await;
        assert_eq!(inactive.body, r#"{"active":false}"#, "hint {hint:?}");
        let refused = h.refresh(&refresh).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(refused.json()["error"], "invalid_grant");
        h.assert_usable(WEB, &other_grant).await;
    }
}

#[tokio::test]
async fn another_clients_refresh_token_is_not_revoked() {
    let h = Harness::start(AccessTokenFormat::Opaque).await;
    let (access, refresh) = h.code_flow().await;
    assert_revoked_answer(&h.revoke(WORKER, &refresh, Some("refresh_token")).await);
    h.assert_usable(WEB, &access).await;
    assert_eq!(h.introspect(WEB, &refresh).await.json()["active"], true);
    assert_eq!(h.refresh(&refresh).await.status, StatusCode::OK);
}
