//! DPoP (RFC 9449) on the resource server, over real HTTP on 127.0.0.1 with real keys:
//! every check of §4.3, the binding of §6, the schemes and challenges of §7, nonces
//! (§8, §9) and replays. Each refusal asserts the status and the whole challenge.

mod common;

use axum::routing::get;
use axum::{Extension, Router};
use common::{REALM, Reply, app, client};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tower_bearer::dpop::{Dpop, DpopBuilder, DpopMode, DpopProof, NonceSecret};
use tower_bearer::signing::{DpopKey, PrivateJwk};
use tower_bearer::testing::TestIssuer;
use tower_bearer::token::QueryParameter;
use tower_bearer::{Algorithm, BearerLayer, Clock as _, SystemClock};

const ALGS: &str = r#"algs="ES256 ES384 RS256 PS256 EdDSA""#;

/// A protected API with DPoP in `mode`; `configure` adds to its settings (the public
/// URL is the server's own).
struct Api {
    idp: TestIssuer,
    base: String,
    key: DpopKey,
}

async fn api(mode: DpopMode) -> Api {
    api_with(mode, |b| b, |l| l).await
}

async fn api_with(
    mode: DpopMode,
    configure: impl FnOnce(DpopBuilder) -> DpopBuilder,
    layer: impl FnOnce(BearerLayer) -> BearerLayer,
) -> Api {
    let idp = TestIssuer::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let dpop = configure(Dpop::builder(mode).public_url(&base)).build().unwrap();
    let auth = layer(BearerLayer::new(idp.verifier()).realm(REALM).dpop(dpop));
    let app: Router = app(auth.clone()).merge(Router::new().route("/proof", get(proof)).layer(auth));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Api { idp, base, key: DpopKey::generate(Algorithm::ES256).unwrap() }
}

async fn proof(Extension(proof): Extension<DpopProof>) -> String {
    proof.thumbprint()
}

impl Api {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A token bound to the API's test key.
    fn bound(&self) -> String {
        self.idp.token().dpop_bound(&self.key).sign()
    }

    /// A valid proof for GET `path` with `token`.
    fn proof(&self, path: &str, token: &str) -> String {
        self.key.proof("GET", &self.url(path)).access_token(token).sign().unwrap()
    }

    async fn dpop(&self, path: &str, token: &str, proof: &str) -> Reply {
        send(&self.url(path), &[("authorization", &format!("DPoP {token}")), ("dpop", proof)]).await
    }

    /// Asserts `401 invalid_dpop_proof` with `description`.
    async fn bad_proof(&self, token: &str, proof: &str, description: &str, case: &str) {
        let r = self.dpop("/me", token, proof).await;
        let expected =
            format!(r#"DPoP realm="test", error="invalid_dpop_proof", error_description="{description}", {ALGS}"#);
        assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, expected.as_str()), "{case}: {}", r.body);
        assert_eq!(r.json()["error"], "invalid_dpop_proof", "{case}");
    }
}

async fn send(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = client().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    Reply { status, headers, body: res.text().await.unwrap() }
}

const INVALID_PROOF: &str = "the DPoP proof is invalid";

fn invalid_token_on_dpop() -> String {
    format!(r#"DPoP realm="test", error="invalid_token", error_description="the access token is invalid", {ALGS}"#)
}

#[tokio::test]
async fn a_bound_token_with_its_proof_passes_and_handlers_see_the_key() {
    let api = api(DpopMode::Allowed).await;
    let token = api.bound();
    let r = api.dpop("/me", &token, &api.proof("/me", &token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = api.dpop("/proof", &token, &api.proof("/proof", &token)).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, api.key.thumbprint()));
    // The query is not part of htu (RFC 9449 §4.3 check 9).
    let r = api.dpop("/me?page=2", &token, &api.proof("/me", &token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Every proof algorithm of the default list.
    for alg in [Algorithm::ES384, Algorithm::RS256, Algorithm::PS256, Algorithm::EdDSA] {
        let key = DpopKey::generate(alg).unwrap();
        let token = api.idp.token().dpop_bound(&key).sign();
        let proof = key.proof("GET", &api.url("/me")).access_token(&token).sign().unwrap();
        let r = api.dpop("/me", &token, &proof).await;
        assert_eq!(r.status, StatusCode::OK, "{alg:?}: {}", r.body);
    }
}

#[tokio::test]
async fn a_proof_is_accepted_once() {
    let api = api(DpopMode::Allowed).await;
    let token = api.bound();
    let proof = api.proof("/me", &token);
    assert_eq!(api.dpop("/me", &token, &proof).await.status, StatusCode::OK);
    api.bad_proof(&token, &proof, "the DPoP proof was already used", "replay").await;
    // The token is cached now; a fresh proof still passes, a replayed one still fails.
    assert_eq!(api.dpop("/me", &token, &api.proof("/me", &token)).await.status, StatusCode::OK);
    api.bad_proof(&token, &proof, "the DPoP proof was already used", "replay after a cache hit").await;
    // The key's header is remembered now; a forged signature under it still fails.
    let other = DpopKey::generate(Algorithm::ES256).unwrap();
    let forged = api.key.proof("GET", &api.url("/me")).access_token(&token).signed_by(&other).sign().unwrap();
    api.bad_proof(&token, &forged, INVALID_PROOF, "known header, forged signature").await;
    let stale =
        api.key.proof("GET", &api.url("/me")).access_token(&token).issued_at(SystemClock.now() - 600).sign().unwrap();
    api.bad_proof(&token, &stale, "the DPoP proof's iat is outside the accepted window", "known header, stale").await;
}

#[tokio::test]
async fn hostile_proofs_are_refused() {
    let api = api(DpopMode::Allowed).await;
    let token = api.bound();
    let now = SystemClock.now();
    let url = api.url("/me");
    let proof = || api.key.proof("GET", &url).access_token(&token);
    let other = DpopKey::generate(Algorithm::ES256).unwrap();
    let private = PrivateJwk::generate(Algorithm::ES256, "x").unwrap();
    let p384 = DpopKey::generate(Algorithm::ES384).unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        ("wrong htm", api.key.proof("POST", &url).access_token(&token).sign().unwrap(), INVALID_PROOF),
        ("lowercase htm", api.key.proof("get", &url).access_token(&token).sign().unwrap(), INVALID_PROOF),
        ("other path", api.key.proof("GET", &api.url("/items")).access_token(&token).sign().unwrap(), INVALID_PROOF),
        (
            "other host",
            api.key.proof("GET", "http://evil.example/me").access_token(&token).sign().unwrap(),
            INVALID_PROOF,
        ),
        (
            "https",
            api.key.proof("GET", &url.replace("http:", "https:")).access_token(&token).sign().unwrap(),
            INVALID_PROOF,
        ),
        ("relative htu", api.key.proof("GET", "/me").access_token(&token).sign().unwrap(), INVALID_PROOF),
        (
            "stale iat",
            proof().issued_at(now - 120).sign().unwrap(),
            "the DPoP proof's iat is outside the accepted window",
        ),
        (
            "future iat",
            proof().issued_at(now + 60).sign().unwrap(),
            "the DPoP proof's iat is outside the accepted window",
        ),
        (
            "iat as a string",
            proof().claim("iat", json!(now.to_string())).sign().unwrap(),
            "the DPoP proof's iat is outside the accepted window",
        ),
        ("no ath", api.key.proof("GET", &url).sign().unwrap(), INVALID_PROOF),
        ("ath of another token", api.key.proof("GET", &url).access_token("other").sign().unwrap(), INVALID_PROOF),
        ("no jti", proof().claim("jti", Value::Null).sign().unwrap(), INVALID_PROOF),
        ("empty jti", proof().jti("").sign().unwrap(), INVALID_PROOF),
        ("huge jti", proof().jti(&"j".repeat(257)).sign().unwrap(), INVALID_PROOF),
        ("no htu", proof().claim("htu", Value::Null).sign().unwrap(), INVALID_PROOF),
        ("typ JWT", proof().header("typ", json!("JWT")).sign().unwrap(), INVALID_PROOF),
        ("typ at+jwt", proof().header("typ", json!("at+jwt")).sign().unwrap(), INVALID_PROOF),
        ("no typ", proof().header("typ", Value::Null).sign().unwrap(), INVALID_PROOF),
        ("alg none", proof().header("alg", json!("none")).sign().unwrap(), INVALID_PROOF),
        ("alg HS256", proof().header("alg", json!("HS256")).sign().unwrap(), INVALID_PROOF),
        ("alg ES512", proof().header("alg", json!("ES512")).sign().unwrap(), INVALID_PROOF),
        ("ES384 named, P-256 key", proof().header("alg", json!("ES384")).sign().unwrap(), INVALID_PROOF),
        ("no jwk", proof().header("jwk", Value::Null).sign().unwrap(), INVALID_PROOF),
        ("private jwk", proof().header("jwk", Value::Object(private.as_map().clone())).sign().unwrap(), INVALID_PROOF),
        (
            "symmetric jwk",
            proof()
                .header("jwk", json!({"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}))
                .sign()
                .unwrap(),
            INVALID_PROOF,
        ),
        (
            "jwk of a P-384 key",
            proof().header("jwk", Value::Object(p384.public_jwk().clone())).sign().unwrap(),
            INVALID_PROOF,
        ),
        ("crit", proof().header("crit", json!(["htm"])).sign().unwrap(), INVALID_PROOF),
        ("signed by another key", proof().signed_by(&other).sign().unwrap(), INVALID_PROOF),
        ("two parts", "eyJhbGciOiJFUzI1NiJ9.e30".to_owned(), INVALID_PROOF),
        ("five parts", "a.b.c.d.e".to_owned(), INVALID_PROOF),
        ("padding", format!("{}=", proof().sign().unwrap()), INVALID_PROOF),
        ("not base64", "!!!.???.***".to_owned(), INVALID_PROOF),
        ("huge", format!("{}.{}.x", "a".repeat(9000), "b"), INVALID_PROOF),
    ];
    for (case, proof, description) in &cases {
        api.bad_proof(&token, proof, description, case).await;
    }
    // The good proof still passes after all that.
    assert_eq!(api.dpop("/me", &token, &api.proof("/me", &token)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_proof_header_must_be_one() {
    let api = api(DpopMode::Allowed).await;
    let token = api.bound();
    let r = send(&api.url("/me"), &[("authorization", &format!("DPoP {token}"))]).await;
    let expected = format!(
        r#"DPoP realm="test", error="invalid_dpop_proof", error_description="the DPoP proof is missing", {ALGS}"#
    );
    assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, expected.as_str()));
    let (a, b) = (api.proof("/me", &token), api.proof("/me", &token));
    let r = send(&api.url("/me"), &[("authorization", &format!("DPoP {token}")), ("dpop", &a), ("dpop", &b)]).await;
    let expected = format!(
        r#"DPoP realm="test", error="invalid_dpop_proof", error_description="more than one DPoP proof was presented", {ALGS}"#
    );
    assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, expected.as_str()));
    let r = send(&api.url("/me"), &[("authorization", &format!("DPoP {token}")), ("dpop", &format!("{a},{b}"))]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.challenge().contains(r#"error="invalid_dpop_proof""#), "{}", r.challenge());
}

#[tokio::test]
async fn the_binding_is_checked() {
    let api = api(DpopMode::Allowed).await;
    let token = api.bound();
    // Another key's valid proof: the token is bound to a key the client does not prove.
    let other = DpopKey::generate(Algorithm::ES256).unwrap();
    let proof = other.proof("GET", &api.url("/me")).access_token(&token).sign().unwrap();
    let r = api.dpop("/me", &token, &proof).await;
    assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, invalid_token_on_dpop().as_str()));
    // Same after the token is cached by a good request.
    assert_eq!(api.dpop("/me", &token, &api.proof("/me", &token)).await.status, StatusCode::OK);
    let proof = other.proof("GET", &api.url("/me")).access_token(&token).sign().unwrap();
    let r = api.dpop("/me", &token, &proof).await;
    assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, invalid_token_on_dpop().as_str()));
    // An unbound token with the DPoP scheme (RFC 9449 §7.1).
    let unbound = api.idp.token().sign();
    let r = api.dpop("/me", &unbound, &api.proof("/me", &unbound)).await;
    assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, invalid_token_on_dpop().as_str()));
    // The bound token as Bearer (§7.2), before and after it was cached.
    let r = common::get_bearer(&api.url("/me"), &token).await;
    let expected = format!(
        r#"Bearer realm="test", error="invalid_token", error_description="the access token is invalid", DPoP realm="test", {ALGS}"#
    );
    assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, expected.as_str()));
    // A token also bound to a certificate this layer does not check.
    let both =
        api.idp.token().claim("cnf", json!({"jkt": api.key.thumbprint(), "x5t#S256": api.key.thumbprint()})).sign();
    let r = api.dpop("/me", &both, &api.proof("/me", &both)).await;
    assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, invalid_token_on_dpop().as_str()));
}

#[tokio::test]
async fn modes_and_their_challenges() {
    // Allowed: both schemes offered without credentials; unbound Bearer tokens pass.
    let api = api(DpopMode::Allowed).await;
    let r = send(&api.url("/me"), &[]).await;
    let both = format!(r#"Bearer realm="test", DPoP realm="test", {ALGS}"#);
    assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, both.as_str()));
    assert_eq!(common::get_bearer(&api.url("/me"), &api.idp.token().sign()).await.status, StatusCode::OK);
    // 403 on the scheme the client used.
    let token = api.bound();
    let r = api.dpop("/items", &token, &api.proof("/items", &token)).await;
    let expected = format!(
        r#"DPoP realm="test", error="insufficient_scope", error_description="missing scope 'read:items'", scope="read:items", {ALGS}"#
    );
    assert_eq!((r.status, r.challenge()), (StatusCode::FORBIDDEN, expected.as_str()), "{}", r.body);
    let token = api.idp.token().dpop_bound(&api.key).scope("read:items").sign();
    assert_eq!(api.dpop("/items", &token, &api.proof("/items", &token)).await.status, StatusCode::OK);

    // Required: only DPoP, only bound tokens.
    let api = self::api(DpopMode::Required).await;
    let r = send(&api.url("/me"), &[]).await;
    let dpop_only = format!(r#"DPoP realm="test", {ALGS}"#);
    assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, dpop_only.as_str()));
    let r = common::get_bearer(&api.url("/me"), &api.idp.token().sign()).await;
    let expected = format!(
        r#"DPoP realm="test", error="invalid_token", error_description="this resource requires a DPoP-bound access token and the DPoP scheme", {ALGS}"#
    );
    assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, expected.as_str()));
    let cert_bound = api.idp.token().claim("cnf", json!({"x5t#S256": api.key.thumbprint()})).sign();
    let r = common::get_bearer(&api.url("/me"), &cert_bound).await;
    assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, expected.as_str()));
    let token = api.bound();
    assert_eq!(api.dpop("/me", &token, &api.proof("/me", &token)).await.status, StatusCode::OK);

    // Off (the default): the DPoP scheme is no credential here.
    let idp = TestIssuer::start().await;
    let base = common::serve(app(BearerLayer::new(idp.verifier()).realm(REALM))).await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let token = idp.token().dpop_bound(&key).sign();
    let proof = key.proof("GET", &format!("{base}/me")).access_token(&token).sign().unwrap();
    let r = send(&format!("{base}/me"), &[("authorization", &format!("DPoP {token}")), ("dpop", &proof)]).await;
    assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, r#"Bearer realm="test""#));
}

#[tokio::test]
async fn two_credentials_are_a_bad_request() {
    let api = api_with(DpopMode::Allowed, |b| b, |l| l.token_location(QueryParameter)).await;
    let token = api.bound();
    let url = format!("{}?access_token={token}", api.url("/me"));
    let r = send(&url, &[("authorization", &format!("DPoP {token}")), ("dpop", &api.proof("/me", &token))]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}

#[tokio::test]
async fn nonces_when_required() {
    let secret = NonceSecret::from_bytes(&[7; 32]).unwrap();
    let api = api_with(DpopMode::Allowed, |b| b.require_nonces(secret), |l| l).await;
    let token = api.bound();
    let r = api.dpop("/me", &token, &api.proof("/me", &token)).await;
    let expected = format!(
        r#"DPoP realm="test", error="use_dpop_nonce", error_description="the DPoP proof must carry the nonce of the DPoP-Nonce header", {ALGS}"#
    );
    assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, expected.as_str()));
    assert_eq!(r.json()["error"], "use_dpop_nonce");
    let nonce = r.headers.get("dpop-nonce").expect("a DPoP-Nonce header").to_str().unwrap().to_owned();
    let proof = api.key.proof("GET", &api.url("/me")).access_token(&token).nonce(&nonce).sign().unwrap();
    let r = api.dpop("/me", &token, &proof).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // A current nonce needs no rotation.
    assert!(r.headers.get("dpop-nonce").is_none());
    // A forged nonce is answered like a missing one, with a fresh nonce.
    let proof = api.key.proof("GET", &api.url("/me")).access_token(&token).nonce("forged").sign().unwrap();
    let r = api.dpop("/me", &token, &proof).await;
    assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, expected.as_str()));
    assert!(r.headers.get("dpop-nonce").is_some());
    // Other DPoP refusals carry a nonce too, so the retry can use it.
    let r = api.dpop("/me", &token, "x.y.z").await;
    assert!(r.headers.get("dpop-nonce").is_some());
    // Bearer requests never get one.
    let r = common::get_bearer(&api.url("/me"), &api.idp.token().sign()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers.get("dpop-nonce").is_none());
}

#[tokio::test]
async fn the_public_url_is_what_proofs_must_name() {
    // Behind a proxy: clients call https://api.example.com/v1, the proxy strips /v1.
    let idp = TestIssuer::start().await;
    let dpop = Dpop::builder(DpopMode::Allowed).public_url("https://api.example.com/v1").build().unwrap();
    let base = common::serve(app(BearerLayer::new(idp.verifier()).realm(REALM).dpop(dpop))).await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let token = idp.token().dpop_bound(&key).sign();
    let call = |htu: String| {
        let proof = key.proof("GET", &htu).access_token(&token).sign().unwrap();
        let headers = [("authorization".to_owned(), format!("DPoP {token}")), ("dpop".to_owned(), proof)];
        let url = format!("{base}/me");
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            send(&url, &h).await.status
        }
    };
    assert_eq!(call("https://api.example.com/v1/me".into()).await, StatusCode::OK);
    // RFC 3986 normalisation: case, default port, dot segments, percent-encoding.
    assert_eq!(call("HTTPS://API.example.com:443/v1/./x/../%6De".into()).await, StatusCode::OK);
    // The server's own address is not this service's public URL.
    assert_eq!(call(format!("{base}/me")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(call("https://api.example.com/me".into()).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_origin_from_the_request_is_an_explicit_opt_in() {
    assert!(Dpop::builder(DpopMode::Allowed).build().is_err());
    assert!(Dpop::builder(DpopMode::Required).build().is_err());
    assert!(Dpop::builder(DpopMode::Off).build().is_ok());
    assert!(
        Dpop::builder(DpopMode::Allowed).public_url("http://api.example.com").build().is_err(),
        "http off loopback"
    );
    let idp = TestIssuer::start().await;
    let dpop =
        Dpop::builder(DpopMode::Allowed).dangerously_take_origin_from_request(http::uri::Scheme::HTTP).build().unwrap();
    let base = common::serve(app(BearerLayer::new(idp.verifier()).realm(REALM).dpop(dpop))).await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let token = idp.token().dpop_bound(&key).sign();
    let proof = key.proof("GET", &format!("{base}/me")).access_token(&token).sign().unwrap();
    let r = send(&format!("{base}/me"), &[("authorization", &format!("DPoP {token}")), ("dpop", &proof)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn allowed_algorithms_are_configurable() {
    let api = api_with(DpopMode::Allowed, |b| b.algorithms([Algorithm::ES256]), |l| l).await;
    let rsa = DpopKey::generate(Algorithm::RS256).unwrap();
    let token = api.idp.token().dpop_bound(&rsa).sign();
    let proof = rsa.proof("GET", &api.url("/me")).access_token(&token).sign().unwrap();
    let r = api.dpop("/me", &token, &proof).await;
    let expected =
        r#"DPoP realm="test", error="invalid_dpop_proof", error_description="the DPoP proof is invalid", algs="ES256""#;
    assert_eq!((r.status, r.challenge()), (StatusCode::UNAUTHORIZED, expected));
}
