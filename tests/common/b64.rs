//! Base64url without padding, as JOSE writes it (RFC 7515 §2).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tower_bearer::signing::PrivateJwk;

pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn decode(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

/// Part `i` of a compact JWS (0 the header, 1 the claims) as JSON.
pub fn json_part(token: &str, i: usize) -> Value {
    serde_json::from_slice(&decode(token.split('.').nth(i).unwrap())).unwrap()
}

/// The signature bytes of a compact JWS.
pub fn signature(token: &str) -> Vec<u8> {
    decode(token.rsplit_once('.').unwrap().1)
}

/// An HMAC secret as a private JWK (`kty` `oct`), for signing with the test kit.
pub fn oct_jwk(secret: &[u8]) -> PrivateJwk {
    PrivateJwk::from_json(&json!({"kty": "oct", "k": encode(secret)}).to_string()).unwrap()
}
