//! The authorization endpoint: an axum app of its own with `GET /authorize` (the
//! login and consent page) and `POST /authorize` (the decision), driven by a
//! browser-like client that does not follow redirects.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use reqwest::Url;
use reqwest::header::HeaderMap;
use tower_bearer::issue::server::{
    AuthorizationRequest, AuthorizationServer, Client, ClientRegistry, Consent, Decision, ErrorCode, GrantStore as _,
    GrantType, MemoryStore, Taken, TokenKey, escape_html, form_value, secure_page,
};
use tower_bearer::issue::{IssuerKey, KeyType};

/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

const WEB_CB: &str = "https://app.example.com/callback";
const MULTI_CB_A: &str = "https://multi.example.com/a";
const MULTI_CB_B: &str = "https://multi.example.com/b";
const TENANT_CB: &str = "https://tenant.example.com/cb?tenant=7";

struct Fixture {
    base: String,
    issuer: String,
    server: AuthorizationServer,
    store: MemoryStore,
    jwks: serde_json::Value,
}

impl Fixture {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let key = IssuerKey::generate(KeyType::P256, None).unwrap();
        let clients = ClientRegistry::new()
            .with(
                Client::confidential("web", "a long random secret for web")
                    .unwrap()
                    .redirect_uri(WEB_CB)
                    .grant_type(GrantType::AuthorizationCode)
                    .grant_type(GrantType::RefreshToken)
                    .scope("read")
                    .scope("write"),
            )
            .unwrap()
            .with(
                Client::public("multi")
                    .redirect_uri(MULTI_CB_A)
                    .redirect_uri(MULTI_CB_B)
                    .grant_type(GrantType::AuthorizationCode)
                    .scope("read"),
            )
            .unwrap()
            .with(Client::public("tenant").redirect_uri(TENANT_CB).grant_type(GrantType::AuthorizationCode))
            .unwrap()
            .with(
                // Registered with a redirect URI but not for the code grant.
                Client::confidential("worker", "a long random secret for worker")
                    .unwrap()
                    .redirect_uri("https://worker.example.com/cb")
                    .grant_type(GrantType::ClientCredentials)
                    .scope("jobs"),
            )
            .unwrap();
        let store = MemoryStore::new();
        let server = AuthorizationServer::builder(&issuer, &key.private_jwk().to_json())
            .audience(format!("{issuer}/api"))
            .clients(clients)
            .store(store.clone())
            .build()
            .unwrap();
        let app =
            Router::new().route("/authorize", get(show).post(decide)).with_state(server.clone()).merge(server.router());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let jwks = key.public_jwks().clone();
        Self { base: format!("{issuer}/authorize"), issuer, server, store, jwks }
    }

    async fn get(&self, query: &str) -> Answer {
        Answer::of(browser().get(format!("{}?{query}", self.base)).send().await.unwrap()).await
    }

    async fn post(&self, fields: &[(String, String)]) -> Answer {
        Answer::of(browser().post(&self.base).form(fields).send().await.unwrap()).await
    }

    /// The page for `query` (must be the consent page), then its form posted with
    /// `extra` fields (login, password, consent) after `edit` changed the hidden ones.
    async fn consent(
        &self,
        query: &str,
        edit: impl FnOnce(&mut Vec<(String, String)>),
        extra: &[(&str, &str)],
    ) -> Answer {
        let page = self.get(query).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let mut fields = hidden_fields(&page.body);
        edit(&mut fields);
        fields.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self.post(&fields).await
    }

    /// Asserts `answer` is the 303 error redirect to `to` with `error`, `state` and
    /// `iss`, and no code.
    fn assert_error_redirect(&self, answer: &Answer, to: &str, error: &str, state: Option<&str>) {
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let location = answer.location().unwrap_or_else(|| panic!("no Location: {}", answer.body));
        assert!(location.as_str().starts_with(to), "{location} is not {to}");
        let q = query(&location);
        assert_eq!(q.get("error").map(String::as_str), Some(error), "{location}");
        assert_eq!(q.get("state").map(String::as_str), state, "{location}");
        assert_eq!(q.get("iss"), Some(&self.issuer), "{location}");
        assert!(!q.contains_key("code"), "{location}");
        assert_no_store(&answer.headers);
    }
}

/// The application's page: validates, then shows the form with the hidden fields.
async fn show(State(server): State<AuthorizationServer>, RawQuery(query): RawQuery) -> Response {
    match server.validate_authorization_request(query.unwrap_or_default().as_bytes()).await {
        Ok(request) => consent_page(&request, ""),
        Err(error) => error.into_response(),
    }
}

fn consent_page(request: &AuthorizationRequest, message: &str) -> Response {
    secure_page(format!(
        "<!doctype html><title>Sign in</title><p>{}</p><form method=\"post\" action=\"/authorize\">\n{}\
         <p>{} asks for {}</p><input name=\"login\"><input name=\"password\" type=\"password\">\
         <button name=\"consent\" value=\"allow\">Allow</button><button name=\"consent\" value=\"deny\">Deny</button></form>",
        escape_html(message),
        request.hidden_inputs_html(),
        escape_html(request.client_id()),
        escape_html(&request.scopes().join(" ")),
    ))
}

/// The application's decision: validates the posted hidden fields again, checks the
/// demo user, answers.
async fn decide(State(server): State<AuthorizationServer>, body: Bytes) -> Response {
    let request = match server.validate_authorization_request(&body).await {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let decision = match form_value(&body, "consent").as_deref() {
        Some("deny") => Decision::Deny,
        Some("allow") => {
            let (login, password) = (form_value(&body, "login"), form_value(&body, "password"));
            if (login.as_deref(), password.as_deref()) != (Some("alice"), Some("alice")) {
                let mut page = consent_page(&request, "wrong login or password");
                *page.status_mut() = StatusCode::UNAUTHORIZED;
                return page;
            }
            Decision::Allow(Consent::new("alice"))
        }
        _ => return (StatusCode::BAD_REQUEST, "choose allow or deny").into_response(),
    };
    server.create_authorization_response(&request, decision).await.into_response()
}

/// A browser that shows redirects instead of following them.
fn browser() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap())
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    async fn of(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        Self { status, headers, body: response.text().await.unwrap() }
    }

    fn location(&self) -> Option<Url> {
        self.headers.get("location").map(|l| Url::parse(l.to_str().unwrap()).unwrap())
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
    }

    /// An error page: `400`, HTML, no redirect, not frameable.
    fn assert_page(&self, status: StatusCode, description_part: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert!(self.location().is_none(), "an error page must not redirect");
        assert!(self.header("content-type").starts_with("text/html"), "{:?}", self.headers);
        assert!(self.body.contains(description_part), "{:?} not in {}", description_part, self.body);
        assert_unframeable(&self.headers);
    }
}

fn query(url: &Url) -> std::collections::HashMap<String, String> {
    let mut seen = std::collections::HashMap::new();
    for (k, v) in url.query_pairs() {
        assert!(seen.insert(k.to_string(), v.to_string()).is_none(), "{k} twice in {url}");
    }
    seen
}

fn assert_unframeable(headers: &HeaderMap) {
    assert_eq!(headers.get("x-frame-options").unwrap(), "DENY");
    let csp = headers.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_no_store(headers);
}

fn assert_no_store(headers: &HeaderMap) {
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
}

/// The hidden inputs of a page made by `hidden_inputs_html`, unescaped.
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let unescape = |s: &str| {
        s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
    };
    html.lines()
        .filter_map(|line| line.strip_prefix("<input type=\"hidden\" name=\""))
        .map(|rest| {
            let (name, rest) = rest.split_once("\" value=\"").unwrap();
            let value = rest.strip_suffix("\">").unwrap();
            (unescape(name), unescape(value))
        })
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn set(fields: &mut Vec<(String, String)>, name: &str, value: &str) {
    fields.retain(|(k, _)| k != name);
    fields.push((name.into(), value.into()));
}

fn pkce() -> String {
    format!("code_challenge={CHALLENGE}&code_challenge_method=S256")
}

fn web_query(state: &str) -> String {
    format!("response_type=code&client_id=web&redirect_uri={}&scope=read&state={state}&{}", urlencode(WEB_CB), pkce())
}

fn urlencode(s: &str) -> String {
    Url::parse_with_params("http://x/", [("v", s)]).unwrap().query().unwrap().trim_start_matches("v=").to_owned()
}

const ALLOW: &[(&str, &str)] = &[("login", "alice"), ("password", "alice"), ("consent", "allow")];
const DENY: &[(&str, &str)] = &[("login", "alice"), ("password", "alice"), ("consent", "deny")];

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test]
async fn consent_allowed_redirects_with_a_stored_single_use_code_state_and_iss() {
    let f = Fixture::start().await;
    let page = f.get(&web_query("xyz")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_unframeable(&page.headers);
    let fields = hidden_fields(&page.body);
    assert_eq!(
        fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>(),
        [
            ("response_type", "code"),
            ("client_id", "web"),
            ("redirect_uri", WEB_CB),
            ("scope", "read"),
            ("state", "xyz"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]
    );

    let answer = f.consent(&web_query("xyz"), |_| {}, ALLOW).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_no_store(&answer.headers);
    assert_eq!(answer.header("referrer-policy"), "no-referrer");
    let location = answer.location().unwrap();
    assert_eq!(&location.as_str()[..WEB_CB.len() + 1], format!("{WEB_CB}?"));
    let q = query(&location);
    assert_eq!(q.keys().count(), 3, "{location}");
    assert_eq!((q["state"].as_str(), q["iss"].as_str()), ("xyz", f.issuer.as_str()));
    let code = &q["code"];
    assert_eq!(code.len(), 43, "256 bits, base64url");

    // What the token endpoint will find under the code.
    let Taken::First(pending) = f.store.take_code(&TokenKey::of(code)).await.unwrap() else {
        panic!("the code is not stored");
    };
    assert_eq!(pending.redirect_uri.as_deref(), Some(WEB_CB));
    assert_eq!(pending.code_challenge, CHALLENGE);
    assert!(pending.expires_at <= now() + 61 && pending.expires_at >= now() + 55, "{}", pending.expires_at);
    let grant = &pending.grant;
    assert_eq!((grant.client_id.as_str(), grant.subject.as_str()), ("web", "alice"));
    assert_eq!(grant.scope, ["read"]);
    assert!(grant.expires_at >= now() + 29 * 24 * 3600, "{}", grant.expires_at);
    assert!(matches!(f.store.take_code(&TokenKey::of(code)).await.unwrap(), Taken::Again { .. }));

    // Two consents, two codes, two grants.
    let again = f.consent(&web_query("xyz"), |_| {}, ALLOW).await;
    let other = query(&again.location().unwrap());
    assert_ne!(&other["code"], code);
    let Taken::First(second) = f.store.take_code(&TokenKey::of(&other["code"])).await.unwrap() else { panic!() };
    assert_ne!(second.grant.id, grant.id);
}

#[tokio::test]
async fn consent_denied_redirects_access_denied_with_state_and_iss() {
    let f = Fixture::start().await;
    let answer = f.consent(&web_query("s-1"), |_| {}, DENY).await;
    f.assert_error_redirect(&answer, WEB_CB, "access_denied", Some("s-1"));
    assert_eq!(answer.header("referrer-policy"), "no-referrer");
}

#[tokio::test]
async fn a_wrong_password_shows_the_page_again_and_redirects_nowhere() {
    let f = Fixture::start().await;
    let answer =
        f.consent(&web_query("s"), |_| {}, &[("login", "alice"), ("password", "bob"), ("consent", "allow")]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.location().is_none());
    assert_eq!(hidden_fields(&answer.body).len(), 7, "{}", answer.body);
}

#[tokio::test]
async fn redirect_uri_is_matched_exactly_or_the_user_sees_an_error_page() {
    let f = Fixture::start().await;
    for uri in [
        "https://app.example.com/callback/",
        "https://APP.example.com/callback",
        "https://app.example.com/Callback",
        "https://app.example.com/callback?x=1",
        "https://app.example.com/callback#f",
        "https://app.example.com/callbackx",
        "https://app.example.com:443/callback",
        "http://app.example.com/callback",
        "https://evil.example/callback",
        MULTI_CB_A,
    ] {
        let q = format!("response_type=code&client_id=web&redirect_uri={}&state=s&{}", urlencode(uri), pkce());
        f.get(&q).await.assert_page(StatusCode::BAD_REQUEST, "redirect_uri is not registered");
    }
    // Even when something else is wrong as well: the bad redirect_uri wins.
    let q = format!("response_type=token&client_id=web&redirect_uri={}&state=s", urlencode("https://evil.example/cb"));
    f.get(&q).await.assert_page(StatusCode::BAD_REQUEST, "redirect_uri is not registered");
}

#[tokio::test]
async fn a_missing_redirect_uri_is_an_error_page_unless_exactly_one_is_registered() {
    let f = Fixture::start().await;
    let several = format!("response_type=code&client_id=multi&state=s&{}", pkce());
    f.get(&several).await.assert_page(StatusCode::BAD_REQUEST, "redirect_uri is required");

    // One registered: used, and not in the hidden fields (so the token request need not repeat it).
    let one = format!("response_type=code&client_id=web&state=s&{}", pkce());
    let answer = f.consent(&one, |fields| assert_eq!(field(fields, "redirect_uri"), None, "{fields:?}"), ALLOW).await;
    let location = answer.location().unwrap();
    assert!(location.as_str().starts_with(WEB_CB), "{location}");
    let Taken::First(pending) = f.store.take_code(&TokenKey::of(&query(&location)["code"])).await.unwrap() else {
        panic!()
    };
    assert_eq!(pending.redirect_uri, None);
    assert_eq!(pending.grant.scope, ["read", "write"], "no scope asked: the registered ones");
}

#[tokio::test]
async fn an_unknown_or_missing_client_is_an_error_page() {
    let f = Fixture::start().await;
    let unknown = format!("response_type=code&client_id=nobody&redirect_uri={}&state=s&{}", urlencode(WEB_CB), pkce());
    f.get(&unknown).await.assert_page(StatusCode::BAD_REQUEST, "unknown client");
    let long = format!("response_type=code&client_id={}&state=s&{}", "w".repeat(5000), pkce());
    f.get(&long).await.assert_page(StatusCode::BAD_REQUEST, "unknown client");
    let missing = format!("response_type=code&redirect_uri={}&state=s&{}", urlencode(WEB_CB), pkce());
    f.get(&missing).await.assert_page(StatusCode::BAD_REQUEST, "client_id");
    f.get("").await.assert_page(StatusCode::BAD_REQUEST, "client_id");
}

#[tokio::test]
async fn other_errors_are_redirected_with_state_and_iss() {
    let f = Fixture::start().await;
    let base = format!("client_id=web&redirect_uri={}&state=st%20%26x", urlencode(WEB_CB));
    let cases = [
        (format!("{base}&response_type=code&scope=admin&{}", pkce()), "invalid_scope"),
        (format!("{base}&response_type=code&scope=read+admin&{}", pkce()), "invalid_scope"),
        (format!("{base}&response_type=code&scope=read"), "invalid_request"),
        (format!("{base}&response_type=code&code_challenge={CHALLENGE}"), "invalid_request"),
        (
            format!("{base}&response_type=code&code_challenge={CHALLENGE}&code_challenge_method=plain"),
            "invalid_request",
        ),
        (format!("{base}&response_type=code&code_challenge_method=S256"), "invalid_request"),
        (format!("{base}&response_type=code&code_challenge=short&code_challenge_method=S256"), "invalid_request"),
        (format!("{base}&response_type=token&{}", pkce()), "unsupported_response_type"),
        (format!("{base}&response_type=code+id_token&{}", pkce()), "unsupported_response_type"),
        (format!("{base}&{}", pkce()), "invalid_request"),
    ];
    for (q, error) in &cases {
        f.assert_error_redirect(&f.get(q).await, WEB_CB, error, Some("st &x"));
    }
    // Without state: still iss, and no state invented.
    let q = format!("client_id=web&redirect_uri={}&response_type=token&{}", urlencode(WEB_CB), pkce());
    f.assert_error_redirect(&f.get(&q).await, WEB_CB, "unsupported_response_type", None);
    // A client not registered for the code grant.
    let q = format!(
        "client_id=worker&redirect_uri={}&response_type=code&state=w&{}",
        urlencode("https://worker.example.com/cb"),
        pkce()
    );
    f.assert_error_redirect(&f.get(&q).await, "https://worker.example.com/cb", "unauthorized_client", Some("w"));
}

#[tokio::test]
async fn the_registered_query_is_kept_and_parameters_are_appended() {
    let f = Fixture::start().await;
    let q = format!("response_type=code&client_id=tenant&redirect_uri={}&state=t&{}", urlencode(TENANT_CB), pkce());
    let answer = f.consent(&q, |_| {}, ALLOW).await;
    let location = answer.location().unwrap();
    let pairs: Vec<String> = location.query_pairs().map(|(k, _)| k.into_owned()).collect();
    assert_eq!(pairs, ["tenant", "code", "state", "iss"], "{location}");
    assert_eq!(query(&location)["tenant"], "7");
    assert!(location.as_str().starts_with(&format!("{TENANT_CB}&code=")), "{location}");

    let denied = f.consent(&q, |_| {}, DENY).await;
    assert!(denied.location().unwrap().as_str().starts_with(&format!("{TENANT_CB}&error=access_denied")));
}

#[tokio::test]
async fn the_consent_post_is_validated_again() {
    let f = Fixture::start().await;
    // Another redirect_uri, registered for nobody: an error page, nothing sent there.
    let answer = f.consent(&web_query("s"), |h| set(h, "redirect_uri", "https://evil.example/cb"), ALLOW).await;
    answer.assert_page(StatusCode::BAD_REQUEST, "redirect_uri is not registered");
    // Another client's registered URI.
    let answer = f.consent(&web_query("s"), |h| set(h, "redirect_uri", MULTI_CB_A), ALLOW).await;
    answer.assert_page(StatusCode::BAD_REQUEST, "redirect_uri is not registered");
    // Another client.
    let answer = f.consent(&web_query("s"), |h| set(h, "client_id", "nobody"), ALLOW).await;
    answer.assert_page(StatusCode::BAD_REQUEST, "unknown client");
    // PKCE dropped, or downgraded.
    let answer = f.consent(&web_query("s"), |h| h.retain(|(k, _)| k != "code_challenge"), ALLOW).await;
    f.assert_error_redirect(&answer, WEB_CB, "invalid_request", Some("s"));
    let answer = f.consent(&web_query("s"), |h| set(h, "code_challenge_method", "plain"), ALLOW).await;
    f.assert_error_redirect(&answer, WEB_CB, "invalid_request", Some("s"));
    // A scope widened past the registration.
    let answer = f.consent(&web_query("s"), |h| set(h, "scope", "read admin"), ALLOW).await;
    f.assert_error_redirect(&answer, WEB_CB, "invalid_scope", Some("s"));
    // A hidden field repeated with another value.
    let answer = f.consent(&web_query("s"), |h| h.push(("code_challenge".into(), VERIFIER.into())), ALLOW).await;
    f.assert_error_redirect(&answer, WEB_CB, "invalid_request", Some("s"));
    // A widened scope the client registered is what it asks for now: that is a new request.
    let answer = f.consent(&web_query("s"), |h| set(h, "scope", "read write"), ALLOW).await;
    let code = query(&answer.location().unwrap())["code"].clone();
    let Taken::First(pending) = f.store.take_code(&TokenKey::of(&code)).await.unwrap() else { panic!() };
    assert_eq!(pending.grant.scope, ["read", "write"]);
}

#[tokio::test]
async fn repeated_parameters_are_refused() {
    let f = Fixture::start().await;
    // Before the client and its URI are trusted: an error page.
    for q in [
        format!("{}&client_id=web", web_query("s")),
        format!("{}&client_id=multi", web_query("s")),
        format!("{}&redirect_uri={}", web_query("s"), urlencode(WEB_CB)),
        format!("{}&state=t", web_query("s")),
        format!("{}&state=", web_query("s")),
    ] {
        f.get(&q).await.assert_page(StatusCode::BAD_REQUEST, "is repeated");
    }
    // After: an error redirect.
    for q in [
        format!("{}&scope=write", web_query("s")),
        format!("{}&response_type=code", web_query("s")),
        format!("{}&code_challenge={CHALLENGE}", web_query("s")),
    ] {
        f.assert_error_redirect(&f.get(&q).await, WEB_CB, "invalid_request", Some("s"));
    }
}

#[tokio::test]
async fn state_is_echoed_exactly_through_the_form_and_bounded() {
    let f = Fixture::start().await;
    let state = r#"a b&c=d<script>"'%2F/é"#;
    let answer = f.consent(&web_query(&urlencode(state)), |_| {}, ALLOW).await;
    assert_eq!(query(&answer.location().unwrap())["state"], state);
    let page = f.get(&web_query(&urlencode(state))).await;
    assert!(!page.body.contains("<script>"), "{}", page.body);

    assert_eq!(f.get(&web_query(&"s".repeat(1024))).await.status, StatusCode::OK);
    let long = f.get(&web_query(&"s".repeat(1025))).await;
    long.assert_page(StatusCode::BAD_REQUEST, "state");
    let huge = f.get(&web_query(&"s".repeat(20_000))).await;
    huge.assert_page(StatusCode::BAD_REQUEST, "too large");
}

#[tokio::test]
async fn error_pages_escape_and_are_not_frameable() {
    let f = Fixture::start().await;
    let q = format!("response_type=code&client_id=web&redirect_uri={}&{}", urlencode("https://x/<b>"), pkce());
    let page = f.get(&q).await;
    page.assert_page(StatusCode::BAD_REQUEST, "redirect_uri");
    assert!(!page.body.contains("<b>"));
    assert!(page.header("content-security-policy").contains("default-src 'none'"));
}

/// The library API without HTTP: a consent wider than the request is refused, and
/// `Debug` shows neither state nor code.
#[tokio::test]
async fn a_consent_cannot_grant_more_than_was_asked() {
    let f = Fixture::start().await;
    let request = f.server.validate_authorization_request(web_query("secret-state").as_bytes()).await.unwrap();
    assert!(!format!("{request:?}").contains("secret-state"), "{request:?}");
    assert_eq!(request.scopes(), ["read"]);
    let wider = Decision::Allow(Consent::new("alice").scopes(["read", "write"]));
    let error = f.server.create_authorization_response(&request, wider).await.unwrap_err();
    assert_eq!(error.error(), Some(ErrorCode::InvalidScope));
    let narrower = Decision::Allow(Consent::new("alice").scopes(Vec::<String>::new()));
    let redirect = f.server.create_authorization_response(&request, narrower).await.unwrap();
    assert_eq!(redirect.error(), None);
    assert!(!format!("{redirect:?}").contains("code="), "{redirect:?}");
    assert!(!format!("{redirect:?}").contains("secret-state"), "{redirect:?}");
    let unnamed = f.server.create_authorization_response(&request, Decision::Allow(Consent::new(""))).await;
    assert_eq!(unnamed.unwrap_err().error(), Some(ErrorCode::ServerError));
}

// ---- the whole code flow, driven by the `oauth2` crate ----

/// The `oauth2` crate's HTTP client, over our reqwest.
use crate::oauth2_http as http;

fn token_error<E: std::error::Error>(
    e: oauth2::RequestTokenError<E, oauth2::basic::BasicErrorResponse>,
) -> oauth2::basic::BasicErrorResponseType {
    match e {
        oauth2::RequestTokenError::ServerResponse(r) => r.error().clone(),
        other => panic!("not an OAuth error answer: {other:?}"),
    }
}

#[tokio::test]
async fn the_code_flow_of_the_oauth2_crate_then_refresh_then_a_replayed_code_ends_the_grant() {
    use oauth2::basic::{BasicClient, BasicErrorResponseType};
    use oauth2::{
        AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope,
        TokenResponse as _, TokenUrl,
    };

    let f = Fixture::start().await;
    let client = BasicClient::new(ClientId::new("web".into()))
        .set_client_secret(ClientSecret::new("a long random secret for web".into()))
        .set_auth_uri(AuthUrl::new(f.base.clone()).unwrap())
        .set_token_uri(TokenUrl::new(format!("{}/token", f.issuer)).unwrap())
        .set_redirect_uri(RedirectUrl::new(WEB_CB.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (authorize_url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .add_scope(Scope::new("write".into()))
        .set_pkce_challenge(challenge)
        .url();

    // The browser: the page, then the form posted back.
    let page = Answer::of(browser().get(authorize_url).send().await.unwrap()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let mut form = hidden_fields(&page.body);
    form.extend(ALLOW.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let answer = f.post(&form).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let q = query(&answer.location().unwrap());
    assert_eq!(&q["state"], csrf.secret(), "the client's CSRF token comes back");
    assert_eq!(q["iss"], f.issuer, "RFC 9207: the client can tell which server answered");
    let code = q["code"].clone();

    let token = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    // The access token, checked with josekit (not our verifier) against the key's JWKS.
    let jwk = josekit::jwk::Jwk::from_map(f.jwks["keys"][0].as_object().unwrap().clone()).unwrap();
    let verifier = josekit::jws::ES256.verifier_from_jwk(&jwk).unwrap();
    let (claims, _) = josekit::jwt::decode_with_verifier(token.access_token().secret(), &verifier).unwrap();
    let claim = |name: &str| claims.claim(name).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    assert_eq!(
        (claim("sub"), claim("client_id"), claim("scope"), claim("iss")),
        ("alice".into(), "web".into(), "read write".into(), f.issuer.clone())
    );
    let refresh = token.refresh_token().expect("web may refresh").clone();

    // Refresh: rotated.
    let refreshed = client.exchange_refresh_token(&refresh).request_async(&http).await.unwrap();
    let rotated = refreshed.refresh_token().expect("a new refresh token").clone();
    assert_ne!(rotated.secret(), refresh.secret());
    assert_ne!(refreshed.access_token().secret(), token.access_token().secret());

    // The code again: refused, and the grant it made is revoked with everything it issued.
    let replay = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(oauth2::PkceCodeVerifier::new(VERIFIER.into()))
        .request_async(&http)
        .await
        .unwrap_err();
    assert_eq!(token_error(replay), BasicErrorResponseType::InvalidGrant);
    let after = client.exchange_refresh_token(&rotated).request_async(&http).await.unwrap_err();
    assert_eq!(token_error(after), BasicErrorResponseType::InvalidGrant, "the replayed code's grant is revoked");
}

#[tokio::test]
async fn a_code_is_bound_to_the_verifier_and_the_redirect_uri_of_its_request() {
    use oauth2::basic::{BasicClient, BasicErrorResponseType};
    use oauth2::{AuthorizationCode, ClientId, ClientSecret, PkceCodeVerifier, RedirectUrl, TokenUrl};

    let f = Fixture::start().await;
    let client = BasicClient::new(ClientId::new("web".into()))
        .set_client_secret(ClientSecret::new("a long random secret for web".into()))
        .set_token_uri(TokenUrl::new(format!("{}/token", f.issuer)).unwrap());
    let code_for = |answer: Answer| query(&answer.location().unwrap())["code"].clone();

    // A wrong verifier.
    let code = code_for(f.consent(&web_query("s"), |_| {}, ALLOW).await);
    let wrong = client
        .clone()
        .set_redirect_uri(RedirectUrl::new(WEB_CB.into()).unwrap())
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new("x".repeat(43)))
        .request_async(&http)
        .await
        .unwrap_err();
    assert_eq!(token_error(wrong), BasicErrorResponseType::InvalidGrant);

    // The request named no redirect_uri: the token request must not either, and then succeeds.
    let code =
        code_for(f.consent(&format!("response_type=code&client_id=web&state=s&{}", pkce()), |_| {}, ALLOW).await);
    let named = client
        .clone()
        .set_redirect_uri(RedirectUrl::new(WEB_CB.into()).unwrap())
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(VERIFIER.into()))
        .request_async(&http)
        .await
        .unwrap_err();
    assert_eq!(token_error(named), BasicErrorResponseType::InvalidGrant);
    let code =
        code_for(f.consent(&format!("response_type=code&client_id=web&state=s&{}", pkce()), |_| {}, ALLOW).await);
    client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(VERIFIER.into()))
        .request_async(&http)
        .await
        .unwrap();
}
