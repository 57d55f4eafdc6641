//! A private JWK of our own: its JSON members, with a `Debug` that never shows the
//! secret ones.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::SigningError;

/// Members that hold private key material (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A private JSON Web Key (RSA, EC, OKP or `oct`): what [`sign`](Self::sign) signs
/// with. `Debug` shows the public members and redacts the private ones (`d`,
/// `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`); the full key leaves only through
/// [`to_json`](Self::to_json) and [`into_map`](Self::into_map).
///
/// ```
/// use tower_bearer::signing::PrivateJwk;
///
/// let jwk = PrivateJwk::from_json(r#"{"kty":"oct","k":"c2VjcmV0","kid":"k1"}"#).unwrap();
/// assert_eq!(jwk.kid(), Some("k1"));
/// assert!(!format!("{jwk:?}").contains("c2VjcmV0"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateJwk(Map<String, Value>);

impl PrivateJwk {
    /// Parses a JWK from JSON text: an object with a string `kty`.
    pub fn from_json(text: &str) -> Result<Self, SigningError> {
        match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Self::from_map(map),
            Ok(_) => Err(SigningError::new("signing JWK: not a JSON object")),
            Err(e) => Err(SigningError::caused_by("signing JWK: not JSON", e)),
        }
    }

    /// Takes a JWK's members: an object with a string `kty`.
    pub fn from_map(map: Map<String, Value>) -> Result<Self, SigningError> {
        match map.get("kty") {
            Some(Value::String(_)) => Ok(Self(map)),
            _ => Err(SigningError::new("signing JWK: no string `kty`")),
        }
    }

    /// `kty`: `RSA`, `EC`, `OKP` or `oct`.
    pub fn kty(&self) -> &str {
        self.str("kty").unwrap_or_default()
    }

    /// `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.str("kid")
    }

    /// `alg`, if any.
    pub fn alg(&self) -> Option<&str> {
        self.str("alg")
    }

    /// `crv`, if any.
    pub fn crv(&self) -> Option<&str> {
        self.str("crv")
    }

    /// A member as a string.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    /// Sets a member (`Value::Null` removes it), e.g. to drop `alg` before signing
    /// as another algorithm in a test. `kty` cannot be removed.
    pub fn set(&mut self, name: &str, value: Value) {
        if value.is_null() {
            if name != "kty" {
                self.0.remove(name);
            }
        } else if name != "kty" || value.is_string() {
            self.0.insert(name.to_owned(), value);
        }
    }

    /// The public half (`kty` and its public members, plus `kid`, `alg` and `use`);
    /// `None` for an `oct` secret, which has none.
    pub fn public(&self) -> Option<Map<String, Value>> {
        let members: &[&str] = match self.kty() {
            "RSA" => &["kty", "n", "e"],
            "EC" => &["kty", "crv", "x", "y"],
            "OKP" => &["kty", "crv", "x"],
            _ => return None,
        };
        let mut public = Map::new();
        for name in members.iter().chain(&["kid", "alg", "use"]) {
            if let Some(v) = self.0.get(*name) {
                public.insert((*name).to_owned(), v.clone());
            }
        }
        Some(public)
    }

    /// Its RFC 7638 thumbprint (SHA-256, base64url), the same for the private and the
    /// public half: a `kid` that names the key itself. `None` when a required member
    /// is missing.
    pub fn thumbprint(&self) -> Option<String> {
        crate::keys::thumbprint(&self.0).map(|t| URL_SAFE_NO_PAD.encode(t))
    }

    /// Every member, private ones included.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// Every member, private ones included.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }

    /// The whole private JWK as JSON text (e.g. for `LocalIssuer::new` with feature
    /// `issuer`): a secret, to be handled as one.
    pub fn to_json(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }
}

impl AsRef<Map<String, Value>> for PrivateJwk {
    fn as_ref(&self) -> &Map<String, Value> {
        &self.0
    }
}

impl From<PrivateJwk> for Map<String, Value> {
    fn from(jwk: PrivateJwk) -> Self {
        jwk.0
    }
}

impl std::fmt::Debug for PrivateJwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in &self.0 {
            if PRIVATE_MEMBERS.contains(&name.as_str()) {
                map.entry(name, &format_args!("[redacted]"));
            } else {
                map.entry(name, value);
            }
        }
        map.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn debug_redacts_every_private_member() {
        let Value::Object(map) = json!({
            "kty": "RSA", "kid": "k1", "n": "N-public", "e": "AQAB", "d": "D-secret", "p": "P-secret",
            "q": "Q-secret", "dp": "DP-secret", "dq": "DQ-secret", "qi": "QI-secret", "oth": ["OTH-secret"],
            "k": "K-secret"
        }) else {
            unreachable!()
        };
        let text = format!("{:?}", PrivateJwk::from_map(map).unwrap());
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("N-public") && text.contains("k1"), "{text}");
    }

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1.
        let jwk = PrivateJwk::from_json(&json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"
        }).to_string())
        .unwrap();
        assert_eq!(jwk.thumbprint().unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn public_half_keeps_only_public_members() {
        let jwk =
            PrivateJwk::from_json(r#"{"kty":"OKP","crv":"Ed25519","x":"X","d":"D","kid":"k","use":"sig"}"#).unwrap();
        assert_eq!(
            Value::Object(jwk.public().unwrap()),
            json!({"kty":"OKP","crv":"Ed25519","x":"X","kid":"k","use":"sig"})
        );
        assert!(PrivateJwk::from_json(r#"{"kty":"oct","k":"AA"}"#).unwrap().public().is_none());
        assert!(PrivateJwk::from_json(r#"{"k":"AA"}"#).is_err());
    }
}
