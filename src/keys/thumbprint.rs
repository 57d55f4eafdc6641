//! RFC 7638 JWK thumbprints: what DPoP's `cnf.jkt` names and what signing keys use as
//! their `kid`.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// SHA-256 over the key's required members in lexicographic order, as JSON without
/// whitespace (RFC 7638 §3). `None` when a required member is missing, not a string,
/// or would need JSON escaping (no valid key member does), so two encoders can never
/// disagree on the input.
pub(crate) fn thumbprint(jwk: &Map<String, Value>) -> Option<[u8; 32]> {
    let members: &[&str] = match jwk.get("kty")?.as_str()? {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        "oct" => &["k", "kty"],
        _ => return None,
    };
    let mut canonical = String::with_capacity(256);
    for (i, name) in members.iter().enumerate() {
        let value = jwk.get(*name)?.as_str()?;
        if !value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)) {
            return None;
        }
        canonical.push(if i == 0 { '{' } else { ',' });
        canonical.push('"');
        canonical.push_str(name);
        canonical.push_str("\":\"");
        canonical.push_str(value);
        canonical.push('"');
    }
    canonical.push('}');
    Some(Sha256::digest(canonical.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    use super::*;

    #[test]
    fn rfc7638_example() {
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        let t = thumbprint(jwk.as_object().unwrap()).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.encode(t), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn refuses_what_could_encode_two_ways() {
        for bad in [
            json!({"kty": "EC", "crv": "P-256", "x": "a\"b", "y": "c"}),
            json!({"kty": "EC", "crv": "P-256", "x": "a"}),
            json!({"kty": "XX"}),
        ] {
            assert_eq!(thumbprint(bad.as_object().unwrap()), None, "{bad}");
        }
    }
}
