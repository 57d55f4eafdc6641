//! Arbitrary bytes as a bearer token: header extraction and JWT verification must
//! never panic, and no random input may ever verify.
#![no_main]

use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Method, Uri};
use libfuzzer_sys::fuzz_target;
use tower_bearer::keys::{StaticKeys, VerificationKey};
use tower_bearer::token::{AuthorizationHeader, BearerToken, RequestHead, TokenLocation};
use tower_bearer::{Issuer, JwtVerifier, Verification, Verifier};

/// A real 2048-bit RSA public key (private half discarded), kid "r".
const RSA_JWK: &str = r#"{"kty":"RSA","kid":"r","use":"sig","e":"AQAB","n":"huvqqUTbDuIPe_-ZAf39eaEe577hfFLIqDAXZu0uSH-dyESqW4ccx27ozQEPC6wex7trnzlS70-S2Dab6Gw5o7PpYQ8b4PeLegcI1T-6h88ts4dwIrIH-_mmp6W1LZk59kKQbfGX3pJIEwgmVAcWIaQb_mq3xiwVj09T03doV-wKJR1RWTL63MgSgjPi5Rjgh27mJjYwZI-Q_fPhEWrmMwbeQZoh_Z1k9c0L3FyFx0tHHFgRAVymh79YHoPlIPj9nw6nuE4OH-ZYaCpSAkGPufyij80D8m7cQi7J7jfkqwEd_rtSSpdsGRsemen-wa2XYjUIwzBXF4_ly56HNTYD1w"}"#;

fn verifier() -> &'static JwtVerifier {
    static VERIFIER: OnceLock<JwtVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let hmac = VerificationKey::hmac_secret(&[7u8; 32], Some("k")).expect("HMAC key");
        let rsa = VerificationKey::from_jwk(RSA_JWK).expect("RSA JWK");
        JwtVerifier::builder()
            .issuer(Issuer::new("fuzz").keys(StaticKeys::new(vec![hmac, rsa])))
            .audience("fuzz")
            .build()
            .expect("verifier config")
    })
}

/// Verifies `token` and insists it is rejected.
fn must_reject(token: &BearerToken) {
    match verifier().verify(token) {
        Verification::Ready(result) => {
            assert!(result.is_err(), "a random token verified: {:?}", token.as_str());
        }
        // An unknown `kid` goes through the store's refresh; StaticKeys answers with a
        // ready future, so one poll settles it.
        Verification::Pending(mut future) => {
            let mut cx = Context::from_waker(Waker::noop());
            if let Poll::Ready(result) = future.as_mut().poll(&mut cx) {
                assert!(result.is_err(), "a random token verified after a refresh: {:?}", token.as_str());
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // 1. The bytes as the token itself.
    let text = String::from_utf8_lossy(data);
    must_reject(&BearerToken::new(&*text));

    // 2. The bytes as an `Authorization` header value.
    let Ok(value) = HeaderValue::from_bytes(data) else { return };
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value);
    let uri = Uri::from_static("/");
    let head = RequestHead::new(&Method::GET, &uri, &headers);
    if let Ok(Some(token)) = AuthorizationHeader.extract(&head) {
        // RFC 6750 b64token, taken from the end of the header value.
        let t = token.as_str();
        assert!(!t.is_empty(), "empty token extracted from {data:?}");
        assert!(
            t.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b)),
            "non-b64token {t:?} extracted from {data:?}"
        );
        assert!(data.ends_with(t.as_bytes()), "token {t:?} is not the tail of {data:?}");
        must_reject(&token);
    }
});
