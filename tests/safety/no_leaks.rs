//! Tokens, signatures and secrets never reach logs or error text (`Debug` output:
//! tests/safety/redaction.rs).

use crate::common;

use common::logs::Capture;
use common::{app, get_bearer, get_with, serve};
use serde_json::json;
use tower_bearer::keys::{StaticKeys, VerificationKey};
use tower_bearer::signing::compact_jws;
use tower_bearer::testing::{Outage, TestIssuer};
use tower_bearer::token::BearerToken;
use tower_bearer::{Algorithm, BearerLayer, Clock as _, Issuer, JwtVerifier, SystemClock, Verifier};

#[tokio::test(flavor = "current_thread")]
async fn nothing_secret_in_trace_logs_or_errors() {
    let (capture, _guard) = Capture::start();

    let idp = TestIssuer::start().await;
    let me = format!("{}/me", serve(app(BearerLayer::new(idp.verifier()).realm("t"))).await);
    let mut secrets: Vec<String> = Vec::new();
    let mut remember = |token: &str| {
        secrets.push(token.to_owned());
        let (_, sig) = token.rsplit_once('.').unwrap();
        if sig.len() > 8 {
            secrets.push(sig.to_owned());
        }
        token.to_owned()
    };

    // Accepted, rejected for every kind of reason, and unavailable keys.
    let valid = remember(&idp.token().scope("read").sign());
    get_bearer(&me, &valid).await;
    let expired = remember(&idp.token().claim("exp", json!(SystemClock.now() - 3600)).sign());
    get_bearer(&me, &expired).await;
    let wrong_aud = remember(&idp.token().audience("x").sign());
    get_bearer(&me, &wrong_aud).await;
    let unknown_kid = remember(&idp.token().header("kid", json!("nope")).sign());
    get_bearer(&me, &unknown_kid).await;
    let mut tampered = valid.clone();
    tampered.insert_str(valid.len() - 4, "AAAA");
    let tampered = remember(&tampered);
    get_bearer(&me, &tampered).await;
    let malformed = remember("eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2lnbmF0dXJlLXNlY3JldA");
    get_bearer(&me, &malformed).await;
    get_with(&me, &[("authorization", &format!("Bearer {valid} extra"))]).await;
    let down = TestIssuer::start().await;
    down.set_outage(Outage::Status(500));
    let down_me = format!("{}/me", serve(app(BearerLayer::new(down.verifier()))).await);
    let unavailable = remember(&down.token().sign());
    get_bearer(&down_me, &unavailable).await;

    // An HMAC secret configured locally.
    let secret = b"super-secret-hmac-key-material-0123456789";
    let hex_secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let key = VerificationKey::hmac_secret(secret, Some("h")).unwrap();
    let verifier =
        JwtVerifier::builder().issuer(Issuer::new("local").keys(StaticKeys::from(key))).audience("a").build().unwrap();
    let jwk = common::b64::oct_jwk(secret);
    let hs = remember(&compact_jws(
        &json!({"alg":"HS256","kid":"h"}).to_string(),
        &json!({"iss":"local","aud":"b","exp": SystemClock.now() + 60}).to_string(),
        |i| jwk.sign(Algorithm::HS256, i).unwrap(),
    ));
    let outcome = verifier.verify(&BearerToken::new(hs.as_str())).resolve().await;
    let error_text =
        format!("{:?} {}", outcome.as_ref().err(), outcome.as_ref().err().map(|e| e.to_string()).unwrap_or_default());

    drop(_guard);
    let logs = capture.text();
    assert!(logs.contains("bearer token rejected"), "rejections are logged at debug level:\n{logs}");
    assert!(logs.contains("JWKS fetch failed"), "fetch failures are logged:\n{logs}");
    let everything = format!("{logs}\n{error_text}");
    for s in &secrets {
        assert!(!everything.contains(s.as_str()), "leaked {s}");
    }
    for s in [std::str::from_utf8(secret).unwrap(), hex_secret.as_str()] {
        assert!(!everything.contains(s), "leaked the HMAC secret");
    }
}

// Issue 12 item 5: a login name can carry a newline (to forge a log line) or a password
// typed into the wrong field; neither reaches the log.
#[tokio::test(flavor = "current_thread")]
async fn failed_login_names_never_reach_logs() {
    use tower_bearer::issue::{Credentials, Identity, IssuerKey, KeyType, LocalIssuer, LoginLimits};

    let (capture, _guard) = Capture::start();

    let key = IssuerKey::generate(KeyType::P256, None).unwrap();
    let issuer = LocalIssuer::new("http://127.0.0.1/auth", &key.private_jwk().to_json(), "api").unwrap();
    let router =
        issuer.router("http://127.0.0.1/auth", LoginLimits::default(), |_: Credentials| async { None::<Identity> });
    let base = serve(axum::Router::new().nest("/auth", router)).await;
    let forged = "alice\n2030-01-01T00:00:00Z  INFO forged: admin logged in";
    let typed_password = "Tr0ub4dor&3-in-the-login-field";
    for login in [forged, typed_password] {
        let res = common::client()
            .post(format!("{base}/auth/login"))
            .form(&[("login", login), ("password", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
    }

    drop(_guard);
    let logs = capture.text();
    assert!(logs.contains("failed login"), "failures are still logged:\n{logs}");
    for secret in ["forged", "admin logged in", typed_password, "Tr0ub4dor"] {
        assert!(!logs.contains(secret), "leaked {secret:?} into:\n{logs}");
    }
}
