//! One named test per known attack on JWT validation, against the layer as users
//! mount it, over real HTTP on 127.0.0.1 with real keys. Oversized tokens, headers and
//! JSON are in tests/safety/limits.rs; the time, issuer and audience rules and malformed
//! requests in tests/protect.rs.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{REALM, app, assert_invalid, b64, get_bearer, serve};
use josekit::jwk::KeyPair as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tower_bearer::signing::compact_jws;
use tower_bearer::testing::{TEST_AUDIENCE, TestIssuer};
use tower_bearer::{Algorithm, BearerLayer};
use tower_bearer::{Clock as _, SystemClock};

struct Target {
    idp: TestIssuer,
    me: String,
}

async fn target_with(alg: Algorithm) -> Target {
    target_for(TestIssuer::start_with(alg).await).await
}

/// A fresh layer (with an empty key cache) over `idp`'s keys.
async fn target_for(idp: TestIssuer) -> Target {
    let base = serve(app(BearerLayer::new(idp.verifier()).realm(REALM))).await;
    Target { me: format!("{base}/me"), idp }
}

async fn target() -> Target {
    target_with(Algorithm::RS256).await
}

impl Target {
    fn claims(&self) -> String {
        json!({"iss": self.idp.issuer(), "aud": TEST_AUDIENCE, "sub": "mallory", "exp": SystemClock.now() + 300})
            .to_string()
    }

    fn kid(&self) -> String {
        self.idp.current_kid()
    }

    /// Asserts `401 invalid_token` with the generic description.
    async fn refused(&self, token: &str) {
        assert_invalid(&self.me, token).await;
    }

    async fn accepted(&self, token: &str) {
        let r = get_bearer(&self.me, token).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
}

/// Replaces the signature segment of a compact JWS.
fn with_signature(token: &str, sig: &[u8]) -> String {
    let (input, _) = token.rsplit_once('.').unwrap();
    format!("{input}.{}", b64::encode(sig))
}

fn hmac_token(header: &Value, claims: &str, secret: &[u8], alg: Algorithm) -> String {
    let key = b64::oct_jwk(secret);
    compact_jws(&header.to_string(), claims, |input| key.sign(alg, input).unwrap())
}

#[tokio::test]
async fn alg_none_without_signature() {
    let t = target().await;
    let token =
        format!("{}.{}.", b64::encode(json!({"alg":"none","kid":t.kid()}).to_string()), b64::encode(t.claims()));
    t.refused(&token).await;
}

#[tokio::test]
async fn alg_none_with_signature() {
    let t = target().await;
    for alg in ["none", "None", "NONE", "nOnE"] {
        let token = compact_jws(&json!({"alg":alg,"kid":t.kid()}).to_string(), &t.claims(), |_| b"x".to_vec());
        t.refused(&token).await;
    }
}

#[tokio::test]
async fn hs_signed_with_the_rsa_public_key_pem_and_der() {
    let t = target().await;
    let private = josekit::jwk::Jwk::from_map(t.idp.private_jwk(&t.kid()).unwrap().into_map()).unwrap();
    let pair = josekit::jwk::alg::rsa::RsaKeyPair::from_jwk(&private).unwrap();
    let pem = pair.to_pem_public_key();
    let der = pair.to_der_public_key();
    let jwk_text = t.idp.public_jwk(&t.kid()).unwrap().to_string();
    for secret in [pem.as_slice(), der.as_slice(), jwk_text.as_bytes()] {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let header = json!({"alg": format!("{alg:?}"), "kid": t.kid()});
            t.refused(&hmac_token(&header, &t.claims(), secret, alg)).await;
            // And without a kid, hoping the only key is picked.
            let header = json!({"alg": format!("{alg:?}")});
            t.refused(&hmac_token(&header, &t.claims(), secret, alg)).await;
        }
    }
}

#[tokio::test]
async fn header_alg_differs_from_signature_alg() {
    let t = target().await;
    // Signed with PS256 by the right key, labelled RS256 (and the reverse).
    let key = t.idp.private_jwk(&t.kid()).unwrap();
    for (label, signed_as) in [("RS256", Algorithm::PS256), ("PS256", Algorithm::RS256), ("RS512", Algorithm::RS256)] {
        let token = compact_jws(&json!({"alg": label, "kid": t.kid()}).to_string(), &t.claims(), |i| {
            key.sign(signed_as, i).unwrap()
        });
        t.refused(&token).await;
    }
    // An EC algorithm naming the RSA key.
    let token = compact_jws(&json!({"alg":"ES256","kid":t.kid()}).to_string(), &t.claims(), |_| vec![1; 64]);
    t.refused(&token).await;
}

#[tokio::test]
async fn stripped_signature() {
    let t = target().await;
    let good = t.idp.token().sign();
    let (input, _) = good.rsplit_once('.').unwrap();
    t.refused(&format!("{input}.")).await;
    t.refused(input).await;
}

#[tokio::test]
async fn signature_from_another_key_with_the_same_kid() {
    let t = target().await;
    let other = TestIssuer::start().await;
    let token = other.token().issuer(t.idp.issuer()).header("kid", json!(t.kid())).sign();
    t.refused(&token).await;
}

#[tokio::test]
async fn unknown_kid() {
    let t = target().await;
    let token = t.idp.token().header("kid", json!("never-published")).sign();
    t.refused(&token).await;
}

#[tokio::test]
async fn missing_kid_needs_exactly_one_candidate() {
    // One key: a token without a kid is verified with it.
    let t = target().await;
    t.accepted(&t.idp.token().header("kid", Value::Null).sign()).await;
    // Two keys: refused rather than tried against each; tokens naming theirs still pass.
    t.idp.rotate();
    let t = target_for(t.idp).await;
    t.refused(&t.idp.token().header("kid", Value::Null).sign()).await;
    t.accepted(&t.idp.token().sign()).await;
}

#[tokio::test]
async fn kid_with_path_traversal_or_injection_characters() {
    let t = target().await;
    for kid in
        ["../../../../etc/passwd", "' OR '1'='1", "k\u{0}id", "a\r\nX-Injected: 1", "$(reboot)", &"k".repeat(3000)]
    {
        t.refused(&t.idp.token().header("kid", json!(kid)).sign()).await;
    }
}

/// A server recording every request, standing in for attacker-controlled URLs.
async fn recorder() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = Router::new().fallback(move || {
        h.fetch_add(1, Ordering::SeqCst);
        async { "{}" }
    });
    (serve(app).await, hits)
}

#[tokio::test]
async fn keys_in_jwk_jku_x5u_x5c_headers_are_never_used_or_fetched() {
    let t = target().await;
    let attacker = TestIssuer::start().await;
    let (url, hits) = recorder().await;
    let attacker_jwk = attacker.public_jwk(&attacker.current_kid()).unwrap();
    let x5c = STANDARD.encode(b"not really a certificate");
    let headers = [
        json!({"alg":"RS256","jwk": attacker_jwk}),
        json!({"alg":"RS256","kid": attacker.current_kid(), "jwk": attacker_jwk}),
        json!({"alg":"RS256","jku": format!("{url}/jwks.json")}),
        json!({"alg":"RS256","kid": "x", "jku": format!("{url}/jwks.json")}),
        json!({"alg":"RS256","x5u": format!("{url}/cert.pem")}),
        json!({"alg":"RS256","x5c": [x5c]}),
    ];
    let private = attacker.private_jwk(&attacker.current_kid()).unwrap();
    for header in headers {
        let token = compact_jws(&header.to_string(), &t.claims(), |i| private.sign(Algorithm::RS256, i).unwrap());
        t.refused(&token).await;
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a URL from a token header was fetched");
    assert_eq!(attacker.jwks_fetches(), 0);
}

#[tokio::test]
async fn unknown_crit() {
    let t = target().await;
    t.refused(&t.idp.token().header("crit", json!(["exp"])).sign()).await;
    t.refused(
        &t.idp.token().header("crit", json!(["urn:example:unknown"])).header("urn:example:unknown", json!(1)).sign(),
    )
    .await;
    t.refused(&t.idp.token().header("crit", json!([])).sign()).await;
}

#[tokio::test]
async fn duplicate_json_keys_in_header_and_payload() {
    let t = target().await;
    let kid = t.kid();
    let claims = t.claims();
    let dup_header = format!(r#"{{"alg":"RS256","kid":"{kid}","alg":"none"}}"#);
    t.refused(&t.idp.sign_raw(None, &dup_header, &claims)).await;
    let dup_kid = format!(r#"{{"alg":"RS256","kid":"{kid}","kid":"other"}}"#);
    t.refused(&t.idp.sign_raw(None, &dup_kid, &claims)).await;
    let header = format!(r#"{{"alg":"RS256","kid":"{kid}"}}"#);
    let dup_claims = claims.replacen('{', r#"{"aud":"someone-else","#, 1);
    t.refused(&t.idp.sign_raw(None, &header, &dup_claims)).await;
    let dup_scope = claims.replacen('{', r#"{"scope":"a","scope":"admin","#, 1);
    t.refused(&t.idp.sign_raw(None, &header, &dup_scope)).await;
}

#[tokio::test]
async fn non_json_payload() {
    let t = target().await;
    let header = json!({"alg":"RS256","kid":t.kid()}).to_string();
    for payload in ["not json", "[1,2,3]", "\"string\"", "", "{\"exp\":", "null"] {
        t.refused(&t.idp.sign_raw(None, &header, payload)).await;
    }
}

#[tokio::test]
async fn standard_alphabet_or_padded_base64() {
    let t = target().await;
    let good = t.idp.token().sign();
    let parts: Vec<&str> = good.split('.').collect();
    // Padding inside the credential is not even a `b64token`: 400.
    let r = get_bearer(&t.me, &format!("{}=.{}.{}", parts[0], parts[1], parts[2])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Trailing padding is a valid `b64token` but not base64url without padding: 401.
    t.refused(&format!("{}.{}.{}==", parts[0], parts[1], parts[2])).await;
    // Standard alphabet for the signature: re-encode with + and / when present.
    let sig = b64::signature(&good);
    let std_sig = STANDARD.encode(&sig).trim_end_matches('=').to_owned();
    if std_sig.contains(['+', '/']) {
        t.refused(&format!("{}.{}.{}", parts[0], parts[1], std_sig)).await;
    }
    // A header encoded with the standard alphabet and padding.
    let header = STANDARD.encode(b64::decode(parts[0]));
    if header.ends_with('=') || header.contains(['+', '/']) {
        let r = get_bearer(&t.me, &format!("{header}.{}.{}", parts[1], parts[2])).await;
        assert!(matches!(r.status, StatusCode::UNAUTHORIZED | StatusCode::BAD_REQUEST));
    }
}

#[tokio::test]
async fn ecdsa_r_equals_s_equals_zero() {
    let t = target_with(Algorithm::ES256).await;
    let header = json!({"alg":"ES256","kid":t.kid()}).to_string();
    for sig in [vec![0u8; 64], vec![0u8; 1], vec![0u8; 72]] {
        t.refused(&compact_jws(&header, &t.claims(), |_| sig.clone())).await;
    }
    // DER-encoded r = s = 0 (the Java "psychic signature" shape).
    t.refused(&compact_jws(&header, &t.claims(), |_| vec![0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00])).await;
    t.accepted(&t.idp.token().sign()).await;
}

#[tokio::test]
async fn rsa_signature_with_stripped_leading_zero_or_extra_bytes() {
    let t = target().await;
    let good = t.idp.token().sign();
    let sig = b64::signature(&good);
    let mut prefixed = vec![0u8];
    prefixed.extend_from_slice(&sig);
    let mut suffixed = sig.clone();
    suffixed.push(0);
    t.refused(&with_signature(&good, &prefixed)).await;
    t.refused(&with_signature(&good, &suffixed)).await;
    t.refused(&with_signature(&good, &sig[1..])).await;
    // A signature that really starts with a zero byte, with that byte stripped.
    let with_zero = (0..5000)
        .map(|i| t.idp.token().claim("jti", json!(format!("z{i}"))).sign())
        .find(|tok| b64::signature(tok)[0] == 0)
        .expect("one signature in 256 starts with a zero byte");
    t.accepted(&with_zero).await;
    t.refused(&with_signature(&with_zero, &b64::signature(&with_zero)[1..])).await;
}

#[tokio::test]
async fn five_part_jwe() {
    let t = target().await;
    let jwe = format!(
        "{}.{}.{}.{}.{}",
        b64::encode(r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#),
        b64::encode("k"),
        b64::encode("iv"),
        b64::encode("ct"),
        b64::encode("tag")
    );
    let r = get_bearer(&t.me, &jwe).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.challenge(),
        r#"Bearer realm="test", error="invalid_token", error_description="encrypted (JWE) access tokens are not accepted""#
    );
}

#[tokio::test]
async fn sender_constrained_tokens_are_refused_as_bearer() {
    // A token bound to a DPoP key or a client certificate (`cnf`), replayed as a plain
    // bearer token, is what binding exists to stop (RFC 9449 §7.2, RFC 8705 §3): with no
    // binding configured, every `cnf` is refused, whatever it holds.
    let t = target().await;
    t.accepted(&t.idp.token().sign()).await;
    for cnf in [
        json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}),
        json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}),
        json!({"jkt": "a", "x5t#S256": "b"}),
        json!({"unknown": "x"}),
        json!({}),
        json!("jkt"),
    ] {
        t.refused(&t.idp.token().claim("cnf", cnf).sign()).await;
    }
}

#[tokio::test]
async fn tampered_payload_keeps_the_old_signature() {
    let t = target().await;
    let good = t.idp.token().sign();
    let parts: Vec<&str> = good.split('.').collect();
    let forged = b64::encode(
        json!({"iss": t.idp.issuer(), "aud": TEST_AUDIENCE, "exp": SystemClock.now() + 60, "scope": "admin"})
            .to_string(),
    );
    t.refused(&format!("{}.{forged}.{}", parts[0], parts[2])).await;
}
