//! Every public type that holds a token, password or key secret keeps it out of its
//! `Debug` output (SECURITY.md). Types that hold one and have no `Debug` at all are
//! listed too, so gaining a derived `Debug` later fails here.

use crate::common;

use common::b64;
use serde_json::{Value, json};
use tower_bearer::Verifier;
use tower_bearer::client::{AccessToken, ClientCredentials, StoredToken};
use tower_bearer::issue::{Credentials, IssuerKey, KeyType, LocalIssuer};
use tower_bearer::keys::{StaticKeys, VerificationKey};
use tower_bearer::testing::TestIssuer;
use tower_bearer::token::BearerToken;

/// Fails if `debug` shows `secret`, or a token's signature.
#[track_caller]
fn assert_hidden(what: &str, debug: &str, secret: &str) {
    assert!(!debug.contains(secret), "{what}'s Debug shows the secret: {debug}");
    if let Some((_, sig)) = secret.rsplit_once('.') {
        assert!(sig.len() < 8 || !debug.contains(sig), "{what}'s Debug shows the signature: {debug}");
    }
}

#[tokio::test]
async fn issued_tokens_and_login_credentials_are_redacted() {
    let key = IssuerKey::generate(KeyType::P256, None).unwrap();
    let issuer = LocalIssuer::new("https://me.example.com", &key.private_jwk().to_json(), "api").unwrap();
    let issued = issuer.token().subject("ann").sign().unwrap();
    assert_hidden("IssuedToken", &format!("{issued:?}"), issued.access_token());
    assert!(format!("{issued:?}").contains("expires_in"), "the rest is still shown");

    let verified = issuer.verifier().verify(&BearerToken::new(issued.access_token())).resolve().await.unwrap();
    assert_hidden("VerifiedToken", &format!("{verified:?}"), issued.access_token());
    assert_hidden("BearerToken", &format!("{:?}", BearerToken::new(issued.access_token())), issued.access_token());

    let credentials: Credentials = serde_json::from_value(json!({"login": "ann", "password": "pw-Secret-1"})).unwrap();
    assert_hidden("Credentials", &format!("{credentials:?}"), "pw-Secret-1");
    // A password typed into the login field is hidden too.
    let typo: Credentials = serde_json::from_value(json!({"login": "pw-Typed-2", "password": "x"})).unwrap();
    assert_hidden("Credentials", &format!("{typo:?}"), "pw-Typed-2");

    let idp = TestIssuer::start().await;
    let test_token = idp.token().sign();
    let verified = idp.verifier().verify(&BearerToken::new(test_token.as_str())).resolve().await.unwrap();
    assert_hidden("VerifiedToken (TestIssuer)", &format!("{verified:?}"), &test_token);
}

/// The test kit hands out its private keys; their `Debug` shows only the public members.
#[tokio::test]
async fn test_issuer_private_jwks_are_redacted() {
    use tower_bearer::Algorithm;
    let idp = TestIssuer::start().await;
    for alg in [Algorithm::RS256, Algorithm::ES384, Algorithm::EdDSA, Algorithm::HS256] {
        let kid = idp.add_key(alg);
        let jwk = idp.private_jwk(&kid).unwrap();
        let members: &serde_json::Map<String, Value> = jwk.as_ref();
        let debug = format!("{jwk:?}");
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            if let Some(v) = members.get(private).and_then(Value::as_str) {
                assert_hidden(&format!("TestIssuer private JWK {alg:?} `{private}`"), &debug, v);
            }
        }
        assert!(debug.contains(&kid), "public members are still shown: {debug}");
    }
}

/// The issuers and their token builders show names, `kid`s and claims, never a key.
#[tokio::test]
async fn issuers_and_token_builders_are_redacted() {
    use tower_bearer::Algorithm;
    const PRIVATE: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];
    for kty in [KeyType::Rsa(2048), KeyType::P256, KeyType::Ed25519, KeyType::Oct] {
        let key = IssuerKey::generate(kty, None).unwrap();
        let issuer = LocalIssuer::new("https://me.example.com", &key.private_jwk().to_json(), "api").unwrap();
        let builder = issuer.token().subject("ann");
        for (what, debug) in [("LocalIssuer", format!("{issuer:?}")), ("LocalTokenBuilder", format!("{builder:?}"))] {
            for private in PRIVATE {
                if let Some(v) = key.private_jwk().str(private) {
                    assert_hidden(&format!("{what} {kty:?} `{private}`"), &debug, v);
                }
            }
        }
        assert!(format!("{issuer:?}").contains(key.private_jwk().kid().unwrap()), "the kid is still shown");
    }

    let idp = TestIssuer::start().await;
    let kids: Vec<String> = [Algorithm::ES384, Algorithm::EdDSA, Algorithm::HS256].map(|a| idp.add_key(a)).into();
    let builder = idp.token().scope("read");
    for (what, debug) in [("TestIssuer", format!("{idp:?}")), ("TestTokenBuilder", format!("{builder:?}"))] {
        for kid in &kids {
            let jwk = idp.private_jwk(kid).unwrap();
            for private in PRIVATE {
                if let Some(v) = jwk.str(private) {
                    assert_hidden(&format!("{what} `{private}` of {kid}"), &debug, v);
                }
            }
        }
    }
    assert!(format!("{idp:?}").contains(&kids[0]), "the kids are still shown");
}

#[test]
fn private_keys_are_redacted() {
    for kty in [KeyType::Rsa(2048), KeyType::P256, KeyType::Ed25519, KeyType::Oct] {
        let key = IssuerKey::generate(kty, None).unwrap();
        let debug = format!("{key:?}");
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            if let Some(v) = key.private_jwk().str(private) {
                assert_hidden(&format!("IssuerKey {kty:?} `{private}`"), &debug, v);
            }
        }
    }

    let secret = b"hmac-secret-material-0123456789abcdef";
    let encodings = [
        String::from_utf8(secret.to_vec()).unwrap(),
        b64::encode(secret),
        secret.iter().map(|b| format!("{b:02x}")).collect(),
        format!("{secret:?}").trim_matches(['[', ']']).to_owned(),
    ];
    let from_bytes = VerificationKey::hmac_secret(secret, Some("h")).unwrap();
    let jwk = json!({"kty": "oct", "kid": "h", "alg": "HS256", "k": b64::encode(secret)});
    let from_jwk = VerificationKey::from_jwk(&jwk.to_string()).unwrap();
    for (what, key) in [("hmac_secret", from_bytes), ("from_jwk(oct)", from_jwk)] {
        let keys = StaticKeys::from(key.clone());
        for debug in [format!("{key:?}"), format!("{keys:?}"), format!("{:?}", keys.key_set())] {
            for s in &encodings {
                assert_hidden(&format!("VerificationKey {what}"), &debug, s);
            }
        }
    }
}

#[test]
fn client_tokens_and_secrets_are_redacted() {
    let token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJjbGllbnQtdG9rZW4ifQ.c2lnbmF0dXJlLXNlY3JldA";
    assert_hidden("AccessToken", &format!("{:?}", AccessToken::new(token, None)), token);
    let stored = StoredToken { access_token: token.to_owned(), expires_at: 1, jkt: None };
    assert_hidden("StoredToken", &format!("{stored:?}"), token);
    let client = ClientCredentials::builder()
        .token_url("https://sso.example.com/token")
        .client_auth(tower_bearer::ClientAuth::basic("svc", "client-Secret-42"))
        .build()
        .unwrap();
    assert_hidden("ClientCredentials", &format!("{client:?}"), "client-Secret-42");
    // The outgoing-token layer and its service show no token.
    let layer =
        tower_bearer::client::AddTokenLayer::new(tower_bearer::client::StaticToken::new(AccessToken::new(token, None)));
    let service = tower::Layer::layer(&layer, ());
    assert_hidden("AddTokenLayer", &format!("{layer:?}"), token);
    assert_hidden("AddToken", &format!("{service:?}"), token);
    assert_eq!(service.get_ref(), &());
    for auth in [
        tower_bearer::ClientAuth::basic("svc", "client-Secret-42"),
        tower_bearer::ClientAuth::post("svc", "client-Secret-42"),
    ] {
        assert_hidden("ClientAuth", &format!("{auth:?}"), "client-Secret-42");
    }
}

#[tokio::test]
async fn redis_password_stays_out_of_errors() {
    // Nothing listens on port 1; the URL's password must not surface in the error.
    for url in ["redis://:redis-Pass-7@127.0.0.1:1/", "redis://user:redis-Pass-7@127.0.0.1:notaport/"] {
        let Err(e) = tower_bearer::client::RedisStore::connect(url, "p").await else { panic!("connected to {url}?") };
        let e: &(dyn std::error::Error + 'static) = &e;
        let mut chain = format!("{e:?} {e}");
        let mut source = e.source();
        while let Some(cause) = source {
            chain.push_str(&format!(" {cause:?} {cause}"));
            source = cause.source();
        }
        assert_hidden("RedisStore::connect error", &chain, "redis-Pass-7");
    }
}

/// `true` when `$t` implements `Debug` (inherent associated consts win over the
/// blanket trait's when their bound holds).
macro_rules! has_debug {
    ($t:ty) => {{
        #[allow(dead_code)]
        trait NoDebug {
            const DEBUG: bool = false;
        }
        impl<T: ?Sized> NoDebug for Probe<T> {}
        #[allow(dead_code)]
        struct Probe<T: ?Sized>(std::marker::PhantomData<T>);
        #[allow(dead_code)]
        impl<T: ?Sized + std::fmt::Debug> Probe<T> {
            const DEBUG: bool = true;
        }
        <Probe<$t>>::DEBUG
    }};
}

#[test]
fn secret_holders_without_debug_stay_without() {
    // Each of these holds a secret (a private key, client secret, token, or a
    // connection with credentials). Adding `Debug` needs a redacting impl and a case above.
    let without = [
        ("IntrospectionVerifier", has_debug!(tower_bearer::introspect::IntrospectionVerifier)),
        ("IntrospectionVerifierBuilder", has_debug!(tower_bearer::introspect::IntrospectionVerifierBuilder)),
        ("ClientCredentialsBuilder", has_debug!(tower_bearer::client::ClientCredentialsBuilder)),
        ("StaticToken", has_debug!(tower_bearer::client::StaticToken)),
        ("RedisStore", has_debug!(tower_bearer::client::RedisStore)),
        ("JwtVerifier", has_debug!(tower_bearer::JwtVerifier)),
    ];
    for (name, debug) in without {
        assert!(!debug, "{name} gained Debug: make it redact its secret and check it in this file");
    }
    // The probe itself works.
    assert!(has_debug!(Value) && has_debug!(AccessToken));
}
