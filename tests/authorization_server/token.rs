//! The token endpoint: every grant, every client authentication method, PKCE, code
//! replay, refresh rotation and reuse, scopes, formats and limits.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, TokenResponse as _, TokenUrl,
};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};
use sha2::Digest as _;
use tower_bearer::issue::server::{
    AccessTokenFormat, AuthorizationServer, AuthorizationServerBuilder, Client, ClientRegistry, ClientStore, ErrorCode,
    ErrorUris, GeneratorError, Grant, GrantStore, GrantType, MemoryStore, PendingCode, RandomToken, ServerLimits,
    StoreFuture, TokenContext, TokenGenerator, TokenKey,
};
use tower_bearer::issue::{IssuerKey, KeyType};

use crate::common::{self, Reply};

#[path = "faulty_store.rs"]
mod faulty_store;
use faulty_store::FaultyStore;

const AUDIENCE: &str = "https://api.example.com";
/// A client id and secret holding every character RFC 6749 §2.3.1's encoding changes.
const ODD_ID: &str = "odd:client@x+y z";
const ODD_SECRET: &str = "p@ss:w+rd %41 é";
/// The registered confidential clients, as (client_id, client_secret).
const WORKER: (&str, &str) = ("worker", "worker-secret-0123456789");
const WEB: (&str, &str) = ("web", "web-secret-0123456789");
const OTHER_WEB: (&str, &str) = ("other-web", "other-secret-0123456789");
const WEB_REDIRECT: &str = "https://app.example.com/cb";
const SPA_REDIRECT: &str = "http://127.0.0.1:9/cb";
/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn key() -> &'static IssuerKey {
    static KEY: OnceLock<IssuerKey> = OnceLock::new();
    KEY.get_or_init(|| IssuerKey::generate(KeyType::Rsa(2048), Some("k1")).unwrap())
}

fn clients() -> ClientRegistry {
    let cc = |id: &str, secret: &str| {
        Client::confidential(id, secret)
            .unwrap()
            .grant_type(GrantType::ClientCredentials)
            .scope("jobs:read")
            .scope("jobs:write")
    };
    ClientRegistry::new()
        .with(cc(WORKER.0, WORKER.1))
        .unwrap()
        .with(cc(ODD_ID, ODD_SECRET))
        .unwrap()
        .with(
            Client::confidential(WEB.0, WEB.1)
                .unwrap()
                .redirect_uri(WEB_REDIRECT)
                .grant_type(GrantType::AuthorizationCode)
                .grant_type(GrantType::RefreshToken)
                .scope("read")
                .scope("write"),
        )
        .unwrap()
        .with(
            Client::confidential(OTHER_WEB.0, OTHER_WEB.1)
                .unwrap()
                .redirect_uri(WEB_REDIRECT)
                .grant_type(GrantType::AuthorizationCode)
                .grant_type(GrantType::RefreshToken)
                .scope("read"),
        )
        .unwrap()
        .with(
            Client::confidential("no-refresh", "no-refresh-secret")
                .unwrap()
                .redirect_uri(WEB_REDIRECT)
                .grant_type(GrantType::AuthorizationCode)
                .scope("read"),
        )
        .unwrap()
        .with(
            Client::public("spa")
                .redirect_uri(SPA_REDIRECT)
                .grant_type(GrantType::AuthorizationCode)
                .grant_type(GrantType::RefreshToken)
                .scope("read"),
        )
        .unwrap()
}

/// A server on 127.0.0.1 (issuer = its URL) and a handle on its store.
struct Running {
    url: String,
    server: AuthorizationServer,
    store: MemoryStore,
}

impl Running {
    fn token_url(&self) -> String {
        format!("{}/token", self.url)
    }
}

async fn start() -> Running {
    start_with(|b| b).await
}

async fn start_with(settings: impl FnOnce(AuthorizationServerBuilder) -> AuthorizationServerBuilder) -> Running {
    start_on(MemoryStore::new(), settings).await
}

async fn start_on(
    store: MemoryStore,
    settings: impl FnOnce(AuthorizationServerBuilder) -> AuthorizationServerBuilder,
) -> Running {
    start_over(store.clone(), store, settings).await
}

/// A server keeping its state in `store`, which keeps it in `memory`.
async fn start_over(
    store: impl GrantStore,
    memory: MemoryStore,
    settings: impl FnOnce(AuthorizationServerBuilder) -> AuthorizationServerBuilder,
) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let builder = AuthorizationServer::builder(&url, &key().private_jwk().to_json())
        .audience(AUDIENCE)
        .clients(clients())
        .store(store);
    let server = settings(builder).build().unwrap();
    let app = server.router().into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Running { url, server, store: memory }
}

/// The `oauth2` crate's HTTP client, over our reqwest.
use crate::oauth2_http as http;

fn oauth2_client(
    s: &Running,
    id: &str,
    secret: Option<&str>,
) -> BasicClient<
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
> {
    let client = BasicClient::new(ClientId::new(id.into())).set_token_uri(TokenUrl::new(s.token_url()).unwrap());
    match secret {
        Some(secret) => client.set_client_secret(ClientSecret::new(secret.into())),
        None => client.set_auth_type(AuthType::RequestBody),
    }
}

/// A raw form POST; `basic` as RFC 6749 §2.3.1 encodes it.
async fn post(s: &Running, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> Reply {
    let body = serde_urlencoded_body(form);
    post_raw(s, basic, "application/x-www-form-urlencoded", body).await
}

fn serde_urlencoded_body(form: &[(&str, &str)]) -> String {
    form.iter().map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v))).collect::<Vec<_>>().join("&")
}

/// `application/x-www-form-urlencoded` encoding of one value, written out here so the
/// tests do not share the server's code.
fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => char::from(b).to_string(),
            b' ' => "+".to_owned(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn basic_header(id: &str, secret: &str) -> String {
    let credentials = format!("{}:{}", form_encode(id), form_encode(secret));
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials))
}

async fn post_raw(s: &Running, basic: Option<(&str, &str)>, content_type: &str, body: String) -> Reply {
    let mut request = common::client().post(s.token_url()).header("content-type", content_type).body(body);
    if let Some((id, secret)) = basic {
        request = request.header("authorization", basic_header(id, secret));
    }
    reply(request).await
}

/// The header [`by_test_address`] limits count client addresses by.
const TEST_ADDRESS: &str = "x-test-address";

/// `limits` counting failures and public clients' requests per [`TEST_ADDRESS`], as
/// behind a proxy that sets the client's address in a header.
fn by_test_address(limits: ServerLimits) -> ServerLimits {
    limits.address_key(|headers, _peer| headers.get(TEST_ADDRESS)?.to_str().ok().map(str::to_owned))
}

/// [`post`] as from the client address `address`.
async fn post_from(s: &Running, address: &str, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> Reply {
    let mut request = common::client()
        .post(s.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .header(TEST_ADDRESS, address)
        .body(serde_urlencoded_body(form));
    if let Some((id, secret)) = basic {
        request = request.header("authorization", basic_header(id, secret));
    }
    reply(request).await
}

async fn reply(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    Reply { status, headers, body: response.text().await.unwrap() }
}

fn assert_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.json()["error"], code, "{}", reply.body);
    assert_no_store(reply);
}

fn assert_no_store(reply: &Reply) {
    assert_eq!(reply.headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(reply.headers.get("pragma").unwrap(), "no-cache");
    assert_eq!(reply.headers.get("content-type").unwrap(), "application/json");
}

/// The header and claims of a JWT whose RS256 signature verifies with the server
/// key's published JWKS (josekit: not our verifier).
fn verified_jwt(token: &str) -> (Map<String, Value>, Map<String, Value>) {
    use josekit::jwk::Jwk;
    let jwks = key().public_jwks();
    let jwk = Jwk::from_map(jwks["keys"][0].as_object().unwrap().clone()).unwrap();
    let verifier = josekit::jws::RS256.verifier_from_jwk(&jwk).unwrap();
    let (payload, header) = josekit::jwt::decode_with_verifier(token, &verifier).unwrap();
    (header.claims_set().clone(), payload.claims_set().clone())
}

/// Stores a code the way the authorization endpoint does, for `client_id`.
async fn seed_code(s: &Running, client_id: &str, redirect_uri: Option<&str>, scope: &[&str]) -> (String, String) {
    seed_code_until(s, client_id, redirect_uri, scope, now() + 3600, now() + 60).await
}

/// A code whose grant ends at `grant_end` and which is accepted until `code_end`.
async fn seed_code_until(
    s: &Running,
    client_id: &str,
    redirect_uri: Option<&str>,
    scope: &[&str],
    grant_end: u64,
    code_end: u64,
) -> (String, String) {
    let now = now();
    let code = format!("code-{}", rand::random::<u128>());
    let grant_id = Grant::id_for_code(&code);
    let grant = Grant {
        id: grant_id.clone(),
        issuer: s.server.issuer().to_owned(),
        client_id: client_id.into(),
        subject: "alice".into(),
        scope: scope.iter().map(|s| s.to_string()).collect(),
        auth_time: now - 5,
        created_at: now,
        expires_at: grant_end,
        claims: json!({"department": "sales", "sub": "mallory"}).as_object().unwrap().clone(),
    };
    let pending = PendingCode {
        grant,
        redirect_uri: redirect_uri.map(str::to_owned),
        code_challenge: CHALLENGE.into(),
        expires_at: code_end,
    };
    s.store.put_code(&TokenKey::of(&code), pending, Duration::from_secs(60)).await.unwrap();
    (code, grant_id)
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn code_form<'a>(code: &'a str, redirect_uri: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ]
}

fn oauth_error<T: std::error::Error>(
    e: RequestTokenError<T, oauth2::StandardErrorResponse<BasicErrorResponseType>>,
) -> oauth2::StandardErrorResponse<BasicErrorResponseType> {
    match e {
        RequestTokenError::ServerResponse(response) => response,
        other => panic!("expected an OAuth error response, got {other:?}"),
    }
}

// ---- client credentials and client authentication ----

#[tokio::test]
async fn client_credentials_with_basic_auth_of_an_odd_id_and_secret_from_the_oauth2_crate() {
    let s = start().await;
    let token =
        oauth2_client(&s, ODD_ID, Some(ODD_SECRET)).exchange_client_credentials().request_async(&http).await.unwrap();
    assert_eq!(*token.token_type(), oauth2::basic::BasicTokenType::Bearer);
    assert!(token.refresh_token().is_none(), "client credentials get no refresh token (RFC 6749 §4.4.3)");
    // No scope asked: the registered ones (§3.3's documented default).
    let scopes: Vec<String> = token.scopes().unwrap().iter().map(|s| s.to_string()).collect();
    assert_eq!(scopes, ["jobs:read", "jobs:write"]);
    let expires_in = token.expires_in().unwrap().as_secs();
    assert!((3590..=3600).contains(&expires_in), "{expires_in}");
    let (_, claims) = verified_jwt(token.access_token().secret());
    assert_eq!(claims["sub"], ODD_ID, "sub is the client_id for client credentials");
    assert_eq!(claims["client_id"], ODD_ID);
}

#[tokio::test]
async fn client_credentials_with_tower_bearers_own_client_both_methods() {
    let s = start().await;
    for auth in
        [tower_bearer::ClientAuth::basic(ODD_ID, ODD_SECRET), tower_bearer::ClientAuth::post(WORKER.0, WORKER.1)]
    {
        let client = tower_bearer::client::ClientCredentials::builder()
            .token_url(&s.token_url())
            .client_auth(auth)
            .scope("jobs:read")
            .build()
            .unwrap();
        let token = tower_bearer::client::TokenSource::token(&client).await.unwrap();
        let (_, claims) = verified_jwt(token.secret());
        assert_eq!(claims["scope"], "jobs:read");
        assert_eq!(claims["aud"], AUDIENCE);
    }
}

#[tokio::test]
async fn client_secret_post_from_the_oauth2_crate() {
    let s = start().await;
    let client = oauth2_client(&s, WORKER.0, Some(WORKER.1)).set_auth_type(AuthType::RequestBody);
    let token = client
        .exchange_client_credentials()
        .add_scope(Scope::new("jobs:write".into()))
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(token.scopes().unwrap()[0].as_str(), "jobs:write");
}

#[tokio::test]
async fn a_public_client_cannot_use_client_credentials() {
    let s = start().await;
    let reply = post(&s, None, &[("grant_type", "client_credentials"), ("client_id", "spa")]).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "unauthorized_client");
    // A confidential client not registered for it either.
    let reply = post(&s, Some(WEB), &[("grant_type", "client_credentials")]).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "unauthorized_client");
}

/// The challenge of every `401 invalid_client`.
const BASIC_CHALLENGE: &str = r#"Basic realm="token""#;

#[tokio::test]
async fn a_wrong_secret_is_401_invalid_client_with_a_basic_challenge() {
    let s = start().await;
    let reply = post(&s, Some(("worker", "wrong")), &[("grant_type", "client_credentials")]).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client");
    assert_eq!(reply.challenge(), BASIC_CHALLENGE, "{:?}", reply.headers);
    // Unknown client: the same answer.
    let reply = post(&s, Some(("nobody", "wrong")), &[("grant_type", "client_credentials")]).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client");
    // In the body: 401 without a Basic challenge (the client did not try the header).
    let reply =
        post(&s, None, &[("grant_type", "client_credentials"), ("client_id", "worker"), ("client_secret", "wrong")])
            .await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client");
    assert_eq!(reply.challenge(), BASIC_CHALLENGE, "every 401 carries a challenge (RFC 7235 §3.1)");
    // No authentication at all.
    let reply = post(&s, None, &[("grant_type", "client_credentials")]).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client");
    assert_eq!(reply.challenge(), BASIC_CHALLENGE);
    // An unknown public client (`none`).
    let reply = post(&s, None, &[("grant_type", "client_credentials"), ("client_id", "nobody")]).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client");
    assert_eq!(reply.challenge(), BASIC_CHALLENGE);
    // The oauth2 crate sees it as invalid_client too.
    let e =
        oauth2_client(&s, "worker", Some("nope")).exchange_client_credentials().request_async(&http).await.unwrap_err();
    assert_eq!(*oauth_error(e).error(), BasicErrorResponseType::InvalidClient);
}

#[tokio::test]
async fn two_authentication_methods_at_once_are_400() {
    let s = start().await;
    let reply = post(
        &s,
        Some(WORKER),
        &[("grant_type", "client_credentials"), ("client_id", WORKER.0), ("client_secret", WORKER.1)],
    )
    .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn a_repeated_parameter_is_400() {
    let s = start().await;
    let body = "grant_type=client_credentials&scope=jobs:read&scope=jobs:write".to_owned();
    let reply = post_raw(&s, Some(WORKER), "application/x-www-form-urlencoded", body).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(reply.json()["error_description"].as_str().unwrap().contains("scope"), "{}", reply.body);
}

#[tokio::test]
async fn unknown_password_and_implicit_grants_are_unsupported_and_a_missing_one_invalid() {
    let s = start().await;
    for grant in ["password", "implicit", "token", "urn:ietf:params:oauth:grant-type:device_code", "PASSWORD"] {
        let reply =
            post(&s, Some(WORKER), &[("grant_type", grant), ("username", "alice"), ("password", "alice")]).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let reply = post(&s, Some(WORKER), &[("scope", "jobs:read")]).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn scopes_default_subset_and_wider() {
    let s = start().await;
    let ask = |scope: &'static str| {
        let s = &s;
        async move {
            let mut form = vec![("grant_type", "client_credentials")];
            if !scope.is_empty() {
                form.push(("scope", scope));
            }
            post(s, Some(WORKER), &form).await
        }
    };
    let default = ask("").await;
    assert_eq!(default.status, StatusCode::OK, "{}", default.body);
    assert_eq!(default.json()["scope"], "jobs:read jobs:write");
    let subset = ask("jobs:write").await;
    assert_eq!(subset.json()["scope"], "jobs:write");
    let (_, claims) = verified_jwt(subset.json()["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "jobs:write");
    for wider in ["jobs:read admin", "admin", "JOBS:READ"] {
        assert_error(&ask(wider).await, StatusCode::BAD_REQUEST, "invalid_scope");
    }
}

#[tokio::test]
async fn success_and_errors_are_not_cached() {
    let s = start().await;
    let ok = post(&s, Some(WORKER), &[("grant_type", "client_credentials")]).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_no_store(&ok);
    let body = ok.json();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn jwt_access_tokens_follow_rfc_9068_and_are_recorded() {
    let s = start().await;
    let reply = post(&s, Some(WORKER), &[("grant_type", "client_credentials")]).await;
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();
    let (header, claims) = verified_jwt(&token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], "k1");
    for claim in ["iss", "aud", "exp", "iat", "jti", "sub", "client_id", "scope"] {
        assert!(claims.contains_key(claim), "{claim} missing from {claims:?}");
    }
    assert_eq!(claims["iss"], s.url.as_str());
    assert_eq!(claims["aud"], AUDIENCE);
    let (iat, exp) = (claims["iat"].as_u64().unwrap(), claims["exp"].as_u64().unwrap());
    assert_eq!(exp - iat, 3600);
    let record = s.store.access_token(&TokenKey::of(&token)).await.unwrap().expect("every access token has a record");
    assert_eq!(record.jti, claims["jti"].as_str().unwrap());
    assert_eq!((record.issued_at, record.expires_at), (iat, exp));
    assert_eq!(record.subject, "worker");
    assert_eq!(record.audience, AUDIENCE);
    assert!(s.store.grant(&record.grant_id).await.unwrap().is_some(), "client credentials have a grant too");
}

#[tokio::test]
async fn opaque_access_tokens_are_random_and_recorded() {
    let s = start_with(|b| b.access_token_format(AccessTokenFormat::Opaque)).await;
    let reply = post(&s, Some(WORKER), &[("grant_type", "client_credentials")]).await;
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 43, "256 bits, base64url: {token}");
    assert!(!token.contains('.'), "not a JWT");
    let record = s.store.access_token(&TokenKey::of(&token)).await.unwrap().unwrap();
    assert_eq!(record.client_id, "worker");
    assert_eq!(record.scope, ["jobs:read", "jobs:write"]);
    let again = post(&s, Some(WORKER), &[("grant_type", "client_credentials")]).await;
    assert_ne!(again.json()["access_token"], token.as_str());
}

/// A generator that prefixes the default's tokens and names the grant.
struct Prefixed;

impl TokenGenerator for Prefixed {
    fn generate(&self, context: &TokenContext<'_>) -> Result<String, GeneratorError> {
        Ok(format!("{}.{}.{}", context.grant_type.as_str(), context.client_id, RandomToken.generate(context)?))
    }
}

/// One that makes a value no bearer header can carry.
struct Spaces;

impl TokenGenerator for Spaces {
    fn generate(&self, _context: &TokenContext<'_>) -> Result<String, GeneratorError> {
        Ok("has spaces in it".into())
    }
}

#[tokio::test]
async fn pluggable_generators_make_access_and_refresh_tokens() {
    let s = start_with(|b| b.access_token_generator(Prefixed).refresh_token_generator(Prefixed)).await;
    let reply = post(&s, Some(WORKER), &[("grant_type", "client_credentials")]).await;
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("client_credentials.worker."), "{token}");
    assert!(s.store.access_token(&TokenKey::of(&token)).await.unwrap().is_some());
    let (code, _) = seed_code(&s, "web", Some(WEB_REDIRECT), &["read"]).await;
    let reply = post(&s, Some(WEB), &code_form(&code, WEB_REDIRECT, VERIFIER)).await;
    // A refresh token is its grant's id, a dot, and what the generator made.
    let refresh_token = reply.json()["refresh_token"].as_str().unwrap().to_owned();
    let generated = refresh_token.split_once('.').map(|(_, generated)| generated);
    assert!(generated.is_some_and(|g| g.starts_with("authorization_code.web.")), "{}", reply.body);
    // A generator breaking the token syntax issues nothing, and is not a 500.
    let s = start_with(|b| b.access_token_generator(Spaces)).await;
    let reply = post(&s, Some(WORKER), &[("grant_type", "client_credentials")]).await;
    assert_error(&reply, StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
    assert!(!reply.body.contains("has spaces"), "{}", reply.body);
    // A generator with the JWT format is a configuration error, not silently unused.
    let e = AuthorizationServer::builder("https://as.example.com", &key().private_jwk().to_json())
        .audience(AUDIENCE)
        .access_token_generator(Prefixed)
        .access_token_format(AccessTokenFormat::Jwt)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("opaque"), "{e}");
}

// ---- authorization code ----

#[tokio::test]
async fn the_code_grant_with_pkce_from_the_oauth2_crate() {
    let s = start().await;
    let (code, grant_id) = seed_code(&s, "web", Some(WEB_REDIRECT), &["read", "write"]).await;
    let client = oauth2_client(&s, WEB.0, Some(WEB.1)).set_redirect_uri(RedirectUrl::new(WEB_REDIRECT.into()).unwrap());
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(VERIFIER.into()))
        .request_async(&http)
        .await
        .unwrap();
    let (_, claims) = verified_jwt(token.access_token().secret());
    assert_eq!(claims["sub"], "alice", "sub is the user's login in the code flow");
    assert_eq!(claims["client_id"], "web");
    assert_eq!(claims["scope"], "read write");
    assert_eq!(claims["department"], "sales", "the grant's extra claims are carried");
    // seed_code set it 5 s before its own clock read, which may be a second ago now.
    let auth_time = claims["auth_time"].as_u64().unwrap();
    assert!((now() - 6..=now() - 5).contains(&auth_time), "auth_time is the user's login time: {auth_time}");
    let refresh = token.refresh_token().expect("web may refresh").secret().clone();
    let record = s.store.refresh_token(&TokenKey::of(&refresh)).await.unwrap().unwrap();
    assert_eq!(record.grant_id, grant_id);
    assert!(s.store.grant(&grant_id).await.unwrap().is_some(), "the exchange stores the grant");

    // A public client with `none` and PKCE.
    let (code, _) = seed_code(&s, "spa", Some(SPA_REDIRECT), &["read"]).await;
    let client = oauth2_client(&s, "spa", None).set_redirect_uri(RedirectUrl::new(SPA_REDIRECT.into()).unwrap());
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(VERIFIER.into()))
        .request_async(&http)
        .await
        .unwrap();
    assert!(token.refresh_token().is_some());
}

#[tokio::test]
async fn pkce_missing_or_wrong_verifier_is_invalid_grant() {
    let s = start().await;
    let (code, _) = seed_code(&s, "web", Some(WEB_REDIRECT), &["read"]).await;
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", WEB_REDIRECT)];
    assert_error(&post(&s, Some(WEB), &form).await, StatusCode::BAD_REQUEST, "invalid_grant");
    let (code, _) = seed_code(&s, "web", Some(WEB_REDIRECT), &["read"]).await;
    let wrong = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx";
    let reply = post(&s, Some(WEB), &code_form(&code, WEB_REDIRECT, wrong)).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_grant");
    // `plain`: the challenge itself as verifier.
    let (code, _) = seed_code(&s, "web", Some(WEB_REDIRECT), &["read"]).await;
    let reply = post(&s, Some(WEB), &code_form(&code, WEB_REDIRECT, CHALLENGE)).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_grant");
    // The oauth2 crate: a wrong verifier.
    let (code, _) = seed_code(&s, "web", Some(WEB_REDIRECT), &["read"]).await;
    let e = oauth2_client(&s, WEB.0, Some(WEB.1))
        .set_redirect_uri(RedirectUrl::new(WEB_REDIRECT.into()).unwrap())
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(wrong.into()))
        .request_async(&http)
        .await
        .unwrap_err();
    assert_eq!(*oauth_error(e).error(), BasicErrorResponseType::InvalidGrant);
}

#[tokio::test]
async fn a_replayed_code_revokes_what_it_issued() {
    let s = start().await;
    let (code, grant_id) = seed_code(&s, "web", Some(WEB_REDIRECT), &["read"]).await;
    let form = code_form(&code, WEB_REDIRECT, VERIFIER);
    let first = post(&s, Some(WEB), &form).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let refresh = first.json()["refresh_token"].as_str().unwrap().to_owned();
    let access = first.json()["access_token"].as_str().unwrap().to_owned();
    let again = post(&s, Some(WEB), &form).await;
    assert_error(&again, StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(s.store.grant(&grant_id).await.unwrap().is_none(), "the replay revoked the grant");
    // Its access token's grant is gone (what introspection and the verifier check) and
    // its refresh token is refused.
    let record = s.store.access_token(&TokenKey::of(&access)).await.unwrap();
    assert!(record.is_none_or(|r| r.grant_id == grant_id));
    let reply = post(&s, Some(WEB), &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_grant");
    // Unknown code.
    let reply = post(&s, Some(WEB), &code_form("no-such-code", WEB_REDIRECT, VERIFIER)).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn redirect_uri_must_repeat_the_authorization_requests() {
    let s = start().await;
    let (code, _) = seed_code(&s, "web", Some(WEB_REDIRECT), &["read"]).await;
    let reply = post(&s, Some(WEB), &code_form(&code, "https://app.example.com/cb/", VERIFIER)).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_grant");
    // Absent while the authorization request had one.
    let (code, _) = seed_code(&s, "web", Some(WEB_REDIRECT), &["read"]).await;
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("code_verifier", VERIFIER)];
    assert_error(&post(&s, Some(WEB), &form).await, StatusCode::BAD_REQUEST, "invalid_grant");
    // Present while the authorization request had none.
    let (code, _) = seed_code(&s, "web", None, &["read"]).await;
    let reply = post(&s, Some(WEB), &code_form(&code, WEB_REDIRECT, VERIFIER)).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_grant");
    let (code, _) = seed_code(&s, "web", None, &["read"]).await;
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("code_verifier", VERIFIER)];
    assert_eq!(post(&s, Some(WEB), &form).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_code_of_another_client_is_refused() {
    let s = start().await;
    let (code, _) = seed_code(&s, "web", Some(WEB_REDIRECT), &["read"]).await;
    let reply = post(&s, Some(OTHER_WEB), &code_form(&code, WEB_REDIRECT, VERIFIER)).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn no_token_outlives_its_grant_and_an_expired_code_is_refused() {
    let s = start().await;
    let grant_end = now() + 100;
    let (code, _) = seed_code_until(&s, "web", Some(WEB_REDIRECT), &["read"], grant_end, now() + 60).await;
    let reply = post(&s, Some(WEB), &code_form(&code, WEB_REDIRECT, VERIFIER)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let body = reply.json();
    assert!(body["expires_in"].as_u64().unwrap() <= 100, "{body}");
    let (_, claims) = verified_jwt(body["access_token"].as_str().unwrap());
    assert!(claims["exp"].as_u64().unwrap() <= grant_end);
    let refresh = body["refresh_token"].as_str().unwrap();
    let record = s.store.refresh_token(&TokenKey::of(refresh)).await.unwrap().unwrap();
    assert!(record.expires_at <= grant_end, "the refresh token ends with its grant");
    // A code past its own expiry, still in the store, is refused.
    let (code, _) = seed_code_until(&s, "web", Some(WEB_REDIRECT), &["read"], now() + 3600, now() - 1).await;
    let reply = post(&s, Some(WEB), &code_form(&code, WEB_REDIRECT, VERIFIER)).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_grant");
    // A grant already over.
    let (code, _) = seed_code_until(&s, "web", Some(WEB_REDIRECT), &["read"], now() - 1, now() + 60).await;
    let reply = post(&s, Some(WEB), &code_form(&code, WEB_REDIRECT, VERIFIER)).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_grant");
}

// ---- refresh tokens ----

async fn code_tokens(s: &Running, client: (&str, &str), scope: &[&str]) -> (Value, String) {
    let (code, grant_id) = seed_code(s, client.0, Some(WEB_REDIRECT), scope).await;
    let reply = post(s, Some(client), &code_form(&code, WEB_REDIRECT, VERIFIER)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    (reply.json(), grant_id)
}

async fn refresh(s: &Running, client: (&str, &str), token: &str, scope: Option<&str>) -> Reply {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    post(s, Some(client), &form).await
}

#[tokio::test]
async fn refresh_rotates_and_reuse_ends_the_grant() {
    let s = start().await;
    let web = WEB;
    let (tokens, grant_id) = code_tokens(&s, web, &["read", "write"]).await;
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();

    // The oauth2 crate refreshes.
    let client = oauth2_client(&s, WEB.0, Some(WEB.1));
    let refreshed =
        client.exchange_refresh_token(&RefreshToken::new(first.clone())).request_async(&http).await.unwrap();
    let second = refreshed.refresh_token().expect("rotation: a new refresh token").secret().clone();
    assert_ne!(second, first);
    let (_, claims) = verified_jwt(refreshed.access_token().secret());
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["scope"], "read write");

    // The first one again: a replay. The grant ends, the second token with it.
    let reuse = refresh(&s, web, &first, None).await;
    assert_error(&reuse, StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(s.store.grant(&grant_id).await.unwrap().is_none(), "reuse revoked the grant");
    let e = client.exchange_refresh_token(&RefreshToken::new(second)).request_async(&http).await.unwrap_err();
    assert_eq!(*oauth_error(e).error(), BasicErrorResponseType::InvalidGrant);
}

#[tokio::test]
async fn refresh_narrows_scope_but_never_widens_it() {
    let s = start().await;
    let web = WEB;
    let (tokens, _) = code_tokens(&s, web, &["read", "write"]).await;
    let token = tokens["refresh_token"].as_str().unwrap().to_owned();
    // Wider: refused, and the refresh token is not used up by the refusal.
    assert_error(&refresh(&s, web, &token, Some("read admin")).await, StatusCode::BAD_REQUEST, "invalid_scope");
    let narrowed = refresh(&s, web, &token, Some("read")).await;
    assert_eq!(narrowed.status, StatusCode::OK, "{}", narrowed.body);
    assert_eq!(narrowed.json()["scope"], "read");
    // The new refresh token keeps the grant's scope (RFC 6749 §6).
    let next = narrowed.json()["refresh_token"].as_str().unwrap().to_owned();
    let full = refresh(&s, web, &next, None).await;
    assert_eq!(full.json()["scope"], "read write", "{}", full.body);
}

#[tokio::test]
async fn refresh_needs_the_grant_type_and_the_same_client() {
    let s = start().await;
    // A client without refresh_token gets none, and may not refresh.
    let (tokens, _) = code_tokens(&s, ("no-refresh", "no-refresh-secret"), &["read"]).await;
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    let reply = refresh(&s, ("no-refresh", "no-refresh-secret"), "anything", None).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "unauthorized_client");
    // Another client's refresh token is refused, and stays usable by its owner.
    let (tokens, _) = code_tokens(&s, WEB, &["read"]).await;
    let token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let reply = refresh(&s, OTHER_WEB, &token, None).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(refresh(&s, WEB, &token, None).await.status, StatusCode::OK);
    // A revoked grant's refresh token is refused.
    let (tokens, grant_id) = code_tokens(&s, WEB, &["read"]).await;
    s.store.revoke_grant(&grant_id).await.unwrap();
    let reply = refresh(&s, WEB, tokens["refresh_token"].as_str().unwrap(), None).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_grant");
}

/// The refresh token of a successful reply.
fn refresh_token_of(reply: &Reply) -> String {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json()["refresh_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn many_rotations_of_one_grant_fit_a_small_store() {
    // One grant holds its live refresh token and one used marker: a store with room
    // for three (the new token is stored before the old one is used) rotates forever.
    let s = start_on(MemoryStore::new().max_refresh_tokens(3), |b| b).await;
    let web = WEB;
    let (tokens, grant_id) = code_tokens(&s, web, &["read"]).await;
    let mut token = tokens["refresh_token"].as_str().unwrap().to_owned();
    for round in 0..20 {
        let reply = refresh(&s, web, &token, None).await;
        assert_eq!(reply.status, StatusCode::OK, "rotation {round}: {}", reply.body);
        token = refresh_token_of(&reply);
    }
    assert!(s.store.grant(&grant_id).await.unwrap().is_some());
    assert_eq!(refresh(&s, web, &token, None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_used_refresh_token_revokes_however_many_rotations_later() {
    let s = start().await;
    let (tokens, grant_id) = code_tokens(&s, WEB, &["read"]).await;
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let second = refresh_token_of(&refresh(&s, WEB, &first, None).await);
    let third = refresh_token_of(&refresh(&s, WEB, &second, None).await);
    let _fourth = refresh_token_of(&refresh(&s, WEB, &third, None).await);
    // Its marker is gone (a grant keeps one), yet the token names its grant.
    assert!(s.store.refresh_token(&TokenKey::of(&first)).await.unwrap().is_none());
    assert_error(&refresh(&s, WEB, &first, None).await, StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(s.store.grant(&grant_id).await.unwrap().is_none(), "an older token revokes too");
    assert_error(&refresh(&s, WEB, &third, None).await, StatusCode::BAD_REQUEST, "invalid_grant");
}

// Second review of issue 18: an attacker who used a stolen refresh token first and
// rotated once more erased its marker, so the client's reuse revoked nothing and the
// attacker kept the grant.
#[tokio::test]
async fn an_attacker_rotating_twice_cannot_hide_a_stolen_refresh_token() {
    let s = start().await;
    let (tokens, grant_id) = code_tokens(&s, WEB, &["read"]).await;
    let stolen = tokens["refresh_token"].as_str().unwrap().to_owned();
    let attackers = refresh_token_of(&refresh(&s, WEB, &stolen, None).await);
    let attackers = refresh_token_of(&refresh(&s, WEB, &attackers, None).await);
    // The client presents the token it still holds: a replay.
    assert_error(&refresh(&s, WEB, &stolen, None).await, StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(s.store.grant(&grant_id).await.unwrap().is_none(), "the grant is revoked");
    assert_error(&refresh(&s, WEB, &attackers, None).await, StatusCode::BAD_REQUEST, "invalid_grant");
}

// Second and third review: what names a grant is no key to it. The grant id, which a
// reader of the store sees, revokes nothing (only the secret whose hash it is does);
// the secret presented by another client revokes nothing; garbage is only refused.
#[tokio::test]
async fn a_refresh_token_naming_a_grant_without_its_secret_revokes_nothing() {
    let s = start().await;
    let (tokens, grant_id) = code_tokens(&s, WEB, &["read"]).await;
    let live = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (family, _) = live.split_once('.').unwrap();
    assert_eq!(Grant::id_for_code("x").len(), grant_id.len());
    let made_up = "made-up-0123456789-0123456789-0123456789";
    let by_id = format!("{grant_id}.{made_up}");
    assert_error(&refresh(&s, WEB, &by_id, None).await, StatusCode::BAD_REQUEST, "invalid_grant");
    let by_other_client = format!("{family}.{made_up}");
    assert_error(&refresh(&s, OTHER_WEB, &by_other_client, None).await, StatusCode::BAD_REQUEST, "invalid_grant");
    assert_error(&refresh(&s, WEB, "no-grant.made-up", None).await, StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(s.store.grant(&grant_id).await.unwrap().is_some(), "the grant lives");
    assert_eq!(refresh(&s, WEB, &live, None).await.status, StatusCode::OK);
}

// Second review: the grant read after a successful take failed, the tokens were
// discarded, and the client's retry read as a replay that revoked the grant.
#[tokio::test]
async fn a_failed_read_after_the_take_still_answers_the_new_tokens() {
    let store = FaultyStore::new(MemoryStore::new());
    let s = start_over(store.clone(), store.inner.clone(), |b| b).await;
    let (tokens, grant_id) = code_tokens(&s, WEB, &["read"]).await;
    let token = tokens["refresh_token"].as_str().unwrap().to_owned();
    store.faults.fail_grant_after_take.store(true, std::sync::atomic::Ordering::SeqCst);
    let rotated = refresh(&s, WEB, &token, None).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert!(s.store.grant(&grant_id).await.unwrap().is_some(), "the grant lives");
    assert_eq!(refresh(&s, WEB, &refresh_token_of(&rotated), None).await.status, StatusCode::OK);
}

// Second review: two servers of different issuers on one MemoryStore (clones share
// it) took each other's refresh tokens and codes, and minted tokens for them.
#[tokio::test]
async fn servers_sharing_a_memory_store_take_only_their_own_grants() {
    let shared = MemoryStore::new();
    let a = start_on(shared.clone(), |b| b).await;
    let b = start_on(shared.clone(), |b| b).await;
    assert_ne!(a.url, b.url);
    let (tokens, grant_id) = code_tokens(&a, WEB, &["read"]).await;
    let token = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert_error(&refresh(&b, WEB, &token, None).await, StatusCode::BAD_REQUEST, "invalid_grant");
    let (code, _) = seed_code_until(&a, "web", Some(WEB_REDIRECT), &["read"], now() + 600, now() + 60).await;
    let at_b = post(&b, Some(WEB), &code_form(&code, WEB_REDIRECT, VERIFIER)).await;
    assert_error(&at_b, StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(shared.grant(&grant_id).await.unwrap().is_some(), "A's grant is untouched");
    assert_eq!(refresh(&a, WEB, &token, None).await.status, StatusCode::OK, "A's token still works at A");
}

#[tokio::test]
async fn a_refresh_whose_new_token_cannot_be_stored_leaves_the_old_one_usable() {
    let store = FaultyStore::new(MemoryStore::new());
    let s = start_over(store.clone(), store.inner.clone(), |b| b).await;
    let web = WEB;
    let (tokens, grant_id) = code_tokens(&s, web, &["read"]).await;
    let token = tokens["refresh_token"].as_str().unwrap().to_owned();
    store.faults.fail_put_refresh.store(true, std::sync::atomic::Ordering::SeqCst);
    let failed = refresh(&s, web, &token, None).await;
    assert_error(&failed, StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
    // The retry is no replay: the old token was not used.
    let retry = refresh(&s, web, &token, None).await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.body);
    assert!(s.store.grant(&grant_id).await.unwrap().is_some(), "the grant lives");
}

/// The records a refresh wrote before its take went wrong: none may stay usable.
async fn assert_written_are_gone(s: &Running, written: &[TokenKey]) {
    assert!(!written.is_empty(), "the refresh stored its new tokens before the take");
    for key in written {
        assert!(s.store.refresh_token(key).await.unwrap().is_none(), "{key:?} still a refresh token");
        assert!(s.store.access_token(key).await.unwrap().is_none(), "{key:?} still an access token");
    }
}

#[tokio::test]
async fn a_refresh_whose_take_goes_wrong_leaves_no_new_token() {
    use std::sync::atomic::Ordering::SeqCst;
    let store = FaultyStore::new(MemoryStore::new());
    let s = start_over(store.clone(), store.inner.clone(), |b| b.access_token_format(AccessTokenFormat::Opaque)).await;
    let web = WEB;

    // The take fails: 503, what was written is deleted, the old token still works.
    let (tokens, _) = code_tokens(&s, web, &["read"]).await;
    let token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let before = store.written().len();
    store.faults.fail_take.store(true, SeqCst);
    let failed = refresh(&s, web, &token, None).await;
    assert_error(&failed, StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
    assert_written_are_gone(&s, &store.written()[before..]).await;
    assert_eq!(refresh(&s, web, &token, None).await.status, StatusCode::OK, "the retry is no replay");

    // Another request used it between the check and the take: a replay, nothing issued.
    let (tokens, grant_id) = code_tokens(&s, web, &["read"]).await;
    let token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let before = store.written().len();
    store.faults.use_before_take.store(true, SeqCst);
    assert_error(&refresh(&s, web, &token, None).await, StatusCode::BAD_REQUEST, "invalid_grant");
    assert_written_are_gone(&s, &store.written()[before..]).await;
    assert!(s.store.grant(&grant_id).await.unwrap().is_none(), "a concurrent use is a replay");
}

#[tokio::test]
async fn a_refresh_racing_a_revocation_answers_no_token() {
    let store = FaultyStore::new(MemoryStore::new());
    let s = start_over(store.clone(), store.inner.clone(), |b| b).await;
    let web = WEB;
    let (tokens, grant_id) = code_tokens(&s, web, &["read"]).await;
    let token = tokens["refresh_token"].as_str().unwrap().to_owned();
    // The grant is revoked after the refresh checked it, before it answers.
    store.faults.revoke_before_take.store(true, std::sync::atomic::Ordering::SeqCst);
    let reply = refresh(&s, web, &token, None).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(s.store.grant(&grant_id).await.unwrap().is_none());
}

#[tokio::test]
async fn a_code_replay_racing_the_exchange_revokes_what_it_issues() {
    let store = FaultyStore::new(MemoryStore::new());
    let s = Arc::new(start_over(store.clone(), store.inner.clone(), |b| b).await);
    let (code, grant_id) = seed_code(&s, "web", Some(WEB_REDIRECT), &["read"]).await;
    // The exchange takes the code, then waits before storing the grant…
    store.faults.hold_put_grant.store(true, std::sync::atomic::Ordering::SeqCst);
    let exchange = {
        let (s, code) = (s.clone(), code.clone());
        tokio::spawn(async move { post(&s, Some(WEB), &code_form(&code, WEB_REDIRECT, VERIFIER)).await })
    };
    tokio::time::timeout(Duration::from_secs(5), store.faults.put_grant_held.notified()).await.unwrap();
    // …while the replay revokes its grant.
    let replay = post(&s, Some(WEB), &code_form(&code, WEB_REDIRECT, VERIFIER)).await;
    assert_error(&replay, StatusCode::BAD_REQUEST, "invalid_grant");
    let first = tokio::time::timeout(Duration::from_secs(5), exchange).await.unwrap().unwrap();
    assert_error(&first, StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(s.store.grant(&grant_id).await.unwrap().is_none(), "the revocation holds");
}

#[tokio::test]
async fn another_clients_reuse_of_a_used_refresh_token_does_not_revoke() {
    let s = start().await;
    let web = WEB;
    let (tokens, grant_id) = code_tokens(&s, web, &["read"]).await;
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let second = refresh_token_of(&refresh(&s, web, &first, None).await);
    // Another client presenting it cannot end this client's grant.
    let reply = refresh(&s, OTHER_WEB, &first, None).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(s.store.grant(&grant_id).await.unwrap().is_some(), "another client's reuse does not revoke");
    // The grant's own client reusing it does.
    assert_error(&refresh(&s, web, &first, None).await, StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(s.store.grant(&grant_id).await.unwrap().is_none(), "its own client's reuse revokes");
    assert_error(&refresh(&s, web, &second, None).await, StatusCode::BAD_REQUEST, "invalid_grant");
}

/// A generator that always makes the same token, long enough.
struct Constant(&'static str);

impl TokenGenerator for Constant {
    fn generate(&self, _context: &TokenContext<'_>) -> Result<String, GeneratorError> {
        Ok(self.0.to_owned())
    }
}

const REPEATED: &str = "the-same-token-every-time-0123456789";

#[tokio::test]
async fn a_generator_repeating_itself_overwrites_no_record() {
    // Access tokens: the second client-credentials token would take the first's key.
    let s = start_with(|b| b.access_token_generator(Constant(REPEATED))).await;
    let first = post(&s, Some(WORKER), &[("grant_type", "client_credentials")]).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let key = TokenKey::of(REPEATED);
    let record = s.store.access_token(&key).await.unwrap().unwrap();
    let second = post(&s, Some((ODD_ID, ODD_SECRET)), &[("grant_type", "client_credentials")]).await;
    assert_error(&second, StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
    assert_eq!(s.store.access_token(&key).await.unwrap(), Some(record), "the first token's record is kept");

    // Refresh tokens start with their grant's id, so two grants never share one; a
    // rotation would take the live token's key: refused, the live token kept.
    let s = start_with(|b| b.refresh_token_generator(Constant(REPEATED))).await;
    let (tokens, grant_id) = code_tokens(&s, WEB, &["read"]).await;
    let live = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert!(live.ends_with(&format!(".{REPEATED}")), "{live}");
    let rotated = refresh(&s, WEB, &live, None).await;
    assert_error(&rotated, StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
    let record = s.store.refresh_token(&TokenKey::of(&live)).await.unwrap();
    assert_eq!(record.map(|r| r.grant_id), Some(grant_id), "the live token's record is kept, unused");
}

#[tokio::test]
async fn a_generator_making_short_tokens_issues_nothing() {
    for settings in [
        (|b: AuthorizationServerBuilder| b.access_token_generator(Constant("short-but-valid-syntax"))) as fn(_) -> _,
        |b: AuthorizationServerBuilder| b.refresh_token_generator(Constant("short-but-valid-syntax")),
    ] {
        let s = start_with(settings).await;
        let (code, _) = seed_code(&s, "web", Some(WEB_REDIRECT), &["read"]).await;
        let reply = post(&s, Some(WEB), &code_form(&code, WEB_REDIRECT, VERIFIER)).await;
        assert_error(&reply, StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
        assert!(!reply.body.contains("short-but"), "{}", reply.body);
    }
}

// ---- limits, errors, requests ----

#[tokio::test]
async fn token_requests_are_rate_limited_per_client() {
    let s = start_with(|b| b.limits(ServerLimits::default().requests_per_client(2, Duration::from_secs(60)))).await;
    let worker = Some(WORKER);
    for _ in 0..2 {
        assert_eq!(post(&s, worker, &[("grant_type", "client_credentials")]).await.status, StatusCode::OK);
    }
    let limited = post(&s, worker, &[("grant_type", "client_credentials")]).await;
    assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable");
    let retry: u64 = limited.headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Another client has its own budget.
    let odd = post(&s, Some((ODD_ID, ODD_SECRET)), &[("grant_type", "client_credentials")]).await;
    assert_eq!(odd.status, StatusCode::OK, "{}", odd.body);
}

#[tokio::test]
async fn failed_authentications_are_limited_per_client_id_before_the_secret_check() {
    let s = start_with(|b| b.limits(ServerLimits::default().failures_per_client(3))).await;
    let form = [("grant_type", "client_credentials")];
    for _ in 0..3 {
        assert_error(&post(&s, Some(("worker", "guess")), &form).await, StatusCode::UNAUTHORIZED, "invalid_client");
    }
    // Spent: even the right secret waits (it is not checked at all).
    let limited = post(&s, Some(WORKER), &form).await;
    assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable");
    let retry: u64 = limited.headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!((890..=900).contains(&retry), "the rest of the 15-minute window: {retry}");
    // Another client_id is not locked out.
    assert_eq!(post(&s, Some((ODD_ID, ODD_SECRET)), &form).await.status, StatusCode::OK);
    // Successes give their attempt back.
    let s = start_with(|b| b.limits(ServerLimits::default().failures_per_client(1))).await;
    for _ in 0..3 {
        assert_eq!(post(&s, Some(WORKER), &form).await.status, StatusCode::OK);
    }
}

/// Clients kept in a store that answers after a delay, as a database does.
struct SlowClients(ClientRegistry);

impl ClientStore for SlowClients {
    fn client<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Arc<Client>>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            self.0.client(id).await
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_good_requests_of_one_client_do_not_spend_its_failure_budget() {
    // A fleet of one client's instances starting at once, the client store a database:
    // authentications in flight must not count as failures.
    let s =
        start_with(|b| b.clients(SlowClients(clients())).limits(ServerLimits::default().failures_per_client(3))).await;
    let statuses = concurrently(&s, (0..12).map(|_| WORKER.1.to_owned())).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::OK), "{statuses:?}");
    // Guesses in parallel still cannot outrun the budget.
    let statuses = concurrently(&s, (0..12).map(|i| format!("guess-{i}"))).await;
    let checked = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    assert_eq!(checked, 3, "only the budget's guesses were checked: {statuses:?}");
}

/// Client-credentials requests of `worker` with these secrets, all at once.
async fn concurrently(s: &Running, secrets: impl Iterator<Item = String>) -> Vec<StatusCode> {
    let mut set = tokio::task::JoinSet::new();
    for secret in secrets {
        let url = s.token_url();
        set.spawn(async move {
            let request = common::client()
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", basic_header("worker", &secret))
                .body("grant_type=client_credentials");
            request.send().await.unwrap().status()
        });
    }
    set.join_all().await
}

#[tokio::test]
async fn failed_authentications_are_limited_in_total() {
    let s = start_with(|b| b.limits(ServerLimits::default().failures_total(3).failures_per_client(100))).await;
    let form = [("grant_type", "client_credentials")];
    for id in ["a", "b", "c"] {
        assert_error(&post(&s, Some((id, "guess")), &form).await, StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let limited = post(&s, Some(("d", "guess")), &form).await;
    assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable");
}

#[tokio::test]
async fn a_public_clients_request_budget_is_counted_per_address() {
    let limits = ServerLimits::default().requests_per_client(2, Duration::from_secs(60));
    let s = start_with(|b| b.limits(by_test_address(limits))).await;
    // Counted even though it fails: a public client's request needs no secret.
    let spa = [("grant_type", "refresh_token"), ("refresh_token", "not-a-token"), ("client_id", "spa")];
    for _ in 0..2 {
        assert_error(&post_from(&s, "192.0.2.1", None, &spa).await, StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let limited = post_from(&s, "192.0.2.1", None, &spa).await;
    assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable");
    // Anyone can name a public client: the address that spent its budget did not
    // spend another's.
    assert_error(&post_from(&s, "192.0.2.2", None, &spa).await, StatusCode::BAD_REQUEST, "invalid_grant");
    // A confidential client proved its secret: one budget, wherever it calls from.
    let worker = Some(WORKER);
    let form = [("grant_type", "client_credentials")];
    for _ in 0..2 {
        assert_eq!(post_from(&s, "192.0.2.1", worker, &form).await.status, StatusCode::OK);
    }
    let limited = post_from(&s, "192.0.2.2", worker, &form).await;
    assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable");
}

#[tokio::test]
async fn a_public_client_sent_with_a_secret_spends_the_address_budget_not_the_clients() {
    let limits = ServerLimits::default().failures_per_client(2).failures_per_address(4);
    let s = start_with(|b| b.limits(by_test_address(limits))).await;
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", "not-a-token")];
    let post_form = [refresh[0], refresh[1], ("client_id", "spa"), ("client_secret", "a-secret-guess")];
    for _ in 0..3 {
        let reply = post_from(&s, "192.0.2.1", None, &post_form).await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let reply = post_from(&s, "192.0.2.1", Some(("spa", "")), &refresh).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(reply.headers.get("www-authenticate").is_some(), "the Basic header was tried");
    // Counted against the address all the same: no free probing.
    let limited = post_from(&s, "192.0.2.1", None, &post_form).await;
    assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable");
    // The public client itself, from elsewhere, is not locked out.
    let spa = [refresh[0], refresh[1], ("client_id", "spa")];
    assert_error(&post_from(&s, "192.0.2.2", None, &spa).await, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn without_addresses_a_client_with_no_failures_passes_the_total_ceiling() {
    // No peer address, no proxy header: every request is of an unknown address.
    let limits = ServerLimits::default().failures_total(3).failures_per_client(100).address_key(|_, _| None);
    let s = start_with(|b| b.limits(limits)).await;
    let form = [("grant_type", "client_credentials")];
    for (id, secret) in [("worker", "guess-1"), ("worker", "guess-2"), ("unknown", "guess-3")] {
        assert_error(&post(&s, Some((id, secret)), &form).await, StatusCode::UNAUTHORIZED, "invalid_client");
    }
    // The total is spent: a client with failures of its own waits, even with its secret...
    for secret in ["guess-4", WORKER.1] {
        let limited = post(&s, Some(("worker", secret)), &form).await;
        assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable");
    }
    // ...one without is let through to its own budget.
    let odd = post(&s, Some((ODD_ID, ODD_SECRET)), &form).await;
    assert_eq!(odd.status, StatusCode::OK, "{}", odd.body);
}

#[tokio::test]
async fn without_addresses_an_unknown_client_id_does_not_pass_the_total_ceiling() {
    // Fresh junk ids past the ceiling would each add a counter, and enough of them
    // would evict a real client's spent one from the bounded cache.
    let limits = ServerLimits::default().failures_total(2).failures_per_client(100).address_key(|_, _| None);
    let s = start_with(|b| b.limits(limits)).await;
    let form = [("grant_type", "client_credentials")];
    for (id, secret) in [("worker", "guess-1"), ("unknown-1", "guess-2")] {
        assert_error(&post(&s, Some((id, secret)), &form).await, StatusCode::UNAUTHORIZED, "invalid_client");
    }
    for id in ["unknown-2", "unknown-3"] {
        let limited = post(&s, Some((id, "guess")), &form).await;
        assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable");
        let public = post(&s, None, &[("grant_type", "client_credentials"), ("client_id", id)]).await;
        assert_error(&public, StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable");
    }
    // A registered client with no failures of its own still passes.
    let odd = post(&s, Some((ODD_ID, ODD_SECRET)), &form).await;
    assert_eq!(odd.status, StatusCode::OK, "{}", odd.body);
    assert_eq!(post(&s, Some(WEB), &[("grant_type", "refresh_token"), ("refresh_token", "x")]).await.status, 400);
}

/// [`clients`] in a store that matches ids ignoring ASCII case, as a database column
/// with a case-insensitive collation does.
struct CaseInsensitiveClients(ClientRegistry);

impl ClientStore for CaseInsensitiveClients {
    fn client<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Arc<Client>>> {
        let found = self.0.clients().find(|c| c.id().eq_ignore_ascii_case(id)).cloned().map(Arc::new);
        Box::pin(async move { Ok(found) })
    }
}

#[tokio::test]
async fn a_client_store_matching_loosely_gives_no_spelling_of_an_id_its_own_budget() {
    let limits = ServerLimits::default().failures_per_client(2);
    let s = start_with(|b| b.clients(CaseInsensitiveClients(clients())).limits(limits)).await;
    let form = [("grant_type", "client_credentials")];
    // Only the id as registered authenticates: another spelling is an unknown client,
    // whose guesses test nothing.
    for id in ["WORKER", "Worker"] {
        let reply = post(&s, Some((id, WORKER.1)), &form).await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client");
    }
    assert_eq!(post(&s, Some(WORKER), &form).await.status, StatusCode::OK);
    // Spelled as registered, the guesses spend the client's one budget.
    for secret in ["guess-1", "guess-2"] {
        assert_error(&post(&s, Some((WORKER.0, secret)), &form).await, StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let limited = post(&s, Some(WORKER), &form).await;
    assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable");
}

#[tokio::test]
async fn a_secret_shorter_than_16_bytes_never_authenticates() {
    // Client::confidential refuses such secrets; a hash made of one slips past that.
    let registry = [("empty", ""), ("short", "fifteen-bytes!!"), ("long", "sixteen-bytes!!!")].into_iter().fold(
        ClientRegistry::new(),
        |registry, (id, secret)| {
            let hash = tower_bearer::issue::server::SecretHash::new(secret).unwrap();
            registry.with(Client::with_secret_hash(id, hash).grant_type(GrantType::ClientCredentials)).unwrap()
        },
    );
    let s = start_with(|b| b.clients(registry)).await;
    let form = [("grant_type", "client_credentials")];
    for short in [("empty", ""), ("short", "fifteen-bytes!!")] {
        assert_error(&post(&s, Some(short), &form).await, StatusCode::UNAUTHORIZED, "invalid_client");
        let (id, secret) = short;
        let post_form = [form[0], ("client_id", id), ("client_secret", secret)];
        assert_error(&post(&s, None, &post_form).await, StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let long = post(&s, Some(("long", "sixteen-bytes!!!")), &form).await;
    assert_eq!(long.status, StatusCode::OK, "{}", long.body);
}

#[tokio::test]
async fn a_public_client_naming_itself_reserves_no_failure_attempt() {
    // It cannot fail authentication: an address that spent its failure budget still
    // reaches the grant (and the request budget) with it.
    let limits = ServerLimits::default().failures_per_address(1);
    let s = start_with(|b| b.limits(by_test_address(limits))).await;
    let form = [("grant_type", "client_credentials")];
    let address = "192.0.2.1";
    assert_error(
        &post_from(&s, address, Some((WORKER.0, "guess")), &form).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    );
    let limited = post_from(&s, address, Some(WORKER), &form).await;
    assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable");
    let spa = [("grant_type", "refresh_token"), ("refresh_token", "not-a-token"), ("client_id", "spa")];
    assert_error(&post_from(&s, address, None, &spa).await, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn requests_without_a_client_address_are_warned_about_once() {
    let s = start().await;
    let (logs, _guard) = common::logs::Capture::start();
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "application/x-www-form-urlencoded".parse().unwrap());
    headers.insert("authorization", basic_header(WORKER.0, WORKER.1).parse().unwrap());
    for _ in 0..2 {
        let response = s.server.token_response(&headers, b"grant_type=client_credentials", None).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let text = logs.text();
    assert_eq!(text.matches("WARN").count(), 1, "{text}");
    assert!(text.contains("no client address"), "{text}");
    // With an address, nothing to warn about.
    let s = start().await;
    let (logs, _guard) = common::logs::Capture::start();
    let peer = Some(SocketAddr::from(([192, 0, 2, 1], 4000)));
    let response = s.server.token_response(&headers, b"grant_type=client_credentials", peer).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!logs.text().contains("WARN"), "{}", logs.text());
}

#[tokio::test]
async fn a_success_does_not_give_back_the_failures_before_it() {
    // An attacker guessing between the real client's successes still gets 3 guesses
    // in the window, not 3 per success.
    let s = start_with(|b| b.limits(ServerLimits::default().failures_per_client(3))).await;
    let form = [("grant_type", "client_credentials")];
    let attempt = |secret: &'static str| post(&s, Some(("worker", secret)), &form);
    for secret in ["guess-1", "guess-2"] {
        assert_error(&attempt(secret).await, StatusCode::UNAUTHORIZED, "invalid_client");
    }
    assert_eq!(attempt(WORKER.1).await.status, StatusCode::OK);
    assert_error(&attempt("guess-3").await, StatusCode::UNAUTHORIZED, "invalid_client");
    for secret in ["guess-4", WORKER.1] {
        assert_error(&attempt(secret).await, StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable");
    }
}

#[test]
fn a_confidential_clients_secret_has_at_least_16_bytes() {
    for short in ["", "fifteen-bytes!!"] {
        let e = Client::confidential("c", short).unwrap_err();
        assert!(e.to_string().contains("16 bytes"), "{e}");
    }
    assert!(Client::confidential("c", "sixteen-bytes!!!").is_ok());
    let registration = |secret: &str| {
        format!(r#"[{{"client_id": "c", "client_secret": "{secret}", "grant_types": ["client_credentials"]}}]"#)
    };
    let e = ClientRegistry::from_json(&registration("short-secret")).unwrap_err();
    assert!(e.to_string().contains("16 bytes") && !e.to_string().contains("short-secret"), "{e}");
    assert!(ClientRegistry::from_json(&registration("sixteen-bytes!!!")).is_ok());
}

#[tokio::test]
async fn error_uris_are_sent_with_their_codes() {
    let uris = ErrorUris::new()
        .with(ErrorCode::InvalidScope, "https://docs.example.com/oauth#scope")
        .with(ErrorCode::InvalidClient, "https://docs.example.com/oauth#client");
    let s = start_with(|b| b.error_uris(uris)).await;
    let reply = post(&s, Some(WORKER), &[("grant_type", "client_credentials"), ("scope", "admin")]).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_scope");
    assert_eq!(reply.json()["error_uri"], "https://docs.example.com/oauth#scope");
    let e = oauth2_client(&s, "worker", Some("wrong"))
        .exchange_client_credentials()
        .request_async(&http)
        .await
        .unwrap_err();
    assert_eq!(oauth_error(e).error_uri().unwrap(), "https://docs.example.com/oauth#client");
    // A code without a registered URI has none.
    let reply = post(&s, Some(WORKER), &[("grant_type", "password")]).await;
    assert!(reply.json().get("error_uri").is_none(), "{}", reply.body);
}

#[tokio::test]
async fn the_body_must_be_a_small_form() {
    let s = start().await;
    let worker = Some(WORKER);
    let json = post_raw(&s, worker, "application/json", r#"{"grant_type":"client_credentials"}"#.into()).await;
    assert_error(&json, StatusCode::BAD_REQUEST, "invalid_request");
    let charset = post_raw(
        &s,
        worker,
        "application/x-www-form-urlencoded; charset=UTF-8",
        "grant_type=client_credentials".into(),
    )
    .await;
    assert_eq!(charset.status, StatusCode::OK, "{}", charset.body);
    let big = format!("grant_type=client_credentials&pad={}", "x".repeat(17 * 1024));
    let reply = post_raw(&s, worker, "application/x-www-form-urlencoded", big).await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");
}

#[tokio::test]
async fn a_store_that_refuses_is_503_never_500() {
    let s = start_on(MemoryStore::new().max_grants(0), |b| b).await;
    let reply = post(&s, Some(WORKER), &[("grant_type", "client_credentials")]).await;
    assert_error(&reply, StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
    let (code, _) = seed_code(&s, "web", Some(WEB_REDIRECT), &["read"]).await;
    let reply = post(&s, Some(WEB), &code_form(&code, WEB_REDIRECT, VERIFIER)).await;
    assert_error(&reply, StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
}

#[tokio::test]
async fn token_response_serves_apps_that_mount_it_themselves() {
    let s = start().await;
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "application/x-www-form-urlencoded".parse().unwrap());
    headers.insert("authorization", basic_header(WORKER.0, WORKER.1).parse().unwrap());
    let response = s.server.token_response(&headers, b"grant_type=client_credentials", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let too_big = vec![b'a'; 17 * 1024];
    let response = s.server.token_response(&headers, &too_big, None).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[test]
fn sha256_of_the_verifier_is_the_challenge() {
    // The fixture itself: RFC 7636 Appendix B.
    let digest = sha2::Sha256::digest(VERIFIER.as_bytes());
    assert_eq!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest), CHALLENGE);
}
