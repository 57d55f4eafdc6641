//! Property tests: random and mutated input never panics and never passes.

use crate::common;

use http::{HeaderMap, HeaderValue, Method, Uri};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower_bearer::keys::{StaticKeys, VerificationKey};
use tower_bearer::signing::compact_jws;
use tower_bearer::token::{AuthorizationHeader, BearerToken, RequestHead, TokenLocation};
use tower_bearer::{Algorithm, Issuer, JwtVerifier, Verification, Verifier};
use tower_bearer::{Clock as _, SystemClock};

const SECRET: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

fn verifier() -> JwtVerifier {
    let key = VerificationKey::hmac_secret(SECRET, Some("k")).unwrap();
    JwtVerifier::builder().issuer(Issuer::new("iss").keys(StaticKeys::from(key))).audience("aud").build().unwrap()
}

fn sign(header: &Value, claims: &str) -> String {
    let jwk = common::b64::oct_jwk(SECRET);
    compact_jws(&header.to_string(), claims, |i| jwk.sign(Algorithm::HS256, i).unwrap())
}

fn valid_token() -> String {
    sign(
        &json!({"alg":"HS256","kid":"k","typ":"at+jwt"}),
        &json!({"iss":"iss","aud":"aud","exp": SystemClock.now() + 600,"sub":"s"}).to_string(),
    )
}

fn passes(v: &JwtVerifier, token: &str) -> bool {
    match v.verify(&BearerToken::new(token)) {
        Verification::Ready(r) => r.is_ok(),
        Verification::Pending(_) => panic!("static keys never need I/O"),
    }
}

const B64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn extraction_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            let mut headers = HeaderMap::new();
            headers.insert("authorization", value);
            let uri = Uri::from_static("/");
            let head = RequestHead::new(&Method::GET, &uri, &headers);
            if let Ok(Some(token)) = AuthorizationHeader.extract(&head) {
                prop_assert!(!token.as_str().is_empty());
                prop_assert!(token.as_str().bytes().all(|b| b.is_ascii_graphic()));
            }
        }
    }

    #[test]
    fn random_strings_never_pass(s in "\\PC{0,400}") {
        prop_assert!(!passes(&verifier(), &s));
    }

    #[test]
    fn random_three_part_tokens_never_pass(a in "[A-Za-z0-9_-]{0,120}", b in "[A-Za-z0-9_-]{0,200}", c in "[A-Za-z0-9_-]{0,90}") {
        let token = format!("{a}.{b}.{c}");
        prop_assert!(!passes(&verifier(), &token));
    }

    #[test]
    fn mutated_valid_tokens_never_pass(pos in any::<prop::sample::Index>(), replacement in 0usize..64, op in 0u8..4) {
        let v = verifier();
        let token = valid_token();
        prop_assert!(passes(&v, &token));
        let mut bytes = token.into_bytes();
        let i = pos.index(bytes.len());
        let new = B64URL.as_bytes()[replacement];
        match op {
            0 => { if bytes[i] == new { return Ok(()); } bytes[i] = new; }
            1 => { bytes.remove(i); }
            2 => { bytes.insert(i, new); }
            _ => { bytes.truncate(i); }
        }
        let mutated = String::from_utf8(bytes).unwrap();
        prop_assert!(!passes(&v, &mutated), "{mutated}");
    }

    #[test]
    fn signed_random_claims_pass_only_when_every_rule_holds(
        exp in prop_oneof![Just(Value::Null), any::<i64>().prop_map(Value::from), any::<f64>().prop_map(|f| json!(f)), ".{0,12}".prop_map(Value::from), Just(json!(SystemClock.now() + 60))],
        nbf in prop_oneof![Just(Value::Null), any::<i64>().prop_map(Value::from), Just(json!(SystemClock.now() - 10))],
        aud in prop_oneof![Just(json!("aud")), Just(json!(["x", "aud"])), ".{0,6}".prop_map(Value::from), Just(Value::Null), any::<i64>().prop_map(Value::from)],
        iss in prop_oneof![Just(json!("iss")), ".{0,6}".prop_map(Value::from), Just(Value::Null)],
        scope in prop_oneof![Just(Value::Null), ".{0,20}".prop_map(Value::from), any::<i32>().prop_map(Value::from), Just(json!(["a", 1, null]))],
    ) {
        let mut claims = serde_json::Map::new();
        for (k, v) in [("exp", &exp), ("nbf", &nbf), ("aud", &aud), ("iss", &iss), ("scope", &scope)] {
            if !v.is_null() { claims.insert(k.into(), v.clone()); }
        }
        let token = sign(&json!({"alg":"HS256","kid":"k"}), &Value::Object(claims).to_string());
        if passes(&verifier(), &token) {
            let now = SystemClock.now();
            prop_assert!(exp.as_f64().is_some_and(|e| e >= 0.0 && (e as u64) + 60 > now));
            prop_assert!(nbf.is_null() || nbf.as_i64().is_some_and(|n| n <= (now + 60) as i64));
            prop_assert!(aud == json!("aud") || aud == json!(["x", "aud"]));
            prop_assert_eq!(iss, json!("iss"));
            prop_assert!(scope.is_null() || scope.is_string() || scope.is_array());
        }
    }
}
